//! Canonical frames as Parquet: what `idrisk convert` writes and every command reads back,
//! the fast path for re-running detectors over an archive.

use std::fs::File;
use std::path::Path;

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;
use polars_arrow::array::{ArrayRef, Utf8ViewArray};
use polars_arrow::compute::aggregate::estimated_bytes_size;
use polars_parquet::write::{
    array_to_columns, compress, CompressedPage, CompressionOptions, Encoding, ParquetType,
    StatisticsOptions, Version, WriteOptions, ZstdLevel,
};

use super::{FileLoad, IngestError, Shape};
use crate::frame::{self, col};

/// Reads a canonical Parquet frame, checking every canonical column is there with its type.
/// Extra columns are ignored.
pub fn read_canonical_parquet(path: &Path) -> Result<DataFrame, IngestError> {
    read_projected(path, None)
}

/// Reads a canonical Parquet frame decoding only `columns` (and [`super::KEY_COLUMNS`]) when
/// given; the other canonical columns come back null. Every canonical column must still be in
/// the file with its type, so a projection never hides a file that is not canonical.
pub fn read_projected(path: &Path, columns: Option<&[&str]>) -> Result<DataFrame, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    // Polars maps the file: a truncation under it is reported naming the file.
    super::mapped::register(path, None);
    read_projected_from(ParquetReader::new(file), path, columns)
}

/// The rows `offset .. offset + length` of a canonical Parquet file as a load, every column
/// read: how a convert in parts reads a file larger than its batch.
pub(super) fn read_slice_as_load(
    path: &Path,
    (offset, length): (usize, usize),
) -> Result<FileLoad, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    super::mapped::register(path, None);
    let reader = ParquetReader::new(file).with_slice(Some((offset, length)));
    let frame = read_projected_from(reader, path, None)?;
    let invalid = invalid_rows(&frame)?;
    let mut load = as_load(frame, invalid, path, None)?;
    // Quarantined rows are named by their row in the file, not in the slice.
    for record in &mut load.quarantine {
        if let Some(row) = record.line {
            let in_file = row + offset as u64;
            record.line = Some(in_file);
            record.raw = record
                .raw
                .replacen(&format!("row {row} "), &format!("row {in_file} "), 1);
        }
    }
    Ok(load)
}

