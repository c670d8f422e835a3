//! `mfa_fatigue` → `mfaFatigue`: push bombing. An attacker who has the password sends push
//! notification after push until the user, tired or confused, approves one. Per user, the
//! denied or unanswered pushes (`authenticationDetails` steps "MFA denied; user declined the
//! authentication", "… did not respond to mobile app notification", each step once) are
//! counted in a sliding window; a burst above the threshold is one detection, high when a
//! successful sign-in follows it (the user gave in), medium otherwise. A prompt or two a
//! user misses is no burst.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Outcome, Settings};
use crate::frame::col;
use crate::frame::time::format_time;
use crate::rules::{Problems, Rules, Span};

/// `[mfa_fatigue]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MfaFatigueConfig {
    pub enabled: bool,
    /// Denied or unanswered pushes in one burst that make it push bombing.
    pub min_denials: u32,
    /// Fewer suffice when a successful sign-in from the burst's address, a network new to
    /// the user, follows: the user approved the attacker's push.
    pub min_denials_approved: u32,
    /// A quiet spell longer than this between two pushes ends a burst.
    pub max_gap_minutes: u32,
    /// How soon after the burst's last push an approval counts.
    pub success_within_minutes: u32,
    /// Level of a burst nobody approved.
    pub level: Level,
    /// Level of a burst followed by a successful sign-in.
    pub approved_level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::mfa_denials],
    some_rows: &[],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, MfaFatigue::new)
}

impl Settings for MfaFatigueConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems
            .positive("min_denials", self.min_denials)
            .positive("min_denials_approved", self.min_denials_approved)
            .positive("max_gap_minutes", self.max_gap_minutes)
            .at_most_ten_years("max_gap_minutes", self.max_gap_minutes, Span::Minutes)
            .at_most_ten_years(
                "success_within_minutes",
                self.success_within_minutes,
                Span::Minutes,
            );
    }
}

pub struct MfaFatigue {
    config: MfaFatigueConfig,
}

impl MfaFatigue {
    pub fn new(config: MfaFatigueConfig) -> Self {
        MfaFatigue { config }
    }
}

/// A burst of denials: pushes no more than the gap apart.
struct Burst {
    denials: u32,
    first: i64,
    last: i64,
    last_row: usize,
    /// Distinct addresses the pushes came from.
    addresses: Vec<u32>,
}

