//! `idrisk facts`: the tenant-wide facts of a sharded run, computed once from every sign-in,
//! for `idrisk score --facts FILE --shard K/N` on each shard (see `idrisk merge`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::load::{load_inputs, load_shard};
use super::{EnrichmentArgs, InputArgs, EXIT_OK};
use crate::detect::context::Enrichment;
use crate::enrich::sources::Sources;
use crate::ingest::{Counts, Quarantined};
use crate::report::score::{facts, facts_in_shards, facts_load_columns, Facts, FactsRead};
use crate::rules::Rules;

/// What a facts file says it is.
const FORMAT: &str = "idrisk-facts/1";

#[derive(Debug, Args)]
pub struct FactsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The facts file to write (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// As `idrisk score --score-since`: give the shards the same.
    #[arg(long, value_name = "TIME")]
    pub score_since: Option<String>,
    #[command(flatten)]
    pub enrichment: EnrichmentArgs,
    /// Keep memory near this size (e.g. 4GiB): the facts are then found in shards of users,
    /// each read twice (and once more for times and addresses only), one at a time.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
}

/// A facts file: the tenant facts, the whole tenant's summary figures, and the run's
/// settings, which every shard must share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactsFile {
    pub format: String,
    pub engine_version: String,
    pub rules_sha256: String,
    /// The summary's parameters but the output format.
    pub parameters: BTreeMap<String, Value>,
    /// The summary's `input` section of the whole run.
    pub input: Value,
    pub totals: Counts,
    pub facts: Facts,
}

impl FactsFile {
    /// Reads a facts file, local or in object storage.
    pub fn read(path: &Path) -> anyhow::Result<FactsFile> {
        let name = path.to_string_lossy().into_owned();
        let text = if crate::storage::is_url(&name) {
            let mut fetched = crate::storage::Fetcher::start(vec![name.clone()]);
            match fetched.next() {
                Some((_, Ok(bytes))) => bytes,
                Some((_, Err(reason))) => {
                    anyhow::bail!("reading the facts file '{name}': {reason}")
                }
                None => anyhow::bail!("reading the facts file '{name}': nothing fetched"),
            }
        } else {
            std::fs::read(path)
                .with_context(|| format!("reading the facts file '{}'", path.display()))?
        };
        let file: FactsFile = serde_json::from_slice(&text).with_context(|| {
            format!(
                "'{}' is no facts file of this release (write it with idrisk facts)",
                path.display()
            )
        })?;
        if file.format != FORMAT || file.engine_version != env!("CARGO_PKG_VERSION") {
            anyhow::bail!(
                "'{}' was written by idrisk {} ({}); this is idrisk {}: write the facts again",
                path.display(),
                file.engine_version,
                file.format,
                env!("CARGO_PKG_VERSION")
            );
        }
        Ok(file)
    }

    /// Refuses a shard run whose rules or settings differ from the facts' run.
    pub fn check_same_run(
        &self,
        rules_sha256: &str,
        parameters: &BTreeMap<String, Value>,
    ) -> anyhow::Result<()> {
        if self.rules_sha256 != rules_sha256 {
            anyhow::bail!("the facts were computed under other rules: pass the same --rules");
        }
        let keys: std::collections::BTreeSet<&String> =
            self.parameters.keys().chain(parameters.keys()).collect();
        let differ: Vec<&str> = keys
            .into_iter()
            .filter(|k| *k != "format" && self.parameters.get(*k) != parameters.get(*k))
            .map(String::as_str)
            .collect();
        if !differ.is_empty() {
            anyhow::bail!(
                "the facts were computed with other settings ({}): pass the same flags to \
                 idrisk facts and every shard",
                differ.join(", ")
            );
        }
        Ok(())
    }

    /// SHA-256 of the file's JSON: how merge knows shards ran on the same facts.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        format!("{:x}", Sha256::digest(bytes))
    }
}

/// Memory the facts pass takes per sign-in, with a margin: what a memory limit divides the
/// tenant by. One pass: 1.78 GB for 10.98 M sign-ins of a dataset (162 bytes). In shards, a
/// shard's read comes on top of what the earlier shards gathered: 1.23 GB for shards of
/// 5.5 M (224 bytes), 3.64 GB for shards of 14 M of a year (260 bytes).
const FACTS_BYTES_PER_SIGN_IN: u64 = 256;

