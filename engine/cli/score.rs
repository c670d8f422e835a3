//! `idrisk score`: sign-ins in, risk detections, risky sign-ins, risky users and a summary out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::facts::FactsFile;
use super::load::{load_inputs, load_shard};
use super::outputs::Destination;
use super::{EnrichmentArgs, InputArgs, EXIT_OK, EXIT_QUARANTINED};
use crate::detect::context::Enrichment;
use crate::enrich::sources::Sources;
use crate::frame::shard::Shard;
use crate::ingest::{Counts, Ingested, Quarantined};
use crate::report::merge::{self, Written};
use crate::report::score::{columns_read, detector_settings, score, score_shard};
use crate::report::{write_quarantine_jsonl, write_tables, Format, Staged, Summary};

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
    /// The tenant facts `idrisk facts` wrote from the same inputs, rules and flags: with
    /// --shard, this run scores one shard's users (see `idrisk merge`).
    #[arg(long, value_name = "FILE", requires = "shard")]
    facts: Option<PathBuf>,
    /// Score the users of shard K of N (1 ≤ K ≤ N; users by a hash of their key), with --facts.
    #[arg(long, value_name = "K/N", requires = "facts")]
    shard: Option<String>,
    /// Keep memory near this size (e.g. 4GiB, 800MiB): the tenant facts first (with --facts,
    /// the file's), then the users in as many shards as it takes, one after another; outputs
    /// identical to one pass.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<i32> {
    let began = Instant::now();
    let score_since = super::score_since_flag(&args.score_since)?;
    // Enrichment files (flags, else the rules' [files]) and the destination are checked
    // before any sign-in is read.
    let rules = super::load_rules(args.input.rules.as_deref())?;
    let mode = match Mode::of(&args)? {
        // A tenant that fits under the limit is scored in one pass.
        Mode::Limited(limit) if fits(&args.input, limit)? => Mode::Whole,
        mode => mode,
    };
    let destination = Destination::new(&args.out)?;
    let out = destination.local.clone();
    let files = args.enrichment.files(&rules);
    let span = crate::trace::span("score: enrichment files");
    let sources = Sources::open(&files)?;
    drop(span);
    let enrichment = Enrichment::from_sources(&sources, &rules)?;
    let mut parameters = parameters(&args.score_since, &files, &rules)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating '{}'", out.display()))?;
    // Every output is written under a temporary name, then all are renamed into place.
    let staged = Staged::new();
    let run = match mode {
        Mode::Whole => {
            let mut ingested = load_inputs(&args.input, &rules, Some(columns_read()))?;
            let scored = score(&mut ingested, &rules, &enrichment, score_since)?;
            let input = summary_input(
                &ingested,
                scored.scored_rows,
                scored.scored_interactive,
                &scored.warnings,
            );
            let span = crate::trace::span("score: write");
            write_tables(&scored, args.format, &out, &staged)?;
            drop(span);
            let run = Run {
                input,
                totals: ingested.totals.clone(),
                quarantine: std::mem::take(&mut ingested.quarantine),
                written: Written::of(&scored),
                campaigns: scored.campaigns,
                warnings: scored.warnings,
                shards: 1,
                shard: None,
            };
            // Handing gigabytes back to the allocator piece by piece would only delay the
            // exit.
            std::mem::forget(ingested);
            run
        }
        Mode::Shard(facts, shard, limit) => {
            facts.check_same_run(&rules.digest(), &parameters)?;
            // Under a limit, the shard's users are split further: the users of shard K of N
            // are those of shards K, K + N, K + 2N, … of N × M.
            let parts = limit.map_or(1, |limit| {
                shard_count(
                    facts.totals.kept.div_ceil(u64::from(shard.count)),
                    &facts,
                    limit,
                )
            });
            let shards = (0..parts)
                .map(|j| Shard {
                    index: shard.index + shard.count * j,
                    count: shard.count * parts,
                })
                .collect();
            let (written, quarantine) = in_turn(
                &args,
                &rules,
                &enrichment,
                score_since,
                &facts,
                shards,
                (&out, &staged),
            )?;
            Run {
                input: facts.input.clone(),
                totals: facts.totals.clone(),
                quarantine,
                written,
                campaigns: facts.facts.campaigns.clone(),
                warnings: facts.facts.warnings.clone(),
                shards: shard.count,
                shard: Some(ShardMeta {
                    shard: shard.to_string(),
                    facts_sha256: facts.digest(),
                }),
            }
        }
        Mode::Limited(limit) => {
            let (facts, quarantine) = super::facts::compute(
                &args.input,
                &rules,
                &enrichment,
                score_since,
                parameters.clone(),
                Some(limit),
            )?;
            let count = match shard_count(facts.totals.kept, &facts, limit) {
                1 => 1,
                n => {
                    let window = args.input.window()?;
                    let files = crate::ingest::source::expand(
                        &args.input.inputs,
                        args.input.keep_going,
                        window,
                    )?;
                    crate::ingest::dataset::shard_count_for(n, &files)
                }
            };
            if !args.input.quiet {
                eprintln!(
                    "[+] {} sign-ins of {} users: {count} shard(s) under {}",
                    facts.totals.kept,
                    facts.facts.tenant.users,
                    crate::ingest::byte_size(limit as usize)
                );
            }
            let shards = (0..count).map(|index| Shard { index, count }).collect();
            let (written, _) = in_turn(
                &args,
                &rules,
                &enrichment,
                score_since,
                &facts,
                shards,
                (&out, &staged),
            )?;
            Run {
                input: facts.input,
                totals: facts.totals,
                quarantine,
                written,
                campaigns: facts.facts.campaigns,
                warnings: facts.facts.warnings,
                shards: count,
                shard: None,
            }
        }
    };
    let written = &run.written;
    let ext = args.format.extension();
    // A shard's name goes with its outputs, moved into place with them; a run that is no
    // shard leaves none behind from an earlier one, so merge never takes it for a shard.
    let shard_file = out.join(SHARD_FILE);
    match &run.shard {
        Some(meta) => staged.write(&shard_file, |p| -> anyhow::Result<()> {
            std::fs::write(p, serde_json::to_vec_pretty(meta)?)?;
            Ok(())
        })?,
        None if shard_file.exists() => std::fs::remove_file(&shard_file)
            .with_context(|| format!("removing '{}'", shard_file.display()))?,
        None => {}
    }
    let quarantine = out.join("quarantine.jsonl");
    staged.write(&quarantine, |p| write_quarantine_jsonl(&run.quarantine, p))?;
    parameters.insert("format".to_string(), json!(ext));
    let span = crate::trace::span("score: summary");
    let summary = Summary {
        engine_version: env!("CARGO_PKG_VERSION").to_string(),
        rules_sha256: rules.digest(),
        parameters,
        input: run.input.clone(),
        detections: written.detection_counts.clone(),
        risky_signins: written.risky_signins,
        risky_users: written.risky_users.len() as u64,
        risky_service_principals: written.risky_service_principals.len() as u64,
        campaigns: run.campaigns.clone(),
        run: json!({
            "seconds": began.elapsed().as_secs_f64(),
            "threads": rayon::current_num_threads(),
            "shards": run.shards,
        }),
    };
    finish_outputs(staged, &out, &summary, &destination)?;
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
        print_closing(&summary, &run, began, &destination.shown());
    }
    let code = if args.input.strict && run.totals.quarantined > 0 {
        EXIT_QUARANTINED
    } else {
        EXIT_OK
    };
    std::mem::forget(run);
    Ok(code)
}

