//! Rules files: every threshold, code list and network setting, loaded into typed configs.
//!
//! The built-in defaults are `rules/default.toml`, compiled into the binary so the engine
//! runs with no files around it. Unknown keys are errors: a misspelt threshold must not
//! silently fall back to its default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::frame::OutcomeCodes;

/// The rules the engine ships with.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// A rules file, as read.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Error codes that sort sign-ins into outcome classes.
    pub outcomes: OutcomesConfig,
    /// Enrichment files; command-line flags win over these.
    pub files: FilesConfig,
    /// How GeoIP coordinates combine with the log's.
    pub geoip: crate::detect::context::GeoIpConfig,
    /// Org-common networks, shared by the location detectors.
    pub networks: crate::detect::context::NetworksConfig,
    /// `anonymizedIPAddress`, and which networks count as anonymous for every detector.
    pub anonymous_ip: crate::detect::anonymous_ip::AnonymousIpConfig,
    /// `suspiciousIPAddress` (threat-intelligence lists).
    pub threat_intel_ip: crate::detect::listed_ip::ListedIpConfig,
    /// `malwareInfectedIPAddress` (infected-device lists).
    pub infected_device_ip: crate::detect::listed_ip::ListedIpConfig,
    /// `passwordSpray`.
    pub password_spray: crate::detect::password_spray::PasswordSprayConfig,
    /// `maliciousIPAddress`.
    pub malicious_ip: crate::detect::malicious_ip::MaliciousIpConfig,
    /// `leakedCredentials`.
    pub leaked_credentials: crate::detect::leaked_credentials::LeakedCredentialsConfig,
    /// `unlikelyTravel`.
    pub atypical_travel: crate::detect::atypical_travel::AtypicalTravelConfig,
    /// `signInsFromMultipleGeographies`.
    pub multiple_geographies: crate::detect::multiple_geographies::MultipleGeographiesConfig,
    /// `unfamiliarFeatures`.
    pub unfamiliar_sign_in: crate::detect::unfamiliar_sign_in::UnfamiliarSignInConfig,
    /// `newCountry`.
    pub new_country: crate::detect::new_country::NewCountryConfig,
    /// `signInAfterMultipleFailures`.
    pub failures_then_success: crate::detect::failures_then_success::FailuresThenSuccessConfig,
}

/// `[outcomes]`: which error codes are credential failures and which prove the credential.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomesConfig {
    /// Bad or unknown credential (counted as password failures).
    pub credential_failure: Vec<i32>,
    /// Password right, flow interrupted or blocked later (validated credentials).
    pub credential_valid: Vec<i32>,
}

/// `[files]`: enrichment files named in the rules (paths as written, relative to the working
/// directory). A flag given on the command line replaces the matching entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    pub geoip_city: Option<PathBuf>,
    pub geoip_asn: Option<PathBuf>,
    pub anonymous_ip: Option<PathBuf>,
    pub anonymous_lists: Vec<PathBuf>,
    pub threat_intel: Vec<PathBuf>,
    pub infected_lists: Vec<PathBuf>,
    pub leaked_accounts: Vec<PathBuf>,
}

/// A rules file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rules file '{path}' is invalid: {message}")]
    Invalid { path: String, message: String },
}

