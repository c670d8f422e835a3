//! `idrisk tune` end to end on the committed tenant: the written rules reproduce the point
//! they were picked at, output is the same on one thread and many, bad sweeps are refused,
//! and the page makes no network request.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::repo;

fn idrisk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(args)
        .output()
        .unwrap()
}

/// The committed tenant's sign-ins and its side files, as tune and score take them.
fn tenant_args() -> Vec<String> {
    crate::support::tenant_args(&repo("datasets/tenant"), false)
}

fn tune(extra: &[&str]) -> Output {
    let labels = repo("datasets/tenant/labels.jsonl");
    let ignore = repo("datasets/tenant/ignore.jsonl");
    let mut args: Vec<String> = vec!["tune".into()];
    args.extend(tenant_args());
    args.extend(
        [
            "--labels",
            labels.to_str().unwrap(),
            "--ignore",
            ignore.to_str().unwrap(),
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    idrisk(&args)
}

fn json_of(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rescoring_with_the_written_rules_reproduces_the_picked_point_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.toml");
    // The tenant's one spray (five users over seven hours) is found only at some points: the
    // pick is not the defaults, and the points differ.
    let out = tune(&[
        "--sweep",
        "password_spray.min_users=5,10",
        "--sweep",
        "password_spray.window_minutes=30,480",
        "--sweep",
        "password_spray.success_grace_minutes=60,180",
        "--objective",
        "recall_at_fp_per_10k=1",
        "--write-rules",
        best.to_str().unwrap(),
        "--json",
    ]);
    let tuning = json_of(&out);
    let points = tuning["points"].as_array().unwrap();
    assert_eq!(points.len(), 8);
    let chosen = &points[tuning["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["chosen"], true);
    assert_eq!(chosen["recall"], 1.0, "{chosen}");
    assert!(points.iter().any(|p| p["recall"] == 0.0));
    assert!(points.iter().any(|p| p["pareto"] == true));
    // Score with the written rules, evaluate as a user would, compare.
    assert_eq!(
        idrisk(&["rules", "check", best.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let scored = dir.path().join("out");
    let mut args: Vec<String> = vec!["score".into()];
    args.extend(tenant_args());
    args.extend(["--rules".into(), best.to_string_lossy().into_owned()]);
    args.extend(["--out".into(), scored.to_string_lossy().into_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(idrisk(&args).status.code(), Some(0));
    let evaluation = json_of(&idrisk(&[
        "eval",
        "--json",
        "--detections",
        scored.to_str().unwrap(),
        "--labels",
        repo("datasets/tenant/labels.jsonl").to_str().unwrap(),
        "--ignore",
        repo("datasets/tenant/ignore.jsonl").to_str().unwrap(),
    ]));
    let of = |types: &Value, kind: &str| -> Value {
        types
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["risk_event_type"] == kind)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let kind = "passwordSpray";
    let (tuned, scored) = (of(&chosen["types"], kind), of(&evaluation["types"], kind));
    for field in [
        "labels",
        "found",
        "true_positives",
        "false_positives",
        "false_negatives",
        "precision",
        "recall",
        "false_alarms_per_10k",
    ] {
        assert_eq!(tuned[field], scored[field], "{field}: {tuned} vs {scored}");
    }
}

#[test]
fn a_sweep_gives_the_same_output_on_one_thread_and_on_many() {
    let sweep = [
        "--sweep",
        "networks.org_common_min_users=3,10",
        "--sweep",
        "unfamiliar_sign_in.min_unfamiliar=2..4",
        "--mode",
        "one-at-a-time",
        "--json",
    ];
    let one = tune(&[&sweep[..], &["--threads", "1"]].concat());
    let many = tune(&sweep);
    assert_eq!(json_of(&one)["points"].as_array().unwrap().len(), 5);
    assert_eq!(one.stdout, many.stdout);
}

#[test]
fn unknown_settings_and_values_of_the_wrong_type_are_refused_before_any_work() {
    for (sweep, says) in [
        ("password_spray.min_user=4..30", "min_users"),
        ("password_spray.min_users=4.5", "integer"),
        ("password_spray.min_users=0..4", "positive"),
        ("spray.min_users=4", "unknown rules section"),
    ] {
        let out = tune(&["--sweep", sweep]);
        assert_eq!(out.status.code(), Some(2), "{sweep}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{sweep}: {stderr}");
    }
}

#[test]
fn the_sweep_page_is_self_contained_and_escapes_what_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("sweep.html");
    let out = tune(&[
        "--sweep",
        "password_spray.level=low,high",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let html = std::fs::read_to_string(Path::new(&page)).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"));
    for forbidden in ["<script", "http://", "https://", "src=", "href="] {
        let outside_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!outside_svg_namespace.contains(forbidden), "{forbidden}");
    }
    assert!(html.contains("password_spray.level = &quot;high&quot;"));
}