/// [`read_projected`] from any reader Polars takes; `path` names it in errors.
fn read_projected_from<R: polars::io::mmap::MmapBytesReader>(
    mut reader: ParquetReader<R>,
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<DataFrame, IngestError> {
    let not_canonical = |reason: String| IngestError::NotCanonical {
        path: path.to_path_buf(),
        reason,
    };
    let unreadable = |e: PolarsError| IngestError::Damaged {
        path: path.to_path_buf(),
        reason: format!("unreadable Parquet ({e})"),
    };
    let stored = reader.schema().map_err(unreadable)?;
    let schema = frame::schema();
    let wanted = |name: &str| {
        columns.is_none_or(|c| c.contains(&name) || super::KEY_COLUMNS.contains(&name))
    };
    for (name, dtype) in schema.iter() {
        let Some(field) = stored.get(name.as_str()) else {
            if frame::LATER_COLUMNS.contains(&name.as_str()) {
                continue;
            }
            return Err(not_canonical(format!("column '{name}' is missing")));
        };
        let found = DataType::from_arrow_field(field);
        if &found != dtype {
            return Err(not_canonical(format!(
                "column '{name}' is {found}, expected {dtype}"
            )));
        }
    }
    let names: Vec<String> = schema
        .iter_names()
        .filter(|n| wanted(n.as_str()) && stored.get(n.as_str()).is_some())
        .map(|n| n.to_string())
        .collect();
    let frame = reader
        .with_columns(Some(names))
        .finish()
        .map_err(unreadable)?;
    let height = frame.height();
    let mut out = Vec::with_capacity(schema.len());
    for (name, dtype) in schema.iter() {
        out.push(match frame.column(name) {
            Ok(column) => column.clone(),
            Err(_) => Column::full_null(name.clone(), height, dtype),
        });
    }
    Ok(DataFrame::new(height, out)?)
}

pub(super) fn read_as_load(path: &Path, columns: Option<&[&str]>) -> Result<FileLoad, IngestError> {
    // A file written before the later columns existed is read whole: its unread columns
    // could not be fetched from it later.
    let mut columns = columns.filter(|_| !lacks_later_columns(path).unwrap_or(true));
    let mut frame = read_projected(path, columns)?;
    let invalid = invalid_rows(&frame)?;
    if !invalid.is_empty() && columns.is_some() {
        // Rows are about to be dropped, so frame rows would no longer be file rows, which
        // is how unread columns are found: this file is read whole instead.
        frame = read_projected(path, None)?;
        columns = None;
    }
    as_load(frame, invalid, path, columns)
}

/// Leaves out of a projected load the rows of other shards' users (counted as skipped),
/// noting the file rows it keeps: the user columns are read for it alone.
pub(super) fn select_shard(
    path: &Path,
    load: &mut FileLoad,
    shard: crate::frame::shard::Shard,
) -> Result<(), IngestError> {
    let file = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    let users = ParquetReader::new(file)
        .with_columns(Some(vec![
            col::user_id.to_string(),
            col::user_principal_name.to_string(),
        ]))
        .finish()?;
    let ids = users.column(col::user_id)?.str()?;
    let names = users.column(col::user_principal_name)?.str()?;
    let owned: Vec<bool> = ids
        .iter()
        .zip(names.iter())
        .map(|(id, name)| shard.owns_row(id, name))
        .collect();
    let selected: Vec<u32> = (0..owned.len() as u32)
        .filter(|&r| owned[r as usize])
        .collect();
    let mut start = 0;
    for frame in &mut load.frames {
        let rows = &owned[start..(start + frame.height()).min(owned.len())];
        start += frame.height();
        let keep: BooleanChunked = rows.iter().map(|&k| Some(k)).collect();
        if keep.len() != frame.height() {
            return Err(IngestError::Damaged {
                path: path.to_path_buf(),
                reason: "the user columns have fewer rows than the file".into(),
            });
        }
        *frame = frame.filter(&keep)?;
    }
    load.skipped += (owned.len() - selected.len()) as u64;
    load.elsewhere += (owned.len() - selected.len()) as u64;
    load.selected = Some(selected.into());
    Ok(())
}

/// A canonical Parquet object fetched from storage, read whole (no projection: its unread
/// columns could not be fetched from it later).
pub(super) fn read_bytes_as_load(path: &Path, bytes: Vec<u8>) -> Result<FileLoad, IngestError> {
    let reader = ParquetReader::new(std::io::Cursor::new(bytes));
    let frame = read_projected_from(reader, path, None)?;
    let invalid = invalid_rows(&frame)?;
    as_load(frame, invalid, path, None)
}

/// A read frame as a file's load: invalid rows quarantined; with `columns`, the others are
/// marked unread.
fn as_load(
    mut frame: DataFrame,
    invalid: Vec<(usize, String)>,
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<FileLoad, IngestError> {
    let mut load = FileLoad::new(Shape::CanonicalParquet, false);
    if let Some(columns) = columns {
        load.unread = frame::COLUMNS
            .iter()
            .map(|c| c.name)
            .filter(|name| !columns.contains(name) && !super::KEY_COLUMNS.contains(name))
            .collect();
    }
    load.read = frame.height() as u64;
    if !invalid.is_empty() {
        let name = path.to_string_lossy();
        let ids = frame.column(col::request_id)?.str()?;
        let mut keep = vec![true; frame.height()];
        for (row, reason) in invalid {
            keep[row] = false;
            let raw = format!(
                "row {} request_id {:?}",
                row + 1,
                ids.get(row).unwrap_or("")
            );
            load.quarantine.push(super::Quarantined::new(
                &name,
                Some(row as u64 + 1),
                reason,
                raw.as_bytes(),
            ));
        }
        frame = frame.filter(&BooleanChunked::from_slice("keep".into(), &keep))?;
    }
    load.frames.push(frame);
    Ok(load)
}

/// True when the file lacks a column of [`frame::LATER_COLUMNS`].
fn lacks_later_columns(path: &Path) -> Result<bool, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let stored = ParquetReader::new(file)
        .schema()
        .map_err(|e| IngestError::Damaged {
            path: path.to_path_buf(),
            reason: format!("unreadable Parquet ({e})"),
        })?;
    Ok(frame::LATER_COLUMNS
        .iter()
        .any(|name| stored.get(name).is_none()))
}

/// Rows that break what the detectors rely on and every text reader guarantees: a time
/// within [`frame::MIN_TIME`]..=[`frame::MAX_TIME`], coordinates on Earth. `convert` never
/// writes such rows; a file written or edited by another tool can hold them. Each comes with
/// the reason it is quarantined. Only decoded columns are checked: time always, the
/// coordinates when the projection reads them.
fn invalid_rows(frame: &DataFrame) -> Result<Vec<(usize, String)>, IngestError> {
    let times = frame.column(col::time)?.datetime()?.physical().clone();
    // The first reason found for each row.
    let mut invalid: std::collections::BTreeMap<usize, String> = Default::default();
    if times.null_count() > 0
        || times.min().is_some_and(|t| t < frame::MIN_TIME)
        || times.max().is_some_and(|t| t > frame::MAX_TIME)
    {
        for (row, time) in times.iter().enumerate() {
            match time {
                None => {
                    invalid.insert(row, "missing time".into());
                }
                Some(t) if !(frame::MIN_TIME..=frame::MAX_TIME).contains(&t) => {
                    invalid.insert(
                        row,
                        format!("time out of range: {t} µs since 1970 is outside years 1 to 9999"),
                    );
                }
                Some(_) => {}
            }
        }
    }
    for (name, limit) in [(col::latitude, 90.0), (col::longitude, 180.0)] {
        let values = frame.column(name)?.f64()?;
        // NaN is off Earth too: no range contains it.
        let off_earth = |v: &f64| !(-limit..=limit).contains(v);
        if !values.iter().flatten().any(|v| off_earth(&v)) {
            continue;
        }
        for (row, value) in values.iter().enumerate() {
            if value.as_ref().is_some_and(off_earth) {
                invalid
                    .entry(row)
                    .or_insert_with(|| format!("{name} out of range: {value:?}"));
            }
        }
    }
    Ok(invalid.into_iter().collect())
}

/// How canonical Parquet pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    /// zstd level 1: the smallest files.
    #[default]
    Zstd,
    /// LZ4: faster to write and read, files about 1.8 times larger.
    Lz4,
    /// None.
    None,
}

