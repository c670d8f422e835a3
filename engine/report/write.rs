//! Writers for the output tables: JSONL (nested objects kept), CSV (formula-safe) and
//! Parquet, staged under temporary names and moved into place together ([`Staged`]).
//!
//! A table is a slice of [`Record`]s; each record type declares its columns and their kinds
//! once, and every format is written from that declaration, so the three formats cannot
//! disagree about what a table holds.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::score::Scored;
use super::{Detection, RiskyServicePrincipal, RiskySignIn, RiskyUser};
use crate::ingest::values::parse_time;
use crate::ingest::Quarantined;

/// Output file format of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// How a column is stored in CSV and Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// RFC 3339 text in JSONL and CSV, a UTC datetime in Parquet.
    Time,
    /// Nested objects and lists: JSON text in CSV and Parquet.
    Json,
}

/// A row type of an output table.
pub trait Record: Serialize + Sync {
    /// Columns in output order, by their serialized (JSON) names.
    const COLUMNS: &'static [(&'static str, Kind)];
}

impl Record for Detection {
    const COLUMNS: &'static [(&'static str, Kind)] = &[
        ("id", Kind::Str),
        ("requestId", Kind::Str),
        ("correlationId", Kind::Str),
        ("riskEventType", Kind::Str),
        ("riskState", Kind::Str),
        ("riskLevel", Kind::Str),
        ("riskDetail", Kind::Str),
        ("source", Kind::Str),
        ("detectionTimingType", Kind::Str),
        ("activity", Kind::Str),
        ("tokenIssuerType", Kind::Str),
        ("ipAddress", Kind::Str),
        ("location", Kind::Json),
        ("activityDateTime", Kind::Time),
        ("detectedDateTime", Kind::Time),
        ("lastUpdatedDateTime", Kind::Time),
        ("userId", Kind::Str),
        ("userDisplayName", Kind::Str),
        ("userPrincipalName", Kind::Str),
        ("additionalInfo", Kind::Str),
        ("report", Kind::Str),
        ("detector", Kind::Str),
        ("evidence", Kind::Json),
    ];
}

impl Record for RiskySignIn {
    const COLUMNS: &'static [(&'static str, Kind)] = &[
        ("id", Kind::Str),
        ("createdDateTime", Kind::Time),
        ("userId", Kind::Str),
        ("userDisplayName", Kind::Str),
        ("userPrincipalName", Kind::Str),
        ("ipAddress", Kind::Str),
        ("location", Kind::Json),
        ("riskLevelAggregated", Kind::Str),
        ("riskState", Kind::Str),
        ("riskEventTypes_v2", Kind::Json),
        ("detectionIds", Kind::Json),
    ];
}

impl Record for RiskyUser {
    const COLUMNS: &'static [(&'static str, Kind)] = &[
        ("id", Kind::Str),
        ("isDeleted", Kind::Bool),
        ("isProcessing", Kind::Bool),
        ("riskDetail", Kind::Str),
        ("riskLastUpdatedDateTime", Kind::Time),
        ("riskLevel", Kind::Str),
        ("riskState", Kind::Str),
        ("userDisplayName", Kind::Str),
        ("userPrincipalName", Kind::Str),
        ("riskEventTypes", Kind::Json),
        ("detectionCount", Kind::Int),
    ];
}

impl Record for RiskyServicePrincipal {
    const COLUMNS: &'static [(&'static str, Kind)] = &[
        ("id", Kind::Str),
        ("appId", Kind::Str),
        ("displayName", Kind::Str),
        ("servicePrincipalType", Kind::Str),
        ("riskLevel", Kind::Str),
        ("riskState", Kind::Str),
        ("riskDetail", Kind::Str),
        ("riskLastUpdatedDateTime", Kind::Time),
        ("isProcessing", Kind::Bool),
        ("isEnabled", Kind::Bool),
        ("riskEventTypes", Kind::Json),
        ("detectionCount", Kind::Int),
    ];
}

impl Record for Quarantined {
    const COLUMNS: &'static [(&'static str, Kind)] = &[
        ("source_file", Kind::Str),
        ("line", Kind::Int),
        ("reason", Kind::Str),
        ("raw", Kind::Str),
    ];
}

