//! Injected attacks and their labels.
//!
//! Each scenario draws what the attacker does from wide ranges (how many failures, how far
//! apart, how many accounts, how fast, from where, on which device) and writes the sign-ins.
//! Its label says what happened: the scenario, its variant and parameters, every sign-in the
//! attacker made, the victim, and the risk event types a defender wants raised for it (one
//! primary, others allowed). Labels describe the attack, not a rule: whether a detector at
//! some threshold can see it is what evaluation measures. The ranges are chosen wide on
//! purpose, so that any setting of a detector misses some attacks.
//!
//! The victim keeps living: their own sign-ins before, during and after the attack stay.
//! The sign-in with which a victim comes back from a place only the attacker was is written
//! to the ignore list: comparing it with the attacker's may or may not raise a travel
//! detection, and neither is wrong.

use std::collections::BTreeMap;

use serde_json::Value;

use super::network::{NetKind, Plan};
use super::rng::Rng;
use super::tenant::{event_ids, Event, Flow, Principal, User, MICROS_PER_DAY, MICROS_PER_HOUR};
use super::world::{
    distance_km, legacy_client, os_family, City, Device, ATTACKER_CITIES, ATTACKER_DEVICES,
    AZURE_CLI, BROKER_TO_EXCHANGE, BROKER_TO_GRAPH, EMPLOYEE_DEVICES, HOME_CITIES, LEGACY_CLIENTS,
    OFFICE_CLIENT, PASSWORD_ACCEPTED, STRONG_AUTH_FAILED,
};
use super::SynthConfig;
use crate::frame::event_type::INTERACTIVE_USER;

/// Risk event types, as Identity Protection spells them.
pub mod kind {
    pub const UNLIKELY_TRAVEL: &str = "unlikelyTravel";
    pub const NEW_COUNTRY: &str = "newCountry";
    pub const UNFAMILIAR: &str = "unfamiliarFeatures";
    pub const AFTER_FAILURES: &str = "signInAfterMultipleFailures";
    pub const MULTIPLE_GEOGRAPHIES: &str = "signInsFromMultipleGeographies";
    pub const PASSWORD_SPRAY: &str = "passwordSpray";
    pub const MALICIOUS_IP: &str = "maliciousIPAddress";
    pub const ANONYMOUS_IP: &str = "anonymizedIPAddress";
    pub const LEAKED: &str = "leakedCredentials";
    pub const THREAT_INTEL: &str = "suspiciousIPAddress";
    pub const INFECTED: &str = "malwareInfectedIPAddress";
    pub const ANOMALOUS_TOKEN: &str = "anomalousToken";
    pub const MFA_FATIGUE: &str = "mfaFatigue";
    pub const USER_REPORTED: &str = "userReportedSuspiciousActivity";
    pub const DEVICE_CODE: &str = "deviceCodePhishing";
    pub const LEGACY: &str = "legacyAuthentication";
    pub const WORKLOAD: &str = "suspiciousSignins";

    /// Types that describe a sign-in from a place new to its user: right for any attacker
    /// sign-in from such a place.
    pub const NEW_PLACE: &[&str] = &[
        UNLIKELY_TRAVEL,
        NEW_COUNTRY,
        UNFAMILIAR,
        MULTIPLE_GEOGRAPHIES,
    ];
}

/// The scenarios, in the order instances are dealt out.
pub const SCENARIOS: &[&str] = &[
    "token_replay",
    "brute_force",
    "password_spray",
    "credential_stuffing",
    "unfamiliar_sign_in",
    "foreign_sign_in",
    "multi_country_burst",
    "tor_sign_in",
    "anonymous_vpn_sign_in",
    "leaked_credentials",
    "threat_intel_ip",
    "infected_device_ip",
    "session_theft",
    "push_bombing",
    "device_code_phishing",
    "legacy_protocol",
];

/// What happened, before ids are written as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub scenario: &'static str,
    /// `u32::MAX` for labels of the benign world (an employee on an anonymous VPN).
    pub instance: u32,
    pub variant: &'static str,
    /// The attack's parameters, by name (failures, gap_seconds, users, speed_kmh, …).
    pub parameters: BTreeMap<&'static str, Value>,
    /// The type a defender most wants raised.
    pub primary: &'static str,
    /// Other types that describe the attack rightly.
    pub allowed: Vec<&'static str>,
    /// The sign-in that should carry the primary type; none for user-level types.
    pub target: Option<u128>,
    /// Every sign-in the attacker made (failures included), in time order.
    pub events: Vec<u128>,
    pub user: u32,
    /// The service principal attacked, for workload-identity scenarios (then `user` is
    /// unused).
    pub service: Option<u32>,
    pub time: i64,
    pub malicious: bool,
}

/// What the attacks add besides sign-ins: the lists a user would be handed.
#[derive(Debug, Clone, Default)]
pub struct Intelligence {
    pub threat_intel_ips: Vec<u32>,
    pub infected_ips: Vec<u32>,
    /// (user index, how the list shows the account, leak day offset from start: may be
    /// past the end).
    pub leaked: Vec<(u32, LeakForm, i64)>,
}

/// How a leaked-account list shows an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakForm {
    /// The address, as the tenant's sign-ins show it (in any case).
    Plain,
    /// SHA-256 of the lowercased address.
    Hashed,
    /// An old alias of the account that no sign-in shows: a leak no list lookup can match.
    Alias,
}