impl Rules {
    /// The built-in rules.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_RULES, "<built-in rules>").expect("the built-in rules file is valid")
    }

    /// Reads a rules file, or the built-in rules when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, RulesError> {
        match path {
            None => Ok(Self::builtin()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::parse(&text, &path.to_string_lossy())
            }
        }
    }

    /// Parses and validates rules text laid over the built-in rules (a file needs only the
    /// keys it changes); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let invalid = |message: String| RulesError::Invalid {
            path: origin.to_string(),
            message,
        };
        let mut merged: toml::Table =
            toml::from_str(DEFAULT_RULES).map_err(|e| invalid(e.to_string()))?;
        let overrides: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        merge(&mut merged, overrides);
        let rules: Rules = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        rules.validate().map_err(|message| RulesError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(rules)
    }

    /// Checks what the types cannot: every problem found, one per line, each naming its
    /// section, key and value.
    fn validate(&self) -> Result<(), String> {
        let mut problems: Vec<String> = Vec::new();
        if let Err(problem) = self.networks.trusted_set() {
            problems.push(problem);
        }
        // A count or window of zero would make a detector fire on everything or nothing, a
        // radius of zero or less every place unfamiliar.
        let (f, t, g, u, m, p) = (
            &self.failures_then_success,
            &self.atypical_travel,
            &self.multiple_geographies,
            &self.unfamiliar_sign_in,
            &self.malicious_ip,
            &self.password_spray,
        );
        // One row per setting: (section, key, value, what it must be).
        #[rustfmt::skip]
        let checks: [(&str, &str, f64, Need); 17] = [
            ("failures_then_success", "min_failures", f.min_failures.into(), Need::Positive),
            ("failures_then_success", "session_gap_minutes", f.session_gap_minutes.into(), Need::Positive),
            ("atypical_travel", "min_distance_km", t.min_distance_km, Need::Positive),
            ("atypical_travel", "min_speed_kmh", t.min_speed_kmh, Need::Positive),
            ("atypical_travel", "familiar_radius_km", t.familiar_radius_km, Need::Positive),
            ("multiple_geographies", "window_minutes", g.window_minutes.into(), Need::Positive),
            ("multiple_geographies", "min_distance_km", g.min_distance_km, Need::Positive),
            ("unfamiliar_sign_in", "familiar_radius_km", u.familiar_radius_km, Need::Positive),
            ("unfamiliar_sign_in", "min_unfamiliar", u.min_unfamiliar.into(), Need::Positive),
            ("malicious_ip", "min_failures", m.min_failures.into(), Need::Positive),
            ("malicious_ip", "window_hours", m.window_hours.into(), Need::Positive),
            ("password_spray", "min_users", p.min_users.into(), Need::Positive),
            ("password_spray", "window_minutes", p.window_minutes.into(), Need::Positive),
            ("networks", "org_common_min_share", self.networks.org_common_min_share, Need::Share),
            ("new_country", "rare_share", self.new_country.rare_share, Need::Share),
            ("malicious_ip", "min_failure_ratio", m.min_failure_ratio, Need::Share),
            ("geoip", "max_accuracy_radius_km", self.geoip.max_accuracy_radius_km, Need::Positive),
        ];
        // Windows and learning periods are added to sign-in times (microseconds in an i64):
        // ten years bounds them far inside that range and far beyond any sensible rule.
        #[rustfmt::skip]
        let spans: [(&str, &str, u32, Span); 10] = [
            ("failures_then_success", "session_gap_minutes", f.session_gap_minutes, Span::Minutes),
            ("atypical_travel", "learning_days", t.learning_days, Span::Days),
            ("multiple_geographies", "window_minutes", g.window_minutes, Span::Minutes),
            ("unfamiliar_sign_in", "learning_days", u.learning_days, Span::Days),
            ("new_country", "min_history_days", self.new_country.min_history_days, Span::Days),
            ("malicious_ip", "window_hours", m.window_hours, Span::Hours),
            ("password_spray", "window_minutes", p.window_minutes, Span::Minutes),
            ("password_spray", "success_grace_minutes", p.success_grace_minutes, Span::Minutes),
            ("password_spray", "learning_days", p.learning_days, Span::Days),
            ("networks", "org_common_min_days", self.networks.org_common_min_days, Span::Days),
        ];
        for (section, key, value, span) in spans {
            let max = span.ten_years();
            if value > max {
                problems.push(format!(
                    "{section}: '{key}' is at most {max} (ten years), value: {value}"
                ));
            }
        }
        for (section, key, value, need) in checks {
            match need {
                Need::Positive if !(value.is_finite() && value > 0.0) => problems.push(format!(
                    "{section}: only positive numbers are allowed for '{key}', value: {value}"
                )),
                Need::Share if !(0.0..=1.0).contains(&value) => problems.push(format!(
                    "{section}: '{key}' is a share from 0 to 1, value: {value}"
                )),
                _ => {}
            }
        }
        let o = &self.outcomes;
        for code in o
            .credential_failure
            .iter()
            .filter(|c| o.credential_valid.contains(c))
        {
            problems.push(format!(
                "outcomes: code {code} is in both 'credential_failure' and 'credential_valid'"
            ));
        }
        if o.credential_failure.contains(&0) || o.credential_valid.contains(&0) {
            problems.push("outcomes: code 0 is success and cannot be listed".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n  "))
        }
    }

    /// SHA-256 of the effective rules (the defaults with a file's overrides laid over them)
    /// in a canonical serialisation: every section and key in a fixed order, numbers as
    /// their values. Two files that say the same thing in other words (comments, key order,
    /// `10` spelt out where the default already was 10) hash alike; a changed value does not.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        // Serialising plain structs of numbers, strings and lists cannot fail.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        sha2::Sha256::digest(&canonical)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The outcome code lists for the readers.
    pub fn outcome_codes(&self) -> OutcomeCodes {
        OutcomeCodes {
            credential_failure: self.outcomes.credential_failure.clone(),
            credential_valid: self.outcomes.credential_valid.clone(),
        }
    }
}

/// The unit of a setting that spans time.
#[derive(Clone, Copy)]
enum Span {
    Minutes,
    Hours,
    Days,
}

impl Span {
    /// Ten years in this unit: the longest window or learning period a rule may ask for.
    fn ten_years(self) -> u32 {
        const DAYS: u32 = 3653;
        match self {
            Span::Minutes => DAYS * 24 * 60,
            Span::Hours => DAYS * 24,
            Span::Days => DAYS,
        }
    }
}