/// Writes `summary.json` last into the staged outputs, moves them all into place and sends
/// them to storage when the destination is there.
pub(super) fn finish_outputs(
    staged: Staged,
    out: &std::path::Path,
    summary: &Summary,
    destination: &Destination,
) -> anyhow::Result<()> {
    staged.write(&out.join("summary.json"), |p| -> anyhow::Result<()> {
        std::fs::write(p, serde_json::to_vec_pretty(summary)?)?;
        Ok(())
    })?;
    staged
        .commit()
        .with_context(|| format!("moving the outputs into '{}'", out.display()))?;
    destination.publish(&[])
}

/// The closing lines on stderr: warnings, the counts per type and level, the riskiest users
/// and principals, one line of totals.
fn print_closing(summary: &Summary, run: &Run, began: Instant, shown: &str) {
    for warning in &run.warnings {
        eprintln!("[!] {warning}");
    }
    eprintln!("{}", closing_table(summary));
    let written = &run.written;
    let users = &written.risky_users;
    if !users.is_empty() {
        eprintln!("{}", top_users(users));
    }
    let principals = &written.risky_service_principals;
    if !principals.is_empty() {
        eprintln!("{}", service_principals(principals));
    }
    let shards = match run.shards {
        1 => String::new(),
        n => format!(" in {n} shards"),
    };
    eprintln!(
        "[+] {} detections, {} risky sign-ins, {} risky users, {} risky service principals from {} sign-ins{shards} in {:.2} s → {shown}",
        written.detections,
        written.risky_signins,
        users.len(),
        principals.len(),
        run.totals.kept,
        began.elapsed().as_secs_f64(),
    );
}

