//! Threshold tuning against labels: sweeps of rules settings, each point scored and
//! evaluated, the Pareto front of recall against false alarms, and the point an objective
//! picks, written back as a rules overlay.
//!
//! The input is loaded and its context built once. A point re-runs only the detectors whose
//! section it changes; the context (org-common networks, outcome classes, anonymous policy)
//! is rebuilt only when a point changes a section it depends on. Detections go through the
//! same report code and the same evaluation as `score` and `eval`, so re-scoring with the
//! written rules reproduces a point's figures exactly.

pub mod html;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::detect::context::Enrichment;
use crate::detect::{registry, run_all, Context, Identity};
use crate::enrich::sources::Sources;
use crate::eval::{evaluate, DetectionKey, TypeScore};
use crate::ingest::Ingested;
use crate::report::build::detections;
use crate::report::score::{coded_columns, context, scored_interactive};
use crate::rules::{merge, Rules, DEFAULT_RULES};
use crate::synth::Label;

/// Sections the shared context is built from: changing one re-runs every detector.
const SHARED: [&str; 4] = ["networks", "outcomes", "geoip", "anonymous_ip"];

/// One swept setting and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub section: String,
    pub key: String,
    pub values: Vec<toml::Value>,
}

impl Sweep {
    /// Parses `section.key=SPEC`: `LOW..HIGH:STEP` (both ends included; STEP defaults to 1),
    /// or values separated by commas outside brackets (`30,60,240`, `[50126],[50126,50034]`,
    /// `low,medium`). Names are checked against the rules file's keys.
    pub fn parse(spec: &str) -> Result<Sweep, String> {
        let (name, values) = spec.split_once('=').ok_or_else(|| {
            format!("'{spec}': use section.key=VALUES, e.g. password_spray.min_users=4..30:2")
        })?;
        let (section, key) = name
            .trim()
            .split_once('.')
            .ok_or_else(|| format!("'{name}': name a setting as section.key"))?;
        let defaults: toml::Table = toml::from_str(DEFAULT_RULES).map_err(|e| e.to_string())?;
        let table = defaults
            .get(section)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| {
                let known: Vec<&str> = defaults.keys().map(String::as_str).collect();
                format!(
                    "unknown rules section '{section}' (known: {})",
                    known.join(", ")
                )
            })?;
        if section == "files" {
            return Err("the [files] section names enrichment files: nothing to sweep".into());
        }
        let default = table.get(key).ok_or_else(|| {
            let known: Vec<&str> = table.keys().map(String::as_str).collect();
            format!(
                "unknown setting '{key}' in [{section}] (known: {})",
                known.join(", ")
            )
        })?;
        let values = parse_values(values.trim(), default).map_err(|e| format!("'{spec}': {e}"))?;
        if values.is_empty() {
            return Err(format!("'{spec}': no values"));
        }
        Ok(Sweep {
            section: section.to_string(),
            key: key.to_string(),
            values,
        })
    }

    pub fn name(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }
}