/// A run's output files, each written under a temporary name beside its final one and all
/// renamed into place together once every one is complete ([`Staged::commit`]). A run that
/// fails, or is killed while it writes, leaves the previous outputs as they were and no
/// partial file under a final name; only the renames themselves, a few system calls at the
/// very end, can be cut between two files. Temporary files of an earlier run that was killed
/// are removed when the same outputs are staged again.
#[derive(Default)]
pub struct Staged {
    /// (temporary, final) paths, in the order they are renamed.
    files: std::sync::Mutex<Vec<(PathBuf, PathBuf)>>,
}

impl Staged {
    pub fn new() -> Self {
        Staged::default()
    }

    /// Writes the file that will become `path`.
    pub fn write<E>(&self, path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E>
    where
        E: From<io::Error>,
    {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
            remove_stale_temps(parent, path);
        }
        let tmp = temp_path(path);
        if let Err(e) = write(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Ok(mut files) = self.files.lock() {
            files.push((tmp, path.to_path_buf()));
        }
        Ok(())
    }

    /// Renames every staged file into place, in the order they were staged.
    pub fn commit(self) -> io::Result<()> {
        let files = std::mem::take(
            &mut *self
                .files
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?,
        );
        for (tmp, path) in files {
            std::fs::rename(&tmp, &path)?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// Files staged but never committed (an error on the way) are removed.
    fn drop(&mut self) {
        if let Ok(files) = self.files.get_mut() {
            for (tmp, _) in files.drain(..) {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// Removes `NAME.tmp-PID` files beside `path` that no running process owns any more: what a
/// killed run left.
fn remove_stale_temps(dir: &Path, path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!("{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = entry_name.strip_prefix(&prefix) else {
            continue;
        };
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes the quarantine as JSON Lines.
pub fn write_quarantine_jsonl(entries: &[Quarantined], path: &Path) -> io::Result<()> {
    write_jsonl(entries, path)
}

/// Writes a table to `path` in `format`, moved into place once complete.
pub fn write_table<R: Record>(rows: &[R], format: Format, path: &Path) -> anyhow::Result<()> {
    let staged = Staged::new();
    stage_table(&staged, rows, format, path)?;
    Ok(staged.commit()?)
}

/// Writes a table into `staged`, to be renamed to `path` with the run's other outputs.
pub fn stage_table<R: Record>(
    staged: &Staged,
    rows: &[R],
    format: Format,
    path: &Path,
) -> anyhow::Result<()> {
    staged.write(path, |tmp| -> anyhow::Result<()> {
        match format {
            Format::Jsonl => write_jsonl(rows, tmp)?,
            Format::Csv => write_csv(rows, tmp)?,
            Format::Parquet => write_parquet(rows, tmp)?,
        }
        Ok(())
    })
}

/// Writes a scoring pass's detections, risky sign-ins, risky users and risky service
/// principals into `dir` as `detections.<ext>`, `risky_signins.<ext>`, `risky_users.<ext>`
/// and `risky_service_principals.<ext>`, staged in `staged`. The
/// tables are written side by side: one file's bytes go to the kernel while the next file's
/// rows are serialised.
pub fn write_tables(
    scored: &Scored,
    format: Format,
    dir: &Path,
    staged: &Staged,
) -> anyhow::Result<()> {
    let path = |table: &str| dir.join(format!("{table}.{}", format.extension()));
    let (detections, (signins, users)) = rayon::join(
        || stage_table(staged, &scored.detections, format, &path("detections")),
        || {
            rayon::join(
                || {
                    stage_table(
                        staged,
                        &scored.risky_signins,
                        format,
                        &path("risky_signins"),
                    )
                },
                || stage_table(staged, &scored.risky_users, format, &path("risky_users")),
            )
        },
    );
    detections?;
    signins?;
    users?;
    stage_table(
        staged,
        &scored.risky_service_principals,
        format,
        &path("risky_service_principals"),
    )?;
    stage_table(staged, &scored.timeline, format, &path("timeline"))?;
    Ok(())
}

fn write_jsonl<R: Serialize + Sync>(rows: &[R], path: &Path) -> io::Result<()> {
    let mut out = File::create(path)?;
    jsonl_blocks(rows, &mut out)?;
    out.flush()
}

/// Writes `rows` as JSON Lines to `out`. Rows are serialised in parallel blocks and written
/// in order, so the bytes never depend on the thread count; batches of blocks are
/// pipelined: one batch goes to the kernel while the next is serialised.
pub(super) fn jsonl_blocks<R: Serialize + Sync>(
    rows: &[R],
    out: &mut (impl Write + Send),
) -> io::Result<()> {
    use rayon::prelude::*;
    const BLOCK: usize = 4096;
    let serialise = |batch: &[R]| -> io::Result<Vec<Vec<u8>>> {
        batch
            .par_chunks(BLOCK)
            .map(|block| {
                let mut bytes = Vec::with_capacity(block.len() * 512);
                for row in block {
                    serde_json::to_writer(&mut bytes, row)?;
                    bytes.push(b'\n');
                }
                Ok(bytes)
            })
            .collect()
    };
    let mut pending: Vec<Vec<u8>> = Vec::new();
    for batch in rows.chunks(8 * BLOCK) {
        let (written, serialised) = rayon::join(
            || pending.iter().try_for_each(|block| out.write_all(block)),
            || serialise(batch),
        );
        written?;
        pending = serialised?;
    }
    pending.iter().try_for_each(|block| out.write_all(block))
}

/// A row as its JSON object, for the column-wise writers.
fn object<R: Record>(row: &R) -> io::Result<serde_json::Map<String, Value>> {
    match serde_json::to_value(row)? {
        Value::Object(map) => Ok(map),
        _ => Err(io::Error::other("a table row must serialize to an object")),
    }
}

fn write_csv<R: Record>(rows: &[R], path: &Path) -> anyhow::Result<()> {
    let mut table = TableWriter::<R>::create(path, Format::Csv)?;
    table.extend(rows)?;
    table.finish()
}

/// One CSV cell. Text that a spreadsheet would run as a formula (starting `=`, `+`, `-`,
/// `@`, tab or carriage return) is prefixed with `'`.
pub fn csv_cell(value: &Value, kind: Kind) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => return b.to_string(),
        Value::Number(n) if kind != Kind::Json => return n.to_string(),
        other => other.to_string(),
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn write_parquet<R: Record>(rows: &[R], path: &Path) -> anyhow::Result<()> {
    let mut table = TableWriter::<R>::create(path, Format::Parquet)?;
    table.extend(rows)?;
    table.finish()
}

/// Rows in a Parquet row group. Row groups are cut at this count however the rows arrive
/// (a table written whole, or merged from shards row by row), so the file's bytes depend on
/// the rows alone; and a merge holds at most this many rows of a table.
pub(crate) const PARQUET_ROWS: usize = 65_536;

/// One output table written row by row, in any format: what a merge of shards streams its
/// rows into, holding at most a row group of them.
pub struct TableWriter<R: Record> {
    sink: Sink,
    rows: std::marker::PhantomData<fn(&R)>,
}

enum Sink {
    Jsonl(BufWriter<File>),
    Csv(Box<::csv::Writer<BufWriter<File>>>),
    Parquet(ParquetSink),
}

/// Parquet rows gathered column by column; each full row group is handed to a thread of its
/// own that builds its columns, compresses and writes them while the next rows arrive (a
/// merge's reading and parsing goes on meanwhile).
struct ParquetSink {
    pending: Vec<Vec<Value>>,
    rows: usize,
    groups: std::sync::mpsc::SyncSender<Vec<Vec<Value>>>,
    /// Taken when it is joined: at the end, or when it stopped on an error.
    writer: Option<std::thread::JoinHandle<PolarsResult<()>>>,
}

impl ParquetSink {
    fn start<R: Record>(file: File) -> anyhow::Result<ParquetSink> {
        let schema: Schema = R::COLUMNS
            .iter()
            .map(|(name, kind)| Field::new((*name).into(), parquet_dtype(*kind)))
            .collect();
        let mut writer = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .batched(&schema)?;
        // One group waits while another is written: memory stays at two row groups.
        let (groups, arriving) = std::sync::mpsc::sync_channel::<Vec<Vec<Value>>>(1);
        let writer = std::thread::Builder::new()
            .name("parquet-writer".into())
            .spawn(move || -> PolarsResult<()> {
                for group in arriving {
                    write_row_group::<R>(&mut writer, group)?;
                }
                writer.finish()?;
                Ok(())
            })?;
        Ok(ParquetSink {
            pending: empty_columns(R::COLUMNS.len()),
            rows: 0,
            groups,
            writer: Some(writer),
        })
    }

    fn push<R: Record>(&mut self, row: &R) -> anyhow::Result<()> {
        let filled = row.serialize(Cells {
            columns: R::COLUMNS,
            pending: &mut self.pending,
        });
        self.rows += 1;
        // A column the row left out is null; a row that is no struct goes through its object.
        match filled {
            Ok(()) => self
                .pending
                .iter_mut()
                .for_each(|c| c.resize(self.rows, Value::Null)),
            Err(_) => {
                let object = object(row)?;
                for (column, (name, _)) in self.pending.iter_mut().zip(R::COLUMNS) {
                    column.truncate(self.rows - 1);
                    column.push(object.get(*name).cloned().unwrap_or(Value::Null));
                }
            }
        }
        if self.rows == PARQUET_ROWS {
            self.send()?;
        }
        Ok(())
    }

    /// Hands the pending rows to the writer thread.
    fn send(&mut self) -> anyhow::Result<()> {
        let fresh = empty_columns(self.pending.len());
        let group = std::mem::replace(&mut self.pending, fresh);
        self.rows = 0;
        if self.groups.send(group).is_err() {
            // The writer stopped on an error: its own is the one to report.
            return self
                .join()
                .and_then(|()| Err(anyhow::anyhow!("the Parquet writer stopped")));
        }
        Ok(())
    }

    /// Waits for the writer thread and hands back how it ended.
    fn join(&mut self) -> anyhow::Result<()> {
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(written)) => Ok(written?),
            Some(Err(_)) => anyhow::bail!("the Parquet writer panicked"),
            None => Ok(()),
        }
    }

    fn finish(mut self) -> anyhow::Result<()> {
        let sent = match self.rows {
            0 => Ok(()),
            _ => self.send(),
        };
        // The writer finishes the file once no sender is left.
        self.groups = std::sync::mpsc::sync_channel(0).0;
        self.join()?;
        sent
    }
}

impl<R: Record> TableWriter<R> {
    /// Creates `path` (the header of a CSV file written at once).
    pub fn create(path: &Path, format: Format) -> anyhow::Result<Self> {
        let file = File::create(path)?;
        let sink = match format {
            Format::Jsonl => Sink::Jsonl(BufWriter::with_capacity(1 << 20, file)),
            Format::Csv => {
                let mut out = ::csv::Writer::from_writer(BufWriter::new(file));
                out.write_record(R::COLUMNS.iter().map(|(name, _)| *name))?;
                Sink::Csv(Box::new(out))
            }
            Format::Parquet => Sink::Parquet(ParquetSink::start::<R>(file)?),
        };
        Ok(TableWriter {
            sink,
            rows: std::marker::PhantomData,
        })
    }

    /// Appends one row.
    pub fn push(&mut self, row: &R) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, row)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(out) => {
                let object = object(row)?;
                out.write_record(R::COLUMNS.iter().map(|(name, kind)| {
                    csv_cell(object.get(*name).unwrap_or(&Value::Null), *kind)
                }))?;
            }
            Sink::Parquet(sink) => sink.push(row)?,
        }
        Ok(())
    }

    /// Appends rows (JSON Lines serialised in parallel).
    pub fn extend(&mut self, rows: &[R]) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Jsonl(out) => jsonl_blocks(rows, out)?,
            _ => rows.iter().try_for_each(|row| self.push(row))?,
        }
        Ok(())
    }

    /// Writes what is pending and closes the file.
    pub fn finish(self) -> anyhow::Result<()> {
        match self.sink {
            Sink::Jsonl(mut out) => out.flush()?,
            Sink::Csv(mut out) => out.flush()?,
            Sink::Parquet(sink) => sink.finish()?,
        }
        Ok(())
    }
}

/// The Parquet type of a column kind.
fn parquet_dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Str | Kind::Json => DataType::String,
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
    }
}

