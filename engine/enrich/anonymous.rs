//! Anonymous networks: Tor exits, anonymous VPNs, public proxies (and, when asked, hosting
//! providers and residential proxies), from a GeoIP2 Anonymous-IP `.mmdb` and from plain
//! IP/CIDR lists such as the Tor bulk exit list.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::geoip2::AnonymousIp;

use super::ip_set::IpSet;

/// Why an address is anonymous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnonymousFlags {
    pub tor: bool,
    pub vpn: bool,
    pub proxy: bool,
    pub hosting: bool,
    pub residential_proxy: bool,
    /// Listed in a user-supplied anonymous list.
    pub listed: bool,
}

/// Which flags make an address anonymous (the rules decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnonymousPolicy {
    pub include_hosting: bool,
    pub include_residential_proxy: bool,
}

impl AnonymousFlags {
    pub fn is_anonymous(&self, policy: AnonymousPolicy) -> bool {
        self.tor
            || self.vpn
            || self.proxy
            || self.listed
            || (policy.include_hosting && self.hosting)
            || (policy.include_residential_proxy && self.residential_proxy)
    }

    /// The kinds that apply, for evidence.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            (self.tor, "torExitNode"),
            (self.vpn, "anonymousVpn"),
            (self.proxy, "publicProxy"),
            (self.hosting, "hostingProvider"),
            (self.residential_proxy, "residentialProxy"),
            (self.listed, "listed"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
        .collect()
    }
}

/// A source file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read '{path}': {message} (check the path; GeoIP databases and lists are files you pass, never downloaded)")]
    Unreadable { path: PathBuf, message: String },
    #[error("'{path}' line {line} is not an IP address or CIDR block: {text:?}")]
    BadLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
}

/// The Anonymous-IP database and lists.
#[derive(Default)]
pub struct AnonymousSources {
    database: Option<maxminddb::Reader<Vec<u8>>>,
    lists: IpSet,
}

impl AnonymousSources {
    /// Opens the database and reads the lists; any unreadable or malformed file is an error
    /// naming it, before any work starts.
    pub fn open(database: Option<&Path>, lists: &[PathBuf]) -> Result<Self, SourceError> {
        let database = database
            .map(|path| {
                maxminddb::Reader::open_readfile(path).map_err(|e| SourceError::Unreadable {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })
            })
            .transpose()?;
        let mut set = IpSet::default();
        for path in lists {
            set = set.union(&read_list(path)?);
        }
        Ok(AnonymousSources {
            database,
            lists: set,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.database.is_none() && self.lists.is_empty()
    }

    pub fn lookup(&self, ip: IpAddr) -> AnonymousFlags {
        let ip = crate::frame::ip::canonical_ip(ip);
        let mut flags = AnonymousFlags {
            listed: self.lists.contains(ip),
            ..AnonymousFlags::default()
        };
        let found = self
            .database
            .as_ref()
            .and_then(|db| db.lookup(ip).ok())
            .and_then(|result| result.decode::<AnonymousIp>().ok().flatten());
        if let Some(record) = found {
            flags.tor = record.is_tor_exit_node.unwrap_or(false);
            flags.vpn = record.is_anonymous_vpn.unwrap_or(false);
            flags.proxy = record.is_public_proxy.unwrap_or(false);
            flags.hosting = record.is_hosting_provider.unwrap_or(false);
            flags.residential_proxy = record.is_residential_proxy.unwrap_or(false);
        }
        flags
    }
}

/// Reads an IP/CIDR list file.
pub fn read_list(path: &Path) -> Result<IpSet, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|e| SourceError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let (set, bad) = IpSet::parse(&text);
    match bad.into_iter().next() {
        Some(line) => Err(SourceError::BadLine {
            path: path.to_path_buf(),
            line: line.line,
            text: line.text,
        }),
        None => Ok(set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosting_and_residential_proxies_count_only_when_the_policy_says_so() {
        let off = AnonymousPolicy {
            include_hosting: false,
            include_residential_proxy: false,
        };
        let on = AnonymousPolicy {
            include_hosting: true,
            include_residential_proxy: true,
        };
        let hosting = AnonymousFlags {
            hosting: true,
            ..AnonymousFlags::default()
        };
        let residential = AnonymousFlags {
            residential_proxy: true,
            ..AnonymousFlags::default()
        };
        let tor = AnonymousFlags {
            tor: true,
            ..AnonymousFlags::default()
        };
        assert!(!hosting.is_anonymous(off) && hosting.is_anonymous(on));
        assert!(!residential.is_anonymous(off) && residential.is_anonymous(on));
        assert!(tor.is_anonymous(off));
        assert_eq!(tor.kinds(), ["torExitNode"]);
    }

    #[test]
    fn a_missing_database_is_an_error_naming_it() {
        let err = AnonymousSources::open(Some(Path::new("/no/such.mmdb")), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/no/such.mmdb"), "{err}");
    }
}
