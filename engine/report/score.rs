//! The scoring pass over a loaded frame: order it for the detectors, run them all in
//! parallel, and turn their findings into detections, risky sign-ins and risky users. What
//! `idrisk score` does between reading the inputs and writing the files; benches call it too.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::build::detections;
use super::timeline::{self, TimelineSignIn};
use super::{
    risky_service_principals, risky_signins, risky_users, Detection, RiskyServicePrincipal,
    RiskySignIn, RiskyUser,
};
use crate::detect::context::{Enrichment, Loaded};
use crate::detect::tenant::{address_window, FirstShare, SecondShare, TenantError, TenantFacts};
use crate::detect::{registry, run_all, run_shard, Context};
use crate::frame::shard::Shard;
use crate::frame::{col, time_values, TextCodes};
use crate::ingest::{Counts, FileReport, IngestError, Ingested, Quarantined};
use crate::rules::{Rules, RulesError};
use polars::prelude::PolarsError;

/// What a scoring pass found.
pub struct Scored {
    pub detections: Vec<Detection>,
    pub risky_signins: Vec<RiskySignIn>,
    pub risky_users: Vec<RiskyUser>,
    /// Workload identities with detections.
    pub risky_service_principals: Vec<RiskyServicePrincipal>,
    /// The risky users' sign-ins around their detections.
    pub timeline: Vec<TimelineSignIn>,
    /// Unsuccessful campaigns and other findings that are no detection (summary.json).
    pub campaigns: Vec<Value>,
    /// Each detector's id and effective settings.
    pub detectors: Vec<Value>,
    /// Sign-ins at or after `score_since` (all of them without it).
    pub scored_rows: usize,
    /// Interactive user sign-ins among them: what false-alarm rates are counted per.
    pub scored_interactive: usize,
    /// Problems with the enrichment data that did not stop the run (GeoIP coordinates that
    /// are no place on Earth), for stderr and the summary.
    pub warnings: Vec<String>,
}

/// Why a scoring pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A detector's section of the rules is not usable.
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Tenant(#[from] TenantError),
}

impl From<PolarsError> for ScoreError {
    fn from(e: PolarsError) -> Self {
        ScoreError::Ingest(e.into())
    }
}

/// True for a canonical text column.
fn is_text(column: &str) -> bool {
    crate::frame::COLUMNS
        .iter()
        .any(|c| c.name == column && c.dtype == "string")
}

/// The canonical columns a scoring pass decodes for every row: what loading may restrict
/// itself to. The text columns it reads come as codes ([`coded_columns`]); the report's other
/// columns are fetched for the detections' rows only.
pub fn columns_read() -> Vec<&'static str> {
    crate::detect::columns_read()
        .into_iter()
        .filter(|c| !is_text(c))
        .collect()
}

/// The text columns the context and the detectors read that the load left unread, as codes
/// from their dictionaries, with those the load handed over as codes: what [`context`]
/// takes.
pub fn coded_columns(
    loaded: &Ingested,
) -> Result<Vec<(&'static str, Arc<TextCodes>)>, IngestError> {
    coded_columns_of(loaded, &crate::detect::columns_read())
}