/// Room for a row group's values of `n` columns.
fn empty_columns(n: usize) -> Vec<Vec<Value>> {
    (0..n).map(|_| Vec::with_capacity(PARQUET_ROWS)).collect()
}

/// Writes one row group from its columns' values.
fn write_row_group<R: Record>(
    writer: &mut polars::io::parquet::write::BatchedWriter<File>,
    group: Vec<Vec<Value>>,
) -> PolarsResult<()> {
    let height = group.first().map_or(0, Vec::len);
    let columns: Vec<Column> = R::COLUMNS
        .iter()
        .zip(&group)
        .map(|((name, kind), values)| parquet_column(name, *kind, values))
        .collect();
    drop(group);
    let frame = DataFrame::new(height, columns)?;
    writer.write_batch(&frame)
}

fn parquet_column(name: &str, kind: Kind, values: &[Value]) -> Column {
    let name: PlSmallStr = name.into();
    let values = values.iter();
    match kind {
        Kind::Str | Kind::Json => {
            let texts = values.map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                other => Some(std::borrow::Cow::Owned(other.to_string())),
            });
            StringChunked::from_iter_options(name, texts).into_column()
        }
        Kind::Int => Int64Chunked::from_iter_options(name, values.map(Value::as_i64)).into_column(),
        Kind::Float => {
            Float64Chunked::from_iter_options(name, values.map(Value::as_f64)).into_column()
        }
        Kind::Bool => {
            BooleanChunked::from_iter_options(name, values.map(Value::as_bool)).into_column()
        }
        Kind::Time => Int64Chunked::from_iter_options(
            name,
            values.map(|v| v.as_str().and_then(|t| parse_time(t).ok())),
        )
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column(),
    }
}

