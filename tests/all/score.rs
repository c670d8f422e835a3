//! `idrisk score` end to end on the committed tenant: the output contract, determinism, the
//! nightly `--score-since` semantics, and quality against the tenant's labels.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::repo;

fn score(out: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .arg("score")
        .arg(repo("datasets/tenant/signins"))
        .arg("--out")
        .arg(out)
        .arg("-q")
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn score_writes_the_output_contract() {
    let dir = tempfile::tempdir().unwrap();
    score(dir.path(), &[]);
    for file in [
        "detections.jsonl",
        "risky_signins.jsonl",
        "risky_users.jsonl",
        "risky_service_principals.jsonl",
        "timeline.jsonl",
        "summary.json",
        "quarantine.jsonl",
    ] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("summary.json"))).unwrap();
    assert_eq!(summary["input"]["totals"]["kept"], 46798);
    assert!(summary["risky_service_principals"].is_u64());
    assert_eq!(summary["rules_sha256"].as_str().unwrap().len(), 64);
    let first: serde_json::Value = serde_json::from_str(
        read(&dir.path().join("detections.jsonl"))
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    for field in [
        "id",
        "requestId",
        "riskEventType",
        "riskLevel",
        "activityDateTime",
        "detectedDateTime",
        "additionalInfo",
        "report",
        "detector",
        "evidence",
    ] {
        assert!(!first[field].is_null(), "{field}");
    }
    let csv = tempfile::tempdir().unwrap();
    score(csv.path(), &["--format", "csv"]);
    assert!(csv.path().join("detections.csv").is_file());
}

#[test]
fn one_thread_and_all_threads_give_identical_outputs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    score(a.path(), &["--threads", "1"]);
    score(b.path(), &[]);
    for file in [
        "detections.jsonl",
        "risky_signins.jsonl",
        "risky_users.jsonl",
        "risky_service_principals.jsonl",
    ] {
        assert_eq!(
            read(&a.path().join(file)),
            read(&b.path().join(file)),
            "{file}"
        );
    }
}

#[test]
fn scoring_since_a_day_gives_exactly_that_days_detections_of_a_full_run() {
    let full = tempfile::tempdir().unwrap();
    let nightly = tempfile::tempdir().unwrap();
    score(full.path(), &[]);
    score(nightly.path(), &["--score-since", "2025-03-08"]);
    let from_day = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["activityDateTime"].as_str().unwrap() >= "2025-03-08"
            })
            .map(String::from)
            .collect()
    };
    let expected = from_day(read(&full.path().join("detections.jsonl")));
    let got: Vec<String> = read(&nightly.path().join("detections.jsonl"))
        .lines()
        .map(String::from)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn every_detection_of_failures_then_success_on_the_committed_tenant_is_an_attack() {
    let dir = tempfile::tempdir().unwrap();
    score(dir.path(), &[]);
    let score = score_of(dir.path(), "signInAfterMultipleFailures");
    assert_eq!(score["precision"], 1.0, "{score}");
    assert!(score["found"].as_u64().unwrap() > 0, "{score}");
}

/// What `idrisk eval` says of one risk event type of the detections in `out`, against the
/// committed tenant's labels.
fn score_of(out: &Path, kind: &str) -> serde_json::Value {
    let eval = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["eval", "--json", "--labels"])
        .arg(repo("datasets/tenant/labels.jsonl"))
        .arg("--detections")
        .arg(out)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let scores = report["types"].as_array().unwrap();
    scores
        .iter()
        .find(|t| t["risk_event_type"] == kind)
        .unwrap()
        .clone()
}

