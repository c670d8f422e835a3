//! `idrisk merge`: the output directories of every shard of a run (`score --facts --shard
//! K/N`) into the one run's outputs, identical to a run over the whole tenant.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use serde_json::json;

use super::outputs::Destination;
use super::score::{ShardMeta, SHARD_FILE};
use super::EXIT_OK;
use crate::report::merge;
use crate::report::{Format, Staged, Summary};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Every shard's output directory (any order).
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Output directory of the merged run.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the merged run as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// No status line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// One shard's output directory, read.
struct Part {
    dir: PathBuf,
    index: u32,
    count: u32,
    facts: String,
    summary: Summary,
}

impl Part {
    fn read(dir: PathBuf) -> anyhow::Result<Part> {
        let meta_path = dir.join(SHARD_FILE);
        let meta: ShardMeta =
            serde_json::from_slice(&std::fs::read(&meta_path).with_context(|| {
                format!("'{}' is no shard's output (no {SHARD_FILE})", dir.display())
            })?)
            .with_context(|| format!("reading '{}'", meta_path.display()))?;
        let shard = crate::frame::shard::Shard::parse(&meta.shard)
            .map_err(|e| anyhow!("'{}': {e}", meta_path.display()))?;
        let summary_path = dir.join("summary.json");
        let summary: Summary = serde_json::from_slice(
            &std::fs::read(&summary_path)
                .with_context(|| format!("reading '{}'", summary_path.display()))?,
        )
        .with_context(|| format!("reading '{}'", summary_path.display()))?;
        Ok(Part {
            dir,
            index: shard.index,
            count: shard.count,
            facts: meta.facts_sha256,
            summary,
        })
    }
}

/// Checks that the parts are every shard of one run, once each; returns them in shard order.
fn one_run(mut parts: Vec<Part>) -> anyhow::Result<Vec<Part>> {
    parts.sort_by_key(|p| p.index);
    let first = parts.first().ok_or_else(|| anyhow!("no shard given"))?;
    let count = first.count;
    for part in &parts {
        let name = part.dir.display();
        if part.count != count {
            bail!(
                "'{name}' is a shard of {} and another is of {count}: not one run",
                part.count
            );
        }
        if part.facts != first.facts {
            bail!(
                "'{name}' was scored with other tenant facts than '{}'",
                first.dir.display()
            );
        }
        if part.summary.rules_sha256 != first.summary.rules_sha256
            || part.summary.parameters != first.summary.parameters
        {
            bail!(
                "'{name}' was scored with other rules or flags than '{}'",
                first.dir.display()
            );
        }
    }
    if let Some(twice) = parts.windows(2).find(|w| w[0].index == w[1].index) {
        bail!(
            "shard {}/{count} was given twice ('{}' and '{}')",
            twice[0].index + 1,
            twice[0].dir.display(),
            twice[1].dir.display()
        );
    }
    let missing: Vec<String> = (0..count)
        .filter(|k| !parts.iter().any(|p| p.index == *k))
        .map(|k| format!("{}/{count}", k + 1))
        .collect();
    if !missing.is_empty() {
        bail!("shard(s) {} missing", missing.join(", "));
    }
    Ok(parts)
}

pub fn run(args: MergeArgs) -> anyhow::Result<i32> {
    let began = std::time::Instant::now();
    let destination = Destination::new(&args.out)?;
    let out = destination.local.clone();
    // Shards in storage are fetched first, each into a folder of a scratch directory.
    let scratch = super::outputs::Scratch::new()?;
    let mut dirs = Vec::with_capacity(args.shards.len());
    for (k, shard) in args.shards.iter().enumerate() {
        let text = shard.to_string_lossy();
        if crate::storage::is_url(&text) {
            let local = scratch.0.join(format!("shard-{k}"));
            std::fs::create_dir_all(&local)?;
            super::report::fetch_run(&text, &local, &[SHARD_FILE, "quarantine.jsonl"])
                .with_context(|| format!("fetching the shard at '{text}'"))?;
            dirs.push(local);
        } else {
            dirs.push(shard.clone());
        }
    }
    let parts = one_run(
        dirs.into_iter()
            .map(Part::read)
            .collect::<anyhow::Result<_>>()?,
    )?;
    let format = match parts[0]
        .summary
        .parameters
        .get("format")
        .and_then(|f| f.as_str())
    {
        Some("csv") => Format::Csv,
        Some("parquet") => Format::Parquet,
        _ => Format::Jsonl,
    };
    let first = &parts[0].summary;
    std::fs::create_dir_all(&out).with_context(|| format!("creating '{}'", out.display()))?;
    let staged = Staged::new();
    let dirs: Vec<PathBuf> = parts.iter().map(|p| p.dir.clone()).collect();
    let written = merge::tables(&dirs, format, &out, &staged)?;
    // The quarantine is the inputs', which every shard read: the first shard's is the run's.
    let quarantine = parts[0].dir.join("quarantine.jsonl");
    staged.write(&out.join("quarantine.jsonl"), |p| {
        std::fs::copy(&quarantine, p).map(|_| ())
    })?;
    let summary = Summary {
        detections: written.detection_counts,
        risky_signins: written.risky_signins,
        risky_users: written.risky_users.len() as u64,
        risky_service_principals: written.risky_service_principals.len() as u64,
        run: json!({
            "merged_shards": parts.len(),
            "seconds": began.elapsed().as_secs_f64(),
        }),
        ..first.clone()
    };
    super::score::finish_outputs(staged, &out, &summary, &destination)?;
    if let Some(html) = &args.html {
        let page = Destination::new(html)?;
        super::report::write_page(&super::report::outputs(&out)?, &page.local)?;
        page.publish(&[])?;
    }
    if !args.quiet {
        eprintln!(
            "[+] {} shards merged: {} detections, {} risky sign-ins, {} risky users → {}",
            parts.len(),
            written.detections,
            written.risky_signins,
            summary.risky_users,
            destination.shown()
        );
    }
    Ok(EXIT_OK)
}
