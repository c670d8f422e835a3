//! Detection quality against ground-truth labels: per risk event type, true and false
//! positives, misses, precision, recall and F1, with the worst misses and false alarms.
//!
//! Sign-in detections match labels by (request id, risk event type); user-level detections
//! (no request id) by (user, risk event type), the user being the id or the lowercased
//! principal name.

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

/// Quality of one risk event type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScore {
    pub risk_event_type: String,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    /// Detections that repeat an earlier one (same sign-in or user, same type); each is
    /// also counted among the false positives.
    pub duplicates: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// A few labels no detection matched.
    pub worst_misses: Vec<Label>,
    /// A few detections no label matched, with their evidence.
    pub false_alarms: Vec<Value>,
}

/// The evaluation of one detections file against labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub types: Vec<TypeScore>,
    pub labels: u64,
    pub detections: u64,
}

/// One type's counts while detections are matched.
#[derive(Debug, Clone, Default)]
struct Tally {
    true_positives: u64,
    false_positives: u64,
    duplicates: u64,
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

/// Matches detections to labels.
pub fn evaluate(labels: &[Label], detections: &[DetectionKey]) -> Evaluation {
    let mut label_keys: BTreeMap<Key, &Label> = BTreeMap::new();
    for label in labels {
        match &label.request_id {
            Some(id) => {
                label_keys.insert(
                    Key::SignIn(id.clone(), label.risk_event_type.clone()),
                    label,
                );
            }
            None => {
                for user in user_keys(
                    label.user_id.as_deref(),
                    label.user_principal_name.as_deref(),
                ) {
                    label_keys.insert(Key::User(user, label.risk_event_type.clone()), label);
                }
            }
        }
    }
    let mut matched: BTreeSet<*const Label> = BTreeSet::new();
    let mut per_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut seen: BTreeSet<Key> = BTreeSet::new();
    for d in detections {
        let entry = per_type.entry(d.risk_event_type.clone()).or_default();
        // A detection that repeats an earlier one (same sign-in or user, same type) is a
        // fault of the engine: counted as a duplicate and as a false alarm, whether or not
        // the first one matched a label.
        let own_key = match &d.request_id {
            Some(id) => Some(Key::SignIn(id.clone(), d.risk_event_type.clone())),
            None => user_keys(d.user_id.as_deref(), d.user_principal_name.as_deref())
                .into_iter()
                .next()
                .map(|u| Key::User(u, d.risk_event_type.clone())),
        };
        if let Some(key) = own_key {
            if !seen.insert(key) {
                entry.duplicates += 1;
                entry.false_positives += 1;
                continue;
            }
        }
        let hit = match &d.request_id {
            Some(id) => label_keys
                .get(&Key::SignIn(id.clone(), d.risk_event_type.clone()))
                .copied(),
            None => user_keys(d.user_id.as_deref(), d.user_principal_name.as_deref())
                .into_iter()
                .find_map(|u| {
                    label_keys
                        .get(&Key::User(u, d.risk_event_type.clone()))
                        .copied()
                }),
        };
        match hit {
            Some(label) if matched.insert(label as *const Label) => entry.true_positives += 1,
            // Another detection of a label already matched under another key (its user by id
            // and by name): not a new true positive.
            Some(_) => {}
            None => {
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
    }
    let mut misses: BTreeMap<String, (u64, Vec<Label>)> = BTreeMap::new();
    for label in labels {
        let entry = misses.entry(label.risk_event_type.clone()).or_default();
        if !matched.contains(&(label as *const Label)) {
            entry.0 += 1;
            if entry.1.len() < EXAMPLES {
                entry.1.push(label.clone());
            }
        }
    }
    let kinds: BTreeSet<&String> = per_type.keys().chain(misses.keys()).collect();
    let types = kinds
        .into_iter()
        .map(|kind| {
            let Tally {
                true_positives: tp,
                false_positives: fp,
                duplicates,
                false_alarms: alarms,
            } = per_type.get(kind).cloned().unwrap_or_default();
            let (fn_, missed) = misses.get(kind).cloned().unwrap_or_default();
            let precision = ratio(tp, tp + fp);
            let recall = ratio(tp, tp + fn_);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            TypeScore {
                risk_event_type: kind.clone(),
                true_positives: tp,
                false_positives: fp,
                false_negatives: fn_,
                duplicates,
                precision,
                recall,
                f1,
                worst_misses: missed,
                false_alarms: alarms,
            }
        })
        .collect();
    Evaluation {
        types,
        labels: labels.len() as u64,
        detections: detections.len() as u64,
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

    fn label(request: Option<&str>, kind: &str) -> Label {
        Label {
            scenario_id: "s-0".into(),
            scenario: "s".into(),
            risk_event_type: kind.into(),
            request_id: request.map(String::from),
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
        let e = evaluate(&labels, &detections);
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
        let e = evaluate(&labels, &detections);
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
}
