//! A 40-point sweep of one detector against one `score` of the same tenant in the same run:
//! the baseline loads the canonical Parquet file, scores it with every detector and writes
//! the outputs; the sweep loads it once and re-runs the password-spray detector and the
//! evaluation 40 times (`password_spray.min_users` 4, 5 … 23 × `window_minutes` 30, 240).
//! The target is a sweep under ten baselines.
//!
//! The tenant is generated during setup (`IDRISK_BENCH_USERS`, default 25,000 users × 30
//! days ≈ 10 M sign-ins; set it lower for a quick run).

use std::collections::BTreeSet;

use criterion::{criterion_group, criterion_main, Criterion};
use idrisk::detect::context::Enrichment;
use idrisk::enrich::sources::{synth_side_files, Sources};
use idrisk::ingest::{self, IngestOptions};
use idrisk::report::score::{columns_read, score};
use idrisk::report::{write_tables, Format, Staged};
use idrisk::rules::Rules;
use idrisk::synth::output::{write_signins, SynthShape, Target};
use idrisk::synth::side_files::write_side_files;
use idrisk::synth::{generate, SynthConfig};
use idrisk::tune::{Mode, Objective, Sweep, Tuner};

fn sweep_against_score(c: &mut Criterion) {
    let users = std::env::var("IDRISK_BENCH_USERS")
        .ok()
        .and_then(|u| u.parse().ok())
        .unwrap_or(25_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let tenant = generate(&SynthConfig::new(users, 30, 3));
    let signins = dir.path().join("signins");
    std::fs::create_dir_all(&signins).expect("bench directory");
    let target = Target {
        dir: &signins,
        gzip: false,
        compression: idrisk::ingest::Compression::Zstd,
    };
    write_signins(&tenant, SynthShape::Parquet, target).expect("tenant written");
    write_side_files(&tenant, dir.path()).expect("side files written");
    let labels = tenant.labels.clone();
    drop(tenant);
    let parquet = signins.join("signins.parquet");
    let rules = Rules::builtin();
    let sources = Sources::open(&synth_side_files(dir.path(), true)).expect("side files opened");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("output directory");
    let load = || {
        let mut options = IngestOptions::new(rules.outcome_codes());
        options.columns = Some(columns_read());
        ingest::load_files(std::slice::from_ref(&parquet), &options).expect("loaded")
    };
    let sweeps = [
        Sweep::parse("password_spray.min_users=4..23").expect("sweep"),
        Sweep::parse("password_spray.window_minutes=30,240").expect("sweep"),
    ];
    let ignored = BTreeSet::new();

    let mut group = c.benchmark_group("tune");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(60));
    group.bench_function("baseline: one score, every detector", |b| {
        b.iter(|| {
            let mut ingested = load();
            let enrichment = Enrichment::from_sources(&sources, &rules).expect("rules");
            let scored = score(&mut ingested, &rules, &enrichment, None).expect("scored");
            let staged = Staged::new();
            write_tables(&scored, Format::Jsonl, &out, &staged).expect("written");
            staged.commit().expect("moved into place");
            scored.detections.len()
        })
    });
    group.bench_function("40-point sweep of password_spray", |b| {
        b.iter(|| {
            let loaded = load();
            let tuner = Tuner {
                loaded: &loaded,
                sources: &sources,
                base: toml::Table::new(),
                labels: &labels,
                ignored: &ignored,
            };
            let tuning = tuner
                .run(&sweeps, Mode::Grid, Objective::F1)
                .expect("swept");
            assert_eq!(tuning.points.len(), 40);
            tuning.chosen
        })
    });
    group.finish();
}

criterion_group!(benches, sweep_against_score);
criterion_main!(benches);
