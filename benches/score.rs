//! The whole `score` pass on about 10 M canonical sign-ins read from Parquet: load (only the
//! columns scoring reads), order, enrich, run every detector, build the records and write
//! them, against a baseline measured in the same run: Polars reading the same file whole.
//!
//! The tenant is generated once during setup (`IDRISK_BENCH_USERS`, default 25,000 users ×
//! 30 days ≈ 10.2 M sign-ins; set it lower for a quick run) and written twice: zstd-compressed
//! (the default of `convert` and `synth`) and LZ4-compressed (`--compression lz4`: a larger
//! file that decompresses faster). Peak memory is the run's, as
//! `/usr/bin/time -v cargo bench --bench score` reports it.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use idrisk::detect::context::Enrichment;
use idrisk::enrich::sources::synth_side_files;
use idrisk::enrich::sources::Sources;
use idrisk::ingest::{self, IngestOptions};
use idrisk::report::score::{columns_read, score};
use idrisk::report::{write_tables, Format, Staged};
use idrisk::rules::Rules;
use idrisk::synth::output::{write_signins, SynthShape, Target};
use idrisk::synth::side_files::write_side_files;
use idrisk::synth::{generate, SynthConfig};

/// Writes the tenant's sign-ins under `dir/signins` (zstd) and `dir/signins-lz4`, and its
/// side files into `dir`.
fn make_tenant(dir: &Path, users: u32) -> u64 {
    let config = SynthConfig::new(users, 30, 3);
    let tenant = generate(&config);
    for (name, compression) in [
        ("signins", idrisk::ingest::Compression::Zstd),
        ("signins-lz4", idrisk::ingest::Compression::Lz4),
    ] {
        let signins = dir.join(name);
        std::fs::create_dir_all(&signins).expect("bench directory");
        let target = Target {
            dir: &signins,
            gzip: false,
            compression,
        };
        write_signins(&tenant, SynthShape::Parquet, target).expect("tenant written");
    }
    write_side_files(&tenant, dir).expect("side files written");
    tenant.events.len() as u64
}

fn whole_score(c: &mut Criterion) {
    let users = std::env::var("IDRISK_BENCH_USERS")
        .ok()
        .and_then(|u| u.parse().ok())
        .unwrap_or(25_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let rows = make_tenant(dir.path(), users);
    let parquet = dir.path().join("signins/signins.parquet");
    let parquet_lz4 = dir.path().join("signins-lz4/signins.parquet");
    let rules = Rules::builtin();
    // As the README's command: the log's own coordinates, no GeoIP databases.
    let sources = Sources::open(&synth_side_files(dir.path(), false)).expect("side files opened");
    let enrichment = Enrichment::from_sources(&sources, &rules).expect("rules");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("output directory");

    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(60));
    group.bench_function("baseline: Polars reads the Parquet file whole", |b| {
        b.iter(|| {
            ingest::read_canonical_parquet(&parquet)
                .expect("read")
                .height()
        })
    });
    for (name, file) in [
        ("whole score, every detector", &parquet),
        ("whole score, every detector, LZ4 file", &parquet_lz4),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut options = IngestOptions::new(rules.outcome_codes());
                options.columns = Some(columns_read());
                let mut ingested =
                    ingest::load_files(std::slice::from_ref(file), &options).expect("loaded");
                let scored = score(&mut ingested, &rules, &enrichment, None).expect("scored");
                let staged = Staged::new();
                write_tables(&scored, Format::Jsonl, &out, &staged).expect("written");
                staged.commit().expect("moved into place");
                scored.detections.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, whole_score);
criterion_main!(benches);
