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
        let ip = crate::ingest::values::canonical_ip(ip);
        let mut facts = GeoFacts::default();
        let city: Option<City> = self
            .city
            .as_ref()
            .and_then(|db| db.lookup(ip).ok())
            .and_then(|r| r.decode::<City>().ok().flatten());
        if let Some(city) = city {
            if let (Some(lat), Some(lon)) = (city.location.latitude, city.location.longitude) {
                facts.place = Some((lat, lon));
                facts.radius_km = f64::from(city.location.accuracy_radius.unwrap_or(0));
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
