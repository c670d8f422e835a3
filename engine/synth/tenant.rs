//! The normal tenant: users, their devices and networks, and a month of ordinary sign-ins,
//! built to be hard on detectors (carrier hubs, office and VPN egress shared by many users,
//! real trips, token refreshes from far-away cloud egress, typos and MFA interrupts).

use super::network::Plan;
use super::rng::Rng;
use super::world::{
    distance_km, Device, APPS, EMPLOYEE_DEVICES, FIRST_NAMES, HOME_CITIES, LAST_NAMES,
};
use super::{Benign, SynthConfig};

pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Who signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    User(u32),
    Service(u32),
}

/// How a sign-in authenticated beyond its outcome code: what its token, protocol and MFA
/// columns show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    /// A browser or modern client (interactive: the password, then a push approved).
    #[default]
    Modern,
    /// A refresh of the session's token (non-interactive).
    Refresh,
    /// The device-code flow through a client of [`super::world::DEVICE_CODE_CLIENTS`].
    DeviceCode(u8),
    /// A client of [`super::world::LEGACY_CLIENTS`]: the password alone.
    Legacy(u8),
    /// A push notification the user declined.
    PushDeclined,
    /// A push notification nobody answered.
    PushUnanswered,
    /// A push the user reported as fraud.
    PushFraud,
    /// A service principal's sign-in with a credential other than its usual one.
    OtherCredential,
}

/// One generated sign-in. Text is produced only when the event is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: i64,
    pub principal: Principal,
    pub event_type: &'static str,
    pub device: Option<Device>,
    pub net: usize,
    pub ip: u32,
    pub code: i32,
    pub app: usize,
    pub id: u128,
    pub correlation: u128,
    pub session: u128,
    pub flow: Flow,
}

impl Event {
    /// An interactive sign-in of the first app, with fresh ids drawn from `rng`.
    pub fn interactive(
        rng: &mut Rng,
        principal: Principal,
        device: Device,
        (net, ip): (usize, u32),
        time: i64,
        code: i32,
    ) -> Event {
        let (id, correlation, session) = event_ids(rng);
        Event {
            time,
            principal,
            event_type: crate::frame::event_type::INTERACTIVE_USER,
            device: Some(device),
            net,
            ip,
            code,
            app: 0,
            id,
            correlation,
            session,
            flow: Flow::Modern,
        }
    }
}

/// A user of the tenant.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub upn: String,
    pub display_name: String,
    pub home: usize,
    pub isp: usize,
    pub home_host: u32,
    pub office_worker: bool,
    pub devices: Vec<Device>,
    /// First day the user exists (0 for most; later for new joiners).
    pub joined_day: u32,
    pub corporate_vpn: bool,
    pub commercial_vpn: bool,
    /// Home broadband is dual-stack: home sign-ins come over IPv6 half the time.
    pub ipv6: bool,
    /// One app goes through the corporate VPN while the rest go direct.
    pub split_tunnel: bool,
    /// A trip: (first day away, days away, destination city index).
    pub trip: Option<(u32, u32, usize)>,
}

/// A service principal or managed identity.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub app_id: String,
    pub managed_identity: bool,
    /// `clientCredentialType` of its sign-ins.
    pub credential: &'static str,
}

pub fn event_ids(rng: &mut Rng) -> (u128, u128, u128) {
    (rng.bits128(), rng.bits128(), rng.bits128())
}

