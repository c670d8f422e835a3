//! Injected attacks and their labels.
//!
//! Each scenario writes its sign-ins and says, by construction, which detections a correct
//! engine must raise for them. A scenario also clears the victim's own interactive sign-ins
//! around the attack where they would make the expected set depend on chance (a home
//! sign-in an hour before an attack abroad is itself impossible travel). List-based types
//! (anonymous, threat-intelligence and infected-device IPs) are labelled afterwards by rule:
//! every validated sign-in from a listed or anonymous address.

use super::network::{NetKind, Plan};
use super::rng::Rng;
use super::tenant::{event_ids, Event, Principal, User, MICROS_PER_DAY, MICROS_PER_HOUR};
use super::world::{distance_km, Device, ATTACKER_CITIES, ATTACKER_DEVICES, HOME_CITIES};
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
}

/// The scenarios, in the order instances are dealt out.
pub const SCENARIOS: &[&str] = &[
    "token_replay",
    "brute_force",
    "slow_brute_force",
    "password_spray",
    "distributed_spray",
    "credential_stuffing",
    "tor_sign_in",
    "anonymous_vpn_sign_in",
    "unfamiliar_attacker",
    "multi_country_burst",
    "leaked_credentials",
    "threat_intel_ip",
    "infected_device_ip",
];

/// An expected detection, before ids are written as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub scenario: &'static str,
    pub instance: u32,
    pub risk_event_type: &'static str,
    /// The sign-in; none for user-level detections.
    pub event: Option<u128>,
    pub user: u32,
    pub time: i64,
    pub malicious: bool,
}

/// What the attacks add besides sign-ins: the lists a user would be handed.
#[derive(Debug, Clone, Default)]
pub struct Intelligence {
    pub threat_intel_ips: Vec<u32>,
    pub infected_ips: Vec<u32>,
    /// (user index, written as SHA-256, leak day offset from start: may be past the end).
    pub leaked: Vec<(u32, bool, i64)>,
}

pub struct Injection<'a> {
    pub config: &'a SynthConfig,
    pub plan: &'a Plan,
    pub users: &'a [User],
    /// Each user's events, modified in place.
    pub activity: &'a mut [Vec<Event>],
    pub expected: Vec<Expected>,
    pub intelligence: Intelligence,
    /// Ids of every sign-in an attacker made.
    pub attack_ids: ahash::AHashSet<u128>,
}

