//! Hostile input: each test is a file that once lost good records, crashed the process or
//! was read wrongly, and now is quarantined record by record while the rest is kept.

use std::path::{Path, PathBuf};

use idrisk::ingest::Shape;

use crate::support::load_one;

/// A minimal Graph signIn as one JSON line.
pub fn signin_line(id: &str, time: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"createdDateTime\":\"{time}\",\"userPrincipalName\":\"ada@contoso.com\",\
         \"userId\":\"u-1\",\"ipAddress\":\"84.208.10.35\",\"status\":{{\"errorCode\":0}}}}"
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_line_of_nul_bytes_in_json_lines_is_quarantined_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    text.extend(signin_line("r-1", "2025-03-01T10:00:00Z").bytes());
    text.extend(b"\n\0\0\0\0\0\0\0\0\n");
    text.extend(signin_line("r-2", "2025-03-01T11:00:00Z").bytes());
    text.push(b'\n');
    let ingested = load_one(write(dir.path(), "nul.jsonl", &text));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::SignInLines);
    assert_eq!((file.read, file.kept, file.quarantined), (3, 2, 1));
    let q = &ingested.quarantine[0];
    assert_eq!(q.line, Some(2));
    assert!(q.reason.contains("NUL"), "{}", q.reason);
}

#[test]
fn nul_bytes_before_the_first_record_do_not_hide_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = b"\0\0\0\0".to_vec();
    text.extend(signin_line("r-1", "2025-03-01T10:00:00Z").bytes());
    text.push(b'\n');
    text.extend(signin_line("r-2", "2025-03-01T11:00:00Z").bytes());
    text.push(b'\n');
    let ingested = load_one(write(dir.path(), "lead.jsonl", &text));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::SignInLines);
    assert_eq!((file.kept, file.quarantined), (2, 1));
    assert_eq!(ingested.quarantine[0].line, Some(1));
}

const PORTAL_HEADER: &str = "\"Date (UTC)\",\"Request ID\",\"User\",\"Username\",\"User ID\",\
                             \"IP address\",\"Status\",\"Sign-in error code\"\n";

#[test]
fn a_portal_csv_row_with_fewer_or_more_cells_than_the_header_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{PORTAL_HEADER}\
         \"2025-12-04T08:19:40Z\",\"r-1\",\"Ada\",\"ada@contoso.com\",\"u-1\",\"84.208.10.35\",\"Success\",\"0\"\n\
         \"2025-12-04T08:19:42Z\",\"r-2\",\"B\"\n\
         \"2025-12-04T08:19:44Z\",\"r-3\",\"Ada\",\"ada@contoso.com\",\"u-1\",\"84.208.10.35\",\"Success\",\"0\",\"extra\"\n\
         \"2025-12-04T08:19:46Z\",\"r-4\",\"Ada\",\"ada@contoso.com\",\"u-1\",\"84.208.10.35\",\"Success\",\"0\"\n"
    );
    let ingested = load_one(write(
        dir.path(),
        "InteractiveSignIns_2025-12-04_2025-12-05.csv",
        text.as_bytes(),
    ));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::PortalCsv);
    assert_eq!((file.read, file.kept, file.quarantined), (4, 2, 2));
    let found: Vec<(Option<u64>, &str)> = ingested
        .quarantine
        .iter()
        .map(|q| (q.line, q.reason.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(3), "ragged row: 3 of 8 cells"),
            (Some(4), "ragged row: 9 of 8 cells")
        ]
    );
}

#[test]
fn pages_nested_hundreds_of_thousands_deep_are_quarantined_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 300_000;
    let mut text = String::with_capacity(depth * 14 + 200);
    for _ in 0..depth {
        text.push_str("{\"value\":[");
    }
    for _ in 0..depth {
        text.push_str("]}");
    }
    text.push('\n');
    text.push_str(&signin_line("r-1", "2025-03-01T10:00:00Z"));
    text.push('\n');
    // On a worker thread with a small stack, as the readers run under rayon.
    let path = write(dir.path(), "deep.json", text.as_bytes());
    let ingested = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || load_one(path))
        .unwrap()
        .join()
        .expect("no stack overflow");
    let t = &ingested.totals;
    assert_eq!((t.kept, t.quarantined), (1, 1), "{t:?}");
}

