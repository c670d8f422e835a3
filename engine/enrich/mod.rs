//! Enrichment: what files the user passes say about sign-in addresses (anonymous networks
//! today; GeoIP city and ASN, threat-intelligence lists and leaked accounts next).
//! Lookups run once per distinct address, never per row.

pub mod anonymous;
pub mod ip_set;

pub use anonymous::{AnonymousFlags, AnonymousPolicy, AnonymousSources, SourceError};
