//! `threat_intel_ip` → `suspiciousIPAddress`: validated sign-ins from addresses on the threat-intelligence lists the user
//! passes (`--threat-intel`). The kernel is [`super::listed_ip`]'s.

use super::listed_ip::{List, ListedIp};
use super::{Built, Columns, Identity};
use crate::rules::Rules;

pub const IDENTITY: Identity = Identity {
    id: "threat_intel_ip",
    risk_event_type: "suspiciousIPAddress",
    report: "Sign-ins from IP addresses on threat-intelligence lists",
    activity: "signin",
    timing: "realtime",
};

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, |config| {
        ListedIp::new(IDENTITY, List::ThreatIntel, config)
    })
}