pub fn make_users(config: &SynthConfig, plan: &Plan) -> Vec<User> {
    (0..config.users)
        .map(|u| {
            let mut rng = Rng::derive(config.seed, 1, u64::from(u));
            // The first dozen cities hold the big offices.
            let home = if rng.chance(0.6) {
                rng.index(12)
            } else {
                rng.index(HOME_CITIES.len())
            };
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(LAST_NAMES);
            let ascii = |s: &str| -> String {
                s.chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_lowercase()
            };
            let mut devices: Vec<Device> = vec![rng.pick(&EMPLOYEE_DEVICES[..5])];
            if rng.chance(0.7) {
                devices.push(&EMPLOYEE_DEVICES[5 + rng.index(2)]);
            }
            if rng.chance(0.2) {
                let extra = rng.pick(EMPLOYEE_DEVICES);
                if !devices.contains(&extra) {
                    devices.push(extra);
                }
            }
            let joined_day = if u >= 10 && rng.chance(0.05) && config.days > 4 {
                rng.range(1, u64::from(config.days - 2)) as u32
            } else {
                0
            };
            // The benign world's draws come from a stream of their own, so turning one off
            // leaves everything else as it was.
            let mut extra = Rng::derive(config.seed, 9, u64::from(u));
            let joined_day =
                if u >= 10 && config.days > 8 && extra.chance(config.benign.new_joiners) {
                    config.days - extra.range(1, 8) as u32
                } else {
                    joined_day
                };
            let ipv6 = extra.chance(config.benign.ipv6_homes);
            let split_tunnel = extra.chance(config.benign.split_tunnel);
            let trip = (config.days >= 10 && rng.chance(0.05)).then(|| {
                let start = rng.range(3, u64::from(config.days - 6)) as u32;
                let length = rng.range(2, 5) as u32;
                let destination = pick_destination(&mut rng, home);
                (start, length, destination)
            });
            User {
                id: rng.guid(),
                upn: format!("{}.{}{}@contoso.com", ascii(first), ascii(last), u),
                display_name: format!("{first} {last}"),
                home,
                isp: plan.isps[home][rng.index(2)],
                home_host: rng.next_u64() as u32,
                office_worker: rng.chance(0.6),
                devices,
                joined_day,
                corporate_vpn: rng.chance(0.25),
                commercial_vpn: rng.chance(0.01),
                ipv6,
                split_tunnel,
                trip: trip.filter(|(start, _, _)| *start > joined_day + 2),
            }
        })
        .collect()
}

/// A trip destination in another country, far enough to be a flight and near enough that
/// the overnight journey never looks faster than a plane.
fn pick_destination(rng: &mut Rng, home: usize) -> usize {
    for _ in 0..50 {
        let candidate = rng.index(12);
        let distance = distance_km(&HOME_CITIES[home], &HOME_CITIES[candidate]);
        if HOME_CITIES[candidate].country != HOME_CITIES[home].country
            && (800.0..9_000.0).contains(&distance)
        {
            return candidate;
        }
    }
    home
}

pub fn make_services(config: &SynthConfig) -> Vec<Service> {
    let mut rng = Rng::derive(config.seed, 2, 0);
    let named = [
        ("backup-runner", false),
        ("hr-sync", false),
        ("billing-export", false),
        ("ci-deployer", false),
        ("vm-monitor", true),
        ("func-ingest", true),
    ];
    // A principal of automation for every hundred users beyond the named ones.
    let more = (0..config.users / 100).map(|k| (format!("automation-{k:03}"), k % 5 == 4));
    named
        .iter()
        .map(|(name, managed)| (name.to_string(), *managed))
        .chain(more)
        .enumerate()
        .map(|(k, (name, managed))| Service {
            id: rng.guid(),
            name,
            app_id: rng.guid(),
            managed_identity: managed,
            credential: match (managed, k % 2) {
                (true, _) => "managedIdentity",
                (false, 0) => "clientSecret",
                (false, _) => "certificate",
            },
        })
        .collect()
}

/// Monday = 0.
fn weekday(day_start: i64) -> i64 {
    (day_start.div_euclid(MICROS_PER_DAY) + 3).rem_euclid(7)
}

