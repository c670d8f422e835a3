//! Enrichment: what the files a user passes say about sign-ins: anonymous networks,
//! threat-intelligence and infected-device lists, leaked accounts (GeoIP City and ASN next).
//! Lookups run once per distinct address, never per row.

pub mod anonymous;
pub mod geoip;
pub mod ip_set;
pub mod leaked;
pub mod sources;

pub use anonymous::{AnonymousFlags, AnonymousPolicy, AnonymousSources, SourceError};
pub use geoip::{GeoFacts, GeoIp};
