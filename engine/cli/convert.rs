//! `idrisk convert`: the deduplicated canonical frame as Parquet, quarantine beside it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::load::load_inputs;
use super::outputs::Destination;
use super::{InputArgs, EXIT_OK, EXIT_QUARANTINED};
use crate::ingest::{write_canonical_parquet, Compression};
use crate::report::{write_quarantine_jsonl, Staged};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The Parquet file to write; the quarantine goes to FILE.quarantine.jsonl beside it.
    #[arg(long, value_name = "FILE.parquet")]
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
    let destination = Destination::new(&args.out)?;
    let out = destination.local.clone();
    if out.is_dir() {
        anyhow::bail!(
            "--out '{}' is a directory: name the Parquet file to write",
            args.out.display()
        );
    }
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
