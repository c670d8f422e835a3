//! Detections and their aggregates in Identity Protection's shapes, and the files they go to.
//!
//! [`Detection`] is Graph's `riskDetection` plus `report`, `detector` and `evidence`;
//! [`risky_signins`] and [`risky_users`] aggregate detections per the output contract;
//! [`write`] turns any of these tables into JSONL, CSV or Parquet.

pub mod build;
pub mod html;
pub mod merge;
pub mod read;
pub mod score;
pub mod timeline;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use write::{
    stage_table, write_quarantine_jsonl, write_table, write_tables, Format, Kind, Record, Staged,
};

pub use crate::detect::Level as RiskLevel;

use crate::frame::col;

/// The canonical columns [`build`] reads for a detection's sign-in, beyond the detectors'.
pub const COLUMNS: &[&str] = &[
    col::request_id,
    col::correlation_id,
    col::user_id,
    col::user_principal_name,
    col::user_display_name,
    col::ip_address,
    col::country,
    col::state,
    col::city,
    col::latitude,
    col::longitude,
    col::user_agent,
    col::token_issuer_type,
];

/// Graph's `signInLocation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLocation {
    pub city: Option<String>,
    pub state: Option<String>,
    pub country_or_region: Option<String>,
    pub geo_coordinates: Option<GeoCoordinates>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoCoordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// One risk detection: Graph's `riskDetection` fields plus `report`, `detector`, `evidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// Stable hash of (detector, request id or user, evidence keys).
    pub id: String,
    /// The sign-in's id; none for user-level detections.
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    pub risk_event_type: String,
    /// Always `atRisk` for a fresh detection.
    pub risk_state: String,
    pub risk_level: RiskLevel,
    /// Always `none` for a fresh detection.
    pub risk_detail: String,
    /// Always `idrisk`.
    pub source: String,
    /// `realtime`, `nearRealtime`, `offline` or `notDefined`.
    pub detection_timing_type: String,
    /// `signin` or `user`.
    pub activity: String,
    pub token_issuer_type: Option<String>,
    pub ip_address: Option<String>,
    pub location: Option<SignInLocation>,
    /// When the risky activity happened (RFC 3339, UTC).
    pub activity_date_time: String,
    /// When the evidence was complete: the time of the event that completed it, never the
    /// wall clock.
    pub detected_date_time: String,
    pub last_updated_date_time: String,
    pub user_id: Option<String>,
    pub user_display_name: Option<String>,
    pub user_principal_name: Option<String>,
    /// JSON text: a list of `{"Key":…,"Value":…}` pairs, as Microsoft writes it.
    pub additional_info: String,
    /// The anomalous-activity report the detection belongs to.
    pub report: String,
    /// The detector id that produced it.
    pub detector: String,
    /// The numbers that made it fire.
    pub evidence: Value,
}

impl Detection {
    /// The user key the aggregates group by: user id, else principal name.
    pub fn user_key(&self) -> Option<&str> {
        self.user_id
            .as_deref()
            .or(self.user_principal_name.as_deref())
    }
}

/// Builds `additionalInfo` text from Key/Value pairs.
pub fn additional_info<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> String {
    /// One pair as Microsoft writes it, serialised without building a JSON object first.
    #[derive(Serialize)]
    struct Pair<'a> {
        #[serde(rename = "Key")]
        key: &'a str,
        #[serde(rename = "Value")]
        value: Value,
    }
    let list: Vec<Pair<'_>> = pairs
        .into_iter()
        .map(|(key, value)| Pair { key, value })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// One sign-in that has detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskySignIn {
    /// The sign-in's id.
    pub id: String,
    pub created_date_time: String,
    pub user_id: Option<String>,
    pub user_display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub ip_address: Option<String>,
    pub location: Option<SignInLocation>,
    /// The highest level among its detections.
    pub risk_level_aggregated: RiskLevel,
    pub risk_state: String,
    /// Its detections' types, sorted.
    #[serde(rename = "riskEventTypes_v2")]
    pub risk_event_types_v2: Vec<String>,
    /// Its detections' ids, sorted.
    pub detection_ids: Vec<String>,
}

/// Graph's `riskyUser`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskyUser {
    /// The user's id (principal name when the export had no id).
    pub id: String,
    pub is_deleted: bool,
    pub is_processing: bool,
    pub risk_detail: String,
    /// The latest detection's activity time.
    pub risk_last_updated_date_time: String,
    pub risk_level: RiskLevel,
    pub risk_state: String,
    pub user_display_name: Option<String>,
    pub user_principal_name: Option<String>,
    /// Distinct detection types that hit the user, sorted.
    pub risk_event_types: Vec<String>,
    pub detection_count: u64,
}

/// Graph's `riskyServicePrincipal`: a workload identity with detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskyServicePrincipal {
    /// The service principal's object id.
    pub id: String,
    pub app_id: Option<String>,
    pub display_name: Option<String>,
    /// `application` (managed identities are out of scope).
    pub service_principal_type: String,
    pub risk_level: RiskLevel,
    pub risk_state: String,
    pub risk_detail: String,
    /// The latest detection's activity time.
    pub risk_last_updated_date_time: String,
    pub is_processing: bool,
    pub is_enabled: bool,
    /// Distinct detection types, sorted.
    pub risk_event_types: Vec<String>,
    pub detection_count: u64,
}