/// [`coded_columns`] among `columns`.
fn coded_columns_of(
    loaded: &Ingested,
    columns: &[&'static str],
) -> Result<Vec<(&'static str, Arc<TextCodes>)>, IngestError> {
    let _span = crate::trace::span("score: coded columns");
    let text: Vec<&'static str> = columns.iter().copied().filter(|c| is_text(c)).collect();
    let mut coded = text
        .par_iter()
        .filter(|c| loaded.unread.is_unread(c) && !loaded.codes.iter().any(|(h, _)| h == *c))
        .map(|&c| {
            let _span = crate::trace::span(format!("codes: {c}"));
            Ok((c, Arc::new(loaded.unread.codes(&loaded.frame, c)?)))
        })
        .collect::<Result<Vec<_>, IngestError>>()?;
    coded.extend(loaded.codes.iter().cloned());
    crate::trace::rss("rss after codes");
    Ok(coded)
}

/// The detectors' context of a loaded frame under `rules` (org-common networks, outcome
/// classes) and `enrichment`. `times`: the load's times, when it handed them over.
pub fn context(
    loaded: &Ingested,
    coded: Vec<(&'static str, Arc<TextCodes>)>,
    times: Option<&[i64]>,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
) -> Result<Context, IngestError> {
    Ok(Context::with_codes(
        Loaded {
            frame: &loaded.frame,
            coded,
            users: loaded.users.as_ref(),
            times,
            fetch: Some(Arc::new(loaded.unread.clone())),
        },
        score_since,
        &rules.networks,
        enrichment,
    )?)
}

/// Interactive user sign-ins at or after the context's `score_since`.
pub fn scored_interactive(ctx: &Context) -> usize {
    (0..ctx.time.len())
        .filter(|&k| ctx.interactive[k] && ctx.users_row(k) && ctx.time[k] >= ctx.score_since)
        .count()
}

/// What a run over the whole tenant says beyond its detections: the tenant facts a shard
/// needs, and the figures of the summary that only the whole tenant gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub tenant: TenantFacts,
    pub campaigns: Vec<Value>,
    pub scored_rows: usize,
    pub scored_interactive: usize,
    pub warnings: Vec<String>,
}

/// The canonical columns a facts pass reads: the context's, and those of the detectors that
/// read the whole tenant (tenant-wide findings, tenant tables); text ones included (they come
/// as codes), for [`facts`].
pub fn facts_columns(rules: &Rules) -> Result<Vec<&'static str>, RulesError> {
    let detectors = registry(rules)?;
    let mut columns: Vec<&'static str> = crate::detect::context::COLUMNS.to_vec();
    for entry in crate::detect::REGISTRY {
        let reads_tenant = detectors
            .iter()
            .any(|d| d.identity().id == entry.section && (d.tenant_wide() || d.has_tenant_table()));
        if reads_tenant {
            columns.extend(entry.columns.every_row);
        }
    }
    columns.sort_unstable();
    columns.dedup();
    Ok(columns)
}

/// [`facts_columns`] a facts pass's load decodes for every row (text ones come as codes).
pub fn facts_load_columns(rules: &Rules) -> Result<Vec<&'static str>, RulesError> {
    Ok(facts_columns(rules)?
        .into_iter()
        .filter(|c| !is_text(c))
        .collect())
}

/// Each enabled detector's id and effective settings, as the summary lists them.
pub fn detector_settings(rules: &Rules) -> Result<Vec<Value>, RulesError> {
    Ok(registry(rules)?
        .iter()
        .map(|d| json!({"id": d.identity().id, "settings": d.settings()}))
        .collect())
}

/// Finds the tenant facts of a loaded frame holding the whole tenant: its context, the
/// tenant-wide detectors' findings and campaigns, every detector's table.
pub fn facts(
    loaded: &mut Ingested,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
) -> Result<Facts, ScoreError> {
    let ctx = facts_context(loaded, rules, enrichment, score_since)?;
    let detectors = registry(rules)?;
    let _span = crate::trace::span("facts: tenant");
    let (tenant, campaigns) = TenantFacts::of(&ctx, &detectors);
    Ok(Facts {
        tenant,
        campaigns,
        scored_rows: ctx.time.iter().filter(|&&t| t >= ctx.score_since).count(),
        scored_interactive: scored_interactive(&ctx),
        warnings: warnings(&ctx),
    })
}

/// The context a facts pass builds from a load in [`facts_columns`].
fn facts_context(
    loaded: &mut Ingested,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
) -> Result<Context, ScoreError> {
    let columns = facts_columns(rules)?;
    loaded_context(loaded, &columns, rules, enrichment, score_since)
}

/// The context of a load, its text `columns` as codes; the times the load handed over are
/// taken from it and freed once the detectors' order is built.
fn loaded_context(
    loaded: &mut Ingested,
    columns: &[&'static str],
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
) -> Result<Context, ScoreError> {
    let times = loaded.times.take();
    let loaded = &*loaded;
    let coded = coded_columns_of(loaded, columns)?;
    Ok(context(
        loaded,
        coded,
        times.as_deref(),
        rules,
        enrichment,
        score_since,
    )?)
}

/// What a round of [`facts_in_shards`] reads of a shard's sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsRead {
    /// The columns of [`facts_load_columns`].
    Columns,
    /// Only the times and addresses (the round counting the addresses' sign-ins).
    Addresses,
}

