//! `idrisk report` and `score --html`: the page of the committed tenant in a real headless
//! Chromium (counts as rendered against summary.json, no console error, no network request,
//! a screenshot), the same page from every output format, and hostile text shown as text.

use std::path::{Path, PathBuf};
use std::process::Command;

use idrisk::report::html::{page, Outputs};
use idrisk::report::{Detection, RiskyUser, Summary};
use serde_json::{json, Value};

use crate::support::{idrisk_ok, repo};

fn idrisk(args: &[&std::ffi::OsStr]) {
    idrisk_ok(args);
}

/// Scores the committed tenant with every side file, into `out`, in `format`, with the page.
fn score_tenant(out: &Path, format: &str) {
    let t = repo("datasets/tenant");
    let side = |name: &str| t.join(name).into_os_string();
    let args: Vec<std::ffi::OsString> = vec![
        "score".into(),
        t.join("signins").into_os_string(),
        "--out".into(),
        out.as_os_str().to_owned(),
        "-q".into(),
        "--format".into(),
        format.into(),
        "--html".into(),
        out.join("report.html").into_os_string(),
        "--geoip-city".into(),
        side("geoip-city.mmdb"),
        "--geoip-asn".into(),
        side("geoip-asn.mmdb"),
        "--anonymous-ip".into(),
        side("anonymous-ip.mmdb"),
        "--anonymous-list".into(),
        side("tor-exit-nodes.txt"),
        "--threat-intel".into(),
        side("threat-intel.txt"),
        "--infected-list".into(),
        side("infected-ips.txt"),
        "--leaked-accounts".into(),
        side("leaked-accounts.txt"),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    idrisk(&args);
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

/// Headless Chromium: `CHROMIUM` or Debian's /usr/bin/chromium (`.ci/test` installs it).
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "headless Chromium is needed for the report tests: `apt-get install chromium` \
         (run the tests with .ci/test, which installs it), or set CHROMIUM"
    );
    path
}

/// What a page did in the browser.
struct Rendered {
    /// The DOM once the page's script ran.
    dom: String,
    /// Console messages (errors, CSP violations) from the browser's log.
    console: Vec<String>,
    /// URLs the page asked the network for.
    requests: Vec<String>,
}

