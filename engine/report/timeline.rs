//! The sign-ins around each detection (`timeline.<ext>`): what the analyst reads to explain
//! it, and what the HTML report draws each risky user's timeline from.
//!
//! For every detection on a user, the user's sign-ins within [`WINDOW_HOURS`] of it, at most
//! [`PER_SIDE`] before and after, with the detection's own sign-in and those its evidence
//! names; each sign-in once, in the user's time order. Service principals' detections have
//! no user history and no timeline.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::write::{Kind, Record};
use crate::detect::context::Outcome;
use crate::detect::{Context, Finding, Identity};
use crate::frame::col;
use crate::ingest::values::format_time;

/// How far from a detection a sign-in may lie to be shown with it.
pub const WINDOW_HOURS: i64 = 24;
/// At most this many sign-ins on either side of a detection.
pub const PER_SIDE: usize = 12;

/// One sign-in of a risky user near one of their detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineSignIn {
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub created_date_time: String,
    pub request_id: Option<String>,
    pub ip_address: Option<String>,
    pub city: Option<String>,
    pub country_or_region: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub asn: Option<u32>,
    pub app_display_name: Option<String>,
    pub client_app_used: Option<String>,
    pub operating_system: Option<String>,
    pub browser: Option<String>,
    pub device_id: Option<String>,
    pub is_interactive: bool,
    /// The outcome class under the rules: success, credentialValid, credentialFailure,
    /// otherFailure or unknown.
    pub outcome: String,
    pub failure_reason: Option<String>,
}

impl Record for TimelineSignIn {
    const COLUMNS: &'static [(&'static str, Kind)] = &[
        ("userId", Kind::Str),
        ("userPrincipalName", Kind::Str),
        ("createdDateTime", Kind::Time),
        ("requestId", Kind::Str),
        ("ipAddress", Kind::Str),
        ("city", Kind::Str),
        ("countryOrRegion", Kind::Str),
        ("latitude", Kind::Float),
        ("longitude", Kind::Float),
        ("asn", Kind::Int),
        ("appDisplayName", Kind::Str),
        ("clientAppUsed", Kind::Str),
        ("operatingSystem", Kind::Str),
        ("browser", Kind::Str),
        ("deviceId", Kind::Str),
        ("isInteractive", Kind::Bool),
        ("outcome", Kind::Str),
        ("failureReason", Kind::Str),
    ];
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::CredentialValid => "credentialValid",
        Outcome::CredentialFailure => "credentialFailure",
        Outcome::OtherFailure => "otherFailure",
        Outcome::Unknown => "unknown",
    }
}

/// The positions (of the context's order) to show around the findings, sorted: per user,
/// in time order.
pub fn positions(ctx: &Context, findings: &[(Identity, Finding)]) -> Vec<usize> {
    const WINDOW: i64 = WINDOW_HOURS * 3_600_000_000;
    let user_of = |row: usize| -> Option<(usize, usize)> {
        if !ctx.users_row(row) {
            return None;
        }
        let k = ctx.users.partition_point(|&(start, _)| start <= row);
        ctx.users.get(k.checked_sub(1)?).copied()
    };
    let mut positions: Vec<usize> = findings
        .par_iter()
        .flat_map_iter(|(_, finding)| {
            let mut out = Vec::new();
            if let Some((start, end)) = user_of(finding.row) {
                let row = finding.row;
                let at = ctx.time[row];
                let times = &ctx.time[start..end];
                let first = start + times.partition_point(|&t| t < at.saturating_sub(WINDOW));
                let last = start + times.partition_point(|&t| t <= at.saturating_add(WINDOW));
                out.extend(first.max(row.saturating_sub(PER_SIDE))..row);
                out.extend(row..last.min(row + PER_SIDE + 1).max(row + 1));
                out.extend(
                    finding
                        .related_requests
                        .iter()
                        .map(|&(_, r)| r)
                        .filter(|&r| (start..end).contains(&r)),
                );
            }
            out
        })
        .collect();
    positions.par_sort_unstable();
    positions.dedup();
    positions
}

/// The sign-ins at `positions`, in their order.
pub fn sign_ins(ctx: &Context, positions: &[usize]) -> Vec<TimelineSignIn> {
    let texts = |column: &str| ctx.texts_at(column, positions);
    let mut columns: Vec<std::vec::IntoIter<Option<String>>> = [
        col::user_id,
        col::user_principal_name,
        col::request_id,
        col::ip_address,
        col::city,
        col::country,
        col::app_display_name,
        col::client_app,
        col::operating_system,
        col::browser,
        col::device_id,
        col::failure_reason,
    ]
    .par_iter()
    .map(|c| texts(c).into_iter())
    .collect();
    let mut next = |k: usize| columns[k].next().flatten();
    positions
        .iter()
        .map(|&p| {
            let place = ctx.place(p);
            TimelineSignIn {
                user_id: next(0),
                user_principal_name: next(1),
                created_date_time: format_time(ctx.time[p]),
                request_id: next(2),
                ip_address: next(3),
                city: next(4),
                country_or_region: next(5),
                latitude: place.map(|(lat, _)| lat),
                longitude: place.map(|(_, lon)| lon),
                asn: ctx.asn(p),
                app_display_name: next(6),
                client_app_used: next(7),
                operating_system: next(8),
                browser: next(9),
                device_id: next(10),
                is_interactive: ctx.interactive[p],
                outcome: outcome_name(ctx.outcome[p]).to_string(),
                failure_reason: next(11),
            }
        })
        .collect()
}
