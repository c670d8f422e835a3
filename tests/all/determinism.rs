//! Same inputs give byte-identical outputs, whatever the thread count, argument order or way
//! the files are split.

use std::path::{Path, PathBuf};
use std::process::Command;

use idrisk::frame::col;
use polars::prelude::*;

use crate::support::{load_paths, samples};

fn convert(args: &[&str], inputs: &[PathBuf], out: &Path) -> Vec<u8> {
    let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .arg("convert")
        .args(inputs)
        .args(["--out", out.to_str().unwrap(), "--quiet"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn sample_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![samples("")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn one_thread_and_all_threads_write_identical_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [samples("")];
    let one = convert(
        &["--threads", "1"],
        &inputs,
        &dir.path().join("one.parquet"),
    );
    let all = convert(&[], &inputs, &dir.path().join("all.parquet"));
    assert!(!one.is_empty());
    assert_eq!(one, all);
}

#[test]
fn argument_order_does_not_change_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = sample_files();
    files.sort();
    let forward = convert(&[], &files, &dir.path().join("forward.parquet"));
    files.reverse();
    let backward = convert(&[], &files, &dir.path().join("backward.parquet"));
    let directory = convert(&[], &[samples("")], &dir.path().join("dir.parquet"));
    assert_eq!(forward, backward);
    assert_eq!(forward, directory);
}

#[test]
fn every_parquet_compression_reads_back_to_the_same_frame() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [samples("")];
    let read = |compression: &str| {
        let path = dir.path().join(format!("{compression}.parquet"));
        convert(&["--compression", compression], &inputs, &path);
        load_paths(&[path]).frame
    };
    let zstd = read("zstd");
    assert!(zstd.height() > 10);
    assert!(read("lz4").equals_missing(&zstd));
    assert!(read("none").equals_missing(&zstd));
}

/// The frame without the columns that name where a row was read.
fn content(paths: &[PathBuf]) -> DataFrame {
    load_paths(paths)
        .frame
        .drop_many([col::source_file, col::source_line])
}

#[test]
fn splitting_a_file_gives_the_same_rows() {
    let whole_dir = tempfile::tempdir().unwrap();
    let split_dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(samples("graph/signins-beta.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let page = std::fs::read(samples(
        "portal-json/InteractiveSignIns_2025-03-01_2025-03-02.json",
    ))
    .unwrap();
    std::fs::write(whole_dir.path().join("all.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(whole_dir.path().join("page.json"), &page).unwrap();
    std::fs::write(split_dir.path().join("b-part.jsonl"), lines[..2].join("\n")).unwrap();
    std::fs::write(split_dir.path().join("a-part.jsonl"), lines[2..].join("\n")).unwrap();
    std::fs::write(split_dir.path().join("page-copy.json"), &page).unwrap();
    // The overlap between the split parts and a repeated copy deduplicates the same way.
    std::fs::write(split_dir.path().join("c-again.jsonl"), &lines[1]).unwrap();
    let whole = content(&[whole_dir.path().to_path_buf()]);
    let split = content(&[split_dir.path().to_path_buf()]);
    assert_eq!(whole.height(), 18);
    assert!(whole.equals_missing(&split), "{whole}\n{split}");
}

#[test]
fn tiny_read_chunks_give_the_same_frame_as_large_ones() {
    // Every record of every sample crosses a chunk boundary somewhere at these sizes.
    let inputs = [samples(""), crate::support::malformed("")];
    let whole = load_paths(&inputs);
    for chunk_bytes in [5, 64, 1000, 4096] {
        let mut options =
            idrisk::ingest::IngestOptions::new(idrisk::rules::Rules::builtin().outcome_codes());
        options.chunk_bytes = chunk_bytes;
        let chunked = idrisk::ingest::load(&inputs, &options).unwrap();
        assert!(
            whole.frame.equals_missing(&chunked.frame),
            "chunk {chunk_bytes}"
        );
        assert_eq!(whole.totals, chunked.totals, "chunk {chunk_bytes}");
        assert_eq!(whole.quarantine, chunked.quarantine, "chunk {chunk_bytes}");
    }
}

/// Plain JSON Lines files are parsed from a map of the file, gzipped ones from the chunked
/// stream: the two paths keep, skip and quarantine the same records, at any window size and
/// with lines over the record cap.
#[test]
fn a_mapped_file_and_its_gzip_stream_read_the_same() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    for path in [
        samples(
            "diagnostic/insights-logs-signinlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/\
             y=2025/m=03/d=01/h=10/m=00/PT1H.json",
        ),
        crate::support::malformed("garbage-line.jsonl"),
    ] {
        text.extend(std::fs::read(path).unwrap());
        text.push(b'\n');
    }
    text.extend(b"{\"id\":\"huge\",\"userDisplayName\":\"");
    text.extend(std::iter::repeat_n(b'x', 5000));
    text.extend(b"\"}\n\n  \n");
    let plain = dir.path().join("a.jsonl");
    std::fs::write(&plain, &text).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gzipped = dir.path().join("a.jsonl.gz");
    std::fs::write(&gzipped, gz.finish().unwrap()).unwrap();
    for chunk_bytes in [5, 700, 1 << 20] {
        let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let read = |path: &Path| {
            crate::support::load_with(&[path.to_path_buf()], |o| {
                o.chunk_bytes = chunk_bytes;
                o.max_record_bytes = 4096;
                o.progress = progress.clone();
            })
        };
        let mapped = read(&plain);
        // Progress counts every byte of the file once (its sniffed head included).
        let read_bytes = progress.swap(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(read_bytes, text.len() as u64, "chunk {chunk_bytes}");
        let streamed = read(&gzipped);
        assert!(mapped.totals.kept > 0 && mapped.totals.quarantined >= 2);
        assert_eq!(mapped.totals, streamed.totals, "chunk {chunk_bytes}");
        let place = |q: &idrisk::ingest::Quarantined| (q.line, q.reason.clone(), q.raw.clone());
        assert_eq!(
            mapped.quarantine.iter().map(place).collect::<Vec<_>>(),
            streamed.quarantine.iter().map(place).collect::<Vec<_>>(),
            "chunk {chunk_bytes}"
        );
        let without_file = |i: &idrisk::ingest::Ingested| i.frame.drop(col::source_file).unwrap();
        assert!(
            without_file(&mapped).equals_missing(&without_file(&streamed)),
            "chunk {chunk_bytes}"
        );
        assert_eq!(mapped.files[0].shape, streamed.files[0].shape);
    }
}
