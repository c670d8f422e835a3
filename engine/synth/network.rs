//! The synthetic tenant's IP plan: every network a sign-in can come from, with the ASN,
//! organisation, place and GeoIP accuracy radius that the generated databases will hold.

use super::world::{City, ATTACKER_CITIES, CARRIER_HUBS, CLOUD_EGRESS, HOME_CITIES};

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
        format!("{}/{}", std::net::Ipv4Addr::from(self.base), self.prefix)
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
}

const fn ipv4(a: u32, b: u32, c: u32) -> u32 {
    (a << 24) | (b << 16) | (c << 8)
}

impl Plan {
    pub fn new() -> Plan {
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
        Plan {
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

impl Default for Plan {
    fn default() -> Self {
        Plan::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_do_not_overlap() {
        let plan = Plan::new();
        let mut ranges: Vec<(u64, u64)> = plan
            .networks
            .iter()
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
        let plan = Plan::new();
        for net in &plan.networks {
            for host in [0, 1, 254, 255, 256, 100_000] {
                let a = net.address(host);
                assert_eq!(a >> (32 - net.prefix), net.base >> (32 - net.prefix));
                assert!(a & 0xff != 0 && a & 0xff != 0xff);
            }
        }
    }
}
