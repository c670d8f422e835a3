//! The synthetic tenant's IP plan: every network a sign-in can come from, with the ASN,
//! organisation, place and GeoIP accuracy radius that the generated databases will hold.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::rng::Rng;
use super::tenant::MICROS_PER_DAY;
use super::world::{
    distance_km, City, ATTACKER_CITIES, CARRIER_HUBS, CLOUD_EGRESS, HOME_CITIES,
    IN_FLIGHT_PROVIDERS,
};
use super::Benign;

/// What kind of network an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    /// A residential ISP of a home city.
    Isp,
    /// An office's internet egress: many colleagues, one /24.
    Office,
    /// A mobile carrier: addresses geolocate to a hub, often far from the subscriber.
    Carrier,
    /// Cloud egress of token refreshes and service principals.
    Cloud,
    /// The company's own VPN concentrator.
    CorporateVpn,
    /// A commercial VPN provider (anonymous VPN).
    CommercialVpn,
    /// Tor exit relays.
    Tor,
    /// Hosting providers attackers rent.
    Hosting,
    /// Compromised residential machines attackers proxy through.
    Botnet,
    /// Satellite Wi-Fi on board aircraft.
    InFlight,
}

/// One network: an IPv4 block with its owner and place.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub base: u32,
    pub prefix: u8,
    pub asn: u32,
    pub org: String,
    pub city: City,
    pub radius_km: u16,
    pub kind: NetKind,
    /// An IPv6 block (a /32) instead of the IPv4 one: a customer's /48 is fixed by the
    /// host number, the interface id changes every day.
    pub v6: Option<u128>,
    /// Where the log places the network in odd weeks, when its GeoIP data drifts to a
    /// neighbouring city.
    pub drift: Option<City>,
}

impl Network {
    /// The address `host` places into the block (wrapped into its size, never .0 or .255).
    pub fn address(&self, host: u32) -> u32 {
        let size = 1u32 << (32 - self.prefix);
        let offset = host % (size - 2) + 1;
        let address = self.base + offset;
        if address & 0xff == 0xff {
            address - 1
        } else if address & 0xff == 0 {
            address + 1
        } else {
            address
        }
    }

    pub fn cidr(&self) -> String {
        match self.v6 {
            Some(base) => format!("{}/32", Ipv6Addr::from(base)),
            None => format!("{}/{}", Ipv4Addr::from(self.base), self.prefix),
        }
    }

    /// The address of `host` at `time`: the IPv4 address [`Network::address`] made, or for
    /// an IPv6 network the customer's /48 with a privacy interface id of the day.
    pub fn ip_at(&self, ip: u32, time: i64) -> IpAddr {
        match self.v6 {
            None => IpAddr::V4(Ipv4Addr::from(ip)),
            Some(base) => {
                let day = time.div_euclid(MICROS_PER_DAY) as u64;
                let interface = Rng::derive(u64::from(ip), 7, day).next_u64() | 1;
                let customer = u128::from(ip & 0xffff) << 80;
                IpAddr::V6(Ipv6Addr::from(base | customer | u128::from(interface)))
            }
        }
    }

    /// Where the log places the network at `time` (see [`Network::drift`]); `start` is the
    /// tenant's first day.
    pub fn city_at(&self, time: i64, start: i64) -> &City {
        match &self.drift {
            Some(drifted) if ((time - start).div_euclid(7 * MICROS_PER_DAY)) % 2 == 1 => drifted,
            _ => &self.city,
        }
    }
}