/// The facts pass: every sign-in read in the columns the facts need, the tenant facts and the
/// whole run's summary figures. Also hands back the quarantine. Under `limit` (bytes), the
/// tenant is read in as many shards as keep one under it, one at a time (twice each, and once
/// more for times and addresses alone).
pub fn compute(
    input: &InputArgs,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
    parameters: BTreeMap<String, Value>,
    limit: Option<u64>,
) -> anyhow::Result<(FactsFile, Vec<Quarantined>)> {
    if let Some(limit) = limit {
        let files =
            crate::ingest::source::expand(&input.inputs, input.keep_going, input.window()?)?;
        let rows = crate::ingest::source::estimated_rows(&files);
        let count = (rows * FACTS_BYTES_PER_SIGN_IN)
            .div_ceil(limit.max(1))
            .clamp(1, u64::from(u32::MAX)) as u32;
        let count = match count {
            1 => 1,
            n => crate::ingest::dataset::shard_count_for(n, &files),
        };
        if count > 1 {
            if !input.quiet {
                eprintln!(
                    "[+] about {rows} sign-ins: tenant facts in {count} shards under {}",
                    crate::ingest::byte_size(limit as usize)
                );
            }
            let columns = facts_load_columns(rules)?;
            let (found, loads) = facts_in_shards(
                count,
                |shard, read| {
                    let columns = match read {
                        FactsRead::Columns => columns.clone(),
                        // The times come with every load; the addresses as codes.
                        FactsRead::Addresses => Vec::new(),
                    };
                    load_shard(input, rules, Some(columns), &[], shard)
                },
                rules,
                enrichment,
                score_since,
            )?;
            // The shards' and the tenant-wide step's memory is handed back before the scoring
            // shards come: left to the allocator, the first of them started 1.1 GB higher
            // than the others (225 M sign-ins under 4GiB) and made the run's peak.
            crate::ingest::release_freed_memory();
            let unreadable = super::score::unreadable(&loads.files);
            let file = FactsFile {
                format: FORMAT.to_string(),
                engine_version: env!("CARGO_PKG_VERSION").to_string(),
                rules_sha256: rules.digest(),
                parameters,
                input: super::score::input_section(
                    &loads.totals,
                    unreadable,
                    found.scored_rows,
                    found.scored_interactive,
                    &found.warnings,
                ),
                totals: loads.totals,
                facts: found,
            };
            return Ok((file, loads.quarantine));
        }
    }
    let mut ingested = load_inputs(input, rules, Some(facts_load_columns(rules)?))?;
    let found = facts(&mut ingested, rules, enrichment, score_since)?;
    let file = FactsFile {
        format: FORMAT.to_string(),
        engine_version: env!("CARGO_PKG_VERSION").to_string(),
        rules_sha256: rules.digest(),
        parameters,
        input: super::score::summary_input(
            &ingested,
            found.scored_rows,
            found.scored_interactive,
            &found.warnings,
        ),
        totals: ingested.totals.clone(),
        facts: found,
    };
    let quarantine = std::mem::take(&mut ingested.quarantine);
    // The frame is let go now, and its memory handed back: the shards come next.
    drop(ingested);
    crate::ingest::release_freed_memory();
    Ok((file, quarantine))
}

pub fn run(args: FactsArgs) -> anyhow::Result<i32> {
    let score_since = super::score_since_flag(&args.score_since)?;
    let rules = super::load_rules(args.input.rules.as_deref())?;
    // The destination is checked before any sign-in is read.
    let destination = super::outputs::Destination::new(&args.out)?;
    let files = args.enrichment.files(&rules);
    let sources = Sources::open(&files)?;
    let enrichment = Enrichment::from_sources(&sources, &rules)?;
    let parameters = super::score::parameters(&args.score_since, &files, &rules)?;
    let limit = args
        .memory_limit
        .as_deref()
        .map(|limit| {
            super::score::parse_size(limit)
                .map_err(|e| anyhow::anyhow!("invalid value '{limit}' for '--memory-limit': {e}"))
        })
        .transpose()?;
    let (file, _) = compute(
        &args.input,
        &rules,
        &enrichment,
        score_since,
        parameters,
        limit,
    )?;
    let text = serde_json::to_vec(&file)?;
    let staged = crate::report::Staged::new();
    staged.write(&destination.local, |p| std::fs::write(p, &text))?;
    staged
        .commit()
        .with_context(|| format!("writing '{}'", args.out.display()))?;
    destination.publish(&[])?;
    if !args.input.quiet {
        eprintln!(
            "[+] tenant facts of {} sign-ins ({} users, {} org-common networks, {} tenant-wide findings) → {} ({})",
            file.totals.kept,
            file.facts.tenant.users,
            file.facts.tenant.org_common.len(),
            file.facts.tenant.findings.len(),
            destination.shown(),
            crate::ingest::byte_size(text.len())
        );
    }
    Ok(EXIT_OK)
}
