//! The frame as detectors see it: ordered once by (user, time, request id), with the columns
//! the kernels read extracted into plain slices in that order and each user's rows as one
//! contiguous range. The frame itself is not reordered (that would copy every column);
//! `row` numbers are positions in the order, and text is looked up through it when needed.

use polars::prelude::*;
use rayon::slice::ParallelSliceMut;

use crate::enrich::ip_set::IpSet;
use crate::enrich::leaked::LeakedAccounts;
use crate::enrich::{AnonymousFlags, AnonymousPolicy, AnonymousSources};
use crate::enrich::{GeoFacts, GeoIp};
use crate::frame::{col, outcome};

/// An outcome class as a small number, for tight loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    Success,
    CredentialValid,
    CredentialFailure,
    OtherFailure,
    Unknown,
}

impl Outcome {
    fn from_text(text: Option<&str>) -> Outcome {
        match text {
            Some(outcome::SUCCESS) => Outcome::Success,
            Some(outcome::CREDENTIAL_VALID) => Outcome::CredentialValid,
            Some(outcome::CREDENTIAL_FAILURE) => Outcome::CredentialFailure,
            Some(outcome::OTHER_FAILURE) => Outcome::OtherFailure,
            _ => Outcome::Unknown,
        }
    }

    /// Success, or the password was right and the flow was interrupted later.
    pub fn validated(self) -> bool {
        matches!(self, Outcome::Success | Outcome::CredentialValid)
    }
}

/// The sorted frame and its columns.
pub struct Context {
    /// The canonical frame as loaded (not reordered).
    pub frame: DataFrame,
    /// `order[row]`: the frame row at position `row` of the (user, time, id) order; rows
    /// without a user come last.
    pub order: Vec<IdxSize>,
    pub time: Vec<i64>,
    pub outcome: Vec<Outcome>,
    pub interactive: Vec<bool>,
    /// Each user's rows: `users[k] = (start, end)`.
    pub users: Vec<(usize, usize)>,
    /// Each user's first validated sign-in (learning periods count from it; a failed attempt
    /// by someone else is not the start of a user's history). `i64::MAX` when none.
    pub first_validated: Vec<i64>,
    /// Detections are emitted only for events at or after this time (microseconds, UTC).
    pub score_since: i64,
    /// Coordinates of each row, when the log or GeoIP gave them.
    pub place: Vec<Option<(f64, f64)>>,
    /// The row's /24 or /48 is an egress many colleagues share (see [`org_common_networks`]),
    /// or its address is in a trusted block or ASN of the rules.
    pub org_common: Vec<bool>,
    /// What the anonymous-network sources say of the row's address.
    pub anonymous_flags: Vec<AnonymousFlags>,
    /// The row's address is anonymous under the rules' policy (Tor, VPN, proxy, listed…).
    pub anonymous: Vec<bool>,
    /// The row's address is on a threat-intelligence list.
    pub threat_intel: Vec<bool>,
    /// The row's address is on an infected-device (botnet) list.
    pub infected: Vec<bool>,
    /// Leaked accounts passed by the user.
    pub leaked: LeakedAccounts,
    /// GeoIP accuracy radius of the row's address, in kilometres (0 when unknown).
    pub radius_km: Vec<f64>,
    by_address: std::sync::OnceLock<Vec<Vec<usize>>>,
    /// Each position's address as an index into the distinct addresses (for per-address
    /// detectors); `None` for rows without an address.
    pub address: Vec<Option<u32>>,
    ip: StringChunked,
}

/// The distinct addresses of a column, sorted, with their parsed form.
struct Addresses<'a> {
    texts: Vec<&'a str>,
    parsed: Vec<Option<std::net::IpAddr>>,
    /// For each position of the order, the index into `texts`.
    index: Vec<Option<u32>>,
}

impl<'a> Addresses<'a> {
    fn new(ip: &'a StringChunked, order: &[IdxSize]) -> Self {
        let mut texts: Vec<&str> = ip.iter().flatten().collect();
        texts.par_sort_unstable();
        texts.dedup();
        let parsed = texts.iter().map(|t| t.parse().ok()).collect();
        let position: ahash::AHashMap<&str, u32> = texts
            .iter()
            .enumerate()
            .map(|(k, &t)| (t, k as u32))
            .collect();
        let index = order
            .iter()
            .map(|&row| ip.get(row as usize).and_then(|t| position.get(t).copied()))
            .collect();
        Addresses {
            texts,
            parsed,
            index,
        }
    }

