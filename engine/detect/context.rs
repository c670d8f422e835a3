//! The frame as detectors see it: ordered once by (user, time, request id), with the columns
//! the kernels read extracted into plain slices in that order and each user's rows as one
//! contiguous range. The frame itself is not reordered (that would copy every column);
//! `row` numbers are positions in the order, and text is looked up through it when needed.

use std::borrow::Cow;
use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;

use super::order::{self, Codes, Groups, Positions};

use crate::enrich::ip_set::IpSet;
use crate::enrich::leaked::LeakedAccounts;
use crate::enrich::sources::Sources;
use crate::enrich::{AnonymousFlags, AnonymousPolicy, AnonymousSources};
use crate::enrich::{GeoFacts, GeoIp};
use crate::frame::address::address_codes;
use crate::frame::{col, outcome, FetchRows, OutcomeCodes, TextCodes, UserKeys};
use crate::rules::{NetworksConfig, Rules, RulesError};

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

    /// The class of an error code under the rules' lists; no code is no class.
    pub fn of_code(code: Option<i32>, codes: &OutcomeCodes) -> Outcome {
        match code {
            None => Outcome::Unknown,
            // Most sign-ins succeed: no list is searched for them.
            Some(0) => Outcome::Success,
            Some(code) => Outcome::from_text(Some(codes.classify(code))),
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
    /// See [`crate::rules::GeoIpConfig::max_accuracy_radius_km`].
    max_radius_km: f64,
    /// Coordinates of each row, when the log or GeoIP gave them ([`Context::place`]): a NaN
    /// latitude for none, so a row takes 16 bytes rather than `Option`'s 24.
    place: Vec<(f64, f64)>,
    /// The row's /24 or /48 is an egress many colleagues share (see [`super::org_common`]),
    /// or its address is in a trusted block or ASN of the rules.
    pub org_common: Vec<bool>,
    /// What the enrichment sources say of each distinct address (indexed like `address`),
    /// read per position through [`Context::address_facts`]: a month of a 25,000-user
    /// tenant has 370,000 distinct addresses for its ten million rows.
    facts: Vec<AddressFacts>,
    /// What the GeoIP databases say of each distinct address, when they were passed.
    geo: Option<Vec<GeoFacts>>,
    /// Leaked accounts passed by the user.
    pub leaked: LeakedAccounts,
    /// The row's autonomous system ([`Context::asn`]); [`NO_ASN`] for none.
    asn: Vec<u32>,
    /// Each distinct address's /24 (IPv6 /48) network key (indexed like `address`), read per
    /// position through [`Context::network`]; [`NO_NETWORK`] for text that is no address.
    /// A network is its address's: the frame's own network column is not read.
    networks: Vec<u64>,
    by_address: std::sync::OnceLock<Groups>,
    by_time: std::sync::OnceLock<Vec<IdxSize>>,
    /// Text columns in the detectors' order, each built once when first asked for (at once,
    /// when the load handed them over as codes).
    in_order: Vec<(&'static str, std::sync::OnceLock<Option<Codes>>)>,
    /// Each position's address as an index into the distinct addresses (for per-address
    /// detectors); [`order::NONE`] for rows without an address.
    pub address: Vec<u32>,
    /// The address column as codes in address order.
    ip: Arc<TextCodes>,
    /// The frame's rows are in (time, request id) order.
    time_ordered: bool,
    /// Columns the load handed over as codes, not in the frame.
    coded: Vec<(&'static str, Arc<TextCodes>)>,
    /// Where columns the load left unread are read for chosen rows.
    fetch: Option<Arc<dyn FetchRows>>,
    /// Each frame row's position (the inverse of `order`), built when first asked for.
    positions: std::sync::OnceLock<Vec<IdxSize>>,
    /// Users returning to each network and ASN (see [`super::org_common::Returning`]).
    pub returning: super::org_common::Returning,
    /// The org-common networks (sorted), as the org-common pass found them: trusted blocks
    /// and ASNs aside.
    pub common_networks: Vec<u64>,
    /// In a sharded run, what the whole tenant holds beyond this shard's users (see
    /// [`super::tenant`]); none when the context holds the whole tenant.
    pub tenant: Option<Arc<super::tenant::TenantFacts>>,
    /// Per position, whether its network is new to its user, as the user's whole history
    /// says: set on a context made of a few rows gathered from every shard (see
    /// [`super::tenant`]), where the users' histories are not at hand.
    pub new_network: Option<Vec<bool>>,
}

/// The autonomous system number that stands for none in per-row columns: 4294967295 is
/// reserved (RFC 7300) and never a real one.
pub const NO_ASN: u32 = u32::MAX;

/// The network key that stands for none in per-row columns: no address has it (see
/// [`crate::frame::ip::network_key`], whose IPv6 keys end in 16 zero bits).
pub const NO_NETWORK: u64 = u64::MAX;

/// No place: a NaN latitude.
const NO_PLACE: (f64, f64) = (f64::NAN, f64::NAN);

/// The distinct addresses of a column, in address order, with their parsed form.
struct Addresses {
    parsed: Vec<Option<std::net::IpAddr>>,
    /// For each position of the order, the index into the distinct addresses.
    index: Vec<u32>,
    /// The positions of each distinct address in time order, when asked for.
    groups: Option<Groups>,
}

impl Addresses {
    /// `codes`: the address column as codes in address order (see [`crate::frame::address`]),
    /// so an address's code is its number. When the frame rows are in time order, the
    /// addresses' frame rows, grouped in frame order, are their positions in time order,
    /// which [`Context::by_address`] would otherwise build apart, reading the order at random.
    fn new(codes: &TextCodes, positions: &Positions, time_ordered: bool) -> Self {
        let parsed = codes
            .distinct
            .par_iter()
            .map(|text| text.parse::<std::net::IpAddr>().ok())
            .collect();
        let groups = time_ordered.then(|| {
            let position_of = positions.as_slice();
            Groups::new(&codes.index, 0..codes.index.len()).mapped(|row| position_of[row] as usize)
        });
        Addresses {
            parsed,
            index: positions.scatter(|row| codes.index[row]),
            groups,
        }
    }

    /// `lookup` of each distinct address (the default for text that is no address).
    fn per_address<T>(&self, lookup: impl Fn(std::net::IpAddr) -> T + Sync) -> Vec<T>
    where
        T: Default + Send,
    {
        self.parsed
            .par_iter()
            .map(|p| p.map(&lookup).unwrap_or_default())
            .collect()
    }
}

/// What the enrichment sources and the rules say of one distinct address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressFacts {
    /// What the anonymous-network sources say of it.
    pub anonymous_flags: AnonymousFlags,
    /// Anonymous under the rules' policy (Tor, VPN, proxy, listed…).
    pub anonymous: bool,
    /// On a threat-intelligence list.
    pub threat_intel: bool,
    /// On an infected-device (botnet) list.
    pub infected: bool,
    /// In a trusted block of the rules.
    pub trusted: bool,
}

/// The rules' trusted blocks as a set (the rules were checked: every block parses).
fn trusted_set(config: &NetworksConfig) -> IpSet {
    IpSet::parse(&config.trusted_cidrs.join("\n")).0
}

/// The canonical columns the context reads for every row itself (the load's user keys
/// aside): what every detector may read through it without declaring them.
pub const COLUMNS: &[&str] = &[
    col::time,
    col::error_code,
    col::is_interactive,
    col::latitude,
    col::longitude,
    col::asn,
    col::ip_address,
];

/// The canonical frame's text columns: any of them a detector reads row by row in its order
/// comes as codes ([`Context::codes`]).
fn text_columns() -> impl Iterator<Item = &'static str> {
    crate::frame::COLUMNS
        .iter()
        .filter(|c| c.dtype == "string")
        .map(|c| c.name)
}

/// The text columns several detectors read row by row in their order: laid out at once when
/// the load hands them over as codes (a scatter, while the order's positions are at hand).
const LAID_OUT: [&str; 3] = [col::country, col::operating_system, col::browser];

/// Text columns in the detectors' order: those of [`LAID_OUT`] the load handed over as codes
/// are laid out now; the others when first asked for.
fn codes_in_order(
    coded: &[(&'static str, Arc<TextCodes>)],
    positions: &Positions,
) -> Vec<(&'static str, std::sync::OnceLock<Option<Codes>>)> {
    text_columns()
        .map(|column| {
            let cell = std::sync::OnceLock::new();
            let handed = find_coded(coded, column).filter(|_| LAID_OUT.contains(&column));
            if let Some(codes) = handed {
                let _ = cell.set(Some(Codes {
                    distinct: codes.distinct.clone(),
                    code: positions.scatter(|row| codes.index[row]),
                }));
            }
            (column, cell)
        })
        .collect()
}

/// The network key of the address at a position ([`NO_NETWORK`] for none).
pub(super) fn network_at(address: &[u32], networks: &[u64], row: usize) -> u64 {
    match address[row] {
        order::NONE => NO_NETWORK,
        k => networks[k as usize],
    }
}

/// Coordinates stored with a NaN latitude for none, as an `Option`.
fn place_of(stored: (f64, f64)) -> Option<(f64, f64)> {
    (!stored.0.is_nan()).then_some(stored)
}

/// A loaded frame as the context reads it.
pub struct Loaded<'f> {
    pub frame: &'f DataFrame,
    /// Columns handed over as codes rather than in the frame: user columns and
    /// text columns a projected load left unread.
    pub coded: Vec<(&'static str, Arc<TextCodes>)>,
    /// Each row's user key, when the load built it (else it comes from the frame's user
    /// columns).
    pub users: Option<&'f UserKeys>,
    /// The frame's times, when the load handed them over: it checked that its rows are in
    /// (time, request id) order, so they are neither copied nor checked again.
    pub times: Option<&'f [i64]>,
    /// Where columns the load left unread are read for chosen rows.
    pub fetch: Option<Arc<dyn FetchRows>>,
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
    /// Locations less precise than this (GeoIP accuracy radius, km) are no place.
    pub max_radius_km: f64,
    /// The rules' error-code lists: each sign-in's outcome class is derived from its error
    /// code with the lists in force, never taken from a class stored when a canonical file
    /// was written under other rules.
    pub outcomes: OutcomeCodes,
}

impl<'e> Enrichment<'e> {
    /// The opened sources, looked up as the rules say (anonymous-IP policy, GeoIP over the
    /// log or not).
    pub fn from_sources(sources: &'e Sources, rules: &Rules) -> Result<Self, RulesError> {
        Ok(Enrichment {
            anonymous: &sources.anonymous,
            policy: super::anonymous_ip::policy(rules)?,
            threat_intel: &sources.threat_intel,
            infected: &sources.infected,
            leaked: &sources.leaked,
            geoip: &sources.geoip,
            prefer_geoip: rules.geoip.prefer_over_log,
            max_radius_km: rules.geoip.max_accuracy_radius_km,
            outcomes: rules.outcome_codes(),
        })
    }
}

/// Rows in the detectors' order: (user rank, time, request id).
struct UserOrder<'f> {
    order: Vec<IdxSize>,
    /// Each frame row's position in `order`.
    positions: Positions,
    /// Each user's range of positions.
    users: Vec<(usize, usize)>,
    /// The frame's own rows were in (time, request id) order.
    time_ordered: bool,
    /// The frame's times, in frame order.
    times: Cow<'f, [i64]>,
}

fn user_order<'f>(
    frame: &DataFrame,
    keys: Option<&UserKeys>,
    handed_times: Option<&'f [i64]>,
) -> PolarsResult<UserOrder<'f>> {
    let times = match handed_times {
        Some(times) => Cow::Borrowed(times),
        None => Cow::Owned(crate::frame::time_values(frame)?),
    };
    let from_frame;
    let user = match keys {
        Some(keys) => keys,
        None => {
            from_frame = UserKeys::from_columns(
                frame.column(col::user_id)?.str()?,
                frame.column(col::user_principal_name)?.str()?,
            );
            &from_frame
        }
    };
    // A load hands its frame over in (time, request id) order, and may leave the ids unread
    // (null): rows of equal time then keep the frame's order, which is that order.
    let ids = frame.column(col::request_id)?.str()?;
    let time_ordered =
        handed_times.is_some() || order::is_time_ordered(&times, |r| ids.get(r).unwrap_or(""));
    let (order, positions) = if time_ordered {
        order::by_user(&user.index, user.count)
    } else {
        let request: Vec<&str> = ids.iter().map(|r| r.unwrap_or("")).collect();
        let order = order::by_user_time_request(&user.index, user.count, &times, &request);
        let positions = Positions::of(&order);
        (order, positions)
    };
    let users = order::user_ranges(&user.index, user.count);
    Ok(UserOrder {
        order,
        positions,
        users,
        time_ordered,
        times,
    })
}