/// What a numeric setting must be.
enum Need {
    Positive,
    /// From 0 to 1.
    Share,
}

/// Lays `overrides` over `base`, table by table; other values replace.
pub fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_load_and_classify_interrupts_as_valid() {
        let codes = Rules::builtin().outcome_codes();
        assert_eq!(
            codes.classify(50126),
            crate::frame::outcome::CREDENTIAL_FAILURE
        );
        assert_eq!(
            codes.classify(50140),
            crate::frame::outcome::CREDENTIAL_VALID
        );
        assert_eq!(
            codes.classify(50074),
            crate::frame::outcome::CREDENTIAL_VALID
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let text =
            "[outcomes]\ncredential_failure = []\ncredential_valid = []\ncredential_fial = [1]\n";
        let err = Rules::parse(text, "mine.toml").unwrap_err().to_string();
        assert!(err.contains("credential_fial"), "{err}");
        assert!(err.contains("mine.toml"), "{err}");
    }

    #[test]
    fn a_rules_file_needs_only_the_keys_it_changes() {
        let rules =
            Rules::parse("[failures_then_success]\nmin_failures = 5\n", "mine.toml").unwrap();
        assert_eq!(rules.failures_then_success.min_failures, 5);
        assert_eq!(rules.failures_then_success.session_gap_minutes, 20);
        assert!(rules.outcomes.credential_failure.contains(&50126));
    }

    #[test]
    fn a_zero_threshold_is_rejected_naming_field_and_value() {
        let err = Rules::parse("[failures_then_success]\nmin_failures = 0\n", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'min_failures', value: 0"), "{err}");
    }

    #[test]
    fn windows_and_learning_periods_beyond_ten_years_are_rejected() {
        let text = "[atypical_travel]\nlearning_days = 200000\n\
                    [malicious_ip]\nwindow_hours = 3000000\n\
                    [password_spray]\nwindow_minutes = 4294967295\n";
        let err = Rules::parse(text, "x").unwrap_err().to_string();
        for expected in [
            "atypical_travel: 'learning_days' is at most 3653 (ten years), value: 200000",
            "malicious_ip: 'window_hours' is at most 87672 (ten years), value: 3000000",
            "password_spray: 'window_minutes' is at most 5260320 (ten years), value: 4294967295",
        ] {
            assert!(err.contains(expected), "{expected} not in {err}");
        }
        assert!(Rules::parse("[atypical_travel]\nlearning_days = 3653\n", "x").is_ok());
    }

    #[test]
    fn the_digest_follows_the_effective_rules_not_the_text() {
        let builtin = Rules::builtin().digest();
        let restated = Rules::parse(
            "# same as the defaults\n[malicious_ip]\nmin_failures = 20\n",
            "x",
        )
        .unwrap()
        .digest();
        assert_eq!(restated, builtin);
        let changed = Rules::parse("[malicious_ip]\nmin_failures = 21\n", "x")
            .unwrap()
            .digest();
        assert_ne!(changed, builtin);
        assert_eq!(builtin.len(), 64);
    }

    #[test]
    fn an_invalid_trusted_block_is_rejected() {
        let err = Rules::parse("[networks]\ntrusted_cidrs = [\"10.0.0.0/33\"]\n", "x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trusted_cidrs") && err.contains("10.0.0.0/33"),
            "{err}"
        );
    }

    #[test]
    fn an_org_common_share_outside_zero_to_one_is_rejected() {
        let err = Rules::parse("[networks]\norg_common_min_share = 1.5\n", "x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("org_common_min_share") && err.contains("1.5"),
            "{err}"
        );
    }

    #[test]
    fn a_code_in_two_classes_is_rejected() {
        let text = DEFAULT_RULES.replace("credential_valid = [", "credential_valid = [50126, ");
        let err = Rules::parse(&text, "x").unwrap_err().to_string();
        assert!(err.contains("50126"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_each_with_its_key_and_value() {
        let text = "[atypical_travel]\nfamiliar_radius_km = -5.0\n\
                    [unfamiliar_sign_in]\nfamiliar_radius_km = 0.0\n\
                    [malicious_ip]\nmin_failure_ratio = 1.5\nwindow_hours = 0\n\
                    [password_spray]\nmin_users = 0\n";
        let err = Rules::parse(text, "x").unwrap_err().to_string();
        for expected in [
            "atypical_travel: only positive numbers are allowed for 'familiar_radius_km', value: -5",
            "unfamiliar_sign_in: only positive numbers are allowed for 'familiar_radius_km', value: 0",
            "malicious_ip: 'min_failure_ratio' is a share from 0 to 1, value: 1.5",
            "malicious_ip: only positive numbers are allowed for 'window_hours', value: 0",
            "password_spray: only positive numbers are allowed for 'min_users', value: 0",
        ] {
            assert!(err.contains(expected), "{expected} not in {err}");
        }
        assert_eq!(err.lines().count(), 5, "{err}");
    }
}
