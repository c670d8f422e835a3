//! Rules files: every threshold, code list and network setting, loaded into typed configs.
//!
//! The built-in defaults are `rules/default.toml`, compiled into the binary so the engine
//! runs with no files around it. Unknown keys are errors: a misspelt threshold must not
//! silently fall back to its default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::frame::OutcomeCodes;

/// The rules the engine ships with.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// A rules file, as read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Error codes that sort sign-ins into outcome classes.
    pub outcomes: OutcomesConfig,
}

/// `[outcomes]`: which error codes are credential failures and which prove the credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomesConfig {
    /// Bad or unknown credential (counted as password failures).
    pub credential_failure: Vec<i32>,
    /// Password right, flow interrupted or blocked later (validated credentials).
    pub credential_valid: Vec<i32>,
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

    /// Parses and validates rules text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let rules: Rules = toml::from_str(text).map_err(|e| RulesError::Invalid {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        rules.validate().map_err(|message| RulesError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(rules)
    }

    fn validate(&self) -> Result<(), String> {
        let o = &self.outcomes;
        if let Some(code) = o
            .credential_failure
            .iter()
            .find(|c| o.credential_valid.contains(c))
        {
            return Err(format!(
                "outcomes: code {code} is in both 'credential_failure' and 'credential_valid'"
            ));
        }
        if o.credential_failure.contains(&0) || o.credential_valid.contains(&0) {
            return Err("outcomes: code 0 is success and cannot be listed".into());
        }
        Ok(())
    }

    /// The outcome code lists for the readers.
    pub fn outcome_codes(&self) -> OutcomeCodes {
        OutcomeCodes {
            credential_failure: self.outcomes.credential_failure.clone(),
            credential_valid: self.outcomes.credential_valid.clone(),
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
    fn a_code_in_two_classes_is_rejected() {
        let text = "[outcomes]\ncredential_failure = [50126]\ncredential_valid = [50126]\n";
        let err = Rules::parse(text, "x").unwrap_err().to_string();
        assert!(err.contains("50126"), "{err}");
    }
}
