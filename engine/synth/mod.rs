//! The synthetic tenant generator: a month of realistic sign-ins with injected attacks and
//! ground-truth labels, written in any export shape with the side files a user would have.
//!
//! Labels say what happened in the synthetic world (see [`attacks`]): which sign-ins an
//! attacker made and which risk event types describe them. Nothing here imports a detector
//! or reads a rule; a test keeps it so.

pub mod attacks;
pub mod network;
pub mod output;
pub mod rng;
pub mod side_files;
pub mod tenant;
pub mod world;

use std::borrow::Cow;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::frame::ip::network_key;
use crate::frame::time::format_time;
use crate::frame::{FrameBuilder, OutcomeCodes, Row};
use attacks::{Expected, Injection, Intelligence};
use network::Plan;
use rng::guid;
use tenant::{Event, Principal, Service, User};
use world::APPS;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub users: u32,
    pub days: u32,
    pub seed: u64,
    /// Midnight UTC of the first day, in microseconds.
    pub start: i64,
    /// Share of sign-ins that attacks add (default 0.003; 0 for none).
    pub attack_rate: f64,
    /// How much of the benign world's hard cases there is.
    pub benign: Benign,
}

/// The benign world's hard cases, each a share (0 turns it off). Each is something real
/// tenants do all day that a location or failure detector can mistake for an attack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benign {
    /// Homes on dual-stack broadband: their IPv6 addresses geolocate to the ISP's hub city,
    /// not the home, and change interface id every day (share of homes).
    pub ipv6_homes: f64,
    /// Users on a split-tunnel corporate VPN: one app signs in through the VPN egress in
    /// another country minutes after another signed in directly (share of users).
    pub split_tunnel: f64,
    /// A password-expiry morning: on one weekday this share of users fails 1–3 times at
    /// home before the new password works (a crowd of typos on the big residential ASNs).
    pub expiry_morning: f64,
    /// Of those, the share whose phone keeps retrying the old password from home every
    /// 10–30 minutes for 2–8 hours before its owner updates it.
    pub stale_password: f64,
    /// Phone sign-ins over a carrier's NAT, whose few shared addresses geolocate to the
    /// carrier's hub for subscribers in every city (share of phone sign-ins).
    pub cgnat: f64,
    /// Travellers who sign in on board, over in-flight Wi-Fi geolocated to the provider's
    /// headquarters (share of trips).
    pub in_flight_wifi: f64,
    /// Users who joined in the last week: no history (share of users).
    pub new_joiners: f64,
    /// Token refreshes from Microsoft's own network (AS 8075) in other countries (share of
    /// refreshes).
    pub cloud_refresh: f64,
    /// Residential networks whose location in the log moves to a neighbouring city every
    /// other week, as GeoIP data is revised (share of home ISPs that have a neighbour).
    pub geoip_drift: f64,
    /// Developers who sign in to the Azure CLI by device code from home or the office a few
    /// times a week (share of users).
    pub dev_device_code: f64,
    /// Mailboxes a printer sends scans from over Authenticated SMTP from the office every
    /// workday (share of users).
    pub printers: f64,
    /// A push notification or two that nobody answers before the user signs in (share of
    /// interactive sign-ins).
    pub missed_prompts: f64,
    /// A phone's session refreshed over the mobile carrier while its sign-in was on Wi-Fi
    /// (share of a phone's token refreshes).
    pub roaming_refresh: f64,
    /// Service principals that move to another Azure region (another country, Microsoft's
    /// network) for the rest of the period (share of principals).
    pub new_region: f64,
}

impl Default for Benign {
    fn default() -> Self {
        Benign {
            ipv6_homes: 0.3,
            split_tunnel: 0.05,
            expiry_morning: 0.2,
            stale_password: 0.25,
            cgnat: 0.5,
            in_flight_wifi: 0.5,
            new_joiners: 0.01,
            cloud_refresh: 0.7,
            geoip_drift: 0.5,
            dev_device_code: 0.05,
            printers: 0.01,
            missed_prompts: 0.02,
            roaming_refresh: 0.3,
            new_region: 0.3,
        }
    }
}