/// Opens `page` in headless Chromium; with `screenshot`, also saves one there.
fn render(page: &Path, screenshot: Option<&Path>) -> Rendered {
    let scratch = tempfile::tempdir().unwrap();
    let net_log = scratch.path().join("net.json");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let browser = |extra: &[String], profile: &str| {
        Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=10000",
            ])
            .arg(format!(
                "--user-data-dir={}",
                scratch.path().join(profile).display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let output = browser(
        &[
            format!("--log-net-log={}", net_log.display()),
            "--dump-dom".to_string(),
        ],
        "dom",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(String::from)
        .collect();
    // The page's own requests carry its (file://) network isolation key; the browser's
    // housekeeping requests carry none or their own.
    let log = std::fs::read_to_string(&net_log).unwrap();
    let log: Value = serde_json::Deserializer::from_str(&log)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    let requests = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(String::from))
        .collect();
    if let Some(shot) = screenshot {
        let output = browser(
            &[
                "--hide-scrollbars".to_string(),
                "--window-size=1280,2400".to_string(),
                format!("--screenshot={}", shot.display()),
            ],
            "shot",
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Rendered {
        dom: String::from_utf8(output.stdout).unwrap(),
        console,
        requests,
    }
}

fn rendered_count(dom: &str, key: &str) -> u64 {
    between(dom, &format!("data-count=\"{key}\">"), "<")
        .parse()
        .unwrap()
}

#[test]
fn the_browser_check_sees_console_errors_and_network_requests() {
    // The checks below must be able to fail: a page that logs an error and asks the
    // network for an image is caught by both.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        r#"<!doctype html><body><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body>"#,
    )
    .unwrap();
    let rendered = render(&bad, None);
    assert!(
        rendered.console.iter().any(|l| l.contains("boom")),
        "{:?}",
        rendered.console
    );
    assert!(
        rendered.requests.iter().any(|u| u.contains("127.0.0.1:9")),
        "{:?}",
        rendered.requests
    );
}

#[test]
fn the_committed_tenants_report_renders_offline_with_the_summarys_counts() {
    let dir = tempfile::tempdir().unwrap();
    score_tenant(dir.path(), "jsonl");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let shot = dir.path().join("report.png");
    let rendered = render(&dir.path().join("report.html"), Some(&shot));
    assert!(rendered.console.is_empty(), "{:#?}", rendered.console);
    assert!(rendered.requests.is_empty(), "{:#?}", rendered.requests);
    let dom = &rendered.dom;
    assert!(
        dom.contains("<body data-ready=\"true\">"),
        "the page's script did not run"
    );
    let detections: u64 = summary["detections"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|levels| levels.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(detections > 0);
    assert_eq!(rendered_count(dom, "detections"), detections);
    for key in ["risky_signins", "risky_users", "risky_service_principals"] {
        assert_eq!(
            rendered_count(dom, key),
            summary[key].as_u64().unwrap(),
            "{key}"
        );
    }
    let totals = &summary["input"]["totals"];
    assert_eq!(
        rendered_count(dom, "kept"),
        totals["kept"].as_u64().unwrap()
    );
    assert_eq!(
        rendered_count(dom, "users_listed"),
        summary["risky_users"].as_u64().unwrap()
    );
    // The table, filled by the script, holds every detection.
    let shown = between(dom, "data-shown=\"", "\"");
    let total = between(dom, "data-total=\"", "\"");
    assert_eq!(
        (shown, total),
        (
            detections.to_string().as_str(),
            detections.to_string().as_str()
        )
    );
    assert!(
        between(dom, "id=\"table-body\">", "</tbody>")
            .matches("<tr")
            .count()
            > 0
    );
    // Each type's bar says its count.
    for (kind, levels) in summary["detections"].as_object().unwrap() {
        let n: u64 = levels
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        let drawn = between(dom, &format!("data-type-total=\"{kind}\">"), "<");
        assert_eq!(drawn, n.to_string(), "{kind}");
    }
    // The travel map draws the travel and multiple-geography detections.
    let travel: u64 = ["unlikelyTravel", "signInsFromMultipleGeographies"]
        .iter()
        .map(|k| {
            summary["detections"][k]
                .as_object()
                .map_or(0, |l| l.values().map(|n| n.as_u64().unwrap()).sum())
        })
        .sum();
    assert_eq!(rendered_count(dom, "map_detections"), travel);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn report_rebuilds_the_same_page_from_every_output_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for format in ["jsonl", "csv", "parquet"] {
        let out = dir.path().join(format);
        score_tenant(&out, format);
        // `idrisk report` on the directory writes the page `score --html` wrote.
        let again = out.join("again.html");
        idrisk(&[
            "report".as_ref(),
            out.as_os_str(),
            "--html".as_ref(),
            again.as_os_str(),
        ]);
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert_eq!(page, std::fs::read_to_string(&again).unwrap(), "{format}");
        // Apart from the run's own facts (format, seconds), the formats give one page.
        tables.push(page[page.find("<section id=\"charts\">").unwrap()..].to_string());
    }
    assert_eq!(tables[0], tables[1], "csv");
    assert_eq!(tables[0], tables[2], "parquet");
}

#[test]
fn report_of_a_directory_that_is_no_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["report".as_ref(), dir.path().as_os_str(), "--html".as_ref()])
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("summary.json") && stderr.contains("idrisk score"),
        "{stderr}"
    );
}