/// The values of a sweep, typed like the setting's default.
fn parse_values(text: &str, default: &toml::Value) -> Result<Vec<toml::Value>, String> {
    if let Some((low, rest)) = text.split_once("..") {
        let (high, step) = rest.split_once(':').unwrap_or((rest, "1"));
        let number = |t: &str| -> Result<f64, String> {
            t.trim()
                .parse::<f64>()
                .map_err(|_| format!("'{t}' is not a number"))
        };
        let (low, high, step) = (number(low)?, number(high)?, number(step)?);
        if step.is_nan() || step <= 0.0 || high < low {
            return Err("a range needs LOW ≤ HIGH and a positive STEP".into());
        }
        let count = ((high - low) / step + 1e-9).floor() as usize + 1;
        if count > 10_000 {
            return Err(format!("{count} values: at most 10,000"));
        }
        return (0..count)
            .map(|k| {
                let v = low + k as f64 * step;
                // Rounded to the step's precision, so 0.1 steps do not print 0.30000000000000004.
                let v = (v * 1e9).round() / 1e9;
                typed(&format_number(v), default)
            })
            .collect();
    }
    split_top_level(text)
        .into_iter()
        .map(|t| typed(t.trim(), default))
        .collect()
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Commas outside brackets separate values.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (k, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// A value as TOML, in the default's type (an integer default takes integers only; a
/// string default takes bare words).
fn typed(text: &str, default: &toml::Value) -> Result<toml::Value, String> {
    let parsed: Option<toml::Value> = toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    let value = match (default, parsed) {
        (toml::Value::Float(_), Some(toml::Value::Integer(i))) => toml::Value::Float(i as f64),
        (toml::Value::String(_), None) => toml::Value::String(text.to_string()),
        (_, Some(v)) => v,
        (_, None) => return Err(format!("'{text}' is not a value")),
    };
    if std::mem::discriminant(&value) != std::mem::discriminant(default) {
        return Err(format!(
            "'{text}' is a {}, the setting takes a {}",
            value.type_str(),
            default.type_str()
        ));
    }
    Ok(value)
}

/// How sweeps combine into points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every combination of the sweeps' values.
    Grid,
    /// Each sweep on its own, the other settings at their base values.
    OneAtATime,
}

/// Which point to pick.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Objective {
    /// The highest F1 over the affected types.
    F1,
    /// The highest recall with at most this many false alarms per 10k interactive sign-ins.
    RecallAtFpPer10k(f64),
}

impl Objective {
    pub fn parse(text: &str) -> Result<Objective, String> {
        match text.split_once('=') {
            None if text == "f1" => Ok(Objective::F1),
            Some(("recall_at_fp_per_10k", limit)) => limit
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|l| l.is_finite() && *l >= 0.0)
                .map(Objective::RecallAtFpPer10k)
                .ok_or_else(|| format!("'{limit}' is no false-alarm rate")),
            _ => Err(format!(
                "unknown objective '{text}' (use f1 or recall_at_fp_per_10k=X)"
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Objective::F1 => "f1".into(),
            Objective::RecallAtFpPer10k(l) => format!("recall_at_fp_per_10k={l}"),
        }
    }
}

/// The points of `sweeps`: each a list of (sweep index, value).
pub fn points(sweeps: &[Sweep], mode: Mode) -> Vec<Vec<(usize, toml::Value)>> {
    match mode {
        Mode::OneAtATime => sweeps
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.values.iter().map(move |v| vec![(k, v.clone())]))
            .collect(),
        Mode::Grid => {
            let mut points: Vec<Vec<(usize, toml::Value)>> = vec![Vec::new()];
            for (k, sweep) in sweeps.iter().enumerate() {
                points = points
                    .into_iter()
                    .flat_map(|p| {
                        sweep.values.iter().map(move |v| {
                            let mut next = p.clone();
                            next.push((k, v.clone()));
                            next
                        })
                    })
                    .collect();
            }
            points
        }
    }
}

/// One evaluated point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// `section.key` → value, as the overlay sets them.
    pub settings: BTreeMap<String, Value>,
    /// The evaluation of each affected type.
    pub types: Vec<TypeScore>,
    /// Over the affected types together: labels found over labels, true detections over
    /// detections, false alarms per 10k interactive sign-ins.
    pub recall: f64,
    pub precision: f64,
    pub f1: f64,
    pub false_alarms_per_10k: f64,
    /// No other point has at least its recall with at most its false alarms (and is better
    /// in one).
    pub pareto: bool,
    /// The point the objective picked.
    pub chosen: bool,
}

/// The outcome of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    pub sweeps: Vec<String>,
    pub mode: Mode,
    pub objective: String,
    /// The risk event types the swept sections decide.
    pub affected_types: Vec<String>,
    pub interactive_sign_ins: u64,
    pub points: Vec<Point>,
    /// Index of the chosen point, if any met the objective.
    pub chosen: Option<usize>,
}

/// What a sweep runs on: the loaded input, its enrichment sources and labels.
pub struct Tuner<'a> {
    pub loaded: &'a Ingested,
    pub sources: &'a Sources,
    /// The base rules as an overlay table (the `--rules` file's, or empty).
    pub base: toml::Table,
    pub labels: &'a [Label],
    pub ignored: &'a BTreeSet<(String, String)>,
}

/// The detections of a set of detectors, as evaluation reads them.
type Keys = Vec<DetectionKey>;