/// One user's ordinary sign-ins over the whole period.
pub fn user_activity(config: &SynthConfig, plan: &Plan, users: &[User], u: u32) -> Vec<Event> {
    let user = &users[u as usize];
    let mut rng = Rng::derive(config.seed, 3, u64::from(u));
    // The benign world's hard cases draw from their own stream (see `make_users`).
    let mut extra = Rng::derive(config.seed, 10, u64::from(u));
    let benign = &config.benign;
    let mut out = SignIns {
        events: Vec::new(),
        plan,
        benign,
        principal: Principal::User(u),
        side: Rng::derive(config.seed, 14, u64::from(u)),
        carrier: plan.carrier_of(HOME_CITIES[user.home].country),
    };
    // Developers and printers: streams of their own, so their shares change nothing else.
    let mut developer = Rng::derive(config.seed, 12, u64::from(u));
    let develops = developer.chance(benign.dev_device_code);
    let mut printer = Rng::derive(config.seed, 13, u64::from(u));
    let prints = printer.chance(benign.printers);
    let home = HOME_CITIES[user.home];
    let forgetful = u == 7;
    // The password-expiry morning: the first Monday after the period's middle.
    let expiry_day = (config.days / 2..config.days)
        .find(|&d| weekday(config.start + i64::from(d) * MICROS_PER_DAY) == 0);
    let expires = extra.chance(benign.expiry_morning);
    for day in user.joined_day..config.days {
        let day_start = config.start + i64::from(day) * MICROS_PER_DAY;
        let workday = weekday(day_start) < 5;
        let away = user
            .trip
            .filter(|(start, length, _)| day >= *start && day < start + length)
            .map(|(_, _, destination)| destination);
        let travel_day = user
            .trip
            .is_some_and(|(start, length, _)| day + 1 == start || day == start + length);
        let offset = away.map_or(home.utc_offset, |d| HOME_CITIES[d].utc_offset);
        if travel_day {
            if let Some((start, _, destination)) = user.trip {
                let outbound = day + 1 == start;
                flight(&mut out, &mut extra, user, day_start, outbound, destination);
            }
            continue;
        }
        if expires && Some(day) == expiry_day && away.is_none() {
            // Before work, at home: the old password fails once to three times, the
            // expired-password page takes it, the new one works.
            let time = day_start
                + (8 - i64::from(home.utc_offset)) * MICROS_PER_HOUR
                + extra.range_i64(0, MICROS_PER_HOUR);
            let device = user.devices[0];
            let (net, host) = home_network(&mut extra, plan, user);
            let failures = extra.range(1, 4) as u32;
            out.sign_in(
                &mut extra,
                device,
                (net, host),
                time,
                Prelude::Expired(failures),
            );
            // A phone's mail app still holds the old password: it retries at its own pace
            // from home for hours, until its owner types the new one in. Drawn from a stream
            // of its own, so the share changes nothing else.
            let mut stale = Rng::derive(config.seed, 11, u64::from(u));
            let phone = user.devices.iter().copied().find(|d| d.mobile);
            if let (Some(phone), true) = (phone, stale.chance(benign.stale_password)) {
                let every = stale.range_i64(10 * 60_000_000, 30 * 60_000_000);
                let until = time + stale.range_i64(2 * MICROS_PER_HOUR, 8 * MICROS_PER_HOUR);
                let (id_net, ip) = (net, plan.networks[net].address(host));
                let mut at = time + every;
                while at < until {
                    out.attempt(&mut stale, phone, id_net, ip, at, 50126);
                    at += every + stale.range_i64(0, 60_000_000);
                }
                out.sign_in(&mut stale, phone, (net, host), at, Prelude::None);
            }
        }
        if develops && workday && away.is_none() && developer.chance(0.4) {
            // `az login --use-device-code` from home or the office.
            let local_hour = developer.range(9, 18) as i64;
            let time = day_start
                + (local_hour - i64::from(offset)) * MICROS_PER_HOUR
                + developer.range_i64(0, MICROS_PER_HOUR);
            let net = if user.office_worker && developer.chance(0.5) {
                (plan.offices[user.home], developer.range(1, 6) as u32)
            } else {
                home_network(&mut developer, plan, user)
            };
            let ip = plan.networks[net.0].address(net.1);
            let mut login = Event::interactive(
                &mut developer,
                out.principal,
                user.devices[0],
                (net.0, ip),
                time,
                0,
            );
            login.flow = Flow::DeviceCode(super::world::AZURE_CLI);
            out.events.push(login);
        }
        if prints && workday && away.is_none() {
            // The office printer mails scans with the mailbox's password over SMTP.
            for _ in 0..printer.range(1, 5) {
                let time = day_start
                    + (printer.range(8, 17) as i64 - i64::from(offset)) * MICROS_PER_HOUR
                    + printer.range_i64(0, MICROS_PER_HOUR);
                let office = plan.offices[user.home];
                let ip = plan.networks[office].address(200);
                let mut scan = Event::interactive(
                    &mut printer,
                    out.principal,
                    user.devices[0],
                    (office, ip),
                    time,
                    0,
                );
                scan.flow = Flow::Legacy(super::world::SMTP_CLIENT);
                out.events.push(scan);
            }
        }
        let count = if workday {
            rng.poisson(3.0)
        } else {
            u32::from(rng.chance(0.3))
        };
        for _ in 0..count {
            let local_hour = if workday && !rng.chance(0.1) {
                rng.range(8, 18) as i64
            } else {
                rng.range(10, 22) as i64
            };
            let time = day_start
                + (local_hour - i64::from(offset)) * MICROS_PER_HOUR
                + rng.range_i64(0, MICROS_PER_HOUR);
            let device = *rng.pick(&user.devices);
            let (net, host) = choose_network(
                &mut rng, &mut extra, plan, user, device, away, workday, local_hour, benign,
            );
            let prelude = if forgetful && day == config.days / 2 {
                Prelude::Forgot
            } else {
                Prelude::Typos
            };
            out.sign_in(&mut rng, device, (net, host), time, prelude);
            if user.split_tunnel && net != plan.corporate_vpn && away.is_none() {
                // Another app, minutes later, through the tunnel.
                let later = time + extra.range_i64(60_000_000, 10 * 60_000_000);
                let host = extra.range(1, 4) as u32;
                out.sign_in(
                    &mut extra,
                    device,
                    (plan.corporate_vpn, host),
                    later,
                    Prelude::None,
                );
            }
        }
    }
    out.events
}

