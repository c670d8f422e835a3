//! `idrisk convert`: the deduplicated canonical frame as Parquet, quarantine beside it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::load::{load_inputs, load_inputs_and};
use super::outputs::Destination;
use super::{InputArgs, EXIT_OK, EXIT_QUARANTINED};
use crate::ingest::{dataset, write_canonical_parquet, Compression};
use crate::report::{write_quarantine_jsonl, Staged};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The Parquet file to write (the quarantine goes to FILE.quarantine.jsonl beside it),
    /// or a directory (`DIR/`): a dataset partitioned by day, to which later runs append.
    #[arg(long, value_name = "FILE.parquet|DIR/")]
    out: PathBuf,
    /// Page compression of the Parquet file.
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    compression: Compression,
}

/// `signins.parquet` → `signins.quarantine.jsonl`.
pub fn quarantine_path(out: &Path) -> PathBuf {
    // A directory of inputs leaves files so named out (see `source::expand_inputs`).
    out.with_extension(crate::ingest::source::QUARANTINE_SUFFIX.trim_start_matches('.'))
}

pub fn run(args: ConvertArgs) -> anyhow::Result<i32> {
    let text = args.out.to_string_lossy();
    if args.out.is_dir() || text.ends_with('/') {
        if crate::storage::is_url(&text) {
            anyhow::bail!(
                "--out '{text}': a dataset is written to a local or mounted directory; \
                 copy it to storage afterwards, or name one Parquet object"
            );
        }
        return run_dataset(&args);
    }
    let destination = Destination::new(&args.out)?;
    let out = destination.local.clone();
    let rules = super::load_rules(args.input.rules.as_deref())?;
    let ingested = load_inputs(&args.input, &rules, None)?;
    // The frame and its quarantine are renamed into place together once both are written.
    let staged = Staged::new();
    staged
        .write(&out, |path| {
            write_canonical_parquet(&ingested.frame, path, args.compression)
                .map_err(anyhow::Error::from)
        })
        .with_context(|| format!("writing '{}'", args.out.display()))?;
    let quarantine = quarantine_path(&out);
    staged
        .write(&quarantine, |path| {
            write_quarantine_jsonl(&ingested.quarantine, path).map_err(anyhow::Error::from)
        })
        .with_context(|| format!("writing '{}'", quarantine.display()))?;
    staged
        .commit()
        .with_context(|| format!("moving '{}' into place", out.display()))?;
    destination.publish(std::slice::from_ref(&quarantine))?;
    let t = &ingested.totals;
    if !args.input.quiet {
        eprintln!(
            "[+] wrote {} sign-ins to {} (read {}, duplicates {}, skipped {}, quarantined {} → {})",
            t.kept,
            destination.shown(),
            t.read,
            t.duplicates,
            t.skipped,
            t.quarantined,
            quarantine.display()
        );
    }
    Ok(if args.input.strict && t.quarantined > 0 {
        EXIT_QUARANTINED
    } else {
        EXIT_OK
    })
}

/// `convert --out DIR/`: a new dataset, or the days of the new sign-ins rewritten in an
/// existing one, deduplicated against what it holds for them.
fn run_dataset(args: &ConvertArgs) -> anyhow::Result<i32> {
    let dir = &args.out;
    let rules = super::load_rules(args.input.rules.as_deref())?;
    let before = if dataset::is_dataset(dir) {
        Some(dataset::read_manifest(dir)?)
    } else {
        let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if occupied {
            anyhow::bail!(
                "--out '{}' is a directory with files but no {}: not a dataset; name an \
                 empty or new directory",
                dir.display(),
                dataset::MANIFEST
            );
        }
        None
    };
    let mut ingested = load_inputs(&args.input, &rules, None)?;
    let mut replaced = 0;
    if let Some(manifest) = &before {
        // The days the new sign-ins fall on are read again with them: copies of sign-ins
        // the dataset holds already are dropped, and those days are written whole.
        let days = dataset::days(&ingested.frame)?;
        let existing = dataset::files_of_days(dir, manifest, &days);
        if !existing.is_empty() {
            replaced = existing.len();
            drop(ingested);
            ingested = load_inputs_and(&args.input, &rules, None, &existing)?;
        }
    }
    let manifest = dataset::write(&ingested.frame, &ingested.quarantine, dir, args.compression)
        .with_context(|| format!("writing the dataset '{}'", dir.display()))?;
    let t = &ingested.totals;
    if !args.input.quiet {
        let added = manifest.rows - before.as_ref().map_or(0, |m| m.rows);
        eprintln!(
            "[+] {} sign-ins added to {} ({} days rewritten, {replaced} of them merged with what it held; \
             now {} sign-ins in {} days; read {}, duplicates {}, skipped {}, quarantined {})",
            added,
            dir.display(),
            dataset::days(&ingested.frame)?.len(),
            manifest.rows,
            manifest.partitions.len(),
            t.read,
            t.duplicates,
            t.skipped,
            t.quarantined,
        );
    }
    Ok(if args.input.strict && t.quarantined > 0 {
        EXIT_QUARANTINED
    } else {
        EXIT_OK
    })
}
