//! Detectors: the [`Detector`] trait, the registry, and running them all in parallel.
//!
//! Each detector lives in its own file with its config struct (a section of the rules file)
//! and its scenario tests. Detectors see only the sorted [`Context`]; they never read files.
//! They return [`Finding`]s (a row, a level, the evidence); `report` turns findings into
//! `riskDetection` records.

pub mod context;
pub mod familiar;
pub mod gathered;
pub mod listed_ip;
pub mod order;
pub mod org_common;
pub mod tenant;

use rayon::prelude::*;
use serde_json::Value;

pub use context::{Context, Outcome};

use crate::rules::{Problems, Rules, RulesError};

/// Declares the detectors: each is a module of its own (named like its rules section and
/// its id) with a `build` function and a `COLUMNS` list; this is the registry's one line
/// per detector. The order is the order they run in and are listed.
macro_rules! detectors {
    ($($detector:ident),+ $(,)?) => {
        $(pub mod $detector;)+

        /// Every detector: its section of the rules file (also its id), how it is built,
        /// and the canonical columns it reads.
        pub const REGISTRY: &[Entry] = &[$(Entry {
            section: stringify!($detector),
            build: $detector::build,
            columns: $detector::COLUMNS,
        }),+];
    };
}

detectors! {
    anonymous_ip,
    atypical_travel,
    multiple_geographies,
    new_country,
    unfamiliar_sign_in,
    threat_intel_ip,
    infected_device_ip,
    password_spray,
    malicious_ip,
    leaked_credentials,
    failures_then_success,
    mfa_fatigue,
    user_reported_fraud,
    device_code_phishing,
    legacy_authentication,
    anomalous_token,
    suspicious_service_principal,
}

/// A detector in the registry.
pub struct Entry {
    /// Its section of the rules file, also its id.
    pub section: &'static str,
    pub build: Build,
    /// The canonical columns it reads beyond the context's own ([`context::COLUMNS`]):
    /// a load that projects columns reads these, and a test fails when a detector names a
    /// column it did not declare.
    pub columns: Columns,
}

/// The canonical columns a detector reads beyond the context's own.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    /// Read for every row: numbers decoded, text as codes ([`Context::codes`],
    /// [`Context::positions_where`]).
    pub every_row: &'static [&'static str],
    /// Read for the few rows the detector is about to report or compare
    /// ([`Context::texts_at`], [`Context::text`]): a projected load leaves them in the file.
    pub some_rows: &'static [&'static str],
}

impl Columns {
    /// Every column named.
    pub fn all(&self) -> impl Iterator<Item = &'static str> {
        self.every_row.iter().chain(self.some_rows).copied()
    }
}

/// Builds a detector from its section of the rules.
pub type Build = fn(&Rules, &'static str) -> Built;

/// A detector built from its section: `None` when the section turns it off, `Err` with every
/// problem of the section.
pub type Built = Result<Option<Box<dyn Detector>>, Vec<String>>;

/// A detector's settings: its section of the rules file, read with unknown keys rejected,
/// then checked. Every section has `enabled = true|false` (false turns the detector off; its
/// section is still checked).
pub trait Settings: serde::de::DeserializeOwned + serde::Serialize {
    /// Values the types allow that the detector cannot use.
    fn check(&self, _problems: &mut Problems<'_>) {}
}

/// What a detector's `build` calls: reads `section` as `S`, checks it, and makes the
/// detector with `new` when the section enables it.
pub fn build<S: Settings, D: Detector + 'static>(
    rules: &Rules,
    section: &'static str,
    new: impl FnOnce(S) -> D,
) -> Built {
    let settings: S = rules.section(section).map_err(|problem| vec![problem])?;
    let mut found = Vec::new();
    settings.check(&mut Problems::new(section, &mut found));
    if !found.is_empty() {
        return Err(found);
    }
    /// The switch every section has, read apart from the detector's own settings.
    #[derive(serde::Deserialize)]
    struct Switch {
        enabled: bool,
    }
    let Switch { enabled } = rules.section(section).map_err(|problem| vec![problem])?;
    Ok(enabled.then(|| Box::new(new(settings)) as Box<dyn Detector>))
}

/// The canonical columns a scoring pass reads for every row: the context's own and every
/// registered detector's (enabled or not: a sweep may turn one on), each once.
pub fn columns_read() -> Vec<&'static str> {
    let mut columns: Vec<&'static str> = context::COLUMNS
        .iter()
        .chain(REGISTRY.iter().flat_map(|entry| entry.columns.every_row))
        .copied()
        .collect();
    columns.sort_unstable();
    columns.dedup();
    columns
}

