//! Every enrichment source a run opens, from the files it was given ([`FilesConfig`]: the
//! command line, the rules' `[files]`, or a synthetic tenant's side files).

use std::path::PathBuf;

use super::anonymous::read_list;
use super::ip_set::IpSet;
use super::leaked::LeakedAccounts;
use super::{AnonymousSources, GeoIp};
use crate::rules::FilesConfig;

/// The sources, opened and read: every file is checked here, before any sign-in is read.
#[derive(Default)]
pub struct Sources {
    pub anonymous: AnonymousSources,
    pub threat_intel: IpSet,
    pub infected: IpSet,
    pub leaked: LeakedAccounts,
    pub geoip: GeoIp,
}

impl Sources {
    /// Opens the files named (flags or the rules' `[files]`).
    pub fn open(files: &FilesConfig) -> anyhow::Result<Sources> {
        Ok(Sources {
            anonymous: AnonymousSources::open(
                files.anonymous_ip.as_deref(),
                &files.anonymous_lists,
            )?,
            threat_intel: read_lists(&files.threat_intel)?,
            infected: read_lists(&files.infected_lists)?,
            leaked: LeakedAccounts::read(&files.leaked_accounts)?,
            geoip: GeoIp::open(files.geoip_city.as_deref(), files.geoip_asn.as_deref())?,
        })
    }
}

/// The union of address lists.
fn read_lists(paths: &[PathBuf]) -> anyhow::Result<IpSet> {
    let mut set = IpSet::default();
    for path in paths {
        set = set.union(&read_list(path)?);
    }
    Ok(set)
}
