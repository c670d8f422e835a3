//! `suspicious_service_principal` → `suspiciousSignins` for workload identities: a service
//! principal's secret stolen and used from the attacker's network, or a credential the
//! attacker added. After a learning period per principal, a successful sign-in from an ASN
//! and a country the principal never used, or with a credential type it never used, is a
//! detection. Microsoft's own network (AS 8075) is no new place: principals move between
//! Azure regions (a new CI/CD pool, a disaster-recovery region) and GeoIP relabels cloud
//! ranges. Managed identities are out of scope, as in Identity Protection.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::order::NONE;
use super::{Built, Columns, Context, Detector, Finding, Identity, Level, Outcome, Settings};
use crate::frame::col;
use crate::frame::event_type::SERVICE_PRINCIPAL;
use crate::frame::time::format_time;
use crate::rules::{Problems, Rules, Span};

/// `[suspicious_service_principal]` in the rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SuspiciousServicePrincipalConfig {
    pub enabled: bool,
    /// A principal is learnt after this many days of its sign-ins...
    pub learning_days: u32,
    /// ...or this many successful sign-ins, whichever comes first (a CI/CD principal that
    /// signs in hourly shows its habits within days).
    pub learning_sign_ins: u32,
    /// Autonomous systems that are no new place (Microsoft's own).
    pub excluded_asns: Vec<u32>,
    /// Application ids never judged (first-party and trusted automation).
    pub excluded_app_ids: Vec<String>,
    pub level: Level,
}

/// The canonical columns it reads beyond the context's own.
pub const COLUMNS: Columns = Columns {
    every_row: &[col::event_type, col::country],
    some_rows: &[
        col::service_principal_id,
        col::client_credential_type,
        col::service_principal_name,
        col::app_id,
    ],
};

/// The registry's entry: built from its section of the rules.
pub fn build(rules: &Rules, section: &'static str) -> Built {
    super::build(rules, section, SuspiciousServicePrincipal::new)
}

impl Settings for SuspiciousServicePrincipalConfig {
    fn check(&self, problems: &mut Problems<'_>) {
        problems.at_most_ten_years("learning_days", self.learning_days, Span::Days);
    }
}

pub struct SuspiciousServicePrincipal {
    config: SuspiciousServicePrincipalConfig,
}

impl SuspiciousServicePrincipal {
    pub fn new(config: SuspiciousServicePrincipalConfig) -> Self {
        SuspiciousServicePrincipal { config }
    }
}

/// A code's value among `distinct` ([`NONE`] is none).
fn name_of(distinct: &[String], code: u32) -> Option<&str> {
    (code != NONE)
        .then(|| distinct.get(code as usize).map(String::as_str))
        .flatten()
}

/// What a principal has shown so far.
#[derive(Default)]
struct Habits {
    first: Option<i64>,
    successes: u32,
    asns: Vec<u32>,
    countries: Vec<u32>,
    credentials: Vec<u32>,
}

impl Detector for SuspiciousServicePrincipal {
    fn identity(&self) -> Identity {
        Identity {
            id: "suspicious_service_principal",
            risk_event_type: "suspiciousSignins",
            report: "Risky workload identities",
            activity: "servicePrincipal",
            timing: "offline",
        }
    }

    fn settings(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or(Value::Null)
    }