impl Benign {
    /// Sets one share by its name (`ipv6_homes=0.5`), as `idrisk synth --benign` takes it.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("'{assignment}': use NAME=SHARE, e.g. ipv6_homes=0.5"))?;
        let share: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..=1.0).contains(v))
            .ok_or_else(|| format!("'{assignment}': the share must be a number from 0 to 1"))?;
        let slot = match name.trim() {
            "ipv6_homes" => &mut self.ipv6_homes,
            "split_tunnel" => &mut self.split_tunnel,
            "expiry_morning" => &mut self.expiry_morning,
            "stale_password" => &mut self.stale_password,
            "cgnat" => &mut self.cgnat,
            "in_flight_wifi" => &mut self.in_flight_wifi,
            "new_joiners" => &mut self.new_joiners,
            "cloud_refresh" => &mut self.cloud_refresh,
            "geoip_drift" => &mut self.geoip_drift,
            "dev_device_code" => &mut self.dev_device_code,
            "printers" => &mut self.printers,
            "missed_prompts" => &mut self.missed_prompts,
            "roaming_refresh" => &mut self.roaming_refresh,
            "new_region" => &mut self.new_region,
            other => {
                return Err(format!(
                    "unknown benign case '{other}' (known: ipv6_homes, split_tunnel, \
                     expiry_morning, stale_password, cgnat, in_flight_wifi, new_joiners, \
                     cloud_refresh, geoip_drift, dev_device_code, printers, missed_prompts, \
                     roaming_refresh, new_region)"
                ))
            }
        };
        *slot = share;
        Ok(())
    }
}

impl SynthConfig {
    /// `users` × `days` from 2025-03-01 (UTC) with the default attack rate, as `idrisk
    /// synth` makes them without `--start` or `--attack-rate`.
    pub fn new(users: u32, days: u32, seed: u64) -> Self {
        SynthConfig {
            users,
            days,
            seed,
            start: 1_740_787_200_000_000,
            attack_rate: 0.003,
            benign: Benign::default(),
        }
    }
}

/// The shape of `labels.jsonl` lines this generator writes. Version 1 lines (no `version`
/// field) named one expected (sign-in, type) pair each; version 2 lines describe one attack.
pub const LABELS_VERSION: u32 = 2;

fn version_one() -> u32 {
    1
}

/// One ground-truth label: an attack (or a harmless thing a defender still wants shown, such
/// as an employee on an anonymous VPN) and the risk event types that describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// [`LABELS_VERSION`]; 1 when absent.
    #[serde(default = "version_one")]
    pub version: u32,
    pub scenario_id: String,
    pub scenario: String,
    #[serde(default)]
    pub variant: String,
    /// What the attacker did, in numbers (failures, gap_seconds, users, speed_kmh, …).
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// The type a defender most wants raised for it.
    pub risk_event_type: String,
    /// Other types that describe it rightly: raising them is no false alarm, not raising
    /// them is no miss.
    #[serde(default)]
    pub allowed_risk_event_types: Vec<String>,
    /// The sign-in that should carry the primary type; none for user-level types.
    pub request_id: Option<String>,
    /// Every sign-in of the attack (the attacker's failures on other accounts included); a
    /// detection of the primary type on any of them finds the attack.
    #[serde(default)]
    pub request_ids: Vec<String>,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub time: String,
    /// False for a right detection of something benign (an employee on an anonymous VPN).
    pub malicious: bool,
}

impl Label {
    /// The sign-ins a detection may land on: `request_ids`, or for version 1 the one.
    pub fn sign_ins(&self) -> impl Iterator<Item = &String> {
        self.request_ids.iter().chain(
            self.request_id
                .iter()
                .filter(|_| self.request_ids.is_empty()),
        )
    }
}

/// A (sign-in, type) pair that may fire either way: evaluation counts it neither as a hit
/// nor as a false alarm (`ignore.jsonl`, `idrisk eval --ignore`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ignored {
    pub request_id: String,
    pub risk_event_type: String,
    pub reason: String,
}

/// A generated tenant.
pub struct Tenant {
    pub config: SynthConfig,
    pub plan: Plan,
    pub users: Vec<User>,
    pub services: Vec<Service>,
    /// Every sign-in, sorted by time then id; empty for a tenant written group by group
    /// (see [`Plot`]).
    pub events: Vec<Event>,
    /// How many sign-ins of each event type there are.
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    pub labels: Vec<Label>,
    /// Sign-ins whose detection is neither right nor wrong (see [`Ignored`]).
    pub ignored: Vec<Ignored>,
    pub intelligence: Intelligence,
    /// What the error codes the generator writes mean (see [`world::outcome_codes`]).
    pub codes: OutcomeCodes,
}

