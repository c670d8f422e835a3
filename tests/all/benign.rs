//! The benign world's hard cases, one at a time on a tenant without attacks, scored at the
//! default rules: which ones the rules stay quiet on, and what fires on the others. The
//! README gives the false-alarm rates measured at enterprise size.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const CASES: [&str; 14] = [
    "ipv6_homes",
    "split_tunnel",
    "expiry_morning",
    "stale_password",
    "cgnat",
    "in_flight_wifi",
    "new_joiners",
    "cloud_refresh",
    "geoip_drift",
    "dev_device_code",
    "printers",
    "missed_prompts",
    "roaming_refresh",
    "new_region",
];

/// The detections of a month of `users` with `case` at `share` and every other case off,
/// leaving out the right ones (employees on a commercial VPN are anonymous).
fn detections_with(dir: &Path, case: &str, share: &str, users: &str) -> Vec<Value> {
    detections_scored(dir, case, share, users, false)
}

/// [`detections_with`], scored with the tenant's City database when `city`.
fn detections_scored(dir: &Path, case: &str, share: &str, users: &str, city: bool) -> Vec<Value> {
    let tenant = dir.join(format!("{case}-{users}"));
    let mut synth = Command::new(env!("CARGO_BIN_EXE_idrisk"));
    synth.args([
        "synth",
        "--users",
        users,
        "--days",
        "30",
        "--seed",
        "1",
        "--attack-rate",
        "0",
        "--shape",
        "parquet",
        "-q",
    ]);
    for other in CASES {
        // A stale password needs the expiry morning that changed it.
        let value = if other == case || (case == "stale_password" && other == "expiry_morning") {
            share
        } else {
            "0"
        };
        synth.arg("--benign").arg(format!("{other}={value}"));
    }
    if !tenant.exists() {
        assert!(synth.arg("--out").arg(&tenant).status().unwrap().success());
    }
    let out = tenant.join(if city { "out-city" } else { "out" });
    let mut score = Command::new(env!("CARGO_BIN_EXE_idrisk"));
    score.arg("score");
    if city {
        score
            .arg("--geoip-city")
            .arg(tenant.join("geoip-city.mmdb"));
    }
    let status = score
        .arg(tenant.join("signins"))
        .arg("--anonymous-ip")
        .arg(tenant.join("anonymous-ip.mmdb"))
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out.join("detections.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["riskEventType"] != "anonymizedIPAddress")
        .collect()
}

fn cities(detection: &Value) -> [&str; 2] {
    let evidence = &detection["evidence"];
    [
        evidence["location"]["city"].as_str().unwrap_or(""),
        evidence["previousLocation"]["city"].as_str().unwrap_or(""),
    ]
}

#[test]
fn the_default_rules_stay_quiet_on_split_tunnels_expiry_mornings_stale_passwords_cgnat_new_joiners_refreshes_and_drift(
) {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        detections_with(dir.path(), "none", "0", "300"),
        Vec::<Value>::new()
    );
    for case in [
        "split_tunnel",
        "expiry_morning",
        "stale_password",
        "cgnat",
        "new_joiners",
        "cloud_refresh",
        "geoip_drift",
    ] {
        let found = detections_with(dir.path(), case, "1", "300");
        assert!(found.is_empty(), "{case}: {found:#?}");
    }
}

#[test]
fn a_password_expiry_morning_is_no_spray_for_the_default_rules() {
    // A thousand users fail 1-3 times at home within an hour of each other: thousands of
    // typos on a few dozen residential ASNs. (Before failures from a user's own networks
    // were left out, this made 24 ASN-wide campaigns and 2,674 detections.)
    let dir = tempfile::tempdir().unwrap();
    let found = detections_with(dir.path(), "expiry_morning", "1", "1000");
    assert!(
        found.iter().all(|d| d["riskEventType"] != "passwordSpray"),
        "{found:#?}"
    );
    let tenant = dir.path().join("expiry_morning-1000");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(tenant.join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["campaigns"], Value::Array(Vec::new()));
}

#[test]
fn in_flight_wifi_is_impossible_travel_without_a_city_database_and_quiet_with_one() {
    // On board, the address geolocates to the provider's headquarters, thousands of
    // kilometres from where the traveller took off. The City database gives such links a
    // 1,000 km accuracy radius: with it they are no place.
    let dir = tempfile::tempdir().unwrap();
    let quiet = detections_scored(dir.path(), "in_flight_wifi", "1", "300", true);
    assert!(quiet.is_empty(), "{quiet:#?}");
    let found = detections_with(dir.path(), "in_flight_wifi", "1", "300");
    assert!(!found.is_empty());
    for d in &found {
        assert_eq!(d["riskEventType"], "unlikelyTravel", "{d:#}");
        let [to, from] = cities(d);
        assert!(
            ["Carlsbad", "London"].contains(&to) || ["Carlsbad", "London"].contains(&from),
            "{d:#}"
        );
    }
}

#[test]
fn ipv6_at_the_isps_hub_is_impossible_travel_now_and_then_for_the_default_rules() {
    // Known false positive: a dual-stack home's IPv6 block geolocates to the ISP's hub;
    // a hop between the two stacks within the hour can look faster than a plane.
    let dir = tempfile::tempdir().unwrap();
    let found = detections_with(dir.path(), "ipv6_homes", "1", "300");
    assert!(found.len() <= 5, "{found:#?}");
    for d in &found {
        assert_eq!(d["riskEventType"], "unlikelyTravel", "{d:#}");
        let hubs = ["Frankfurt am Main", "Kansas City", "Chennai", "Perth"];
        let [to, from] = cities(d);
        assert!(hubs.contains(&to) || hubs.contains(&from), "{d:#}");
    }
}

#[test]
fn developers_printers_missed_prompts_roaming_phones_and_moving_principals_are_quiet_for_the_default_rules(
) {
    // Every user a developer signing in to the Azure CLI by device code, every mailbox a
    // printer's, every phone refreshing over its carrier; one sign-in in five after a missed
    // push or two (ten times the default: at every sign-in, a user with sign-ins minutes
    // apart misses five prompts in a row, which is what bombing looks like).
    let dir = tempfile::tempdir().unwrap();
    let found = detections_with(dir.path(), "missed_prompts", "0.2", "300");
    assert!(found.is_empty(), "{found:#?}");
    // Known false positive: a printer at a branch office too small for its network to be
    // one colleagues come back to fires on its first day (1 of 300 printers here).
    let found = detections_with(dir.path(), "printers", "1", "300");
    assert!(found.len() <= 3, "{found:#?}");
    for d in &found {
        assert_eq!(
            d["evidence"]["legacyProtocol"], "Authenticated SMTP",
            "{d:#}"
        );
    }
    // Known false positive: a developer's first CLI sign-in from a home network and ASN that
    // no sign-in of theirs or of enough colleagues has shown yet (1 of 300 developers here).
    let found = detections_with(dir.path(), "dev_device_code", "1", "300");
    assert!(found.len() <= 3, "{found:#?}");
    for d in &found {
        assert_eq!(d["riskEventType"], "deviceCodePhishing", "{d:#}");
        assert_eq!(
            d["evidence"]["appId"],
            "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
        );
    }
    let found = detections_with(dir.path(), "roaming_refresh", "1", "300");
    assert!(found.len() <= 3, "{found:#?}");
    // Every service principal moves to another Azure region mid-month.
    let found = detections_with(dir.path(), "new_region", "1", "300");
    assert!(found.is_empty(), "{found:#?}");
}
