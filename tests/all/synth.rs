//! The synthetic tenant: deterministic, the same sign-ins in every shape, labels consistent
//! with the sign-ins and lists, and databases that describe its addresses.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use idrisk::frame::col;
use idrisk::synth::{generate, Label, SynthConfig};
use polars::prelude::DataFrame;

use crate::support::{files_under, load_paths, rows, rows_by_id};

fn config(users: u32, days: u32, seed: u64) -> SynthConfig {
    SynthConfig::new(users, days, seed)
}

fn synth(dir: &Path, shape: &str, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args([
            "synth", "--users", "40", "--days", "16", "--seed", "5", "--shape", shape, "-q",
            "--out",
        ])
        .arg(dir)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn same_arguments_give_byte_identical_files_whatever_the_thread_count() {
    for shape in ["diagnostic", "parquet"] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        synth(a.path(), shape, &["--threads", "1"]);
        synth(b.path(), shape, &[]);
        let (fa, fb) = (files_under(a.path()), files_under(b.path()));
        assert!(fa.len() > 5);
        assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        for (name, bytes) in &fa {
            assert!(bytes == &fb[name], "{shape}: {} differs", name.display());
        }
    }
}

#[test]
fn a_different_seed_gives_a_different_tenant() {
    let a = generate(&config(20, 5, 1));
    let b = generate(&config(20, 5, 2));
    assert_ne!(a.events.len(), 0);
    assert_ne!(a.users[0].upn, b.users[0].upn);
}

/// Columns a shape does not carry (read back as null).
fn lacks(shape: &str) -> &'static [&'static str] {
    match shape {
        // The 22-column service-principal download has no credential type or token id.
        "portal-csv" => &[
            "latitude",
            "longitude",
            "asn",
            "token_issuer_type",
            "auth_succeeded",
            "client_credential_type",
            "unique_token_identifier",
        ],
        _ => &[],
    }
}

/// The sign-ins under `signins` are the reference's, field for field, save the fields the
/// shape does not carry.
fn assert_same_sign_ins(reference: &DataFrame, shape: &str, signins: &Path) {
    let reference_rows = rows_by_id(&reference.drop_many([col::source_file, col::source_line]));
    let ingested = load_paths(&[signins.to_path_buf()]);
    assert_eq!(
        ingested.totals.quarantined,
        0,
        "{shape}: {:?}",
        ingested.quarantine.first()
    );
    assert_eq!(ingested.frame.height(), reference.height(), "{shape}");
    let got = rows_by_id(
        &ingested
            .frame
            .drop_many([col::source_file, col::source_line]),
    );
    for (id, want) in &reference_rows {
        let row = &got[id];
        for (column, value) in want {
            if lacks(shape).contains(&column.as_str()) && row[column].is_null() {
                continue;
            }
            assert_eq!(&row[column], value, "{shape} {id} {column}");
        }
    }
}

const TEXT_SHAPES: [&str; 5] = [
    "diagnostic",
    "graph",
    "portal-json",
    "portal-csv",
    "log-analytics",
];

/// The test tenant as canonical Parquet, read back.
fn reference(dir: &Path) -> DataFrame {
    let d = dir.join("parquet");
    synth(&d, "parquet", &[]);
    load_paths(&[d.join("signins")]).frame
}

#[test]
fn every_shape_reads_back_to_the_same_sign_ins() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(dir.path());
    for shape in TEXT_SHAPES.iter().chain(&["event-hubs-capture"]) {
        let d = dir.path().join(shape);
        synth(&d, shape, &[]);
        assert_same_sign_ins(&reference, shape, &d.join("signins"));
    }
}

#[test]
fn gzipped_shapes_read_back_to_the_same_sign_ins() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(dir.path());
    for shape in ["diagnostic", "portal-csv"] {
        let d = dir.path().join(shape);
        synth(&d, shape, &["--gzip"]);
        let names = files_under(&d.join("signins"));
        assert!(names.keys().all(|n| n.to_string_lossy().ends_with(".gz")));
        assert_same_sign_ins(&reference, shape, &d.join("signins"));
    }
}