impl Tuner<'_> {
    /// The rules of the base with `settings` laid over it.
    pub fn rules_of(&self, settings: &[(&Sweep, &toml::Value)]) -> Result<Rules, String> {
        rules_with(&self.base, settings)
    }

    /// Runs the sweep.
    pub fn run(
        &self,
        sweeps: &[Sweep],
        mode: Mode,
        objective: Objective,
    ) -> Result<Tuning, anyhow::Error> {
        let base_rules = self.rules_of(&[]).map_err(anyhow::Error::msg)?;
        let swept: BTreeSet<&str> = sweeps.iter().map(|s| s.section.as_str()).collect();
        let shared_changes = swept.iter().any(|s| SHARED.contains(s));
        let identities: Vec<Identity> = registry(&base_rules)?
            .iter()
            .map(|d| d.identity())
            .collect();
        let affected: BTreeSet<String> = identities
            .iter()
            .filter(|i| shared_changes || swept.contains(i.id))
            .map(|i| i.risk_event_type.to_string())
            .collect();
        // The base context, and the detections of the detectors no point changes.
        let coded = coded_columns(self.loaded)?;
        let base_enrichment = Enrichment::from_sources(self.sources, &base_rules)?;
        let base_ctx = context(
            self.loaded,
            coded.clone(),
            None,
            &base_rules,
            &base_enrichment,
            None,
        )?;
        let interactive = scored_interactive(&base_ctx) as u64;
        let fixed: Keys = if shared_changes {
            Vec::new()
        } else {
            self.keys_of(&base_rules, &base_ctx, |id| !swept.contains(id))?
        };
        let mut evaluated = Vec::new();
        for point in points(sweeps, mode) {
            let settings: Vec<(&Sweep, &toml::Value)> =
                point.iter().map(|(k, v)| (&sweeps[*k], v)).collect();
            let rules = self.rules_of(&settings).map_err(anyhow::Error::msg)?;
            let mut keys = fixed.clone();
            if shared_changes {
                let enrichment = Enrichment::from_sources(self.sources, &rules)?;
                let ctx = context(self.loaded, coded.clone(), None, &rules, &enrichment, None)?;
                keys.extend(self.keys_of(&rules, &ctx, |_| true)?);
            } else {
                keys.extend(self.keys_of(&rules, &base_ctx, |id| swept.contains(id))?);
            }
            // Unswept detectors' detections first, then the point's: evaluation counts the
            // same either way, since the engine never repeats a (sign-in, type).
            let evaluation = evaluate(self.labels, &keys, self.ignored, Some(interactive));
            let types: Vec<TypeScore> = evaluation
                .types
                .into_iter()
                .filter(|t| affected.contains(&t.risk_event_type))
                .map(|mut t| {
                    t.worst_misses.clear();
                    t.false_alarms.clear();
                    t
                })
                .collect();
            evaluated.push((settings_map(&settings), types));
        }
        Ok(summarise(
            sweeps,
            mode,
            objective,
            affected,
            interactive,
            evaluated,
        ))
    }

    /// The detections of the detectors `keep` admits, run on `ctx`, in `score`'s order.
    fn keys_of(
        &self,
        rules: &Rules,
        ctx: &Context,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Keys, anyhow::Error> {
        let detectors: Vec<_> = registry(rules)?
            .into_iter()
            .filter(|d| keep(d.identity().id))
            .collect();
        let found = run_all(&detectors, ctx);
        let built = detections(ctx, &self.loaded.unread, found.findings)?;
        Ok(built
            .into_iter()
            .map(|d| DetectionKey {
                request_id: d.request_id,
                risk_event_type: d.risk_event_type,
                user_id: d.user_id,
                user_principal_name: d.user_principal_name,
                activity_date_time: None,
                evidence: None,
            })
            .collect())
    }
}

/// The rules of the overlay `base` with `settings` laid over it, validated as a rules file.
pub fn rules_with(
    base: &toml::Table,
    settings: &[(&Sweep, &toml::Value)],
) -> Result<Rules, String> {
    let mut table = base.clone();
    merge(&mut table, overlay(settings));
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    let rules = Rules::parse(&text, "<tune point>").map_err(|e| e.to_string())?;
    // The detectors' sections are checked as the registry builds them.
    registry(&rules).map_err(|e| e.to_string())?;
    Ok(rules)
}