pub struct Injection<'a> {
    pub config: &'a SynthConfig,
    pub plan: &'a Plan,
    pub users: &'a [User],
    /// Each user's sign-ins made by attacks (and by the victim during one), in the order
    /// made. A user's own sign-ins are generated again where an attack reads them.
    pub injected: &'a mut [Vec<Event>],
    pub expected: Vec<Expected>,
    pub intelligence: Intelligence,
    /// Ids of every sign-in an attacker made.
    pub attack_ids: ahash::AHashSet<u128>,
    /// (victim, the attacker's last validated sign-in time) for the ignore list.
    pub returns: Vec<(u32, i64)>,
    /// Every employee's home address (see [`home_addresses`]).
    pub homes: ahash::AHashSet<u32>,
}

/// Every employee's home address: what no feed entry may name by chance.
pub fn home_addresses(plan: &Plan, users: &[User]) -> ahash::AHashSet<u32> {
    users
        .iter()
        .map(|u| plan.networks[u.isp].address(u.home_host))
        .collect()
}

/// A place an attacker can sign in from: a city and one of its networks.
#[derive(Debug, Clone, Copy)]
struct Place {
    city: City,
    net: usize,
}

/// An attack being written: its label grows as its sign-ins are made.
struct Attack {
    expected: Expected,
    device: Device,
    rng: Rng,
}