#[test]
fn gzip_is_refused_for_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args([
            "synth", "--users", "2", "--days", "1", "--shape", "parquet", "--gzip",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gzip"));
}

#[test]
fn labels_point_at_real_sign_ins_of_the_labelled_user() {
    let tenant = generate(&config(300, 30, 11));
    let frame = tenant.frame();
    let by_id = rows_by_id(&frame);
    let kinds: std::collections::BTreeSet<&str> = tenant
        .labels
        .iter()
        .map(|l| l.risk_event_type.as_str())
        .collect();
    for kind in [
        "unlikelyTravel",
        "newCountry",
        "unfamiliarFeatures",
        "signInAfterMultipleFailures",
        "signInsFromMultipleGeographies",
        "passwordSpray",
        "maliciousIPAddress",
        "anonymizedIPAddress",
        "leakedCredentials",
        "suspiciousIPAddress",
        "malwareInfectedIPAddress",
    ] {
        assert!(kinds.contains(kind), "no {kind} label");
    }
    let threat: Vec<String> = tenant
        .intelligence
        .threat_intel_ips
        .iter()
        .map(|ip| std::net::Ipv4Addr::from(*ip).to_string())
        .collect();
    for label in &tenant.labels {
        let Some(id) = &label.request_id else {
            assert_eq!(label.risk_event_type, "leakedCredentials");
            continue;
        };
        let row = by_id
            .get(id)
            .unwrap_or_else(|| panic!("label {label:?} has no sign-in"));
        assert_eq!(row["user_id"].as_str(), label.user_id.as_deref());
        let outcome = row["outcome"].as_str().unwrap();
        assert!(
            outcome == "success" || outcome == "credential_valid",
            "{label:?} labels a failed sign-in"
        );
        if label.risk_event_type == "suspiciousIPAddress" {
            assert!(threat.contains(&row["ip_address"].as_str().unwrap().to_string()));
        }
    }
    // Attack sign-ins are a small share.
    let share = tenant.labels.len() as f64 / tenant.events.len() as f64;
    assert!(share < 0.01, "{share}");
}

#[test]
fn the_generated_databases_describe_the_sign_ins_addresses() {
    // Without drift the databases and the log agree on every address, IPv6 ones included.
    let dir = tempfile::tempdir().unwrap();
    synth(
        dir.path(),
        "parquet",
        &["--benign", "geoip_drift=0", "--benign", "ipv6_homes=1"],
    );
    let city = maxminddb::Reader::open_readfile(dir.path().join("geoip-city.mmdb")).unwrap();
    let asn = maxminddb::Reader::open_readfile(dir.path().join("geoip-asn.mmdb")).unwrap();
    let anonymous = maxminddb::Reader::open_readfile(dir.path().join("anonymous-ip.mmdb")).unwrap();
    let frame = load_paths(&[dir.path().join("signins")]).frame;
    let all = rows(&frame);
    let v6 = all
        .iter()
        .filter(|row| row["ip_address"].as_str().unwrap().contains(':'))
        .count();
    for row in all.iter().step_by(97) {
        let ip: IpAddr = row["ip_address"].as_str().unwrap().parse().unwrap();
        let c: maxminddb::geoip2::City = city.lookup(ip).unwrap().decode().unwrap().unwrap();
        assert_eq!(c.country.iso_code, row["country"].as_str(), "{ip}");
        assert_eq!(c.city.names.english, row["city"].as_str(), "{ip}");
        assert_eq!(c.location.latitude, row["latitude"].as_f64());
        let a: maxminddb::geoip2::Asn = asn.lookup(ip).unwrap().decode().unwrap().unwrap();
        assert_eq!(
            a.autonomous_system_number.map(u64::from),
            row["asn"].as_u64()
        );
    }
    assert!(v6 > all.len() / 20, "{v6} IPv6 addresses");
    let tor = std::fs::read_to_string(dir.path().join("tor-exit-nodes.txt")).unwrap();
    let first: IpAddr = tor.lines().next().unwrap().parse().unwrap();
    let flags: maxminddb::geoip2::AnonymousIp =
        anonymous.lookup(first).unwrap().decode().unwrap().unwrap();
    assert_eq!(flags.is_tor_exit_node, Some(true));
}

fn labels_as_detections(labels: &[Label], path: &Path) {
    let lines: Vec<String> = labels
        .iter()
        .map(|l| {
            serde_json::json!({
                "requestId": l.request_id,
                "riskEventType": l.risk_event_type,
                "userId": l.user_id,
                "userPrincipalName": l.user_principal_name,
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

#[test]
fn eval_of_labels_as_detections_is_perfect_and_of_nothing_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), "parquet", &[]);
    let labels_path = dir.path().join("labels.jsonl");
    let labels = idrisk::eval::read_labels(&labels_path).unwrap();
    let perfect = dir.path().join("perfect");
    std::fs::create_dir_all(&perfect).unwrap();
    labels_as_detections(&labels, &perfect.join("detections.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["eval", "--json", "--min-f1", "1", "--labels"])
        .arg(&labels_path)
        .arg("--detections")
        .arg(&perfect)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in report["types"].as_array().unwrap() {
        assert_eq!(t["f1"], 1.0, "{t}");
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("detections.jsonl"), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["eval", "--json", "--min-f1", "0.5", "--labels"])
        .arg(&labels_path)
        .arg("--detections")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "F1 under the bar exits 1");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in report["types"].as_array().unwrap() {
        assert_eq!(t["recall"], 0.0, "{t}");
    }
}

/// `datasets/<committed>` holds exactly what `idrisk synth <args> --out …` writes.
fn assert_committed(committed: &str, args: &[&str]) {
    let committed_dir = crate::support::repo(committed);
    let fresh = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .arg("synth")
        .args(args)
        .args(["-q", "--out"])
        .arg(fresh.path())
        .status()
        .unwrap();
    assert!(status.success());
    let (want, got) = (files_under(&committed_dir), files_under(fresh.path()));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{committed}"
    );
    for (name, bytes) in &want {
        assert!(
            bytes == &got[name],
            "{committed}/{} differs: regenerate it (see datasets/README.md)",
            name.display()
        );
    }
}

#[test]
fn the_committed_tenant_is_exactly_what_the_generator_makes() {
    assert_committed(
        "datasets/tenant",
        &[
            "--users", "200", "--days", "14", "--seed", "1", "--shape", "parquet",
        ],
    );
}

/// The small tenant committed in every shape (`datasets/shapes/<shape>`).
const SHAPES_TENANT: [&str; 6] = ["--users", "25", "--days", "10", "--seed", "2"];

#[test]
fn the_committed_shapes_are_exactly_what_the_generator_makes() {
    assert_committed(
        "datasets/shapes/parquet",
        &[&SHAPES_TENANT[..], &["--shape", "parquet"]].concat(),
    );
    for shape in TEXT_SHAPES {
        assert_committed(
            &format!("datasets/shapes/{shape}"),
            &[&SHAPES_TENANT[..], &["--shape", shape, "--gzip"]].concat(),
        );
    }
}

#[test]
fn the_committed_shapes_read_back_to_the_same_sign_ins() {
    let parquet = crate::support::repo("datasets/shapes/parquet/signins");
    let reference = load_paths(&[parquet]).frame;
    assert!(reference.height() > 1000);
    for shape in TEXT_SHAPES {
        let signins = crate::support::repo(&format!("datasets/shapes/{shape}/signins"));
        assert_same_sign_ins(&reference, shape, &signins);
    }
}

/// Ground truth never comes from the code under test: the generator imports nothing of the
/// rules or the detectors and names no rules setting, so no threshold can shape a label.
#[test]
fn the_generator_knows_no_rule_and_no_detector() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("rules/default.toml")).unwrap();
    // Every setting of the rules file but the two every section has; `[files]` names the
    // side files, which the generator writes.
    let mut section = "";
    let keys: BTreeSet<&str> = rules
        .lines()
        .filter(|l| {
            if l.starts_with('[') {
                section = l;
            }
            section != "[files]"
        })
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| !k.starts_with('#') && !k.is_empty() && !k.contains(' '))
        .filter(|k| !["enabled", "level"].contains(k))
        .collect();
    assert!(keys.len() > 30, "{keys:?}");
    let mut sources = 0;
    for entry in std::fs::read_dir(root.join("engine/synth")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        sources += 1;
        for forbidden in [
            "crate::rules",
            "crate::detect",
            "idrisk::rules",
            "idrisk::detect",
            "super::super::",
            "Rules",
            "default.toml",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} names '{forbidden}'",
                path.display()
            );
        }
        let words: BTreeSet<&str> = text
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .collect();
        for key in &keys {
            assert!(
                !words.contains(key),
                "{} names the rules setting '{key}'",
                path.display()
            );
        }
    }
    assert!(sources >= 7);
}