    fn detect(&self, ctx: &Context) -> Vec<Finding> {
        let rows = ctx.positions_where(col::event_type, |v| v == SERVICE_PRINCIPAL);
        if rows.is_empty() {
            return Vec::new();
        }
        // The principals' rows are a share of the tenant's: their columns are read for them
        // alone.
        let (principals, principal) = ctx.codes_at(col::service_principal_id, &rows);
        let (credentials, credential) = ctx.codes_at(col::client_credential_type, &rows);
        let (countries, country) = ctx.codes_at(col::country, &rows);
        // Each principal's sign-ins in time order.
        let mut order: Vec<usize> = (0..rows.len())
            .filter(|&k| principal[k] != NONE)
            .collect();
        order.sort_by_key(|&k| (principal[k], ctx.time[rows[k]], rows[k]));
        let learning = i64::from(self.config.learning_days) * 86_400_000_000;
        // One application id per principal: its first row's.
        let firsts: Vec<usize> = order
            .chunk_by(|&a, &b| principal[a] == principal[b])
            .map(|share| rows[share[0]])
            .collect();
        let apps = ctx.texts_at(col::app_id, &firsts);
        let mut found: Vec<(usize, Vec<&'static str>)> = Vec::new();
        for (n, share) in order
            .chunk_by(|&a, &b| principal[a] == principal[b])
            .enumerate()
        {
            let excluded_app = apps[n].as_deref().is_some_and(|a| {
                self.config
                    .excluded_app_ids
                    .iter()
                    .any(|x| x.trim().eq_ignore_ascii_case(a.trim()))
            });
            let mut habits = Habits::default();
            for &k in share {
                let row = rows[k];
                if ctx.outcome[row] != Outcome::Success {
                    continue;
                }
                let t = ctx.time[row];
                let first_seen = *habits.first.get_or_insert(t);
                let learnt = t >= first_seen.saturating_add(learning)
                    || habits.successes >= self.config.learning_sign_ins;
                let asn = ctx.asn(row);
                let cloud = asn.is_some_and(|a| self.config.excluded_asns.contains(&a));
                let (c, cred) = (country[k], credential[k]);
                let new_asn = asn.is_some_and(|a| !habits.asns.contains(&a));
                let new_country = c != NONE && !habits.countries.contains(&c);
                let new_credential = cred != NONE && !habits.credentials.contains(&cred);
                let mut new = Vec::new();
                if new_asn && new_country && !cloud {
                    new.extend(["asn", "country"]);
                }
                if new_credential {
                    new.push("credentialType");
                }
                if learnt && !new.is_empty() && !excluded_app && t >= ctx.score_since {
                    found.push((k, new));
                }
                habits.successes += 1;
                if let Some(a) = asn.filter(|_| new_asn) {
                    habits.asns.push(a);
                }
                if new_country {
                    habits.countries.push(c);
                }
                if new_credential {
                    habits.credentials.push(cred);
                }
            }
        }
        found.sort_by_key(|(k, _)| rows[*k]);
        let at: Vec<usize> = found.iter().map(|(k, _)| rows[*k]).collect();
        let names = ctx.texts_at(col::service_principal_name, &at);
        let app_ids = ctx.texts_at(col::app_id, &at);
        found
            .into_iter()
            .zip(names.into_iter().zip(app_ids))
            .map(|((k, new), (name, app))| Finding {
                detector: "suspicious_service_principal",
                row: rows[k],
                user_level: false,
                level: self.config.level,
                detected_at: ctx.time[rows[k]],
                evidence: json!({
                    "servicePrincipalId": name_of(&principals, principal[k]),
                    "servicePrincipalName": name,
                    "appId": app,
                    "unfamiliar": new,
                    "asn": ctx.asn(rows[k]),
                    "countryOrRegion": name_of(&countries, country[k]),
                    "credentialType": name_of(&credentials, credential[k]),
                    "sourceIp": ctx.ip(rows[k]),
                }),
                related: vec![(
                    "relatedEventTimeInUtc",
                    Value::from(format_time(ctx.time[rows[k]])),
                )],
                related_requests: Vec::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{defaults, frame_with, sign_in, SignIn, DAY, MINUTE};

    /// A principal's sign-in: when, from where (address, ASN, country), with what credential.
    type Seen = (i64, &'static str, u32, &'static str, &'static str);

    fn detect(seen: &[Seen]) -> Vec<Finding> {
        let rows: Vec<SignIn> = seen
            .iter()
            .map(|&(minute, ip, _, _, _)| {
                let mut s = sign_in("", minute, ip, 0);
                s.interactive = false;
                s
            })
            .collect();
        let frame = frame_with(&rows, |k, row| {
            let (_, _, asn, country, credential) = seen[k];
            row.user_id = None;
            row.user_principal_name = None;
            row.event_type = Some(SERVICE_PRINCIPAL.into());
            row.service_principal_id = Some("sp-backup".into());
            row.service_principal_name = Some("backup-runner".into());
            row.app_id = Some("0f1e2d3c-0000-4000-8000-000000000001".into());
            row.asn = Some(asn);
            row.country = Some(country.into());
            row.client_credential_type = Some(credential.into());
        });
        let ctx = Context::new(&frame, None, &Rules::builtin().networks).unwrap();
        SuspiciousServicePrincipal::new(defaults("suspicious_service_principal")).detect(&ctx)
    }

    /// A month of hourly sign-ins from an Azure region with a client secret.
    fn habits() -> Vec<Seen> {
        (0..24 * 20)
            .map(|hour| (hour * 60, "20.40.1.9", 8075, "US", "clientSecret"))
            .collect()
    }

    #[test]
    fn a_secret_used_from_a_hosting_provider_abroad_fires_once() {
        let mut seen = habits();
        let at = 24 * 20 * 60 + 30;
        seen.push((at, "185.199.1.9", 60068, "NL", "clientSecret"));
        seen.push((at + 5, "185.199.1.10", 60068, "NL", "clientSecret"));
        let found = detect(&seen);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].evidence["unfamiliar"], json!(["asn", "country"]));
        assert_eq!(found[0].evidence["servicePrincipalName"], "backup-runner");
        assert_eq!(found[0].detected_at, DAY + at * MINUTE);
    }

    #[test]
    fn a_credential_the_principal_never_used_fires_even_from_azure() {
        let mut seen = habits();
        seen.push((24 * 20 * 60 + 30, "20.40.1.9", 8075, "US", "certificate"));
        let found = detect(&seen);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence["unfamiliar"], json!(["credentialType"]));
    }

    #[test]
    fn a_new_azure_region_or_a_new_asn_at_home_is_quiet() {
        // A CI/CD pool moves to another region (another country, Microsoft's ASN); another
        // day it runs from a new ASN in its own country.
        let mut seen = habits();
        seen.push((24 * 20 * 60 + 30, "20.50.1.9", 8075, "IE", "clientSecret"));
        seen.push((24 * 21 * 60, "52.1.1.1", 16509, "US", "clientSecret"));
        assert!(detect(&seen).is_empty(), "{:?}", detect(&seen));
    }

    #[test]
    fn nothing_is_judged_while_the_principal_is_learnt() {
        let seen = [
            (0, "20.40.1.9", 8075, "US", "clientSecret"),
            (60, "185.199.1.9", 60068, "NL", "certificate"),
        ];
        assert!(detect(&seen).is_empty());
    }
}
