//! `user_reported_fraud` → `userReportedSuspiciousActivity`: the user answered an MFA prompt
//! they did not start with "report fraud" ("MFA denied; Phone App Reported Fraud"). The user
//! says someone else has their password: every such sign-in is a detection.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Settings};
use crate::frame::col;
use crate::rules::Rules;

/// `[user_reported_fraud]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserReportedFraudConfig {
    pub enabled: bool,
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::mfa_fraud_reported],
    some_rows: &[col::auth_method],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, UserReportedFraud::new)
}

impl Settings for UserReportedFraudConfig {}

pub struct UserReportedFraud {
    config: UserReportedFraudConfig,
}

impl UserReportedFraud {
    pub fn new(config: UserReportedFraudConfig) -> Self {
        UserReportedFraud { config }
    }
}

impl Detector for UserReportedFraud {
    fn identity(&self) -> Identity {
        Identity {
            id: "user_reported_fraud",
            risk_event_type: "userReportedSuspiciousActivity",
            report: "MFA prompts the user reported as fraud",
            activity: "signin",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let mut rows = ctx.positions_where_true(col::mfa_fraud_reported);
        rows.retain(|&p| ctx.users_row(p));
        let methods = ctx.texts_at(col::auth_method, &rows);
        ctx.per_user_of(&rows, |_, _, _, share, findings| {
            for &row in share {
                let method = &methods[rows.partition_point(|&p| p < row)];
                if ctx.time[row] < ctx.score_since {
                    continue;
                }
                findings.push(Finding {
                    detector: "user_reported_fraud",
                    row,
                    user_level: false,
                    level: self.config.level,
                    detected_at: ctx.time[row],
                    evidence: json!({
                        "method": method,
                        "sourceIp": ctx.ip(row),
                    }),
                    related: vec![("clientIp", Value::from(ctx.ip(row)))],
                    related_requests: Vec::new(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{defaults, frame_with, sign_in};

    #[test]
    fn each_fraud_report_is_a_detection_and_other_denials_are_not() {
        let s = [
            sign_in("ada", 0, "84.208.10.7", 0),
            sign_in("ada", 5, "198.51.100.7", 500121),
            sign_in("ada", 6, "198.51.100.7", 500121),
            sign_in("bob", 7, "198.51.100.7", 500121),
        ];
        let frame = frame_with(&s, |k, row| {
            row.mfa_fraud_reported = Some(k == 2);
            row.auth_method = Some("Mobile app notification".into());
        });
        let ctx = Context::new(&frame, None, &Rules::builtin().networks).unwrap();
        let found = UserReportedFraud::new(defaults("user_reported_fraud")).detect(&ctx);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].row, 2);
        assert_eq!(found[0].level, Level::High);
        assert_eq!(found[0].evidence["method"], "Mobile app notification");
    }
}