/// Loads one file with a small record cap and small chunks, so the cap is crossed inside and
/// across chunks.
fn load_capped(path: PathBuf, cap: usize) -> idrisk::ingest::Ingested {
    crate::support::load_with(&[path], |options| {
        options.max_record_bytes = cap;
        options.chunk_bytes = 1000;
    })
}

#[test]
fn a_json_line_over_the_record_cap_is_quarantined_and_the_next_lines_kept() {
    let dir = tempfile::tempdir().unwrap();
    for first in [true, false] {
        let mut text = String::new();
        if !first {
            // Later in the file, after the record shape is known.
            text.push_str(&signin_line("r-0", "2025-03-01T09:00:00Z"));
            text.push('\n');
        }
        text.push_str("{\"id\":\"huge\",\"userDisplayName\":\"");
        text.push_str(&"x".repeat(50_000));
        text.push_str("\"}\n");
        text.push_str(&signin_line("r-1", "2025-03-01T10:00:00Z"));
        text.push('\n');
        let ingested = load_capped(write(dir.path(), "huge.jsonl", text.as_bytes()), 8192);
        let t = &ingested.totals;
        assert_eq!((t.kept, t.quarantined), (if first { 1 } else { 2 }, 1));
        let q = &ingested.quarantine[0];
        assert_eq!(q.line, Some(if first { 1 } else { 2 }));
        assert!(q.reason.contains("8192 bytes cap"), "{}", q.reason);
        assert!(q.raw.starts_with("{\"id\":\"huge\""));
        let lines: Vec<u64> = ingested
            .frame
            .column("source_line")
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(*lines.last().unwrap(), if first { 2 } else { 3 });
    }
}

#[test]
fn a_string_that_never_ends_inside_an_array_is_passed_over_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("[\n");
    text.push_str(&signin_line("r-1", "2025-03-01T10:00:00Z"));
    text.push_str(",\n{\"id\":\"huge\",\"userDisplayName\":\"");
    text.push_str(&"y\\\"]}".repeat(20_000));
    text.push_str("\"},\n");
    text.push_str(&signin_line("r-2", "2025-03-01T11:00:00Z"));
    text.push_str("\n]\n");
    let ingested = load_capped(write(dir.path(), "array.json", text.as_bytes()), 8192);
    let t = &ingested.totals;
    assert_eq!((t.read, t.kept, t.quarantined), (3, 2, 1), "{t:?}");
    assert_eq!(ingested.quarantine[0].line, Some(3));
}

#[test]
fn a_csv_cell_that_never_closes_is_one_quarantined_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "{PORTAL_HEADER}\
         \"2025-12-04T08:19:40Z\",\"r-1\",\"Ada\",\"ada@contoso.com\",\"u-1\",\"84.208.10.35\",\"Success\",\"0\"\n\
         \"2025-12-04T08:19:42Z\",\"r-2\",\"unterminated"
    );
    text.push_str(&"z".repeat(60_000));
    let ingested = load_capped(
        write(dir.path(), "InteractiveSignIns_x.csv", text.as_bytes()),
        8192,
    );
    let t = &ingested.totals;
    assert_eq!((t.read, t.kept, t.quarantined), (2, 1, 1), "{t:?}");
    assert!(ingested.quarantine[0].reason.contains("never closes"));
}

fn idrisk(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(args)
        .output()
        .unwrap()
}

