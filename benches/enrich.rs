//! Enrichment of one million distinct addresses against City, ASN and Anonymous-IP databases
//! (the generator's own, covering its address plan) and the Tor list, against a baseline in
//! the same run: parsing the same million address strings.

use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use idrisk::enrich::{AnonymousSources, GeoIp};
use idrisk::synth::side_files::write_side_files;
use idrisk::synth::{generate, SynthConfig};
use rayon::prelude::*;

fn enrich(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = SynthConfig::new(20, 2, 1);
    write_side_files(&generate(&config), dir.path()).expect("side files");
    let geo = GeoIp::open(
        Some(&dir.path().join("geoip-city.mmdb")),
        Some(&dir.path().join("geoip-asn.mmdb")),
    )
    .expect("geoip");
    let anonymous = AnonymousSources::open(
        Some(&dir.path().join("anonymous-ip.mmdb")),
        &[dir.path().join("tor-exit-nodes.txt")],
    )
    .expect("anonymous");
    // A million distinct addresses spread over the whole IPv4 space: most fall in the plan's
    // networks' neighbourhoods or nowhere, as real traffic does against a real database.
    let texts: Vec<String> = (0..1_000_000u32)
        .map(|k| Ipv4Addr::from(k.wrapping_mul(2_654_435_761)).to_string())
        .collect();
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.sample_size(10);
    group.bench_function("baseline: parse 1M addresses", |b| {
        b.iter(|| {
            texts
                .par_iter()
                .filter_map(|t| t.parse::<IpAddr>().ok())
                .count()
        })
    });
    group.bench_function("City + ASN + Anonymous-IP + Tor list, 1M addresses", |b| {
        b.iter(|| {
            texts
                .par_iter()
                .filter_map(|t| t.parse::<IpAddr>().ok())
                .map(|ip| (geo.lookup(ip), anonymous.lookup(ip)))
                .filter(|(g, a)| g.place.is_some() || a.tor)
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, enrich);
criterion_main!(benches);
