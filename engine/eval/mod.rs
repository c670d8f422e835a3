//! Detection quality against ground-truth labels.
//!
//! A label describes one attack (see [`crate::synth::Label`]): its sign-ins, the type a
//! defender most wants raised (primary) and others that describe it rightly (allowed).
//! - **Recall** of a type counts labels whose primary it is: a label is found when a
//!   detection of its primary type lands on any of its sign-ins (user-level labels: on its
//!   user).
//! - **Precision** counts detections: one is true when it lands on a labelled sign-in (or
//!   user) with its primary or an allowed type, ignored when the (sign-in, type) pair is on
//!   an ignore list, false otherwise. A detection repeating an earlier one (same sign-in or
//!   user, same type) is a duplicate and a false alarm.
//! - **False alarms per 10k** interactive sign-ins scored, when the run's `summary.json` is
//!   beside the detections.
//!
//! Version 1 labels (one expected (sign-in, type) pair a line) read as labels with one
//! sign-in and nothing allowed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::synth::Label;

/// The fields of a detection that evaluation needs; any output format carries them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionKey {
    pub request_id: Option<String>,
    pub risk_event_type: String,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub activity_date_time: Option<String>,
    #[serde(default)]
    pub evidence: Option<Value>,
}

/// Errors reading labels or detections.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read '{path}': {message}")]
    Read { path: PathBuf, message: String },
    #[error("no detections file in '{0}' (expected detections.jsonl, .csv or .parquet; run `idrisk score --out DIR` first)")]
    NoDetections(PathBuf),
}

fn read_error(path: &Path, message: impl ToString) -> EvalError {
    EvalError::Read {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads `labels.jsonl`.
pub fn read_labels(path: &Path) -> Result<Vec<Label>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| read_error(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// Finds the detections file in a directory (or takes the file given).
pub fn detections_path(path: &Path) -> Result<PathBuf, EvalError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    ["detections.jsonl", "detections.csv", "detections.parquet"]
        .iter()
        .map(|name| path.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| EvalError::NoDetections(path.to_path_buf()))
}

/// Reads detections in any output format (by extension).
pub fn read_detections(path: &Path) -> Result<Vec<DetectionKey>, EvalError> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "csv" => {
            let mut reader = ::csv::Reader::from_path(path).map_err(|e| read_error(path, e))?;
            let mut out = Vec::new();
            for row in reader.deserialize::<BTreeMap<String, String>>() {
                let row = row.map_err(|e| read_error(path, e))?;
                out.push(from_text_map(&row));
            }
            Ok(out)
        }
        "parquet" => {
            let file = File::open(path).map_err(|e| read_error(path, e))?;
            let frame = ParquetReader::new(file)
                .finish()
                .map_err(|e| read_error(path, e))?;
            let text = |name: &str| -> Vec<Option<String>> {
                match frame.column(name).ok().and_then(|c| c.str().ok()) {
                    Some(ca) => ca.iter().map(|v| v.map(String::from)).collect(),
                    None => vec![None; frame.height()],
                }
            };
            let (ids, types, users, upns, evidence) = (
                text("requestId"),
                text("riskEventType"),
                text("userId"),
                text("userPrincipalName"),
                text("evidence"),
            );
            Ok((0..frame.height())
                .map(|i| DetectionKey {
                    request_id: ids[i].clone(),
                    risk_event_type: types[i].clone().unwrap_or_default(),
                    user_id: users[i].clone(),
                    user_principal_name: upns[i].clone(),
                    activity_date_time: None,
                    evidence: evidence[i]
                        .as_deref()
                        .and_then(|e| serde_json::from_str(e).ok()),
                })
                .collect())
        }
        _ => {
            let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, line)| {
                    serde_json::from_str(line)
                        .map_err(|e| read_error(path, format!("line {}: {e}", i + 1)))
                })
                .collect()
        }
    }
}

