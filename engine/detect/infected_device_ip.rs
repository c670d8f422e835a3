//! `infected_device_ip` → `malwareInfectedIPAddress`: validated sign-ins from addresses on the botnet / infected-device lists the user
//! passes (`--infected-list`). The kernel is [`super::listed_ip`]'s.

use super::listed_ip::{List, ListedIp};
use super::{Built, Columns, Identity};
use crate::rules::Rules;

pub const IDENTITY: Identity = Identity {
    id: "infected_device_ip",
    risk_event_type: "malwareInfectedIPAddress",
    report: "Sign-ins from possibly infected devices",
    activity: "signin",
    timing: "offline",
};

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, |config| {
        ListedIp::new(IDENTITY, List::Infected, config)
    })
}
