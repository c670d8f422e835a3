//! Rules files: every threshold, code list and network setting, loaded into typed configs.
//!
//! The built-in defaults are `rules/default.toml`, compiled into the binary so the engine
//! runs with no files around it. Unknown keys are errors: a misspelt threshold must not
//! silently fall back to its default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::frame::OutcomeCodes;

/// The rules the engine ships with.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// A rules file, as read: the sections every detector shares, typed here, and each
/// detector's own section kept as written for its detector to read (see
/// [`crate::detect::registry`], which also rejects a section no detector owns).
#[derive(Debug, Clone, Serialize)]
pub struct Rules {
    /// Error codes that sort sign-ins into outcome classes.
    pub outcomes: OutcomesConfig,
    /// Enrichment files; command-line flags win over these.
    pub files: FilesConfig,
    /// How GeoIP coordinates combine with the log's.
    pub geoip: GeoIpConfig,
    /// Org-common and trusted networks, shared by the location detectors.
    pub networks: NetworksConfig,
    /// Every other section by name: a detector's settings, read by the detector.
    sections: BTreeMap<String, toml::Table>,
    /// Where the rules came from, for errors found later (a detector's section).
    #[serde(skip)]
    origin: String,
}

/// The sections typed here; every other one belongs to a detector.
const SHARED_SECTIONS: [&str; 4] = ["outcomes", "files", "geoip", "networks"];

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

/// `[networks]`: what makes a network an organisation's common egress.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworksConfig {
    /// Distinct users of the tenant who sign in successfully from a /24 (IPv6 /48)...
    pub org_common_min_users: u32,
    /// ...or this share of the tenant's users when fewer (never fewer than 3)...
    pub org_common_min_share: f64,
    /// ...each of them on at least this many distinct days...
    pub org_common_min_user_days: u32,
    /// ...on at least this many distinct days, for it to be an egress rather than a place.
    pub org_common_min_days: u32,
    /// Corporate egress blocks (CIDR) that are always trusted: never a place, never anchor.
    pub trusted_cidrs: Vec<String>,
    /// Autonomous systems that are always trusted (a corporate ASN, a secure web gateway).
    pub trusted_asns: Vec<u32>,
}

impl NetworksConfig {
    /// Distinct users an org-common network needs in a tenant of `users` users: the
    /// configured number, or the configured share of a small tenant, but at least 3.
    pub fn org_common_users_needed(&self, users: usize) -> u32 {
        let by_share = (self.org_common_min_share * users as f64).ceil() as u32;
        self.org_common_min_users.min(by_share.max(3))
    }
}

