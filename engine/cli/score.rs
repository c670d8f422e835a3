//! `idrisk score`: sign-ins in, risk detections, risky sign-ins, risky users and a summary out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};

use super::load::load_inputs;
use super::outputs::Destination;
use super::{EnrichmentArgs, InputArgs, EXIT_OK, EXIT_QUARANTINED};
use crate::detect::context::Enrichment;
use crate::enrich::sources::Sources;
use crate::report::score::{columns_read, score};
use crate::report::{
    detection_counts, write_quarantine_jsonl, write_tables, Format, Staged, Summary,
};

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Output directory (created if missing; every file written aside, then moved into place).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Events before this time build baselines only; detections are emitted for events at or
    /// after it (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    score_since: Option<String>,
    /// Format of the output tables.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Also write the run as one self-contained HTML page (see `idrisk report`).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    enrichment: EnrichmentArgs,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<i32> {
    let began = Instant::now();
    let score_since = args
        .score_since
        .as_deref()
        .map(|t| super::parse_time_flag("--score-since", t))
        .transpose()?;
    // Enrichment files (flags, else the rules' [files]) and the destination are checked
    // before any sign-in is read.
    let rules = super::load_rules(args.input.rules.as_deref())?;
    let destination = Destination::new(&args.out)?;
    let out = destination.local.clone();
    let files = args.enrichment.files(&rules);
    let span = crate::trace::span("score: enrichment files");
    let sources = Sources::open(&files)?;
    drop(span);
    let mut ingested = load_inputs(&args.input, &rules, Some(columns_read()))?;
    let enrichment = Enrichment::from_sources(&sources, &rules)?;
    let scored = score(&mut ingested, &rules, &enrichment, score_since)?;
    let span = crate::trace::span("score: write");
    let (detections, signins, users) = (
        &scored.detections,
        &scored.risky_signins,
        &scored.risky_users,
    );
    std::fs::create_dir_all(&out).with_context(|| format!("creating '{}'", out.display()))?;
    let ext = args.format.extension();
    // Every output is written under a temporary name, then all are renamed into place.
    let staged = Staged::new();
    write_tables(&scored, args.format, &out, &staged)?;
    drop(span);
    let quarantine = out.join("quarantine.jsonl");
    staged.write(&quarantine, |p| {
        write_quarantine_jsonl(&ingested.quarantine, p)
    })?;
    let parameters: BTreeMap<String, Value> = [
        ("score_since".to_string(), json!(args.score_since)),
        ("format".to_string(), json!(ext)),
        ("geoip_city".to_string(), json!(files.geoip_city)),
        ("geoip_asn".to_string(), json!(files.geoip_asn)),
        ("anonymous_ip".to_string(), json!(files.anonymous_ip)),
        ("anonymous_lists".to_string(), json!(files.anonymous_lists)),
        ("threat_intel".to_string(), json!(files.threat_intel)),
        ("infected_lists".to_string(), json!(files.infected_lists)),
        ("leaked_accounts".to_string(), json!(files.leaked_accounts)),
        (
            "detectors".to_string(),
            Value::from(scored.detectors.clone()),
        ),
    ]
    .into_iter()
    .collect();
    let span = crate::trace::span("score: summary");
    let summary = Summary {
        engine_version: env!("CARGO_PKG_VERSION").to_string(),
        rules_sha256: rules.digest(),
        parameters,
        input: json!({
            "totals": ingested.totals,
            "scored_rows": scored.scored_rows,
            "scored_interactive": scored.scored_interactive,
            "unreadable": ingested
                .files
                .iter()
                .filter(|f| f.shape == crate::ingest::Shape::Unreadable)
                .map(|f| json!({"path": f.path, "reason": f.warnings.first()}))
                .collect::<Vec<_>>(),
            "warnings": scored.warnings,
        }),
        detections: detection_counts(detections),
        risky_signins: signins.len() as u64,
        risky_users: users.len() as u64,
        risky_service_principals: scored.risky_service_principals.len() as u64,
        campaigns: scored.campaigns.clone(),
        run: json!({"seconds": began.elapsed().as_secs_f64(), "threads": rayon::current_num_threads()}),
    };
    staged.write(&out.join("summary.json"), |p| -> anyhow::Result<()> {
        std::fs::write(p, serde_json::to_vec_pretty(&summary)?)?;
        Ok(())
    })?;
    staged
        .commit()
        .with_context(|| format!("moving the outputs into '{}'", out.display()))?;
    destination.publish(&[])?;
    drop(span);
    if let Some(html) = &args.html {
        // Read back from what was written: the page of `score --html` is the page of
        // `idrisk report` on the same directory.
        let _span = crate::trace::span("score: html");
        let page = Destination::new(html)?;
        super::report::write_page(&super::report::outputs(&out)?, &page.local)?;
        page.publish(&[])?;
    }
    if !args.input.quiet {
        for warning in &scored.warnings {
            eprintln!("[!] {warning}");
        }
        eprintln!("{}", closing_table(&summary));
        if !users.is_empty() {
            eprintln!("{}", top_users(users));
        }
        let principals = &scored.risky_service_principals;
        if !principals.is_empty() {
            eprintln!("{}", service_principals(principals));
        }
        eprintln!(
            "[+] {} detections, {} risky sign-ins, {} risky users, {} risky service principals from {} sign-ins in {:.2} s → {}",
            detections.len(),
            signins.len(),
            users.len(),
            principals.len(),
            ingested.totals.kept,
            began.elapsed().as_secs_f64(),
            destination.shown()
        );
    }
    let code = if args.input.strict && ingested.totals.quarantined > 0 {
        EXIT_QUARANTINED
    } else {
        EXIT_OK
    };
    // The process ends here: handing gigabytes back to the allocator piece by piece would
    // only delay the exit.
    std::mem::forget(scored);
    std::mem::forget(ingested);
    Ok(code)
}