/// Generates a tenant. The same config gives the same tenant, whatever the thread count.
pub fn generate(config: &SynthConfig) -> Tenant {
    let plot = Plot::new(config);
    let mut written = Written::new(&plot);
    let events = plot.group(0..config.users, &mut written);
    let mut tenant = plot.finish(written);
    tenant.events = events;
    tenant
}

/// A tenant with every attack decided and its principals' sign-ins made, whose users' own
/// sign-ins are not generated yet: [`Plot::group`] makes them a group of users at a time,
/// so a tenant far bigger than memory is written in memory that follows a group. Every
/// grouping gives the same sign-ins and labels.
pub struct Plot {
    tenant: Tenant,
    /// Each user's count of own sign-ins.
    sizes: Vec<u32>,
    /// Each user's sign-ins made by attacks.
    injected: Vec<Vec<Event>>,
    expected: Vec<Expected>,
    attack_ids: ahash::AHashSet<u128>,
    /// (victim, the attacker's last validated sign-in time), sorted by victim.
    returns: Vec<(u32, i64)>,
    /// The service principals' and managed identities' sign-ins, the workload attacks'
    /// too: written with the first group.
    principals: Vec<Event>,
}

/// What the groups written so far add to the labels and counts.
pub struct Written {
    listed: attacks::Listed,
    ignored: Vec<Ignored>,
    counts: std::collections::BTreeMap<&'static str, usize>,
    principals_written: bool,
}

impl Written {
    pub fn new(plot: &Plot) -> Written {
        Written {
            listed: attacks::Listed::new(&plot.expected),
            ignored: Vec::new(),
            counts: Default::default(),
            principals_written: false,
        }
    }
}

fn validated(code: i32) -> bool {
    code == 0 || world::PASSWORD_ACCEPTED.contains(&code)
}

impl Plot {
    pub fn new(config: &SynthConfig) -> Plot {
        let codes = world::outcome_codes();
        let plan = Plan::new(&config.benign, config.seed);
        let users = tenant::make_users(config, &plan);
        let services = tenant::make_services(config);
        let t = crate::trace::span("synth: activity sizes");
        // The attack count follows the ordinary sign-ins', counted here without keeping
        // them (each group generates its users' again).
        let sizes: Vec<u32> = (0..config.users)
            .into_par_iter()
            .map(|u| tenant::user_activity(config, &plan, &users, u).len() as u32)
            .collect();
        drop(t);
        let t = crate::trace::span("synth: attacks");
        let normal: usize = sizes.iter().map(|&n| n as usize).sum();
        // Scenarios average about ten sign-ins each; any attacks at all means one of each.
        let instances = if config.attack_rate > 0.0 {
            ((normal as f64 * config.attack_rate / 10.0).ceil() as u32)
                .max(attacks::SCENARIOS.len() as u32)
        } else {
            0
        };
        let mut injected = vec![Vec::new(); config.users as usize];
        let mut injection = Injection {
            config,
            plan: &plan,
            users: &users,
            injected: &mut injected,
            expected: Vec::new(),
            intelligence: Intelligence::default(),
            attack_ids: Default::default(),
            returns: Vec::new(),
            homes: attacks::home_addresses(&plan, &users),
        };
        injection.run(instances);
        let Injection {
            mut expected,
            intelligence,
            attack_ids,
            mut returns,
            ..
        } = injection;
        returns.sort_unstable();
        let mut principals = tenant::service_activity(config, &plan, &services);
        // Workload identities are attacked about as often as any one user scenario.
        let workload = instances.div_ceil(attacks::SCENARIOS.len() as u32);
        let (abuse, abused) = attacks::workload_attacks(config, &plan, &services, workload);
        principals.extend(abuse);
        expected.extend(abused);
        drop(t);
        Plot {
            tenant: Tenant {
                config: config.clone(),
                plan,
                users,
                services,
                events: Vec::new(),
                counts: Default::default(),
                labels: Vec::new(),
                ignored: Vec::new(),
                intelligence,
                codes,
            },
            sizes,
            injected,
            expected,
            attack_ids,
            returns,
            principals,
        }
    }