/// Adds each finding's client app (`clientAppUsed`) to its evidence: a brute force or a spray
/// through a legacy protocol (IMAP4, Authenticated SMTP, "Other clients") says so.
pub fn with_client_app(ctx: &Context, mut findings: Vec<Finding>) -> Vec<Finding> {
    let rows: Vec<usize> = findings.iter().map(|f| f.row).collect();
    let apps = ctx.texts_at(crate::frame::col::client_app, &rows);
    for (finding, app) in findings.iter_mut().zip(apps) {
        if let Value::Object(evidence) = &mut finding.evidence {
            evidence.insert("clientApp".into(), app.map_or(Value::Null, Value::from));
        }
    }
    findings
}

/// A risk level, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    /// One step higher, capped at high.
    pub fn raised(self) -> Level {
        match self {
            Level::Low => Level::Medium,
            _ => Level::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// One thing a detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detector: &'static str,
    /// The sign-in (a row of the sorted frame); for user-level findings, the user's latest row.
    pub row: usize,
    /// True for user-level findings (no request id).
    pub user_level: bool,
    pub level: Level,
    /// When the evidence was complete (microseconds, UTC): never the wall clock.
    pub detected_at: i64,
    /// The numbers that made it fire.
    pub evidence: Value,
    /// Microsoft-style additionalInfo pairs beyond the sign-in's own.
    pub related: Vec<(&'static str, Value)>,
    /// Evidence keys naming another sign-in's request id, with that sign-in's row: the report
    /// fills them in, as request ids are decoded only for the sign-ins it reports.
    pub related_requests: Vec<(&'static str, usize)>,
}

/// What a detector is, in Identity Protection's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Detector id, also the rules-file section name.
    pub id: &'static str,
    pub risk_event_type: &'static str,
    /// The anomalous-activity report it belongs to.
    pub report: &'static str,
    /// `signin` or `user`.
    pub activity: &'static str,
    /// `realtime`, `nearRealtime`, `offline`.
    pub timing: &'static str,
}

/// A detector: an identity, its effective settings, and a kernel over the context.
/// Adding one: a file in this folder with the detector, its [`Settings`], a `build`
/// function and its `COLUMNS`; its name in [`detectors!`]; its section in
/// `rules/default.toml`.
pub trait Detector: Send + Sync {
    fn identity(&self) -> Identity;
    /// The effective settings, as the rules file would write them.
    fn settings(&self) -> Value;
    fn detect(&self, ctx: &Context) -> Vec<Finding>;
    /// Campaigns the detector saw (tenant-level detectors), for the summary.
    fn campaigns(&self, _ctx: &Context) -> Vec<Value> {
        Vec::new()
    }
    /// Findings and campaigns at once; a detector whose campaigns are its findings' first
    /// step overrides this to find them once.
    fn detect_with_campaigns(&self, ctx: &Context) -> (Vec<Finding>, Vec<Value>) {
        (self.detect(ctx), self.campaigns(ctx))
    }
    /// True for a detector that reads other users' sign-ins (all attempts from an address):
    /// a sharded run finds its findings once, over the whole tenant ([`tenant`]).
    fn tenant_wide(&self) -> bool {
        false
    }
    /// What a per-user detector reads of every user beyond the user it judges (how many
    /// users signed in from each country), made over the whole tenant for a sharded run
    /// and read back in each shard through [`Context::tenant_table`].
    fn tenant_table(&self, _ctx: &Context) -> Option<Value> {
        None
    }
    /// True when [`Detector::tenant_table`] makes one.
    fn has_tenant_table(&self) -> bool {
        false
    }
    /// For a tenant-wide detector judging addresses by their credential failures within a
    /// window: the window, and the failures and failing users an address needs in one before
    /// any of its sign-ins can matter. When the facts are found shard by shard, every
    /// sign-in of the addresses that could reach them is gathered.
    fn address_window(&self) -> Option<tenant::AddressWindow> {
        None
    }
    /// For a detector whose campaigns are made of credential failures from networks new to
    /// their users: its learning period (µs). When the facts are found shard by shard, each
    /// shard gathers those failures, each marked new as its user's history says.
    fn new_network_learning(&self) -> Option<i64> {
        None
    }
    /// For a detector that finds campaigns across every user's failures and then each user's
    /// sign-ins that got in (password spray): the campaigns as a table, and their summaries.
    /// A shard reads the table through [`Context::tenant_table`] and finds its users' sign-ins.
    fn campaign_table(&self, _ctx: &Context) -> Option<(Value, Vec<Value>)> {
        None
    }
}

/// Every enabled detector, each built from its section of the rules; `Err` lists every
/// problem of every section, and names a section no detector owns.
pub fn registry(rules: &Rules) -> Result<Vec<Box<dyn Detector>>, RulesError> {
    let mut found = Vec::new();
    let mut detectors = Vec::new();
    for entry in REGISTRY {
        match (entry.build)(rules, entry.section) {
            Ok(Some(detector)) => detectors.push(detector),
            Ok(None) => {}
            Err(problems) => found.extend(problems),
        }
    }
    for name in rules.section_names() {
        if !REGISTRY.iter().any(|entry| entry.section == name) {
            let known: Vec<&str> = REGISTRY.iter().map(|entry| entry.section).collect();
            found.push(format!(
                "unknown section [{name}]; the detectors' sections are {}",
                known.join(", ")
            ));
        }
    }
    rules.problems(found)?;
    Ok(detectors)
}

/// What every detector found.
pub struct Detected {
    /// In a fixed order: detector, then row.
    pub findings: Vec<(Identity, Finding)>,
    /// Campaigns, in the registry's order.
    pub campaigns: Vec<Value>,
}

/// Runs the detectors in parallel.
pub fn run_all(detectors: &[Box<dyn Detector>], ctx: &Context) -> Detected {
    let each: Vec<(Identity, Vec<Finding>, Vec<Value>)> = detectors
        .par_iter()
        .map(|d| {
            let identity = d.identity();
            let _span = crate::trace::span(format!("detect: {}", identity.id));
            let (findings, campaigns) = d.detect_with_campaigns(ctx);
            (identity, findings, campaigns)
        })
        .collect();
    collect(each)
}

/// Runs the detectors in parallel over one shard's context (holding the tenant's facts):
/// tenant-wide detectors are not run, their findings for the shard's users are taken from
/// the facts; the campaigns are the facts' (none here).
pub fn run_shard(
    detectors: &[Box<dyn Detector>],
    ctx: &Context,
    shard: crate::frame::shard::Shard,
) -> Result<Detected, tenant::TenantError> {
    let Some(facts) = ctx.tenant.as_deref() else {
        return Ok(run_all(detectors, ctx));
    };
    for f in &facts.findings {
        if !REGISTRY.iter().any(|e| e.section == f.detector) {
            return Err(tenant::TenantError::UnknownDetector(f.detector.clone()));
        }
    }
    let each: Vec<(Identity, Vec<Finding>, Vec<Value>)> = detectors
        .par_iter()
        .map(|d| {
            let identity = d.identity();
            let _span = crate::trace::span(format!("detect: {}", identity.id));
            let findings = if d.tenant_wide() {
                facts.findings_in(ctx, identity, |user| shard.owns(Some(user)))?
            } else {
                d.detect(ctx)
            };
            Ok((identity, findings, Vec::new()))
        })
        .collect::<Result<_, tenant::TenantError>>()?;
    Ok(collect(each))
}

fn collect(each: Vec<(Identity, Vec<Finding>, Vec<Value>)>) -> Detected {
    let mut findings = Vec::new();
    let mut campaigns = Vec::new();
    for (identity, found, seen) in each {
        findings.extend(found.into_iter().map(|f| (identity, f)));
        campaigns.extend(seen);
    }
    findings.sort_by(|(a, fa), (b, fb)| a.id.cmp(b.id).then(fa.row.cmp(&fb.row)));
    Detected {
        findings,
        campaigns,
    }
}

/// Building small canonical frames for detector scenario tests.
#[cfg(test)]
pub mod testing {
    use std::borrow::Cow;

    use polars::prelude::DataFrame;

    use crate::frame::{FrameBuilder, Row};
    use crate::rules::Rules;

    /// A detector's settings as the built-in rules give them.
    pub fn defaults<T: serde::de::DeserializeOwned>(section: &str) -> T {
        Rules::builtin()
            .section(section)
            .expect("the built-in rules hold every detector's section")
    }

    /// Start of the test day: 2025-03-10T00:00:00Z.
    pub const DAY: i64 = 1_741_564_800_000_000;
    pub const MINUTE: i64 = 60_000_000;

    /// One sign-in of a scenario.
    #[derive(Clone)]
    pub struct SignIn {
        pub user: &'static str,
        pub minute: i64,
        pub ip: &'static str,
        pub code: i32,
        pub interactive: bool,
    }

    pub fn sign_in(user: &'static str, minute: i64, ip: &'static str, code: i32) -> SignIn {
        SignIn {
            user,
            minute,
            ip,
            code,
            interactive: true,
        }
    }

    /// A sign-in with a place.
    pub fn at(
        user: &'static str,
        minute: i64,
        ip: &'static str,
        place: (f64, f64),
    ) -> (SignIn, (f64, f64)) {
        (sign_in(user, minute, ip, 0), place)
    }

    /// A canonical frame of sign-ins with places.
    pub fn frame_with_places(sign_ins: &[(SignIn, (f64, f64))]) -> DataFrame {
        let codes = Rules::builtin().outcome_codes();
        let mut builder = FrameBuilder::with_capacity(sign_ins.len());
        for (k, (s, (lat, lon))) in sign_ins.iter().enumerate() {
            let network = s.ip.parse().ok().map(crate::frame::ip::network_key);
            let mut row = Row {
                time: DAY + s.minute * MINUTE,
                request_id: Some(Cow::Owned(format!("req-{k:04}"))),
                user_id: Some(Cow::Borrowed(s.user)),
                ip_address: Some(Cow::Borrowed(s.ip)),
                ip_network: network,
                error_code: Some(s.code),
                is_interactive: Some(s.interactive),
                latitude: Some(*lat),
                longitude: Some(*lon),
                ..Row::default()
            };
            row.derive(&codes);
            builder.push(&row);
        }
        builder.finish()
    }

    /// A sign-in with its coordinates and country code.
    pub type InCountry = (SignIn, ((f64, f64), &'static str));

    /// A canonical frame of sign-ins with places and countries.
    pub fn frame_with_countries(sign_ins: &[InCountry]) -> DataFrame {
        let places: Vec<(SignIn, (f64, f64))> =
            sign_ins.iter().map(|(s, (p, _))| (s.clone(), *p)).collect();
        let frame = frame_with_places(&places);
        use polars::prelude::NewChunkedArray;
        let countries = polars::prelude::StringChunked::from_iter_options(
            crate::frame::col::country.into(),
            sign_ins.iter().map(|(_, (_, c))| Some(*c)),
        );
        let mut frame = frame;
        // The column exists with nulls; replace it with the countries.
        let _ = frame.replace(
            crate::frame::col::country,
            polars::prelude::IntoColumn::into_column(countries),
        );
        frame
    }

    /// A canonical frame of the scenario's sign-ins, outcomes classified by the built-in rules.
    pub fn frame(sign_ins: &[SignIn]) -> DataFrame {
        frame_with(sign_ins, |_, _| {})
    }

    /// Like [`frame`], with `more(k, row)` setting the other columns of the `k`th sign-in.
    pub fn frame_with(sign_ins: &[SignIn], more: impl Fn(usize, &mut Row<'static>)) -> DataFrame {
        let codes = Rules::builtin().outcome_codes();
        let mut builder = FrameBuilder::with_capacity(sign_ins.len());
        for (k, s) in sign_ins.iter().enumerate() {
            let mut row = Row {
                time: DAY + s.minute * MINUTE,
                request_id: Some(Cow::Owned(format!("req-{k:04}"))),
                user_id: Some(Cow::Borrowed(s.user)),
                user_principal_name: Some(Cow::Owned(format!("{}@contoso.com", s.user))),
                ip_address: Some(Cow::Borrowed(s.ip)),
                ip_network: s.ip.parse().ok().map(crate::frame::ip::network_key),
                error_code: Some(s.code),
                is_interactive: Some(s.interactive),
                ..Row::default()
            };
            more(k, &mut row);
            row.derive(&codes);
            builder.push(&row);
        }
        builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems the registry finds in rules text laid over the defaults.
    fn problems(text: &str) -> String {
        let rules = Rules::parse(text, "mine.toml").expect("the shared sections are fine");
        match registry(&rules) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_detector_is_built_from_the_section_named_like_it() {
        let detectors = registry(&Rules::builtin()).unwrap();
        assert_eq!(detectors.len(), REGISTRY.len());
        for (detector, entry) in detectors.iter().zip(REGISTRY) {
            assert_eq!(detector.identity().id, entry.section);
        }
    }

    #[test]
    fn a_disabled_detector_is_not_built_but_its_section_is_checked() {
        let rules = Rules::parse("[malicious_ip]\nenabled = false\n", "x").unwrap();
        let ids: Vec<&str> = registry(&rules)
            .unwrap()
            .iter()
            .map(|d| d.identity().id)
            .collect();
        assert!(!ids.contains(&"malicious_ip"), "{ids:?}");
        assert_eq!(ids.len(), REGISTRY.len() - 1);
        let err = problems("[malicious_ip]\nenabled = false\nmin_failures = 0\n");
        assert!(err.contains("'min_failures', value: 0"), "{err}");
    }

    #[test]
    fn a_misspelt_key_or_section_is_rejected_with_its_name() {
        let err = problems("[failures_then_success]\nmin_failres = 5\n");
        assert!(
            err.contains("failures_then_success: unknown field `min_failres`"),
            "{err}"
        );
        assert!(err.contains("mine.toml"), "{err}");
        let err = problems("[pasword_spray]\nmin_users = 5\n");
        assert!(err.contains("unknown section [pasword_spray]"), "{err}");
        assert!(
            err.contains("password_spray"),
            "the known sections are listed: {err}"
        );
    }

    #[test]
    fn a_rules_file_needs_only_the_keys_it_changes() {
        let rules = Rules::parse("[failures_then_success]\nmin_failures = 5\n", "x").unwrap();
        let settings: failures_then_success::FailuresThenSuccessConfig =
            rules.section("failures_then_success").unwrap();
        assert_eq!(settings.min_failures, 5);
        assert_eq!(settings.session_gap_minutes, 20);
    }

    #[test]
    fn a_zero_threshold_is_rejected_naming_field_and_value() {
        let err = problems("[failures_then_success]\nmin_failures = 0\n");
        assert!(err.contains("'min_failures', value: 0"), "{err}");
    }

    #[test]
    fn windows_and_learning_periods_beyond_ten_years_are_rejected() {
        let err = problems(
            "[atypical_travel]\nlearning_days = 200000\n\
             [malicious_ip]\nwindow_hours = 3000000\n\
             [password_spray]\nwindow_minutes = 4294967295\n",
        );
        for expected in [
            "atypical_travel: 'learning_days' is at most 3653 (ten years), value: 200000",
            "malicious_ip: 'window_hours' is at most 87672 (ten years), value: 3000000",
            "password_spray: 'window_minutes' is at most 5260320 (ten years), value: 4294967295",
        ] {
            assert!(err.contains(expected), "{expected} not in {err}");
        }
        assert_eq!(problems("[atypical_travel]\nlearning_days = 3653\n"), "");
    }

    #[test]
    fn every_problem_is_reported_each_with_its_key_and_value() {
        let err = problems(
            "[atypical_travel]\nfamiliar_radius_km = -5.0\n\
             [unfamiliar_sign_in]\nfamiliar_radius_km = 0.0\n\
             [malicious_ip]\nmin_failure_ratio = 1.5\nwindow_hours = 0\n\
             [password_spray]\nmin_users = 0\n",
        );
        for expected in [
            "atypical_travel: only positive numbers are allowed for 'familiar_radius_km', value: -5",
            "unfamiliar_sign_in: only positive numbers are allowed for 'familiar_radius_km', value: 0",
            "malicious_ip: 'min_failure_ratio' is a share from 0 to 1, value: 1.5",
            "malicious_ip: only positive numbers are allowed for 'window_hours', value: 0",
            "password_spray: only positive numbers are allowed for 'min_users', value: 0",
        ] {
            assert!(err.contains(expected), "{expected} not in {err}");
        }
        assert_eq!(err.lines().count(), 5, "{err}");
    }

    #[test]
    fn the_columns_read_are_the_contexts_and_the_detectors_each_once() {
        let columns = columns_read();
        for column in context::COLUMNS
            .iter()
            .chain(unfamiliar_sign_in::COLUMNS.every_row)
        {
            assert!(columns.contains(column), "{column}");
        }
        let mut distinct = columns.clone();
        distinct.dedup();
        assert_eq!(distinct, columns);
        for column in &columns {
            assert!(
                crate::frame::COLUMNS.iter().any(|c| c.name == *column),
                "{column} is no canonical column"
            );
        }
    }
}