/// What a run found and wrote, with what the summary says of its input.
struct Run {
    written: Written,
    /// Unsuccessful campaigns and other findings that are no detection (summary.json).
    campaigns: Vec<Value>,
    /// Problems with the enrichment data that did not stop the run.
    warnings: Vec<String>,
    /// The summary's `input` section.
    input: Value,
    totals: Counts,
    quarantine: Vec<Quarantined>,
    shards: u32,
    /// A shard's run: which shard, of which facts (`shard.json`, for `idrisk merge`).
    shard: Option<ShardMeta>,
}

/// How a score run covers the tenant.
enum Mode {
    /// In one pass.
    Whole,
    /// One shard's users, with the tenant facts of a facts file; under a memory limit
    /// (bytes), in as many parts as it takes.
    Shard(Box<FactsFile>, Shard, Option<u64>),
    /// Under a memory limit (bytes): the facts, then as many shards as it takes, one after
    /// another.
    Limited(u64),
}

impl Mode {
    fn of(args: &ScoreArgs) -> anyhow::Result<Mode> {
        let limit = args
            .memory_limit
            .as_deref()
            .map(|limit| {
                parse_size(limit).map_err(|e| {
                    anyhow::anyhow!("invalid value '{limit}' for '--memory-limit': {e}")
                })
            })
            .transpose()?;
        if let (Some(facts), Some(shard)) = (&args.facts, &args.shard) {
            let shard = Shard::parse(shard).map_err(|e| anyhow::anyhow!("--shard: {e}"))?;
            return Ok(Mode::Shard(Box::new(FactsFile::read(facts)?), shard, limit));
        }
        Ok(limit.map_or(Mode::Whole, Mode::Limited))
    }
}

/// The file a shard's output directory names its shard and facts in, for `idrisk merge`.
pub const SHARD_FILE: &str = "shard.json";

/// `shard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// `K/N`.
    pub shard: String,
    /// The facts file's digest ([`FactsFile::digest`]).
    pub facts_sha256: String,
}

/// Memory a scoring pass takes per sign-in, measured on canonical Parquet with every
/// detector, with a margin: what `--memory-limit` divides the tenant by. A month costs
/// about 205 bytes a sign-in (2.25 GB for 10.98 M); a year's users, with long histories,
/// about 320 over the run's floor (313 in 1.5 M-sign-in shards of 2,500 users × 365 days;
/// 317 in 7 M-sign-in shards of 40,000 × 365, 2.75 GB after a shard's report over a
/// 520 MB floor).
const BYTES_PER_SIGN_IN: u64 = 400;

/// True when the inputs' sign-ins (as estimated before reading) fit under `limit` bytes in
/// one pass.
fn fits(input: &InputArgs, limit: u64) -> anyhow::Result<bool> {
    let files = crate::ingest::source::expand(&input.inputs, input.keep_going, input.window()?)?;
    Ok(crate::ingest::source::estimated_rows(&files) * BYTES_PER_SIGN_IN <= limit)
}

/// Shards that keep `rows` sign-ins under `limit` bytes, at most one per user.
fn shard_count(rows: u64, facts: &FactsFile, limit: u64) -> u32 {
    let users = facts.facts.tenant.users.max(1) as u64;
    (rows * BYTES_PER_SIGN_IN)
        .div_ceil(limit.max(1))
        .clamp(1, users.min(u64::from(u32::MAX))) as u32
}