/// A column among those a load handed over as codes.
fn find_coded<'a>(coded: &'a [(&str, Arc<TextCodes>)], column: &str) -> Option<&'a Arc<TextCodes>> {
    coded
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, codes)| codes)
}

/// The per-row columns the kernels read, in the detectors' order.
struct Columns {
    time: Vec<i64>,
    outcome: Vec<Outcome>,
    interactive: Vec<bool>,
    place: Vec<(f64, f64)>,
    asn: Vec<u32>,
}

impl Columns {
    /// `times` are the frame's, in frame order.
    fn in_order(
        frame: &DataFrame,
        outcomes: &OutcomeCodes,
        positions: &Positions,
        times: &[i64],
    ) -> PolarsResult<Columns> {
        let codes = frame.column(col::error_code)?.i32()?;
        let outcome = positions.scatter_runs(|rows| {
            run_of(codes, rows)
                .into_iter()
                .map(|code| Outcome::of_code(code, outcomes))
        });
        let flags = frame.column(col::is_interactive)?.bool()?;
        let latitude = frame.column(col::latitude)?.f64()?;
        let longitude = frame.column(col::longitude)?.f64()?;
        // Both coordinates in one pass over the rows, straight into places.
        let place = positions.scatter_runs(|rows| {
            run_of(latitude, rows.clone())
                .into_iter()
                .zip(run_of(longitude, rows))
                .map(|(lat, lon)| lat.zip(lon).unwrap_or(NO_PLACE))
        });
        Ok(Columns {
            time: positions.scatter(|row| times[row]),
            outcome,
            interactive: positions.scatter_runs(|rows| {
                flags
                    .slice(rows.start as i64, rows.len())
                    .iter()
                    .map(|f| f.unwrap_or(false))
                    .collect::<Vec<_>>()
                    .into_iter()
            }),
            place,
            asn: in_order(frame.column(col::asn)?.u32()?, positions, NO_ASN),
        })
    }
}

