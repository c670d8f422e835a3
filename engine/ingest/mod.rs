//! Reading sign-in exports of every shape into one deduplicated canonical frame.
//!
//! [`load`] expands the inputs, sniffs each file by content, hands it to the reader for its
//! shape (JSON records, CSV dialects, canonical Parquet), then deduplicates on the sign-in
//! id and sorts by [`crate::frame::SORT_KEY`]. Records that cannot become rows are kept in
//! the quarantine with their file, line and reason, and the counts always reconcile:
//! `read = kept + duplicates + skipped + quarantined`.

mod avro;
mod csv;
pub mod dataset;
mod dedupe;
pub mod enums;
mod json;
pub mod json_split;
pub mod lenient;
mod mapped;
pub mod parquet;
pub mod records;
pub mod scan;
pub mod source;
mod unread;
pub mod values;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::frame::{col, FrameBuilder, OutcomeCodes, TextCodes, UserKeys};
pub use dedupe::Ordered;
pub use parquet::{
    read_canonical_parquet, write_canonical_parquet, write_ingested_parquet,
    CanonicalParquetWriter, Compression,
};
pub use unread::Unread;

/// Errors that stop a load before or while it runs (bad data is quarantined instead).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input '{input}': {reason}")]
    BadInput { input: PathBuf, reason: String },
    #[error(
        "'{path}' is not a canonical idrisk frame: {reason} (write one with `idrisk convert`)"
    )]
    NotCanonical { path: PathBuf, reason: String },
    /// A file whose content is damaged (a corrupt Parquet footer or page): quarantined
    /// whole, never a reason to stop the other files.
    #[error("'{path}' is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("frame operation failed: {0}")]
    Frame(#[from] PolarsError),
    /// Object storage could not be listed (no credentials, no such container, access
    /// denied): the run cannot know what it is missing.
    #[error(transparent)]
    Storage(crate::storage::StorageError),
}

impl IngestError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The export shape of a file, as detected from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Graph `signIns` pages (`{"@odata.context":…,"value":[…]}`).
    GraphPage,
    /// A JSON array of signIn objects: the portal's JSON download or a saved Graph collection.
    SignInArray,
    /// JSON Lines of signIn objects.
    SignInLines,
    /// Diagnostic-settings JSON Lines (`PT1H.json` blobs).
    DiagnosticLines,
    /// Diagnostic-settings `{"records":[…]}` documents (Event Hub, blobs before 2018-11).
    DiagnosticRecords,
    /// Log Analytics query results exported as JSON.
    LogAnalyticsJson,
    /// The portal's CSV download (54-, 55- or 57-column header).
    PortalCsv,
    /// The portal's service-principal CSV download (22 columns).
    ServicePrincipalCsv,
    /// Log Analytics query results exported as CSV.
    LogAnalyticsCsv,
    /// A canonical frame written by `idrisk convert`.
    CanonicalParquet,
    /// Event Hubs Capture Avro files whose events' bodies are diagnostic `{"records":[…]}`.
    EventHubsCapture,
    /// A file with no content.
    Empty,
    /// A file that could not be read at all (missing, unreadable, damaged beyond its
    /// records): quarantined as one record, with the reason.
    Unreadable,
    /// Content that is none of the above (the whole file is quarantined).
    Unrecognised,
}