fn from_text_map(row: &BTreeMap<String, String>) -> DetectionKey {
    let get = |k: &str| row.get(k).filter(|v| !v.is_empty()).cloned();
    DetectionKey {
        request_id: get("requestId"),
        risk_event_type: get("riskEventType").unwrap_or_default(),
        user_id: get("userId"),
        user_principal_name: get("userPrincipalName"),
        activity_date_time: get("activityDateTime"),
        evidence: get("evidence").and_then(|e| serde_json::from_str(&e).ok()),
    }
}

/// Reads ignore lists: JSON lines naming a sign-in and a type (`request_id` or
/// `requestId`, `risk_event_type` or `riskEventType`), as `ignore.jsonl` from `idrisk synth`.
pub fn read_ignored(paths: &[PathBuf]) -> Result<BTreeSet<(String, String)>, EvalError> {
    let mut pairs = BTreeSet::new();
    for path in paths {
        pairs.extend(read_ignore_file(path)?);
    }
    Ok(pairs)
}

fn read_ignore_file(path: &Path) -> Result<BTreeSet<(String, String)>, EvalError> {
    #[derive(Deserialize)]
    struct Pair {
        #[serde(alias = "requestId")]
        request_id: String,
        #[serde(alias = "riskEventType")]
        risk_event_type: String,
    }
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<Pair>(line)
                .map(|p| (p.request_id, p.risk_event_type))
                .map_err(|e| read_error(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// The number of interactive sign-ins a run scored, from the `summary.json` beside its
/// detections (none when there is no summary or it predates the count).
pub fn scored_interactive(detections: &Path) -> Option<u64> {
    let dir = if detections.is_dir() {
        detections
    } else {
        detections.parent()?
    };
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let summary: Value = serde_json::from_str(&text).ok()?;
    summary["input"]["scored_interactive"].as_u64()
}

/// Quality of one risk event type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScore {
    pub risk_event_type: String,
    /// Labels whose primary type this is, and how many of them a detection found.
    pub labels: u64,
    pub found: u64,
    /// Detections on a labelled sign-in or user with this type primary or allowed.
    pub true_positives: u64,
    /// Detections that are no label's (duplicates included).
    pub false_positives: u64,
    /// Labels not found.
    pub false_negatives: u64,
    /// Detections that repeat an earlier one (same sign-in or user, same type); each is
    /// also counted among the false positives.
    pub duplicates: u64,
    /// Detections on an ignored (sign-in, type) pair.
    pub ignored: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// False positives per 10,000 interactive sign-ins scored.
    pub false_alarms_per_10k: Option<f64>,
    /// A few labels no detection found.
    pub worst_misses: Vec<Value>,
    /// A few detections no label matched, with their evidence.
    pub false_alarms: Vec<Value>,
}

/// Recall of one kind of attack: a scenario's variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioScore {
    pub scenario: String,
    pub variant: String,
    pub risk_event_type: String,
    pub labels: u64,
    pub found: u64,
    pub recall: f64,
    /// The parameters of a few attacks that were missed.
    pub misses: Vec<Value>,
}

/// The evaluation of one detections file against labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub types: Vec<TypeScore>,
    pub scenarios: Vec<ScenarioScore>,
    pub labels: u64,
    pub detections: u64,
    pub ignored: u64,
    pub interactive_sign_ins: Option<u64>,
}

/// One type's counts while detections are matched.
#[derive(Debug, Clone, Default)]
struct Tally {
    true_positives: u64,
    false_positives: u64,
    duplicates: u64,
    ignored: u64,
    false_alarms: Vec<Value>,
}

/// How many misses and false alarms each type lists.
const EXAMPLES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    SignIn(String, String),
    User(String, String),
}

fn user_keys(id: Option<&str>, upn: Option<&str>) -> Vec<String> {
    id.map(str::to_string)
        .into_iter()
        .chain(upn.map(str::to_lowercase))
        .collect()
}