/// Risky service principals: the highest level among a principal's detections (those whose
/// activity is `servicePrincipal`, which name the principal in their evidence); sorted by id.
pub fn risky_service_principals(detections: &[Detection]) -> Vec<RiskyServicePrincipal> {
    let mut by_principal: BTreeMap<&str, Vec<&Detection>> = BTreeMap::new();
    for d in detections
        .iter()
        .filter(|d| d.activity == "servicePrincipal")
    {
        if let Some(id) = d.evidence["servicePrincipalId"].as_str() {
            by_principal.entry(id).or_default().push(d);
        }
    }
    by_principal
        .into_iter()
        .map(|(id, ds)| {
            let text = |key: &str| ds.iter().find_map(|d| d.evidence[key].as_str());
            RiskyServicePrincipal {
                id: id.to_string(),
                app_id: text("appId").map(String::from),
                display_name: text("servicePrincipalName").map(String::from),
                service_principal_type: "application".into(),
                risk_level: ds
                    .iter()
                    .map(|d| d.risk_level)
                    .max()
                    .unwrap_or(RiskLevel::Low),
                risk_state: "atRisk".into(),
                risk_detail: "none".into(),
                risk_last_updated_date_time: ds
                    .iter()
                    .map(|d| d.activity_date_time.as_str())
                    .max()
                    .unwrap_or_default()
                    .to_string(),
                is_processing: false,
                is_enabled: true,
                risk_event_types: ds
                    .iter()
                    .map(|d| d.risk_event_type.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                detection_count: ds.len() as u64,
            }
        })
        .collect()
}

/// Risky sign-ins: one row per sign-in with detections, sorted by time then id. (A sign-in's
/// detections all carry its time as their activity time.)
pub fn risky_signins(detections: &[Detection]) -> Vec<RiskySignIn> {
    use rayon::prelude::*;
    // One sort of (time, sign-in id, detection) puts the table in order with each sign-in's
    // detections together: cheaper than a map of a hundred thousand text keys, and the rows
    // are then built in parallel, in place.
    // The time's bytes sit in the key itself: a sort that followed every time's pointer
    // would wait on memory at each comparison.
    let mut keyed: Vec<([u8; 32], &str, &str, usize)> = detections
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let time = d.activity_date_time.as_str();
            let mut prefix = [0u8; 32];
            let n = time.len().min(32);
            prefix[..n].copy_from_slice(&time.as_bytes()[..n]);
            Some((prefix, time, d.request_id.as_deref()?, i))
        })
        .collect();
    keyed.par_sort_unstable();
    let groups: Vec<_> = keyed.chunk_by(|a, b| a.2 == b.2).collect();
    groups
        .into_par_iter()
        .map(|group| {
            let ds: Vec<&Detection> = group.iter().map(|&(.., i)| &detections[i]).collect();
            let first = ds[0];
            let types: BTreeSet<&str> = ds.iter().map(|d| d.risk_event_type.as_str()).collect();
            let mut ids: Vec<String> = ds.iter().map(|d| d.id.clone()).collect();
            ids.sort();
            RiskySignIn {
                id: first.request_id.clone().unwrap_or_default(),
                created_date_time: first.activity_date_time.clone(),
                user_id: first.user_id.clone(),
                user_display_name: first.user_display_name.clone(),
                user_principal_name: first.user_principal_name.clone(),
                ip_address: first.ip_address.clone(),
                location: first.location.clone(),
                risk_level_aggregated: ds
                    .iter()
                    .map(|d| d.risk_level)
                    .max()
                    .unwrap_or(RiskLevel::Low),
                risk_state: "atRisk".into(),
                risk_event_types_v2: types.into_iter().map(String::from).collect(),
                detection_ids: ids,
            }
        })
        .collect()
}

/// Risky users: the highest level among a user's detections, raised one step when three or
/// more distinct types hit the user; sorted by user id.
pub fn risky_users(detections: &[Detection]) -> Vec<RiskyUser> {
    let mut by_user: BTreeMap<&str, Vec<&Detection>> = BTreeMap::new();
    for d in detections {
        if let Some(user) = d.user_key() {
            by_user.entry(user).or_default().push(d);
        }
    }
    by_user
        .into_iter()
        .map(|(user, ds)| {
            let types: BTreeSet<&str> = ds.iter().map(|d| d.risk_event_type.as_str()).collect();
            let highest = ds
                .iter()
                .map(|d| d.risk_level)
                .max()
                .unwrap_or(RiskLevel::Low);
            let level = if types.len() >= 3 {
                highest.raised()
            } else {
                highest
            };
            let latest = ds
                .iter()
                .map(|d| d.activity_date_time.as_str())
                .max()
                .unwrap_or_default();
            let named = ds
                .iter()
                .find(|d| d.user_principal_name.is_some())
                .unwrap_or(&ds[0]);
            RiskyUser {
                id: user.to_string(),
                is_deleted: false,
                is_processing: false,
                risk_detail: "none".into(),
                risk_last_updated_date_time: latest.to_string(),
                risk_level: level,
                risk_state: "atRisk".into(),
                user_display_name: named.user_display_name.clone(),
                user_principal_name: named.user_principal_name.clone(),
                risk_event_types: types.into_iter().map(String::from).collect(),
                detection_count: ds.len() as u64,
            }
        })
        .collect()
}