impl Injection<'_> {
    /// Runs `instances` scenario instances, dealt round-robin over [`SCENARIOS`].
    pub fn run(&mut self, instances: u32) {
        let victims = self.pick_victims(instances as usize);
        for (instance, victim) in victims.into_iter().enumerate() {
            let instance = instance as u32;
            let scenario = SCENARIOS[instance as usize % SCENARIOS.len()];
            let mut rng = Rng::derive(self.config.seed, 5, u64::from(instance));
            let days = self.config.days;
            let first = (days / 2)
                .max(days.saturating_sub(14))
                .min(days.saturating_sub(1));
            let day = rng.range(u64::from(first), u64::from(days)) as u32;
            let history_days = day - self.users[victim as usize].joined_day;
            let ctx = Ctx {
                scenario,
                instance,
                victim,
                day_start: self.config.start + i64::from(day) * MICROS_PER_DAY,
                history_days,
                first_validated: self.activity[victim as usize]
                    .iter()
                    .filter(|e| e.code == 0)
                    .map(|e| e.time)
                    .min()
                    .unwrap_or(i64::MAX / 2),
            };
            self.inject(&ctx, &mut rng);
        }
    }

    /// Distinct victims: users present from the first day and not travelling.
    fn pick_victims(&self, count: usize) -> Vec<u32> {
        let mut rng = Rng::derive(self.config.seed, 6, 0);
        let candidates: Vec<u32> = (0..self.users.len() as u32)
            .filter(|&u| {
                let user = &self.users[u as usize];
                user.joined_day == 0 && user.trip.is_none() && u != 7
            })
            .collect();
        let mut chosen = Vec::new();
        let mut taken = vec![false; candidates.len()];
        for _ in 0..count.min(candidates.len()) {
            let mut k = rng.index(candidates.len());
            while taken[k] {
                k = (k + 1) % candidates.len();
            }
            taken[k] = true;
            chosen.push(candidates[k]);
        }
        chosen
    }

    fn inject(&mut self, ctx: &Ctx, rng: &mut Rng) {
        let attacker_city = (ctx.instance as usize * 5 + 3) % ATTACKER_CITIES.len();
        let hosting = self.plan.hosting[attacker_city];
        let device = &ATTACKER_DEVICES[ctx.instance as usize % ATTACKER_DEVICES.len()];
        let t = ctx.day_start + rng.range_i64(2 * MICROS_PER_HOUR, 20 * MICROS_PER_HOUR);
        match ctx.scenario {
            "token_replay" => self.token_replay(ctx, rng, t, attacker_city),
            "brute_force" => {
                self.isolate(ctx.victim, t - 26 * MICROS_PER_HOUR, t + MICROS_PER_HOUR);
                let ip = self.address(hosting, rng);
                let failures = rng.range(12, 19) as i64;
                for k in 0..failures {
                    self.attempt(
                        ctx,
                        rng,
                        t - (failures - k) * 40_000_000,
                        device,
                        hosting,
                        ip,
                        50126,
                    );
                }
                let success = self.attempt(ctx, rng, t, device, hosting, ip, 0);
                self.expect(ctx, success, t, &[kind::AFTER_FAILURES]);
                self.expect_new_place(ctx, success, t);
            }
            "slow_brute_force" => {
                // One failure every 25 minutes: never ten in a session, so no detection for
                // failures; the success is from an unfamiliar device on the other ISP of the
                // victim's city (new ASN and /24, familiar city and country), or from a hosting
                // network when the victim has used that ISP before.
                self.isolate(ctx.victim, t - 26 * MICROS_PER_HOUR, t + MICROS_PER_HOUR);
                let user = &self.users[ctx.victim as usize];
                let [a, b] = self.plan.isps[user.home];
                let other = if user.isp == a { b } else { a };
                let other_asn = self.plan.networks[other].asn;
                let used_before = self.activity[ctx.victim as usize]
                    .iter()
                    .any(|e| e.time < t && self.plan.networks[e.net].asn == other_asn);
                let net = if used_before { hosting } else { other };
                let ip = self.plan.networks[net].address(user.home_host ^ 0x1300);
                for k in 0..12 {
                    self.attempt(
                        ctx,
                        rng,
                        t - (12 - k) * 25 * 60_000_000,
                        device,
                        net,
                        ip,
                        50126,
                    );
                }
                let success = self.attempt(ctx, rng, t, device, net, ip, 0);
                if used_before {
                    // Abroad: a new country as well.
                    self.expect_new_place(ctx, success, t);
                } else if ctx.history_at(t) >= 5 * MICROS_PER_DAY {
                    self.expect(ctx, success, t, &[kind::UNFAMILIAR]);
                }
            }
            "password_spray" => {
                self.isolate(ctx.victim, t - 26 * MICROS_PER_HOUR, t + MICROS_PER_HOUR);
                let ip = self.address(hosting, rng);
                let targets = rng.range(25, 45) as i64;
                for k in 0..targets {
                    let user = self.other_user(rng, ctx.victim);
                    self.attempt_as(
                        user,
                        rng,
                        t - (targets - k) * 30_000_000,
                        device,
                        hosting,
                        ip,
                        50126,
                    );
                }
                let success = self.attempt(ctx, rng, t, device, hosting, ip, 0);
                self.expect(ctx, success, t, &[kind::PASSWORD_SPRAY, kind::MALICIOUS_IP]);
                self.expect_new_place(ctx, success, t);
            }
            "distributed_spray" => {
                self.isolate(ctx.victim, t - 26 * MICROS_PER_HOUR, t + MICROS_PER_HOUR);
                let botnet = self.plan.botnet[attacker_city];
                let targets = rng.range(25, 40) as i64;
                for k in 0..targets {
                    let user = self.other_user(rng, ctx.victim);
                    let ip = self.address(botnet, rng);
                    self.attempt_as(
                        user,
                        rng,
                        t - (targets - k) * 40_000_000,
                        device,
                        botnet,
                        ip,
                        50126,
                    );
                }
                let ip = self.address(botnet, rng);
                let success = self.attempt(ctx, rng, t, device, botnet, ip, 0);
                self.expect(ctx, success, t, &[kind::PASSWORD_SPRAY]);
                self.expect_new_place(ctx, success, t);
            }
            "credential_stuffing" => {
                // Many users, one try each, spread over most of a day: a failing IP, not a
                // spray burst.
                self.isolate(ctx.victim, t - 26 * MICROS_PER_HOUR, t + MICROS_PER_HOUR);
                let ip = self.address(hosting, rng);
                let tries = rng.range(25, 40) as i64;
                for k in 0..tries {
                    let user = self.other_user(rng, ctx.victim);
                    let when = t - (tries - k) * 35 * 60_000_000;
                    let code = if rng.chance(0.3) { 50034 } else { 50126 };
                    self.attempt_as(user, rng, when, device, hosting, ip, code);
                }
                let success = self.attempt(ctx, rng, t, device, hosting, ip, 0);
                self.expect(ctx, success, t, &[kind::MALICIOUS_IP]);
                self.expect_new_place(ctx, success, t);
            }
            "tor_sign_in" | "anonymous_vpn_sign_in" => {
                // Anonymous networks are no place: only the anonymous-IP rule labels these.
                let net = if ctx.scenario == "tor_sign_in" {
                    *rng.pick(&self.plan.tor)
                } else {
                    *rng.pick(&self.plan.commercial_vpn)
                };
                let ip = self.address(net, rng);
                self.attempt(ctx, rng, t, device, net, ip, 0);
            }
            "unfamiliar_attacker" => {
                self.isolate(ctx.victim, t - 26 * MICROS_PER_HOUR, t + MICROS_PER_HOUR);
                let ip = self.address(hosting, rng);
                let success = self.attempt(ctx, rng, t, device, hosting, ip, 0);
                self.expect_new_place(ctx, success, t);
            }
            "multi_country_burst" => self.burst(ctx, rng, t, device),
            "leaked_credentials" => {
                // Alternate: leaked before the period ends (later use makes it high) or after.
                let after_end = ctx.instance % 2 == 1;
                let leak = if after_end {
                    i64::from(self.config.days + 3) * MICROS_PER_DAY
                } else {
                    i64::from(ctx.history_days / 2) * MICROS_PER_DAY
                };
                self.intelligence
                    .leaked
                    .push((ctx.victim, ctx.instance % 4 >= 2, leak));
                self.expected.push(Expected {
                    scenario: ctx.scenario,
                    instance: ctx.instance,
                    risk_event_type: kind::LEAKED,
                    event: None,
                    user: ctx.victim,
                    time: self.config.start + leak,
                    malicious: true,
                });
            }
            "threat_intel_ip" => {
                // The victim's own device from a listed address in the victim's own city: no
                // new place or device, only the list says something.
                let user = &self.users[ctx.victim as usize];
                let net = self.plan.isps[user.home][1];
                let ip = self.plan.networks[net].address(rng.next_u64() as u32);
                self.intelligence.threat_intel_ips.push(ip);
                let own = self.familiar_device(ctx.victim, t);
                self.attempt(ctx, rng, t, own, net, ip, 0);
            }
            "infected_device_ip" => {
                // The victim's home address is on a botnet list.
                let user = &self.users[ctx.victim as usize];
                let ip = self.plan.networks[user.isp].address(user.home_host);
                self.intelligence.infected_ips.push(ip);
            }
            other => unreachable!("scenario {other} has no generator"),
        }
    }

    /// A home sign-in, a sign-in from far abroad with the victim's own device (a stolen
    /// session), and home again: the middle one is impossible travel.
    fn token_replay(&mut self, ctx: &Ctx, rng: &mut Rng, t: i64, attacker_city: usize) {
        let user = &self.users[ctx.victim as usize];
        let home = HOME_CITIES[user.home];
        // The farthest of a few attacker cities: thousands of kilometres in two hours.
        let city = (0..4)
            .map(|k| (attacker_city + k * 3) % ATTACKER_CITIES.len())
            .max_by(|&a, &b| {
                distance_km(&home, &ATTACKER_CITIES[a])
                    .total_cmp(&distance_km(&home, &ATTACKER_CITIES[b]))
            })
            .unwrap_or(attacker_city);
        let (isp, host) = (user.isp, user.home_host);
        let gap1 = rng.range_i64(70, 150) * 60_000_000;
        let gap2 = rng.range_i64(70, 150) * 60_000_000;
        let own = self.familiar_device(ctx.victim, t - gap1 - 2 * MICROS_PER_HOUR);
        self.isolate(
            ctx.victim,
            t - gap1 - 2 * MICROS_PER_HOUR,
            t + gap2 + 2 * MICROS_PER_HOUR,
        );
        let home_ip = self.plan.networks[isp].address(host);
        self.attempt(ctx, rng, t - gap1, own, isp, home_ip, 0);
        let hosting = self.plan.hosting[city];
        let ip = self.address(hosting, rng);
        let stolen = self.attempt(ctx, rng, t, own, hosting, ip, 0);
        self.attempt(ctx, rng, t + gap2, own, isp, home_ip, 0);
        self.expect(ctx, stolen, t, &[kind::UNLIKELY_TRAVEL]);
        if ctx.history_at(t) >= 14 * MICROS_PER_DAY {
            self.expect(ctx, stolen, t, &[kind::NEW_COUNTRY]);
        }
    }

    /// Three countries within forty minutes.
    fn burst(&mut self, ctx: &Ctx, rng: &mut Rng, t: i64, device: Device) {
        self.isolate(
            ctx.victim,
            t - 26 * MICROS_PER_HOUR,
            t + 2 * MICROS_PER_HOUR,
        );
        let first = ctx.instance as usize % ATTACKER_CITIES.len();
        let mut cities = vec![first];
        for k in 1..ATTACKER_CITIES.len() {
            let candidate = (first + k * 4) % ATTACKER_CITIES.len();
            let far_from_all = cities.iter().all(|&c| {
                ATTACKER_CITIES[c].country != ATTACKER_CITIES[candidate].country
                    && distance_km(&ATTACKER_CITIES[c], &ATTACKER_CITIES[candidate]) >= 800.0
            });
            if far_from_all {
                cities.push(candidate);
            }
            if cities.len() == 3 {
                break;
            }
        }
        for (step, &city) in cities.iter().enumerate() {
            let when = t + step as i64 * 15 * 60_000_000;
            let net = self.plan.hosting[city];
            let ip = self.address(net, rng);
            let id = self.attempt(ctx, rng, when, device, net, ip, 0);
            // Each country is new; the device is new only the first time it shows.
            if step == 0 {
                self.expect_new_place(ctx, id, when);
            } else if ctx.history_at(when) >= 14 * MICROS_PER_DAY {
                self.expect(ctx, id, when, &[kind::NEW_COUNTRY]);
            }
            if step >= 1 {
                self.expect(ctx, id, when, &[kind::UNLIKELY_TRAVEL]);
            }
            if step == 1 {
                self.expect(ctx, id, when, &[kind::MULTIPLE_GEOGRAPHIES]);
            }
        }
    }

    /// Labels for a validated attacker sign-in from a country and network the victim never
    /// used, on a device the victim never used.
    fn expect_new_place(&mut self, ctx: &Ctx, event: u128, time: i64) {
        if ctx.history_at(time) >= 5 * MICROS_PER_DAY {
            self.expect(ctx, event, time, &[kind::UNFAMILIAR]);
        }
        if ctx.history_at(time) >= 14 * MICROS_PER_DAY {
            self.expect(ctx, event, time, &[kind::NEW_COUNTRY]);
        }
    }

    fn expect(&mut self, ctx: &Ctx, event: u128, time: i64, kinds: &[&'static str]) {
        for risk_event_type in kinds {
            self.expected.push(Expected {
                scenario: ctx.scenario,
                instance: ctx.instance,
                risk_event_type,
                event: Some(event),
                user: ctx.victim,
                time,
                malicious: true,
            });
        }
    }

    /// The device of the victim's latest successful interactive sign-in before `time` (a
    /// stolen session or the victim's own machine shows a device the victim has used).
    fn familiar_device(&self, victim: u32, time: i64) -> Device {
        self.activity[victim as usize]
            .iter()
            .filter(|e| e.time < time && e.code == 0 && e.event_type == INTERACTIVE_USER)
            .max_by_key(|e| e.time)
            .and_then(|e| e.device)
            .unwrap_or(self.users[victim as usize].devices[0])
    }

    /// Removes the victim's own interactive sign-ins in `[from, to]`.
    fn isolate(&mut self, victim: u32, from: i64, to: i64) {
        self.activity[victim as usize]
            .retain(|e| e.event_type != INTERACTIVE_USER || e.time < from || e.time > to);
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

    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &mut self,
        ctx: &Ctx,
        rng: &mut Rng,
        time: i64,
        device: Device,
        net: usize,
        ip: u32,
        code: i32,
    ) -> u128 {
        self.attempt_as(ctx.victim, rng, time, device, net, ip, code)
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt_as(
        &mut self,
        user: u32,
        rng: &mut Rng,
        time: i64,
        device: Device,
        net: usize,
        ip: u32,
        code: i32,
    ) -> u128 {
        let (id, correlation, session) = event_ids(rng);
        self.activity[user as usize].push(Event {
            time,
            principal: Principal::User(user),
            event_type: INTERACTIVE_USER,
            device: Some(device),
            net,
            ip,
            code,
            app: 0,
            id,
            correlation,
            session,
        });
        self.attack_ids.insert(id);
        id
    }
}

struct Ctx {
    scenario: &'static str,
    instance: u32,
    victim: u32,
    day_start: i64,
    history_days: u32,
    /// The victim's first successful sign-in: a user's history starts there.
    first_validated: i64,
}

impl Ctx {
    /// How much history the victim has at `time`.
    fn history_at(&self, time: i64) -> i64 {
        time - self.first_validated
    }
}

/// Rule-based labels: every validated sign-in from an anonymous network or a listed address.
pub fn label_listed(
    events: &[Event],
    plan: &Plan,
    intelligence: &Intelligence,
    attack_ids: &ahash::AHashSet<u128>,
    validated: impl Fn(i32) -> bool + Sync,
) -> Vec<Expected> {
    use rayon::prelude::*;
    let threat_intel: ahash::AHashSet<u32> =
        intelligence.threat_intel_ips.iter().copied().collect();
    let infected: ahash::AHashSet<u32> = intelligence.infected_ips.iter().copied().collect();
    events
        .par_iter()
        .flat_map_iter(|event| {
            label_one(
                event,
                plan,
                &threat_intel,
                &infected,
                attack_ids,
                &validated,
            )
        })
        .collect()
}

/// The rule-based labels of one event.
fn label_one(
    event: &Event,
    plan: &Plan,
    threat_intel: &ahash::AHashSet<u32>,
    infected: &ahash::AHashSet<u32>,
    attack_ids: &ahash::AHashSet<u128>,
    validated: impl Fn(i32) -> bool,
) -> Vec<Expected> {
    let mut expected = Vec::new();
    if let Principal::User(user) = event.principal {
        if !validated(event.code) {
            return expected;
        }
        let net = &plan.networks[event.net];
        let malicious = attack_ids.contains(&event.id);
        let mut add = |risk_event_type, scenario| {
            expected.push(Expected {
                scenario,
                instance: u32::MAX,
                risk_event_type,
                event: Some(event.id),
                user,
                time: event.time,
                malicious,
            })
        };
        match net.kind {
            NetKind::Tor => add(kind::ANONYMOUS_IP, "tor_sign_in"),
            // Employees on a commercial VPN are anonymous too: the detection is right even
            // though the sign-in is not an attack (`malicious` says which).
            NetKind::CommercialVpn => add(kind::ANONYMOUS_IP, "anonymous_vpn_sign_in"),
            _ => {}
        }
        if threat_intel.contains(&event.ip) {
            add(kind::THREAT_INTEL, "threat_intel_ip");
        }
        if infected.contains(&event.ip) {
            add(kind::INFECTED, "infected_device_ip");
        }
    }
    expected
}
