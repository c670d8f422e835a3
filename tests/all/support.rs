//! Helpers shared by the integration tests: paths, loading, rows as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use idrisk::ingest::values::format_time;
use idrisk::ingest::{load, IngestOptions, Ingested};
use idrisk::rules::Rules;
use polars::prelude::*;
use serde_json::{Map, Value};

pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn samples(relative: &str) -> PathBuf {
    repo("datasets/samples").join(relative)
}

pub fn malformed(name: &str) -> PathBuf {
    repo("datasets/malformed").join(name)
}

pub fn load_paths(paths: &[PathBuf]) -> Ingested {
    load_with(paths, |_| {})
}

/// Loads with the built-in rules and options as `set` changes them; the counts must
/// reconcile.
pub fn load_with(paths: &[PathBuf], set: impl FnOnce(&mut IngestOptions)) -> Ingested {
    let mut options = IngestOptions::new(Rules::builtin().outcome_codes());
    set(&mut options);
    let ingested = load(paths, &options).expect("inputs load");
    assert!(
        ingested.totals.reconciles(),
        "counts must reconcile: {:?}",
        ingested.totals
    );
    ingested
}

pub fn load_one(path: PathBuf) -> Ingested {
    load_paths(&[path])
}

fn json_value(value: AnyValue<'_>) -> Value {
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::String(s) => Value::from(s),
        AnyValue::StringOwned(s) => Value::from(s.as_str()),
        AnyValue::Boolean(b) => Value::from(b),
        AnyValue::Int32(v) => Value::from(v),
        AnyValue::Int64(v) => Value::from(v),
        AnyValue::UInt32(v) => Value::from(v),
        AnyValue::UInt64(v) => Value::from(v),
        AnyValue::Float64(v) => Value::from(v),
        AnyValue::Datetime(v, _, _) | AnyValue::DatetimeOwned(v, _, _) => {
            Value::from(format_time(v))
        }
        other => panic!("unexpected value in the canonical frame: {other:?}"),
    }
}

/// Every row of a frame as a JSON object keyed by column name.
pub fn rows(frame: &DataFrame) -> Vec<Map<String, Value>> {
    (0..frame.height())
        .map(|i| {
            frame
                .columns()
                .iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        json_value(c.get(i).expect("row in range")),
                    )
                })
                .collect()
        })
        .collect()
}

/// Rows keyed by request id.
pub fn rows_by_id(frame: &DataFrame) -> BTreeMap<String, Map<String, Value>> {
    rows(frame)
        .into_iter()
        .map(|r| (r["request_id"].as_str().expect("request id").to_string(), r))
        .collect()
}

/// The expected canonical rows of the sample data, written from the source events by the
/// fixture author (not by the engine), keyed by request id.
pub fn expected_rows() -> BTreeMap<String, Map<String, Value>> {
    let text = std::fs::read_to_string(repo("datasets/expected/samples-rows.jsonl"))
        .expect("expected rows file");
    text.lines()
        .map(|line| {
            let row: Map<String, Value> = serde_json::from_str(line).expect("expected row");
            (row["request_id"].as_str().unwrap().to_string(), row)
        })
        .collect()
}

/// Runs the idrisk binary; it must succeed (its stderr is the failure message).
pub fn idrisk_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A tenant's sign-ins (`DIR/signins`) and the side files `idrisk synth` writes beside them,
/// as score, facts and tune take them; the GeoIP databases too when `geoip`.
pub fn tenant_args(t: &Path, geoip: bool) -> Vec<String> {
    let p = |name: &str| t.join(name).to_string_lossy().into_owned();
    let mut args = vec![p("signins")];
    if geoip {
        for (flag, file) in [
            ("--geoip-city", "geoip-city.mmdb"),
            ("--geoip-asn", "geoip-asn.mmdb"),
        ] {
            args.extend([flag.to_string(), p(file)]);
        }
    }
    for (flag, file) in [
        ("--anonymous-ip", "anonymous-ip.mmdb"),
        ("--anonymous-list", "tor-exit-nodes.txt"),
        ("--threat-intel", "threat-intel.txt"),
        ("--infected-list", "infected-ips.txt"),
        ("--leaked-accounts", "leaked-accounts.txt"),
    ] {
        args.extend([flag.to_string(), p(file)]);
    }
    args.push("-q".into());
    args
}

/// Every file under `dir` by its path inside, with its bytes.
pub fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}
