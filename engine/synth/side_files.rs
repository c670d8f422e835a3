//! The files a user would have beside their exports: GeoIP databases covering the tenant's IP
//! plan, the Tor exit list, threat-intelligence and infected-device lists, the leaked-account
//! list, the labels, and `tenant.toml` describing what was generated.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::Writer;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::attacks::LeakForm;
use super::network::{NetKind, Plan};
use super::tenant::MICROS_PER_DAY;
use super::Tenant;
use crate::frame::time::format_time;

#[derive(Serialize)]
struct Names<'a> {
    en: &'a str,
}

#[derive(Serialize)]
struct Named<'a> {
    names: Names<'a>,
}

#[derive(Serialize)]
struct Country<'a> {
    iso_code: &'a str,
    names: Names<'a>,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    accuracy_radius: u16,
}

#[derive(Serialize)]
struct CityRecord<'a> {
    city: Named<'a>,
    country: Country<'a>,
    location: Location,
    subdivisions: Vec<Named<'a>>,
}

#[derive(Serialize)]
struct AsnRecord<'a> {
    autonomous_system_number: u32,
    autonomous_system_organization: &'a str,
}

#[derive(Serialize)]
struct AnonymousRecord {
    is_anonymous: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_anonymous_vpn: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_hosting_provider: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_tor_exit_node: bool,
}

fn net_of(net: &super::network::Network) -> anyhow::Result<IpNet> {
    Ok(match net.v6 {
        Some(base) => IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base), 32)?),
        None => IpNet::V4(Ipv4Net::new(Ipv4Addr::from(net.base), net.prefix)?),
    })
}

/// Writes every side file into `dir`; returns the paths written.
pub fn write_side_files(tenant: &Tenant, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut save = |name: &str, bytes: Vec<u8>| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    // The build time is the tenant's first day, not the wall clock: same seed, same bytes.
    let epoch =
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(tenant.config.start.max(0) as u64);
    let database = |kind: &str| Writer::builder(kind).build_epoch(epoch).build();
    let mut city = database("GeoIP2-City");
    let mut asn = database("GeoLite2-ASN");
    let mut anonymous = database("GeoIP2-Anonymous-IP");
    for net in &tenant.plan.networks {
        let cidr = net_of(net)?;
        city.insert(
            cidr,
            &CityRecord {
                city: Named {
                    names: Names { en: net.city.name },
                },
                country: Country {
                    iso_code: net.city.country,
                    names: Names {
                        en: net.city.country,
                    },
                },
                location: Location {
                    latitude: net.city.latitude,
                    longitude: net.city.longitude,
                    accuracy_radius: net.radius_km,
                },
                subdivisions: vec![Named {
                    names: Names { en: net.city.state },
                }],
            },
        )?;
        asn.insert(
            cidr,
            &AsnRecord {
                autonomous_system_number: net.asn,
                autonomous_system_organization: &net.org,
            },
        )?;
        // The database lags: the newest Tor relays' block is not in it yet.
        let unknown = Some(&net.base) == newest(&tenant.plan, &tenant.plan.tor).as_ref();
        let flags = match net.kind {
            _ if unknown => None,
            NetKind::Tor => Some((false, false, true)),
            NetKind::CommercialVpn => Some((true, false, false)),
            NetKind::Hosting | NetKind::Cloud => Some((false, true, false)),
            _ => None,
        };
        if let Some((vpn, hosting, tor)) = flags {
            anonymous.insert(
                cidr,
                &AnonymousRecord {
                    is_anonymous: vpn || tor,
                    is_anonymous_vpn: vpn,
                    is_hosting_provider: hosting,
                    is_tor_exit_node: tor,
                },
            )?;
        }
    }
    save("geoip-city.mmdb", city.to_bytes()?)?;
    save("geoip-asn.mmdb", asn.to_bytes()?)?;
    save("anonymous-ip.mmdb", anonymous.to_bytes()?)?;

    // The exit list was fetched before the newest relays joined: their block is listed
    // only up to .100.
    let mut tor = String::new();
    for &net in &tenant.plan.tor {
        let base = tenant.plan.networks[net].base;
        let last = if Some(base) == newest(&tenant.plan, &tenant.plan.tor) {
            100
        } else {
            254
        };
        for host in 1..=last {
            writeln!(tor, "{}", Ipv4Addr::from(base + host))?;
        }
    }
    save("tor-exit-nodes.txt", tor.into_bytes())?;
    let list = |title: &str, ips: &[u32]| {
        let mut text = format!("# {title}\n# one address a line; generated by idrisk synth\n");
        let mut ips = ips.to_vec();
        ips.sort_unstable();
        ips.dedup();
        for ip in ips {
            let _ = writeln!(text, "{}", Ipv4Addr::from(ip));
        }
        text.into_bytes()
    };
    save(
        "threat-intel.txt",
        list(
            "threat intelligence: addresses seen in attacks",
            &tenant.intelligence.threat_intel_ips,
        ),
    )?;
    save(
        "infected-ips.txt",
        list(
            "botnet feed: addresses of infected devices",
            &tenant.intelligence.infected_ips,
        ),
    )?;
    save("leaked-accounts.txt", leaked_accounts(tenant).into_bytes())?;
    let mut labels = String::new();
    for label in &tenant.labels {
        labels.push_str(&serde_json::to_string(label)?);
        labels.push('\n');
    }
    save("labels.jsonl", labels.into_bytes())?;
    let mut ignored = String::new();
    for pair in &tenant.ignored {
        ignored.push_str(&serde_json::to_string(pair)?);
        ignored.push('\n');
    }
    save("ignore.jsonl", ignored.into_bytes())?;
    save("tenant.toml", describe(tenant).into_bytes())?;
    Ok(written)
}

