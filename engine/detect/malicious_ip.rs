//! `malicious_ip` → `maliciousIPAddress`: an address with many credential failures and a high
//! failure ratio across the tenant within a window; each validated sign-in from it in that
//! window is a detection. A shared corporate egress, where failures are a small share of many
//! sign-ins, stays silent.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings, Outcome};
use crate::frame::time::format_time;
use crate::rules::{Problems, Rules, Span};

/// `[malicious_ip]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaliciousIpConfig {
    pub enabled: bool,
    /// Credential failures from the address within the window.
    pub min_failures: u32,
    /// Share of the address's sign-ins in the window that are credential failures.
    pub min_failure_ratio: f64,
    /// Distinct users failing from the address within the window: one account's phone
    /// retrying an old password is no malicious address.
    pub min_users: u32,
    pub window_hours: u32,
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, MaliciousIp::new)
}

impl Settings for MaliciousIpConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("min_failures", self.min_failures)
            .share("min_failure_ratio", self.min_failure_ratio)
            .positive("window_hours", self.window_hours)
            .at_most_ten_years("window_hours", self.window_hours, Span::Hours);
    }
}

pub struct MaliciousIp {
    config: MaliciousIpConfig,
}

impl MaliciousIp {
    pub fn new(config: MaliciousIpConfig) -> Self {
        MaliciousIp { config }
    }
}

impl Detector for MaliciousIp {
    fn tenant_wide(&self) -> bool {
        true
    }

    fn address_window(&self) -> Option<super::tenant::AddressWindow> {
        Some(super::tenant::AddressWindow {
            window: i64::from(self.config.window_hours) * 3_600_000_000,
            min_failures: self.config.min_failures,
            min_users: self.config.min_users,
            min_failure_ratio: self.config.min_failure_ratio,
        })
    }

    fn identity(&self) -> Identity {
        Identity {
            id: "malicious_ip",
            risk_event_type: "maliciousIPAddress",
            report: "Sign-ins from IP addresses with suspicious activity",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let window = i64::from(self.config.window_hours) * 3_600_000_000;
        let groups = ctx.by_address();
        // Credential failures per address, counted in one scan in position order. A finding
        // takes `min_failures` of them and a validated sign-in: the many addresses with fewer
        // (homes, offices, carriers) are passed over without reading their sign-ins.
        let mut failures_at = vec![0u32; groups.len()];
        for (&address, &outcome) in ctx.address.iter().zip(&ctx.outcome) {
            if outcome == Outcome::CredentialFailure {
                if let Some(n) = failures_at.get_mut(address as usize) {
                    *n += 1;
                }
            }
        }
        groups.per_group(|address, group, findings| {
            if group.len() <= self.config.min_failures as usize
                || failures_at[address] < self.config.min_failures
            {
                return;
            }
            // Sign-ins of the window ending at the current one: `group[oldest..=k]` (the
            // group is in time order, so the window slides without a queue).
            let mut oldest = 0;
            let mut failures = 0u32;
            // Failures per failing user in the window (user index → count).
            let mut failing: ahash::AHashMap<usize, u32> = ahash::AHashMap::new();
            let user_of = |row: usize| ctx.users.partition_point(|&(_, end)| end <= row);
            for (k, &row) in group.iter().enumerate() {
                let row = row as usize;
                let now = ctx.time[row];
                loop {
                    let first = group[oldest] as usize;
                    if now - ctx.time[first] <= window {
                        break;
                    }
                    if ctx.outcome[first] == Outcome::CredentialFailure {
                        failures -= 1;
                        let user = user_of(first);
                        if let Some(n) = failing.get_mut(&user) {
                            *n -= 1;
                            if *n == 0 {
                                failing.remove(&user);
                            }
                        }
                    }
                    oldest += 1;
                }
                if ctx.outcome[row] == Outcome::CredentialFailure {
                    failures += 1;
                    *failing.entry(user_of(row)).or_default() += 1;
                }
                let recent = &group[oldest..=k];
                let ratio = f64::from(failures) / recent.len() as f64;
                let user = ctx.users_row(row);
                if ctx.outcome[row].validated()
                    && user
                    && failures >= self.config.min_failures
                    && ratio >= self.config.min_failure_ratio
                    && failing.len() >= self.config.min_users as usize
                    && now >= ctx.score_since
                {
                    let first = ctx.time[recent[0] as usize];
                    findings.push(Finding {
                        detector: "malicious_ip",
                        row,
                        user_level: false,
                        level: self.config.level,
                        detected_at: now,
                        evidence: json!({
                            "ipAddress": ctx.ip(row),
                            "credentialFailures": failures,
                            "signIns": recent.len(),
                            "failureRatio": (ratio * 1000.0).round() / 1000.0,
                            "usersFailing": failing.len(),
                            "windowStart": format_time(first),
                        }),
                        related_requests: Vec::new(),
                        related: vec![("clientIp", Value::from(ctx.ip(row)))],
                    });
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{frame, sign_in, SignIn};
    use crate::rules::Rules;

    fn detect(s: &[SignIn]) -> Vec<Finding> {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame(s), None, &rules.networks).unwrap();
        MaliciousIp::new(crate::detect::testing::defaults::<MaliciousIpConfig>("malicious_ip")).detect(&ctx)
    }

    const USERS: [&str; 30] = [
        "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u11", "u12", "u13",
        "u14", "u15", "u16", "u17", "u18", "u19", "u20", "u21", "u22", "u23", "u24", "u25", "u26",
        "u27", "u28", "u29",
    ];

    #[test]
    fn a_valid_sign_in_from_a_failing_address_fires() {
        let mut s: Vec<SignIn> = USERS[..25]
            .iter()
            .enumerate()
            .map(|(k, u)| sign_in(u, k as i64 * 30, "198.51.100.7", 50126))
            .collect();
        s.push(sign_in("victim", 25 * 30, "198.51.100.7", 0));
        let found = detect(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["credentialFailures"], 25);
    }

    #[test]
    fn exactly_min_failures_then_a_valid_sign_in_fire_one_fewer_do_not() {
        let min = crate::detect::testing::defaults::<MaliciousIpConfig>("malicious_ip").min_failures as usize;
        let attack = |failures: usize| -> Vec<SignIn> {
            let mut s: Vec<SignIn> = USERS[..failures]
                .iter()
                .enumerate()
                .map(|(k, u)| sign_in(u, k as i64, "198.51.100.7", 50126))
                .collect();
            s.push(sign_in("victim", failures as i64, "198.51.100.7", 0));
            s
        };
        assert_eq!(detect(&attack(min)).len(), 1);
        assert!(detect(&attack(min - 1)).is_empty());
    }

    #[test]
    fn one_account_failing_all_morning_is_no_malicious_address() {
        // A phone with an old password: 25 failures of one user, then the new password.
        let mut s: Vec<SignIn> = (0..25)
            .map(|k| sign_in("ada", k * 10, "84.208.10.7", 50126))
            .collect();
        s.push(sign_in("ada", 260, "84.208.10.7", 0));
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn typos_on_a_busy_corporate_egress_are_silent() {
        let mut s = Vec::new();
        for (k, u) in USERS.iter().enumerate() {
            for m in 0..4 {
                s.push(sign_in(u, k as i64 * 5 + m * 120, "62.0.10.5", 0));
            }
            if k < 22 {
                s.push(sign_in(u, k as i64 * 5 + 1, "62.0.10.5", 50126));
            }
        }
        assert!(
            detect(&s).is_empty(),
            "22 failures among 142 sign-ins is no attack"
        );
    }
}
