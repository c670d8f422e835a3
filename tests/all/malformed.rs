//! Bad input never panics and loses nothing: each bad record is quarantined with a reason,
//! the good records around it are kept, and the counts reconcile.

use idrisk::ingest::{Ingested, Shape};

use crate::support::{load_one, load_paths, malformed, samples};

fn reasons(ingested: &Ingested) -> Vec<&str> {
    ingested
        .quarantine
        .iter()
        .map(|q| q.reason.as_str())
        .collect()
}

#[test]
fn garbage_lines_inside_json_lines_are_quarantined_and_neighbours_kept() {
    let ingested = load_one(malformed("garbage-line.jsonl"));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::DiagnosticLines);
    assert_eq!((file.read, file.kept, file.quarantined), (8, 6, 2));
    let lines: Vec<Option<u64>> = ingested.quarantine.iter().map(|q| q.line).collect();
    assert_eq!(lines, [Some(4), Some(5)]);
    assert!(ingested.quarantine[0].raw.starts_with("this is not json"));
    assert!(
        ingested.quarantine[1]
            .reason
            .starts_with("truncated record"),
        "{:?}",
        reasons(&ingested)
    );
}

#[test]
fn a_wrong_type_quarantines_the_record_with_what_was_expected() {
    let ingested = load_one(malformed("wrong-type.json"));
    assert_eq!((ingested.totals.kept, ingested.totals.quarantined), (2, 1));
    let reason = &ingested.quarantine[0].reason;
    assert!(
        reason.contains("\"abc\"") && reason.contains("integer"),
        "{reason}"
    );
    assert!(ingested.quarantine[0]
        .raw
        .contains("\"errorCode\": \"abc\""));
}

#[test]
fn missing_and_unparseable_times_are_quarantined() {
    let ingested = load_one(malformed("missing-time.json"));
    assert_eq!((ingested.totals.kept, ingested.totals.quarantined), (1, 2));
    let r = reasons(&ingested);
    assert!(r.iter().any(|r| r.contains("missing time")), "{r:?}");
    assert!(r.iter().any(|r| r.contains("yesterday at noon")), "{r:?}");
}

#[test]
fn an_invalid_ip_is_quarantined_and_an_empty_one_is_no_value() {
    let ingested = load_one(malformed("invalid-ip.json"));
    assert_eq!((ingested.totals.kept, ingested.totals.quarantined), (2, 1));
    assert!(ingested.quarantine[0].reason.contains("999.1.1.1"));
    let ips = ingested
        .frame
        .column("ip_address")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert_eq!(
        ips.null_count(),
        1,
        "an empty ipAddress is null, not an error"
    );
}

#[test]
fn a_record_without_an_id_is_quarantined() {
    let ingested = load_one(malformed("missing-id.json"));
    assert_eq!((ingested.totals.kept, ingested.totals.quarantined), (1, 1));
    assert_eq!(ingested.quarantine[0].reason, "missing sign-in id");
}

#[test]
fn a_truncated_json_document_keeps_the_complete_records() {
    let ingested = load_one(malformed("truncated.json"));
    let file = &ingested.files[0];
    assert_eq!((file.kept, file.quarantined), (2, 1));
    assert!(ingested.quarantine[0]
        .reason
        .starts_with("truncated record"));
    assert!(!file.warnings.is_empty());
}

#[test]
fn an_empty_file_is_reported_not_quarantined() {
    let ingested = load_one(malformed("empty.json"));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::Empty);
    assert_eq!((file.read, file.quarantined), (0, 0));
    assert_eq!(file.warnings, ["the file is empty"]);
}

#[test]
fn binary_junk_is_quarantined_as_one_record() {
    let ingested = load_one(malformed("junk.bin"));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::Unrecognised);
    assert_eq!((file.read, file.quarantined), (1, 1));
    assert_eq!(ingested.quarantine[0].line, None);
    assert!(ingested.quarantine[0].raw.len() <= idrisk::ingest::QUARANTINE_RAW_LIMIT);
}

#[test]
fn a_truncated_gzip_keeps_what_could_be_read() {
    let ingested = load_one(malformed("truncated-PT1H.json.gz"));
    let file = &ingested.files[0];
    assert_eq!(file.shape, Shape::DiagnosticLines);
    assert!(file.kept >= 5, "{file:?}");
    assert_eq!(file.quarantined, 1, "the record cut by the truncation");
    assert!(
        file.warnings[0].contains("stops early"),
        "{:?}",
        file.warnings
    );
}

#[test]
fn every_malformed_file_at_once_still_reconciles_with_the_samples() {
    let ingested = load_paths(&[samples(""), malformed("")]);
    let t = &ingested.totals;
    assert_eq!(t.read, t.kept + t.duplicates + t.skipped + t.quarantined);
    assert!(t.quarantined >= 9);
}

#[test]
fn quarantined_raw_text_is_cut_to_4_kib_on_a_character_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let long = format!(
        "{{\"createdDateTime\": \"nope\", \"id\": \"x\", \"userDisplayName\": \"{}\"}}\n",
        "é".repeat(5000)
    );
    std::fs::write(&path, long).unwrap();
    let ingested = load_one(path);
    let raw = &ingested.quarantine[0].raw;
    assert!(raw.len() <= idrisk::ingest::QUARANTINE_RAW_LIMIT && raw.len() > 4000);
    assert!(!raw.ends_with('\u{FFFD}'));
}