    /// The tenant as far as it is known before its sign-ins: config, plan, users, services,
    /// the intelligence lists and the error codes (what rendering a sign-in needs).
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Consecutive users in groups of at most `most` sign-ins (a user with more is a group
    /// alone); together they cover every user once.
    pub fn groups(&self, most: usize) -> Vec<std::ops::Range<u32>> {
        let mut groups = Vec::new();
        let (mut first, mut size) = (0u32, 0usize);
        for (u, own) in self.sizes.iter().enumerate() {
            let n = *own as usize + self.injected[u].len();
            if size > 0 && size + n > most {
                groups.push(first..u as u32);
                (first, size) = (u as u32, 0);
            }
            size += n;
        }
        if first < self.sizes.len() as u32 || groups.is_empty() {
            groups.push(first..self.sizes.len() as u32);
        }
        groups
    }

    /// The sign-ins of `users` (with the principals' on the first call), sorted by time then
    /// id; what they add to the labels is noted in `written`.
    pub fn group(&self, users: std::ops::Range<u32>, written: &mut Written) -> Vec<Event> {
        let t = crate::trace::span("synth: activity");
        let config = &self.tenant.config;
        let first = users.start;
        let activity: Vec<Vec<Event>> = users
            .clone()
            .into_par_iter()
            .map(|u| {
                let mut own =
                    tenant::user_activity(config, &self.tenant.plan, &self.tenant.users, u);
                own.extend_from_slice(&self.injected[u as usize]);
                own
            })
            .collect();
        let from = self.returns.partition_point(|&(v, _)| v < users.start);
        let to = self.returns.partition_point(|&(v, _)| v < users.end);
        written.ignored.extend(comebacks(
            |victim| &activity[(victim - first) as usize],
            &self.returns[from..to],
            &self.attack_ids,
        ));
        drop(t);
        let t = crate::trace::span("synth: sort events");
        let mut events: Vec<Event> = activity.into_iter().flatten().collect();
        if !written.principals_written {
            events.extend_from_slice(&self.principals);
            written.principals_written = true;
        }
        events.par_sort_unstable_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        drop(t);
        for event in &events {
            *written.counts.entry(event.event_type).or_default() += 1;
        }
        written
            .listed
            .scan(&events, &self.tenant.plan, &self.attack_ids, validated);
        events
    }

    /// The tenant with its labels, once every group is written (its `events` empty).
    pub fn finish(self, written: Written) -> Tenant {
        let _t = crate::trace::span("synth: labels");
        let Plot {
            mut tenant,
            mut expected,
            ..
        } = self;
        let Written {
            listed,
            mut ignored,
            counts,
            ..
        } = written;
        listed.finish(&mut expected);
        ignored.sort();
        ignored.dedup();
        tenant.labels = write_labels(&expected, &tenant.users);
        tenant.ignored = ignored;
        tenant.counts = counts;
        tenant
    }
}

/// The sign-in with which each victim comes back after an attacker's validated sign-in:
/// the victim's next own validated interactive sign-in. Compared with the attacker's, it
/// may look like travel or a second country; it is the victim's, so a detection on it is
/// neither right nor a false alarm.
fn comebacks<'a>(
    activity: impl Fn(u32) -> &'a Vec<Event>,
    returns: &[(u32, i64)],
    attack_ids: &ahash::AHashSet<u128>,
) -> Vec<Ignored> {
    returns
        .iter()
        .filter_map(|&(victim, after)| {
            activity(victim)
                .iter()
                .filter(|e| {
                    e.time > after
                        && e.event_type == crate::frame::event_type::INTERACTIVE_USER
                        && validated(e.code)
                        && !attack_ids.contains(&e.id)
                })
                .min_by_key(|e| (e.time, e.id))
        })
        .flat_map(|e| {
            [
                attacks::kind::UNLIKELY_TRAVEL,
                attacks::kind::MULTIPLE_GEOGRAPHIES,
            ]
            .map(|kind| Ignored {
                request_id: guid(e.id),
                risk_event_type: kind.to_string(),
                reason: "the victim's own sign-in after an attacker's elsewhere".to_string(),
            })
        })
        .collect()
}