/// Twelve wrong passwords (50126) from one address, then the right one.
fn brute_force_lines() -> String {
    let mut text = String::new();
    for k in 0..13 {
        let code = if k < 12 { 50126 } else { 0 };
        text.push_str(&format!(
            "{{\"id\":\"bf-{k:02}\",\"createdDateTime\":\"2025-03-01T10:{:02}:{:02}Z\",\
             \"userPrincipalName\":\"ada@contoso.com\",\"userId\":\"u-1\",\
             \"ipAddress\":\"203.0.113.5\",\"isInteractive\":true,\
             \"status\":{{\"errorCode\":{code}}}}}\n",
            k / 6,
            (k % 6) * 10
        ));
    }
    text
}

fn detection_types(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("detections.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["riskEventType"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn outcome_classes_follow_the_rules_in_force_on_canonical_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jsonl = write(d, "bf.jsonl", brute_force_lines().as_bytes());
    let parquet = d.join("bf.parquet");
    let rules = write(
        d,
        "rules.toml",
        b"[outcomes]\ncredential_failure = [50034]\n",
    );
    let out = idrisk(&[
        "convert",
        jsonl.to_str().unwrap(),
        "--out",
        parquet.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for input in [&jsonl, &parquet] {
        let (default_out, tuned_out) = (d.join("default"), d.join("tuned"));
        let run = |out_dir: &Path, extra: &[&str]| {
            let mut args = vec![
                "score",
                input.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
                "-q",
            ];
            args.extend_from_slice(extra);
            let out = idrisk(&args);
            assert_eq!(out.status.code(), Some(0), "{out:?}");
        };
        run(&default_out, &[]);
        run(&tuned_out, &["--rules", rules.to_str().unwrap()]);
        assert_eq!(
            detection_types(&default_out),
            ["signInAfterMultipleFailures"],
            "{}",
            input.display()
        );
        assert!(
            detection_types(&tuned_out).is_empty(),
            "50126 is no credential failure under these rules ({})",
            input.display()
        );
    }
}

/// The committed samples as one canonical frame, and a loader that reads Parquet as `score`
/// does (projected, with the other columns left unread).
fn sample_frame() -> polars::prelude::DataFrame {
    crate::support::load_one(crate::support::samples("")).frame
}

fn load_projected(path: PathBuf) -> idrisk::ingest::Ingested {
    crate::support::load_with(&[path], |options| {
        options.columns = Some(idrisk::report::score::columns_read());
    })
}

#[test]
fn one_canonical_parquet_file_with_copies_is_deduplicated() {
    use idrisk::ingest::{write_canonical_parquet, Compression};
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let frame = sample_frame();
    let n = frame.height() as u64;
    let copies = frame.slice(5, 3);
    let doubled = frame.vstack(&copies).unwrap();
    let sorted = doubled
        .sort(
            [idrisk::frame::col::time, idrisk::frame::col::request_id],
            SortMultipleOptions::default(),
        )
        .unwrap();
    for (name, written) in [("appended.parquet", &doubled), ("sorted.parquet", &sorted)] {
        let path = dir.path().join(name);
        write_canonical_parquet(written, &path, Compression::Zstd).unwrap();
        for ingested in [load_one(path.clone()), load_projected(path.clone())] {
            let t = &ingested.totals;
            assert_eq!((t.read, t.kept, t.duplicates), (n + 3, n, 3), "{name}");
            let ids = ingested
                .frame
                .column("request_id")
                .unwrap()
                .str()
                .unwrap()
                .clone();
            assert_eq!(ids.n_unique().unwrap() as u64, n, "{name}");
        }
    }
}

#[test]
fn canonical_parquet_rows_with_null_or_extreme_times_are_quarantined() {
    use idrisk::ingest::{write_canonical_parquet, Compression};
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let frame = sample_frame();
    let n = frame.height();
    let mut times: Vec<Option<i64>> = frame
        .column("time")
        .unwrap()
        .datetime()
        .unwrap()
        .physical()
        .iter()
        .collect();
    times[0] = None;
    times[1] = Some(i64::MIN);
    times[2] = Some(i64::MAX);
    let mut latitudes: Vec<Option<f64>> = frame
        .column("latitude")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    latitudes[3] = Some(f64::NAN);
    let time = Int64Chunked::from_iter_options("time".into(), times.into_iter())
        .into_datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC))
        .into_column();
    let latitude =
        Float64Chunked::from_iter_options("latitude".into(), latitudes.into_iter()).into_column();
    let mut edited = frame.clone();
    edited.with_column(time).unwrap();
    edited.with_column(latitude).unwrap();
    let path = dir.path().join("edited.parquet");
    write_canonical_parquet(&edited, &path, Compression::Zstd).unwrap();
    for ingested in [load_one(path.clone()), load_projected(path.clone())] {
        let t = &ingested.totals;
        assert_eq!((t.kept, t.quarantined), (n as u64 - 4, 4), "{t:?}");
        let rows: Vec<Option<u64>> = ingested.quarantine.iter().map(|q| q.line).collect();
        assert_eq!(rows, [Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(ingested.quarantine[0].reason, "missing time");
        assert!(ingested.quarantine[1]
            .reason
            .starts_with("time out of range"));
        assert!(ingested.quarantine[3]
            .reason
            .starts_with("latitude out of range"));
    }
}

#[test]
fn a_missing_input_stops_the_run_unless_keep_going_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = write(d, "bf.jsonl", brute_force_lines().as_bytes());
    let missing = d.join("gone.jsonl");
    let out_dir = d.join("out");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "score",
            good.to_str().unwrap(),
            missing.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "-q",
        ];
        a.extend_from_slice(extra);
        idrisk(&a)
    };
    let stopped = args(&[]);
    assert_eq!(stopped.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("gone.jsonl"));
    let went_on = args(&["--keep-going", "--strict"]);
    assert_eq!(went_on.status.code(), Some(1), "{went_on:?}");
    assert_eq!(detection_types(&out_dir), ["signInAfterMultipleFailures"]);
    let quarantine = std::fs::read_to_string(out_dir.join("quarantine.jsonl")).unwrap();
    assert!(quarantine.contains("gone.jsonl"), "{quarantine}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let unreadable = &summary["input"]["unreadable"];
    assert_eq!(unreadable.as_array().unwrap().len(), 1, "{unreadable}");
    assert!(unreadable[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("gone.jsonl"));
    assert_eq!(summary["input"]["totals"]["quarantined"], 1);
}

#[test]
fn a_damaged_parquet_file_is_quarantined_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = write(d, "bf.jsonl", brute_force_lines().as_bytes());
    let parquet = d.join("bf.parquet");
    let out = idrisk(&[
        "convert",
        good.to_str().unwrap(),
        "--out",
        parquet.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let bytes = std::fs::read(&parquet).unwrap();
    // The footer's length and magic survive; the metadata before them is overwritten.
    let mut damaged = bytes.clone();
    let n = damaged.len();
    for b in &mut damaged[n - 200..n - 8] {
        *b = 0xA5;
    }
    let damaged_path = write(d, "damaged.parquet", &damaged);
    // Cut short: the footer is gone.
    let cut_path = write(d, "cut.parquet", &bytes[..bytes.len() / 2]);
    let options =
        idrisk::ingest::IngestOptions::new(idrisk::rules::Rules::builtin().outcome_codes());
    let ingested = idrisk::ingest::load(&[good, damaged_path, cut_path], &options).expect("loads");
    let t = &ingested.totals;
    assert!(t.reconciles(), "{t:?}");
    assert_eq!(
        (t.kept, t.quarantined),
        (13, 2),
        "{:?}",
        ingested.quarantine
    );
    for q in &ingested.quarantine {
        assert!(q.reason.contains("damaged"), "{}", q.reason);
    }
}

fn powershell(name: &str) -> PathBuf {
    crate::support::repo("datasets/powershell").join(name)
}

#[test]
fn windows_powershell_utf16_graph_sdk_exports_are_read() {
    let ingested = load_one(powershell("signins-ps51-utf16.json"));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::SignInArray);
    assert_eq!((file.read, file.kept, file.quarantined), (2, 2, 0));
    let rows = crate::support::rows_by_id(&ingested.frame);
    let ada = &rows["5e1f0a2b-ps51-4c1d-8e2f-000000000001"];
    assert_eq!(ada["time"], "2025-03-01T12:42:18.000000Z");
    assert_eq!(ada["user_principal_name"], "ada.lovelace@contoso.com");
    assert_eq!(ada["ip_address"], "84.208.10.35");
    assert_eq!(ada["error_code"], 0);
    assert_eq!(ada["outcome"], "success");
    assert_eq!(
        (ada["city"].clone(), ada["country"].clone()),
        ("Oslo".into(), "NO".into())
    );
    assert_eq!(
        (ada["latitude"].clone(), ada["longitude"].clone()),
        (59.9139.into(), 10.7522.into())
    );
    assert_eq!(ada["operating_system"], "Windows10");
    assert_eq!(ada["browser"], "Edge 122.0.2365");
    // Fields the SDK's model lacks come from AdditionalProperties.
    assert_eq!(ada["asn"], 2119);
    assert_eq!(ada["user_type"], "Member");
    assert_eq!(
        ada["authentication_requirement"],
        "singleFactorAuthentication"
    );
    let edsger = &rows["5e1f0a2b-ps51-4c1d-8e2f-000000000002"];
    assert_eq!(edsger["time"], "2025-03-01T13:42:18.500000Z");
    assert_eq!(edsger["error_code"], 50126);
    assert_eq!(edsger["outcome"], "credential_failure");
    assert_eq!(edsger["ip_address"], "2003:e5:1f00:18::19");
    assert_eq!(edsger["asn"], serde_json::Value::Null);
}

#[test]
fn powershell_7_utf8_bom_exports_with_local_offsets_are_read() {
    let ingested = load_one(powershell("signins-ps7-utf8bom.json"));
    assert_eq!((ingested.totals.kept, ingested.totals.quarantined), (2, 0));
    let rows = crate::support::rows_by_id(&ingested.frame);
    let ada = &rows["5e1f0a2b-ps70-4c1d-8e2f-000000000001"];
    assert_eq!(ada["time"], "2025-03-01T12:42:18.000000Z");
    let edsger = &rows["5e1f0a2b-ps70-4c1d-8e2f-000000000002"];
    assert_eq!(edsger["time"], "2025-03-01T13:42:18.500000Z");
    assert_eq!(edsger["asn"], 3320);
    assert_eq!(
        edsger["user_agent"],
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/122.0"
    );
}

#[test]
fn extractor_suite_appended_pages_and_bare_objects_are_read() {
    let ingested = load_one(powershell("extractor-suite-signins.json"));
    let file = &ingested.files[0];
    assert_eq!((file.read, file.kept, file.quarantined), (4, 4, 0));
    let rows = crate::support::rows_by_id(&ingested.frame);
    assert_eq!(
        rows["5e1f0a2b-mes0-4c1d-8e2f-000000000002"]["outcome"],
        "credential_valid"
    );
}

#[test]
fn utf16_and_utf8_bom_json_lines_and_csv_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let lines = format!(
        "{}\r\n{}\r\n",
        signin_line("r-1", "2025-03-01T10:00:00Z"),
        signin_line("r-2", "2025-03-01T11:00:00Z")
    );
    let csv = format!(
        "{PORTAL_HEADER}\"2025-12-04T08:19:40Z\",\"r-1\",\"Ada\",\"ada@contoso.com\",\"u-1\",\"84.208.10.35\",\"Success\",\"0\"\r\n"
    );
    for (name, text, kept) in [
        ("l.jsonl", &lines, 2),
        ("InteractiveSignIns_x.csv", &csv, 1),
    ] {
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let bom: Vec<u8> = [0xEF, 0xBB, 0xBF].into_iter().chain(text.bytes()).collect();
        for (encoding, bytes) in [("le", utf16le), ("be", utf16be), ("bom", bom)] {
            let sub = dir.path().join(encoding);
            std::fs::create_dir_all(&sub).unwrap();
            let ingested = load_one(write(&sub, name, &bytes));
            let t = &ingested.totals;
            assert_eq!(
                (t.kept, t.quarantined),
                (kept, 0),
                "{name} {encoding}: {:?}",
                ingested.quarantine
            );
        }
    }
}

#[test]
fn a_run_killed_while_it_writes_leaves_the_previous_outputs_whole() {
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tenant = crate::support::repo("datasets/tenant");
    let inputs = tenant.join("signins");
    let rules = write(
        d,
        "no-unfamiliar.toml",
        b"[unfamiliar_sign_in]\nenabled = false\n",
    );
    let run = |out: &Path, rules: Option<&Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_idrisk"));
        command.args([
            "score",
            inputs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        command
            .arg("--leaked-accounts")
            .arg(tenant.join("leaked-accounts.txt"));
        if let Some(rules) = rules {
            command.arg("--rules").arg(rules);
        }
        command
    };
    let names = [
        "detections.jsonl",
        "risky_signins.jsonl",
        "risky_users.jsonl",
        "risky_service_principals.jsonl",
        "quarantine.jsonl",
        "summary.json",
    ];
    let contents = |out: &Path| -> Vec<Vec<u8>> {
        names
            .iter()
            .map(|n| std::fs::read(out.join(n)).unwrap())
            .collect()
    };
    // The outputs a run with the other rules writes, for comparison.
    let (old_dir, new_dir, out) = (d.join("old"), d.join("new"), d.join("out"));
    let began = Instant::now();
    assert!(run(&old_dir, None).status().unwrap().success());
    let whole_run = began.elapsed();
    assert!(run(&new_dir, Some(&rules)).status().unwrap().success());
    assert!(run(&out, None).status().unwrap().success());
    let (old, new) = (contents(&old_dir), contents(&new_dir));
    assert_ne!(
        old[0], new[0],
        "the two rule sets must give different detections"
    );
    for tenth in 1..=12 {
        let mut child = run(&out, Some(&rules)).spawn().unwrap();
        std::thread::sleep(whole_run * tenth / 10);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (k, name) in names.iter().enumerate() {
            let now = std::fs::read(out.join(name)).unwrap();
            // Summaries carry the run's wall time: compare everything but that line.
            let strip = |b: &[u8]| -> String {
                String::from_utf8_lossy(b)
                    .lines()
                    .filter(|l| !l.contains("\"seconds\""))
                    .collect()
            };
            assert!(
                strip(&now) == strip(&old[k]) || strip(&now) == strip(&new[k]),
                "{name} is neither the old nor the new output after a kill at {tenth}/10 of a run"
            );
        }
        // Back to the old outputs for the next kill.
        assert!(run(&out, None).status().unwrap().success());
    }
    let leftovers: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Runs the binary and returns its peak resident memory in KiB.
fn peak_rss_kib(args: &[&str]) -> u64 {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (code, peak) = idrisk::trace::wait_with_peak_rss(child).unwrap();
    assert_eq!(code, Some(0));
    peak
}

#[test]
fn memory_follows_the_rows_not_the_number_of_gzipped_files() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let records = 24_000;
    let mut peaks = Vec::new();
    for files in [12, 2400] {
        let sub = dir.path().join(format!("{files}"));
        std::fs::create_dir_all(&sub).unwrap();
        let per_file = records / files;
        for f in 0..files {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            for r in 0..per_file {
                let k = f * per_file + r;
                let line = signin_line(&format!("r-{k:06}"), "2025-03-01T10:00:00Z");
                writeln!(gz, "{line}").unwrap();
            }
            std::fs::write(
                sub.join(format!("PT1H-{f:04}.json.gz")),
                gz.finish().unwrap(),
            )
            .unwrap();
        }
        peaks.push(peak_rss_kib(&["inspect", "-q", sub.to_str().unwrap()]));
    }
    let (few, many) = (peaks[0], peaks[1]);
    // The same rows in 200 times as many files: generous room for per-file bookkeeping
    // (each file's account), none for per-file buffers kept (2 MB a file before).
    assert!(
        many < few * 2 + 64 * 1024,
        "peak {many} KiB for 2400 files against {few} KiB for 12"
    );
}

/// Small files are read in runs that build one frame; a file that fails inside a run (here a
/// directory named as a file: it opens, then its read fails) sends that run back to being
/// read file by file, so the failure is still isolated and nothing else is lost.
#[test]
fn a_file_that_fails_inside_a_run_of_small_files_loses_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for k in 0..6 {
        let line = signin_line(&format!("r-{k}"), &format!("2025-03-01T1{k}:00:00Z"));
        files.push(write(dir.path(), &format!("{k}.jsonl"), line.as_bytes()));
        if k == 2 {
            let inner = dir.path().join("not-a-file");
            std::fs::create_dir(&inner).unwrap();
            files.push(inner);
        }
    }
    let mut options =
        idrisk::ingest::IngestOptions::new(idrisk::rules::Rules::builtin().outcome_codes());
    assert!(idrisk::ingest::load_files(&files, &options).is_err());
    options.keep_going = true;
    let ingested = idrisk::ingest::load_files(&files, &options).unwrap();
    let t = &ingested.totals;
    assert_eq!((t.read, t.kept, t.quarantined), (7, 6, 1), "{t:?}");
    assert!(t.reconciles());
    let kept: Vec<u64> = ingested.files.iter().map(|f| f.kept).collect();
    assert_eq!(kept, [1, 1, 1, 0, 1, 1, 1]);
    assert_eq!(
        ingested.quarantine[0].source_file,
        files[3].to_string_lossy()
    );
}

/// A run of small files is stacked as one frame when no time window leaves rows out, and as
/// a slice a file when one does: a window that holds every row gives the same frame and the
/// same account of every file (rows kept, copies of sign-ins in earlier files, users, times).
#[test]
fn small_files_stacked_whole_or_by_the_file_account_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for k in 0..40 {
        let mut text = String::new();
        // Every fifth file is empty; a file's rows share ids with the files around it.
        for j in 0..k % 5 {
            let id = format!("r-{}", (k + j) / 2);
            text.push_str(&signin_line(
                &id,
                &format!("2025-03-01T{:02}:{j:02}:00Z", k % 24),
            ));
            text.push('\n');
        }
        files.push(write(dir.path(), &format!("{k:02}.jsonl"), text.as_bytes()));
    }
    let mut options =
        idrisk::ingest::IngestOptions::new(idrisk::rules::Rules::builtin().outcome_codes());
    let whole = idrisk::ingest::load_files(&files, &options).unwrap();
    options.window.since = Some(0);
    let sliced = idrisk::ingest::load_files(&files, &options).unwrap();
    let t = &whole.totals;
    assert_eq!((t.read, t.skipped), (80, 0), "{t:?}");
    assert!(t.duplicates > 20 && t.reconciles(), "{t:?}");
    assert_eq!(whole.totals, sliced.totals);
    assert_eq!(whole.files, sliced.files);
    assert!(whole.frame.equals_missing(&sliced.frame));
    let kept: Vec<u64> = whole.files.iter().map(|f| f.kept).collect();
    assert_eq!(kept.iter().sum::<u64>(), t.kept);
    assert_eq!(kept[..5], [0, 1, 1, 1, 1]);
}