/// The overlay table of some settings.
pub fn overlay(settings: &[(&Sweep, &toml::Value)]) -> toml::Table {
    let mut table = toml::Table::new();
    for (sweep, value) in settings {
        let section = table
            .entry(sweep.section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = section {
            section.insert(sweep.key.clone(), (*value).clone());
        }
    }
    table
}

fn settings_map(settings: &[(&Sweep, &toml::Value)]) -> BTreeMap<String, Value> {
    settings
        .iter()
        .map(|(s, v)| {
            let json = serde_json::to_value(v).unwrap_or(Value::Null);
            (s.name(), json)
        })
        .collect()
}

/// Totals, the Pareto front and the objective's pick.
fn summarise(
    sweeps: &[Sweep],
    mode: Mode,
    objective: Objective,
    affected: BTreeSet<String>,
    interactive: u64,
    evaluated: Vec<(BTreeMap<String, Value>, Vec<TypeScore>)>,
) -> Tuning {
    let points: Vec<Point> = evaluated
        .into_iter()
        .map(|(settings, types)| {
            let sum = |f: fn(&TypeScore) -> u64| types.iter().map(f).sum::<u64>();
            let (labels, found) = (sum(|t| t.labels), sum(|t| t.found));
            let (tp, fp) = (sum(|t| t.true_positives), sum(|t| t.false_positives));
            let recall = if labels == 0 {
                1.0
            } else {
                found as f64 / labels as f64
            };
            let precision = if tp + fp == 0 {
                1.0
            } else {
                tp as f64 / (tp + fp) as f64
            };
            let f1 = if recall + precision > 0.0 {
                2.0 * recall * precision / (recall + precision)
            } else {
                0.0
            };
            let false_alarms_per_10k = if interactive == 0 {
                0.0
            } else {
                fp as f64 * 10_000.0 / interactive as f64
            };
            Point {
                settings,
                types,
                recall,
                precision,
                f1,
                false_alarms_per_10k,
                pareto: false,
                chosen: false,
            }
        })
        .collect();
    let points = mark(points, objective);
    let chosen = points.iter().position(|p| p.chosen);
    Tuning {
        sweeps: sweeps.iter().map(Sweep::name).collect(),
        mode,
        objective: objective.describe(),
        affected_types: affected.into_iter().collect(),
        interactive_sign_ins: interactive,
        points,
        chosen,
    }
}

/// Marks the Pareto front and the point `objective` picks.
fn mark(mut points: Vec<Point>, objective: Objective) -> Vec<Point> {
    let dominated = |p: &Point| {
        points.iter().any(|q| {
            q.recall >= p.recall
                && q.false_alarms_per_10k <= p.false_alarms_per_10k
                && (q.recall > p.recall || q.false_alarms_per_10k < p.false_alarms_per_10k)
        })
    };
    let front: Vec<bool> = points.iter().map(|p| !dominated(p)).collect();
    // Ties go to the earlier point: the sweep's order decides, never chance.
    let mut chosen: Option<usize> = None;
    for (k, p) in points.iter().enumerate() {
        let better = match (objective, chosen.map(|c| &points[c])) {
            (Objective::RecallAtFpPer10k(limit), _) if p.false_alarms_per_10k > limit => false,
            (_, None) => true,
            (Objective::F1, Some(best)) => p.f1 > best.f1,
            (Objective::RecallAtFpPer10k(_), Some(best)) => {
                p.recall > best.recall
                    || (p.recall == best.recall
                        && p.false_alarms_per_10k < best.false_alarms_per_10k)
            }
        };
        if better {
            chosen = Some(k);
        }
    }
    for (k, (p, on)) in points.iter_mut().zip(front).enumerate() {
        p.pareto = on;
        p.chosen = chosen == Some(k);
    }
    points
}

/// The rules overlay of a point: the base overlay with the point's settings laid over it,
/// headed by what chose it.
pub fn overlay_text(base: &toml::Table, tuning: &Tuning, point: &Point) -> String {
    let mut table = base.clone();
    let mut settings = toml::Table::new();
    for (name, value) in &point.settings {
        if let (Some((section, key)), Ok(value)) =
            (name.split_once('.'), toml::Value::try_from(value.clone()))
        {
            let entry = settings
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(entry) = entry {
                entry.insert(key.to_string(), value);
            }
        }
    }
    merge(&mut table, settings);
    let mut text = format!(
        "# Written by idrisk tune: the point {} picks ({}).\n# recall {:.3}, precision {:.3}, F1 {:.3}, {:.2} false alarms per 10k interactive sign-ins over {}.\n\n",
        tuning.objective,
        point
            .settings
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        point.recall,
        point.precision,
        point.f1,
        point.false_alarms_per_10k,
        tuning.affected_types.join(", "),
    );
    text.push_str(&toml::to_string(&table).unwrap_or_default());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_parse_ranges_lists_and_typed_values_and_reject_unknown_names() {
        let s = Sweep::parse("password_spray.min_users=4..10:2").unwrap();
        assert_eq!(s.values, [4, 6, 8, 10].map(toml::Value::Integer));
        let s = Sweep::parse("atypical_travel.min_speed_kmh=500..800:150").unwrap();
        assert_eq!(s.values, [500.0, 650.0, 800.0].map(toml::Value::Float));
        let s = Sweep::parse("new_country.rare_share=0.1..0.3:0.1").unwrap();
        assert_eq!(s.values, [0.1, 0.2, 0.3].map(toml::Value::Float));
        let s = Sweep::parse("outcomes.credential_failure=[50126],[50126, 50034]").unwrap();
        assert_eq!(s.values.len(), 2);
        let s = Sweep::parse("password_spray.level=low,high").unwrap();
        assert_eq!(s.values[1], toml::Value::String("high".into()));
        for bad in [
            "password_spray.min_user=4..30",
            "spray.min_users=4",
            "password_spray.min_users=4.5",
            "password_spray.min_users=10..4",
            "password_spray.by_asn=maybe",
            "files.threat_intel=[]",
            "min_users=4",
        ] {
            assert!(Sweep::parse(bad).is_err(), "{bad}");
        }
        let e = Sweep::parse("password_spray.min_user=4").unwrap_err();
        assert!(e.contains("min_users"), "{e}");
    }

    #[test]
    fn a_grid_is_every_combination_and_one_at_a_time_is_each_sweep_alone() {
        let a = Sweep::parse("password_spray.min_users=4,8,12").unwrap();
        let b = Sweep::parse("password_spray.window_minutes=30,60").unwrap();
        let grid = points(&[a.clone(), b.clone()], Mode::Grid);
        assert_eq!(grid.len(), 6);
        assert_eq!(
            grid[1],
            vec![(0, toml::Value::Integer(4)), (1, toml::Value::Integer(60))]
        );
        assert_eq!(points(&[a, b], Mode::OneAtATime).len(), 5);
    }

    #[test]
    fn the_front_keeps_undominated_points_and_the_objective_picks_within_its_limit() {
        let make = |recall: f64, fa: f64, f1: f64| Point {
            settings: BTreeMap::new(),
            types: Vec::new(),
            recall,
            precision: 0.0,
            f1,
            false_alarms_per_10k: fa,
            pareto: false,
            chosen: false,
        };
        let raw = vec![
            make(0.5, 0.1, 0.6),
            make(0.7, 0.5, 0.7),
            make(0.6, 0.6, 0.65),
            make(0.9, 2.0, 0.8),
            make(0.7, 0.5, 0.7),
        ];
        let rank = |objective| {
            let marked = mark(raw.clone(), objective);
            (
                marked.iter().map(|p| p.pareto).collect::<Vec<_>>(),
                marked.iter().position(|p| p.chosen),
            )
        };
        let (front, chosen) = rank(Objective::RecallAtFpPer10k(1.0));
        assert_eq!(front, [true, true, false, true, true]);
        assert_eq!(chosen, Some(1), "ties go to the earlier point");
        assert_eq!(rank(Objective::F1).1, Some(3));
        assert_eq!(rank(Objective::RecallAtFpPer10k(0.01)).1, None);
    }
}