impl Shape {
    /// CSV shapes are renderings for people: rounded times, words for enums, no coordinates.
    pub fn is_rendered_for_people(self) -> bool {
        matches!(
            self,
            Shape::PortalCsv | Shape::ServicePrincipalCsv | Shape::LogAnalyticsCsv
        )
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

/// A record that could not become a row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Quarantined {
    pub source_file: String,
    /// 1-based line of the (decompressed) file where the record starts; none for file-level
    /// problems.
    pub line: Option<u64>,
    pub reason: String,
    /// The record's text, cut to [`QUARANTINE_RAW_LIMIT`] bytes.
    pub raw: String,
}

/// How much of a rejected record's text the quarantine keeps.
pub const QUARANTINE_RAW_LIMIT: usize = 4096;

impl Quarantined {
    pub fn new(
        source_file: &str,
        line: Option<u64>,
        reason: impl Into<String>,
        raw: &[u8],
    ) -> Self {
        Quarantined {
            source_file: source_file.to_string(),
            line,
            reason: reason.into(),
            raw: truncate_raw(raw),
        }
    }
}

fn truncate_raw(raw: &[u8]) -> String {
    let cut = &raw[..raw.len().min(QUARANTINE_RAW_LIMIT)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < raw.len() {
        // A character split by the cut shows as U+FFFD; drop it so the text stays honest.
        while text.ends_with('\u{FFFD}') {
            text.pop();
        }
    }
    text
}

/// A size for people: whole mebibytes as `16 MiB`, anything else in bytes.
pub fn byte_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// What one file contributed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub path: String,
    pub shape: Shape,
    pub gzip: bool,
    /// Records read (rows, lines, array elements).
    pub read: u64,
    /// Rows kept after deduplication.
    pub kept: u64,
    /// Rows dropped because another row (in this file or another) has the same sign-in id.
    pub duplicates: u64,
    /// Records of categories that are not sign-ins (`AuditLogs`, `RiskyUsers`, …).
    pub skipped: u64,
    pub quarantined: u64,
    /// Time range of the file's sign-ins (duplicates included), RFC 3339.
    pub first: Option<String>,
    pub last: Option<String>,
    /// Distinct users (by user id, else principal name) among the file's sign-ins.
    pub users: u64,
    /// Problems with the file as a whole (a truncated gzip stream, an unclosed array).
    pub warnings: Vec<String>,
}

/// Totals over all files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub files: u64,
    pub read: u64,
    pub kept: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub quarantined: u64,
    pub users: u64,
    /// Among the skipped: rows of other shards' users (a shard's load), not in the summary.
    #[serde(skip)]
    pub elsewhere: u64,
}

impl Counts {
    /// The whole tenant's counts from those of every shard's load: each read every record
    /// and quarantined the same, and kept (or found copies of) its own users' rows.
    pub fn of_shards(shards: &[Counts]) -> Counts {
        let Some(first) = shards.first() else {
            return Counts::default();
        };
        Counts {
            files: first.files,
            read: first.read,
            kept: shards.iter().map(|c| c.kept).sum(),
            duplicates: shards.iter().map(|c| c.duplicates).sum(),
            skipped: first.skipped.saturating_sub(first.elsewhere),
            quarantined: first.quarantined,
            users: shards.iter().map(|c| c.users).sum(),
            elsewhere: 0,
        }
    }

    /// True when every record read is accounted for.
    pub fn reconciles(&self) -> bool {
        self.read == self.kept + self.duplicates + self.skipped + self.quarantined
    }
}