/// A label as misses show it.
fn summary_of(label: &Label) -> Value {
    serde_json::json!({
        "scenario_id": label.scenario_id,
        "variant": label.variant,
        "parameters": label.parameters,
        "request_id": label.request_id,
        "user_principal_name": label.user_principal_name,
        "time": label.time,
    })
}

/// Matches detections to labels. `ignored`: (request id, type) pairs that count neither
/// way; `interactive`: interactive sign-ins scored, for false alarms per 10k.
pub fn evaluate(
    labels: &[Label],
    detections: &[DetectionKey],
    ignored: &BTreeSet<(String, String)>,
    interactive: Option<u64>,
) -> Evaluation {
    // Which labels each sign-in belongs to; user-level labels by user and type.
    let mut on_sign_in: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut on_user: BTreeMap<Key, usize> = BTreeMap::new();
    for (k, label) in labels.iter().enumerate() {
        let mut any = false;
        for id in label.sign_ins() {
            on_sign_in.entry(id.as_str()).or_default().push(k);
            any = true;
        }
        if !any {
            for user in user_keys(
                label.user_id.as_deref(),
                label.user_principal_name.as_deref(),
            ) {
                on_user.insert(Key::User(user, label.risk_event_type.clone()), k);
            }
        }
    }
    let mut found = vec![false; labels.len()];
    let mut per_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut seen: BTreeSet<Key> = BTreeSet::new();
    let mut ignored_count = 0;
    for d in detections {
        let kind = &d.risk_event_type;
        let entry = per_type.entry(kind.clone()).or_default();
        let users = user_keys(d.user_id.as_deref(), d.user_principal_name.as_deref());
        // A detection that repeats an earlier one is a fault of the engine: a duplicate and
        // a false alarm, whether or not the first one matched a label.
        let own_key = match &d.request_id {
            Some(id) => Some(Key::SignIn(id.clone(), kind.clone())),
            None => users.first().map(|u| Key::User(u.clone(), kind.clone())),
        };
        if let Some(key) = own_key {
            if !seen.insert(key) {
                entry.duplicates += 1;
                entry.false_positives += 1;
                continue;
            }
        }
        let right = match &d.request_id {
            Some(id) => {
                if ignored.contains(&(id.clone(), kind.clone())) {
                    entry.ignored += 1;
                    ignored_count += 1;
                    continue;
                }
                let mut right = false;
                for &k in on_sign_in.get(id.as_str()).map_or(&[][..], Vec::as_slice) {
                    let label = &labels[k];
                    if &label.risk_event_type == kind {
                        found[k] = true;
                        right = true;
                    } else if label.allowed_risk_event_types.contains(kind) {
                        right = true;
                    }
                }
                right
            }
            None => match users
                .iter()
                .find_map(|u| on_user.get(&Key::User(u.clone(), kind.clone())))
            {
                Some(&k) => {
                    found[k] = true;
                    true
                }
                None => false,
            },
        };
        if right {
            entry.true_positives += 1;
        } else {
            entry.false_positives += 1;
            if entry.false_alarms.len() < EXAMPLES {
                entry.false_alarms.push(serde_json::json!({
                    "requestId": d.request_id,
                    "userPrincipalName": d.user_principal_name,
                    "activityDateTime": d.activity_date_time,
                    "evidence": d.evidence,
                }));
            }
        }
    }
    // Labels per primary type and per (scenario, variant, primary type): how many, how
    // many found, a few missed.
    type Found = (u64, u64, Vec<Value>);
    let mut per_label_type: BTreeMap<&str, Found> = BTreeMap::new();
    let mut per_scenario: BTreeMap<(&str, &str, &str), Found> = BTreeMap::new();
    for (k, label) in labels.iter().enumerate() {
        let t = per_label_type
            .entry(label.risk_event_type.as_str())
            .or_default();
        let s = per_scenario
            .entry((
                label.scenario.as_str(),
                label.variant.as_str(),
                label.risk_event_type.as_str(),
            ))
            .or_default();
        t.0 += 1;
        s.0 += 1;
        if found[k] {
            t.1 += 1;
            s.1 += 1;
        } else {
            if t.2.len() < EXAMPLES {
                t.2.push(summary_of(label));
            }
            if s.2.len() < EXAMPLES {
                s.2.push(Value::Object(label.parameters.clone()));
            }
        }
    }
    let kinds: BTreeSet<&str> = per_type
        .keys()
        .map(String::as_str)
        .chain(per_label_type.keys().copied())
        .collect();
    let types = kinds
        .into_iter()
        .map(|kind| {
            let tally = per_type.get(kind).cloned().unwrap_or_default();
            let (wanted, hit, misses) = per_label_type.get(kind).cloned().unwrap_or_default();
            let precision = ratio(
                tally.true_positives,
                tally.true_positives + tally.false_positives,
            );
            let recall = ratio(hit, wanted);
            TypeScore {
                risk_event_type: kind.to_string(),
                labels: wanted,
                found: hit,
                true_positives: tally.true_positives,
                false_positives: tally.false_positives,
                false_negatives: wanted - hit,
                duplicates: tally.duplicates,
                ignored: tally.ignored,
                precision,
                recall,
                f1: f1(precision, recall),
                false_alarms_per_10k: interactive
                    .filter(|&n| n > 0)
                    .map(|n| tally.false_positives as f64 * 10_000.0 / n as f64),
                worst_misses: misses,
                false_alarms: tally.false_alarms,
            }
        })
        .collect();
    let scenarios = per_scenario
        .into_iter()
        .map(
            |((scenario, variant, kind), (wanted, hit, misses))| ScenarioScore {
                scenario: scenario.to_string(),
                variant: variant.to_string(),
                risk_event_type: kind.to_string(),
                labels: wanted,
                found: hit,
                recall: ratio(hit, wanted),
                misses,
            },
        )
        .collect();
    Evaluation {
        types,
        scenarios,
        labels: labels.len() as u64,
        detections: detections.len() as u64,
        ignored: ignored_count,
        interactive_sign_ins: interactive,
    }
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// `0/0` is taken as 1: no detections and nothing to detect is a perfect score.
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        1.0
    } else {
        numerator as f64 / denominator as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 label: one (sign-in, type) pair.
    fn label(request: Option<&str>, kind: &str) -> Label {
        Label {
            version: 1,
            scenario_id: "s-0".into(),
            scenario: "s".into(),
            variant: String::new(),
            parameters: Default::default(),
            risk_event_type: kind.into(),
            allowed_risk_event_types: Vec::new(),
            request_id: request.map(String::from),
            request_ids: Vec::new(),
            user_id: Some("u1".into()),
            user_principal_name: Some("Ada@Contoso.com".into()),
            time: "2025-03-01T00:00:00.000000Z".into(),
            malicious: true,
        }
    }

    fn detection(request: Option<&str>, kind: &str) -> DetectionKey {
        DetectionKey {
            request_id: request.map(String::from),
            risk_event_type: kind.into(),
            user_principal_name: Some("ada@contoso.com".into()),
            ..DetectionKey::default()
        }
    }

    #[test]
    fn counts_hits_false_alarms_and_misses_per_type() {
        let labels = [
            label(Some("a"), "unlikelyTravel"),
            label(Some("b"), "unlikelyTravel"),
            label(None, "leakedCredentials"),
        ];
        let detections = [
            detection(Some("a"), "unlikelyTravel"),
            detection(Some("c"), "unlikelyTravel"),
            detection(None, "leakedCredentials"),
            detection(Some("a"), "newCountry"),
        ];
        let e = evaluate(&labels, &detections, &BTreeSet::new(), None);
        let travel = e
            .types
            .iter()
            .find(|t| t.risk_event_type == "unlikelyTravel")
            .unwrap();
        assert_eq!(
            (
                travel.true_positives,
                travel.false_positives,
                travel.false_negatives
            ),
            (1, 1, 1)
        );
        assert!((travel.f1 - 0.5).abs() < 1e-9);
        let leaked = e
            .types
            .iter()
            .find(|t| t.risk_event_type == "leakedCredentials")
            .unwrap();
        assert_eq!(
            leaked.f1, 1.0,
            "user-level labels match by principal name in any case"
        );
        let new_country = e
            .types
            .iter()
            .find(|t| t.risk_event_type == "newCountry")
            .unwrap();
        assert_eq!(new_country.precision, 0.0);
    }

    #[test]
    fn a_repeated_detection_is_a_duplicate_and_a_false_alarm() {
        let labels = [
            label(Some("a"), "passwordSpray"),
            label(None, "leakedCredentials"),
        ];
        let detections = [
            detection(Some("a"), "passwordSpray"),
            detection(Some("a"), "passwordSpray"),
            detection(Some("a"), "passwordSpray"),
            detection(None, "leakedCredentials"),
            detection(None, "leakedCredentials"),
        ];
        let e = evaluate(&labels, &detections, &BTreeSet::new(), None);
        for t in &e.types {
            assert_eq!(t.true_positives, 1, "{}", t.risk_event_type);
        }
        let spray = &e.types[1];
        assert_eq!(spray.risk_event_type, "passwordSpray");
        assert_eq!((spray.duplicates, spray.false_positives), (2, 2));
        assert!((spray.precision - 1.0 / 3.0).abs() < 1e-9);
        let leaked = &e.types[0];
        assert_eq!((leaked.duplicates, leaked.false_positives), (1, 1));
    }

    #[test]
    fn an_attack_is_found_on_any_of_its_sign_ins_and_allowed_types_are_no_false_alarms() {
        let spray = Label {
            version: 2,
            scenario_id: "password_spray-3".into(),
            variant: "one_asn".into(),
            allowed_risk_event_types: vec!["unfamiliarFeatures".into()],
            request_ids: vec!["f1".into(), "f2".into(), "s1".into()],
            ..label(Some("s1"), "passwordSpray")
        };
        let missed = Label {
            scenario_id: "password_spray-4".into(),
            request_ids: vec!["f3".into(), "s2".into()],
            ..spray.clone()
        };
        let detections = [
            detection(Some("s1"), "passwordSpray"),
            detection(Some("s1"), "unfamiliarFeatures"),
            detection(Some("s1"), "newCountry"),
            detection(Some("home"), "unlikelyTravel"),
            detection(Some("elsewhere"), "unlikelyTravel"),
        ];
        let ignored: BTreeSet<(String, String)> =
            [("home".to_string(), "unlikelyTravel".to_string())].into();
        let e = evaluate(&[spray, missed], &detections, &ignored, Some(20_000));
        let of = |kind: &str| e.types.iter().find(|t| t.risk_event_type == kind).unwrap();
        let spray = of("passwordSpray");
        assert_eq!(
            (spray.labels, spray.found, spray.false_negatives),
            (2, 1, 1)
        );
        assert_eq!((spray.true_positives, spray.false_positives), (1, 0));
        assert_eq!(of("unfamiliarFeatures").precision, 1.0);
        assert_eq!(of("unfamiliarFeatures").labels, 0);
        assert_eq!(of("newCountry").false_positives, 1, "not an allowed type");
        let travel = of("unlikelyTravel");
        assert_eq!((travel.ignored, travel.false_positives), (1, 1));
        assert_eq!(travel.false_alarms_per_10k, Some(0.5));
        assert_eq!(e.ignored, 1);
        assert_eq!(e.scenarios.len(), 1);
        assert_eq!((e.scenarios[0].labels, e.scenarios[0].found), (2, 1));
        assert_eq!(e.scenarios[0].variant, "one_asn");
    }
}