fn write_labels(expected: &[Expected], users: &[User]) -> Vec<Label> {
    let mut labels: Vec<Label> = expected
        .iter()
        .map(|e| {
            // A principal is no user: its name is in the parameters.
            let user = e.service.is_none().then(|| &users[e.user as usize]);
            Label {
                version: LABELS_VERSION,
                scenario_id: match user {
                    Some(user) if e.instance == u32::MAX => format!("{}-{}", e.scenario, user.upn),
                    _ => format!("{}-{}", e.scenario, e.instance),
                },
                scenario: e.scenario.to_string(),
                variant: e.variant.to_string(),
                parameters: e
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
                risk_event_type: e.primary.to_string(),
                allowed_risk_event_types: e.allowed.iter().map(|k| k.to_string()).collect(),
                request_id: e.target.map(guid),
                request_ids: e.events.iter().map(|&id| guid(id)).collect(),
                user_id: user.map(|u| u.id.clone()),
                user_principal_name: user.map(|u| u.upn.clone()),
                time: format_time(e.time),
                malicious: e.malicious,
            }
        })
        .collect();
    labels.sort_by(|a, b| {
        (&a.time, &a.scenario_id, &a.risk_event_type).cmp(&(
            &b.time,
            &b.scenario_id,
            &b.risk_event_type,
        ))
    });
    labels
}

impl Tenant {
    /// How many sign-ins the tenant has.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// The canonical frame of the tenant's sign-ins, as the readers would produce it from
    /// a shape that has every field.
    pub fn frame(&self) -> DataFrame {
        self.frame_of(&self.events)
    }

    /// The canonical frame of some of the tenant's events. Parts have a fixed size, not one
    /// that follows the thread count, so the frame's chunks (and the Parquet written from
    /// them) are the same on every machine.
    pub fn frame_of(&self, events: &[Event]) -> DataFrame {
        self.build_frame(events, FrameBuilder::with_capacity)
    }

    /// [`Self::frame_of`] for a frame encoded and dropped at once: recurring text is not
    /// stored once (see [`FrameBuilder::transient`]).
    pub fn transient_frame_of(&self, events: &[Event]) -> DataFrame {
        self.build_frame(events, FrameBuilder::transient)
    }

    fn build_frame(&self, events: &[Event], builder: fn(usize) -> FrameBuilder) -> DataFrame {
        const PART: usize = 1 << 16;
        const BLOCK: usize = 512;
        let parts: Vec<DataFrame> = events
            .par_chunks(PART)
            .map(|slice| {
                let mut builder = builder(slice.len());
                let mut texts = vec![EventText::default(); BLOCK];
                for block in slice.chunks(BLOCK) {
                    for (text, event) in texts.iter_mut().zip(block) {
                        text.fill(event, &self.plan);
                    }
                    let rows: Vec<Row<'_>> = block
                        .iter()
                        .zip(&texts)
                        .map(|(event, text)| self.row_with(event, text))
                        .collect();
                    builder.push_block(&rows);
                }
                builder.finish()
            })
            .collect();
        let mut frame = crate::frame::empty();
        for part in &parts {
            // Parts share one schema, so stacking cannot fail.
            let _ = frame.vstack_mut(part);
        }
        frame
    }

