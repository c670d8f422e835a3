//! Ingest throughput: diagnostic JSON Lines, a portal JSON array and portal CSV, each
//! against a baseline measured in the same run (every line parsed by serde_json into
//! `IgnoredAny` on one thread: the cost of merely validating the JSON).
//!
//! Inputs are the committed sample records replicated with distinct ids, written to a
//! temporary directory during setup; only the load is timed.
//!
//! `record/diagnostic` times one thread reading the same records into the envelope struct:
//! the hand-written scanner (`ingest::scan`) against serde's derived visitors and the same
//! baseline.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use idrisk::ingest::records::DiagnosticRecord;
use idrisk::ingest::{load, scan, IngestOptions};
use idrisk::rules::Rules;

const COPIES: usize = 2_000;

fn samples(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/samples")
        .join(relative)
}

/// Replicates the records of `lines` `COPIES` times, each copy with distinct sign-in ids.
fn replicate(lines: &[String], ids: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len() * COPIES);
    for copy in 0..COPIES {
        for line in lines {
            let mut line = line.clone();
            for id in ids {
                line = line.replace(id.as_str(), &format!("{copy:08x}{}", &id[8..]));
            }
            out.push(line);
        }
    }
    out
}

fn expected_ids() -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/expected/samples-rows.jsonl"),
    )
    .expect("expected rows");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["request_id"].as_str().map(String::from))
        .collect()
}

fn bench_file(c: &mut Criterion, name: &str, path: &Path, lines: Option<&[String]>) {
    let bytes = std::fs::metadata(path).expect("bench input").len();
    let options = IngestOptions::new(Rules::builtin().outcome_codes());
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function("idrisk load", |b| {
        b.iter(|| load(&[path.to_path_buf()], &options).expect("load"))
    });
    if let Some(lines) = lines {
        group.bench_function("baseline: serde_json validate, 1 thread", |b| {
            b.iter(|| {
                for line in lines {
                    let _: serde::de::IgnoredAny = serde_json::from_str(line).expect("valid JSON");
                }
            })
        });
    }
    group.finish();
}

fn bench_records(c: &mut Criterion, lines: &[String]) {
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut group = c.benchmark_group("record/diagnostic");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("scanner", |b| {
        b.iter(|| {
            for line in lines {
                let record = scan::diagnostic(line.as_bytes()).expect("the scanner reads it");
                std::hint::black_box(record);
            }
        })
    });
    group.bench_function("serde", |b| {
        b.iter(|| {
            for line in lines {
                // As the reader calls serde: after one UTF-8 check of the record.
                let text = std::str::from_utf8(line.as_bytes()).expect("UTF-8");
                let record: DiagnosticRecord = serde_json::from_str(text).expect("serde reads it");
                std::hint::black_box(record);
            }
        })
    });
    group.bench_function("baseline: serde_json validate, 1 thread", |b| {
        b.iter(|| {
            for line in lines {
                let _: serde::de::IgnoredAny = serde_json::from_str(line).expect("valid JSON");
            }
        })
    });
    group.finish();
}

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = expected_ids();

    let diag = std::fs::read_to_string(samples(
        "diagnostic/insights-logs-signinlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00/PT1H.json",
    ))
    .expect("diagnostic sample");
    let diag_lines: Vec<String> = diag.lines().map(String::from).collect();
    let diag_lines = replicate(&diag_lines, &ids);
    let diag_path = dir.path().join("PT1H.json");
    std::fs::write(&diag_path, diag_lines.join("\n")).expect("write");
    bench_file(c, "ingest/diagnostic-lines", &diag_path, Some(&diag_lines));
    bench_records(c, &diag_lines);

    let array: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(samples(
            "portal-json/InteractiveSignIns_2025-03-01_2025-03-02.json",
        ))
        .expect("portal sample"),
    )
    .expect("array");
    let records: Vec<String> = array.iter().map(|v| v.to_string()).collect();
    let records = replicate(&records, &ids);
    let array_path = dir.path().join("signins.json");
    std::fs::write(&array_path, format!("[{}]", records.join(",\n"))).expect("write");
    bench_file(c, "ingest/sign-in-array", &array_path, Some(&records));

    let csv = std::fs::read_to_string(samples(
        "portal-csv/InteractiveSignIns_2025-03-02_2025-03-03.csv",
    ))
    .expect("csv sample");
    let (header, body) = csv.split_once("\r\n").expect("header line");
    let body_lines: Vec<String> = vec![body.to_string()];
    let csv_path = dir
        .path()
        .join("InteractiveSignIns_2025-03-02_2025-03-03.csv");
    std::fs::write(
        &csv_path,
        format!("{header}\r\n{}", replicate(&body_lines, &ids).concat()),
    )
    .expect("write");
    bench_file(c, "ingest/portal-csv", &csv_path, None);
}

criterion_group!(benches, ingest);
criterion_main!(benches);
