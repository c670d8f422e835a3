//! Shards' outputs into the one run's: a sharded run's detections and timeline put in the
//! order a run over the whole tenant writes them, the aggregates made again from them.
//!
//! A run lists detections by detector, then by sign-in in the detectors' order (user, then
//! time), users ranked by their key (user id, else principal name; sign-ins without a user
//! last). Every sign-in of a user is in one shard, so a stable sort of the shards' lists on
//! (detector, user key) puts them in that order: a user's own detections keep the order
//! their shard gave them. The timeline is ordered the same way by user.

use super::score::Scored;
use super::timeline::TimelineSignIn;
use super::{risky_service_principals, risky_signins, risky_users, Detection};

/// Where a user comes in the detectors' order: by key, sign-ins without a user last.
fn user_rank(key: Option<&str>) -> (bool, &str) {
    (key.is_none(), key.unwrap_or(""))
}

/// Every shard's detections (the shards in any order), in a whole run's order.
pub fn detections(parts: Vec<Vec<Detection>>) -> Vec<Detection> {
    let mut all: Vec<Detection> = parts.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        a.detector
            .cmp(&b.detector)
            .then_with(|| user_rank(a.user_key()).cmp(&user_rank(b.user_key())))
    });
    all
}

/// Every shard's timeline, in a whole run's order.
pub fn timeline(parts: Vec<Vec<TimelineSignIn>>) -> Vec<TimelineSignIn> {
    let mut all: Vec<TimelineSignIn> = parts.into_iter().flatten().collect();
    fn key(s: &TimelineSignIn) -> (bool, &str) {
        user_rank(s.user_id.as_deref().or(s.user_principal_name.as_deref()))
    }
    all.sort_by(|a, b| key(a).cmp(&key(b)));
    all
}

/// One run's tables from its shards' merged `detections` and `timeline`: the aggregates
/// are made from the detections. The summary's figures (campaigns, scored rows, warnings,
/// detector settings) are left empty for the caller, who has them from the tenant facts.
pub fn scored(detections: Vec<Detection>, timeline: Vec<TimelineSignIn>) -> Scored {
    let (signins, users) = rayon::join(|| risky_signins(&detections), || risky_users(&detections));
    Scored {
        risky_service_principals: risky_service_principals(&detections),
        risky_signins: signins,
        risky_users: users,
        detections,
        timeline,
        campaigns: Vec::new(),
        detectors: Vec::new(),
        scored_rows: 0,
        scored_interactive: 0,
        warnings: Vec::new(),
    }
}