/// `[geoip]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpConfig {
    /// Use the City database's coordinates even where the log has its own.
    pub prefer_over_log: bool,
    /// An address whose City-database accuracy radius is wider than this is no place for
    /// the location detectors: the database does not know where it is (satellite and
    /// in-flight links, carrier gateways).
    pub max_accuracy_radius_km: f64,
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
    /// keys it changes); `origin` names it in errors. The shared sections are checked here,
    /// a detector's when the registry builds it.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let invalid = |message: String| RulesError::Invalid {
            path: origin.to_string(),
            message,
        };
        let mut merged: toml::Table =
            toml::from_str(DEFAULT_RULES).map_err(|e| invalid(e.to_string()))?;
        let overrides: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        merge(&mut merged, overrides);
        let mut sections = BTreeMap::new();
        let mut shared = toml::Table::new();
        for (name, value) in merged {
            match value {
                _ if SHARED_SECTIONS.contains(&name.as_str()) => {
                    shared.insert(name, value);
                }
                toml::Value::Table(table) => {
                    sections.insert(name, table);
                }
                other => {
                    return Err(invalid(format!(
                        "'{name}' must be a section ([{name}]), value: {other}"
                    )))
                }
            }
        }
        let shared: Shared = toml::Value::Table(shared)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let rules = Rules {
            outcomes: shared.outcomes,
            files: shared.files,
            geoip: shared.geoip,
            networks: shared.networks,
            sections,
            origin: origin.to_string(),
        };
        let mut found = Vec::new();
        rules.check_shared(&mut found);
        rules.problems(found)?;
        Ok(rules)
    }

    /// A detector's section read as its settings type; `Err` says what is wrong, naming the
    /// section.
    pub fn section<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, String> {
        let table = self
            .sections
            .get(name)
            .ok_or_else(|| format!("{name}: the section is missing"))?;
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                let words: Vec<String> =
                    e.to_string().split_whitespace().map(String::from).collect();
                format!("{name}: {}", words.join(" "))
            })
    }

    /// The names of the detectors' sections.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }

    /// `Ok` when `found` is empty, else the error listing every problem, one per line.
    pub fn problems(&self, found: Vec<String>) -> Result<(), RulesError> {
        if found.is_empty() {
            return Ok(());
        }
        Err(self.invalid(found.join("\n  ")))
    }

    /// The error for a problem with these rules, naming where they came from.
    pub fn invalid(&self, problem: String) -> RulesError {
        RulesError::Invalid {
            path: self.origin.clone(),
            message: problem,
        }
    }

    /// Checks what the shared sections' types cannot.
    fn check_shared(&self, found: &mut Vec<String>) {
        let mut networks = Problems::new("networks", found);
        networks.share("org_common_min_share", self.networks.org_common_min_share);
        networks.at_most_ten_years(
            "org_common_min_days",
            self.networks.org_common_min_days,
            Span::Days,
        );
        if let Some(bad) = self
            .networks
            .trusted_cidrs
            .iter()
            .find(|block| crate::frame::ip::block_range(block.trim()).is_none())
        {
            networks.push(format!(
                "'trusted_cidrs' holds an invalid block, value: {bad:?}"
            ));
        }
        Problems::new("geoip", found)
            .positive("max_accuracy_radius_km", self.geoip.max_accuracy_radius_km);
        let o = &self.outcomes;
        for code in o
            .credential_failure
            .iter()
            .filter(|c| o.credential_valid.contains(c))
        {
            found.push(format!(
                "outcomes: code {code} is in both 'credential_failure' and 'credential_valid'"
            ));
        }
        if o.credential_failure.contains(&0) || o.credential_valid.contains(&0) {
            found.push("outcomes: code 0 is success and cannot be listed".into());
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

/// The shared sections, typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shared {
    outcomes: OutcomesConfig,
    files: FilesConfig,
    geoip: GeoIpConfig,
    networks: NetworksConfig,
}

/// The unit of a setting that spans time.
#[derive(Clone, Copy)]
pub enum Span {
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

/// Problems with one section's values, each named `section: 'key' … value: …`: what a
/// section's check reports.
pub struct Problems<'a> {
    section: &'a str,
    found: &'a mut Vec<String>,
}

impl<'a> Problems<'a> {
    pub fn new(section: &'a str, found: &'a mut Vec<String>) -> Self {
        Problems { section, found }
    }

    /// A problem in the section's words (prefixed with its name).
    pub fn push(&mut self, problem: String) {
        self.found.push(format!("{}: {problem}", self.section));
    }

    /// A count, window or distance of zero would make a detector fire on everything or
    /// nothing, a radius of zero or less every place unfamiliar.
    pub fn positive(&mut self, key: &str, value: impl Into<f64>) -> &mut Self {
        let value = value.into();
        if !(value.is_finite() && value > 0.0) {
            self.push(format!(
                "only positive numbers are allowed for '{key}', value: {value}"
            ));
        }
        self
    }

    /// A share from 0 to 1.
    pub fn share(&mut self, key: &str, value: f64) -> &mut Self {
        if !(0.0..=1.0).contains(&value) {
            self.push(format!("'{key}' is a share from 0 to 1, value: {value}"));
        }
        self
    }

    /// Windows and learning periods are added to sign-in times (microseconds in an i64):
    /// ten years bounds them far inside that range and far beyond any sensible rule.
    pub fn at_most_ten_years(&mut self, key: &str, value: u32, span: Span) -> &mut Self {
        let max = span.ten_years();
        if value > max {
            self.push(format!(
                "'{key}' is at most {max} (ten years), value: {value}"
            ));
        }
        self
    }
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
        let rules = Rules::parse("[networks]\norg_common_min_users = 5\n", "mine.toml").unwrap();
        assert_eq!(rules.networks.org_common_min_users, 5);
        assert_eq!(rules.networks.org_common_min_days, 3);
        assert!(rules.outcomes.credential_failure.contains(&50126));
        let section: toml::Table = rules.section("failures_then_success").unwrap();
        assert_eq!(section["min_failures"].as_integer(), Some(10));
    }

    #[test]
    fn a_value_that_is_no_section_is_rejected() {
        let err = Rules::parse("password_spray = 3\n", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'password_spray' must be a section"), "{err}");
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
}