    /// The canonical row of an event: what every shape writer renders, and what a reader of
    /// a shape with every field gives back. Its ids and address are borrowed from `text`
    /// (filled for this event), so building a frame allocates nothing per row.
    pub fn row_with<'a>(&'a self, event: &Event, text: &'a EventText) -> Row<'a> {
        let net = &self.plan.networks[event.net];
        let city = net.city_at(event.time, self.config.start);
        let mut row = Row {
            time: event.time,
            request_id: Some(Cow::Borrowed(text.id())),
            correlation_id: Some(Cow::Borrowed(text.correlation())),
            ip_network: Some(network_key(net.ip_at(event.ip, event.time))),
            ip_address: Some(Cow::Borrowed(text.ip())),
            error_code: Some(event.code),
            failure_reason: failure_reason(event.code).map(Cow::Borrowed),
            event_type: Some(Cow::Borrowed(event.event_type)),
            country: Some(Cow::Borrowed(city.country)),
            state: Some(Cow::Borrowed(city.state)),
            city: Some(Cow::Borrowed(city.name)),
            latitude: Some(city.latitude),
            longitude: Some(city.longitude),
            asn: Some(net.asn),
            token_issuer_type: Some(Cow::Borrowed("AzureAD")),
            source_file: None,
            source_line: None,
            ..Row::default()
        };
        match event.principal {
            Principal::User(u) => {
                let user = &self.users[u as usize];
                let (app, app_id) = APPS[event.app];
                row.user_id = Some(Cow::Borrowed(&user.id));
                row.user_principal_name = Some(Cow::Borrowed(&user.upn));
                row.user_display_name = Some(Cow::Borrowed(&user.display_name));
                row.user_type = Some(Cow::Borrowed("Member"));
                row.app_display_name = Some(Cow::Borrowed(app));
                row.app_id = Some(Cow::Borrowed(app_id));
                row.resource_display_name = Some(Cow::Borrowed(app));
                row.session_id = Some(Cow::Borrowed(text.session()));
                row.authentication_requirement = Some(Cow::Borrowed("multiFactorAuthentication"));
                row.conditional_access_status = Some(Cow::Borrowed("success"));
                if let Some(device) = event.device {
                    row.operating_system = Some(device.operating_system)
                        .filter(|s| !s.is_empty())
                        .map(Cow::Borrowed);
                    row.browser = Some(Cow::Borrowed(device.browser));
                    row.user_agent = Some(Cow::Borrowed(device.user_agent));
                    row.client_app = Some(Cow::Borrowed(device.client_app));
                }
            }
            Principal::Service(k) => {
                let service = &self.services[k as usize];
                row.service_principal_id = Some(Cow::Borrowed(&service.id));
                row.service_principal_name = Some(Cow::Borrowed(&service.name));
                row.app_id = Some(Cow::Borrowed(&service.app_id));
                row.app_display_name = Some(Cow::Borrowed(&service.name));
                row.resource_display_name = Some(Cow::Borrowed("Microsoft Graph"));
                row.resource_id = Some(Cow::Borrowed(world::DEVICE_CODE_CLIENTS[1].3));
                row.conditional_access_status = Some(Cow::Borrowed("notApplied"));
                row.client_credential_type =
                    Some(Cow::Borrowed(match (event.flow, service.credential) {
                        (tenant::Flow::OtherCredential, "certificate") => "clientSecret",
                        (tenant::Flow::OtherCredential, _) => "certificate",
                        (_, usual) => usual,
                    }));
            }
        }
        row.unique_token_identifier = Some(Cow::Borrowed(text.token()));
        if let Principal::User(_) = event.principal {
            self.authentication(event, &mut row);
        }
        row.derive(&self.codes);
        row
    }

    /// What a user's sign-in says of its token, protocol and MFA steps.
    fn authentication<'a>(&self, event: &Event, row: &mut Row<'a>) {
        use tenant::Flow;
        let (protocol, transfer) = match event.flow {
            Flow::DeviceCode(_) => ("deviceCode", "deviceCodeFlow"),
            Flow::Legacy(k) => (world::LEGACY_CLIENTS[k as usize].2, "none"),
            _ => ("none", "none"),
        };
        row.authentication_protocol = Some(Cow::Borrowed(protocol));
        row.original_transfer_method = Some(Cow::Borrowed(transfer));
        row.client_credential_type = Some(Cow::Borrowed("none"));
        row.incoming_token_type = Some(Cow::Borrowed(match event.flow {
            Flow::Refresh => "refreshToken",
            _ => "none",
        }));
        row.resource_id = Some(Cow::Borrowed(APPS[event.app].1));
        match event.flow {
            Flow::DeviceCode(k) => {
                let (app, app_id, resource, resource_id) = world::DEVICE_CODE_CLIENTS[k as usize];
                row.app_display_name = Some(Cow::Borrowed(app));
                row.app_id = Some(Cow::Borrowed(app_id));
                row.resource_display_name = Some(Cow::Borrowed(resource));
                row.resource_id = Some(Cow::Borrowed(resource_id));
            }
            Flow::Legacy(k) => {
                let (client, agent, _) = world::LEGACY_CLIENTS[k as usize];
                row.client_app = Some(Cow::Borrowed(client));
                row.user_agent = Some(Cow::Borrowed(agent)).filter(|a| !a.is_empty());
            }
            _ => {}
        }
        // Interactive sign-ins show their steps: the password, then a push (legacy
        // clients have no second step).
        if event.event_type != crate::frame::event_type::INTERACTIVE_USER {
            return;
        }
        let password_ok =
            self.codes.classify(event.code) != crate::frame::outcome::CREDENTIAL_FAILURE;
        let legacy = matches!(event.flow, Flow::Legacy(_))
            || event
                .device
                .is_some_and(|d| world::legacy_client(d.client_app));
        let (method, succeeded, detail) = match event.flow {
            Flow::PushDeclined => (PUSH, false, world::PUSH_DECLINED),
            Flow::PushUnanswered => (PUSH, false, world::PUSH_UNANSWERED),
            Flow::PushFraud => (PUSH, false, world::PUSH_FRAUD),
            _ if !password_ok => (PASSWORD, false, WRONG_PASSWORD),
            _ if legacy => (PASSWORD, true, RIGHT_PASSWORD),
            _ if event.code == 0 => (PUSH, true, world::PUSH_APPROVED),
            _ => (PASSWORD, true, RIGHT_PASSWORD),
        };
        row.auth_method = Some(Cow::Borrowed(method));
        row.auth_succeeded = Some(succeeded);
        row.auth_result_detail = Some(Cow::Borrowed(detail));
        row.mfa_denials = Some(u32::from(matches!(
            event.flow,
            Flow::PushDeclined | Flow::PushUnanswered
        )));
        row.mfa_fraud_reported = Some(event.flow == Flow::PushFraud);
    }

    /// Calls `with` on the canonical row of `event`.
    pub fn with_row<T>(&self, event: &Event, with: impl FnOnce(&Row<'_>) -> T) -> T {
        let mut text = EventText::default();
        text.fill(event, &self.plan);
        with(&self.row_with(event, &text))
    }
}