impl Compression {
    fn options(self) -> PolarsResult<CompressionOptions> {
        Ok(match self {
            Compression::Zstd => CompressionOptions::Zstd(Some(ZstdLevel::try_new(1)?)),
            Compression::Lz4 => CompressionOptions::Lz4Raw,
            Compression::None => CompressionOptions::Uncompressed,
        })
    }
}

/// Writes a canonical frame as Parquet.
pub fn write_canonical_parquet(
    frame: &DataFrame,
    path: &Path,
    compression: Compression,
) -> Result<(), IngestError> {
    let _span = crate::trace::span("write parquet");
    let mut writer = CanonicalParquetWriter::create(path, compression)?;
    writer.write(frame)?;
    writer.finish()
}

/// Writes a load's rows as Parquet: its frame, or its rows left ungathered
/// ([`super::IngestOptions::late_gather`]), gathered column by column as they are encoded.
pub fn write_ingested_parquet(
    frame: &DataFrame,
    ordered: Option<super::Ordered>,
    path: &Path,
    compression: Compression,
) -> Result<(), IngestError> {
    let _span = crate::trace::span("write parquet");
    let mut writer = CanonicalParquetWriter::create(path, compression)?;
    match ordered {
        Some(rows) => writer.write_ordered(rows)?,
        None => writer.write(frame)?,
    }
    writer.finish()
}

/// Columns whose values are unique per row.
const UNIQUE_COLUMNS: &[&str] = &[col::request_id, col::correlation_id, col::session_id];

/// Rows per row group: small enough for readers to spread a file over every core, large
/// enough that a row group's dictionary pages hold each user and address once for many of
/// their sign-ins (a reader decodes every dictionary entry: ten million sign-ins of 25,000
/// users gave 2.6 million user entries at 2^16 rows per group, 0.24 million at 2^20, and the
/// addresses' 6.9 million entries became 3.0 million). 2^20 is also the Apache Arrow
/// writer's default. Unit tests use small groups, so that a small file has several.
pub const ROW_GROUP_ROWS: usize = if cfg!(test) { 1 << 12 } else { 1 << 20 };