#[test]
fn the_same_sign_ins_in_another_shape_or_split_into_many_files_score_identically() {
    let dir = tempfile::tempdir().unwrap();
    let make = |shape: &str| {
        let out = dir.path().join(shape);
        let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
            .args([
                "synth", "--users", "60", "--days", "21", "--seed", "4", "-q", "--shape", shape,
                "--out",
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        out
    };
    let parquet = make("parquet");
    // Every enrichment file, so every detector reads its columns: Parquet inputs are decoded
    // with only the columns scoring reads, text shapes whole.
    let side = |name: &str| parquet.join(name);
    let run = |input: &Path, out: &Path| {
        let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
            .arg("score")
            .arg(input)
            .arg("--out")
            .arg(out)
            .arg("-q")
            .arg("--anonymous-ip")
            .arg(side("anonymous-ip.mmdb"))
            .arg("--anonymous-list")
            .arg(side("tor-exit-nodes.txt"))
            .arg("--threat-intel")
            .arg(side("threat-intel.txt"))
            .arg("--infected-list")
            .arg(side("infected-ips.txt"))
            .arg("--leaked-accounts")
            .arg(side("leaked-accounts.txt"))
            .status()
            .unwrap();
        assert!(status.success());
        [
            "detections",
            "risky_signins",
            "risky_users",
            "risky_service_principals",
        ]
        .map(|name| read(&out.join(format!("{name}.jsonl"))))
    };
    // Hourly blobs: hundreds of files, in whatever order the directory lists them.
    let diagnostic = make("diagnostic");
    let from_parquet = run(&parquet.join("signins"), &dir.path().join("a"));
    let from_hourly_files = run(&diagnostic.join("signins"), &dir.path().join("b"));
    assert!(!from_parquet[0].is_empty());
    assert_eq!(from_parquet, from_hourly_files);
}

#[test]
fn the_anonymous_ip_database_and_exit_list_find_what_they_list_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = repo("datasets/tenant");
    let db = tenant.join("anonymous-ip.mmdb");
    let tor = tenant.join("tor-exit-nodes.txt");
    score(
        dir.path(),
        &[
            "--anonymous-ip",
            db.to_str().unwrap(),
            "--anonymous-list",
            tor.to_str().unwrap(),
        ],
    );
    // The database and the list lag behind the newest Tor relays: what they miss is
    // missed, what they flag is right.
    let score = score_of(dir.path(), "anonymizedIPAddress");
    assert_eq!(score["precision"], 1.0, "{score}");
    assert!(score["true_positives"].as_u64().unwrap() > 0, "{score}");
}

#[test]
fn a_missing_enrichment_file_is_an_error_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .arg("score")
        .arg(repo("datasets/tenant/signins"))
        .args(["--out"])
        .arg(dir.path())
        .args(["--anonymous-ip", "/no/such/anonymous.mmdb"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/no/such/anonymous.mmdb"), "{stderr}");
    assert!(!dir.path().join("detections.jsonl").exists());
}

#[test]
fn the_city_database_gives_portal_csv_the_coordinates_it_lacks() {
    // The same tenant as portal CSV (no coordinates) and as Parquet (the log's own), with
    // GeoIP that agrees with the log (no drift): the database makes them score alike.
    let dir = tempfile::tempdir().unwrap();
    let make = |shape: &str| -> PathBuf {
        let tenant = dir.path().join(shape);
        let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
            .args([
                "synth",
                "--users",
                "60",
                "--days",
                "21",
                "--seed",
                "4",
                "-q",
                "--benign",
                "geoip_drift=0",
                "--shape",
                shape,
                "--out",
            ])
            .arg(&tenant)
            .status()
            .unwrap();
        assert!(status.success());
        tenant
    };
    let (csv, parquet) = (make("portal-csv"), make("parquet"));
    let travel = |tenant: &Path, out: &str, extra: &[&str]| -> usize {
        let out = dir.path().join(out);
        let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
            .arg("score")
            .arg(tenant.join("signins"))
            .arg("--out")
            .arg(&out)
            .arg("-q")
            .args(extra)
            .status()
            .unwrap();
        assert!(status.success());
        read(&out.join("detections.jsonl"))
            .lines()
            .filter(|l| l.contains("\"unlikelyTravel\""))
            .count()
    };
    let city = csv.join("geoip-city.mmdb");
    let city = ["--geoip-city", city.to_str().unwrap()];
    assert_eq!(travel(&csv, "without", &[]), 0, "no coordinates, no travel");
    let from_log = travel(&parquet, "parquet", &city);
    assert!(from_log > 0);
    assert_eq!(travel(&csv, "with", &city), from_log);
}

#[test]
fn enrichment_files_named_in_the_rules_are_used_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = repo("datasets/tenant");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "[files]\nanonymous_ip = {:?}\n",
            tenant.join("anonymous-ip.mmdb").to_str().unwrap()
        ),
    )
    .unwrap();
    score(
        &dir.path().join("out"),
        &["--rules", rules.to_str().unwrap()],
    );
    let detections = read(&dir.path().join("out/detections.jsonl"));
    assert!(detections.contains("\"anonymizedIPAddress\""));
    std::fs::write(
        &rules,
        "[files]\nleaked_accounts = [\"/no/such/leaks.txt\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .arg("score")
        .arg(repo("datasets/tenant/signins"))
        .arg("--out")
        .arg(dir.path().join("out2"))
        .args(["--rules", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("/no/such/leaks.txt"));
}

/// Scoring decodes from canonical Parquet only what it reads per row, takes users and other
/// text of few values as dictionary codes, and leaves request ids unread but where times tie:
/// on a file with sign-ins keyed by name alone and tied times, it must score exactly as a
/// load of every column does.
#[test]
fn a_projected_parquet_load_scores_as_a_whole_load_with_nameless_users_and_tied_times() {
    use idrisk::detect::context::Enrichment;
    use idrisk::enrich::sources::synth_side_files;
    use idrisk::enrich::sources::Sources;
    use idrisk::frame::{col, time_values};
    use idrisk::ingest::{load_files, write_canonical_parquet, Compression, IngestOptions};
    use idrisk::report::score::{columns_read, score};
    use idrisk::rules::Rules;
    use idrisk::synth::side_files::write_side_files;
    use idrisk::synth::{generate, SynthConfig};
    use polars::prelude::*;

    let rules = Rules::builtin();
    let codes = rules.outcome_codes();
    let config = SynthConfig {
        attack_rate: 0.01,
        ..SynthConfig::new(150, 20, 11)
    };
    let tenant = generate(&config);
    let mut frame = tenant.frame();
    // Every 40th sign-in has no user id (keyed by its principal name); every 97th shares the
    // time of the one before.
    let ids: StringChunked = frame
        .column(col::user_id)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, id)| if i % 40 == 0 { None } else { id })
        .collect();
    frame
        .replace(
            col::user_id,
            ids.with_name(col::user_id.into()).into_column(),
        )
        .unwrap();
    let mut times = time_values(&frame).unwrap();
    for i in (97..times.len()).step_by(97) {
        times[i] = times[i - 1];
    }
    let time = Int64Chunked::from_vec(col::time.into(), times.clone())
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    frame.replace(col::time, time.into_column()).unwrap();
    // Canonical order: time, then request id.
    let request: Vec<String> = frame
        .column(col::request_id)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|r| r.unwrap_or("").to_string())
        .collect();
    let mut order: Vec<IdxSize> = (0..frame.height() as IdxSize).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        times[a]
            .cmp(&times[b])
            .then_with(|| request[a].cmp(&request[b]))
    });
    let frame = frame.take(&IdxCa::from_vec("order".into(), order)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("signins.parquet");
    write_canonical_parquet(&frame, &parquet, Compression::Zstd).unwrap();
    write_side_files(&tenant, dir.path()).unwrap();
    let sources = Sources::open(&synth_side_files(dir.path(), true)).unwrap();
    let enrichment = Enrichment::from_sources(&sources, &rules).unwrap();
    let run = |columns: Option<Vec<&'static str>>| {
        let mut options = IngestOptions::new(codes.clone());
        let projected = columns.is_some();
        options.columns = columns;
        let mut ingested = load_files(std::slice::from_ref(&parquet), &options).unwrap();
        // The projected load takes the fast paths this test is about.
        assert!(ingested.users.is_some() && ingested.times.is_some());
        assert_eq!(!ingested.codes.is_empty(), projected);
        assert_eq!(ingested.unread.is_unread(col::request_id), projected);
        let scored = score(&mut ingested, &rules, &enrichment, None).unwrap();
        assert!(scored.detections.len() > 10);
        serde_json::to_string(&(
            &scored.detections,
            &scored.risky_signins,
            &scored.risky_users,
        ))
        .unwrap()
    };
    assert_eq!(run(Some(columns_read())), run(None));
}