/// What [`facts_in_shards`] read: the whole tenant's counts, and the first load's
/// quarantine and file reports (every load reads every record).
pub struct ShardedLoads {
    pub totals: Counts,
    pub quarantine: Vec<Quarantined>,
    pub files: Vec<FileReport>,
}

/// [`facts`] found shard by shard, when the columns they need do not fit in memory for every
/// sign-in at once (see [`crate::detect::tenant::FirstShare`]): `load(shard, read)` reads one
/// shard of `count` as `read` says; each shard is read twice in [`facts_load_columns`] and
/// once in times and addresses only, one at a time.
pub fn facts_in_shards<E: From<ScoreError>>(
    count: u32,
    mut load: impl FnMut(Shard, FactsRead) -> Result<Ingested, E>,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
) -> Result<(Facts, ShardedLoads), E> {
    let detectors = registry(rules).map_err(ScoreError::from)?;
    let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
    let window = address_window(&detectors);
    let mut first = FirstShare {
        first_time: i64::MAX,
        ..FirstShare::default()
    };
    let (mut scored_rows, mut scored_in) = (0, 0);
    let mut counts = Vec::new();
    let mut read = None;
    for &shard in &shards {
        let _span = crate::trace::span(format!("facts: shard {shard}, first round"));
        let mut loaded = load(shard, FactsRead::Columns)?;
        let ctx = facts_context(&mut loaded, rules, enrichment, score_since)?;
        first.add(
            FirstShare::of(&ctx, &rules.networks, window),
            &rules.networks,
        );
        scored_rows += ctx.time.iter().filter(|&&t| t >= ctx.score_since).count();
        scored_in += scored_interactive(&ctx);
        counts.push(loaded.totals.clone());
        read.get_or_insert_with(|| {
            (
                std::mem::take(&mut loaded.quarantine),
                std::mem::take(&mut loaded.files),
            )
        });
        drop(ctx);
        drop(loaded);
        crate::ingest::release_freed_memory();
    }
    let tenant = Arc::new(first.facts(&rules.networks));
    let mut addresses = first.addresses_needed(window, None);
    if let (Some(window), false) = (window, addresses.is_empty()) {
        // The addresses that may be needed, their every sign-in counted: busy ones whose
        // failures are a small share of what a window holds are left out before their
        // sign-ins are gathered.
        let mut sign_ins: BTreeMap<String, BTreeMap<i64, u32>> = BTreeMap::new();
        for &shard in &shards {
            let _span = crate::trace::span(format!("facts: shard {shard}, address round"));
            let loaded = load(shard, FactsRead::Addresses)?;
            let codes = loaded
                .unread
                .codes(&loaded.frame, col::ip_address)
                .map_err(ScoreError::from)?;
            let times = match loaded.times {
                Some(ref times) => Cow::Borrowed(times.as_slice()),
                None => Cow::Owned(time_values(&loaded.frame).map_err(ScoreError::from)?),
            };
            for (address, stretches) in FirstShare::sign_ins_of(&times, &codes, window, &addresses)
            {
                let mine = sign_ins.entry(address).or_default();
                for (stretch, n) in stretches {
                    *mine.entry(stretch).or_default() += n;
                }
            }
            drop((times, codes));
            drop(loaded);
            crate::ingest::release_freed_memory();
        }
        crate::trace::note("candidate addresses", sign_ins.len());
        crate::trace::note(
            "candidate sign-ins",
            sign_ins
                .values()
                .flat_map(|s| s.values())
                .map(|&n| u64::from(n))
                .sum::<u64>(),
        );
        addresses = first.addresses_needed(Some(window), Some(&sign_ins));
        crate::trace::note("needed addresses", addresses.len());
    }
    let mut seconds = Vec::new();
    for &shard in &shards {
        let _span = crate::trace::span(format!("facts: shard {shard}, second round"));
        let mut loaded = load(shard, FactsRead::Columns)?;
        let ctx = facts_context(&mut loaded, rules, enrichment, score_since)?
            .with_tenant(tenant.clone(), &rules.networks.trusted_asns);
        seconds.push(SecondShare::of(&ctx, &detectors, &addresses));
        drop(ctx);
        drop(loaded);
        crate::ingest::release_freed_memory();
    }
    let _span = crate::trace::span("facts: tenant-wide detectors");
    let (tenant, campaigns) = TenantFacts::from_shares(
        &first,
        seconds,
        &detectors,
        &rules.networks,
        enrichment,
        score_since,
    )
    .map_err(ScoreError::from)?;
    let (quarantine, files) = read.unwrap_or_default();
    Ok((
        Facts {
            tenant,
            campaigns,
            scored_rows,
            scored_interactive: scored_in,
            warnings: out_of_range_warning(first.out_of_range.len()),
        },
        ShardedLoads {
            totals: Counts::of_shards(&counts),
            quarantine,
            files,
        },
    ))
}