    /// A per-address fact for each position of the order, looked up once per address.
    fn lookup<T>(&self, active: bool, lookup: impl Fn(std::net::IpAddr) -> T + Sync) -> Vec<T>
    where
        T: Copy + Default + Send + Sync,
    {
        use rayon::prelude::*;
        if !active {
            return vec![T::default(); self.index.len()];
        }
        let values: Vec<T> = self
            .parsed
            .par_iter()
            .map(|p| p.map(&lookup).unwrap_or_default())
            .collect();
        debug_assert_eq!(values.len(), self.texts.len());
        self.index
            .iter()
            .map(|k| k.map_or_else(T::default, |k| values[k as usize]))
            .collect()
    }
}

/// `[networks]` in the rules: what makes a network an organisation's common egress.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworksConfig {
    /// Distinct users of the tenant who sign in from a /24 (IPv6 /48)...
    pub org_common_min_users: u32,
    /// ...on at least this many distinct days, for it to be an egress rather than a place.
    pub org_common_min_days: u32,
    /// Corporate egress blocks (CIDR) that are always trusted: never a place, never anchor.
    pub trusted_cidrs: Vec<String>,
    /// Autonomous systems that are always trusted (a corporate ASN, a secure web gateway).
    pub trusted_asns: Vec<u32>,
}

impl NetworksConfig {
    /// The trusted blocks as a set; `Err` names a block that does not parse.
    pub fn trusted_set(&self) -> Result<IpSet, String> {
        let (set, bad) = IpSet::parse(&self.trusted_cidrs.join("\n"));
        match bad.first() {
            Some(line) => Err(format!(
                "networks: 'trusted_cidrs' holds an invalid block, value: {:?}",
                line.text
            )),
            None => Ok(set),
        }
    }
}

/// Marks rows whose network is org-common: at least `min_users` distinct users on at least
/// `min_days` distinct days. Requiring several days keeps a one-day campaign from one network
/// from making itself common.
pub fn org_common_networks(
    networks: &[Option<u64>],
    users: &[(usize, usize)],
    time: &[i64],
    config: &NetworksConfig,
) -> Vec<bool> {
    use ahash::{AHashMap, AHashSet};
    let mut user_count: AHashMap<u64, u32> = AHashMap::new();
    let mut days: AHashMap<u64, AHashSet<i64>> = AHashMap::new();
    for &(start, end) in users {
        let mut seen: AHashSet<u64> = AHashSet::new();
        for row in start..end {
            if let Some(net) = networks[row] {
                if seen.insert(net) {
                    *user_count.entry(net).or_default() += 1;
                }
                days.entry(net)
                    .or_default()
                    .insert(time[row].div_euclid(86_400_000_000));
            }
        }
    }
    networks
        .iter()
        .map(|net| {
            net.is_some_and(|n| {
                user_count.get(&n).copied().unwrap_or(0) >= config.org_common_min_users
                    && days.get(&n).map_or(0, |d| d.len() as u32) >= config.org_common_min_days
            })
        })
        .collect()
}

/// What enrichment sources the context consults.
pub struct Enrichment<'e> {
    pub anonymous: &'e AnonymousSources,
    pub policy: AnonymousPolicy,
    pub threat_intel: &'e IpSet,
    pub infected: &'e IpSet,
    pub leaked: &'e LeakedAccounts,
    pub geoip: &'e GeoIp,
    /// Take GeoIP coordinates over the log's.
    pub prefer_geoip: bool,
}

/// `[geoip]` in the rules.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpConfig {
    /// Use the City database's coordinates even where the log has its own.
    pub prefer_over_log: bool,
}

impl Context {
    /// Orders the canonical frame for the detectors, without enrichment sources.
    pub fn new(
        frame: &DataFrame,
        score_since: Option<i64>,
        networks_config: &NetworksConfig,
    ) -> PolarsResult<Context> {
        let none = AnonymousSources::default();
        let empty = IpSet::default();
        let enrichment = Enrichment {
            anonymous: &none,
            policy: AnonymousPolicy {
                include_hosting: false,
                include_residential_proxy: false,
            },
            threat_intel: &empty,
            infected: &empty,
            leaked: &LeakedAccounts::default(),
            geoip: &GeoIp::default(),
            prefer_geoip: false,
        };
        Self::with_enrichment(frame, score_since, networks_config, &enrichment)
    }