/// The result of a load: the canonical frame and the account of how it was made.
pub struct Ingested {
    /// Deduplicated, sorted by [`crate::frame::SORT_KEY`]; empty when the rows are left in
    /// [`Ingested::ordered`].
    pub frame: DataFrame,
    /// With [`IngestOptions::late_gather`], rows that moved, not yet gathered into `frame`.
    pub ordered: Option<Ordered>,
    /// Sorted by file, line and reason.
    pub quarantine: Vec<Quarantined>,
    pub files: Vec<FileReport>,
    pub totals: Counts,
    /// Columns a projected load left null, and where to fetch them (see [`IngestOptions::columns`]).
    pub unread: Unread,
    /// Unread columns the load read as codes (the user columns, when the projection left
    /// them out): the frame holds nulls there.
    pub codes: Vec<(&'static str, Arc<TextCodes>)>,
    /// Each row's user key, built by the load for its per-file account; `None` when rows
    /// moved in deduplication (their cells may have been filled from copies, so keys are
    /// built anew from the frame). Unread user columns always come with keys.
    pub users: Option<UserKeys>,
    /// Each row's time (microseconds), handed over with `users`: the load checked that its
    /// rows are in (time, request id) order, so the detectors need neither copy nor check
    /// them again.
    pub times: Option<Vec<i64>>,
}

/// Options of a load.
#[derive(Clone)]
pub struct IngestOptions {
    pub codes: OutcomeCodes,
    /// Bytes read from disk so far, for a progress bar.
    pub progress: Arc<AtomicU64>,
    /// Bytes read per chunk: large enough to keep every core busy, small enough that memory
    /// follows the frame rather than the file. Tests set it tiny to cross chunk boundaries.
    pub chunk_bytes: usize,
    /// The largest record a text reader holds in memory: a longer one (a line that never
    /// ends, an unterminated string inside a huge gzip) is quarantined with its first bytes
    /// and passed over, so memory stays bounded whatever the input.
    pub max_record_bytes: usize,
    /// Go on past inputs that are missing or cannot be read (`--keep-going`): each is listed
    /// in the quarantine and the account instead of stopping the load. Damaged content and
    /// a reader that fails on a file are isolated to that file either way.
    pub keep_going: bool,
    /// The canonical columns the caller reads, when not all: Parquet inputs then decode only
    /// these (plus [`KEY_COLUMNS`]) and leave the others null, fetched later for the rows
    /// that need them through [`Ingested::unread`]. Text shapes are parsed whole.
    pub columns: Option<Vec<&'static str>>,
    /// Sign-ins outside this window (`--since/--until`) are left out: partitions wholly
    /// outside it are never read, and rows outside it in the files that are read count as
    /// skipped.
    pub window: crate::storage::Window,
    /// Files read whole whatever the window: the days of a dataset an append rewrites, which
    /// must keep their sign-ins outside the window of the new ones.
    pub whole: Vec<PathBuf>,
    /// Only the sign-ins of this shard's users are kept (those of the others count as
    /// skipped); the whole tenant by default.
    pub shard: crate::frame::shard::Shard,
    /// Canonical files whose rows came from renderings for people (a convert's spilled
    /// CSV rows): their copies lose to any other, as the CSV rows themselves would.
    pub rendered: Vec<PathBuf>,
    /// Of canonical Parquet inputs, only the rows `offset .. offset + length`, every column
    /// read: a convert in parts reads a file larger than its batch a slice at a time.
    pub slice: Option<(usize, usize)>,
    /// Rows that move in deduplication are left ungathered, in [`Ingested::ordered`], for a
    /// writer that gathers each column as it encodes it (`convert`).
    pub late_gather: bool,
}

/// The columns every load decodes, whatever the projection. The rest are read only when a
/// load needs them: request ids whole to find copies across inputs or to sort rows out of
/// order (the order check fetches just the ids of rows with equal times); user columns as
/// dictionary codes for the per-file account; every column whole when copies are ranked.
pub const KEY_COLUMNS: &[&str] = &[col::time];

/// The default chunk size.
pub const CHUNK_BYTES: usize = 16 << 20;

/// The default record-size cap: real sign-in records are a few kilobytes; a Log Analytics
/// row with every dynamic column is well under a megabyte.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

impl IngestOptions {
    pub fn new(codes: OutcomeCodes) -> Self {
        IngestOptions {
            codes,
            progress: Arc::new(AtomicU64::new(0)),
            chunk_bytes: CHUNK_BYTES,
            max_record_bytes: MAX_RECORD_BYTES,
            keep_going: false,
            columns: None,
            window: crate::storage::Window::default(),
            whole: Vec::new(),
            shard: crate::frame::shard::Shard::WHOLE,
            rendered: Vec::new(),
            slice: None,
            late_gather: false,
        }
    }
}

/// What a reader produced from one file, before deduplication.
pub(crate) struct FileLoad {
    pub shape: Shape,
    pub gzip: bool,
    pub frames: Vec<DataFrame>,
    pub quarantine: Vec<Quarantined>,
    pub read: u64,
    pub skipped: u64,
    pub warnings: Vec<String>,
    /// Canonical columns a projected Parquet read left null, to be fetched later.
    pub unread: Vec<&'static str>,
    /// The file rows the frame holds, ascending, when a shard's load left the others out of
    /// a projected Parquet file (how its unread columns are found); none when it holds them
    /// all.
    pub selected: Option<std::sync::Arc<[u32]>>,
    /// Among the skipped: rows of other shards' users.
    pub elsewhere: u64,
    /// Rows of a rendering for people, whatever the shape says (see
    /// [`IngestOptions::rendered`]).
    pub rendered: bool,
    /// The builder shared by a run of small files, lent to this file's reader and handed
    /// back here (see [`read_small_files`]); boxed, as loads are moved about whole.
    pub shared: Option<Box<FrameBuilder>>,
}

impl FileLoad {
    fn new(shape: Shape, gzip: bool) -> Self {
        FileLoad {
            shape,
            gzip,
            frames: Vec::new(),
            quarantine: Vec::new(),
            read: 0,
            skipped: 0,
            warnings: Vec::new(),
            unread: Vec::new(),
            selected: None,
            rendered: false,
            elsewhere: 0,
            shared: None,
        }
    }