/// A travel day: a sign-in where the traveller is before leaving, and, when the airline
/// has Wi-Fi, one or two on board that geolocate to the Wi-Fi provider's headquarters.
fn flight(
    out: &mut SignIns<'_>,
    rng: &mut Rng,
    user: &User,
    day_start: i64,
    outbound: bool,
    destination: usize,
) {
    let plan = out.plan;
    if !rng.chance(out.benign.in_flight_wifi) {
        return;
    }
    let (from, to) = if outbound {
        (user.home, destination)
    } else {
        (destination, user.home)
    };
    let departure = day_start
        + (rng.range(8, 14) as i64 - i64::from(HOME_CITIES[from].utc_offset)) * MICROS_PER_HOUR;
    let hours = distance_km(&HOME_CITIES[from], &HOME_CITIES[to]) / 800.0 + 0.5;
    let device = user.devices[0];
    // Before boarding: home, or the hotel.
    let (net, host) = if outbound {
        (user.isp, user.home_host)
    } else {
        (plan.isps[destination][0], rng.next_u64() as u32)
    };
    let before = departure - rng.range_i64(MICROS_PER_HOUR, 2 * MICROS_PER_HOUR);
    out.sign_in(rng, device, (net, host), before, Prelude::None);
    let wifi = *rng.pick(&plan.in_flight);
    // The provider puts every passenger behind a small NAT pool.
    let seat = rng.range(1, 30) as u32;
    for _ in 0..rng.range(1, 3) {
        let aloft = departure + ((0.3 + 0.6 * rng.unit()) * hours * MICROS_PER_HOUR as f64) as i64;
        out.sign_in(rng, device, (wifi, seat), aloft, Prelude::None);
    }
}

/// The user's home network: IPv4, or half the time the ISP's IPv6 block on a dual-stack
/// line.
fn home_network(rng: &mut Rng, plan: &Plan, user: &User) -> (usize, u32) {
    if user.ipv6 && rng.chance(0.5) {
        let [a, _] = plan.isps[user.home];
        let k = usize::from(user.isp != a);
        return (plan.isps_v6[user.home][k], user.home_host);
    }
    (user.isp, user.home_host)
}

