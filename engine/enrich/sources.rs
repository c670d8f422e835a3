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

/// The side files `idrisk synth` writes into `dir`, as a run's enrichment files; `geoip`:
/// with the City and ASN databases (without, the log's own coordinates stand).
pub fn synth_side_files(dir: &std::path::Path, geoip: bool) -> FilesConfig {
    FilesConfig {
        geoip_city: geoip.then(|| dir.join("geoip-city.mmdb")),
        geoip_asn: geoip.then(|| dir.join("geoip-asn.mmdb")),
        anonymous_ip: Some(dir.join("anonymous-ip.mmdb")),
        anonymous_lists: vec![dir.join("tor-exit-nodes.txt")],
        threat_intel: vec![dir.join("threat-intel.txt")],
        infected_lists: vec![dir.join("infected-ips.txt")],
        leaked_accounts: vec![dir.join("leaked-accounts.txt")],
    }
}