    /// Merges a part built by one worker.
    fn absorb(&mut self, part: Part) {
        self.read += part.read;
        self.skipped += part.skipped;
        self.quarantine.extend(part.quarantine);
        if !part.builder.is_empty() {
            self.frames.push(part.builder.finish());
        }
    }
}

/// One worker's share of a chunk of records.
pub(crate) struct Part {
    pub builder: FrameBuilder,
    pub quarantine: Vec<Quarantined>,
    pub read: u64,
    pub skipped: u64,
}

impl Part {
    fn with_capacity(capacity: usize) -> Self {
        Part {
            builder: FrameBuilder::with_capacity(capacity),
            quarantine: Vec::new(),
            read: 0,
            skipped: 0,
        }
    }
}

/// Loads every input (files, directories, globs) into one deduplicated canonical frame.
pub fn load(inputs: &[PathBuf], options: &IngestOptions) -> Result<Ingested, IngestError> {
    load_files(
        &source::expand(inputs, options.keep_going, options.window)?,
        options,
    )
}

/// Inputs at most this large are read several at once.
const SMALL_FILE_BYTES: u64 = 4 << 20;
/// How many small local inputs are read at once in runs (see [`read_small_files`]; held,
/// parsed, until their turn): many, so that the threads seldom wait for each other at a
/// batch's end (8,640 hourly blobs, medians of alternating runs: 64 → 256 a batch 5.94 →
/// 5.42 s; 256 → 1024 in four runs a thread 5.92 → 5.16 s).
const SMALL_BATCH: usize = 1024;
/// How many small inputs are read at once a task each (objects from storage, whose fetched
/// bytes wait for their turn; a shard's load): few, as a task waiting on its own parse takes
/// up another file's task meanwhile, and each one deepens that thread's stack (1024 overflowed
/// a debug build's).
const SMALL_TASKS_BATCH: usize = 64;
/// Runs of small local files per thread in a batch: several, so a thread that finishes early
/// takes another.
const RUNS_PER_THREAD: usize = 4;

/// Loads files already expanded by [`source::expand_inputs`].
pub fn load_files(files: &[PathBuf], options: &IngestOptions) -> Result<Ingested, IngestError> {
    let mut loads = Vec::with_capacity(files.len());
    let mut stack = Stack::default();
    let mut ranges = Vec::with_capacity(files.len());
    let span = crate::trace::span("read and parse");
    // Objects in storage are fetched ahead, a few at a time, in the order they are read.
    let remote: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .filter(|f| crate::storage::is_url(f))
        .collect();
    let mut fetcher = (!remote.is_empty()).then(|| crate::storage::Fetcher::start(remote));
    let mut next = 0;
    while next < files.len() {
        // Small inputs (an archive's hourly blobs) are read several at once, one per task:
        // each is too small to keep the cores busy alone. Their loads are taken in order,
        // so the frame never depends on which finished first.
        let stored = crate::storage::is_url(&files[next].to_string_lossy());
        let in_runs = !stored && options.shard.is_whole();
        let small = files[next..]
            .iter()
            .take(if in_runs {
                SMALL_BATCH
            } else {
                SMALL_TASKS_BATCH
            })
            .take_while(|f| crate::storage::is_url(&f.to_string_lossy()) == stored)
            .take_while(|f| source::input_size(f).is_some_and(|n| n <= SMALL_FILE_BYTES))
            .count()
            .max(1);
        let batch = &files[next..next + small];
        next += small;
        let fetched: Vec<Option<Result<Vec<u8>, String>>> = batch
            .iter()
            .map(|path| match &mut fetcher {
                Some(fetcher) if crate::storage::is_url(&path.to_string_lossy()) => {
                    Some(match fetcher.next() {
                        Some((_, bytes)) => bytes,
                        None => Err("the object storage client stopped".to_string()),
                    })
                }
                _ => None,
            })
            .collect();
        let local = fetched.iter().all(Option::is_none);
        let read: Vec<Run> = if small > 1 && local && in_runs {
            // A few runs of small local files per thread, each run building one frame.
            let per_run = small.div_ceil(RUNS_PER_THREAD * rayon::current_num_threads());
            batch
                .par_chunks(per_run)
                .map(|run| match read_small_files(run, options) {
                    Some(run) => run,
                    None => Run::Each(
                        run.iter()
                            .map(|path| load_isolated(path, None, options))
                            .collect(),
                    ),
                })
                .collect()
        } else {
            vec![Run::Each(
                batch
                    .par_iter()
                    .zip(fetched)
                    .map(|(path, fetched)| load_isolated(path, fetched, options))
                    .collect(),
            )]
        };
        for run in read {
            match run {
                Run::Each(each) => {
                    for load in each {
                        let mut load = load?;
                        ranges.push(stack.push(std::mem::take(&mut load.frames))?);
                        loads.push(load);
                    }
                }
                Run::Whole {
                    loads: run_loads,
                    frame,
                    rows,
                } => {
                    let mut start = stack.push_whole(frame)?.start;
                    for (load, rows) in run_loads.into_iter().zip(rows) {
                        ranges.push(start..start + rows);
                        start += rows;
                        loads.push(load);
                    }
                }
            }
        }
    }
    drop(span);
    let span = crate::trace::span("dedupe: stack");
    let all = stack.finish()?;
    drop(span);
    dedupe::finish(files, loads, all, ranges, options.late_gather)
}

/// Every file's rows, stacked as they are read, so that a file's frames are let go as soon
/// as its rows are taken. Small files (an archive's hourly blobs) are gathered into one
/// chunk per [`Stack::SMALL_FILES`] of them: kept one chunk each, every column's per-chunk
/// bookkeeping would cost more than their rows. Large frames (canonical Parquet) are taken
/// as they are, never copied.
#[derive(Default)]
struct Stack {
    all: Option<DataFrame>,
    /// Columns null in every frame so far, as projected loads leave their unread columns
    /// (one null value standing for every row): held out of the stack, so that stacking
    /// thousands of files never writes their nulls out row by row, and put back at the end.
    held_out: Vec<(PlSmallStr, DataType)>,
    /// The first frame's column order, restored at the end.
    names: Vec<PlSmallStr>,
    /// Small files' frames not yet gathered into one chunk, and how many files they are.
    pending: Vec<DataFrame>,
    pending_files: usize,
    gathers: usize,
    height: usize,
}

impl Stack {
    const SMALL_FILES: usize = 64;
    /// Freed memory is handed back every this many gathers.
    const GATHERS_PER_TRIM: usize = 8;
    /// A file with this many rows keeps its own chunks.
    const LARGE_ROWS: usize = 1 << 16;