/// A numeric column's values in the detectors' order, read run by run from its chunks;
/// `none` stands for a null.
fn in_order<T>(column: &ChunkedArray<T>, positions: &Positions, none: T::Native) -> Vec<T::Native>
where
    T: PolarsNumericType,
{
    positions.scatter_runs(|rows| {
        run_of(column, rows)
            .into_iter()
            .map(move |v| v.unwrap_or(none))
    })
}

/// A numeric column's values at a run of rows, read from the chunks that hold them.
fn run_of<T>(column: &ChunkedArray<T>, rows: std::ops::Range<usize>) -> Vec<Option<T::Native>>
where
    T: PolarsNumericType,
{
    column.slice(rows.start as i64, rows.len()).iter().collect()
}

/// Each position's address in the detectors' order, with what the enrichment sources say
/// of each distinct address, looked up once.
struct AddressColumns {
    ip: Arc<TextCodes>,
    /// Positions grouped by address in time order, when the frame rows are in time order.
    groups: Option<Groups>,
    address: Vec<u32>,
    facts: Vec<AddressFacts>,
    /// Each distinct address's network key ([`NO_NETWORK`] for text that is no address).
    networks: Vec<u64>,
    /// `None` without GeoIP databases.
    geo: Option<Vec<GeoFacts>>,
}