#[test]
fn a_tenant_made_a_group_of_users_at_a_time_is_the_tenant_made_whole() {
    use idrisk::synth::{Plot, Written};
    let config = config(400, 10, 9);
    let whole = generate(&config);
    let plot = Plot::new(&config);
    let groups = plot.groups(4000);
    assert!(groups.len() > 5, "{} groups", groups.len());
    // Consecutive, covering every user once.
    assert_eq!(groups[0].start, 0);
    assert_eq!(groups.last().unwrap().end, 400);
    assert!(groups.windows(2).all(|w| w[0].end == w[1].start));
    let mut written = Written::new(&plot);
    let mut events = Vec::new();
    for users in groups {
        let group = plot.group(users, &mut written);
        assert!(group
            .windows(2)
            .all(|w| (w[0].time, w[0].id) < (w[1].time, w[1].id)));
        events.extend(group);
    }
    let parts = plot.finish(written);
    events.sort_by_key(|e| (e.time, e.id));
    assert_eq!(events, whole.events);
    assert_eq!(parts.labels, whole.labels);
    assert_eq!(parts.ignored, whole.ignored);
    assert_eq!(parts.counts, whole.counts);
    assert_eq!(parts.total(), whole.events.len());
    // The attacks are there: labels of listed addresses and VPN users come from the scans.
    assert!(whole
        .labels
        .iter()
        .any(|l| l.scenario == "employee_on_anonymous_vpn"));
    assert!(whole
        .labels
        .iter()
        .any(|l| l.scenario == "infected_device_ip" && !l.request_ids.is_empty()));
    assert!(!whole.ignored.is_empty());
}

#[test]
fn parquet_in_files_of_a_group_each_holds_the_same_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(dir.path());
    let parts = dir.path().join("parts");
    synth(&parts, "parquet", &["--file-sign-ins", "1500"]);
    let files = files_under(&parts.join("signins"));
    assert!(files.len() >= 4, "{:?}", files.keys());
    assert!(files
        .keys()
        .all(|f| f.to_string_lossy().starts_with("signins-")));
    assert_same_sign_ins(&reference, "parquet", &parts.join("signins"));
    // The labels and side files are those of the tenant written in one file.
    for side in [
        "labels.jsonl",
        "ignore.jsonl",
        "tenant.toml",
        "threat-intel.txt",
    ] {
        let whole = std::fs::read(dir.path().join("parquet").join(side)).unwrap();
        assert!(whole == std::fs::read(parts.join(side)).unwrap(), "{side}");
    }
}