    /// Takes one file's frames; returns the file's rows in the stack.
    fn push(&mut self, mut frames: Vec<DataFrame>) -> PolarsResult<std::ops::Range<usize>> {
        self.hold_out(&mut frames)?;
        let start = self.height;
        let rows: usize = frames.iter().map(|f| f.height()).sum();
        self.height += rows;
        if rows >= Self::LARGE_ROWS {
            // A large file's frames are chunks of their own, taken as they are.
            self.gather()?;
            for frame in &frames {
                self.append(frame)?;
            }
        } else if rows > 0 {
            self.pending.extend(frames);
            self.pending_files += 1;
            if self.pending_files >= Self::SMALL_FILES {
                self.gather()?;
                self.gathers += 1;
                if self.gathers.is_multiple_of(Self::GATHERS_PER_TRIM) {
                    // The gathered files' own frames, and what reading them took, are free
                    // now: handed back, they do not pile up over thousands of files (not at
                    // every gather: each hand-back costs the pages' faults again).
                    release_freed_memory();
                }
            }
        }
        Ok(start..self.height)
    }

    /// Takes a run of small files' rows as one chunk of its own, as they are (no copy).
    fn push_whole(&mut self, frame: DataFrame) -> PolarsResult<std::ops::Range<usize>> {
        let mut frames = [frame];
        self.hold_out(&mut frames)?;
        let [frame] = frames;
        let start = self.height;
        self.height += frame.height();
        if frame.height() > 0 {
            self.gather()?;
            self.append(&frame)?;
        }
        Ok(start..self.height)
    }

    /// Copies the pending small frames into one chunk at the end of the stack.
    fn gather(&mut self) -> PolarsResult<()> {
        self.pending_files = 0;
        let mut pending = std::mem::take(&mut self.pending).into_iter();
        let Some(mut gathered) = pending.next() else {
            return Ok(());
        };
        for frame in pending {
            gathered.vstack_mut(&frame)?;
        }
        gathered.rechunk_mut();
        self.append(&gathered)
    }

    fn append(&mut self, frame: &DataFrame) -> PolarsResult<()> {
        match &mut self.all {
            Some(all) => {
                all.vstack_mut(frame)?;
            }
            None => self.all = Some(frame.clone()),
        }
        Ok(())
    }