impl Injection<'_> {
    /// Runs `instances` scenario instances, dealt round-robin over [`SCENARIOS`].
    pub fn run(&mut self, instances: u32) {
        let victims = self.pick_victims(instances as usize);
        for (instance, victim) in victims.into_iter().enumerate() {
            let instance = instance as u32;
            let scenario = SCENARIOS[instance as usize % SCENARIOS.len()];
            let mut rng = Rng::derive(self.config.seed, 5, u64::from(instance));
            // Any day the victim exists but their first: some attacks come a day after a
            // user's first sign-in, some after weeks of history.
            let first = (self.users[victim as usize].joined_day + 1).min(self.config.days - 1);
            let day = rng.range(u64::from(first), u64::from(self.config.days)) as u32;
            let day_start = self.config.start + i64::from(day) * MICROS_PER_DAY;
            let t = day_start + rng.range_i64(2 * MICROS_PER_HOUR, 20 * MICROS_PER_HOUR);
            let device = self.attacker_device(&mut rng, victim, t);
            let mut attack = Attack {
                expected: Expected {
                    scenario,
                    instance,
                    variant: "",
                    parameters: BTreeMap::new(),
                    primary: "",
                    allowed: Vec::new(),
                    target: None,
                    events: Vec::new(),
                    user: victim,
                    service: None,
                    time: t,
                    malicious: true,
                },
                device: device.0,
                rng,
            };
            attack.param("device", device.1);
            self.inject(&mut attack, t);
            // Tooling that speaks a legacy protocol makes every sign-in of the attack one.
            let e = &mut attack.expected;
            if legacy_client(attack.device.client_app) && e.primary != kind::LEGACY {
                e.allowed.push(kind::LEGACY);
            }
            if !attack.expected.primary.is_empty() {
                self.expected.push(attack.expected);
            }
        }
    }

    /// Victims: any users, distinct while there are enough.
    fn pick_victims(&self, count: usize) -> Vec<u32> {
        let mut rng = Rng::derive(self.config.seed, 6, 0);
        let users = self.users.len();
        let mut taken = vec![false; users];
        (0..count)
            .map(|k| {
                let mut u = rng.index(users);
                if k < users {
                    while taken[u] {
                        u = (u + 1) % users;
                    }
                }
                taken[u] = true;
                u as u32
            })
            .collect()
    }

    /// The attacker's device: its own tooling, a browser employees use too, or a copy of the
    /// victim's (a stolen session carries it; kits copy the user agent).
    fn attacker_device(&self, rng: &mut Rng, victim: u32, t: i64) -> (Device, &'static str) {
        let roll = rng.unit();
        if roll < 0.5 {
            (rng.pick(ATTACKER_DEVICES), "tooling")
        } else if roll < 0.8 {
            (rng.pick(EMPLOYEE_DEVICES), "common_browser")
        } else {
            (self.familiar_device(victim, t), "copies_victim")
        }
    }

    fn inject(&mut self, a: &mut Attack, t: i64) {
        match a.expected.scenario {
            "token_replay" => self.token_replay(a, t),
            "brute_force" => self.brute_force(a, t),
            "password_spray" => self.password_spray(a, t),
            "credential_stuffing" => self.credential_stuffing(a, t),
            "unfamiliar_sign_in" => self.unfamiliar_sign_in(a, t),
            "foreign_sign_in" => self.foreign_sign_in(a, t),
            "multi_country_burst" => self.burst(a, t),
            "session_theft" => self.session_theft(a, t),
            "push_bombing" => self.push_bombing(a, t),
            "device_code_phishing" => self.device_code_phishing(a, t),
            "legacy_protocol" => self.legacy_protocol(a, t),
            "tor_sign_in" | "anonymous_vpn_sign_in" => {
                let tor = a.expected.scenario == "tor_sign_in";
                let net = if tor {
                    *a.rng.pick(&self.plan.tor)
                } else {
                    *a.rng.pick(&self.plan.commercial_vpn)
                };
                let ip = self.address(net, &mut a.rng);
                a.label(
                    if tor { "tor_exit" } else { "commercial_vpn" },
                    kind::ANONYMOUS_IP,
                    kind::NEW_PLACE,
                );
                self.success(a, t, net, ip);
            }
            "leaked_credentials" => {
                // Leaked before the period ends (use after it is the worse case) or after.
                let after_end = a.rng.chance(0.5);
                let victim = a.expected.user;
                let leak = if after_end {
                    i64::from(self.config.days + 3) * MICROS_PER_DAY
                } else {
                    i64::from(self.users[victim as usize].joined_day + 1) * MICROS_PER_DAY
                };
                // How the breach shows the account: as signed in, hashed, or under an old
                // alias (a proxy address) that no sign-in ever shows.
                let roll = a.rng.unit();
                let form = if roll < 0.4 {
                    LeakForm::Plain
                } else if roll < 0.8 {
                    LeakForm::Hashed
                } else {
                    LeakForm::Alias
                };
                self.intelligence.leaked.push((victim, form, leak));
                a.expected.parameters.remove("device");
                a.label(
                    match (form, after_end) {
                        (LeakForm::Alias, _) => "listed_under_an_alias",
                        (_, true) => "leaked_after_period",
                        (_, false) => "leaked_in_period",
                    },
                    kind::LEAKED,
                    &[],
                );
                a.param("hashed", form == LeakForm::Hashed);
                a.expected.time = self.config.start + leak;
            }
            "threat_intel_ip" => {
                // The victim's own device from a listed address in the victim's own city: no
                // new place or device, only the list says something.
                let user = &self.users[a.expected.user as usize];
                let net = self.plan.isps[user.home][1];
                // An address (and neighbour) no employee's home has: two homes never share
                // one at the same time.
                let homes = &self.homes;
                let ip = loop {
                    let ip = self.plan.networks[net].address(a.rng.next_u64() as u32);
                    if !homes.contains(&ip) && !homes.contains(&(ip ^ 1)) {
                        break ip;
                    }
                };
                // Feeds are incomplete: some list the attacker's neighbour in its subnet,
                // not the address it signed in from.
                let neighbour = a.rng.chance(0.2);
                self.intelligence
                    .threat_intel_ips
                    .push(if neighbour { ip ^ 1 } else { ip });
                a.device = self.familiar_device(a.expected.user, t);
                a.param("device", "victims_own");
                a.label(
                    if neighbour {
                        "neighbour_listed"
                    } else {
                        "listed_address"
                    },
                    kind::THREAT_INTEL,
                    kind::NEW_PLACE,
                );
                self.success(a, t, net, ip);
            }
            "infected_device_ip" => {
                // The victim's home machine is on a botnet feed: every validated sign-in
                // from the home address is the infected machine's (see [`Listed`]).
                // Feeds carry no dates, so the whole period counts.
                let user = &self.users[a.expected.user as usize];
                let ip = self.plan.networks[user.isp].address(user.home_host);
                // Home addresses are dynamic: a fifth of the feeds list the address the
                // home had when the feed saw the machine, which no one uses now.
                let reassigned = a.rng.chance(0.2);
                let listed = if reassigned {
                    let homes = &self.homes;
                    loop {
                        let old = self.plan.networks[user.isp].address(a.rng.next_u64() as u32);
                        if !homes.contains(&old) {
                            break old;
                        }
                    }
                } else {
                    ip
                };
                self.intelligence.infected_ips.push(listed);
                a.label(
                    if reassigned {
                        "listed_old_home_address"
                    } else {
                        "listed_home_address"
                    },
                    kind::INFECTED,
                    &[],
                );
                a.expected.parameters.remove("device");
                a.param("ip", std::net::Ipv4Addr::from(ip).to_string());
            }
            other => unreachable!("scenario {other} has no generator"),
        }
    }

    /// A stolen session replayed from far away: the victim signs in at home, the attacker
    /// uses the session from another city at a speed between a car's and a rocket's.
    fn token_replay(&mut self, a: &mut Attack, t: i64) {
        let victim = a.expected.user;
        let user = &self.users[victim as usize];
        let home = HOME_CITIES[user.home];
        let wanted_km = a.rng.log_uniform(300.0, 15_000.0);
        let place = self.place_near_distance(&home, wanted_km, &mut a.rng);
        let km = distance_km(&home, &place.city);
        let speed = a.rng.log_uniform(200.0, 5_000.0);
        let gap = ((km / speed) * MICROS_PER_HOUR as f64) as i64;
        a.device = self.familiar_device(victim, t - gap);
        a.param("device", "copies_victim");
        a.param("distance_km", km.round());
        a.param("speed_kmh", speed.round());
        a.param("gap_minutes", (gap / 60_000_000) as f64);
        a.label(
            if place.city.country == home.country {
                "same_country"
            } else {
                "abroad"
            },
            kind::UNLIKELY_TRAVEL,
            kind::NEW_PLACE,
        );
        // The victim's own sign-in at home: not the attacker's.
        let (isp, host) = (user.isp, user.home_host);
        let home_ip = self.plan.networks[isp].address(host);
        let (id, correlation, session) = event_ids(&mut a.rng);
        self.injected[victim as usize].push(Event {
            time: t - gap,
            principal: Principal::User(victim),
            event_type: INTERACTIVE_USER,
            device: Some(a.device),
            net: isp,
            ip: home_ip,
            code: 0,
            app: 0,
            id,
            correlation,
            session,
            flow: Flow::Modern,
        });
        let ip = self.address(place.net, &mut a.rng);
        self.success(a, t, place.net, ip);
    }

    /// A stolen session used from the attacker's network. An infostealer or a relay kit takes
    /// the cookie of the victim's sign-in at home and replays it minutes to hours later; an
    /// adversary-in-the-middle proxy relays the victim's sign-in itself (logged from the
    /// proxy) and the session is replayed from elsewhere; or the kit mints a session of its
    /// own and its first token request follows the victim's sign-in within minutes.
    fn session_theft(&mut self, a: &mut Attack, t: i64) {
        let victim = a.expected.user;
        let user = &self.users[victim as usize];
        let roll = a.rng.unit();
        let variant = if roll < 0.4 {
            "stolen_cookie"
        } else if roll < 0.75 {
            "relay_proxy"
        } else {
            "new_session_after_sign_in"
        };
        let delay = match variant {
            "stolen_cookie" => a.rng.log_uniform(60.0, 20.0 * 3600.0),
            "relay_proxy" => a.rng.log_uniform(30.0, 6.0 * 3600.0),
            _ => a.rng.log_uniform(20.0, 1800.0),
        };
        let delay = (delay * 1e6) as i64;
        let replays = a.rng.range(1, 5) as i64;
        let place = self.attacker_place(&mut a.rng);
        a.device = self.familiar_device(victim, t - delay);
        a.param("device", "copies_victim");
        a.param("delay_seconds", (delay / 1_000_000) as f64);
        a.param("replays", replays);
        a.label(variant, kind::ANOMALOUS_TOKEN, kind::NEW_PLACE);
        // The sign-in whose session is taken: the victim's own at home, or relayed through
        // the proxy (the attacker's, logged from the proxy's network).
        let origin = t - delay;
        let mut signed_in = Event::interactive(
            &mut a.rng,
            Principal::User(victim),
            a.device,
            (0, 0),
            origin,
            0,
        );
        if variant == "relay_proxy" {
            let proxy = self.attacker_place(&mut a.rng);
            signed_in.net = proxy.net;
            signed_in.ip = self.address(proxy.net, &mut a.rng);
            self.attack_ids.insert(signed_in.id);
            a.expected.events.push(signed_in.id);
        } else {
            signed_in.net = user.isp;
            signed_in.ip = self.plan.networks[user.isp].address(user.home_host);
        }
        let session = signed_in.session;
        self.injected[victim as usize].push(signed_in);
        let ip = self.address(place.net, &mut a.rng);
        let mut at = t;
        for k in 0..replays {
            let mut replay = Event::interactive(
                &mut a.rng,
                Principal::User(victim),
                a.device,
                (place.net, ip),
                at,
                0,
            );
            replay.event_type = crate::frame::event_type::NON_INTERACTIVE_USER;
            replay.flow = Flow::Refresh;
            if variant != "new_session_after_sign_in" {
                replay.session = session;
            }
            let id = self.record(a, replay);
            if k == 0 {
                a.expected.target = Some(id);
                a.expected.time = at;
            }
            at += a.rng.range_i64(60_000_000, 2 * MICROS_PER_HOUR);
        }
        self.returns.push((victim, at));
    }

    /// Push bombing: the attacker has the password and sends push after push (3 to 60, 5 s
    /// to 90 s apart) until the victim approves one, gives up answering, or reports fraud.
    fn push_bombing(&mut self, a: &mut Attack, t: i64) {
        let pushes = a.rng.log_uniform(3.0, 60.0).round() as i64;
        let every = (a.rng.log_uniform(5.0, 90.0) * 1e6) as i64;
        let roll = a.rng.unit();
        let variant = if roll < 0.5 {
            "approved"
        } else if roll < 0.8 {
            "not_approved"
        } else {
            "fraud_reported"
        };
        a.param("pushes", pushes);
        a.param("seconds_apart", (every / 1_000_000) as f64);
        let (primary, also) = if variant == "fraud_reported" {
            (kind::USER_REPORTED, kind::MFA_FATIGUE)
        } else {
            (kind::MFA_FATIGUE, kind::USER_REPORTED)
        };
        a.label(variant, primary, &[&[also], kind::NEW_PLACE].concat());
        let place = self.attacker_place(&mut a.rng);
        let ip = self.address(place.net, &mut a.rng);
        let victim = a.expected.user;
        let start = t - pushes * every;
        let mut last = 0;
        for k in 0..pushes {
            let flow = if variant == "fraud_reported" && k == pushes - 1 {
                Flow::PushFraud
            } else if a.rng.chance(0.5) {
                Flow::PushDeclined
            } else {
                Flow::PushUnanswered
            };
            let mut push = Event::interactive(
                &mut a.rng,
                Principal::User(victim),
                a.device,
                (place.net, ip),
                start + k * every,
                STRONG_AUTH_FAILED,
            );
            push.flow = flow;
            last = self.record(a, push);
        }
        if variant == "approved" {
            let after = a.rng.range_i64(5_000_000, 5 * 60_000_000);
            let id = self.attempt(a, victim, t + after, place.net, ip, 0);
            a.expected.target = Some(id);
            a.expected.time = t + after;
            self.returns.push((victim, t + after));
        } else {
            a.expected.target = Some(last);
            a.expected.time = t;
        }
    }

    /// Device-code phishing: the attacker starts a device-code flow and the victim enters
    /// the code; the token goes to the attacker's client, and the sign-in is logged from
    /// the attacker's network (or a residential proxy in the victim's city), through
    /// Microsoft Office, the Authentication Broker (to Graph or Exchange), or the Azure CLI.
    fn device_code_phishing(&mut self, a: &mut Attack, t: i64) {
        let victim = a.expected.user;
        let roll = a.rng.unit();
        let (variant, client) = if roll < 0.4 {
            ("office_client", OFFICE_CLIENT)
        } else if roll < 0.6 {
            ("broker_to_graph", BROKER_TO_GRAPH)
        } else if roll < 0.75 {
            ("broker_to_exchange", BROKER_TO_EXCHANGE)
        } else {
            ("azure_cli", AZURE_CLI)
        };
        let near_victim = a.rng.chance(0.3);
        a.param(
            "from",
            if near_victim {
                "proxy_in_victims_city"
            } else {
                "attacker_network"
            },
        );
        a.label(variant, kind::DEVICE_CODE, kind::NEW_PLACE);
        let net = if near_victim {
            self.plan.isps[self.users[victim as usize].home][1]
        } else {
            self.attacker_place(&mut a.rng).net
        };
        let ip = self.address(net, &mut a.rng);
        let mut signed_in = Event::interactive(
            &mut a.rng,
            Principal::User(victim),
            a.device,
            (net, ip),
            t,
            0,
        );
        signed_in.flow = Flow::DeviceCode(client);
        let id = self.record(a, signed_in);
        a.expected.target = Some(id);
        self.returns.push((victim, t));
    }

    /// Mail read or sent through a legacy protocol with the victim's password (IMAP, SMTP,
    /// EWS, ActiveSync, POP, ROPC), from the attacker's network, sometimes after a few
    /// guesses over the same protocol.
    fn legacy_protocol(&mut self, a: &mut Attack, t: i64) {
        let client = a.rng.index(LEGACY_CLIENTS.len()) as u8;
        let guesses = if a.rng.chance(0.4) {
            a.rng.range(2, 15) as i64
        } else {
            0
        };
        a.param("client", LEGACY_CLIENTS[client as usize].0);
        a.param("guesses", guesses);
        a.label(
            if guesses > 0 {
                "after_guessing"
            } else {
                "right_password"
            },
            kind::LEGACY,
            &[
                &[
                    kind::AFTER_FAILURES,
                    kind::MALICIOUS_IP,
                    kind::PASSWORD_SPRAY,
                ],
                kind::NEW_PLACE,
            ]
            .concat(),
        );
        let place = self.attacker_place(&mut a.rng);
        let ip = self.address(place.net, &mut a.rng);
        let victim = a.expected.user;
        for k in 0..guesses {
            let mut guess = Event::interactive(
                &mut a.rng,
                Principal::User(victim),
                a.device,
                (place.net, ip),
                t - (guesses - k) * 30_000_000,
                50126,
            );
            guess.flow = Flow::Legacy(client);
            self.record(a, guess);
        }
        let mut signed_in = Event::interactive(
            &mut a.rng,
            Principal::User(victim),
            a.device,
            (place.net, ip),
            t,
            0,
        );
        signed_in.flow = Flow::Legacy(client);
        let id = self.record(a, signed_in);
        a.expected.target = Some(id);
        self.returns.push((victim, t));
    }

    /// Password guessing against one account, fast or slow, from one address or rotating
    /// through the addresses of one provider.
    fn brute_force(&mut self, a: &mut Attack, t: i64) {
        let failures = a.rng.range(3, 41) as i64;
        let gap = (a.rng.log_uniform(5.0, 2_400.0) * 1e6) as i64;
        let rotating = a.rng.chance(0.3);
        let place = self.attacker_place(&mut a.rng);
        a.param("failures", failures);
        a.param("gap_seconds", (gap / 1_000_000) as f64);
        a.label(
            if rotating {
                "rotating_addresses"
            } else {
                "one_address"
            },
            kind::AFTER_FAILURES,
            &[
                kind::MALICIOUS_IP,
                kind::UNLIKELY_TRAVEL,
                kind::NEW_COUNTRY,
                kind::UNFAMILIAR,
                kind::MULTIPLE_GEOGRAPHIES,
            ],
        );
        let fixed = self.address(place.net, &mut a.rng);
        let victim = a.expected.user;
        for k in 0..failures {
            let ip = if rotating {
                self.address(place.net, &mut a.rng)
            } else {
                fixed
            };
            self.attempt(a, victim, t - (failures - k) * gap, place.net, ip, 50126);
        }
        let ip = if rotating {
            self.address(place.net, &mut a.rng)
        } else {
            fixed
        };
        self.success(a, t, place.net, ip);
    }

    /// Few passwords against many accounts, over minutes to days, from one address, the
    /// addresses of one provider, or a residential proxy pool spanning many providers; one
    /// account falls.
    fn password_spray(&mut self, a: &mut Attack, t: i64) {
        let targets = a.rng.log_uniform(5.0, 300.0).round() as i64;
        let span = (a.rng.log_uniform(5.0, 3.0 * 24.0 * 60.0) * 60e6) as i64;
        let passwords = a.rng.range(1, 3) as i64;
        let roll = a.rng.unit();
        let variant = if roll < 0.4 {
            "one_address"
        } else if roll < 0.7 {
            "one_asn"
        } else {
            "proxy_pool"
        };
        a.param("users", targets);
        a.param("minutes", (span / 60_000_000) as f64);
        a.param("passwords_per_user", passwords);
        a.label(
            variant,
            kind::PASSWORD_SPRAY,
            &[
                kind::MALICIOUS_IP,
                kind::UNLIKELY_TRAVEL,
                kind::NEW_COUNTRY,
                kind::UNFAMILIAR,
                kind::MULTIPLE_GEOGRAPHIES,
            ],
        );
        let home = self.attacker_place(&mut a.rng);
        let fixed = self.address(home.net, &mut a.rng);
        let source = |this: &Self, rng: &mut Rng| -> (usize, u32) {
            match variant {
                "one_address" => (home.net, fixed),
                "one_asn" => (home.net, this.address(home.net, rng)),
                _ => {
                    let net = *rng.pick(&this.plan.botnet);
                    (net, this.address(net, rng))
                }
            }
        };
        let attempts = targets * passwords;
        let step = (span / attempts.max(1)).max(1);
        let victim = a.expected.user;
        let mut k = 0;
        for _ in 0..targets {
            let target = self.other_user(&mut a.rng, victim);
            for _ in 0..passwords {
                let (net, ip) = source(self, &mut a.rng);
                let when = t - span + k * step + a.rng.range_i64(0, step / 2 + 1);
                self.attempt(a, target, when, net, ip, 50126);
                k += 1;
            }
        }
        let (net, ip) = source(self, &mut a.rng);
        self.success(a, t, net, ip);
    }

    /// Username–password pairs from an old breach tried once each from one address over
    /// hours; the victim's pair still works.
    fn credential_stuffing(&mut self, a: &mut Attack, t: i64) {
        let tries = a.rng.log_uniform(5.0, 120.0).round() as i64;
        let span = (a.rng.log_uniform(1.0, 30.0) * MICROS_PER_HOUR as f64) as i64;
        a.param("users", tries);
        a.param("hours", (span / MICROS_PER_HOUR) as f64);
        a.label(
            "one_address",
            kind::MALICIOUS_IP,
            &[
                kind::PASSWORD_SPRAY,
                kind::UNLIKELY_TRAVEL,
                kind::NEW_COUNTRY,
                kind::UNFAMILIAR,
                kind::MULTIPLE_GEOGRAPHIES,
            ],
        );
        let place = self.attacker_place(&mut a.rng);
        let ip = self.address(place.net, &mut a.rng);
        let victim = a.expected.user;
        for k in 0..tries {
            let target = self.other_user(&mut a.rng, victim);
            // A breached pair of a departed employee's address: the user does not exist.
            let code = if a.rng.chance(0.3) { 50034 } else { 50126 };
            self.attempt(a, target, t - span + k * span / tries, place.net, ip, code);
        }
        self.success(a, t, place.net, ip);
    }

    /// A sign-in with the victim's password that differs from the victim's habits in one to
    /// six properties: the network, the city, the country, the OS, the browser.
    fn unfamiliar_sign_in(&mut self, a: &mut Attack, t: i64) {
        let victim = a.expected.user;
        let user = &self.users[victim as usize];
        let home = HOME_CITIES[user.home];
        // Where: another subnet of the victim's own ISP (1 new property: the /24), the
        // other ISP of the victim's city (ASN and /24), another city of the victim's country
        // (and the city), another country (and the country).
        let same_country: Vec<usize> = (0..HOME_CITIES.len())
            .filter(|&c| HOME_CITIES[c].country == home.country && c != user.home)
            .collect();
        let mut level = a.rng.range(1, 5);
        if level == 3 && same_country.is_empty() {
            level = 4;
        }
        let (net, ip, location) = match level {
            1 => (
                user.isp,
                self.plan.networks[user.isp].address(user.home_host ^ 0x0000_5500),
                "own_isp",
            ),
            2 => {
                let [x, y] = self.plan.isps[user.home];
                let other = if user.isp == x { y } else { x };
                (other, self.address(other, &mut a.rng), "own_city")
            }
            3 => {
                let city = *a.rng.pick(&same_country);
                let net = self.plan.isps[city][a.rng.index(2)];
                (net, self.address(net, &mut a.rng), "own_country")
            }
            _ => {
                let place = self.attacker_place(&mut a.rng);
                (place.net, self.address(place.net, &mut a.rng), "abroad")
            }
        };
        // What: the victim's own device (nothing new), the same OS with another browser,
        // or another OS and browser.
        let own = self.familiar_device(victim, t);
        let device_level = a.rng.range(0, 3);
        let device = match device_level {
            0 => own,
            1 => EMPLOYEE_DEVICES
                .iter()
                .find(|d| os_family(d) == os_family(own) && d.browser != own.browser)
                .unwrap_or(own),
            _ => ATTACKER_DEVICES
                .iter()
                .find(|d| os_family(d) != os_family(own))
                .unwrap_or(&ATTACKER_DEVICES[0]),
        };
        let device_new = if std::ptr::eq(device, own) {
            0
        } else if os_family(device) == os_family(own) {
            1
        } else {
            2
        };
        a.device = device;
        a.param("location", location);
        a.param("new_properties", level + device_new);
        a.param(
            "device",
            ["victims_own", "new_browser", "new_device"][device_new as usize],
        );
        a.label(location, kind::UNFAMILIAR, kind::NEW_PLACE);
        self.success(a, t, net, ip);
    }

    /// The victim's password used from a country the victim never signed in from, on a copy
    /// of the victim's device: a country no colleague uses, or one where many colleagues live.
    fn foreign_sign_in(&mut self, a: &mut Attack, t: i64) {
        let victim = a.expected.user;
        let home = HOME_CITIES[self.users[victim as usize].home];
        let colleagues = a.rng.chance(0.4);
        let place = if colleagues {
            let abroad: Vec<usize> = (0..12)
                .filter(|&c| HOME_CITIES[c].country != home.country)
                .collect();
            let city = *a.rng.pick(&abroad);
            Place {
                city: HOME_CITIES[city],
                net: self.plan.isps[city][a.rng.index(2)],
            }
        } else {
            self.attacker_place(&mut a.rng)
        };
        a.device = self.familiar_device(victim, t);
        a.param("device", "copies_victim");
        a.param("country", place.city.country);
        a.label(
            if colleagues {
                "colleagues_country"
            } else {
                "rare_country"
            },
            kind::NEW_COUNTRY,
            &[
                kind::UNFAMILIAR,
                kind::UNLIKELY_TRAVEL,
                kind::MULTIPLE_GEOGRAPHIES,
            ],
        );
        let ip = self.address(place.net, &mut a.rng);
        self.success(a, t, place.net, ip);
    }

    /// Sign-ins from two to four countries within ten minutes to two hours: a session shared
    /// among an attacker group, or an operator hopping proxies.
    fn burst(&mut self, a: &mut Attack, t: i64) {
        let countries = a.rng.range(2, 5) as usize;
        let span = (a.rng.log_uniform(10.0, 120.0) * 60e6) as i64;
        let mut places: Vec<Place> = Vec::new();
        let all = self.all_places();
        for _ in 0..200 {
            if places.len() == countries {
                break;
            }
            let candidate = *a.rng.pick(&all);
            if places
                .iter()
                .all(|p| p.city.country != candidate.city.country)
            {
                places.push(candidate);
            }
        }
        let nearest = places
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                places[i + 1..]
                    .iter()
                    .map(|q| distance_km(&p.city, &q.city))
            })
            .fold(f64::INFINITY, f64::min);
        a.param("countries", places.len());
        a.param("minutes", (span / 60_000_000) as f64);
        a.param("nearest_km", nearest.round());
        a.label(
            if nearest < 1_000.0 {
                "neighbouring_countries"
            } else {
                "distant_countries"
            },
            kind::MULTIPLE_GEOGRAPHIES,
            &[kind::UNLIKELY_TRAVEL, kind::NEW_COUNTRY, kind::UNFAMILIAR],
        );
        let steps = places.len() as i64 - 1;
        for (step, place) in places.iter().enumerate() {
            let when = t + step as i64 * span / steps.max(1);
            let ip = self.address(place.net, &mut a.rng);
            self.success(a, when, place.net, ip);
        }
    }

    /// The attacker's validated sign-in as the victim: success, or an MFA prompt after the
    /// password was accepted.
    fn success(&mut self, a: &mut Attack, time: i64, net: usize, ip: u32) -> u128 {
        let code = if a.rng.chance(0.25) {
            *a.rng.pick(&PASSWORD_ACCEPTED[1..3])
        } else {
            0
        };
        let victim = a.expected.user;
        let id = self.attempt(a, victim, time, net, ip, code);
        if a.expected.target.is_none() {
            a.expected.target = Some(id);
            a.expected.time = time;
        }
        self.returns.push((victim, time));
        id
    }

    /// Adds an attacker's event to its user's sign-ins and to the attack's label.
    fn record(&mut self, a: &mut Attack, event: Event) -> u128 {
        let id = event.id;
        let Principal::User(user) = event.principal else {
            return id;
        };
        self.injected[user as usize].push(event);
        self.attack_ids.insert(id);
        a.expected.events.push(id);
        id
    }

    fn attempt(
        &mut self,
        a: &mut Attack,
        user: u32,
        time: i64,
        net: usize,
        ip: u32,
        code: i32,
    ) -> u128 {
        let event = Event::interactive(
            &mut a.rng,
            Principal::User(user),
            a.device,
            (net, ip),
            time,
            code,
        );
        self.record(a, event)
    }

    /// The device of the victim's latest successful interactive sign-in before `time` (a
    /// stolen session or the victim's own machine shows a device the victim has used).
    fn familiar_device(&self, victim: u32, time: i64) -> Device {
        // The user's own sign-ins are generated again rather than kept: a year of a big
        // tenant does not fit in memory, and few attacks ask.
        let own = super::tenant::user_activity(self.config, self.plan, self.users, victim);
        own.iter()
            .chain(&self.injected[victim as usize])
            .filter(|e| e.time < time && e.code == 0 && e.event_type == INTERACTIVE_USER)
            .max_by_key(|e| e.time)
            .and_then(|e| e.device)
            .unwrap_or(self.users[victim as usize].devices[0])
    }

    /// Every place attackers sign in from: hosting and compromised home machines in the
    /// attackers' cities, and residential proxies in the users' cities.
    fn all_places(&self) -> Vec<Place> {
        let mut places: Vec<Place> = ATTACKER_CITIES
            .iter()
            .enumerate()
            .flat_map(|(k, city)| {
                [self.plan.hosting[k], self.plan.botnet[k]].map(|net| Place { city: *city, net })
            })
            .collect();
        places.extend(HOME_CITIES.iter().enumerate().map(|(k, city)| Place {
            city: *city,
            net: self.plan.isps[k][1],
        }));
        places
    }

    /// A hosting or compromised residential network in an attacker's city.
    fn attacker_place(&self, rng: &mut Rng) -> Place {
        let k = rng.index(ATTACKER_CITIES.len());
        let net = if rng.chance(0.6) {
            self.plan.hosting[k]
        } else {
            self.plan.botnet[k]
        };
        Place {
            city: ATTACKER_CITIES[k],
            net,
        }
    }

    /// The attacker place whose distance from `from` is nearest `km` (never `from` itself).
    fn place_near_distance(&self, from: &City, km: f64, rng: &mut Rng) -> Place {
        let all = self.all_places();
        let mut best: Vec<Place> = Vec::new();
        let mut best_error = f64::INFINITY;
        for place in all {
            let d = distance_km(from, &place.city);
            if d < 50.0 {
                continue;
            }
            let error = (d.ln() - km.ln()).abs();
            if error < best_error - 1e-9 {
                best_error = error;
                best = vec![place];
            } else if (error - best_error).abs() <= 1e-9 {
                best.push(place);
            }
        }
        *rng.pick(&best)
    }

    fn address(&self, net: usize, rng: &mut Rng) -> u32 {
        self.plan.networks[net].address(rng.next_u64() as u32)
    }

    fn other_user(&self, rng: &mut Rng, victim: u32) -> u32 {
        let mut u = rng.index(self.users.len()) as u32;
        if u == victim {
            u = (u + 1) % self.users.len() as u32;
        }
        u
    }
}