/// One row group, encoded and compressed, waiting to be written.
pub struct RowGroup {
    rows: usize,
    pages: Vec<Vec<CompressedPage>>,
}

/// Writes canonical frames, one after another, into one Parquet file. Every
/// (row group, column) pair is encoded and compressed on its own rayon task; the file itself
/// is written in order, so the bytes never depend on the thread count.
pub struct CanonicalParquetWriter {
    path: std::path::PathBuf,
    writer: BatchedWriter<File>,
    fields: Vec<ParquetType>,
    encodings: Vec<Vec<Encoding>>,
    options: WriteOptions,
}

impl CanonicalParquetWriter {
    pub fn create(path: &Path, compression: Compression) -> Result<Self, IngestError> {
        let file = File::create(path).map_err(|e| IngestError::io(path, e))?;
        let schema = frame::schema();
        // Pages are compressed here, not by the Polars writer: its setting does not matter.
        let mut writer = ParquetWriter::new(file).batched(&schema)?;
        let fields = writer.parquet_schema().fields().to_vec();
        let mut encodings: Vec<Vec<Encoding>> =
            get_encodings(&schema.to_arrow(CompatLevel::newest()))
                .iter()
                .cloned()
                .collect();
        // Ids are unique per row: trying a dictionary for them is wasted work.
        for (encoding, name) in encodings.iter_mut().zip(schema.iter_names()) {
            if UNIQUE_COLUMNS.contains(&name.as_str()) {
                *encoding = vec![Encoding::Plain];
            }
        }
        Ok(CanonicalParquetWriter {
            path: path.to_path_buf(),
            writer,
            fields,
            encodings,
            options: WriteOptions {
                statistics: StatisticsOptions::default(),
                version: Version::V1,
                compression: compression.options()?,
                data_page_size: None,
            },
        })
    }

    /// Appends a canonical frame's rows.
    pub fn write(&mut self, frame: &DataFrame) -> Result<(), IngestError> {
        use rayon::prelude::*;
        let starts: Vec<usize> = (0..frame.height()).step_by(ROW_GROUP_ROWS).collect();
        let groups: Vec<PolarsResult<RowGroup>> = starts
            .par_iter()
            .map(|&start| self.encode(&frame.slice(start as i64, ROW_GROUP_ROWS)))
            .collect();
        for group in groups {
            self.write_encoded(group?)?;
        }
        Ok(())
    }

    /// Appends rows not yet gathered in order: each column is gathered just before it is
    /// encoded, the largest first on whichever thread is free, and its loaded copy dropped,
    /// so neither the ordered frame nor the loaded one is held whole beside the other. The
    /// bytes are those [`Self::write`] gives for the gathered frame.
    pub fn write_ordered(&mut self, rows: super::Ordered) -> Result<(), IngestError> {
        use rayon::prelude::*;
        let height = rows.height();
        let starts: Vec<usize> = (0..height).step_by(ROW_GROUP_ROWS).collect();
        let mut jobs: Vec<usize> = (0..rows.width()).collect();
        jobs.sort_by_cached_key(|&c| std::cmp::Reverse(rows.size(c)));
        let column_groups = |c: usize| -> PolarsResult<Vec<Vec<CompressedPage>>> {
            let array = rows
                .take(c)?
                .as_materialized_series()
                .rechunk()
                .to_arrow(0, CompatLevel::newest());
            starts
                .iter()
                .map(|&start| {
                    let length = ROW_GROUP_ROWS.min(height - start);
                    self.column_pages(&array.sliced(start, length), c)
                })
                .collect()
        };
        let mut encoded: Vec<(usize, PolarsResult<Vec<Vec<CompressedPage>>>)> = jobs
            .into_iter()
            .enumerate()
            .par_bridge()
            .map(|(k, c)| {
                // Loaded columns are let go as they are gathered: trimming after every fourth
                // hands their memory back, so the peak stays near the loaded frame (every
                // second gave the same peak and more page faults).
                if k % 4 == 3 {
                    super::release_freed_memory();
                }
                (c, column_groups(c))
            })
            .collect();
        drop(rows);
        encoded.sort_unstable_by_key(|(c, _)| *c);
        let mut groups: Vec<RowGroup> = starts
            .iter()
            .map(|&start| RowGroup {
                rows: ROW_GROUP_ROWS.min(height - start),
                pages: Vec::with_capacity(encoded.len()),
            })
            .collect();
        for (_, pages) in encoded {
            for (group, pages) in groups.iter_mut().zip(pages?) {
                group.pages.push(pages);
            }
        }
        for group in groups {
            self.write_encoded(group)?;
        }
        Ok(())
    }

