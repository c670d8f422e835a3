//! `idrisk report --html`: one self-contained page an analyst can open offline and hand on.
//!
//! Charts, the map and the users' timelines are SVG drawn here: a few bar series, points and
//! arcs on an equirectangular map need no charting library, and drawn server-side they show
//! without script. The one script (`assets/report.js`, written for this page) makes the
//! detections table sortable and filterable, a screenful of rows at a time. Everything from
//! the logs is attacker-controlled text: markup is escaped with [`escape`], the table's data
//! sits in a JSON block with `<`, `>` and `&` escaped and goes into the page as text only, and
//! a Content-Security-Policy forbids any request and any script but the page's own (by hash).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::timeline::TimelineSignIn;
use super::{Detection, RiskyServicePrincipal, RiskyUser, Summary};

const SCRIPT: &str = include_str!("assets/report.js");
const STYLE: &str = include_str!("assets/report.css");
/// Natural Earth country outlines (public domain) by way of world-atlas; see assets/LICENSES.md.
const BASEMAP: &str = include_str!("assets/world-110m.path");
/// Users shown with their timelines and evidence; every risky user is in the list below them.
pub const DETAILED_USERS: usize = 200;
/// Detections shown with their evidence (and marked on the timeline) per user, in time
/// order; the rest of a user's are in the detections table.
pub const DETAILED_DETECTIONS: usize = 50;
/// Sign-ins shown on a user's timeline (the first, in time order); all are in timeline.jsonl.
pub const DETAILED_SIGN_INS: usize = 400;
/// Evidence in the detections table is cut to this many characters (whole in
/// detections.jsonl): a hundred thousand rows stay a page a browser opens.
const TABLE_EVIDENCE_CHARS: usize = 240;

/// What the page is made of: a `score` run's outputs.
pub struct Outputs {
    pub summary: Summary,
    pub detections: Vec<Detection>,
    pub risky_users: Vec<RiskyUser>,
    pub risky_service_principals: Vec<RiskyServicePrincipal>,
    pub timeline: Vec<TimelineSignIn>,
}

/// Escapes text for HTML (and SVG) element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside a `<script>` element: no `</script>`, no comment opener, and
/// nothing a browser reads as a line break inside a string.
fn script_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `text` cut to at most `chars` characters, an ellipsis marking the cut.
fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// An RFC 3339 time as the page shows it: to the second, with a space for the `T`.
fn shown_time(time: &str) -> String {
    time.get(..19).unwrap_or(time).replacen('T', " ", 1)
}

fn level_colour(level: &str) -> &'static str {
    match level {
        "high" => "#c0182f",
        "medium" => "#e07000",
        _ => "#e0b000",
    }
}

fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        "success" | "credentialValid" => "#2e8540",
        "credentialFailure" => "#c0182f",
        "otherFailure" => "#8a6d00",
        _ => "#8894a0",
    }
}

const LEVELS: [&str; 3] = ["low", "medium", "high"];

/// The page.
pub fn page(outputs: &Outputs) -> String {
    let mut body = String::new();
    header(&mut body, outputs);
    charts(&mut body, outputs);
    map(&mut body, outputs);
    campaigns(&mut body, outputs);
    users(&mut body, outputs);
    principals(&mut body, outputs);
    detections_table(&mut body, outputs);
    let hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src 'sha256-{hash}'; style-src 'unsafe-inline'; img-src data:; \
         form-action 'none'; base-uri 'none'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>idrisk report</title><style>{STYLE}</style></head>\n<body>\n{body}\
         <script>{SCRIPT}</script>\n</body></html>\n"
    )
}

fn count(out: &mut String, key: &str, n: u64, label: &str) {
    let _ = write!(
        out,
        r#"<div class="card"><span class="n" data-count="{key}">{n}</span>{label}</div>"#
    );
}