    /// Takes out of one file's `frames` the columns held out; a column held out that has
    /// values in one of them is written out in the frames stacked so far and is held out no
    /// more.
    fn hold_out(&mut self, frames: &mut [DataFrame]) -> PolarsResult<()> {
        let all_null = |c: &Column| matches!(c, Column::Scalar(s) if s.scalar().is_null());
        let Some(first) = frames.first() else {
            return Ok(());
        };
        if self.names.is_empty() {
            self.names = first.get_column_names_owned();
            self.held_out = first
                .columns()
                .iter()
                .filter(|c| all_null(c))
                .map(|c| (c.name().clone(), c.dtype().clone()))
                .collect();
        }
        let (kept, refill): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held_out)
            .into_iter()
            .partition(|(name, _)| frames.iter().all(|f| f.column(name).is_ok_and(&all_null)));
        for frame in frames.iter_mut() {
            for (name, _) in &kept {
                frame.drop_in_place(name)?;
            }
        }
        self.held_out = kept;
        if !refill.is_empty() {
            // Values after all: the rows stacked so far get their nulls, written out, in
            // these frames' column order.
            let order = frames[0].get_column_names_owned();
            let fill = |stacked: &mut DataFrame| -> PolarsResult<()> {
                for (name, dtype) in &refill {
                    let nulls = Column::full_null(name.clone(), stacked.height(), dtype);
                    stacked.with_column(nulls.as_materialized_series().clone().into_column())?;
                }
                *stacked = stacked.select(order.iter().cloned())?;
                Ok(())
            };
            if let Some(all) = &mut self.all {
                fill(all)?;
            }
            for pending in &mut self.pending {
                fill(pending)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> PolarsResult<DataFrame> {
        self.gather()?;
        let Some(mut all) = self.all else {
            return Ok(crate::frame::empty());
        };
        let height = all.height();
        for (name, dtype) in &self.held_out {
            all.with_column(Column::full_null(name.clone(), height, dtype))?;
        }
        all.select(self.names)
    }
}

/// Hands memory freed by the allocator back to the system. glibc keeps freed blocks in its
/// per-thread arenas: without this, a frame gathered column by column would hold the old and
/// the new frame's pages at once, and thousands of small files' transient buffers would pile
/// up while they are read.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the system; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Reads one file so that nothing in it can take the others down: damaged content, and a
/// reader that fails on it (a panic inside a decoder on a corrupt page), make the file one
/// quarantined record; a file that cannot be opened or read does too with `keep_going`.
/// `fetched`: an object's bytes, or why they could not be fetched (quarantined like a
/// damaged file).
fn load_isolated(
    path: &Path,
    fetched: Option<Result<Vec<u8>, String>>,
    options: &IngestOptions,
) -> Result<FileLoad, IngestError> {
    // A dataset file of one user bucket holds no user of some shards and only users of
    // others: a shard passes over the first unread and keeps the second whole.
    let bucket = match fetched {
        None if !options.shard.is_whole() => dataset::bucket_of_file(path),
        _ => None,
    };
    let (mut wholly_owned, mut owned_none) = (false, false);
    if let Some((bucket, count)) = bucket {
        let (k, n) = (options.shard.index, options.shard.count);
        let g = gcd(count, n);
        owned_none = bucket % g != k % g;
        wholly_owned = count % n == 0 && bucket % n == k;
    }
    if owned_none {
        if let Ok(rows) = dataset::file_rows(path) {
            let mut load = FileLoad::new(Shape::CanonicalParquet, false);
            (load.read, load.skipped, load.elsewhere) = (rows, rows, rows);
            return Ok(load);
        }
    }
    let owned_options;
    let options = if wholly_owned {
        owned_options = IngestOptions {
            shard: crate::frame::shard::Shard::WHOLE,
            ..options.clone()
        };
        &owned_options
    } else {
        options
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match fetched {
        Some(Ok(bytes)) => load_bytes(path, bytes, options),
        Some(Err(reason)) => Err(IngestError::Damaged {
            path: path.to_path_buf(),
            reason,
        }),
        None => load_file(path, options),
    }));
    settle(path, options, caught)
}

/// What reading one file came to: its load with the window and shard applied, or — for
/// damaged content, a reader's panic, or (with `keep_going`) a file that cannot be read — one
/// quarantined record saying why.
fn settle(
    path: &Path,
    options: &IngestOptions,
    caught: std::thread::Result<Result<FileLoad, IngestError>>,
) -> Result<FileLoad, IngestError> {
    let reason = match caught {
        Ok(Ok(mut load)) => {
            if !options.window.is_open() && !options.whole.iter().any(|w| w == path) {
                keep_window(&mut load, options.window)?;
            }
            if !options.shard.is_whole() && load.selected.is_none() {
                keep_shard(&mut load, options.shard)?;
            }
            load.rendered = options.rendered.iter().any(|r| r == path);
            return Ok(load);
        }
        Ok(Err(e @ IngestError::Damaged { .. })) => e.to_string(),
        Ok(Err(e @ (IngestError::Io { .. } | IngestError::BadInput { .. })))
            if options.keep_going =>
        {
            e.to_string()
        }
        Ok(Err(e)) => return Err(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            format!("the reader failed on this file ({what}); damaged content?")
        }
    };
    let name = path.to_string_lossy();
    let mut load = FileLoad::new(Shape::Unreadable, false);
    load.read = 1;
    load.warnings.push(reason.clone());
    load.quarantine
        .push(Quarantined::new(&name, None, reason, b""));
    Ok(load)
}

/// What reading a run of small files gave.
enum Run {
    /// Each file's load, its rows in its frames.
    Each(Vec<Result<FileLoad, IngestError>>),
    /// Every file's rows in one frame, in file order: `rows[i]` consecutive rows for file i,
    /// whose load holds no frame.
    Whole {
        loads: Vec<FileLoad>,
        frame: DataFrame,
        rows: Vec<usize>,
    },
}

/// Reads a run of small local files into one frame: each file's reader appends its rows to
/// a builder it is lent in turn (JSON; other shapes read as usual). One frame builder and one
/// frame for the run, where a frame per file cost a quarter of the CPU of reading an archive
/// of hourly blobs (allocations, three dozen arrays a file, stacking them). When every row
/// went through the builder and no time window leaves rows out, the run's frame is stacked
/// whole (a slice per file, and the copy that gathered the slices again, took 8,640 hourly
/// blobs from 5.76 to 7.24 s); otherwise each file gets its slice of it. `None` when a reader failed or panicked on one
/// of them: the builder may hold part of that file's rows, so the run is read again file by
/// file, which isolates the failure as usual.
fn read_small_files(files: &[PathBuf], options: &IngestOptions) -> Option<Run> {
    let bytes: u64 = files.iter().filter_map(|f| source::input_size(f)).sum();
    // Diagnostic records are 1–4 KB: room for about as many rows as the files hold.
    let capacity = usize::try_from(bytes / 2048).unwrap_or(0).max(64);
    let mut builder = Box::new(FrameBuilder::with_capacity(capacity));
    let mut loads = Vec::with_capacity(files.len());
    let mut spans = Vec::with_capacity(files.len());
    for path in files {
        let start = builder.len();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            load_file_sharing(path, options, builder)
        }));
        let Ok(Ok(mut load)) = caught else {
            return None;
        };
        builder = load.shared.take()?;
        spans.push((start, builder.len() - start));
        loads.push(load);
    }
    let frame = builder.finish();
    if options.window.is_open() && loads.iter().all(|load| load.frames.is_empty()) {
        let loads = files
            .iter()
            .zip(loads)
            .map(|(path, load)| settle(path, options, Ok(Ok(load))).ok())
            .collect::<Option<Vec<_>>>()?;
        let rows = spans.into_iter().map(|(_, rows)| rows).collect();
        return Some(Run::Whole { loads, frame, rows });
    }
    files
        .iter()
        .zip(loads)
        .zip(spans)
        .map(|((path, mut load), (start, rows))| {
            if rows > 0 {
                load.frames.insert(0, frame.slice(start as i64, rows));
            }
            settle(path, options, Ok(Ok(load))).ok()
        })
        .collect::<Option<Vec<_>>>()
        .map(|loads| Run::Each(loads.into_iter().map(Ok).collect()))
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// True when every row a file gave lies inside the window.
fn all_in_window(load: &FileLoad, window: crate::storage::Window) -> Result<bool, IngestError> {
    for frame in &load.frames {
        let times = frame.column(col::time)?.datetime()?.physical().clone();
        if !times.iter().all(|t| t.is_some_and(|t| window.contains(t))) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Leaves out the rows of a file outside the window, counted as skipped.
fn keep_window(load: &mut FileLoad, window: crate::storage::Window) -> Result<(), IngestError> {
    for frame in &mut load.frames {
        let times = frame.column(col::time)?.datetime()?.physical().clone();
        let keep: BooleanChunked = times
            .iter()
            .map(|t| Some(t.is_some_and(|t| window.contains(t))))
            .collect();
        let kept = keep.sum().unwrap_or(0) as usize;
        if kept < frame.height() {
            load.skipped += (frame.height() - kept) as u64;
            *frame = frame.filter(&keep)?;
        }
    }
    Ok(())
}

/// Leaves out the rows of other shards' users, counted as skipped.
fn keep_shard(load: &mut FileLoad, shard: crate::frame::shard::Shard) -> Result<(), IngestError> {
    for frame in &mut load.frames {
        let ids = frame.column(col::user_id)?.str()?;
        let names = frame.column(col::user_principal_name)?.str()?;
        let keep: BooleanChunked = ids
            .iter()
            .zip(names.iter())
            .map(|(id, name)| Some(shard.owns_row(id, name)))
            .collect();
        let kept = keep.sum().unwrap_or(0) as usize;
        if kept < frame.height() {
            load.skipped += (frame.height() - kept) as u64;
            load.elsewhere += (frame.height() - kept) as u64;
            *frame = frame.filter(&keep)?;
        }
    }
    Ok(())
}

/// Reads one object fetched from storage, of any shape.
fn load_bytes(
    path: &Path,
    bytes: Vec<u8>,
    options: &IngestOptions,
) -> Result<FileLoad, IngestError> {
    if bytes.starts_with(b"PAR1") {
        return parquet::read_bytes_as_load(path, bytes);
    }
    let opened = source::open_bytes(bytes, path, options.progress.clone())?;
    read_opened(path, opened, options)
}

/// Reads one file of any shape.
fn load_file(path: &Path, options: &IngestOptions) -> Result<FileLoad, IngestError> {
    load_opened_file(path, source::open(path, options.progress.clone())?, options)
}

/// [`load_file`] for one of a run of small files sharing `shared`: a JSON file's rows go
/// into it, any other shape reads as usual; either way the builder comes back in
/// [`FileLoad::shared`].
fn load_file_sharing(
    path: &Path,
    options: &IngestOptions,
    shared: Box<FrameBuilder>,
) -> Result<FileLoad, IngestError> {
    let opened = source::open(path, options.progress.clone())?;
    if opened.sniffed == source::Sniffed::Json {
        let name = path.to_string_lossy().into_owned();
        return json::read(opened, &name, options, Some(shared));
    }
    let mut load = load_opened_file(path, opened, options)?;
    load.shared = Some(shared);
    Ok(load)
}

fn load_opened_file(
    path: &Path,
    opened: source::Opened,
    options: &IngestOptions,
) -> Result<FileLoad, IngestError> {
    if let (source::Sniffed::Parquet, Some(slice)) = (opened.sniffed, options.slice) {
        return parquet::read_slice_as_load(path, slice);
    }
    if opened.sniffed == source::Sniffed::Parquet {
        let load = parquet::read_as_load(path, options.columns.as_deref())?;
        // Rows left out of a window would no longer be the file's rows, which is how
        // columns a projection left unread are found: a file with rows outside the window
        // is read again whole (a dataset's days inside the window keep their projection).
        let outside = !load.unread.is_empty()
            && !options.window.is_open()
            && !all_in_window(&load, options.window)?;
        let mut load = match outside {
            true => parquet::read_as_load(path, None)?,
            false => load,
        };
        if !load.unread.is_empty() && !options.shard.is_whole() {
            // A shard keeps its users' rows and the projection: the rows it keeps are
            // noted, so that their unread columns are still found.
            parquet::select_shard(path, &mut load, options.shard)?;
        }
        return Ok(load);
    }
    read_opened(path, opened, options)
}

/// Reads an opened text input (or reports an empty or unrecognised one).
fn read_opened(
    path: &Path,
    opened: source::Opened,
    options: &IngestOptions,
) -> Result<FileLoad, IngestError> {
    let name = path.to_string_lossy().into_owned();
    match opened.sniffed {
        source::Sniffed::Json => json::read(opened, &name, options, None),
        source::Sniffed::Csv => csv::read(opened, path, &name, options),
        source::Sniffed::Avro => avro::read(opened.reader, path, options),
        source::Sniffed::Parquet => Err(IngestError::Damaged {
            path: path.to_path_buf(),
            reason: "Parquet content where a text export was expected".into(),
        }),
        source::Sniffed::Empty => {
            let mut load = FileLoad::new(Shape::Empty, opened.gzip);
            load.warnings.push("the file is empty".into());
            Ok(load)
        }
        source::Sniffed::Unrecognised => {
            let mut load = FileLoad::new(Shape::Unrecognised, opened.gzip);
            load.read = 1;
            let reason = if opened.gzip {
                "unreadable gzip stream"
            } else {
                "unrecognised content: not JSON, CSV or Parquet (binary or damaged file?)"
            };
            load.quarantine
                .push(Quarantined::new(&name, None, reason, &opened.head));
            Ok(load)
        }
    }
}
