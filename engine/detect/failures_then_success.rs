//! `failures_then_success` → `signInAfterMultipleFailures`: a validated sign-in that follows a
//! run of credential failures from the same source address.
//!
//! Per user, in time order, runs are kept per source IP: a credential failure extends the
//! run of its IP, a gap longer than the session gap starts a new one, interrupt codes and
//! other failures neither count nor break a run. A validated sign-in from an IP whose run
//! reached the threshold fires and ends the run. Keying runs by source keeps the real user's
//! own sign-ins from another network, in the middle of an attack, from hiding it. A success
//! from a network the user already knew (a phone at home still trying the old password after
//! a change) ends the run without a detection.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings, Outcome};
use crate::frame::col;
use crate::rules::{Problems, Rules, Span};

/// `[failures_then_success]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailuresThenSuccessConfig {
    /// Turn the detector off with `false`.
    pub enabled: bool,
    /// Consecutive credential failures from one address before a validated sign-in fires.
    pub min_failures: u32,
    /// A longer quiet spell between attempts from an address starts a new run.
    pub session_gap_minutes: u32,
    /// Stay silent when the validated sign-in comes from a network (/24, /48) the user had
    /// already signed in from, or an org-common egress: a phone retrying an old password at
    /// home, not an attacker.
    pub skip_familiar_networks: bool,
    /// Level of the detection.
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[],
    some_rows: &[col::client_app],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, FailuresThenSuccess::new)
}

impl Settings for FailuresThenSuccessConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("min_failures", self.min_failures)
            .positive("session_gap_minutes", self.session_gap_minutes)
            .at_most_ten_years("session_gap_minutes", self.session_gap_minutes, Span::Minutes);
    }
}

pub struct FailuresThenSuccess {
    config: FailuresThenSuccessConfig,
}

impl FailuresThenSuccess {
    pub fn new(config: FailuresThenSuccessConfig) -> Self {
        FailuresThenSuccess { config }
    }
}

/// An address's current run of failures.
#[derive(Clone, Copy)]
struct Run {
    /// The address, as an index into the context's distinct addresses.
    address: u32,
    failures: u32,
    first: i64,
    last: i64,
}

