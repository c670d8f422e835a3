//! Detector throughput on a generated tenant, each detector and all together, against a
//! baseline measured in the same run: one pass of consecutive-pair great-circle distances over
//! every user's rows (what a window LAG + haversine query does), the least any travel-style
//! kernel must do.
//!
//! The tenant (500 users, 30 days) is generated and sorted during setup, with its side files
//! (anonymous-IP database, Tor, threat-intelligence, infected and leaked-account lists) as
//! enrichment, so the list detectors have lists to read; only detection is timed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use idrisk::detect::context::Enrichment;
use idrisk::detect::{registry, run_all, Context};
use idrisk::enrich::sources::synth_side_files;
use idrisk::enrich::sources::Sources;
use idrisk::geo::distance_km;
use idrisk::rules::Rules;
use idrisk::synth::side_files::write_side_files;
use idrisk::synth::{generate, SynthConfig};

fn detect(c: &mut Criterion) {
    let rules = Rules::builtin();
    let config = SynthConfig::new(500, 30, 3);
    let tenant = generate(&config);
    let frame = tenant.frame();
    let dir = tempfile::tempdir().expect("temporary directory");
    write_side_files(&tenant, dir.path()).expect("side files written");
    // As the README's command: the log's own coordinates, no GeoIP databases.
    let sources = Sources::open(&synth_side_files(dir.path(), false)).expect("side files opened");
    let enrichment = Enrichment::from_sources(&sources, &rules).expect("rules");
    let ctx =
        Context::with_enrichment(&frame, None, &rules.networks, &enrichment).expect("context");
    let detectors = registry(&rules).expect("rules");
    let mut group = c.benchmark_group("detect");
    group.throughput(Throughput::Elements(frame.height() as u64));
    group.sample_size(10);
    group.bench_function("baseline: consecutive-pair distances", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for &(start, end) in &ctx.users {
                let mut previous: Option<(f64, f64)> = None;
                for row in start..end {
                    if let Some(here) = ctx.place(row) {
                        if let Some(there) = previous {
                            total += distance_km(there.0, there.1, here.0, here.1);
                        }
                        previous = Some(here);
                    }
                }
            }
            total
        })
    });
    for detector in &detectors {
        group.bench_function(detector.identity().id, |b| b.iter(|| detector.detect(&ctx)));
    }
    group.bench_function("all detectors in parallel", |b| {
        b.iter(|| run_all(&detectors, &ctx))
    });
    group.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