    /// Encodes and compresses `frame` as one row group, its columns in parallel. Callable
    /// from many threads at once; [`Self::write_encoded`] then appends the groups in order.
    pub fn encode(&self, frame: &DataFrame) -> PolarsResult<RowGroup> {
        use rayon::prelude::*;
        let columns: Vec<ArrayRef> = frame
            .columns()
            .iter()
            .map(|c| {
                c.as_materialized_series()
                    .rechunk()
                    .to_arrow(0, CompatLevel::newest())
            })
            .collect();
        // The largest columns first, each taken by the next free thread, so that no thread is
        // left encoding a big column alone at the end; the pages go back in column order.
        let mut jobs: Vec<usize> = (0..columns.len()).collect();
        jobs.sort_by_cached_key(|&c| std::cmp::Reverse(estimated_bytes_size(columns[c].as_ref())));
        let mut encoded: Vec<(usize, PolarsResult<Vec<CompressedPage>>)> = jobs
            .into_iter()
            .par_bridge()
            .map(|c| (c, self.column_pages(&columns[c], c)))
            .collect();
        encoded.sort_unstable_by_key(|(c, _)| *c);
        let pages = encoded
            .into_iter()
            .map(|(_, pages)| pages)
            .collect::<PolarsResult<_>>()?;
        Ok(RowGroup {
            rows: frame.height(),
            pages,
        })
    }

    /// Appends an encoded row group.
    pub fn write_encoded(&mut self, group: RowGroup) -> Result<(), IngestError> {
        if group.rows > 0 {
            self.writer
                .write_row_group(group.rows as u64, &group.pages)?;
        }
        Ok(())
    }

    /// One column of one row group as compressed pages. A text column meant for a
    /// dictionary is handed to the encoder as one (see [`dictionary_of`]).
    fn column_pages(&self, array: &ArrayRef, column: usize) -> PolarsResult<Vec<CompressedPage>> {
        let options = self.options;
        let mut out = Vec::new();
        let mut encodings = self.encodings[column].as_slice();
        let dictionary = match (encodings, array.as_any().downcast_ref::<Utf8ViewArray>()) {
            ([Encoding::RleDictionary], Some(text)) => {
                let dictionary = dictionary_of(text)?;
                if dictionary.is_none() {
                    encodings = &[Encoding::Plain];
                }
                dictionary
            }
            _ => None,
        };
        let leaves = array_to_columns(
            dictionary.as_ref().map_or(array, |d| d),
            self.fields[column].clone(),
            options,
            encodings,
        )?;
        for leaf in leaves {
            for page in leaf {
                let page = compress(page?, Vec::new(), options.compression)
                    .map_err(|e| polars_err!(ComputeError: "compressing a Parquet page: {e}"))?;
                out.push(page);
            }
        }
        Ok(out)
    }

    /// Writes the footer and closes the file.
    pub fn finish(self) -> Result<(), IngestError> {
        self.writer
            .finish()
            .map_err(|e| IngestError::NotCanonical {
                path: self.path,
                reason: format!("finishing the Parquet file ({e})"),
            })?;
        Ok(())
    }
}

/// Rows after which [`dictionary_of`] stops looking rows up by view when most had a new one.
const VIEW_PROBE_ROWS: usize = 4096;