/// Scores `shards` one after another with the tenant `facts`, each read, scored, spilled
/// beside the outputs and let go before the next, then merges their tables into `staged`
/// as `idrisk merge` does, a row per shard at a time: what a run holds is one shard, never
/// the run's detections. Also hands back the first load's quarantine (every load
/// quarantines the same records).
fn in_turn(
    args: &ScoreArgs,
    rules: &crate::rules::Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
    facts: &FactsFile,
    shards: Vec<Shard>,
    (out, staged): (&std::path::Path, &Staged),
) -> anyhow::Result<(Written, Vec<Quarantined>)> {
    let tenant = Arc::new(facts.facts.tenant.clone());
    let mut spill = merge::Spill::new(out)
        .with_context(|| format!("making room for the shards' tables in '{}'", out.display()))?;
    let mut quarantine = None;
    for shard in shards {
        let mut ingested = load_shard(&args.input, rules, Some(columns_read()), &[], shard)?;
        let scored = score_shard(
            &mut ingested,
            rules,
            enrichment,
            score_since,
            Some((tenant.clone(), shard)),
        )?;
        quarantine.get_or_insert(std::mem::take(&mut ingested.quarantine));
        drop(ingested);
        let span = crate::trace::span("score: spill shard");
        spill.add(&scored)?;
        drop(scored);
        drop(span);
        crate::ingest::release_freed_memory();
    }
    let _span = crate::trace::span("score: merge shards");
    let written = spill.merge(args.format, out, staged)?;
    Ok((written, quarantine.unwrap_or_default()))
}

/// A size: bytes, or a number with KiB/MiB/GiB/TiB (or KB/MB/GB/TB, also powers of 1024;
/// K/M/G/T alone too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "write a size such as 4GiB, 800MiB or 1500000000".to_string())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit '{other}': use KiB, MiB, GiB or TiB")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes.is_finite()) {
        return Err("the size must be at least one byte".to_string());
    }
    Ok(bytes as u64)
}

/// The summary's parameters but the output format: what the shards of a run must share
/// with its facts.
pub fn parameters(
    score_since: &Option<String>,
    files: &crate::rules::FilesConfig,
    rules: &crate::rules::Rules,
) -> anyhow::Result<BTreeMap<String, Value>> {
    Ok([
        ("score_since".to_string(), json!(score_since)),
        ("geoip_city".to_string(), json!(files.geoip_city)),
        ("geoip_asn".to_string(), json!(files.geoip_asn)),
        ("anonymous_ip".to_string(), json!(files.anonymous_ip)),
        ("anonymous_lists".to_string(), json!(files.anonymous_lists)),
        ("threat_intel".to_string(), json!(files.threat_intel)),
        ("infected_lists".to_string(), json!(files.infected_lists)),
        ("leaked_accounts".to_string(), json!(files.leaked_accounts)),
        (
            "detectors".to_string(),
            Value::from(detector_settings(rules)?),
        ),
    ]
    .into_iter()
    .collect())
}

/// The summary's `input` section: what was read, what was scored, what was unreadable.
pub fn summary_input(
    ingested: &Ingested,
    scored_rows: usize,
    scored_interactive: usize,
    warnings: &[String],
) -> Value {
    input_section(
        &ingested.totals,
        unreadable(&ingested.files),
        scored_rows,
        scored_interactive,
        warnings,
    )
}

/// The summary's `input` section from its parts.
pub fn input_section(
    totals: &Counts,
    unreadable: Vec<Value>,
    scored_rows: usize,
    scored_interactive: usize,
    warnings: &[String],
) -> Value {
    json!({
        "totals": totals,
        "scored_rows": scored_rows,
        "scored_interactive": scored_interactive,
        "unreadable": unreadable,
        "warnings": warnings,
    })
}

/// The inputs that could not be read, with why.
pub fn unreadable(files: &[crate::ingest::FileReport]) -> Vec<Value> {
    files
        .iter()
        .filter(|f| f.shape == crate::ingest::Shape::Unreadable)
        .map(|f| json!({"path": f.path, "reason": f.warnings.first()}))
        .collect()
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