#[allow(clippy::too_many_arguments)]
fn choose_network(
    rng: &mut Rng,
    extra: &mut Rng,
    plan: &Plan,
    user: &User,
    device: Device,
    away: Option<usize>,
    workday: bool,
    local_hour: i64,
    benign: &Benign,
) -> (usize, u32) {
    if let Some(destination) = away {
        // Hotel Wi-Fi at the destination.
        return (plan.isps[destination][0], rng.next_u64() as u32);
    }
    if device.mobile && rng.chance(benign.cgnat) {
        // Carrier-grade NAT: a handful of shared addresses per country.
        let carrier = plan.carrier_of(HOME_CITIES[user.home].country);
        return (carrier, rng.range(1, 40) as u32);
    }
    if user.commercial_vpn && rng.chance(0.5) {
        let vpn = *rng.pick(&plan.commercial_vpn);
        return (vpn, rng.range(1, 20) as u32);
    }
    if user.corporate_vpn && rng.chance(0.2) {
        return (plan.corporate_vpn, rng.range(1, 4) as u32);
    }
    if user.office_worker && workday && (9..17).contains(&local_hour) && rng.chance(0.8) {
        return (plan.offices[user.home], rng.range(1, 6) as u32);
    }
    home_network(extra, plan, user)
}

/// What comes before a successful interactive sign-in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Prelude {
    None,
    /// Now and then a typo or two.
    Typos,
    /// Five wrong passwords and a password reset.
    Forgot,
    /// An expired password: the old one fails this many times, then the expiry page.
    Expired(u32),
}

/// One principal's sign-ins as they are written.
struct SignIns<'a> {
    events: Vec<Event>,
    plan: &'a Plan,
    benign: &'a Benign,
    principal: Principal,
    /// The benign world's draws around sign-ins (missed prompts, roaming refreshes): a
    /// stream of their own.
    side: Rng,
    /// The user's mobile carrier.
    carrier: usize,
}

impl SignIns<'_> {
    /// One interactive attempt and nothing else (a failure, typically).
    fn attempt(
        &mut self,
        rng: &mut Rng,
        device: Device,
        net: usize,
        ip: u32,
        time: i64,
        code: i32,
    ) {
        let event = Event::interactive(rng, self.principal, device, (net, ip), time, code);
        self.events.push(event);
    }

    /// An interactive sign-in from `host` of network `net`, with what precedes it (typos,
    /// interrupts) and the token refreshes that follow it.
    fn sign_in(
        &mut self,
        rng: &mut Rng,
        device: Device,
        (net, host): (usize, u32),
        time: i64,
        prelude: Prelude,
    ) {
        let (plan, benign, principal, events, side, carrier) = (
            self.plan,
            self.benign,
            self.principal,
            &mut self.events,
            &mut self.side,
            self.carrier,
        );
        let ip = plan.networks[net].address(host);
        let app = rng.index(APPS.len());
        let push = |events: &mut Vec<Event>,
                    rng: &mut Rng,
                    time: i64,
                    code: i32,
                    event_type: &'static str,
                    net: usize,
                    ip: u32| {
            let (id, correlation, session) = event_ids(rng);
            events.push(Event {
                time,
                principal,
                event_type,
                device: Some(device),
                net,
                ip,
                code,
                app,
                id,
                correlation,
                session,
                flow: Flow::Modern,
            });
        };
        let interactive = crate::frame::event_type::INTERACTIVE_USER;
        match prelude {
            Prelude::Forgot => {
                for k in 0..5 {
                    push(
                        events,
                        rng,
                        time - (12 - k) * 60_000_000,
                        50126,
                        interactive,
                        net,
                        ip,
                    );
                }
                push(
                    events,
                    rng,
                    time - 5 * 60_000_000,
                    50125,
                    interactive,
                    net,
                    ip,
                );
            }
            Prelude::Expired(failures) => {
                for k in 0..i64::from(failures) {
                    push(
                        events,
                        rng,
                        time - (k + 2) * 40_000_000,
                        50126,
                        interactive,
                        net,
                        ip,
                    );
                }
                push(events, rng, time - 40_000_000, 50055, interactive, net, ip);
            }
            Prelude::Typos if rng.chance(0.03) => {
                for k in 0..rng.range(1, 3) as i64 {
                    push(
                        events,
                        rng,
                        time - (k + 1) * 25_000_000,
                        50126,
                        interactive,
                        net,
                        ip,
                    );
                }
            }
            Prelude::Typos | Prelude::None => {}
        }
        if rng.chance(0.12) {
            let code = *rng.pick(&[50074, 50076, 50140]);
            push(events, rng, time - 8_000_000, code, interactive, net, ip);
        } else if rng.chance(0.003) {
            push(events, rng, time - 30_000_000, 50055, interactive, net, ip);
        }
        if side.chance(benign.missed_prompts) {
            // The phone was in a pocket: a push or two time out before the user approves.
            for k in 0..side.range(1, 3) as i64 {
                push(
                    events,
                    side,
                    time - (k + 1) * 45_000_000,
                    500_121,
                    interactive,
                    net,
                    ip,
                );
                if let Some(missed) = events.last_mut() {
                    missed.flow = Flow::PushUnanswered;
                }
            }
        }
        push(events, rng, time, 0, interactive, net, ip);
        // The session this sign-in minted: every refresh of its tokens carries it.
        let session = events.last().map_or(0, |e| e.session);
        // Token refreshes: several per interactive sign-in, mostly from Microsoft's network.
        let refreshes = rng.range(3, 9);
        for _ in 0..refreshes {
            let later = time + rng.range_i64(MICROS_PER_HOUR / 12, 8 * MICROS_PER_HOUR);
            let (rnet, rip) = if rng.chance(benign.cloud_refresh) {
                let cloud = *rng.pick(&plan.cloud);
                (cloud, plan.networks[cloud].address(rng.next_u64() as u32))
            } else {
                (net, ip)
            };
            // A phone that left the Wi-Fi refreshes over its carrier.
            let (rnet, rip) = if device.mobile && side.chance(benign.roaming_refresh) {
                (
                    carrier,
                    plan.networks[carrier].address(side.range(1, 40) as u32),
                )
            } else {
                (rnet, rip)
            };
            let code = if rng.chance(0.02) { 70044 } else { 0 };
            push(
                events,
                rng,
                later,
                code,
                crate::frame::event_type::NON_INTERACTIVE_USER,
                rnet,
                rip,
            );
            if let Some(refresh) = events.last_mut() {
                refresh.session = session;
                refresh.flow = Flow::Refresh;
            }
        }
    }
}