/// A text column as the dictionary the Parquet encoder would build from it (its distinct
/// values in order of first sight, and each row's key), or none when more than three
/// quarters of its rows are distinct (plain pages then, as the encoder decides). Rows are
/// looked up by their 16-byte view before their text: a column read from dictionary pages,
/// or built by the frame builder's repeat cache, repeats one view per
/// value, so most rows cost an integer hash, where the encoder hashed and compared every
/// row's text after estimating the column's cardinality (a fifth of a dataset convert's CPU).
/// The pages are the encoder's own: the same dictionary, the same keys.
fn dictionary_of(text: &Utf8ViewArray) -> PolarsResult<Option<ArrayRef>> {
    use ahash::AHashMap;
    use polars_arrow::array::{Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray};
    use polars_arrow::datatypes::{ArrowDataType, IntegerType};
    use std::collections::hash_map::Entry;

    let rows = text.len();
    let most = if rows > 128 { rows * 3 / 4 } else { rows };
    let mut by_text: AHashMap<&str, u32> = AHashMap::new();
    let mut values = MutableBinaryViewArray::<str>::new();
    // The key of a value, numbered in order of first sight; none once too many are distinct.
    let mut key_of = |value| {
        let next = by_text.len() as u32;
        let key = *by_text.entry(value).or_insert_with(|| {
            values.push_value(value);
            next
        });
        (by_text.len() <= most).then_some(key)
    };
    let mut by_view: Option<AHashMap<u128, u32>> = Some(AHashMap::new());
    let mut keys: Vec<u32> = Vec::with_capacity(rows);
    let validity = text.validity();
    for (row, view) in text.views().iter().enumerate() {
        // Where views hardly repeat (a column of many distinct values whose copies the text
        // builder's cache did not catch), looking them up first is only more work.
        if row == VIEW_PROBE_ROWS && by_view.as_ref().is_some_and(|v| 2 * v.len() > row) {
            by_view = None;
        }
        if validity.is_some_and(|v| !v.get_bit(row)) {
            keys.push(0);
            continue;
        }
        let key = match by_view.as_mut().map(|v| v.entry(view.as_u128())) {
            Some(Entry::Occupied(known)) => *known.get(),
            Some(Entry::Vacant(new)) => match key_of(text.value(row)) {
                Some(key) => *new.insert(key),
                None => return Ok(None),
            },
            None => match key_of(text.value(row)) {
                Some(key) => key,
                None => return Ok(None),
            },
        };
        keys.push(key);
    }
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), validity.cloned());
    let dtype = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::Utf8View),
        false,
    );
    let values: Utf8ViewArray = values.into();
    Ok(Some(
        DictionaryArray::try_new(dtype, keys, values.boxed())?.boxed(),
    ))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::frame::{FrameBuilder, Row};

    fn small_frame(rows: usize) -> DataFrame {
        let mut builder = FrameBuilder::with_capacity(rows);
        for k in 0..rows {
            builder.push(&Row {
                time: 1_740_787_200_000_000 + k as i64,
                request_id: Some(Cow::Owned(format!("req-{k:06}"))),
                user_id: Some(Cow::Borrowed("ada")),
                country: Some(Cow::Borrowed(["NO", "SE"][k % 2])),
                user_agent: Some(Cow::Borrowed("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")),
                asn: Some(2119),
                ..Row::default()
            });
        }
        builder.finish()
    }

    /// Text columns handed to the encoder as dictionaries give the pages its own dictionary
    /// encoding gives: rows sharing views (the text builder's repeats) or not (past the rows
    /// that decide to stop looking views up), nulls, and a column too varied for a dictionary.
    #[test]
    fn a_text_column_as_a_dictionary_gives_the_encoders_own_pages() {
        use polars_arrow::array::MutableBinaryViewArray;
        let dir = tempfile::tempdir().unwrap();
        let writer =
            CanonicalParquetWriter::create(&dir.path().join("x.parquet"), Compression::Zstd)
                .unwrap();
        let c = frame::schema().index_of(col::user_agent).unwrap();
        let value = |k: usize| match k % 3 {
            0 => format!("ua-{}", k % 40),
            _ => format!(
                "Mozilla/5.0 (agent number {}) long enough to be stored apart",
                k % 40
            ),
        };
        let rows = 3 * VIEW_PROBE_ROWS;
        let mut repeated = FrameBuilder::with_capacity(rows);
        let mut copied = MutableBinaryViewArray::<str>::new();
        let mut varied = MutableBinaryViewArray::<str>::new();
        for k in 0..rows {
            repeated.push(&Row {
                user_agent: (k % 7 != 3).then(|| Cow::Owned(value(k))),
                ..Row::default()
            });
            copied.push((k % 11 != 5).then(|| value(k)));
            varied.push_value(format!("address {k}"));
        }
        let repeated = repeated.finish()[col::user_agent]
            .as_materialized_series()
            .rechunk()
            .to_arrow(0, CompatLevel::newest());
        let copied: Utf8ViewArray = copied.into();
        let varied: Utf8ViewArray = varied.into();
        for (array, dictionary) in [
            (repeated, true),
            (copied.boxed(), true),
            (varied.boxed(), false),
        ] {
            let text = array.as_any().downcast_ref::<Utf8ViewArray>().unwrap();
            assert_eq!(dictionary_of(text).unwrap().is_some(), dictionary);
            let own: Vec<CompressedPage> = array_to_columns(
                &array,
                writer.fields[c].clone(),
                writer.options,
                &[Encoding::RleDictionary],
            )
            .unwrap()
            .into_iter()
            .flatten()
            .map(|page| compress(page.unwrap(), Vec::new(), writer.options.compression).unwrap())
            .collect();
            let ours = writer.column_pages(&array, c).unwrap();
            assert_eq!(format!("{ours:?}"), format!("{own:?}"));
        }
    }

    #[test]
    fn a_slice_reads_its_rows_and_names_a_bad_row_by_its_row_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slices.parquet");
        let mut builder = FrameBuilder::with_capacity(100);
        for k in 0..100usize {
            builder.push(&Row {
                time: 1_740_787_200_000_000 + k as i64,
                request_id: Some(Cow::Owned(format!("req-{k:06}"))),
                // Row 71 of the file is off the Earth.
                latitude: Some(if k == 70 { 123.0 } else { 59.9 }),
                ..Row::default()
            });
        }
        write_canonical_parquet(&builder.finish(), &path, Compression::Zstd).unwrap();
        let load = read_slice_as_load(&path, (60, 30)).unwrap();
        assert_eq!(load.read, 30);
        let rows: usize = load.frames.iter().map(|f| f.height()).sum();
        assert_eq!(rows, 29);
        let ids = load.frames[0].column(col::request_id).unwrap();
        assert_eq!(ids.str().unwrap().get(0), Some("req-000060"));
        assert_eq!(load.quarantine.len(), 1);
        assert_eq!(load.quarantine[0].line, Some(71));
        assert!(
            load.quarantine[0].raw.starts_with("row 71 "),
            "{}",
            load.quarantine[0].raw
        );
    }

    #[test]
    fn frames_written_in_parallel_row_groups_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        // More than one row group, and two writes.
        let frame = small_frame(ROW_GROUP_ROWS + 10);
        let mut writer = CanonicalParquetWriter::create(&path, Compression::Zstd).unwrap();
        writer.write(&frame.slice(0, 100)).unwrap();
        writer.write(&frame.slice(100, frame.height())).unwrap();
        writer.finish().unwrap();
        let back = read_canonical_parquet(&path).unwrap();
        assert!(back.equals_missing(&frame));
    }

    #[test]
    fn rows_gathered_as_they_are_written_give_the_bytes_of_the_gathered_frame() {
        use crate::ingest::{load_files, IngestOptions};
        let dir = tempfile::tempdir().unwrap();
        // Two files out of time order, over several row groups; every third sign-in of the
        // first is repeated in the second with its country and agent missing and an address
        // the first lacks, so the kept copies take cells from the others.
        let rows = 2 * ROW_GROUP_ROWS + 100;
        let write = |name: &str, keep: &dyn Fn(usize) -> bool, copy: bool| {
            let mut builder = FrameBuilder::with_capacity(rows);
            for k in (0..rows).rev().filter(|&k| keep(k)) {
                builder.push(&Row {
                    time: 1_740_787_200_000_000 + (k as i64 / 3) * 1_000_000,
                    request_id: Some(Cow::Owned(format!("req-{k:06}"))),
                    user_id: Some(Cow::Owned(format!("user-{}", k % 17))),
                    country: (!copy).then_some(Cow::Borrowed(["NO", "SE"][k % 2])),
                    user_agent: (!copy).then_some(Cow::Borrowed("Mozilla/5.0 (X11; Linux)")),
                    ip_address: copy.then(|| Cow::Owned(format!("203.0.113.{}", k % 250))),
                    asn: Some(2119),
                    ..Row::default()
                });
            }
            let path = dir.path().join(name);
            write_canonical_parquet(&builder.finish(), &path, Compression::Zstd).unwrap();
            path
        };
        let files = vec![
            write("a.parquet", &|_| true, false),
            write("b.parquet", &|k| k % 3 == 0, true),
        ];
        let written = |late: bool| {
            let mut options = IngestOptions::new(crate::rules::Rules::builtin().outcome_codes());
            options.late_gather = late;
            let mut ingested = load_files(&files, &options).unwrap();
            assert_eq!(ingested.totals.duplicates, (rows as u64).div_ceil(3));
            let ordered = ingested.ordered.take();
            assert_eq!(ordered.is_some(), late);
            assert_eq!(ingested.frame.width() == 0, late);
            let path = dir.path().join(format!("out-{late}.parquet"));
            write_ingested_parquet(&ingested.frame, ordered, &path, Compression::Zstd).unwrap();
            std::fs::read(path).unwrap()
        };
        let late = written(true);
        assert_eq!(late, written(false));
        let back = read_canonical_parquet(&dir.path().join("out-true.parquet")).unwrap();
        assert_eq!(back.height(), rows);
        // The kept copies (the first file's, more cells filled) took the address.
        assert_eq!(
            back.column(col::ip_address).unwrap().null_count(),
            rows - rows.div_ceil(3)
        );
        assert_eq!(back.column(col::country).unwrap().null_count(), 0);
    }

    #[test]
    fn a_file_written_before_the_later_columns_reads_them_as_null_projected_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.parquet");
        let mut old = small_frame(50);
        for name in frame::LATER_COLUMNS {
            old.drop_in_place(name).unwrap();
        }
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut old)
            .unwrap();
        let whole = read_canonical_parquet(&path).unwrap();
        assert_eq!(whole.schema(), &frame::schema().into());
        assert_eq!(whole.column(col::mfa_denials).unwrap().null_count(), 50);
        // A projected load reads such a file whole: its unread columns could not be
        // fetched from it later.
        let load = read_as_load(&path, Some(&[col::country])).unwrap();
        assert!(load.unread.is_empty());
        assert_eq!(
            load.frames[0].column(col::user_agent).unwrap().null_count(),
            0
        );
        // A column missing that was always canonical still makes the file not canonical.
        let mut older = small_frame(5);
        older.drop_in_place(col::browser).unwrap();
        let bad = dir.path().join("bad.parquet");
        ParquetWriter::new(File::create(&bad).unwrap())
            .finish(&mut older)
            .unwrap();
        let err = read_canonical_parquet(&bad).unwrap_err().to_string();
        assert!(err.contains("'browser' is missing"), "{err}");
    }

    #[test]
    fn a_projection_decodes_only_what_is_asked_and_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let frame = small_frame(50);
        write_canonical_parquet(&frame, &path, Compression::Lz4).unwrap();
        let projected = read_projected(&path, Some(&[col::country])).unwrap();
        assert_eq!(projected.schema(), frame.schema());
        assert!(projected
            .column(col::country)
            .unwrap()
            .equals(frame.column(col::country).unwrap()));
        assert_eq!(projected.column(col::time).unwrap().null_count(), 0);
        assert_eq!(projected.column(col::user_id).unwrap().null_count(), 50);
        assert_eq!(projected.column(col::request_id).unwrap().null_count(), 50);
        assert_eq!(projected.column(col::user_agent).unwrap().null_count(), 50);
        assert_eq!(projected.column(col::asn).unwrap().null_count(), 50);
    }

    #[test]
    fn a_projection_still_rejects_a_file_that_is_not_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let mut frame = small_frame(5).drop(col::user_agent).unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut frame)
            .unwrap();
        let err = read_projected(&path, Some(&[col::country])).unwrap_err();
        assert!(err.to_string().contains("user_agent"), "{err}");
    }
}
