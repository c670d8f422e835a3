//! `idrisk convert`: the deduplicated canonical frame as Parquet, quarantine beside it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::load::{
    ingest_options, load_inputs, load_inputs_and, load_inputs_to_write, load_listed,
};
use super::outputs::Destination;
use super::{InputArgs, EXIT_OK, EXIT_QUARANTINED};
use crate::frame::shard::Shard;
use crate::ingest::{dataset, source, write_ingested_parquet, Compression, Counts};
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
    /// A new dataset (`DIR/`) splits each day into N buckets by a hash of the user
    /// (`date=…/bucket=NN/`), the hash `score --shard` assigns users by: a shard then reads
    /// only its users' files. An existing dataset keeps its split.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    buckets: Option<u32>,
    /// Bound memory (`DIR/` only): inputs estimated bigger than SIZE (e.g. 4GiB) are read a
    /// batch at a time and spilled by day, then written a day at a time.
    #[arg(long, value_name = "SIZE", value_parser = super::score::parse_size)]
    memory_limit: Option<u64>,
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
    if args.buckets.is_some() || args.memory_limit.is_some() {
        anyhow::bail!(
            "--buckets and --memory-limit apply to a dataset: name a directory, --out '{}/'",
            text.trim_end_matches(".parquet")
        );
    }
    let destination = Destination::new(&args.out)?;
    let out = destination.local.clone();
    let rules = super::load_rules(args.input.rules.as_deref())?;
    let mut ingested = load_inputs_to_write(&args.input, &rules)?;
    let ordered = ingested.ordered.take();
    // The frame and its quarantine are renamed into place together once both are written.
    let staged = Staged::new();
    staged
        .write(&out, |path| {
            write_ingested_parquet(&ingested.frame, ordered, path, args.compression)
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

/// Bytes a sign-in takes at the peak of a convert's load, whole rows being read, ranked and
/// gathered (measured: 11 M canonical rows of 25,000 users in one pass peaked at 9.1 GB; a
/// batch of one 4.2 M-row file of a year's tenant at 6.3 GB; slices of 0.7 M rows at
/// 1.43 GB).
const CONVERT_BYTES_PER_SIGN_IN: u64 = 2048;

/// What one batch of a convert in parts reads: consecutive whole files, or rows of one
/// canonical Parquet file too large for a batch.
enum Batch<'a> {
    Files(&'a [PathBuf]),
    Slice(&'a PathBuf, (usize, usize)),
}

/// The inputs cut into batches of about `per_batch` sign-ins each (as estimated before
/// reading). A larger canonical Parquet file is read in slices; a larger file of another
/// shape is a batch alone.
fn batches(files: &[PathBuf], per_batch: u64) -> Vec<Batch<'_>> {
    let estimate = |f: &PathBuf| source::estimated_rows(std::slice::from_ref(f));
    let mut out = Vec::new();
    let mut start = 0;
    while start < files.len() {
        let rows = estimate(&files[start]);
        if rows > per_batch {
            if let Ok(rows) = dataset::file_rows(&files[start]) {
                let step = per_batch as usize;
                for offset in (0..rows as usize).step_by(step) {
                    let length = step.min(rows as usize - offset);
                    out.push(Batch::Slice(&files[start], (offset, length)));
                }
                start += 1;
                continue;
            }
        }
        let (mut end, mut total) = (start + 1, rows);
        while end < files.len() {
            let more = estimate(&files[end]);
            if total + more > per_batch {
                break;
            }
            total += more;
            end += 1;
        }
        out.push(Batch::Files(&files[start..end]));
        start = end;
    }
    out
}

/// `convert --out DIR/`: a new dataset, or the days of the new sign-ins rewritten in an
/// existing one, deduplicated against what it holds for them. Under `--memory-limit`, inputs
/// too big to hold are converted in parts (see [`run_in_parts`]).
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
    // Refused before anything is read: another split than the dataset's.
    dataset::open_manifest(dir, args.buckets)?;
    if let Some(limit) = args.memory_limit {
        let options = ingest_options(&args.input, &rules, None, &[], Shard::WHOLE)?;
        let files = source::expand(&args.input.inputs, args.input.keep_going, options.window)?;
        if source::estimated_rows(&files) * CONVERT_BYTES_PER_SIGN_IN > limit {
            return run_in_parts(args, before.as_ref(), options, &files, limit);
        }
    }
    let mut ingested = load_inputs(&args.input, &rules, None)?;
    let mut replaced = 0;
    if let Some(manifest) = &before {
        // The days the new sign-ins fall on are read again with them: copies of sign-ins
        // the dataset holds already are dropped, and those days are written whole.
        let days = dataset::days(&ingested.frame)?;
        let existing = dataset::files_of_days(dir, manifest, &days);
        if !existing.is_empty() {
            replaced = days
                .iter()
                .filter(|&&d| !dataset::files_of_days(dir, manifest, &[d]).is_empty())
                .count();
            drop(ingested);
            ingested = load_inputs_and(&args.input, &rules, None, &existing)?;
        }
    }
    let days = dataset::days(&ingested.frame)?.len();
    let manifest = dataset::write(
        &ingested.frame,
        &ingested.quarantine,
        dir,
        args.compression,
        args.buckets,
    )
    .with_context(|| format!("writing the dataset '{}'", dir.display()))?;
    report(
        args,
        before.as_ref(),
        &manifest,
        days,
        replaced,
        &ingested.totals,
        1,
    )
}

/// A convert of inputs bigger than `limit` into the dataset at `args.out`, in two passes:
/// the inputs a batch at a time (each batch's estimated sign-ins within the limit), each
/// deduplicated and spilled by day into the dataset's staging folder; then each day alone,
/// with what the dataset holds for it, its copies across batches found and dropped, written
/// as its partition. Copies of one sign-in share its day, so the day's partition is the one
/// a whole load would write. Memory follows a batch or a day, not the inputs.
fn run_in_parts(
    args: &ConvertArgs,
    before: Option<&dataset::Manifest>,
    mut options: crate::ingest::IngestOptions,
    files: &[PathBuf],
    limit: u64,
) -> anyhow::Result<i32> {
    let dir = &args.out;
    std::fs::create_dir_all(dir).with_context(|| format!("creating '{}'", dir.display()))?;
    let manifest = dataset::open_manifest(dir, args.buckets)?;
    let per_batch = (limit / CONVERT_BYTES_PER_SIGN_IN).max(1);
    let mut staging = dataset::Staging::new(dir)?;
    let mut totals = Counts::default();
    let mut quarantine = Vec::new();
    let batches = batches(files, per_batch);
    for batch in &batches {
        let ingested = match *batch {
            Batch::Files(files) => load_listed(files, &options, args.input.quiet)?,
            Batch::Slice(file, slice) => {
                options.slice = Some(slice);
                let mut ingested = load_listed(std::slice::from_ref(file), &options, true);
                options.slice = None;
                if let Ok(ingested) = &mut ingested {
                    // A file is counted once, however many slices it is read in.
                    ingested.totals.files = u64::from(slice.0 == 0);
                }
                ingested?
            }
        };
        let rendered: Vec<String> = ingested
            .files
            .iter()
            .filter(|f| f.shape.is_rendered_for_people())
            .map(|f| f.path.clone())
            .collect();
        staging
            .spill(&ingested.frame, &rendered)
            .with_context(|| format!("spilling sign-ins into '{}'", dir.display()))?;
        totals.files += ingested.totals.files;
        totals.read += ingested.totals.read;
        totals.duplicates += ingested.totals.duplicates;
        totals.skipped += ingested.totals.skipped;
        totals.quarantined += ingested.totals.quarantined;
        quarantine.extend(ingested.quarantine);
    }
    quarantine.sort();
    // Each day: its spilled parts and what the dataset held for it, read whole.
    options.window = Default::default();
    options.rendered = staging.rendered().to_vec();
    let mut written = Vec::new();
    let mut replaced = 0;
    for (day, spilled) in staging.days() {
        let existing = before.map_or_else(Vec::new, |m| dataset::files_of_days(dir, m, &[day]));
        replaced += usize::from(!existing.is_empty());
        let held: u64 = existing
            .iter()
            .map(|f| dataset::file_rows(f).unwrap_or(0))
            .sum();
        let day_files: Vec<PathBuf> = spilled.iter().cloned().chain(existing).collect();
        let ingested = load_listed(&day_files, &options, true)?;
        totals.read += held;
        totals.duplicates += ingested.totals.duplicates;
        totals.kept += ingested.totals.kept;
        written.push(
            dataset::write_day(&ingested.frame, dir, args.compression, manifest.buckets)
                .with_context(|| format!("writing the dataset '{}'", dir.display()))?,
        );
        staging.done_with(day);
    }
    let days = written.len();
    let manifest = dataset::commit(dir, manifest, written, &quarantine)
        .with_context(|| format!("writing the dataset '{}'", dir.display()))?;
    drop(staging);
    report(
        args,
        before,
        &manifest,
        days,
        replaced,
        &totals,
        batches.len(),
    )
}

/// The status line of a dataset write, and the exit code.
fn report(
    args: &ConvertArgs,
    before: Option<&dataset::Manifest>,
    manifest: &dataset::Manifest,
    days: usize,
    replaced: usize,
    t: &Counts,
    batches: usize,
) -> anyhow::Result<i32> {
    if !args.input.quiet {
        let added = manifest.rows - before.map_or(0, |m| m.rows);
        let parts = match batches {
            1 => String::new(),
            n => format!(" in {n} batches"),
        };
        eprintln!(
            "[+] {} sign-ins added to {}{parts} ({} days rewritten, {replaced} of them merged with what it held; \
             now {} sign-ins in {} days; read {}, duplicates {}, skipped {}, quarantined {})",
            added,
            args.out.display(),
            days,
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