/// The base of the last network of `nets`: the newest of its kind.
fn newest(plan: &Plan, nets: &[usize]) -> Option<u32> {
    nets.last().map(|&n| plan.networks[n].base)
}

/// One account a line, `,YYYY-MM-DD` leak date; some as SHA-256 of the lowercased address,
/// some in mixed case, and a few addresses that are not the tenant's.
fn leaked_accounts(tenant: &Tenant) -> String {
    let mut text = String::from(
        "# leaked accounts: address or SHA-256 of the lowercased address, then the leak date\n",
    );
    for (user, form, leak) in &tenant.intelligence.leaked {
        let upn = &tenant.users[*user as usize].upn;
        let date = &format_time(tenant.config.start + leak)[..10];
        let shown = match form {
            LeakForm::Hashed => hex(&Sha256::digest(upn.to_lowercase().as_bytes())),
            // The alias drops the number that makes the sign-in name unique.
            LeakForm::Alias => upn.replace(|c: char| c.is_ascii_digit(), ""),
            LeakForm::Plain if user % 2 == 0 => upn.to_uppercase(),
            LeakForm::Plain => upn.clone(),
        };
        let _ = writeln!(text, "{shown},{date}");
    }
    for outsider in [
        "ceo@fabrikam.example",
        "someone.else@contoso-partner.example",
        "old.account@contoso.com",
    ] {
        let _ = writeln!(
            text,
            "{outsider},{}",
            &format_time(tenant.config.start)[..10]
        );
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `tenant.toml`: the generation parameters and what came out of them.
fn describe(tenant: &Tenant) -> String {
    let c = &tenant.config;
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_scenario: BTreeMap<&str, usize> = BTreeMap::new();
    for label in &tenant.labels {
        *by_type.entry(&label.risk_event_type).or_default() += 1;
        *by_scenario.entry(&label.scenario).or_default() += 1;
    }
    let count = |kind: &str| tenant.counts.get(kind).copied().unwrap_or(0);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Generated by idrisk synth. Labels are in labels.jsonl.\n"
    );
    let _ = writeln!(
        text,
        "[generation]\nusers = {}\ndays = {}\nseed = {}\nstart = \"{}\"\nattack_rate = {}\n",
        c.users,
        c.days,
        c.seed,
        &format_time(c.start)[..10],
        c.attack_rate
    );
    let _ = writeln!(text, "[sign_ins]\ntotal = {}", tenant.total());
    for kind in [
        "interactiveUser",
        "nonInteractiveUser",
        "servicePrincipal",
        "managedIdentity",
    ] {
        let _ = writeln!(text, "{kind} = {}", count(kind));
    }
    let _ = writeln!(text, "days = {}\n", c.days);
    let _ = writeln!(
        text,
        "[networks]\ncorporate_vpn = \"{}\"",
        tenant.plan.networks[tenant.plan.corporate_vpn].cidr()
    );
    let offices: Vec<String> = tenant
        .plan
        .offices
        .iter()
        .map(|&n| format!("\"{}\"", tenant.plan.networks[n].cidr()))
        .collect();
    let _ = writeln!(text, "offices = [{}]\n", offices.join(", "));
    let _ = writeln!(text, "[labels.by_type]");
    for (kind, n) in by_type {
        let _ = writeln!(text, "{kind} = {n}");
    }
    let _ = writeln!(text, "\n[labels.by_scenario]");
    for (scenario, n) in by_scenario {
        let _ = writeln!(text, "{scenario} = {n}");
    }
    let _ = writeln!(
        text,
        "\n[period]\nfirst_day = \"{}\"\nlast_day = \"{}\"",
        &format_time(c.start)[..10],
        &format_time(c.start + i64::from(c.days.max(1) - 1) * MICROS_PER_DAY)[..10]
    );
    text
}
