//! The `idrisk` binary end to end: outputs, files written, exit codes, error messages.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{malformed, samples};

fn idrisk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(args)
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_json_reports_every_file_and_reconciled_totals() {
    let out = idrisk(&["inspect", "--json", path(&samples(""))]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let totals = &report["totals"];
    assert_eq!(report["files"].as_array().unwrap().len(), 15);
    assert_eq!(totals["kept"], 40);
    assert_eq!(totals["users"], 5);
    let sum = ["kept", "duplicates", "skipped", "quarantined"]
        .iter()
        .map(|k| totals[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(totals["read"].as_u64().unwrap(), sum);
    let shapes: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["shape"].as_str().unwrap())
        .collect();
    for shape in [
        "graph-page",
        "sign-in-array",
        "sign-in-lines",
        "diagnostic-lines",
        "diagnostic-records",
        "log-analytics-json",
        "portal-csv",
        "service-principal-csv",
        "log-analytics-csv",
    ] {
        assert!(shapes.contains(&shape), "{shape} missing from {shapes:?}");
    }
}

#[test]
fn inspect_table_has_a_total_row_and_status_goes_to_stderr() {
    let out = idrisk(&["inspect", path(&samples(""))]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("total (15 files)"), "{stdout}");
    assert!(stdout.contains("diagnostic-records"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("[!]") && stderr.contains("AuthDetails"),
        "{stderr}"
    );
    let quiet = idrisk(&["inspect", "--quiet", path(&samples(""))]);
    assert!(quiet.stderr.is_empty());
}

#[test]
fn convert_writes_parquet_and_its_quarantine_and_parquet_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frame.parquet");
    let run = idrisk(&["convert", path(&samples("")), "--out", path(&out)]);
    assert_eq!(run.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&run.stderr).contains("wrote 40 sign-ins"));
    let frame = idrisk::ingest::read_canonical_parquet(&out).unwrap();
    assert_eq!(frame.height(), 40);
    assert_eq!(frame.schema().as_ref(), &idrisk::frame::schema());
    let quarantine = dir.path().join("frame.quarantine.jsonl");
    assert_eq!(std::fs::read_to_string(&quarantine).unwrap(), "");
    // The Parquet frame is itself an input.
    let again = idrisk(&["inspect", "--json", path(&out)]);
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["files"][0]["shape"], "canonical-parquet");
    assert_eq!(report["totals"]["kept"], 40);
}

#[test]
fn quarantined_records_are_written_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frame.parquet");
    let run = idrisk(&["convert", path(&malformed("")), "--out", path(&out), "-q"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "quarantine alone is not an error"
    );
    let text = std::fs::read_to_string(dir.path().join("frame.quarantine.jsonl")).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(entries.len() >= 9);
    for entry in &entries {
        assert!(entry["source_file"].as_str().unwrap().contains("malformed"));
        assert!(!entry["reason"].as_str().unwrap().is_empty());
    }
    let strict = idrisk(&[
        "convert",
        path(&malformed("")),
        "--out",
        path(&out),
        "-q",
        "--strict",
    ]);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn a_missing_input_is_exit_2_naming_the_input() {
    let out = idrisk(&["inspect", "no/such/export.json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no/such/export.json"), "{stderr}");
}

#[test]
fn a_bad_rules_file_is_exit_2_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[outcomes]\ncredential_failure = []\ncredential_valid = []\nextra = 1\n",
    )
    .unwrap();
    let out = idrisk(&["inspect", path(&samples("graph")), "--rules", path(&rules)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("rules.toml") && stderr.contains("extra"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_exit_2() {
    assert_eq!(
        idrisk(&["inspect", "--threads", "0", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(idrisk(&["inspect"]).status.code(), Some(2));
    assert_eq!(idrisk(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_parquet_file_that_is_not_a_canonical_frame_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("detections.parquet");
    let detections: Vec<idrisk::report::RiskyUser> = Vec::new();
    idrisk::report::write_table(&detections, idrisk::report::Format::Parquet, &other).unwrap();
    let out = idrisk(&["inspect", path(&other)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("not a canonical idrisk frame"), "{stderr}");
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let out = idrisk(&["convert", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Examples:"));
    let top = String::from_utf8(idrisk(&["--help"]).stdout).unwrap();
    assert!(top.contains("Exit codes"));
}

#[test]
fn rules_list_shows_every_detector_with_settings_and_check_names_problems() {
    let out = idrisk(&["rules", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for id in [
        "atypical_travel",
        "multiple_geographies",
        "failures_then_success",
        "unfamiliar_sign_in",
        "new_country",
    ] {
        assert!(text.contains(id), "{id} missing from {text}");
    }
    assert!(text.contains("\"min_failures\":10"));
    assert!(text.contains("[networks]") && text.contains("\"org_common_min_share\":0.1"));
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[failures_then_success]\nmin_failures = 5\n").unwrap();
    assert_eq!(
        idrisk(&["rules", "check", path(&good)]).status.code(),
        Some(0)
    );
    let listed =
        String::from_utf8(idrisk(&["rules", "list", "--rules", path(&good)]).stdout).unwrap();
    assert!(listed.contains("\"min_failures\":5"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[atypical_travel]\nmin_speed_kmh = \"fast\"\n").unwrap();
    let out = idrisk(&["rules", "check", path(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml") && stderr.contains("min_speed_kmh"),
        "{stderr}"
    );
}