    /// True when the row's address says where the user is: neither an org-common egress nor
    /// an anonymous network.
    pub fn is_place(&self, row: usize) -> bool {
        !self.org_common[row] && !self.anonymous[row]
    }

    /// A validated sign-in that says where the user is: what every location detector reads.
    /// Non-interactive sign-ins count only when the detector's rules include them.
    pub fn locates_user(&self, row: usize, include_non_interactive: bool) -> bool {
        self.outcome[row].validated()
            && (self.interactive[row] || include_non_interactive)
            && self.is_place(row)
    }

    /// Orders the canonical frame for the detectors and looks up each distinct address once.
    pub fn with_enrichment(
        frame: &DataFrame,
        score_since: Option<i64>,
        networks_config: &NetworksConfig,
        enrichment: &Enrichment<'_>,
    ) -> PolarsResult<Context> {
        let user_ids = frame.column(col::user_id)?.str()?;
        let names = frame.column(col::user_principal_name)?.str()?;
        let keys: Vec<Option<&str>> = user_ids
            .iter()
            .zip(names.iter())
            .map(|(id, name)| id.or(name))
            .collect();
        let times = crate::frame::time_values(frame)?;
        let request: Vec<&str> = frame
            .column(col::request_id)?
            .str()?
            .iter()
            .map(|r| r.unwrap_or(""))
            .collect();
        // Users as ranks of their sorted keys, so the sort compares integers; rows without a
        // user rank last.
        let mut distinct: Vec<&str> = keys.iter().flatten().copied().collect();
        distinct.par_sort_unstable();
        distinct.dedup();
        let rank_of: ahash::AHashMap<&str, u32> = distinct
            .iter()
            .enumerate()
            .map(|(k, &key)| (key, k as u32))
            .collect();
        let rank: Vec<u32> = keys
            .iter()
            .map(|k| k.map_or(u32::MAX, |k| rank_of[k]))
            .collect();
        let mut order: Vec<IdxSize> = (0..frame.height() as IdxSize).collect();
        order.par_sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            (rank[a], times[a])
                .cmp(&(rank[b], times[b]))
                .then_with(|| request[a].cmp(request[b]))
        });
        let mut users = Vec::new();
        let mut start = 0;
        for k in 1..=order.len() {
            let boundary =
                k == order.len() || keys[order[k] as usize] != keys[order[start] as usize];
            if boundary {
                if keys[order[start] as usize].is_some() {
                    users.push((start, k));
                }
                start = k;
            }
        }
        let at = |k: usize| order[k] as usize;
        let time: Vec<i64> = (0..order.len()).map(|k| times[at(k)]).collect();
        let outcomes: Vec<Option<&str>> = frame.column(col::outcome)?.str()?.iter().collect();
        let outcome: Vec<Outcome> = (0..order.len())
            .map(|k| Outcome::from_text(outcomes[at(k)]))
            .collect();
        let flags: Vec<Option<bool>> = frame.column(col::is_interactive)?.bool()?.iter().collect();
        let interactive = (0..order.len())
            .map(|k| flags[at(k)].unwrap_or(false))
            .collect();
        let latitude: Vec<Option<f64>> = frame.column(col::latitude)?.f64()?.iter().collect();
        let longitude: Vec<Option<f64>> = frame.column(col::longitude)?.f64()?.iter().collect();
        let place: Vec<Option<(f64, f64)>> = (0..order.len())
            .map(|k| Some((latitude[at(k)]?, longitude[at(k)]?)))
            .collect();
        let all_networks: Vec<Option<u64>> = frame.column(col::ip_network)?.u64()?.iter().collect();
        let networks: Vec<Option<u64>> = (0..order.len()).map(|k| all_networks[at(k)]).collect();
        let org_common = org_common_networks(&networks, &users, &time, networks_config);
        let first_validated = users
            .iter()
            .map(|&(start, end)| {
                (start..end)
                    .find(|&r| outcome[r].validated())
                    .map_or(i64::MAX, |r| time[r])
            })
            .collect();
        let ip = frame.column(col::ip_address)?.str()?.rechunk().into_owned();
        let (anonymous_flags, threat_intel, infected, geo, address) = {
            let e = enrichment;
            let addresses = Addresses::new(&ip, &order);
            (
                addresses.lookup(!e.anonymous.is_empty(), |a| e.anonymous.lookup(a)),
                addresses.lookup(!e.threat_intel.is_empty(), |a| e.threat_intel.contains(a)),
                addresses.lookup(!e.infected.is_empty(), |a| e.infected.contains(a)),
                addresses.lookup(!e.geoip.is_empty(), |a| e.geoip.lookup(a)),
                addresses.index,
            )
        };
        // The log's place wins unless told otherwise; GeoIP fills what the log lacks.
        let place: Vec<Option<(f64, f64)>> = place
            .into_iter()
            .zip(&geo)
            .map(
                |(logged, g): (Option<(f64, f64)>, &GeoFacts)| match (logged, g.place) {
                    (Some(_), Some(found)) if enrichment.prefer_geoip => Some(found),
                    (None, found) => found,
                    (logged, _) => logged,
                },
            )
            .collect();
        let radius_km = geo.iter().map(|g| g.radius_km).collect();
        // Trusted corporate networks are egress like org-common ones, whatever their volume.
        let trusted = networks_config.trusted_set().unwrap_or_default();
        let asns: Vec<Option<u32>> = frame.column(col::asn)?.u32()?.iter().collect();
        let mut org_common = org_common;
        for (k, common) in org_common.iter_mut().enumerate() {
            let by_asn = asns[at(k)].is_some_and(|a| networks_config.trusted_asns.contains(&a));
            let by_block = !trusted.is_empty()
                && ip
                    .get(at(k))
                    .and_then(|t| t.parse().ok())
                    .is_some_and(|a| trusted.contains(a));
            *common |= by_asn || by_block;
        }
        let anonymous = anonymous_flags
            .iter()
            .map(|f| f.is_anonymous(enrichment.policy))
            .collect();
        Ok(Context {
            by_address: std::sync::OnceLock::new(),
            radius_km,
            address,
            leaked: enrichment.leaked.clone(),
            threat_intel,
            infected,
            anonymous_flags,
            anonymous,
            first_validated,
            place,
            org_common,
            frame: frame.clone(),
            order,
            time,
            outcome,
            interactive,
            users,
            score_since: score_since.unwrap_or(i64::MIN),
            ip,
        })
    }

    /// Every position grouped by address, each group in time order (rows without a user
    /// included, as attacks on unknown accounts still count against an address).
    /// Built once and shared: several per-address detectors read it.
    pub fn by_address(&self) -> &[Vec<usize>] {
        self.by_address.get_or_init(|| self.group_by_address())
    }

    fn group_by_address(&self) -> Vec<Vec<usize>> {
        let distinct = self
            .address
            .iter()
            .flatten()
            .max()
            .map_or(0, |&m| m as usize + 1);
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); distinct];
        for (row, address) in self.address.iter().enumerate() {
            if let Some(a) = address {
                groups[*a as usize].push(row);
            }
        }
        for group in &mut groups {
            group.sort_by_key(|&row| (self.time[row], row));
        }
        groups
    }

    /// True when the position belongs to a user (service principals have none).
    pub fn users_row(&self, row: usize) -> bool {
        self.users.last().is_some_and(|&(_, end)| row < end)
    }

    pub fn ip(&self, row: usize) -> Option<&str> {
        self.ip.get(self.order[row] as usize)
    }

    /// One column in the detectors' order (a copy of that column only).
    pub fn sorted(&self, column: &str) -> PolarsResult<Column> {
        self.frame
            .column(column)?
            .take(&IdxCa::from_vec("order".into(), self.order.clone()))
    }

    /// A text column's value at a position of the order.
    pub fn text(&self, column: &str, row: usize) -> Option<String> {
        let row = self.order[row] as usize;
        self.frame
            .column(column)
            .ok()?
            .str()
            .ok()?
            .get(row)
            .map(String::from)
    }

    /// A float column's value at a position of the order.
    pub fn float(&self, column: &str, row: usize) -> Option<f64> {
        let row = self.order[row] as usize;
        self.frame.column(column).ok()?.f64().ok()?.get(row)
    }
}