/// An event's ids and address as text, formatted into fixed buffers.
#[derive(Clone)]
pub struct EventText {
    ids: [[u8; 36]; 3],
    /// The unique token identifier: 22 base64url characters.
    token: [u8; 22],
    ip: [u8; 39],
    ip_len: usize,
}

impl Default for EventText {
    fn default() -> Self {
        EventText {
            ids: [[b'0'; 36]; 3],
            token: [b'A'; 22],
            ip: [b'0'; 39],
            ip_len: 0,
        }
    }
}

impl EventText {
    pub fn fill(&mut self, event: &Event, plan: &Plan) {
        for (buffer, bits) in self
            .ids
            .iter_mut()
            .zip([event.id, event.correlation, event.session])
        {
            rng::write_guid(bits, buffer);
        }
        // The token's identifier is its own number, not the request id's text.
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = event.id.rotate_left(64) ^ 0x5bd1_e995_9e37_79b9_7f4a_7c15_f39c_c060;
        for byte in self.token.iter_mut() {
            *byte = ALPHABET[(bits & 63) as usize];
            bits >>= 6;
        }
        let net = &plan.networks[event.net];
        if net.v6.is_none() {
            let mut v4 = [0u8; 15];
            let len = rng::write_ipv4(event.ip, &mut v4);
            self.ip[..len].copy_from_slice(&v4[..len]);
            self.ip_len = len;
        } else {
            use std::io::Write;
            let mut cursor = std::io::Cursor::new(&mut self.ip[..]);
            // 39 bytes hold any IPv6 address's text.
            let _ = write!(cursor, "{}", net.ip_at(event.ip, event.time));
            self.ip_len = cursor.position() as usize;
        }
    }

    fn text(bytes: &[u8]) -> &str {
        // Only ASCII hex digits, dashes, dots and decimal digits are ever written here.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    pub fn id(&self) -> &str {
        Self::text(&self.ids[0])
    }

    pub fn correlation(&self) -> &str {
        Self::text(&self.ids[1])
    }

    pub fn session(&self) -> &str {
        Self::text(&self.ids[2])
    }

    pub fn token(&self) -> &str {
        Self::text(&self.token)
    }

    pub fn ip(&self) -> &str {
        Self::text(&self.ip[..self.ip_len])
    }
}

/// Authentication methods and step results as the log writes them.
pub const PUSH: &str = "Mobile app notification";
pub const PASSWORD: &str = "Password";
pub const RIGHT_PASSWORD: &str = "Correct password";
pub const WRONG_PASSWORD: &str =
    "Invalid username or password or Invalid on-premise username or password.";

/// The failure reason Entra writes for an error code; none for success.
pub fn failure_reason(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => return None,
        50126 => "Error validating credentials due to invalid username or password.",
        50034 => "The user account does not exist in the directory.",
        50053 => "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        50055 => "Invalid password, entered expired password.",
        50074 => "Strong Authentication is required.",
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
        50125 => "Sign-in was interrupted due to a password reset or password registration entry.",
        50140 => "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
        70044 => "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
        7_000_215 => "Invalid client secret is provided.",
        _ => "Other.",
    })
}