/// A run whose every attacker-controlled field carries markup.
fn hostile_outputs() -> Outputs {
    const SCRIPT: &str = "<script>document.title='pwned'</script>";
    const ATTRIBUTE: &str =
        "x\" onerror=\"document.title='pwned'\" y=\"<img src=x onerror=alert(1)>";
    let detection: Detection = serde_json::from_value(json!({
        "id": "d1", "requestId": "r1", "correlationId": null,
        "riskEventType": "unlikelyTravel", "riskState": "atRisk", "riskLevel": "high",
        "riskDetail": "none", "source": "idrisk", "detectionTimingType": "offline",
        "activity": "signin", "tokenIssuerType": "AzureAD", "ipAddress": ATTRIBUTE,
        "location": {"city": SCRIPT, "state": null, "countryOrRegion": ATTRIBUTE,
                     "geoCoordinates": {"latitude": 41.88, "longitude": -87.63}},
        "activityDateTime": "2025-03-11T11:54:57.332376Z",
        "detectedDateTime": "2025-03-11T11:54:57.332376Z",
        "lastUpdatedDateTime": "2025-03-11T11:54:57.332376Z",
        "userId": "u1", "userDisplayName": SCRIPT, "userPrincipalName": ATTRIBUTE,
        "additionalInfo": format!("[{{\"Key\":\"userAgent\",\"Value\":{}}}]", json!(ATTRIBUTE)),
        "report": "Sign-ins from unknown sources", "detector": "atypical_travel",
        "evidence": {"userAgent": ATTRIBUTE, "note": SCRIPT,
                     "previousLocation": {"city": SCRIPT, "countryOrRegion": "FI",
                                          "latitude": 60.17, "longitude": 24.94}}
    }))
    .unwrap();
    let user: RiskyUser = serde_json::from_value(json!({
        "id": "u1", "isDeleted": false, "isProcessing": false, "riskDetail": "none",
        "riskLastUpdatedDateTime": "2025-03-11T11:54:57.332376Z", "riskLevel": "high",
        "riskState": "atRisk", "userDisplayName": SCRIPT, "userPrincipalName": ATTRIBUTE,
        "riskEventTypes": ["unlikelyTravel"], "detectionCount": 1
    }))
    .unwrap();
    let timeline = serde_json::from_value(json!([{
        "userId": "u1", "userPrincipalName": ATTRIBUTE,
        "createdDateTime": "2025-03-11T11:54:57.332376Z", "requestId": "r1",
        "ipAddress": ATTRIBUTE, "city": SCRIPT, "countryOrRegion": "US",
        "latitude": 41.88, "longitude": -87.63, "asn": 7018,
        "appDisplayName": SCRIPT, "clientAppUsed": ATTRIBUTE, "operatingSystem": SCRIPT,
        "browser": ATTRIBUTE, "deviceId": null, "isInteractive": true,
        "outcome": "success", "failureReason": SCRIPT
    }]))
    .unwrap();
    let summary: Summary = serde_json::from_value(json!({
        "engine_version": "0.1.0", "rules_sha256": "0".repeat(64),
        "parameters": {"score_since": SCRIPT},
        "input": {"totals": {"files": 1, "read": 1, "kept": 1, "duplicates": 0,
                             "skipped": 0, "quarantined": 0, "users": 1},
                  "unreadable": [{"path": SCRIPT, "reason": ATTRIBUTE}], "warnings": [SCRIPT]},
        "detections": {"unlikelyTravel": {"high": 1}},
        "risky_signins": 1, "risky_users": 1, "risky_service_principals": 0,
        "campaigns": [{"detector": "password_spray", "source": SCRIPT, "usersTried": 3,
                       "start": ATTRIBUTE, "end": SCRIPT}],
        "run": {"seconds": 0.1, "threads": 1}
    }))
    .unwrap();
    Outputs {
        summary,
        detections: vec![detection],
        risky_users: vec![user],
        risky_service_principals: Vec::new(),
        timeline,
    }
}

#[test]
fn markup_in_names_agents_and_evidence_renders_as_text() {
    let html = page(&hostile_outputs());
    // Only the page's own two script elements, and no attribute the logs wrote.
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    assert!(
        !html.contains("onerror=\""),
        "an attribute escaped its quotes"
    );
    assert!(!html.contains("<img src=x"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.html");
    std::fs::write(&path, &html).unwrap();
    let rendered = render(&path, None);
    assert!(rendered.console.is_empty(), "{:#?}", rendered.console);
    assert!(rendered.requests.is_empty(), "{:#?}", rendered.requests);
    let dom = &rendered.dom;
    assert!(dom.contains("<title>idrisk report</title>"), "a script ran");
    assert_eq!(dom.matches("<script").count(), 2);
    assert_eq!(dom.matches("<img").count(), 0);
    // Text nodes hold no `<`, so every `<` opens a tag: none may carry an attribute the
    // logs wrote (inside a value, a quote is `&quot;`).
    for tag in dom.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap();
        assert!(!tag.contains("onerror=\""), "<{tag}>");
    }
    // The text is there, as text, in the server-drawn parts and in the script's table.
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    let table = between(dom, "id=\"table-body\">", "</tbody>");
    assert!(
        table.contains("x\" onerror=\"document.title='pwned'\" y=\"&lt;img"),
        "{table}"
    );
}