/// Problems with the enrichment data that did not stop the run.
fn warnings(ctx: &Context) -> Vec<String> {
    out_of_range_warning(ctx.geoip_out_of_range())
}

/// The warning for `n` addresses the GeoIP City database put at no place.
fn out_of_range_warning(n: usize) -> Vec<String> {
    match n {
        0 => Vec::new(),
        n => vec![format!(
            "the GeoIP City database gave {n} addresses coordinates that are no place on \
             Earth (NaN or beyond ±90°/±180°); their sign-ins were taken as having no location"
        )],
    }
}

/// Scores a loaded canonical frame with every detector the rules enable. The times the load
/// handed over are taken from it and freed once the detectors' order is built.
pub fn score(
    loaded: &mut Ingested,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
) -> Result<Scored, ScoreError> {
    score_shard(loaded, rules, enrichment, score_since, None)
}

/// [`score`] over one shard's users (the load kept only theirs), with the whole tenant's
/// `facts`: the summary's figures (scored rows, campaigns, warnings) are then the shard's,
/// and the caller takes the tenant's from the facts.
pub fn score_shard(
    loaded: &mut Ingested,
    rules: &Rules,
    enrichment: &Enrichment<'_>,
    score_since: Option<i64>,
    shard: Option<(Arc<TenantFacts>, Shard)>,
) -> Result<Scored, ScoreError> {
    let span = crate::trace::span("score: sort context");
    let ctx = loaded_context(
        loaded,
        &crate::detect::columns_read(),
        rules,
        enrichment,
        score_since,
    )?;
    let loaded = &*loaded;
    let (ctx, shard) = match shard {
        Some((facts, shard)) => (
            ctx.with_tenant(facts, &rules.networks.trusted_asns),
            Some(shard),
        ),
        None => (ctx, None),
    };
    drop(span);
    crate::trace::rss("rss after context");
    let detectors = registry(rules)?;
    let span = crate::trace::span("score: detectors");
    let detected = match shard {
        Some(shard) => run_shard(&detectors, &ctx, shard)?,
        None => run_all(&detectors, &ctx),
    };
    let findings = detected.findings;
    drop(span);
    crate::trace::rss("rss after detectors");
    let span = crate::trace::span("score: report");
    let around = timeline::positions(&ctx, &findings);
    let detections = detections(&ctx, &loaded.unread, findings)?;
    let timeline = {
        let _span = crate::trace::span("report: timeline");
        timeline::sign_ins(&ctx, &around)
    };
    crate::trace::note("detections", detections.len());
    let t = crate::trace::span("report: aggregates");
    let (risky_signins, risky_users) =
        rayon::join(|| risky_signins(&detections), || risky_users(&detections));
    let principals = risky_service_principals(&detections);
    drop(t);
    drop(span);
    crate::trace::rss("rss after report");
    Ok(Scored {
        detections,
        risky_signins,
        risky_users,
        risky_service_principals: principals,
        timeline,
        campaigns: detected.campaigns,
        detectors: detectors
            .iter()
            .map(|d| json!({"id": d.identity().id, "settings": d.settings()}))
            .collect(),
        scored_rows: ctx.time.iter().filter(|&&t| t >= ctx.score_since).count(),
        scored_interactive: scored_interactive(&ctx),
        warnings: warnings(&ctx),
    })
}