impl Detector for MfaFatigue {
    fn identity(&self) -> Identity {
        Identity {
            id: "mfa_fatigue",
            risk_event_type: "mfaFatigue",
            report: "Sign-ins after repeated denied MFA push notifications",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        // Sign-ins with denied pushes are few: find them, then walk each user's.
        let (rows, denials): (Vec<usize>, Vec<u32>) =
            ctx.positions_where_u32(col::mfa_denials, |n| n > 0).into_iter().unzip();
        let gap = i64::from(self.config.max_gap_minutes) * 60_000_000;
        ctx.per_user_of(&rows, |_, start, end, share, findings| {
            let first = rows.partition_point(|&p| p < start);
            let mut burst: Option<Burst> = None;
            for (k, &row) in share.iter().enumerate() {
                let count = denials[first + k];
                // The same step logged twice: a row of the same moment, count and address.
                let logged_twice = share[..k].iter().rev().enumerate().take_while(|&(_, &p)| {
                    ctx.time[p] == ctx.time[row]
                }).any(|(back, &p)| {
                    denials[first + k - 1 - back] == count && ctx.address[p] == ctx.address[row]
                });
                if logged_twice {
                    continue;
                }
                let t = ctx.time[row];
                match burst.as_mut() {
                    Some(b) if t - b.last <= gap => {
                        b.denials += count;
                        b.last = t;
                        b.last_row = row;
                        if !b.addresses.contains(&ctx.address[row]) {
                            b.addresses.push(ctx.address[row]);
                        }
                    }
                    _ => {
                        if let Some(ended) = burst.take() {
                            self.report(ctx, start, end, &ended, findings);
                        }
                        burst = Some(Burst {
                            denials: count,
                            first: t,
                            last: t,
                            last_row: row,
                            addresses: vec![ctx.address[row]],
                        });
                    }
                }
            }
            if let Some(ended) = burst {
                self.report(ctx, start, end, &ended, findings);
            }
        })
    }
}

impl MfaFatigue {
    /// The burst's finding, if it is push bombing: on the approved sign-in that followed
    /// it, or on its last denial.
    fn report(
        &self,
        ctx: &Context,
        start: usize,
        end: usize,
        burst: &Burst,
        findings: &mut Vec<Finding>,
    ) {
        let within = i64::from(self.config.success_within_minutes) * 60_000_000;
        // An approval: the first successful sign-in from one of the burst's addresses.
        let approved = (burst.last_row + 1..end)
            .take_while(|&r| ctx.time[r] - burst.last <= within)
            .find(|&r| {
                ctx.outcome[r] == Outcome::Success && burst.addresses.contains(&ctx.address[r])
            })
            .filter(|&r| !super::familiar::known_before(ctx, start, r));
        let (row, level) = match approved {
            Some(row) if burst.denials >= self.config.min_denials_approved => {
                (row, self.config.approved_level)
            }
            _ if burst.denials >= self.config.min_denials => (burst.last_row, self.config.level),
            _ => return,
        };
        if ctx.time[row] < ctx.score_since {
            return;
        }
        findings.push(Finding {
            detector: "mfa_fatigue",
            row,
            user_level: false,
            level,
            detected_at: ctx.time[row],
            evidence: json!({
                "deniedPushes": burst.denials,
                "firstDenial": format_time(burst.first),
                "lastDenial": format_time(burst.last),
                "sourceAddresses": burst.addresses.len(),
                "approved": row != burst.last_row,
            }),
            related: vec![(
                "relatedEventTimeInUtc",
                Value::from(format_time(burst.first)),
            )],
            related_requests: vec![("lastDeniedRequestId", burst.last_row)],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{defaults, frame_with, sign_in, SignIn};

    const DECLINED: i32 = 500121;

    /// A scenario sign-in, the MFA denials its steps hold, and seconds past its minute.
    type Push = (SignIn, u32, i64);

    fn detect(sign_ins: &[Push]) -> Vec<Finding> {
        let rows: Vec<SignIn> = sign_ins.iter().map(|(s, _, _)| s.clone()).collect();
        let frame = frame_with(&rows, |k, row| {
            row.mfa_denials = Some(sign_ins[k].1);
            row.time += sign_ins[k].2 * 1_000_000;
        });
        let ctx = Context::new(&frame, None, &Rules::builtin().networks).unwrap();
        MfaFatigue::new(defaults("mfa_fatigue")).detect(&ctx)
    }

    fn plain(s: SignIn) -> Push {
        (s, 0, 0)
    }

    /// `count` declined pushes from `ip`, one every `every_seconds`, from `minute` on.
    fn pushes(ip: &'static str, minute: i64, count: i64, every_seconds: i64) -> Vec<Push> {
        (0..count)
            .map(|k| {
                let at = k * every_seconds;
                (sign_in("ada", minute + at / 60, ip, DECLINED), 1, at % 60)
            })
            .collect()
    }

    #[test]
    fn a_push_bombing_the_user_gives_in_to_is_high() {
        let mut s = vec![plain(sign_in("ada", 0, "84.208.10.7", 0))];
        s.extend(pushes("198.51.100.7", 600, 14, 20));
        s.push(plain(sign_in("ada", 606, "198.51.100.7", 0)));
        let found = detect(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].level, Level::High);
        assert_eq!(found[0].row, s.len() - 1, "on the approved sign-in");
        assert_eq!(found[0].evidence["approved"], true);
        assert_eq!(found[0].evidence["deniedPushes"], 14);
    }

    #[test]
    fn a_burst_nobody_approves_is_medium_and_one_detection() {
        let s = pushes("198.51.100.7", 600, 30, 10);
        let found = detect(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].level, Level::Medium);
        assert_eq!(found[0].evidence["deniedPushes"], 30);
    }

    #[test]
    fn a_prompt_or_two_a_user_misses_is_silent() {
        // Two missed prompts a day for a week, each followed by a success.
        let mut s = Vec::new();
        for day in 0..7 {
            s.extend(pushes("84.208.10.7", day * 1440 + 540, 2, 30));
            s.push(plain(sign_in("ada", day * 1440 + 542, "84.208.10.7", 0)));
        }
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn denials_further_apart_than_the_gap_are_no_burst() {
        // Twelve denials, one every ten minutes.
        let s = pushes("198.51.100.7", 600, 12, 600);
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn three_pushes_approved_from_a_new_network_are_high_from_home_silent() {
        let home = "84.208.10.7";
        let mut s = vec![plain(sign_in("ada", 0, home, 0))];
        s.extend(pushes("198.51.100.7", 600, 3, 40));
        s.push(plain(sign_in("ada", 603, "198.51.100.7", 0)));
        let found = detect(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].level, Level::High);
        // The same three prompts at home before Ada's own sign-in: her phone was away.
        let mut s = vec![plain(sign_in("ada", 0, home, 0))];
        s.extend(pushes(home, 600, 3, 40));
        s.push(plain(sign_in("ada", 603, home, 0)));
        assert!(detect(&s).is_empty());
    }

    #[test]
    fn a_denial_logged_twice_counts_once() {
        // Four pushes, each logged as two records of the same moment: four denials.
        let mut s = Vec::new();
        for push in pushes("198.51.100.7", 600, 4, 30) {
            s.push(push.clone());
            s.push(push);
        }
        assert!(detect(&s).is_empty());
        s.extend(pushes("198.51.100.7", 603, 1, 30));
        assert_eq!(detect(&s)[0].evidence["deniedPushes"], 5);
    }
}
