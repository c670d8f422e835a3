//! Leaked-account lists: one address a line, or the SHA-256 hex of the lowercased address,
//! optionally followed by `,<leak date>`; `#` comments. Matching is case-insensitive.

use std::path::{Path, PathBuf};

use ahash::AHashMap;
use sha2::{Digest, Sha256};

use crate::frame::time::parse_time;

/// How an account was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Address,
    Sha256,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Address => "address",
            MatchedBy::Sha256 => "sha256",
        }
    }
}

/// A leaked-account list.
#[derive(Debug, Clone, Default)]
pub struct LeakedAccounts {
    /// Lowercased address or lowercase hex digest → leak time (µs), if given.
    entries: AHashMap<String, Option<i64>>,
}

/// A leaked-account file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LeakedError {
    #[error("cannot read '{path}': {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("'{path}' line {line}: {reason}: {text:?}")]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: &'static str,
        text: String,
    },
}

impl LeakedAccounts {
    pub fn read(paths: &[PathBuf]) -> Result<Self, LeakedError> {
        let mut accounts = LeakedAccounts::default();
        for path in paths {
            accounts.read_one(path)?;
        }
        Ok(accounts)
    }

    fn read_one(&mut self, path: &Path) -> Result<(), LeakedError> {
        let text = std::fs::read_to_string(path).map_err(|e| LeakedError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason| LeakedError::BadLine {
                path: path.to_path_buf(),
                line: n + 1,
                reason,
                text: raw.chars().take(200).collect(),
            };
            let (account, date) = match line.split_once(',') {
                Some((a, d)) => (a.trim(), Some(d.trim())),
                None => (line, None),
            };
            let is_digest = account.len() == 64 && account.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_digest && !account.contains('@') {
                return Err(bad("not an e-mail address or a SHA-256 hex digest"));
            }
            let when = match date.filter(|d| !d.is_empty()) {
                Some(d) => {
                    let text = if d.len() == 10 {
                        format!("{d}T00:00:00Z")
                    } else {
                        d.to_string()
                    };
                    Some(parse_time(&text).map_err(|_| bad("unreadable leak date"))?)
                }
                None => None,
            };
            self.entries.insert(account.to_lowercase(), when);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The leak of a principal name, if listed: (leak time, how it matched).
    pub fn find(&self, principal_name: &str) -> Option<(Option<i64>, MatchedBy)> {
        let lower = principal_name.to_lowercase();
        if let Some(when) = self.entries.get(&lower) {
            return Some((*when, MatchedBy::Address));
        }
        let digest: String = Sha256::digest(lower.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.entries
            .get(&digest)
            .map(|when| (*when, MatchedBy::Sha256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_digests_dates_and_case() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leaked.txt");
        let digest: String = Sha256::digest(b"bob@contoso.com")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(
            &path,
            format!("# leaks\nADA@Contoso.com,2025-03-02\n{digest}\nnobody@elsewhere.example\n"),
        )
        .unwrap();
        let leaked = LeakedAccounts::read(&[path]).unwrap();
        let (when, by) = leaked.find("ada@contoso.com").unwrap();
        assert_eq!(by, MatchedBy::Address);
        assert_eq!(when, Some(parse_time("2025-03-02T00:00:00Z").unwrap()));
        assert_eq!(
            leaked.find("Bob@Contoso.com").unwrap(),
            (None, MatchedBy::Sha256)
        );
        assert!(leaked.find("carol@contoso.com").is_none());
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leaked.txt");
        std::fs::write(&path, "ada@contoso.com\nnot an account\n").unwrap();
        let err = LeakedAccounts::read(&[path]).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("leaked.txt"),
            "{err}"
        );
    }
}