impl AddressColumns {
    /// `handed`: the address codes the load handed over, if it did.
    fn look_up(
        frame: &DataFrame,
        handed: Option<Arc<TextCodes>>,
        positions: &Positions,
        time_ordered: bool,
        e: &Enrichment<'_>,
        networks_config: &NetworksConfig,
    ) -> PolarsResult<AddressColumns> {
        let ip = match handed {
            Some(codes) => codes,
            None => Arc::new(address_codes(frame.column(col::ip_address)?.str()?)),
        };
        let trusted = trusted_set(networks_config);
        let mut addresses = Addresses::new(&ip, positions, time_ordered);
        Ok(AddressColumns {
            facts: addresses.per_address(|a| {
                let anonymous_flags = e.anonymous.lookup(a);
                AddressFacts {
                    anonymous_flags,
                    anonymous: anonymous_flags.is_anonymous(e.policy),
                    threat_intel: e.threat_intel.contains(a),
                    infected: e.infected.contains(a),
                    trusted: trusted.contains(a),
                }
            }),
            networks: addresses
                .parsed
                .par_iter()
                .map(|a| a.map_or(NO_NETWORK, crate::frame::ip::network_key))
                .collect(),
            geo: (!e.geoip.is_empty()).then(|| addresses.per_address(|a| e.geoip.lookup(a))),
            groups: addresses.groups.take(),
            address: addresses.index,
            ip,
        })
    }
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
            max_radius_km: f64::INFINITY,
            outcomes: crate::rules::Rules::builtin().outcome_codes(),
        };
        Self::with_enrichment(frame, score_since, networks_config, &enrichment)
    }

    /// True when the row's address says where the user is: neither an org-common egress nor
    /// an anonymous network.
    pub fn is_place(&self, row: usize) -> bool {
        !self.org_common[row]
            && !self.address_facts(row).anonymous
            && self.radius_km(row) <= self.max_radius_km
    }

    /// What the enrichment sources say of the position's address (nothing for a row
    /// without one).
    pub fn address_facts(&self, row: usize) -> AddressFacts {
        match self.address[row] {
            order::NONE => AddressFacts::default(),
            k => self.facts[k as usize],
        }
    }

    /// The position's coordinates, when the log or GeoIP gave them.
    pub fn place(&self, row: usize) -> Option<(f64, f64)> {
        place_of(self.place[row])
    }

    /// Distinct addresses whose GeoIP coordinates were no place on Earth (taken as no
    /// location).
    pub fn geoip_out_of_range(&self) -> usize {
        self.geo
            .as_ref()
            .map_or(0, |geo| geo.iter().filter(|g| g.out_of_range).count())
    }

    /// The position's autonomous system.
    pub fn asn(&self, row: usize) -> Option<u32> {
        Some(self.asn[row]).filter(|&a| a != NO_ASN)
    }

    /// The position's /24 (IPv6 /48) network key.
    pub fn network(&self, row: usize) -> Option<u64> {
        Some(network_at(&self.address, &self.networks, row)).filter(|&n| n != NO_NETWORK)
    }

    /// GeoIP accuracy radius of the position's address, in kilometres (0 when unknown).
    pub fn radius_km(&self, row: usize) -> f64 {
        match (&self.geo, self.address[row]) {
            (Some(geo), k) if k != order::NONE => geo[k as usize].radius_km,
            _ => 0.0,
        }
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
        let loaded = Loaded {
            frame,
            coded: Vec::new(),
            users: None,
            times: None,
            fetch: None,
        };
        Self::with_codes(loaded, score_since, networks_config, enrichment)
    }

    /// Like [`Context::with_enrichment`], with columns the load handed over as codes (the
    /// frame's own columns are then not read) and the users' keys when it built them.
    pub fn with_codes(
        loaded: Loaded<'_>,
        score_since: Option<i64>,
        networks_config: &NetworksConfig,
        enrichment: &Enrichment<'_>,
    ) -> PolarsResult<Context> {
        let Loaded {
            frame,
            coded,
            users: user_keys,
            times: handed_times,
            fetch,
        } = loaded;
        let span = crate::trace::span("context: order");
        let UserOrder {
            order,
            positions,
            users,
            time_ordered,
            times,
        } = user_order(frame, user_keys, handed_times)?;
        drop(span);
        // The per-row columns and the per-address facts are independent: build them at once.
        let (columns, addresses) = rayon::join(
            || -> PolarsResult<_> {
                let _span = crate::trace::span("context: columns");
                Columns::in_order(frame, &enrichment.outcomes, &positions, &times)
            },
            || {
                rayon::join(
                    || {
                        let _span = crate::trace::span("context: addresses");
                        AddressColumns::look_up(
                            frame,
                            find_coded(&coded, col::ip_address).cloned(),
                            &positions,
                            time_ordered,
                            enrichment,
                            networks_config,
                        )
                    },
                    || {
                        let _span = crate::trace::span("context: codes in order");
                        codes_in_order(&coded, &positions)
                    },
                )
            },
        );
        let mut columns = columns?;
        let (addresses, in_order) = addresses;
        let facts = addresses?;
        if let Some(geo) = &facts.geo {
            // The ASN database fills what the log lacks (Graph v1.0 and some CSVs carry
            // none); the log's own value wins.
            columns
                .asn
                .par_iter_mut()
                .zip(&facts.address)
                .for_each(|(asn, &k)| {
                    if *asn == NO_ASN && k != order::NONE {
                        *asn = geo[k as usize].asn.unwrap_or(NO_ASN);
                    }
                });
        }
        let span = crate::trace::span("context: org-common networks");
        let (common, returning) = super::org_common::org_common_and_returning(
            &facts.address,
            &facts.networks,
            &columns.asn,
            |row| columns.outcome[row].validated(),
            &users,
            &columns.time,
            networks_config,
        );
        // Trusted corporate networks and ASNs are egress like org-common networks, whatever
        // their volume.
        let trusted_asn = |asn: u32| asn != NO_ASN && networks_config.trusted_asns.contains(&asn);
        let org_common: Vec<bool> = facts
            .address
            .par_iter()
            .zip(&columns.asn)
            .map(|(&k, &asn)| {
                let egress = k != order::NONE && {
                    let k = k as usize;
                    common[k] || facts.facts[k].trusted
                };
                egress || trusted_asn(asn)
            })
            .collect();
        let mut common_networks: Vec<u64> = common
            .iter()
            .zip(&facts.networks)
            .filter(|&(&common, &network)| common && network != NO_NETWORK)
            .map(|(_, &network)| network)
            .collect();
        common_networks.sort_unstable();
        common_networks.dedup();
        drop(span);
        let first_validated = users
            .iter()
            .map(|&(start, end)| {
                (start..end)
                    .find(|&r| columns.outcome[r].validated())
                    .map_or(i64::MAX, |r| columns.time[r])
            })
            .collect();
        // The log's place wins unless told otherwise; GeoIP fills what the log lacks.
        let place = match &facts.geo {
            None => columns.place,
            Some(geo) => columns
                .place
                .into_par_iter()
                .zip(&facts.address)
                .map(|(logged, &k)| {
                    let found = match k {
                        order::NONE => None,
                        k => geo[k as usize].place,
                    };
                    match (place_of(logged), found) {
                        (Some(_), Some(found)) if enrichment.prefer_geoip => found,
                        (None, found) => found.unwrap_or(NO_PLACE),
                        (_, _) => logged,
                    }
                })
                .collect(),
        };
        let (time, outcome, interactive, asn) = (
            columns.time,
            columns.outcome,
            columns.interactive,
            columns.asn,
        );
        let AddressColumns {
            ip,
            groups,
            address,
            facts,
            networks,
            geo,
        } = facts;
        let (by_address, by_time) = (std::sync::OnceLock::new(), std::sync::OnceLock::new());
        if let Some(groups) = groups {
            let _ = by_address.set(groups);
        }
        if time_ordered {
            // Frame rows are in time order: the positions listed by frame row are the
            // positions in time order.
            let _ = by_time.set(positions.into_vec());
        }
        Ok(Context {
            by_address,
            by_time,
            in_order,
            asn,
            networks,
            address,
            leaked: enrichment.leaked.clone(),
            facts,
            geo,
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
            max_radius_km: enrichment.max_radius_km,
            ip,
            time_ordered,
            coded,
            fetch,
            positions: std::sync::OnceLock::new(),
            returning,
            common_networks,
            tenant: None,
            new_network: None,
        })
    }

    /// Takes the whole tenant's facts in a shard's context: the org-common networks and the
    /// users returning to each network and ASN are the tenant's, not the shard's (trusted
    /// blocks and ASNs stay egress as before).
    pub fn with_tenant(
        mut self,
        tenant: Arc<super::tenant::TenantFacts>,
        trusted_asns: &[u32],
    ) -> Self {
        let common = &tenant.org_common;
        let org_common = self
            .address
            .par_iter()
            .zip(&self.asn)
            .map(|(&k, &asn)| {
                let egress = k != order::NONE && {
                    let k = k as usize;
                    common.binary_search(&self.networks[k]).is_ok() || self.facts[k].trusted
                };
                egress || (asn != NO_ASN && trusted_asns.contains(&asn))
            })
            .collect();
        self.org_common = org_common;
        self.returning = tenant.returning();
        self.common_networks = common.clone();
        self.tenant = Some(tenant);
        self
    }

    /// This context's share of the tenant's org-common pass (see [`super::org_common::Tally`]).
    pub fn org_common_tally(&self, config: &NetworksConfig) -> super::org_common::Tally {
        super::org_common::Tally::of(
            &self.address,
            &self.networks,
            &self.asn,
            |row| self.outcome[row].validated(),
            &self.users,
            &self.time,
            config,
        )
    }

    /// The distinct addresses the GeoIP City database put at no place on Earth.
    pub fn geoip_out_of_range_addresses(&self) -> Vec<String> {
        let Some(geo) = &self.geo else {
            return Vec::new();
        };
        geo.iter()
            .enumerate()
            .filter(|(_, g)| g.out_of_range)
            .filter_map(|(k, _)| self.ip.distinct.get(k).cloned())
            .collect()
    }

    /// The request id and error code of the sign-ins at `positions`: what the tenant facts
    /// gather of them beyond the context's own columns (see [`super::tenant::Gathered`]).
    pub fn gathered_fields(&self, positions: &[usize]) -> (Vec<Option<String>>, Vec<Option<i32>>) {
        let codes = self
            .frame
            .column(col::error_code)
            .ok()
            .and_then(|c| c.i32().ok().cloned());
        let error_codes = positions
            .iter()
            .map(|&p| codes.as_ref().and_then(|c| c.get(self.order[p] as usize)))
            .collect();
        (self.texts_at(col::request_id, positions), error_codes)
    }

    /// The distinct addresses (of [`Context::address`]) whose text `keep` keeps.
    pub fn addresses_where(&self, keep: impl Fn(&str) -> bool) -> ahash::AHashSet<u32> {
        self.ip
            .distinct
            .iter()
            .enumerate()
            .filter(|(_, text)| keep(text))
            .map(|(k, _)| k as u32)
            .collect()
    }

    /// The text of distinct address `k` (of [`Context::address`]).
    pub fn address_text(&self, k: u32) -> Option<&str> {
        self.ip.distinct.get(k as usize).map(String::as_str)
    }

    /// The tenant's users: this context's, or the whole tenant's in a shard.
    pub fn tenant_users(&self) -> usize {
        self.tenant.as_ref().map_or(self.users.len(), |t| t.users)
    }

    /// The first sign-in's time: of this context, or of the whole tenant in a shard.
    pub fn first_time(&self) -> i64 {
        match &self.tenant {
            Some(tenant) => tenant.first_time,
            None => self.time.par_iter().copied().min().unwrap_or(i64::MAX),
        }
    }

    /// A detector's table over the whole tenant (see [`super::Detector::tenant_table`]), in
    /// a shard.
    pub fn tenant_table(&self, detector: &str) -> Option<&serde_json::Value> {
        self.tenant.as_ref()?.tables.get(detector)
    }

    /// Each user's key (user id, else principal name), in user order.
    pub fn user_keys(&self) -> Vec<String> {
        let firsts: Vec<usize> = self.users.iter().map(|&(start, _)| start).collect();
        let ids = self.texts_at(col::user_id, &firsts);
        let names = self.texts_at(col::user_principal_name, &firsts);
        ids.into_iter()
            .zip(names)
            .map(|(id, name)| id.or(name).unwrap_or_default())
            .collect()
    }

    /// Every position grouped by address, each group in time order (rows without a user
    /// included, as attacks on unknown accounts still count against an address).
    /// Built once and shared: several per-address detectors read it.
    pub fn by_address(&self) -> &Groups {
        self.by_address.get_or_init(|| self.group_by_address())
    }

    fn group_by_address(&self) -> Groups {
        Groups::new(&self.address, self.by_time().iter().map(|&p| p as usize))
    }

    /// Every position in time order (ties by request id when the frame is in ingest order,
    /// else by position). Built once and shared.
    pub fn by_time(&self) -> &[IdxSize] {
        // When the frame's rows are in time order, the context was built with this list
        // (each frame row's position, listed by frame row); otherwise it is sorted now.
        self.by_time.get_or_init(|| {
            let mut positions: Vec<IdxSize> = (0..self.order.len() as IdxSize).collect();
            positions.par_sort_unstable_by_key(|&p| (self.time[p as usize], p));
            positions
        })
    }

    /// The positions `keep` selects, in the order [`Context::by_time`] lists them. Scanning
    /// positions in their own order and sorting the few selected beats walking every
    /// position in time order, which reads the per-position columns at random.
    pub fn select_by_time(&self, keep: impl Fn(usize) -> bool + Sync) -> Vec<usize> {
        let mut selected: Vec<usize> = (0..self.order.len())
            .into_par_iter()
            .filter(|&p| keep(p))
            .collect();
        if self.time_ordered {
            // Frame rows are in time order: a position's frame row is its rank in time.
            selected.par_sort_unstable_by_key(|&p| self.order[p]);
        } else {
            selected.par_sort_unstable_by_key(|&p| (self.time[p], p));
        }
        selected
    }

    /// A text column as codes in the detectors' order (see [`Codes`]), built once; `None`
    /// for a column that is not text.
    pub fn codes(&self, column: &str) -> Option<&Codes> {
        let (_, codes) = self.in_order.iter().find(|(c, _)| *c == column)?;
        codes
            .get_or_init(|| {
                if let Some(handed) = self.coded(column) {
                    return Some(Codes {
                        distinct: handed.distinct.clone(),
                        code: order::gather(&handed.index, &self.order),
                    });
                }
                let text = self.frame.column(column).ok()?.str().ok()?;
                Some(Codes::new(text, &self.order))
            })
            .as_ref()
    }

    /// Like [`Context::codes`], with no codes (every row null) for a column that is not text.
    pub fn codes_or_empty(&self, column: &str) -> &Codes {
        static NONE: std::sync::OnceLock<Codes> = std::sync::OnceLock::new();
        self.codes(column)
            .unwrap_or_else(|| NONE.get_or_init(Codes::default))
    }

    /// Runs `kernel(k, start, end, out)` over every user's range of positions, users in
    /// parallel; what the kernels push comes back in user order, whatever the thread count.
    pub fn per_user<T: Send>(
        &self,
        kernel: impl Fn(usize, usize, usize, &mut Vec<T>) + Sync,
    ) -> Vec<T> {
        self.users
            .par_iter()
            .enumerate()
            .flat_map_iter(|(k, &(start, end))| {
                let mut out = Vec::new();
                kernel(k, start, end, &mut out);
                out
            })
            .collect()
    }

    /// Runs `kernel(k, start, end, positions, out)` for every user `k` that has some of
    /// `positions` (sorted), users in parallel, with that user's share of them; what the
    /// kernels push comes back in user order. For detectors that start from a few positions
    /// ([`Context::positions_where`]) rather than every row.
    pub fn per_user_of<T: Send>(
        &self,
        positions: &[usize],
        kernel: impl Fn(usize, usize, usize, &[usize], &mut Vec<T>) + Sync,
    ) -> Vec<T> {
        let mut shares: Vec<(usize, &[usize])> = Vec::new();
        let mut rest = positions;
        while let Some(&first) = rest.first() {
            let k = self.users.partition_point(|&(_, end)| end <= first);
            let Some(&(_, end)) = self.users.get(k) else {
                break;
            };
            let n = rest.partition_point(|&p| p < end);
            shares.push((k, &rest[..n]));
            rest = &rest[n..];
        }
        shares
            .par_iter()
            .flat_map_iter(|&(k, share)| {
                let (start, end) = self.users[k];
                let mut out = Vec::new();
                kernel(k, start, end, share, &mut out);
                out
            })
            .collect()
    }

    /// True when the position belongs to a user (service principals have none).
    pub fn users_row(&self, row: usize) -> bool {
        self.users.last().is_some_and(|&(_, end)| row < end)
    }

    pub fn ip(&self, row: usize) -> Option<&str> {
        self.ip.get(self.order[row] as usize)
    }

    /// A column the load handed over as codes (see [`Context::with_codes`]), if it did.
    pub fn coded(&self, column: &str) -> Option<&TextCodes> {
        find_coded(&self.coded, column).map(Arc::as_ref)
    }

    /// A text column's value at a position of the order. For many positions of a column
    /// read for some rows only, [`Context::texts_at`] reads them at once.
    pub fn text(&self, column: &str, row: usize) -> Option<String> {
        self.texts_at(column, &[row]).pop().flatten()
    }

    /// A text column's values at `positions` (in their order): from the load's codes, the
    /// frame, or the file of a projected load (see [`super::Columns::some_rows`]). A file that
    /// cannot be read again gives no values.
    pub fn texts_at(&self, column: &str, positions: &[usize]) -> Vec<Option<String>> {
        if let Some(codes) = self.coded(column) {
            return positions
                .iter()
                .map(|&p| codes.get(self.order[p] as usize).map(String::from))
                .collect();
        }
        let mut rows: Vec<usize> = positions.iter().map(|&p| self.order[p] as usize).collect();
        rows.sort_unstable();
        rows.dedup();
        let values: Vec<Option<String>> = match &self.fetch {
            Some(fetch) => fetch
                .fetch(&self.frame, column, &rows)
                .unwrap_or_else(|_| vec![None; rows.len()]),
            None => match self.frame.column(column).and_then(|c| c.str().cloned()) {
                Ok(text) => rows
                    .iter()
                    .map(|&r| text.get(r).map(String::from))
                    .collect(),
                Err(_) => vec![None; rows.len()],
            },
        };
        positions
            .iter()
            .map(|&p| {
                let row = self.order[p] as usize;
                rows.binary_search(&row)
                    .ok()
                    .and_then(|k| values[k].clone())
            })
            .collect()
    }

    /// The positions, in order, whose value of text column `column` (read for every row)
    /// `keep` admits: `keep` runs once per distinct value where the load gave codes. What a
    /// detector looking for a rare value (a device-code flow, a legacy client) scans instead
    /// of laying the whole column out in its order.
    pub fn positions_where(&self, column: &str, keep: impl Fn(&str) -> bool + Sync) -> Vec<usize> {
        let rows: Vec<usize> = match self.coded(column) {
            Some(codes) => {
                let marks: Vec<bool> = codes.distinct.iter().map(|v| keep(v)).collect();
                codes
                    .index
                    .par_iter()
                    .enumerate()
                    .filter(|&(_, &k)| k != TextCodes::NULL && marks[k as usize])
                    .map(|(row, _)| row)
                    .collect()
            }
            // A column in the frame (an in-memory load): its codes in the detectors' order,
            // built once and kept, give the positions directly.
            None => {
                let Some(codes) = self.codes(column) else {
                    return Vec::new();
                };
                let marks: Vec<bool> = codes.distinct.iter().map(|v| keep(v)).collect();
                return codes
                    .code
                    .par_iter()
                    .enumerate()
                    .filter(|&(_, &k)| k != order::NONE && marks[k as usize])
                    .map(|(position, _)| position)
                    .collect();
            }
        };
        self.positions_of(&rows)
    }

    /// A text column's values at `positions` as codes into its distinct values (for the
    /// positions' own values only): what a detector comparing a few rows' values reads
    /// instead of laying the whole column out. Codes are [`order::NONE`] for nulls.
    pub fn codes_at(&self, column: &str, positions: &[usize]) -> (Vec<String>, Vec<u32>) {
        if let Some(codes) = self.coded(column) {
            let index: Vec<u32> = positions
                .iter()
                .map(|&p| match codes.index[self.order[p] as usize] {
                    TextCodes::NULL => order::NONE,
                    k => k,
                })
                .collect();
            return (codes.distinct.clone(), index);
        }
        // An in-memory frame without a load behind it (scenario tests, benches): its codes in
        // the detectors' order, built once and kept.
        if self.fetch.is_none() {
            if let Some(codes) = self.codes(column) {
                let index = positions.iter().map(|&p| codes.code[p]).collect();
                return (codes.distinct.clone(), index);
            }
        }
        let values = self.texts_at(column, positions);
        let mut distinct: Vec<String> = values.iter().flatten().cloned().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let index = values
            .iter()
            .map(|v| match v {
                Some(v) => distinct.binary_search(v).map_or(order::NONE, |k| k as u32),
                None => order::NONE,
            })
            .collect();
        (distinct, index)
    }

    /// The positions, in order, whose `u32` column value `keep` admits (nulls are not), each
    /// with its value.
    pub fn positions_where_u32(
        &self,
        column: &str,
        keep: impl Fn(u32) -> bool,
    ) -> Vec<(usize, u32)> {
        let Ok(values) = self.frame.column(column).and_then(|c| c.u32().cloned()) else {
            return Vec::new();
        };
        let position = self.row_positions();
        let mut found: Vec<(usize, u32)> = values
            .iter()
            .enumerate()
            .filter_map(|(row, v)| v.filter(|&v| keep(v)).map(|v| (position[row] as usize, v)))
            .collect();
        found.par_sort_unstable();
        found
    }

    /// The positions, in order, where a boolean column is true.
    pub fn positions_where_true(&self, column: &str) -> Vec<usize> {
        let Ok(values) = self.frame.column(column).and_then(|c| c.bool().cloned()) else {
            return Vec::new();
        };
        let rows: Vec<usize> = values
            .iter()
            .enumerate()
            .filter(|&(_, v)| v == Some(true))
            .map(|(row, _)| row)
            .collect();
        self.positions_of(&rows)
    }

    /// The positions of frame `rows`, in order.
    fn positions_of(&self, rows: &[usize]) -> Vec<usize> {
        let position = self.row_positions();
        let mut found: Vec<usize> = rows.iter().map(|&r| position[r] as usize).collect();
        found.par_sort_unstable();
        found
    }

    /// Each frame row's position (the inverse of `order`). When the frame's rows are in time
    /// order, that list is at hand already (see `by_time`); else it is built once.
    fn row_positions(&self) -> &[IdxSize] {
        if self.time_ordered {
            return self.by_time();
        }
        self.positions.get_or_init(|| {
            let _span = crate::trace::span("context: positions");
            let mut position = vec![0 as IdxSize; self.order.len()];
            for (p, &row) in self.order.iter().enumerate() {
                position[row as usize] = p as IdxSize;
            }
            position
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{frame, sign_in, SignIn};

    fn sign_ins() -> Vec<SignIn> {
        let mut all = Vec::new();
        for k in 0..40 {
            let user = ["ada", "bob", "cy"][k % 3];
            let ip = ["10.0.0.1", "10.0.0.2", "192.0.2.9", "2001:db8::1"][k % 4];
            all.push(sign_in(user, (k as i64 * 37) % 101, ip, [0, 50126][k % 2]));
        }
        all
    }

    /// (user, time, address) at every position of a group or of the whole order.
    fn described(ctx: &Context, positions: impl Iterator<Item = usize>) -> Vec<String> {
        positions
            .map(|p| {
                let user = ctx.text(col::user_id, p).unwrap_or_default();
                format!("{user} {} {}", ctx.time[p], ctx.ip(p).unwrap_or(""))
            })
            .collect()
    }

    #[test]
    fn users_are_keyed_by_id_else_name_however_many_ids_are_missing() {
        use crate::frame::{FrameBuilder, Row};
        use std::borrow::Cow;
        for missing in [0, 2, 100] {
            let mut builder = FrameBuilder::with_capacity(300);
            for k in 0..300usize {
                builder.push(&Row {
                    time: k as i64,
                    user_id: (missing == 0 || k % (300 / missing) != 0)
                        .then(|| Cow::Owned(format!("id-{}", k % 13))),
                    // A name equal to an id text is the same key.
                    user_principal_name: Some(Cow::Owned(format!("id-{}", k % 17))),
                    ..Row::default()
                });
            }
            let frame = builder.finish();
            let ids = frame.column(col::user_id).unwrap().str().unwrap();
            assert_eq!(ids.null_count(), missing, "{missing}");
            let names = frame
                .column(col::user_principal_name)
                .unwrap()
                .str()
                .unwrap();
            let keys: Vec<Option<&str>> =
                ids.iter().zip(names.iter()).map(|(i, n)| i.or(n)).collect();
            let expected = order::intern(&keys);
            let got = UserKeys::from_columns(ids, names);
            assert_eq!(got.count, expected.distinct.len(), "{missing}");
            assert_eq!(got.index, expected.index, "{missing}");
            // Keys a load builds from the columns' codes are the same.
            let codes = |column: &StringChunked| {
                let values: Vec<Option<&str>> = column.iter().collect();
                let interned = order::intern(&values);
                TextCodes {
                    distinct: interned.distinct.iter().map(|t| t.to_string()).collect(),
                    index: interned.index,
                }
            };
            let from_codes = UserKeys::from_codes(&codes(ids), &codes(names));
            assert_eq!(from_codes.count, expected.distinct.len(), "{missing}");
            assert_eq!(from_codes.index, expected.index, "{missing}");
        }
    }

    #[test]
    fn per_row_columns_keep_their_nulls_and_addresses_their_facts() {
        use crate::frame::{FrameBuilder, Row};
        use std::borrow::Cow;
        // One user; every other row lacks a place, an ASN and an address. The frame's network
        // column is left empty: networks come from the addresses.
        let mut builder = FrameBuilder::with_capacity(6);
        let ips = ["203.0.113.7", "198.51.100.9", "203.0.113.7"];
        for k in 0..6usize {
            let full = k % 2 == 0;
            let ip = ips[k / 2];
            builder.push(&Row {
                time: k as i64,
                request_id: Some(Cow::Owned(format!("r{k}"))),
                user_id: Some(Cow::Borrowed("ada")),
                ip_address: full.then_some(Cow::Borrowed(ip)),
                latitude: full.then_some(10.0 + k as f64),
                longitude: full.then_some(-20.0),
                asn: full.then_some(64_500 + k as u32),
                ..Row::default()
            });
        }
        let frame = builder.finish();
        let (threat, _) = IpSet::parse("203.0.113.0/24");
        let (infected, _) = IpSet::parse("198.51.100.9");
        let enrichment = Enrichment {
            anonymous: &AnonymousSources::default(),
            policy: AnonymousPolicy {
                include_hosting: false,
                include_residential_proxy: false,
            },
            threat_intel: &threat,
            infected: &infected,
            leaked: &LeakedAccounts::default(),
            geoip: &GeoIp::default(),
            prefer_geoip: false,
            max_radius_km: f64::INFINITY,
            outcomes: crate::rules::Rules::builtin().outcome_codes(),
        };
        let networks = Rules::builtin().networks;
        let ctx = Context::with_enrichment(&frame, None, &networks, &enrichment).unwrap();
        for row in 0..6 {
            let full = row % 2 == 0;
            assert_eq!(ctx.place(row), full.then_some((10.0 + row as f64, -20.0)));
            assert_eq!(ctx.asn(row), full.then_some(64_500 + row as u32));
            assert_eq!(ctx.network(row).is_some(), full);
            assert_eq!(ctx.radius_km(row), 0.0);
            let facts = ctx.address_facts(row);
            let ip = ips[row / 2];
            assert_eq!(facts.threat_intel, full && ip.starts_with("203."));
            assert_eq!(facts.infected, full && ip.starts_with("198."));
            assert!(!facts.anonymous && !facts.trusted);
        }
    }

    #[test]
    fn the_asn_database_fills_asns_the_log_lacks_and_the_log_wins() {
        use crate::frame::{FrameBuilder, Row};
        use std::borrow::Cow;
        #[derive(serde::Serialize)]
        struct AsnRecord {
            autonomous_system_number: u32,
        }
        let dir = tempfile::tempdir().unwrap();
        let mut writer = mmdb_writer::Writer::new("GeoLite2-ASN");
        let net: ipnet::IpNet = "203.0.113.0/24".parse().unwrap();
        let record = AsnRecord {
            autonomous_system_number: 64_501,
        };
        writer.insert(net, &record).unwrap();
        let path = dir.path().join("asn.mmdb");
        std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
        let geoip = GeoIp::open(None, Some(&path)).unwrap();
        // A v1.0-shaped log: no ASN but on the second row; the third address is unknown to
        // the database.
        let mut builder = FrameBuilder::with_capacity(3);
        for (k, (ip, asn)) in [
            ("203.0.113.7", None),
            ("203.0.113.8", Some(3320)),
            ("198.51.100.1", None),
        ]
        .into_iter()
        .enumerate()
        {
            builder.push(&Row {
                time: k as i64,
                request_id: Some(Cow::Owned(format!("r{k}"))),
                user_id: Some(Cow::Borrowed("ada")),
                ip_address: Some(Cow::Borrowed(ip)),
                asn,
                ..Row::default()
            });
        }
        let frame = builder.finish();
        let enrichment = Enrichment {
            anonymous: &AnonymousSources::default(),
            policy: AnonymousPolicy {
                include_hosting: false,
                include_residential_proxy: false,
            },
            threat_intel: &IpSet::default(),
            infected: &IpSet::default(),
            leaked: &LeakedAccounts::default(),
            geoip: &geoip,
            prefer_geoip: false,
            max_radius_km: f64::INFINITY,
            outcomes: crate::rules::Rules::builtin().outcome_codes(),
        };
        let networks = Rules::builtin().networks;
        let ctx = Context::with_enrichment(&frame, None, &networks, &enrichment).unwrap();
        let asns: Vec<Option<u32>> = (0..3).map(|row| ctx.asn(row)).collect();
        assert_eq!(asns, [Some(64_501), Some(3320), None]);
        let without = Context::new(&frame, None, &networks).unwrap();
        assert_eq!(without.asn(0), None);
    }

    #[test]
    fn a_frame_out_of_time_order_gives_the_same_context_as_an_ordered_one() {
        let networks = Rules::builtin().networks;
        let shuffled = sign_ins();
        let mut ordered = shuffled.clone();
        ordered.sort_by_key(|s| s.minute);
        let a = Context::new(&frame(&shuffled), None, &networks).unwrap();
        let b = Context::new(&frame(&ordered), None, &networks).unwrap();
        assert!(!a.time_ordered);
        assert!(b.time_ordered);
        assert_eq!(a.users, b.users);
        let n = a.time.len();
        assert_eq!(described(&a, 0..n), described(&b, 0..n));
        for &(start, end) in &a.users {
            assert!(a.time[start..end].windows(2).all(|w| w[0] < w[1]));
        }
        let groups = |ctx: &Context| -> Vec<Vec<String>> {
            ctx.by_address()
                .iter()
                .map(|g| described(ctx, g.iter().map(|&p| p as usize)))
                .collect()
        };
        assert_eq!(groups(&a), groups(&b));
        assert_eq!(
            described(&a, a.by_time().iter().map(|&p| p as usize)),
            described(&b, b.by_time().iter().map(|&p| p as usize))
        );
        // Groups and the time sequence really are in time order.
        let in_time_order = |positions: &[IdxSize]| {
            positions
                .windows(2)
                .all(|w| a.time[w[0] as usize] <= a.time[w[1] as usize])
        };
        for group in a.by_address().iter() {
            assert!(in_time_order(group));
        }
        assert!(in_time_order(a.by_time()));
        // Selecting positions lists them as walking the time order would.
        for ctx in [&a, &b] {
            let keep = |p: usize| ctx.time[p] % 3 == 0;
            let walked: Vec<usize> = ctx
                .by_time()
                .iter()
                .map(|&p| p as usize)
                .filter(|&p| keep(p))
                .collect();
            assert!(!walked.is_empty());
            assert_eq!(ctx.select_by_time(keep), walked);
        }
    }

    #[test]
    fn addresses_group_by_their_text_whatever_their_family() {
        let ips = [
            "10.0.0.1",
            "2001:db8::1",
            "not-an-ip",
            "10.0.0.1",
            "10.0.0.2",
            "2001:db8::1",
        ];
        let sign_ins: Vec<SignIn> = ips
            .iter()
            .enumerate()
            .map(|(k, ip)| sign_in("ada", k as i64, ip, 0))
            .collect();
        let ctx = Context::new(&frame(&sign_ins), None, &Rules::builtin().networks).unwrap();
        let mut groups: Vec<Vec<&str>> = ctx
            .by_address()
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&p| ctx.ip(p as usize).unwrap_or(""))
                    .collect()
            })
            .collect();
        groups.sort();
        assert_eq!(
            groups,
            [
                vec!["10.0.0.1", "10.0.0.1"],
                vec!["10.0.0.2"],
                vec!["2001:db8::1", "2001:db8::1"],
                vec!["not-an-ip"],
            ]
        );
    }

    #[test]
    fn a_small_tenant_needs_fewer_users_for_an_org_common_network() {
        let networks = Rules::builtin().networks;
        assert_eq!(networks.org_common_users_needed(5), 3);
        assert_eq!(networks.org_common_users_needed(20), 3);
        assert_eq!(networks.org_common_users_needed(50), 5);
        assert_eq!(networks.org_common_users_needed(200), 10);
        assert_eq!(networks.org_common_users_needed(20_000), 10);
    }

    /// Twelve users on one /24 over three days, each with the given code.
    fn shared_network(code: i32) -> Vec<SignIn> {
        const USERS: [&str; 12] = [
            "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10", "u11", "u12",
        ];
        let mut all = Vec::new();
        for day in 0..3 {
            for (k, user) in USERS.iter().enumerate() {
                all.push(sign_in(user, day * 24 * 60 + k as i64, "203.0.113.7", code));
            }
        }
        all
    }

    #[test]
    fn only_validated_sign_ins_make_a_network_org_common() {
        let networks = Rules::builtin().networks;
        let colleagues = Context::new(&frame(&shared_network(0)), None, &networks).unwrap();
        assert!(colleagues.org_common.iter().all(|&c| c));
        let sprayed = Context::new(&frame(&shared_network(50126)), None, &networks).unwrap();
        assert!(sprayed.org_common.iter().all(|&c| !c));
    }
}
