//! Loading inputs for a command: rules, thread pool, progress bar, then the library's load.

use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{configure_threads, InputArgs};
use crate::frame::shard::Shard;
use crate::ingest::{self, IngestOptions, Ingested};
use crate::rules::Rules;

/// Validates the shared arguments, then loads every input with a progress bar on stderr.
/// `rules` are the command's (loaded once, from `args.rules`); `columns`: the canonical
/// columns the command reads, when not all (see [`IngestOptions::columns`]).
pub fn load_inputs(
    args: &InputArgs,
    rules: &Rules,
    columns: Option<Vec<&'static str>>,
) -> anyhow::Result<Ingested> {
    load_inputs_and(args, rules, columns, &[])
}

/// [`load_inputs`] with `also`: files read whole with the inputs, whatever `--since/--until`
/// say (a dataset's partitions that new sign-ins are deduplicated against).
pub fn load_inputs_and(
    args: &InputArgs,
    rules: &Rules,
    columns: Option<Vec<&'static str>>,
    also: &[std::path::PathBuf],
) -> anyhow::Result<Ingested> {
    load_shard(args, rules, columns, also, Shard::WHOLE)
}

/// [`load_inputs_and`] keeping only the sign-ins of `shard`'s users.
pub fn load_shard(
    args: &InputArgs,
    rules: &Rules,
    columns: Option<Vec<&'static str>>,
    also: &[std::path::PathBuf],
    shard: Shard,
) -> anyhow::Result<Ingested> {
    let options = ingest_options(args, rules, columns, also, shard)?;
    load_with_options(args, &options, also)
}

/// [`load_inputs`] for a writer that gathers the moved rows itself, column by column as it
/// encodes them ([`IngestOptions::late_gather`]): the rows are in [`Ingested::ordered`].
pub fn load_inputs_to_write(args: &InputArgs, rules: &Rules) -> anyhow::Result<Ingested> {
    let mut options = ingest_options(args, rules, None, &[], Shard::WHOLE)?;
    options.late_gather = true;
    load_with_options(args, &options, &[])
}

fn load_with_options(
    args: &InputArgs,
    options: &IngestOptions,
    also: &[std::path::PathBuf],
) -> anyhow::Result<Ingested> {
    let mut files = ingest::source::expand(&args.inputs, args.keep_going, options.window)?;
    files.extend(also.iter().cloned());
    load_listed(&files, options, args.quiet)
}

/// The load options the shared arguments ask for (threads configured on the way).
pub fn ingest_options(
    args: &InputArgs,
    rules: &Rules,
    columns: Option<Vec<&'static str>>,
    also: &[std::path::PathBuf],
    shard: Shard,
) -> anyhow::Result<IngestOptions> {
    configure_threads(args.threads)?;
    let mut options = IngestOptions::new(rules.outcome_codes());
    options.columns = columns;
    options.keep_going = args.keep_going;
    options.window = args.window()?;
    options.whole = also.to_vec();
    options.shard = shard;
    options.max_record_bytes = (args.max_record_mib as usize) << 20;
    Ok(options)
}

/// Loads files already expanded, with a progress bar on stderr unless `quiet`; the files'
/// warnings are shown after.
pub fn load_listed(
    files: &[std::path::PathBuf],
    options: &IngestOptions,
    quiet: bool,
) -> anyhow::Result<Ingested> {
    let total: u64 = files
        .iter()
        .filter_map(|f| ingest::source::input_size(f))
        .sum();
    options.progress.store(0, Ordering::Relaxed);
    let bar = progress_bar(total, quiet);
    let ingested = std::thread::scope(|scope| {
        // The ticker redraws every 100 ms until the load hangs up: it wakes at once then, so
        // the command never waits out a tick.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let (bar, progress) = (&bar, &options.progress);
        let ticker = scope.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) =
                finished.recv_timeout(Duration::from_millis(100))
            {
                bar.set_position(progress.load(Ordering::Relaxed));
            }
        });
        let result = ingest::load_files(files, options);
        drop(done);
        let _ = ticker.join();
        result
    })
    .context("loading inputs")?;
    bar.finish_and_clear();
    if !quiet {
        for file in &ingested.files {
            for warning in &file.warnings {
                eprintln!("[!] {}: {warning}", file.path);
            }
        }
    }
    Ok(ingested)
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "[+] reading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