/// The riskiest users: highest level first, then most detections.
fn top_users(users: &[crate::report::RiskyUser]) -> Table {
    let mut ranked: Vec<&crate::report::RiskyUser> = users.iter().collect();
    ranked.sort_by(|a, b| {
        b.risk_level
            .cmp(&a.risk_level)
            .then(b.detection_count.cmp(&a.detection_count))
            .then(a.id.cmp(&b.id))
    });
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["top risky users", "level", "detections", "types"]);
    for user in ranked.into_iter().take(5) {
        table.add_row([
            user.user_principal_name
                .clone()
                .unwrap_or_else(|| user.id.clone()),
            user.risk_level.as_str().to_string(),
            user.detection_count.to_string(),
            user.risk_event_types.join(", "),
        ]);
    }
    table
}

/// The risky service principals, highest level first.
fn service_principals(principals: &[crate::report::RiskyServicePrincipal]) -> Table {
    let mut ranked: Vec<&crate::report::RiskyServicePrincipal> = principals.iter().collect();
    ranked.sort_by(|a, b| b.risk_level.cmp(&a.risk_level).then(a.id.cmp(&b.id)));
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["risky service principals", "level", "detections", "app id"]);
    for principal in ranked.into_iter().take(5) {
        table.add_row([
            principal
                .display_name
                .clone()
                .unwrap_or_else(|| principal.id.clone()),
            principal.risk_level.as_str().to_string(),
            principal.detection_count.to_string(),
            principal.app_id.clone().unwrap_or_default(),
        ]);
    }
    table
}

fn closing_table(summary: &Summary) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["riskEventType", "low", "medium", "high"]);
    for (kind, levels) in &summary.detections {
        let n = |level: &str| levels.get(level).copied().unwrap_or(0).to_string();
        table.add_row([kind.clone(), n("low"), n("medium"), n("high")]);
    }
    table
}