/// Serializes a record's fields straight into its columns' pending values, each field once,
/// where its JSON object would build a map of every field name per row. Only a struct is
/// taken; anything else is refused (and written through its object).
struct Cells<'a> {
    columns: &'static [(&'static str, Kind)],
    pending: &'a mut [Vec<Value>],
}

/// Why [`Cells`] refuses a row.
#[derive(Debug)]
struct NotAStruct;

impl std::fmt::Display for NotAStruct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a table row must serialize to a struct")
    }
}

impl std::error::Error for NotAStruct {}

impl serde::ser::Error for NotAStruct {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotAStruct
    }
}

impl serde::ser::SerializeStruct for Cells<'_> {
    type Ok = ();
    type Error = NotAStruct;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        let Some(k) = self.columns.iter().position(|(name, _)| *name == key) else {
            return Ok(());
        };
        let value = serde_json::to_value(value).map_err(|_| NotAStruct)?;
        self.pending[k].push(value);
        Ok(())
    }

    fn end(self) -> Result<(), NotAStruct> {
        Ok(())
    }
}

/// Every serializer entry but a struct's refuses the row.
macro_rules! not_a_struct {
    ($($name:ident($($arg:ty),*) -> $ok:ty;)+) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, NotAStruct> { Err(NotAStruct) })+
    };
}

