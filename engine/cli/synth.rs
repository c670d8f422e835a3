//! `idrisk synth`: a synthetic tenant with ground truth, in any export shape.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::{configure_threads, EXIT_OK};
use crate::ingest::values::parse_time;
use crate::ingest::Compression;
use crate::synth::output::{write_parquet_in_groups, write_signins, SynthShape, Target};
use crate::synth::side_files::write_side_files;
use crate::synth::{generate, Plot, SynthConfig};

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Users in the tenant.
    #[arg(long, default_value_t = 200)]
    users: u32,
    /// Days of sign-ins.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Seed: the same arguments give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2025-03-01")]
    start: String,
    /// Export shape of the sign-ins.
    #[arg(long, value_enum, default_value_t = SynthShape::Diagnostic)]
    shape: SynthShape,
    /// Gzip every file of a text shape (`PT1H.json.gz`, `….csv.gz`), as archives often are.
    #[arg(long)]
    gzip: bool,
    /// Page compression of `--shape parquet`.
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    compression: Compression,
    /// `--shape parquet`: users are generated in groups of at most this many sign-ins (a
    /// user's whole period each), one file a group, so memory follows a group (3.8 GB at
    /// the default for a year of 40,000 users), not the tenant.
    #[arg(long, value_name = "N", default_value_t = 4 << 20)]
    file_sign_ins: usize,
    /// Share of sign-ins added by attacks.
    #[arg(long, default_value_t = 0.003)]
    attack_rate: f64,
    /// A share of one of the benign world's hard cases, NAME=SHARE (0 turns it off);
    /// repeatable. Defaults: ipv6_homes=0.3 split_tunnel=0.05 expiry_morning=0.2
    /// stale_password=0.25 cgnat=0.5
    /// in_flight_wifi=0.5 new_joiners=0.01 cloud_refresh=0.7 geoip_drift=0.5.
    #[arg(long, value_name = "NAME=SHARE")]
    benign: Vec<String>,
    /// Output directory: sign-ins under signins/, side files and labels beside them.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No status lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: SynthArgs) -> anyhow::Result<i32> {
    configure_threads(args.threads)?;
    if args.users == 0 || args.days == 0 {
        anyhow::bail!(
            "--users and --days must be at least 1 (got {} and {})",
            args.users,
            args.days
        );
    }
    if args.gzip
        && matches!(
            args.shape,
            SynthShape::Parquet | SynthShape::EventHubsCapture
        )
    {
        anyhow::bail!("--gzip applies to the text shapes; Parquet and Avro are binary already");
    }
    if args.file_sign_ins == 0 {
        anyhow::bail!("--file-sign-ins must be at least 1");
    }
    if !(0.0..=0.2).contains(&args.attack_rate) {
        anyhow::bail!(
            "invalid value '{}' for '--attack-rate': use 0 to 0.2",
            args.attack_rate
        );
    }
    let start = parse_time(&format!("{}T00:00:00Z", args.start)).map_err(|e| {
        anyhow::anyhow!(
            "invalid value '{}' for '--start': {e} (use YYYY-MM-DD)",
            args.start
        )
    })?;
    let config = SynthConfig {
        users: args.users,
        days: args.days,
        seed: args.seed,
        start,
        attack_rate: args.attack_rate,
        benign: {
            let mut benign = crate::synth::Benign::default();
            for assignment in &args.benign {
                benign
                    .set(assignment)
                    .map_err(|e| anyhow::anyhow!("invalid value for '--benign': {e}"))?;
            }
            benign
        },
    };
    let began = Instant::now();
    let signins = args.out.join("signins");
    if signins.exists() {
        // A previous run's files would mix with this one's.
        std::fs::remove_dir_all(&signins)
            .with_context(|| format!("clearing '{}'", signins.display()))?;
    }
    std::fs::create_dir_all(&signins)
        .with_context(|| format!("creating '{}'", signins.display()))?;
    let target = Target {
        dir: &signins,
        gzip: args.gzip,
        compression: args.compression,
    };
    let (tenant, files, generated) = if args.shape == SynthShape::Parquet {
        // Parquet takes the sign-ins a group of users at a time: a year of a big tenant is
        // written in memory that follows a group.
        let span = crate::trace::span("synth: plot");
        let plot = Plot::new(&config);
        let generated = began.elapsed();
        drop(span);
        let (files, written) =
            write_parquet_in_groups(&plot, &signins, args.compression, args.file_sign_ins)
                .with_context(|| format!("writing sign-ins under '{}'", signins.display()))?;
        let tenant = plot.finish(written);
        write_side_files(&tenant, &args.out)
            .with_context(|| format!("writing side files to '{}'", args.out.display()))?;
        (tenant, files, generated)
    } else {
        let span = crate::trace::span("synth: generate");
        let tenant = generate(&config);
        let generated = began.elapsed();
        drop(span);
        // The side files do not depend on the sign-ins' shape: written meanwhile.
        let (files, side) = rayon::join(
            || write_signins(&tenant, args.shape, target),
            || write_side_files(&tenant, &args.out),
        );
        let files =
            files.with_context(|| format!("writing sign-ins under '{}'", signins.display()))?;
        side.with_context(|| format!("writing side files to '{}'", args.out.display()))?;
        (tenant, files, generated)
    };
    if !args.quiet {
        eprintln!(
            "[+] {} sign-ins of {} users over {} days ({} labels) in {:.2} s, written as {:?} to {} files under {} in {:.2} s",
            tenant.total(),
            config.users,
            config.days,
            tenant.labels.len(),
            generated.as_secs_f64(),
            args.shape,
            files.len(),
            signins.display(),
            began.elapsed().as_secs_f64()
        );
    }
    Ok(EXIT_OK)
}