/// `summary.json`: what went in, what came out, and how the run was set up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub engine_version: String,
    /// SHA-256 of the effective rules (see [`crate::rules::Rules::digest`]).
    pub rules_sha256: String,
    pub parameters: BTreeMap<String, Value>,
    pub input: Value,
    /// Detections per riskEventType, then per level.
    pub detections: BTreeMap<String, BTreeMap<String, u64>>,
    pub risky_signins: u64,
    pub risky_users: u64,
    #[serde(default)]
    pub risky_service_principals: u64,
    /// Campaigns seen by tenant-level detectors (password spray sources, …).
    pub campaigns: Vec<Value>,
    /// Wall-clock run facts; the only place they appear.
    pub run: Value,
}

/// Counts detections per type and level.
pub fn detection_counts(detections: &[Detection]) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for d in detections {
        *counts
            .entry(d.risk_event_type.clone())
            .or_default()
            .entry(d.risk_level.as_str().to_string())
            .or_default() += 1;
    }
    counts
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn detection(
        id: &str,
        request: Option<&str>,
        user: &str,
        kind: &str,
        level: RiskLevel,
        at: &str,
    ) -> Detection {
        Detection {
            id: id.into(),
            request_id: request.map(String::from),
            correlation_id: None,
            risk_event_type: kind.into(),
            risk_state: "atRisk".into(),
            risk_level: level,
            risk_detail: "none".into(),
            source: "idrisk".into(),
            detection_timing_type: "offline".into(),
            activity: if request.is_some() { "signin" } else { "user" }.into(),
            token_issuer_type: Some("AzureAD".into()),
            ip_address: Some("203.0.113.9".into()),
            location: Some(SignInLocation {
                city: Some("Oslo".into()),
                state: None,
                country_or_region: Some("NO".into()),
                geo_coordinates: Some(GeoCoordinates {
                    latitude: 59.91,
                    longitude: 10.75,
                }),
            }),
            activity_date_time: at.into(),
            detected_date_time: at.into(),
            last_updated_date_time: at.into(),
            user_id: Some(user.into()),
            user_display_name: Some("Ada".into()),
            user_principal_name: Some(format!("{user}@contoso.com")),
            additional_info: additional_info([("userAgent", Value::from("=cmd|' /C calc'!A0"))]),
            report: "Irregular sign-in activity".into(),
            detector: "atypical_travel".into(),
            evidence: serde_json::json!({"km": 5210.5, "minutes": 42}),
        }
    }

    #[test]
    fn risky_signins_take_the_highest_level_and_all_types() {
        let ds = [
            detection(
                "a",
                Some("s1"),
                "u1",
                "unlikelyTravel",
                RiskLevel::Medium,
                "2025-03-01T10:00:00Z",
            ),
            detection(
                "b",
                Some("s1"),
                "u1",
                "newCountry",
                RiskLevel::Low,
                "2025-03-01T10:00:00Z",
            ),
            detection(
                "c",
                Some("s2"),
                "u1",
                "anonymizedIPAddress",
                RiskLevel::High,
                "2025-03-01T09:00:00Z",
            ),
            detection(
                "d",
                None,
                "u1",
                "leakedCredentials",
                RiskLevel::High,
                "2025-03-02T00:00:00Z",
            ),
        ];
        let rows = risky_signins(&ds);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "s2");
        assert_eq!(rows[1].risk_level_aggregated, RiskLevel::Medium);
        assert_eq!(
            rows[1].risk_event_types_v2,
            ["newCountry", "unlikelyTravel"]
        );
    }

    #[test]
    fn risky_users_are_raised_a_step_by_three_distinct_types() {
        let two = [
            detection(
                "a",
                Some("s1"),
                "u1",
                "unlikelyTravel",
                RiskLevel::Low,
                "2025-03-01T10:00:00Z",
            ),
            detection(
                "b",
                Some("s2"),
                "u1",
                "newCountry",
                RiskLevel::Low,
                "2025-03-01T11:00:00Z",
            ),
        ];
        let users = risky_users(&two);
        assert_eq!(users[0].risk_level, RiskLevel::Low);
        assert_eq!(users[0].risk_last_updated_date_time, "2025-03-01T11:00:00Z");
        let mut three = two.to_vec();
        three.push(detection(
            "c",
            Some("s3"),
            "u1",
            "unfamiliarFeatures",
            RiskLevel::Low,
            "2025-03-01T09:00:00Z",
        ));
        assert_eq!(risky_users(&three)[0].risk_level, RiskLevel::Medium);
    }
}
