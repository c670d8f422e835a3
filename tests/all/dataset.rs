//! `convert --out DIR/`: the partitioned dataset scores as the files it was made from; the
//! nightly append rewrites only the new days, drops copies of what the dataset holds, and
//! `--score-since` the new day gives a full run's detections for it; `--since/--until` open
//! only the days of their window.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{files_under, idrisk_ok, repo};

fn idrisk(args: &[&str]) -> Output {
    idrisk_ok(args)
}

/// The committed tenant converted into a dataset under `dir`.
fn converted(dir: &Path) -> std::path::PathBuf {
    let dataset = dir.join("dataset");
    idrisk(&[
        "convert",
        &tenant(),
        "--out",
        &format!("{}/", dataset.display()),
        "-q",
    ]);
    dataset
}

fn tenant() -> String {
    repo("datasets/tenant/signins")
        .to_string_lossy()
        .into_owned()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("_idrisk.json")).unwrap()).unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn score(input: &str, out: &Path, extra: &[&str]) {
    let mut args = vec!["score", input, "--out", out.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    idrisk(&args);
}

#[test]
fn a_dataset_scores_as_the_files_it_was_made_from() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = converted(dir.path());
    let m = manifest(&dataset);
    assert_eq!(m["rows"], 46798);
    assert_eq!(m["partitioning"], serde_json::json!(["date"]));
    let partitions = m["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 15);
    for p in partitions {
        let path = p["path"].as_str().unwrap();
        assert!(path.starts_with("date=2025-03-"), "{path}");
        assert!(dataset.join(path).join("part-0.parquet").is_file());
        assert_eq!(&p["first"].as_str().unwrap()[..10], &path[5..]);
    }
    let (from_dataset, from_files) = (dir.path().join("a"), dir.path().join("b"));
    score(dataset.to_str().unwrap(), &from_dataset, &[]);
    score(&tenant(), &from_files, &[]);
    for table in ["detections", "risky_signins", "risky_users", "timeline"] {
        let name = format!("{table}.jsonl");
        assert!(
            read(&from_dataset.join(&name)) == read(&from_files.join(&name)),
            "{table}"
        );
    }
}

#[test]
fn the_nightly_append_rewrites_only_its_days_and_scores_them_as_a_full_run() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = format!("{}/", dir.path().join("dataset").display());
    let dataset_dir = dir.path().join("dataset");
    // The archive up to the night before, then the last day (the export of the last day
    // starts a little before midnight, as real exports overlap).
    idrisk(&[
        "convert",
        &tenant(),
        "--out",
        &dataset,
        "--until",
        "2025-03-14",
        "-q",
    ]);
    let first_day = dataset_dir.join("date=2025-03-01/part-0.parquet");
    let untouched = read(&first_day);
    let rows_before = manifest(&dataset_dir)["rows"].as_u64().unwrap();
    let appended = idrisk(&[
        "convert",
        &tenant(),
        "--out",
        &dataset,
        "--since",
        "2025-03-13T23:00:00Z",
    ]);
    let m = manifest(&dataset_dir);
    assert_eq!(m["rows"], 46798, "every sign-in once");
    assert_eq!(m["writes"], 2);
    assert!(m["rows"].as_u64().unwrap() > rows_before);
    assert!(
        read(&first_day) == untouched,
        "a day the append does not cover is not rewritten"
    );
    let said = String::from_utf8_lossy(&appended.stderr);
    assert!(said.contains("duplicates"), "{said}");
    // Appending the same day again adds nothing.
    idrisk(&[
        "convert",
        &tenant(),
        "--out",
        &dataset,
        "--since",
        "2025-03-14",
        "-q",
    ]);
    assert_eq!(manifest(&dataset_dir)["rows"], 46798);
    // The nightly score of the new day equals a full run's detections for that day.
    let (nightly, full) = (dir.path().join("nightly"), dir.path().join("full"));
    score(
        dataset_dir.to_str().unwrap(),
        &nightly,
        &["--score-since", "2025-03-14"],
    );
    score(&tenant(), &full, &["--score-since", "2025-03-14"]);
    let detections = read(&nightly.join("detections.jsonl"));
    assert!(detections == read(&full.join("detections.jsonl")));
    assert!(!detections.is_empty());
}