impl Detector for FailuresThenSuccess {
    fn identity(&self) -> Identity {
        Identity {
            id: "failures_then_success",
            risk_event_type: "signInAfterMultipleFailures",
            report: "Sign-ins after multiple failures",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let gap = i64::from(self.config.session_gap_minutes) * 60_000_000;
        let found = ctx.per_user(|_, start, end, findings| {
            // Only addresses with failures in their current run are tracked (a run without
            // failures behaves as no run at all), so the list stays short even for users
            // who roam over hundreds of addresses.
            let mut runs: Vec<Run> = Vec::new();
            for row in start..end {
                let address = ctx.address[row];
                if address == super::order::NONE {
                    continue;
                }
                let time = ctx.time[row];
                let outcome = ctx.outcome[row];
                let tracked = runs.iter().position(|r| r.address == address);
                // A run whose last failure is more than the gap ago has ended.
                let tracked = tracked.filter(|&k| time - runs[k].last <= gap);
                match outcome {
                    Outcome::CredentialFailure => match tracked {
                        Some(k) => {
                            runs[k].failures += 1;
                            runs[k].last = time;
                        }
                        None => {
                            runs.retain(|r| r.address != address);
                            runs.push(Run {
                                address,
                                failures: 1,
                                first: time,
                                last: time,
                            });
                        }
                    },
                    o if o.validated() => {
                        let Some(k) = tracked else { continue };
                        let run = runs[k];
                        if run.failures < self.config.min_failures {
                            continue;
                        }
                        let familiar = self.config.skip_familiar_networks
                            && super::familiar::known_before(ctx, start, row);
                        if time >= ctx.score_since && !familiar {
                            findings.push(Finding {
                                detector: "failures_then_success",
                                row,
                                user_level: false,
                                level: self.config.level,
                                detected_at: time,
                                evidence: json!({
                                    "failures": run.failures,
                                    "firstFailure": crate::frame::time::format_time(run.first),
                                    "lastFailure": crate::frame::time::format_time(run.last),
                                    "sourceIp": ctx.ip(row),
                                }),
                                related_requests: Vec::new(),
                                related: vec![(
                                    "relatedEventTimeInUtc",
                                    Value::from(crate::frame::time::format_time(run.first)),
                                )],
                            });
                        }
                        runs.swap_remove(k);
                    }
                    _ => {}
                }
            }
        });
        super::with_client_app(ctx, found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{frame, sign_in, SignIn, DAY, MINUTE};
    use crate::rules::Rules;

    fn detect(sign_ins: &[SignIn], since: Option<i64>) -> Vec<Finding> {
        detect_with(sign_ins, since, crate::detect::testing::defaults::<FailuresThenSuccessConfig>("failures_then_success"))
    }

    fn detect_with(
        sign_ins: &[SignIn],
        since: Option<i64>,
        config: FailuresThenSuccessConfig,
    ) -> Vec<Finding> {
        let rules = Rules::builtin();
        let ctx = Context::new(&frame(sign_ins), since, &rules.networks).unwrap();
        FailuresThenSuccess::new(config).detect(&ctx)
    }

    #[test]
    fn a_brute_force_over_imap_says_so() {
        let mut s = vec![sign_in("ada", 0, "84.208.10.7", 0)];
        s.extend(failures("ada", "198.51.100.7", 1440, 12, 1));
        s.push(sign_in("ada", 1440 + 13, "198.51.100.7", 0));
        let frame = crate::detect::testing::frame_with(&s, |_, row| {
            row.client_app = Some("IMAP4".into());
        });
        let ctx = Context::new(&frame, None, &Rules::builtin().networks).unwrap();
        let config = crate::detect::testing::defaults("failures_then_success");
        let found = FailuresThenSuccess::new(config).detect(&ctx);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["clientApp"], "IMAP4");
    }

    #[test]
    fn a_phone_retrying_an_old_password_at_home_is_silent_an_attacker_is_not() {
        // Ada signs in from home; after a password change her phone fails there every ten
        // minutes for two hours, then she updates it. An attacker does the same from an
        // address new to her.
        let home = "84.208.10.7";
        let mut s = vec![sign_in("ada", 0, home, 0)];
        s.extend(failures("ada", home, 1440, 12, 10));
        s.push(sign_in("ada", 1440 + 125, home, 0));
        assert!(detect(&s, None).is_empty());
        let mut s = vec![sign_in("ada", 0, home, 0)];
        s.extend(failures("ada", "198.51.100.7", 1440, 12, 10));
        s.push(sign_in("ada", 1440 + 125, "198.51.100.7", 0));
        assert_eq!(detect(&s, None).len(), 1);
    }

    fn failures(
        user: &'static str,
        ip: &'static str,
        from: i64,
        count: i64,
        every: i64,
    ) -> Vec<SignIn> {
        (0..count)
            .map(|k| sign_in(user, from + k * every, ip, 50126))
            .collect()
    }

    #[test]
    fn fires_on_a_success_after_ten_failures_from_the_same_address() {
        let mut s = failures("ada", "198.51.100.7", 0, 12, 1);
        s.push(sign_in("ada", 13, "198.51.100.7", 0));
        let found = detect(&s, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["failures"], 12);
        assert_eq!(found[0].detected_at, DAY + 13 * MINUTE);
    }

    #[test]
    fn after_a_detection_or_a_long_pause_the_count_starts_over() {
        let ip = "198.51.100.7";
        let mut s = failures("ada", ip, 0, 12, 1);
        s.push(sign_in("ada", 13, ip, 0));
        // Five more failures: not ten since the detection, so the next success is quiet.
        s.extend(failures("ada", ip, 14, 5, 1));
        s.push(sign_in("ada", 20, ip, 0));
        // Eight failures, a pause beyond the session gap, three more: no run of ten.
        s.extend(failures("ada", ip, 30, 8, 1));
        s.extend(failures("ada", ip, 30 + 8 * 60, 3, 1));
        s.push(sign_in("ada", 30 + 8 * 60 + 4, ip, 0));
        // Ten more inside the gap: the run started at the pause's end now reaches 13.
        s.extend(failures("ada", ip, 30 + 8 * 60 + 5, 10, 1));
        s.push(sign_in("ada", 30 + 8 * 60 + 16, ip, 0));
        // The run mechanics, with the address familiar after the first success.
        let config = FailuresThenSuccessConfig {
            skip_familiar_networks: false,
            ..crate::detect::testing::defaults::<FailuresThenSuccessConfig>("failures_then_success")
        };
        let found = detect_with(&s, None, config);
        let counts: Vec<_> = found
            .iter()
            .map(|f| f.evidence["failures"].clone())
            .collect();
        assert_eq!(counts, [12, 13]);
    }

    #[test]
    fn an_mfa_interrupt_after_the_failures_proves_the_password_and_fires() {
        let mut s = failures("ada", "198.51.100.7", 0, 10, 1);
        s.push(sign_in("ada", 11, "198.51.100.7", 50074));
        assert_eq!(detect(&s, None).len(), 1);
    }

    #[test]
    fn interrupts_inside_the_run_neither_count_nor_break_it() {
        let mut s = failures("ada", "198.51.100.7", 0, 5, 1);
        s.push(sign_in("ada", 6, "198.51.100.7", 70044));
        s.extend(failures("ada", "198.51.100.7", 7, 5, 1));
        s.push(sign_in("ada", 13, "198.51.100.7", 0));
        let found = detect(&s, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["failures"], 10);
    }

    #[test]
    fn silent_below_the_threshold_typos_and_a_forgotten_password() {
        let mut s = failures("ada", "198.51.100.7", 0, 9, 1);
        s.push(sign_in("ada", 10, "198.51.100.7", 0));
        s.push(sign_in("bob", 0, "203.0.113.5", 50126));
        s.push(sign_in("bob", 1, "203.0.113.5", 50126));
        s.push(sign_in("bob", 2, "203.0.113.5", 0));
        assert!(detect(&s, None).is_empty());
    }

    #[test]
    fn silent_on_a_slow_brute_force_spaced_beyond_the_session_gap() {
        let mut s = failures("ada", "198.51.100.7", 0, 12, 25);
        s.push(sign_in("ada", 12 * 25, "198.51.100.7", 0));
        assert!(detect(&s, None).is_empty());
    }

    #[test]
    fn the_users_own_sign_in_from_another_network_does_not_hide_the_attack() {
        let mut s = failures("ada", "198.51.100.7", 0, 6, 1);
        s.push(sign_in("ada", 6, "203.0.113.5", 0));
        s.extend(failures("ada", "198.51.100.7", 7, 6, 1));
        s.push(sign_in("ada", 14, "198.51.100.7", 0));
        let found = detect(&s, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["sourceIp"], "198.51.100.7");
    }

    #[test]
    fn failures_on_one_address_and_success_on_another_is_not_this_detection() {
        let mut s = failures("ada", "198.51.100.7", 0, 15, 1);
        s.push(sign_in("ada", 16, "203.0.113.5", 0));
        assert!(detect(&s, None).is_empty());
    }

    #[test]
    fn events_before_score_since_only_build_history() {
        let mut s = failures("ada", "198.51.100.7", 0, 12, 1);
        s.push(sign_in("ada", 13, "198.51.100.7", 0));
        assert!(detect(&s, Some(DAY + 14 * MINUTE)).is_empty());
        assert_eq!(detect(&s, Some(DAY + 13 * MINUTE)).len(), 1);
    }
}