impl<'a> serde::Serializer for Cells<'a> {
    type Ok = ();
    type Error = NotAStruct;
    type SerializeSeq = serde::ser::Impossible<(), NotAStruct>;
    type SerializeTuple = serde::ser::Impossible<(), NotAStruct>;
    type SerializeTupleStruct = serde::ser::Impossible<(), NotAStruct>;
    type SerializeTupleVariant = serde::ser::Impossible<(), NotAStruct>;
    type SerializeMap = serde::ser::Impossible<(), NotAStruct>;
    type SerializeStruct = Cells<'a>;
    type SerializeStructVariant = serde::ser::Impossible<(), NotAStruct>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Cells<'a>, NotAStruct> {
        Ok(self)
    }

    not_a_struct! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::detection;
    use crate::report::{risky_signins, risky_users, RiskLevel};

    fn sample() -> Vec<Detection> {
        vec![
            detection(
                "d1",
                Some("s1"),
                "u1",
                "unlikelyTravel",
                RiskLevel::Medium,
                "2025-03-01T10:00:00.000000Z",
            ),
            detection(
                "d2",
                None,
                "u2",
                "leakedCredentials",
                RiskLevel::High,
                "2025-03-02T00:00:00.000000Z",
            ),
        ]
    }

    #[test]
    fn jsonl_keeps_graph_field_names_and_nested_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detections.jsonl");
        write_table(&sample(), Format::Jsonl, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["riskEventType"], "unlikelyTravel");
        assert_eq!(lines[0]["location"]["geoCoordinates"]["latitude"], 59.91);
        assert_eq!(lines[0]["evidence"]["km"], 5210.5);
        assert_eq!(lines[1]["requestId"], Value::Null);
        let back: Detection = serde_json::from_value(lines[0].clone()).unwrap();
        assert_eq!(back, sample()[0]);
    }

    #[test]
    fn csv_has_every_column_and_defuses_formulas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detections.csv");
        write_table(&sample(), Format::Csv, &path).unwrap();
        let mut reader = ::csv::Reader::from_path(&path).unwrap();
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let expected: Vec<&str> = Detection::COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(headers, expected);
        let first = reader.records().next().unwrap().unwrap();
        let info = &first[headers.iter().position(|h| h == "additionalInfo").unwrap()];
        assert!(info.starts_with('['), "JSON text stays as is: {info}");
        assert_eq!(
            csv_cell(&Value::from("=cmd|' /C calc'!A0"), Kind::Str),
            "'=cmd|' /C calc'!A0"
        );
        assert_eq!(csv_cell(&Value::from("@SUM(A1)"), Kind::Str), "'@SUM(A1)");
        assert_eq!(csv_cell(&Value::from("+1"), Kind::Str), "'+1");
        assert_eq!(csv_cell(&Value::from("-1"), Kind::Str), "'-1");
        assert_eq!(csv_cell(&Value::from(-1), Kind::Int), "-1");
        let evidence = &first[headers.iter().position(|h| h == "evidence").unwrap()];
        let parsed: Value = serde_json::from_str(evidence).unwrap();
        assert_eq!(parsed["minutes"], 42);
    }

    #[test]
    fn risky_service_principals_are_written_in_every_format() {
        use crate::report::{risky_service_principals, tests::detection, RiskLevel};
        let mut d = detection(
            "d1",
            Some("r1"),
            "",
            "suspiciousSignins",
            RiskLevel::Medium,
            "2025-03-20T10:00:00.000000Z",
        );
        d.user_id = None;
        d.user_principal_name = None;
        d.activity = "servicePrincipal".into();
        d.evidence = serde_json::json!({
            "servicePrincipalId": "sp-1",
            "servicePrincipalName": "backup-runner",
            "appId": "app-1",
        });
        let principals = risky_service_principals(&[d.clone(), d]);
        assert_eq!(principals.len(), 1);
        assert_eq!(principals[0].detection_count, 2);
        assert_eq!(principals[0].display_name.as_deref(), Some("backup-runner"));
        assert!(crate::report::risky_users(&[]).is_empty());
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Jsonl, Format::Csv, Format::Parquet] {
            let path = dir
                .path()
                .join(format!("risky_service_principals.{}", format.extension()));
            write_table(&principals, format, &path).unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() > 0);
        }
        let frame = ParquetReader::new(
            File::open(dir.path().join("risky_service_principals.parquet")).unwrap(),
        )
        .finish()
        .unwrap();
        assert_eq!(frame.width(), RiskyServicePrincipal::COLUMNS.len());
        let text =
            std::fs::read_to_string(dir.path().join("risky_service_principals.jsonl")).unwrap();
        let row: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(row["appId"], "app-1");
        assert_eq!(row["servicePrincipalType"], "application");
        assert_eq!(row["riskState"], "atRisk");
    }

    #[test]
    fn parquet_round_trips_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let detections = sample();
        let path = dir.path().join("detections.parquet");
        write_table(&detections, Format::Parquet, &path).unwrap();
        let frame = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(frame.height(), 2);
        assert_eq!(frame.width(), Detection::COLUMNS.len());
        assert!(matches!(
            frame.column("activityDateTime").unwrap().dtype(),
            DataType::Datetime(TimeUnit::Microseconds, _)
        ));
        let users = risky_users(&detections);
        let path = dir.path().join("risky_users.parquet");
        write_table(&users, Format::Parquet, &path).unwrap();
        let frame = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(
            frame
                .column("detectionCount")
                .unwrap()
                .i64()
                .unwrap()
                .get(0),
            Some(1)
        );
        let signins = risky_signins(&detections);
        let path = dir.path().join("risky_signins.csv");
        write_table(&signins, Format::Csv, &path).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("unlikelyTravel"));
    }

    #[derive(Serialize)]
    struct Plain {
        name: Option<String>,
        count: i64,
        at: String,
        extra: Value,
        #[serde(rename = "notAColumn")]
        skipped: bool,
    }

    /// The same fields, serialized as a map: written through its object.
    #[derive(Serialize)]
    struct Flattened {
        #[serde(flatten)]
        plain: Plain,
    }

    const PLAIN_COLUMNS: &[(&str, Kind)] = &[
        ("name", Kind::Str),
        ("count", Kind::Int),
        ("at", Kind::Time),
        ("extra", Kind::Json),
        ("absent", Kind::Str),
    ];

    impl Record for Plain {
        const COLUMNS: &'static [(&'static str, Kind)] = PLAIN_COLUMNS;
    }

    impl Record for Flattened {
        const COLUMNS: &'static [(&'static str, Kind)] = PLAIN_COLUMNS;
    }

    #[test]
    fn parquet_rows_are_the_same_from_fields_or_from_objects_across_row_groups() {
        let plain = |k: usize| Plain {
            name: (!k.is_multiple_of(3)).then(|| format!("user-{k}")),
            count: k as i64,
            at: format!("2025-03-01T00:00:{:02}Z", k % 60),
            extra: serde_json::json!({"k": k, "list": [1, 2]}),
            skipped: true,
        };
        let rows = PARQUET_ROWS + 1_000;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        let fields: Vec<Plain> = (0..rows).map(plain).collect();
        write_table(&fields, Format::Parquet, &a).unwrap();
        let objects: Vec<Flattened> = (0..rows).map(|k| Flattened { plain: plain(k) }).collect();
        write_table(&objects, Format::Parquet, &b).unwrap();
        let read = |path: &Path| {
            ParquetReader::new(File::open(path).unwrap())
                .finish()
                .unwrap()
        };
        let frame = read(&a);
        assert!(frame.equals_missing(&read(&b)));
        assert_eq!(frame.height(), rows);
        let names: Vec<&str> = frame.columns().iter().map(|c| c.name().as_str()).collect();
        assert_eq!(names, ["name", "count", "at", "extra", "absent"]);
        let at = |column: &str, k: usize| frame.column(column).unwrap().get(k).unwrap().to_string();
        assert_eq!(at("name", 66_000), "null");
        assert_eq!(at("name", 66_001), "\"user-66001\"");
        assert_eq!(at("count", 66_001), "66001");
        assert_eq!(at("extra", 4), "\"{\"k\":4,\"list\":[1,2]}\"");
        assert_eq!(frame.column("absent").unwrap().null_count(), rows);
        assert_eq!(frame.column("at").unwrap().null_count(), 0);
    }

    #[test]
    fn a_failed_staging_leaves_the_old_outputs_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&b, "old b").unwrap();
        {
            let staged = Staged::new();
            staged
                .write(&a, |tmp| std::fs::write(tmp, "new a"))
                .unwrap();
            let result: io::Result<()> = staged.write(&b, |tmp| {
                std::fs::write(tmp, "partial")?;
                Err(io::Error::other("disk full"))
            });
            assert!(result.is_err());
            // Dropped uncommitted: "new a" never replaces "old a".
        }
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "old b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_commit_moves_every_file_and_removes_a_killed_runs_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        // What a run killed long ago left (no process has that id: pids stay below 2^22).
        std::fs::write(dir.path().join("a.jsonl.tmp-4294967294"), "stale").unwrap();
        let staged = Staged::new();
        staged
            .write(&a, |tmp| std::fs::write(tmp, "new a"))
            .unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