#[test]
fn a_window_scores_a_dataset_as_its_source() {
    // The dataset's days inside the window keep their column projection (their other
    // columns fetched for the reported rows); the source file straddles the window and is
    // read whole: both give the same tables.
    let dir = tempfile::tempdir().unwrap();
    let dataset = converted(dir.path());
    let (from_dataset, from_files) = (dir.path().join("a"), dir.path().join("b"));
    let window = ["--since", "2025-03-05", "--until", "2025-03-13"];
    score(dataset.to_str().unwrap(), &from_dataset, &window);
    score(&tenant(), &from_files, &window);
    for table in ["detections", "risky_signins", "risky_users", "timeline"] {
        let name = format!("{table}.jsonl");
        let detected = read(&from_dataset.join(&name));
        assert!(!detected.is_empty(), "{table}");
        assert!(detected == read(&from_files.join(&name)), "{table}");
    }
}

#[test]
fn since_and_until_open_only_the_days_of_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = converted(dir.path());
    let output = idrisk(&[
        "inspect",
        dataset.to_str().unwrap(),
        "--since",
        "2025-03-05",
        "--until",
        "2025-03-07",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].contains("date=2025-03-05") && files[1].contains("date=2025-03-06"));
}

#[test]
fn convert_refuses_a_directory_that_is_no_dataset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["convert", &tenant(), "--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a dataset"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

fn synth(out: &Path, shape: &str) {
    idrisk(&[
        "synth",
        "--users",
        "150",
        "--days",
        "5",
        "--seed",
        "8",
        "--shape",
        shape,
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
}

fn convert(inputs: &[&Path], out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(inputs.iter().map(|p| p.to_string_lossy().into_owned()));
    args.extend(["--out".into(), format!("{}/", out.display())]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = idrisk_ok(&args);
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The part of convert's status line after its first parenthesis: days, totals.
fn account(said: &str) -> &str {
    &said[said.find('(').unwrap()..]
}

#[test]
fn a_convert_in_parts_writes_the_dataset_a_whole_load_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (json, csv) = (dir.path().join("json"), dir.path().join("csv"));
    // The same sign-ins as hourly JSON blobs and as the portal's CSV (rounded times, fewer
    // columns): copies across batches, the CSV ones losing.
    synth(&json, "diagnostic");
    synth(&csv, "portal-csv");
    let (one, parts) = (dir.path().join("one"), dir.path().join("parts"));
    let (j, c) = (json.join("signins"), csv.join("signins"));
    let said_one = convert(&[&j, &c], &one, &["--buckets", "4"]);
    let said_parts = convert(
        &[&c, &j],
        &parts,
        &["--buckets", "4", "--memory-limit", "2MiB"],
    );
    assert!(said_parts.contains(" batches ("), "{said_parts}");
    assert_eq!(account(&said_one), account(&said_parts));
    assert!(said_one.contains("duplicates "), "{said_one}");
    assert!(!said_one.contains("duplicates 0,"), "{said_one}");
    let (a, b) = (files_under(&one), files_under(&parts));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a.keys().any(|k| k.to_string_lossy().contains("/bucket=3/")));
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{} differs", name.display());
    }
    assert!(!parts.join(".staging").exists());
    assert_eq!(manifest(&parts)["buckets"], 4);

    // One canonical Parquet file larger than a batch is read in slices of its rows.
    let file = dir.path().join("all.parquet");
    idrisk(&[
        "convert",
        j.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
        "-q",
    ]);
    let (whole, sliced) = (dir.path().join("whole"), dir.path().join("sliced"));
    let said_whole = convert(&[&file], &whole, &["--buckets", "4"]);
    let said_sliced = convert(
        &[&file],
        &sliced,
        &["--buckets", "4", "--memory-limit", "2MiB"],
    );
    assert!(said_sliced.contains(" batches ("), "{said_sliced}");
    assert_eq!(account(&said_whole), account(&said_sliced));
    let (a, b) = (files_under(&whole), files_under(&sliced));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "sliced: {} differs", name.display());
    }

    // The nightly append, in parts: the days it brings merged with what the dataset held.
    let late = dir.path().join("late");
    synth(&late, "graph");
    let l = late.join("signins");
    let said_one = convert(&[&l], &one, &[]);
    let said_parts = convert(&[&l], &parts, &["--memory-limit", "2MiB"]);
    assert_eq!(account(&said_one), account(&said_parts));
    let (a, b) = (files_under(&one), files_under(&parts));
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "after the append, {} differs",
            name.display()
        );
    }
    // The split is the dataset's: another is refused before anything is read.
    let refused = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["convert", l.to_str().unwrap(), "--buckets", "8", "--out"])
        .arg(format!("{}/", one.display()))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("split into 4 user buckets"));
}