impl Attack {
    fn label(&mut self, variant: &'static str, primary: &'static str, allowed: &[&'static str]) {
        self.expected.variant = variant;
        self.expected.primary = primary;
        self.expected.allowed = allowed.iter().copied().filter(|&k| k != primary).collect();
    }

    fn param(&mut self, name: &'static str, value: impl Into<Value>) {
        self.expected.parameters.insert(name, value.into());
    }
}

/// Labels of the benign world and of listed addresses: each employee's sign-ins over a
/// commercial VPN (a right detection of something harmless), and every validated sign-in
/// from an address on a threat-intelligence or infected-device list, added to the instance
/// that listed it. Sign-ins are scanned a group of users at a time ([`Listed::scan`]), each
/// group in time order; [`Listed::finish`] adds the labels.
pub struct Listed {
    vpn: BTreeMap<u32, Expected>,
    infected: BTreeMap<u32, Vec<(i64, u128)>>,
    /// The infected machines' home addresses, listed or not (see `infected_device_ip`).
    infected_ips: ahash::AHashSet<u32>,
}

impl Listed {
    pub fn new(expected: &[Expected]) -> Listed {
        let infected_ips = expected
            .iter()
            .filter(|e| e.scenario == "infected_device_ip")
            .filter_map(|e| e.parameters.get("ip").and_then(Value::as_str))
            .filter_map(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
            .map(u32::from)
            .collect();
        Listed {
            vpn: BTreeMap::new(),
            infected: BTreeMap::new(),
            infected_ips,
        }
    }

    /// Notes the sign-ins of some users, sorted by time then id; no user may come again in
    /// a later scan.
    pub fn scan(
        &mut self,
        events: &[Event],
        plan: &Plan,
        attack_ids: &ahash::AHashSet<u128>,
        validated: impl Fn(i32) -> bool,
    ) {
        for event in events {
            let Principal::User(user) = event.principal else {
                continue;
            };
            if !validated(event.code) {
                continue;
            }
            if plan.networks[event.net].kind == NetKind::CommercialVpn
                && !attack_ids.contains(&event.id)
            {
                let label = self.vpn.entry(user).or_insert_with(|| Expected {
                    scenario: "employee_on_anonymous_vpn",
                    instance: u32::MAX,
                    variant: "commercial_vpn",
                    parameters: BTreeMap::new(),
                    primary: kind::ANONYMOUS_IP,
                    allowed: Vec::new(),
                    target: Some(event.id),
                    events: Vec::new(),
                    user,
                    service: None,
                    time: event.time,
                    malicious: false,
                });
                label.events.push(event.id);
            }
            if self.infected_ips.contains(&event.ip) {
                self.infected
                    .entry(event.ip)
                    .or_default()
                    .push((event.time, event.id));
            }
        }
    }

    /// Adds the labels to `expected`, and drops instances that came to nothing.
    pub fn finish(self, expected: &mut Vec<Expected>) {
        let Listed {
            vpn, mut infected, ..
        } = self;
        expected.extend(vpn.into_values());
        // An infected-device instance names the listed address: its sign-ins are the
        // infected machine's, whoever they are (the victim's own, mostly), in time order
        // across the groups scanned.
        for seen in infected.values_mut() {
            seen.sort_unstable();
        }
        for label in expected.iter_mut() {
            if label.scenario != "infected_device_ip" {
                continue;
            }
            let ip = label.parameters.get("ip").and_then(Value::as_str);
            let listed = ip.and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok());
            if let Some(seen) = listed.and_then(|ip| infected.get(&u32::from(ip))) {
                label.events = seen.iter().map(|&(_, id)| id).collect();
                label.target = seen.first().map(|&(_, id)| id);
                label.time = seen.first().map_or(label.time, |&(t, _)| t);
            }
        }
        expected
            .retain(|e| !e.events.is_empty() || e.target.is_some() || e.primary == kind::LEAKED);
    }
}

/// Workload-identity abuse, `count` instances over the service principals (managed identities
/// are out of scope): a principal's secret stolen and used 1–4 times from the attacker's
/// network, or a credential the attacker added (a certificate where the principal uses a
/// secret, or the reverse) used 1–3 times from the principal's own Azure region. Any day
/// after the first.
pub fn workload_attacks(
    config: &SynthConfig,
    plan: &Plan,
    services: &[super::tenant::Service],
    count: u32,
) -> (Vec<Event>, Vec<Expected>) {
    let principals: Vec<usize> = (0..services.len())
        .filter(|&k| !services[k].managed_identity)
        .collect();
    let (mut events, mut expected) = (Vec::new(), Vec::new());
    if principals.is_empty() || config.days < 2 {
        return (events, expected);
    }
    for instance in 0..count {
        let mut rng = Rng::derive(config.seed, 16, u64::from(instance));
        let k = principals[rng.index(principals.len())];
        let day = rng.range(1, u64::from(config.days)) as i64;
        let t = config.start
            + day * MICROS_PER_DAY
            + rng.range_i64(2 * MICROS_PER_HOUR, 20 * MICROS_PER_HOUR);
        let stolen = rng.chance(0.6);
        let (net, flow, times) = if stolen {
            let city = rng.index(ATTACKER_CITIES.len());
            (plan.hosting[city], Flow::Modern, rng.range(1, 5))
        } else {
            // The principal's own region (see `service_activity`).
            (
                plan.cloud[k % plan.cloud.len()],
                Flow::OtherCredential,
                rng.range(1, 4),
            )
        };
        let ip = plan.networks[net].address(rng.next_u64() as u32);
        let mut ids = Vec::new();
        let mut at = t;
        for _ in 0..times {
            let (id, correlation, session) = event_ids(&mut rng);
            events.push(Event {
                time: at,
                principal: Principal::Service(k as u32),
                event_type: crate::frame::event_type::SERVICE_PRINCIPAL,
                device: None,
                net,
                ip,
                code: 0,
                app: 0,
                id,
                correlation,
                session,
                flow,
            });
            ids.push(id);
            at += rng.range_i64(60_000_000, MICROS_PER_HOUR);
        }
        let mut parameters = BTreeMap::new();
        parameters.insert("principal", Value::from(services[k].name.clone()));
        parameters.insert("sign_ins", Value::from(times));
        expected.push(Expected {
            scenario: "workload_identity_abuse",
            instance,
            variant: if stolen {
                "stolen_secret"
            } else {
                "added_credential"
            },
            parameters,
            primary: kind::WORKLOAD,
            allowed: Vec::new(),
            target: ids.first().copied(),
            events: ids,
            user: 0,
            service: Some(k as u32),
            time: t,
            malicious: true,
        });
    }
    (events, expected)
}