/// Hourly sign-ins of service principals and managed identities from cloud addresses.
pub fn service_activity(config: &SynthConfig, plan: &Plan, services: &[Service]) -> Vec<Event> {
    let mut events = Vec::new();
    for (k, service) in services.iter().enumerate() {
        let mut rng = Rng::derive(config.seed, 4, k as u64);
        let cloud = plan.cloud[k % plan.cloud.len()];
        // Some principals move to another Azure region for the rest of the period (a new
        // CI/CD pool, a failover): drawn from a stream of their own.
        let mut moves = Rng::derive(config.seed, 15, k as u64);
        let moved = moves.chance(config.benign.new_region).then(|| {
            let from = moves.range(u64::from(config.days / 3), u64::from(config.days).max(2));
            let to = plan.cloud[(k + 1 + moves.index(plan.cloud.len() - 1)) % plan.cloud.len()];
            (i64::from(from as u32) * 24, to, moves.next_u64() as u32)
        });
        let host = rng.next_u64() as u32;
        let event_type = if service.managed_identity {
            crate::frame::event_type::MANAGED_IDENTITY
        } else {
            crate::frame::event_type::SERVICE_PRINCIPAL
        };
        for hour in 0..i64::from(config.days) * 24 {
            let (id, correlation, session) = event_ids(&mut rng);
            let code = if rng.chance(0.01) { 7_000_215 } else { 0 };
            let (net, host) = match moved {
                Some((from, to, there)) if hour >= from => (to, there),
                _ => (cloud, host),
            };
            events.push(Event {
                time: config.start + hour * MICROS_PER_HOUR + rng.range_i64(0, MICROS_PER_HOUR / 4),
                principal: Principal::Service(k as u32),
                event_type,
                device: None,
                net,
                ip: plan.networks[net].address(host),
                code,
                app: 0,
                id,
                correlation,
                session,
                flow: Flow::Modern,
            });
        }
    }
    events
}
