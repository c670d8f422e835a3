//! GeoIP City and ASN databases (MaxMind GeoLite2/GeoIP2, DB-IP and IPinfo-style `.mmdb`):
//! coordinates with their accuracy radius, and the autonomous system, for the addresses a
//! log leaves without them (the portal CSV has no coordinates).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::geoip2::{Asn, City};

use super::SourceError;

/// What the databases say of one address.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GeoFacts {
    pub place: Option<(f64, f64)>,
    /// Accuracy radius in kilometres (0 when the database gives none).
    pub radius_km: f64,
    pub asn: Option<u32>,
    /// The database gave coordinates that are no place on Earth (NaN, a latitude beyond
    /// ±90°, a longitude beyond ±180°): taken as no location, and counted for a warning.
    pub out_of_range: bool,
}

/// The City and ASN databases passed.
#[derive(Default)]
pub struct GeoIp {
    city: Option<maxminddb::Reader<Vec<u8>>>,
    asn: Option<maxminddb::Reader<Vec<u8>>>,
}

fn open(path: &Path) -> Result<maxminddb::Reader<Vec<u8>>, SourceError> {
    maxminddb::Reader::open_readfile(path).map_err(|e| SourceError::Unreadable {
        path: PathBuf::from(path),
        message: e.to_string(),
    })
}

impl GeoIp {
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, SourceError> {
        Ok(GeoIp {
            city: city.map(open).transpose()?,
            asn: asn.map(open).transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.city.is_none() && self.asn.is_none()
    }

    pub fn lookup(&self, ip: IpAddr) -> GeoFacts {
        let ip = crate::frame::ip::canonical_ip(ip);
        let mut facts = GeoFacts::default();
        let city: Option<City> = self
            .city
            .as_ref()
            .and_then(|db| db.lookup(ip).ok())
            .and_then(|r| r.decode::<City>().ok().flatten());
        if let Some(city) = city {
            if let (Some(lat), Some(lon)) = (city.location.latitude, city.location.longitude) {
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                    facts.place = Some((lat, lon));
                    facts.radius_km = f64::from(city.location.accuracy_radius.unwrap_or(0));
                } else {
                    facts.out_of_range = true;
                }
            }
        }
        let asn: Option<Asn> = self
            .asn
            .as_ref()
            .and_then(|db| db.lookup(ip).ok())
            .and_then(|r| r.decode::<Asn>().ok().flatten());
        facts.asn = asn.and_then(|a| a.autonomous_system_number);
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;
    use mmdb_writer::Writer;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Location {
        latitude: f64,
        longitude: f64,
        accuracy_radius: u16,
    }

    #[derive(Serialize)]
    struct CityRecord {
        location: Location,
    }

    #[derive(Serialize)]
    struct AsnRecord {
        autonomous_system_number: u32,
    }

    #[test]
    fn ipv4_ipv6_and_ipv4_mapped_addresses_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let mut city = Writer::new("GeoIP2-City");
        let mut asn = Writer::new("GeoLite2-ASN");
        for (net, lat, radius, number) in [
            ("203.0.113.0/24", 59.91, 20, 2119),
            ("2001:db8:1::/48", 52.52, 100, 3320),
        ] {
            let net: IpNet = net.parse().unwrap();
            city.insert(
                net,
                &CityRecord {
                    location: Location {
                        latitude: lat,
                        longitude: 10.0,
                        accuracy_radius: radius,
                    },
                },
            )
            .unwrap();
            asn.insert(
                net,
                &AsnRecord {
                    autonomous_system_number: number,
                },
            )
            .unwrap();
        }
        let (city_path, asn_path) = (dir.path().join("city.mmdb"), dir.path().join("asn.mmdb"));
        std::fs::write(&city_path, city.to_bytes().unwrap()).unwrap();
        std::fs::write(&asn_path, asn.to_bytes().unwrap()).unwrap();
        let geo = GeoIp::open(Some(&city_path), Some(&asn_path)).unwrap();
        let v4 = geo.lookup("203.0.113.9".parse().unwrap());
        assert_eq!(
            (v4.place, v4.radius_km, v4.asn),
            (Some((59.91, 10.0)), 20.0, Some(2119))
        );
        let mapped = geo.lookup("::ffff:203.0.113.9".parse().unwrap());
        assert_eq!(mapped, v4);
        let v6 = geo.lookup("2001:db8:1:2::5".parse().unwrap());
        assert_eq!(
            (v6.place, v6.radius_km, v6.asn),
            (Some((52.52, 10.0)), 100.0, Some(3320))
        );
        assert_eq!(
            geo.lookup("198.51.100.1".parse().unwrap()),
            GeoFacts::default()
        );
    }

    #[test]
    fn coordinates_that_are_no_place_on_earth_are_no_location() {
        let dir = tempfile::tempdir().unwrap();
        let mut city = Writer::new("GeoIP2-City");
        for (net, latitude, longitude) in [
            ("203.0.113.0/24", 59.91, 10.75),
            ("203.0.114.0/24", 91.0, 10.0),
            ("203.0.115.0/24", 10.0, -180.5),
            ("203.0.116.0/24", f64::NAN, 10.0),
        ] {
            let location = Location {
                latitude,
                longitude,
                accuracy_radius: 5,
            };
            city.insert(net.parse::<IpNet>().unwrap(), &CityRecord { location })
                .unwrap();
        }
        let path = dir.path().join("city.mmdb");
        std::fs::write(&path, city.to_bytes().unwrap()).unwrap();
        let geo = GeoIp::open(Some(&path), None).unwrap();
        let good = geo.lookup("203.0.113.1".parse().unwrap());
        assert_eq!(
            (good.place, good.out_of_range),
            (Some((59.91, 10.75)), false)
        );
        for bad in ["203.0.114.1", "203.0.115.1", "203.0.116.1"] {
            let facts = geo.lookup(bad.parse().unwrap());
            assert_eq!((facts.place, facts.out_of_range), (None, true), "{bad}");
        }
    }
}