fn header(out: &mut String, o: &Outputs) {
    let s = &o.summary;
    let totals = &s.input["totals"];
    let total = |k: &str| totals[k].as_u64().unwrap_or(0);
    let detections: u64 = s.detections.values().flat_map(|l| l.values()).sum();
    let _ = write!(
        out,
        r#"<header><h1>idrisk report</h1><div class="meta">engine {} · rules sha256 <span class="mono">{}</span> · scored in {:.2} s on {} threads</div></header>"#,
        escape(&s.engine_version),
        escape(&s.rules_sha256),
        s.run["seconds"].as_f64().unwrap_or(0.0),
        s.run["threads"].as_u64().unwrap_or(0),
    );
    out.push_str(r#"<section id="summary"><div class="cards">"#);
    count(out, "detections", detections, "detections");
    count(out, "risky_signins", s.risky_signins, "risky sign-ins");
    count(out, "risky_users", s.risky_users, "risky users");
    count(
        out,
        "risky_service_principals",
        s.risky_service_principals,
        "risky service principals",
    );
    count(out, "kept", total("kept"), "sign-ins scored");
    count(out, "quarantined", total("quarantined"), "quarantined");
    const TOTALS: [&str; 7] = [
        "files",
        "read",
        "kept",
        "duplicates",
        "skipped",
        "quarantined",
        "users",
    ];
    out.push_str("</div><table class=\"plain\"><tr>");
    for k in TOTALS {
        let _ = write!(out, r#"<th class="num">{k}</th>"#);
    }
    out.push_str("</tr><tr>");
    for k in TOTALS {
        let _ = write!(out, r#"<td class="num" data-input="{k}">{}</td>"#, total(k));
    }
    out.push_str("</tr></table><table class=\"plain\" style=\"margin-top:8px\">");
    let mut setting = |name: &str, value: &Value| {
        let text = match value {
            Value::Null => return,
            Value::String(s) => s.clone(),
            Value::Array(items) if items.is_empty() => return,
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        let _ = write!(
            out,
            r#"<tr><th>{}</th><td class="mono">{}</td></tr>"#,
            escape(name),
            escape(&text)
        );
    };
    for (name, value) in &s.parameters {
        if name != "detectors" {
            setting(name, value);
        }
    }
    for unreadable in s.input["unreadable"].as_array().into_iter().flatten() {
        setting("unreadable input", &Value::from(unreadable.to_string()));
    }
    for warning in s.input["warnings"].as_array().into_iter().flatten() {
        setting("warning", warning);
    }
    out.push_str("</table></section>\n");
}

/// A legend of the three levels.
fn legend() -> String {
    LEVELS
        .iter()
        .map(|l| format!(r#"<span class="swatch {l}"></span>{l}"#))
        .collect()
}

fn charts(out: &mut String, o: &Outputs) {
    out.push_str(r#"<section id="charts"><h2>Detections</h2><div class="charts">"#);
    // Per type and level: one stacked horizontal bar a type.
    let types = &o.summary.detections;
    let widest = types
        .values()
        .map(|l| l.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, left, bar) = (560.0, 230.0, 22.0);
    let h = types.len() as f64 * bar + 24.0;
    let _ = write!(
        out,
        r#"<figure><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="detections per type and level">"#
    );
    for (k, (kind, levels)) in types.iter().enumerate() {
        let y = k as f64 * bar + 4.0;
        let total: u64 = levels.values().sum();
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>"##,
            left - 8.0,
            y + 14.0,
            escape(kind)
        );
        let mut x = left;
        for level in LEVELS {
            let n = levels.get(level).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let width = n as f64 / widest as f64 * (w - left - 50.0);
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{}" fill="{}"><title>{} {level}: {n}</title></rect>"#,
                bar - 6.0,
                level_colour(level),
                escape(kind)
            );
            x += width;
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" font-size="12" data-type-total="{}">{total}</text>"#,
            x + 4.0,
            y + 14.0,
            escape(kind)
        );
    }
    let _ = write!(
        out,
        "</svg><figcaption class=\"note\">per type and level {}</figcaption></figure>",
        legend()
    );
    // Per day: stacked columns by level.
    let mut days: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    for d in &o.detections {
        let day = d.activity_date_time.get(..10).unwrap_or("unknown");
        let slot = LEVELS
            .iter()
            .position(|l| *l == d.risk_level.as_str())
            .unwrap_or(0);
        days.entry(day).or_default()[slot] += 1;
    }
    let tallest = days
        .values()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, bottom, left) = (560.0, 220.0, 40.0, 40.0);
    let step = (w - left - 10.0) / days.len().max(1) as f64;
    let _ = write!(
        out,
        r##"<figure><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="detections per day"><line x1="{left}" y1="{b}" x2="{w}" y2="{b}" stroke="#999"/><text x="{}" y="16" font-size="11" text-anchor="end">{tallest}</text>"##,
        left - 6.0,
        b = h - bottom,
    );
    let label_every = (days.len() / 8).max(1);
    for (k, (day, counts)) in days.iter().enumerate() {
        let x = left + k as f64 * step;
        let mut y = h - bottom;
        for (slot, level) in LEVELS.iter().enumerate() {
            let n = counts[slot];
            if n == 0 {
                continue;
            }
            let height = n as f64 / tallest as f64 * (h - bottom - 20.0);
            y -= height;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{height:.1}" fill="{}"><title>{} {level}: {n}</title></rect>"#,
                x + 1.0,
                (step - 2.0).max(1.0),
                level_colour(level),
                escape(day)
            );
        }
        if k % label_every == 0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
                x + step / 2.0,
                h - bottom + 14.0,
                escape(day.get(5..).unwrap_or(day))
            );
        }
    }
    let _ = writeln!(
        out,
        "</svg><figcaption class=\"note\">per day (UTC) {}</figcaption></figure></div></section>",
        legend()
    );
}

/// A place from a JSON object with latitude and longitude (flat or under geoCoordinates).
fn place_of(value: &Value) -> Option<(f64, f64)> {
    let coordinates = value.get("geoCoordinates").unwrap_or(value);
    let lat = coordinates.get("latitude")?.as_f64()?;
    let lon = coordinates.get("longitude")?.as_f64()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

fn place_label(value: &Value) -> String {
    [value.get("city"), value.get("countryOrRegion")]
        .iter()
        .filter_map(|v| v.and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

fn map(out: &mut String, o: &Outputs) {
    let by_request: HashMap<&str, &TimelineSignIn> = o
        .timeline
        .iter()
        .filter_map(|s| Some((s.request_id.as_deref()?, s)))
        .collect();
    let mut arcs = String::new();
    let mut shown = 0;
    for d in &o.detections {
        let here = d.location.as_ref().and_then(|l| {
            let value = serde_json::to_value(l).ok()?;
            Some((place_of(&value)?, place_label(&value)))
        });
        let there = match d.risk_event_type.as_str() {
            "unlikelyTravel" => d
                .evidence
                .get("previousLocation")
                .and_then(|p| Some((place_of(p)?, place_label(p)))),
            "signInsFromMultipleGeographies" => d.evidence["otherRequestId"]
                .as_str()
                .and_then(|id| by_request.get(id))
                .and_then(|s| {
                    let place = (s.latitude?, s.longitude?);
                    let label = [s.city.as_deref(), s.country_or_region.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", ");
                    Some((place, label))
                }),
            _ => continue,
        };
        let Some(((lat1, lon1), label1)) = here else {
            continue;
        };
        shown += 1;
        let who = d.user_principal_name.as_deref().unwrap_or("");
        let point = |lat: f64, lon: f64| (lon + 180.0, 90.0 - lat);
        let (x1, y1) = point(lat1, lon1);
        let colour = level_colour(d.risk_level.as_str());
        if let Some(((lat0, lon0), label0)) = &there {
            let (x0, y0) = point(*lat0, *lon0);
            // A curve bowed to one side, so two arcs between the same places stay apart.
            let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
            let (dx, dy) = (x1 - x0, y1 - y0);
            let (cx, cy) = (mx - dy * 0.2, my + dx * 0.2);
            let _ = write!(
                arcs,
                r##"<path d="M{x0:.2} {y0:.2}Q{cx:.2} {cy:.2} {x1:.2} {y1:.2}" fill="none" stroke="{colour}" stroke-width="0.5" stroke-opacity="0.8"><title>{}: {} → {} ({})</title></path><circle cx="{x0:.2}" cy="{y0:.2}" r="0.9" fill="#39536b"><title>{}</title></circle>"##,
                escape(&d.risk_event_type),
                escape(label0),
                escape(&label1),
                escape(who),
                escape(label0),
            );
        }
        let _ = write!(
            arcs,
            r#"<circle cx="{x1:.2}" cy="{y1:.2}" r="1.1" fill="{colour}"><title>{}: {} ({})</title></circle>"#,
            escape(&d.risk_event_type),
            escape(&label1),
            escape(who),
        );
    }
    let _ = writeln!(
        out,
        r##"<section id="map"><h2>Travel and multiple geographies</h2><svg viewBox="0 8 360 150" width="100%" role="img" aria-label="map of travel detections" style="background:#eef4f8"><path d="{BASEMAP}" fill="#d5dbe1" stroke="#ffffff" stroke-width="0.15"/>{arcs}</svg><div class="note"><span data-count="map_detections">{shown}</span> detections drawn; an arc joins the two places of each (earlier place in blue). Basemap: Natural Earth.</div></section>"##,
        BASEMAP = BASEMAP.trim()
    );
}

fn campaigns(out: &mut String, o: &Outputs) {
    // Campaigns that got in, from their detections; those that did not, from the summary.
    let mut found: BTreeMap<(String, String), (String, BTreeSet<String>, u64)> = BTreeMap::new();
    for d in o
        .detections
        .iter()
        .filter(|d| d.risk_event_type == "passwordSpray")
    {
        let text = |k: &str| d.evidence[k].as_str().unwrap_or("").to_string();
        let entry = found
            .entry((text("source"), text("campaignStart")))
            .or_insert_with(|| (text("campaignEnd"), BTreeSet::new(), 0));
        entry.2 = entry.2.max(d.evidence["usersTried"].as_u64().unwrap_or(0));
        entry.1.insert(
            d.user_principal_name
                .clone()
                .or_else(|| d.user_id.clone())
                .unwrap_or_default(),
        );
    }
    let unsuccessful: Vec<&Value> = o
        .summary
        .campaigns
        .iter()
        .filter(|c| c["detector"] == "password_spray")
        .collect();
    out.push_str(r#"<section id="campaigns"><h2>Password-spray campaigns</h2>"#);
    if found.is_empty() && unsuccessful.is_empty() {
        out.push_str(r#"<p class="note">No campaign in this run.</p></section>"#);
        return;
    }
    out.push_str(r#"<table class="plain"><tr><th>source</th><th>start</th><th>end</th><th class="num">users tried</th><th>accounts it got into</th></tr>"#);
    for ((source, start), (end, targets, tried)) in &found {
        let _ = write!(
            out,
            r#"<tr data-campaign="compromised"><td class="mono">{}</td><td>{}</td><td>{}</td><td class="num">{tried}</td><td>{}</td></tr>"#,
            escape(source),
            escape(start),
            escape(end),
            targets
                .iter()
                .map(|t| escape(t))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    for c in unsuccessful {
        let text = |k: &str| escape(c[k].as_str().unwrap_or(""));
        let _ = write!(
            out,
            r#"<tr data-campaign="unsuccessful"><td class="mono">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="note">none</td></tr>"#,
            text("source"),
            text("start"),
            text("end"),
            c["usersTried"].as_u64().unwrap_or(0)
        );
    }
    out.push_str("</table></section>\n");
}

fn badge(level: &str) -> String {
    format!(
        r#"<span class="badge" style="background:{}">{}</span>"#,
        level_colour(level),
        escape(level)
    )
}

fn users(out: &mut String, o: &Outputs) {
    let mut ranked: Vec<&RiskyUser> = o.risky_users.iter().collect();
    ranked.sort_by(|a, b| {
        b.risk_level
            .cmp(&a.risk_level)
            .then(b.detection_count.cmp(&a.detection_count))
            .then(a.id.cmp(&b.id))
    });
    let mut detections: HashMap<&str, Vec<&Detection>> = HashMap::new();
    for d in &o.detections {
        if let Some(key) = d.user_key() {
            detections.entry(key).or_default().push(d);
        }
    }
    for mine in detections.values_mut() {
        mine.sort_by(|a, b| {
            (a.activity_date_time.as_str(), a.id.as_str())
                .cmp(&(b.activity_date_time.as_str(), b.id.as_str()))
        });
    }
    let mut sign_ins: HashMap<&str, Vec<&TimelineSignIn>> = HashMap::new();
    for s in &o.timeline {
        if let Some(key) = s.user_id.as_deref().or(s.user_principal_name.as_deref()) {
            sign_ins.entry(key).or_default().push(s);
        }
    }
    let _ = write!(
        out,
        r#"<section id="users"><h2>Risky users</h2><p class="note">The {} riskiest of <span data-count="users_listed">{}</span>, each with their sign-ins within a day of each detection (at most a dozen either side) and the evidence of every detection; detected sign-ins are shaded.</p>"#,
        DETAILED_USERS.min(ranked.len()),
        ranked.len()
    );
    for (rank, user) in ranked.iter().take(DETAILED_USERS).enumerate() {
        let name = user.user_principal_name.as_deref().unwrap_or(&user.id);
        let mine = detections.get(user.id.as_str()).map_or(&[][..], |v| v);
        let all_rows = sign_ins.get(user.id.as_str()).map_or(&[][..], |v| v);
        let rows = &all_rows[..all_rows.len().min(DETAILED_SIGN_INS)];
        let _ = write!(
            out,
            r#"<details class="user" data-user="{}"{}><summary>{} <b>{}</b> {} · {} detections: {}</summary>"#,
            escape(&user.id),
            // The riskiest user is open: the page shows what a timeline looks like.
            if rank == 0 { " open" } else { "" },
            badge(user.risk_level.as_str()),
            escape(name),
            escape(user.user_display_name.as_deref().unwrap_or("")),
            user.detection_count,
            escape(&user.risk_event_types.join(", "))
        );
        let shown = &mine[..mine.len().min(DETAILED_DETECTIONS)];
        timeline_svg(out, rows, shown);
        let detected: HashMap<&str, Vec<&str>> = mine.iter().fold(HashMap::new(), |mut m, d| {
            if let Some(r) = d.request_id.as_deref() {
                m.entry(r).or_default().push(&d.risk_event_type);
            }
            m
        });
        out.push_str(r#"<table class="plain"><tr><th class="nowrap">time (UTC)</th><th>place</th><th>IP · ASN</th><th>app · client</th><th>device</th><th>outcome</th><th>detections</th></tr>"#);
        for s in rows {
            let hits = s
                .request_id
                .as_deref()
                .and_then(|r| detected.get(r))
                .map(|t| t.join(", "))
                .unwrap_or_default();
            let place = [s.city.as_deref(), s.country_or_region.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let device = [s.operating_system.as_deref(), s.browser.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            let _ = write!(
                out,
                r#"<tr{}><td>{}</td><td>{}</td><td class="mono">{}{}</td><td>{}{}</td><td>{}</td><td style="color:{}">{}{}</td><td>{}</td></tr>"#,
                if hits.is_empty() {
                    ""
                } else {
                    r#" class="detected""#
                },
                escape(&shown_time(&s.created_date_time)),
                escape(&place),
                escape(s.ip_address.as_deref().unwrap_or("")),
                s.asn.map(|a| format!(" · AS{a}")).unwrap_or_default(),
                escape(s.app_display_name.as_deref().unwrap_or("")),
                s.client_app_used
                    .as_deref()
                    .map(|c| format!(" · {}", escape(c)))
                    .unwrap_or_default(),
                escape(&device),
                outcome_colour(&s.outcome),
                escape(&s.outcome),
                s.failure_reason
                    .as_deref()
                    .map(|r| format!(": {}", escape(r)))
                    .unwrap_or_default(),
                escape(&hits)
            );
        }
        out.push_str("</table>");
        for d in shown {
            let evidence = serde_json::to_string_pretty(&d.evidence).unwrap_or_default();
            let _ = write!(
                out,
                r#"<h3>{} {} · {}</h3><pre class="evidence">{}</pre>"#,
                badge(d.risk_level.as_str()),
                escape(&d.risk_event_type),
                escape(&d.activity_date_time),
                escape(&evidence)
            );
        }
        if all_rows.len() > rows.len() {
            let _ = write!(
                out,
                r#"<p class="note">The first {} of {} sign-ins are shown; timeline.jsonl has them all.</p>"#,
                rows.len(),
                all_rows.len()
            );
        }
        if mine.len() > shown.len() {
            let _ = write!(
                out,
                r#"<p class="note">and {} more detections of this user in the table below.</p>"#,
                mine.len() - shown.len()
            );
        }
        out.push_str("</details>\n");
    }
    if ranked.len() > DETAILED_USERS {
        out.push_str(r#"<h3>The others</h3><table class="plain"><tr><th>user</th><th>level</th><th class="num">detections</th><th>types</th></tr>"#);
        for user in &ranked[DETAILED_USERS..] {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                escape(user.user_principal_name.as_deref().unwrap_or(&user.id)),
                escape(user.risk_level.as_str()),
                user.detection_count,
                escape(&user.risk_event_types.join(", "))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>\n");
}

/// A user's sign-ins on a time line (colour: outcome), with their detections marked above.
fn timeline_svg(out: &mut String, rows: &[&TimelineSignIn], detections: &[&Detection]) {
    let time = |t: &str| crate::ingest::values::parse_time(t).ok();
    let times: Vec<i64> = rows
        .iter()
        .filter_map(|s| time(&s.created_date_time))
        .chain(
            detections
                .iter()
                .filter_map(|d| time(&d.activity_date_time)),
        )
        .collect();
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return;
    };
    let (w, h, pad) = (1100.0, 60.0, 12.0);
    let span = (last - first).max(1) as f64;
    let x = |t: i64| pad + (t - first) as f64 / span * (w - 2.0 * pad);
    let _ = write!(
        out,
        r##"<svg width="100%" viewBox="0 0 {w} {h}" role="img" aria-label="sign-ins over time"><line x1="{pad}" y1="40" x2="{}" y2="40" stroke="#bbb"/><text x="{pad}" y="58" font-size="10">{}</text><text x="{}" y="58" font-size="10" text-anchor="end">{}</text>"##,
        w - pad,
        escape(&crate::ingest::values::format_time(first)),
        w - pad,
        escape(&crate::ingest::values::format_time(last)),
    );
    for s in rows {
        let Some(t) = time(&s.created_date_time) else {
            continue;
        };
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="40" r="4" fill="{}" fill-opacity="0.75"><title>{} · {} · {}</title></circle>"#,
            x(t),
            outcome_colour(&s.outcome),
            escape(&s.created_date_time),
            escape(s.ip_address.as_deref().unwrap_or("")),
            escape(&s.outcome)
        );
    }
    for d in detections {
        let Some(t) = time(&d.activity_date_time) else {
            continue;
        };
        let cx = x(t);
        let _ = write!(
            out,
            r#"<path d="M{:.1} 10L{:.1} 24L{:.1} 10Z" fill="{}"><title>{} · {}</title></path>"#,
            cx - 6.0,
            cx,
            cx + 6.0,
            level_colour(d.risk_level.as_str()),
            escape(&d.risk_event_type),
            escape(&d.activity_date_time)
        );
    }
    out.push_str("</svg>");
}

fn principals(out: &mut String, o: &Outputs) {
    if o.risky_service_principals.is_empty() {
        return;
    }
    out.push_str(r#"<section id="principals"><h2>Risky service principals</h2><table class="plain"><tr><th>name</th><th>app id</th><th>level</th><th class="num">detections</th><th>types</th></tr>"#);
    for p in &o.risky_service_principals {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="mono">{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            escape(p.display_name.as_deref().unwrap_or(&p.id)),
            escape(p.app_id.as_deref().unwrap_or("")),
            badge(p.risk_level.as_str()),
            p.detection_count,
            escape(&p.risk_event_types.join(", "))
        );
    }
    out.push_str("</table></section>\n");
}

fn detections_table(out: &mut String, o: &Outputs) {
    let rows: Vec<Value> = o
        .detections
        .iter()
        .map(|d| {
            let place = d
                .location
                .as_ref()
                .map(|l| {
                    [l.city.as_deref(), l.country_or_region.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Value::from(vec![
                Value::from(d.activity_date_time.clone()),
                Value::from(d.risk_event_type.clone()),
                Value::from(d.risk_level.as_str()),
                Value::from(d.user_principal_name.clone().or(d.user_id.clone())),
                Value::from(d.ip_address.clone()),
                Value::from(place),
                Value::from(cut(&d.evidence.to_string(), TABLE_EVIDENCE_CHARS)),
            ])
        })
        .collect();
    let data = serde_json::json!({
        "columns": ["time (UTC)", "type", "level", "user", "IP", "place", "evidence"],
        "rows": rows,
    });
    let colgroup = r#"<colgroup><col class="c-time"><col class="c-type"><col class="c-level"><col class="c-user"><col class="c-ip"><col class="c-place"><col></colgroup>"#;
    let _ = writeln!(
        out,
        r#"<section id="detections"><h2>All detections</h2><div class="controls"><input id="table-filter" type="search" placeholder="filter: user, IP, place, evidence…" aria-label="filter detections"><select id="table-type" aria-label="type"><option value="">every type</option></select><select id="table-level" aria-label="level"><option value="">every level</option></select><span id="table-count" class="note">{} detections (the table needs script)</span></div><table class="grid">{colgroup}<thead><tr id="table-head"></tr></thead></table><div id="table-scroller"><div id="table-spacer"></div><table class="grid" id="table-rows">{colgroup}<tbody id="table-body"></tbody></table></div><script type="application/json" id="detections-data">{}</script></section>"#,
        o.detections.len(),
        script_json(&data)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn json_in_a_script_block_cannot_close_it() {
        let value = serde_json::json!(["</script><script>alert(1)</script>", "a\u{2028}b", "<!--"]);
        let text = script_json(&value);
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