/// Every network of the tenant's world, and where each kind sits in the list.
#[derive(Debug, Clone)]
pub struct Plan {
    pub networks: Vec<Network>,
    /// Two residential ISPs per home city.
    pub isps: Vec<[usize; 2]>,
    /// One office egress per home city.
    pub offices: Vec<usize>,
    /// One carrier per country code.
    pub carriers: Vec<(&'static str, usize)>,
    pub cloud: Vec<usize>,
    pub corporate_vpn: usize,
    pub commercial_vpn: Vec<usize>,
    pub tor: Vec<usize>,
    /// One hosting network per attacker city.
    pub hosting: Vec<usize>,
    /// One botnet network per attacker city.
    pub botnet: Vec<usize>,
    /// Each home ISP's IPv6 block (indexed like `isps`), geolocated to the country's hub.
    pub isps_v6: Vec<[usize; 2]>,
    pub in_flight: Vec<usize>,
}

const fn ipv4(a: u32, b: u32, c: u32) -> u32 {
    (a << 24) | (b << 16) | (c << 8)
}

impl Plan {
    /// The world's networks; `benign` decides which residential networks drift.
    pub fn new(benign: &Benign, seed: u64) -> Plan {
        let mut networks = Vec::new();
        let push = |networks: &mut Vec<Network>,
                    base,
                    prefix,
                    asn,
                    org: String,
                    city: City,
                    radius_km,
                    kind| {
            networks.push(Network {
                base,
                prefix,
                asn,
                org,
                city,
                radius_km,
                kind,
                v6: None,
                drift: None,
            });
            networks.len() - 1
        };
        let mut isps = Vec::new();
        let mut offices = Vec::new();
        for (i, city) in HOME_CITIES.iter().enumerate() {
            let i = i as u32;
            let a = push(
                &mut networks,
                ipv4(41 + i / 128, (i % 128) * 2, 0),
                16,
                30_000 + i * 2,
                format!("{} Broadband", city.name),
                *city,
                20,
                NetKind::Isp,
            );
            let b = push(
                &mut networks,
                ipv4(41 + i / 128, (i % 128) * 2 + 1, 0),
                16,
                30_001 + i * 2,
                format!("{} Fibre", city.name),
                *city,
                20,
                NetKind::Isp,
            );
            isps.push([a, b]);
            offices.push(push(
                &mut networks,
                ipv4(62, i, 10),
                24,
                30_000 + i * 2,
                format!("Contoso {} office", city.name),
                *city,
                10,
                NetKind::Office,
            ));
        }
        let mut carriers: Vec<(&'static str, usize)> = Vec::new();
        for city in HOME_CITIES {
            if carriers.iter().any(|(c, _)| *c == city.country) {
                continue;
            }
            // A carrier's addresses geolocate to its national hub when it has one, else to
            // the first city of the country on our list.
            let hub = CARRIER_HUBS
                .iter()
                .find(|h| h.country == city.country)
                .copied()
                .unwrap_or(*city);
            let j = carriers.len() as u32;
            let net = push(
                &mut networks,
                ipv4(100, 64 + j, 0),
                16,
                40_000 + j,
                format!("{} Mobile", city.country),
                hub,
                1000,
                NetKind::Carrier,
            );
            carriers.push((city.country, net));
        }
        let cloud = CLOUD_EGRESS
            .iter()
            .enumerate()
            .map(|(k, city)| {
                push(
                    &mut networks,
                    ipv4(20, 40 + k as u32, 0),
                    16,
                    8075,
                    "Microsoft Corporation".into(),
                    *city,
                    100,
                    NetKind::Cloud,
                )
            })
            .collect();
        let amsterdam = *HOME_CITIES
            .iter()
            .find(|c| c.name == "Amsterdam")
            .unwrap_or(&HOME_CITIES[0]);
        let corporate_vpn = push(
            &mut networks,
            ipv4(62, 200, 1),
            24,
            64_600,
            "Contoso VPN".into(),
            amsterdam,
            10,
            NetKind::CorporateVpn,
        );
        let commercial_vpn = [5usize, 27, 41, 49]
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                push(
                    &mut networks,
                    ipv4(185, 100 + k as u32, 7),
                    24,
                    9009,
                    "M247 VPN".into(),
                    HOME_CITIES[c % HOME_CITIES.len()],
                    50,
                    NetKind::CommercialVpn,
                )
            })
            .collect();
        let tor = (0..3u32)
            .map(|k| {
                push(
                    &mut networks,
                    ipv4(185, 220, 100 + k),
                    24,
                    60_729,
                    "Tor relays".into(),
                    HOME_CITIES[(16 + k as usize * 7) % HOME_CITIES.len()],
                    100,
                    NetKind::Tor,
                )
            })
            .collect();
        let hosting = ATTACKER_CITIES
            .iter()
            .enumerate()
            .map(|(k, city)| {
                push(
                    &mut networks,
                    ipv4(91, 200 + k as u32, 0),
                    16,
                    50_000 + k as u32,
                    format!("{} Hosting", city.name),
                    *city,
                    50,
                    NetKind::Hosting,
                )
            })
            .collect();
        let botnet = ATTACKER_CITIES
            .iter()
            .enumerate()
            .map(|(k, city)| {
                push(
                    &mut networks,
                    ipv4(95, 100 + k as u32, 0),
                    16,
                    45_000 + k as u32,
                    format!("{} Telecom", city.name),
                    *city,
                    50,
                    NetKind::Botnet,
                )
            })
            .collect();
        // Each home ISP's IPv6 block: the same ASN and organisation, placed at the
        // country's hub (a carrier hub, or the country's first city on the list).
        let mut isps_v6 = Vec::new();
        for (i, pair) in isps.iter().enumerate() {
            let country = HOME_CITIES[i].country;
            let hub = CARRIER_HUBS
                .iter()
                .chain(HOME_CITIES)
                .find(|h| h.country == country)
                .copied()
                .unwrap_or(HOME_CITIES[i]);
            let v6 = pair.map(|isp| {
                let mut net = networks[isp].clone();
                net.city = hub;
                net.radius_km = 200;
                net.v6 = Some((0x2a02_u128 << 112) | ((isp as u128) << 96));
                networks.push(net);
                networks.len() - 1
            });
            isps_v6.push(v6);
        }
        let in_flight = IN_FLIGHT_PROVIDERS
            .iter()
            .enumerate()
            .map(|(k, city)| {
                push(
                    &mut networks,
                    ipv4(161, 30 + k as u32, 0),
                    16,
                    40_300 + k as u32,
                    format!("{} in-flight Wi-Fi", ["Skylink", "Aerolink"][k % 2]),
                    *city,
                    1000,
                    NetKind::InFlight,
                )
            })
            .collect();
        // Drift: a residential network's location moves to the nearest other home city
        // (30–300 km away) every other week.
        let mut rng = Rng::derive(seed, 8, 0);
        for (i, pair) in isps.iter().enumerate() {
            let home = &HOME_CITIES[i];
            let neighbour = HOME_CITIES
                .iter()
                .filter(|c| (30.0..300.0).contains(&distance_km(home, c)))
                .min_by(|a, b| distance_km(home, a).total_cmp(&distance_km(home, b)));
            for &isp in pair {
                if rng.chance(benign.geoip_drift) {
                    networks[isp].drift = neighbour.copied();
                }
            }
        }
        Plan {
            isps_v6,
            in_flight,
            networks,
            isps,
            offices,
            carriers,
            cloud,
            corporate_vpn,
            commercial_vpn,
            tor,
            hosting,
            botnet,
        }
    }

    pub fn carrier_of(&self, country: &str) -> usize {
        self.carriers
            .iter()
            .find(|(c, _)| *c == country)
            .map_or(self.carriers[0].1, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_do_not_overlap() {
        let plan = Plan::new(&Benign::default(), 1);
        let mut ranges: Vec<(u64, u64)> = plan
            .networks
            .iter()
            .filter(|n| n.v6.is_none())
            .map(|n| {
                (
                    u64::from(n.base),
                    u64::from(n.base) + (1u64 << (32 - n.prefix)),
                )
            })
            .collect();
        ranges.sort();
        for pair in ranges.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn addresses_stay_inside_their_block() {
        let plan = Plan::new(&Benign::default(), 1);
        for net in plan.networks.iter().filter(|n| n.v6.is_none()) {
            for host in [0, 1, 254, 255, 256, 100_000] {
                let a = net.address(host);
                assert_eq!(a >> (32 - net.prefix), net.base >> (32 - net.prefix));
                assert!(a & 0xff != 0 && a & 0xff != 0xff);
            }
        }
    }
}
