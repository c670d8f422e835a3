//! Columns a load left unread, fetched later for the few rows that need them.
//!
//! A scoring pass reads most canonical columns for every row, but some (correlation id,
//! display name, user agent…) only for the sign-ins it reports: a tenth of a million rows of
//! ten million. Canonical Parquet lets a load decode only the columns asked for; the others
//! stay null in the frame and [`Unread::fetch`] decodes them later, row group by row group,
//! for the rows asked (pages are still read, but no ten-million-row column is built), while
//! [`Unread::codes`] hands columns of few distinct values over as dictionary codes. Other
//! shapes are parsed whole, so their rows always hold every column.

use std::fs::File;
use std::io::Cursor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::{DictionaryArray, Utf8ViewArray};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::{ArrowDataType, Field as ArrowField, IntegerType};
use polars_buffer::Buffer;
use polars_parquet::read::{
    column_iter_to_arrays, read_metadata, BasicDecompressor, Filter, PageReader,
};
use rayon::prelude::*;

use super::IngestError;
use crate::frame::address::Keys;
use crate::frame::{col, first_seen_sized, rank_together, stretches, texts_at, TextCodes};

/// One load's rows in the frame, and the file their unread columns are fetched from.
#[derive(Debug, Clone)]
struct Part {
    rows: Range<usize>,
    /// The canonical Parquet file, when the load left columns unread.
    parquet: Option<PathBuf>,
    /// The file rows the part holds (ascending), when not all (a shard's load).
    selected: Option<Arc<[u32]>>,
}

impl Part {
    /// The file row of the part's `k`-th row.
    fn file_row(&self, k: usize) -> usize {
        self.selected.as_ref().map_or(k, |s| s[k] as usize)
    }
}

/// A load's frame rows, its Parquet file when it left columns unread, and the file rows it
/// holds when not all.
pub(super) type LoadPart = (Range<usize>, Option<PathBuf>, Option<Arc<[u32]>>);

/// Which columns a load left unread, and where each frame row's values are.
#[derive(Debug, Clone, Default)]
pub struct Unread {
    columns: Vec<&'static str>,
    parts: Vec<Part>,
    /// When the rows moved after the load: each frame row's row in the load's order (what
    /// `parts` describe). Only loads whose every part is in a file are reordered so.
    order: Option<Arc<[IdxSize]>>,
}

impl Unread {
    /// Nothing unread: every column of every row is in the frame.
    pub fn none() -> Self {
        Unread::default()
    }

    /// `parts`: each load's frame rows, with its Parquet file when it left `columns` unread.
    /// A part's selection: the file rows it holds, when not all.
    pub(super) fn new(columns: Vec<&'static str>, parts: Vec<LoadPart>) -> Self {
        let parts: Vec<Part> = parts
            .into_iter()
            .map(|(rows, parquet, selected)| Part {
                rows,
                parquet,
                selected,
            })
            .collect();
        if columns.is_empty() || parts.iter().all(|p| p.parquet.is_none()) {
            return Unread::none();
        }
        Unread {
            columns,
            parts,
            order: None,
        }
    }

    /// True when every part's unread columns are in a file (none was read whole into the
    /// frame): the rows may then move, see [`Unread::reordered`].
    pub(super) fn all_in_files(&self) -> bool {
        // Parts without rows (files a shard passed over) hold nothing to fetch.
        let with_rows = || self.parts.iter().filter(|p| !p.rows.is_empty());
        with_rows().next().is_some() && with_rows().all(|p| p.parquet.is_some())
    }

    /// This load's unread columns after its rows moved: frame row `r` is the load's row
    /// `order[r]`. Requires [`Unread::all_in_files`].
    pub(super) fn reordered(mut self, order: Arc<[IdxSize]>) -> Unread {
        if !self.columns.is_empty() {
            self.order = Some(order);
        }
        self
    }

    /// A column's codes per row: those of an unread column come in the load's order,
    /// gathered here into the frame's.
    fn moved(&self, column: &str, index: Vec<u32>) -> Vec<u32> {
        match &self.order {
            Some(order) if self.is_unread(column) => {
                order.par_iter().map(|&o| index[o as usize]).collect()
            }
            _ => index,
        }
    }

    /// True when some rows of `column` were left unread.
    pub fn is_unread(&self, column: &str) -> bool {
        self.columns.contains(&column)
    }

    /// The columns left unread.
    pub fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    /// A text column's values at frame `rows` (ascending, distinct), in that order: read from
    /// the frame where it holds them, from the Parquet file where the load left them unread.
    pub fn fetch(
        &self,
        frame: &DataFrame,
        column: &str,
        rows: &[usize],
    ) -> Result<Vec<Option<String>>, IngestError> {
        let in_frame = frame.column(column)?.str()?;
        let from_frame = |rows: &[usize]| -> Vec<Option<String>> {
            texts_at(in_frame, rows)
                .into_iter()
                .map(|v| v.map(String::from))
                .collect()
        };
        if !self.is_unread(column) {
            return Ok(from_frame(rows));
        }
        if let Some(order) = &self.order {
            // The load's rows of these, ascending, fetched, then put back in place.
            let mut at: Vec<(usize, usize)> = rows
                .iter()
                .enumerate()
                .map(|(k, &r)| (order[r] as usize, k))
                .collect();
            at.sort_unstable();
            let load_rows: Vec<usize> = at.iter().map(|&(o, _)| o).collect();
            let unmoved = Unread {
                order: None,
                ..self.clone()
            };
            let values = unmoved.fetch(frame, column, &load_rows)?;
            let mut out = vec![None; rows.len()];
            for ((_, k), value) in at.into_iter().zip(values) {
                out[k] = value;
            }
            return Ok(out);
        }
        let mut out = Vec::with_capacity(rows.len());
        for part in &self.parts {
            let from = rows.partition_point(|&r| r < part.rows.start);
            let to = rows.partition_point(|&r| r < part.rows.end);
            let wanted = &rows[from..to];
            match &part.parquet {
                Some(path) => {
                    let file_rows: Vec<usize> = wanted
                        .iter()
                        .map(|&r| part.file_row(r - part.rows.start))
                        .collect();
                    out.extend(read_text_rows(path, column, &file_rows)?);
                }
                None => out.extend(from_frame(wanted)),
            }
        }
        Ok(out)
    }

    /// A text column of few distinct values as codes, for every frame row: where the load
    /// left it unread, straight from the Parquet file's dictionary pages (no text per row is
    /// built), else from the frame. The address column's codes are in address order, as
    /// everywhere (see [`crate::frame::address`]).
    pub fn codes(&self, frame: &DataFrame, column: &str) -> Result<TextCodes, IngestError> {
        if column == col::ip_address {
            return self.address_codes(frame);
        }
        let pieces = self.pieces(frame, column)?;
        let (distinct, index) = merge_pieces(&pieces, frame.height(), |p, entry| {
            pieces[p].values.value(entry)
        });
        Ok(TextCodes {
            distinct: distinct.into_iter().map(String::from).collect(),
            index: self.moved(column, index),
        })
    }

    /// The address column as codes in address order, read like other codes: each distinct
    /// address of a row group is parsed once.
    fn address_codes(&self, frame: &DataFrame) -> Result<TextCodes, IngestError> {
        let pieces = self.pieces(frame, col::ip_address)?;
        // Each dictionary entry's key, parsed once.
        let (keys, keyed) = Keys::of_lists(&pieces, |p| p.values.values_iter());
        let (distinct, index) = merge_pieces(&pieces, frame.height(), |p, entry| keyed[p][entry]);
        Ok(keys.codes(&distinct, self.moved(col::ip_address, index)))
    }

    /// A text column as pieces of codes, part by part of the frame.
    fn pieces(&self, frame: &DataFrame, column: &str) -> Result<Vec<Piece>, IngestError> {
        let in_frame = frame.column(column)?.str()?;
        let mut pieces: Vec<Piece> = Vec::new();
        if self.is_unread(column) {
            for part in &self.parts {
                match &part.parquet {
                    Some(path) => {
                        let read = read_codes(path, column)?;
                        match &part.selected {
                            Some(selected) => pieces.extend(select_pieces(read, selected)),
                            None => pieces.extend(read),
                        }
                    }
                    None => pieces.push(Piece::of_text(
                        &in_frame.slice(part.rows.start as i64, part.rows.len()),
                    )),
                }
            }
        } else {
            pieces.push(Piece::of_text(in_frame));
        }
        Ok(pieces)
    }

    /// Reads every unread column whole into `frame`, for passes that need every value: ranking
    /// copies of a sign-in, reordering the rows.
    pub(super) fn read_into(&self, frame: &mut DataFrame) -> Result<(), IngestError> {
        for &name in &self.columns {
            self.read_whole_into(frame, name)?;
        }
        Ok(())
    }

    /// Reads one column whole into `frame` if it was unread; it is unread no more.
    pub(super) fn read_column_into(
        &mut self,
        frame: &mut DataFrame,
        column: &str,
    ) -> Result<(), IngestError> {
        if !self.is_unread(column) {
            return Ok(());
        }
        self.read_whole_into(frame, column)?;
        self.columns.retain(|&c| c != column);
        if self.columns.is_empty() {
            *self = Unread::none();
        }
        Ok(())
    }

    fn read_whole_into(&self, frame: &mut DataFrame, name: &str) -> Result<(), IngestError> {
        let dtype = frame.column(name)?.dtype().clone();
        let mut whole = Column::new_empty(name.into(), &dtype);
        for part in &self.parts {
            let slice = match &part.parquet {
                Some(path) => {
                    let column = read_whole(path, name)?;
                    match &part.selected {
                        Some(selected) => {
                            let rows = IdxCa::from_vec("rows".into(), selected.to_vec());
                            column.take(&rows)?
                        }
                        None => column,
                    }
                }
                None => frame
                    .column(name)?
                    .slice(part.rows.start as i64, part.rows.len()),
            };
            whole.append(&slice)?;
        }
        if let Some(order) = &self.order {
            whole = whole.take(&IdxCa::from_vec("order".into(), order.to_vec()))?;
        }
        frame.replace(name, whole)?;
        Ok(())
    }
}

/// Pieces covering every row of a file, cut down to the `selected` rows (ascending).
fn select_pieces(pieces: Vec<Piece>, selected: &[u32]) -> Vec<Piece> {
    let mut next = selected.iter().copied().peekable();
    let mut start = 0u32;
    pieces
        .into_iter()
        .map(|piece| {
            let end = start + piece.keys.len() as u32;
            let mut keys = Vec::new();
            while let Some(row) = next.next_if(|&r| r < end) {
                keys.push(piece.keys[(row - start) as usize]);
            }
            start = end;
            Piece {
                values: piece.values,
                keys,
            }
        })
        .collect()
}

/// One column of a Parquet file, whole.
fn read_whole(path: &Path, column: &str) -> Result<Column, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let frame = ParquetReader::new(file)
        .with_columns(Some(vec![column.to_string()]))
        .finish()?;
    Ok(frame.column(column)?.clone())
}

/// A text column of a Parquet file at `rows` (ascending, distinct), decoding in each row
/// group that holds one of them only the rows asked for.
fn read_text_rows(
    path: &Path,
    column: &str,
    rows: &[usize],
) -> Result<Vec<Option<String>>, IngestError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    each_row_group(path, column, |file, group, start| {
        let wanted = &rows[rows.partition_point(|&r| r < start)
            ..rows.partition_point(|&r| r < start + group.num_rows())];
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut mask = MutableBitmap::from_len_zeroed(group.num_rows());
        for &r in wanted {
            mask.set(r - start, true);
        }
        let values = read_group_rows(file, group, column, mask)?;
        if values.len() != wanted.len() {
            polars_bail!(ComputeError: "fewer rows than the file says");
        }
        Ok(values)
    })
}

/// Runs `decode(file, row group, its first row)` over a Parquet file's row groups in
/// parallel and concatenates what each gives, in file order.
fn each_row_group<T: Send>(
    path: &Path,
    column: &str,
    decode: impl Fn(&Mapped, &polars_parquet::read::RowGroupMetadata, usize) -> PolarsResult<Vec<T>>
        + Sync,
) -> Result<Vec<T>, IngestError> {
    let mut file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let metadata = read_metadata(&mut file)?;
    let file = Mapped::new(&file, path).map_err(|e| IngestError::io(path, e))?;
    let mut starts = Vec::with_capacity(metadata.row_groups.len());
    let mut start = 0;
    for group in &metadata.row_groups {
        starts.push(start);
        start += group.num_rows();
    }
    let parts: Vec<Vec<T>> = metadata
        .row_groups
        .par_iter()
        .zip(starts)
        .map(|(group, start)| {
            decode(&file, group, start).map_err(|e| IngestError::NotCanonical {
                path: path.to_path_buf(),
                reason: format!("column '{column}': {e}"),
            })
        })
        .collect::<Result<_, IngestError>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// The rows of one row group's column chunk that `mask` selects, as text.
fn read_group_rows(
    file: &Mapped,
    group: &polars_parquet::read::RowGroupMetadata,
    column: &str,
    mask: MutableBitmap,
) -> PolarsResult<Vec<Option<String>>> {
    let field = ArrowField::new(column.into(), ArrowDataType::Utf8View, true);
    let arrays = decode_chunk(file, group, field, Some(Filter::Mask(mask.into())))?;
    let mut values = Vec::new();
    for array in &arrays {
        let text = array
            .as_any()
            .downcast_ref::<Utf8ViewArray>()
            .ok_or_else(|| polars_err!(ComputeError: "not a text column"))?;
        values.extend(text.iter().map(|v| v.map(String::from)));
    }
    Ok(values)
}

/// A Parquet file mapped into memory. Column chunks are decoded from the page cache where
/// they lie: reading them into fresh memory first would touch (and have the kernel zero and
/// fill) a page for every 4 KiB of a column, hundreds of megabytes for the id columns of a
/// month, where mapped file pages come in batches and are never copied.
struct Mapped(std::sync::Arc<memmap2::Mmap>);

impl Mapped {
    fn new(file: &File, path: &Path) -> std::io::Result<Mapped> {
        // SAFETY: the map is only read. A file truncated under it raises SIGBUS on the next
        // read of a lost page, which the handler registered here turns into an error naming
        // the file (see `super::mapped`).
        let map = unsafe { memmap2::Mmap::map(file)? };
        let start = map.as_ptr() as usize;
        super::mapped::register(path, Some(start..start + map.len()));
        Ok(Mapped(std::sync::Arc::new(map)))
    }

    /// The bytes of `range` as a buffer that keeps the map alive; an error when the file is
    /// shorter than its metadata says.
    fn range(&self, range: Range<u64>) -> PolarsResult<Buffer<u8>> {
        let (start, end) = (range.start as usize, range.end as usize);
        if start > end || end > self.0.len() {
            polars_bail!(ComputeError: "a column chunk lies beyond the end of the file");
        }
        Ok(Buffer::from_owner(MappedRange {
            map: self.0.clone(),
            range: start..end,
        }))
    }
}

/// A range of a mapped file, owned: what a [`Buffer`] of it holds on to.
struct MappedRange {
    map: std::sync::Arc<memmap2::Mmap>,
    range: Range<usize>,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.range.clone()]
    }
}

/// A run of rows as codes into its own small dictionary.
struct Piece {
    /// The dictionary (a row group's dictionary page, or the distinct texts of a run).
    values: Utf8ViewArray,
    /// Per row, an index into `values`, or [`TextCodes::NULL`].
    keys: Vec<u32>,
}

impl Piece {
    /// A text column's rows, interned.
    fn of_text(text: &StringChunked) -> Piece {
        let (values, keys) = first_seen_sized(text.iter(), text.len());
        Piece {
            values: Utf8ViewArray::from_slice_values(&values),
            keys,
        }
    }
}

/// The pieces' dictionaries merged into one, each entry keyed by `key(piece, entry)`: the
/// distinct keys, sorted, and every row's index into them.
///
/// Row groups repeat most of each other's dictionary (a user signs in in many of them), so
/// the dictionaries hold far more entries than there are distinct values: runs of pieces
/// are first interned on their own threads, and only their distinct keys are merged.
fn merge_pieces<K>(
    pieces: &[Piece],
    rows: usize,
    key: impl Fn(usize, usize) -> K + Sync,
) -> (Vec<K>, Vec<u32>)
where
    K: Copy + Ord + std::hash::Hash + Send + Sync,
{
    let runs = (2 * rayon::current_num_threads()).clamp(1, pieces.len().max(1));
    let per_run = pieces.len().div_ceil(runs).max(1);
    // Per run: its distinct keys, and its pieces' dictionary entries, end to end, as
    // indices into them.
    let interned: Vec<(Vec<K>, Vec<u32>)> = pieces
        .par_chunks(per_run)
        .enumerate()
        .map(|(k, run)| {
            let key = &key;
            let first = k * per_run;
            let entries = run.iter().map(|p| p.values.len()).sum();
            let values = (first..first + run.len())
                .flat_map(|p| (0..pieces[p].values.len()).map(move |entry| Some(key(p, entry))));
            first_seen_sized(values, entries)
        })
        .collect();
    let lists: Vec<&[K]> = interned.iter().map(|(seen, _)| seen.as_slice()).collect();
    let (distinct, run_ranks) = rank_together(&lists);
    // Each piece's dictionary entries as global ranks.
    let global: Vec<Vec<u32>> = pieces
        .par_chunks(per_run)
        .zip(&interned)
        .zip(&run_ranks)
        .flat_map_iter(|((run, (_, entries)), rank)| {
            let mut entries = entries.iter();
            run.iter()
                .map(|piece| {
                    entries
                        .by_ref()
                        .take(piece.values.len())
                        .map(|&k| rank[k as usize])
                        .collect::<Vec<u32>>()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // Every piece writes its rows' keys into its own stretch of one index.
    let mut index = vec![TextCodes::NULL; rows];
    let stretches = stretches(&mut index, pieces.iter().map(|p| p.keys.len()));
    pieces
        .par_iter()
        .zip(&global)
        .zip(stretches)
        .for_each(|((piece, global), stretch)| {
            for (out, &k) in stretch.iter_mut().zip(&piece.keys) {
                if k != TextCodes::NULL {
                    *out = global[k as usize];
                }
            }
        });
    (distinct, index)
}

/// A text column of a Parquet file as codes, a piece per row group, row groups decoded in
/// parallel. Dictionary pages give the codes without text per row; a row group whose pages
/// are not all dictionary-encoded (another writer's fallback) is decoded as text and
/// interned.
fn read_codes(path: &Path, column: &str) -> Result<Vec<Piece>, IngestError> {
    each_row_group(path, column, |file, group, _| {
        let pieces = match read_group_codes(file, group, column) {
            Ok(pieces) => pieces,
            Err(_) => {
                let all = MutableBitmap::from_len_set(group.num_rows());
                let text = read_group_rows(file, group, column, all)?;
                let text = StringChunked::from_iter_options(column.into(), text.into_iter());
                vec![Piece::of_text(&text)]
            }
        };
        if pieces.iter().map(|p| p.keys.len()).sum::<usize>() != group.num_rows() {
            polars_bail!(ComputeError: "fewer rows than the row group says");
        }
        Ok(pieces)
    })
}

/// One row group's column chunk decoded from its dictionary: the dictionary's values and
/// each row's key. Fails when a data page is not dictionary-encoded.
fn read_group_codes(
    file: &Mapped,
    group: &polars_parquet::read::RowGroupMetadata,
    column: &str,
) -> PolarsResult<Vec<Piece>> {
    // Marked as a Polars categorical, the decoder keeps the dictionary and the keys as they
    // are in the file instead of building each row's text.
    let metadata = std::collections::BTreeMap::from([(
        polars_arrow::datatypes::DTYPE_CATEGORICAL_NEW.into(),
        "".into(),
    )]);
    let dtype = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::Utf8View),
        false,
    );
    let field = ArrowField::new(column.into(), dtype, true).with_metadata(metadata);
    let arrays = decode_chunk(file, group, field, None)?;
    let mut pieces = Vec::with_capacity(arrays.len());
    for array in &arrays {
        let array = array
            .as_any()
            .downcast_ref::<DictionaryArray<u32>>()
            .ok_or_else(|| polars_err!(ComputeError: "not a dictionary"))?;
        let values = array
            .values()
            .as_any()
            .downcast_ref::<Utf8ViewArray>()
            .ok_or_else(|| polars_err!(ComputeError: "not a text dictionary"))?;
        let keys = array
            .keys()
            .iter()
            .map(|k| k.map_or(TextCodes::NULL, |&k| k))
            .collect();
        pieces.push(Piece {
            values: values.clone(),
            keys,
        });
    }
    Ok(pieces)
}

/// One row group's chunk of the flat column `field` names, read from the file and decoded
/// as `field`'s type, keeping the rows `filter` selects.
fn decode_chunk(
    file: &Mapped,
    group: &polars_parquet::read::RowGroupMetadata,
    field: ArrowField,
    filter: Option<Filter>,
) -> PolarsResult<Vec<Box<dyn polars_arrow::array::Array>>> {
    let name = field.name.clone();
    let mut chunks = group
        .columns_under_root_iter(&name)
        .ok_or_else(|| polars_err!(ColumnNotFound: "{name}"))?;
    let (Some(chunk), None) = (chunks.next(), chunks.next()) else {
        polars_bail!(ComputeError: "not a flat text column");
    };
    let bytes = file.range(chunk.byte_range())?;
    let pages = PageReader::new(Cursor::new(bytes), chunk, vec![], usize::MAX);
    let (arrays, _) = column_iter_to_arrays(
        vec![BasicDecompressor::new(pages, vec![])],
        vec![&chunk.descriptor().descriptor.primitive_type],
        field,
        filter,
    )?;
    Ok(arrays)
}

impl crate::frame::FetchRows for Unread {
    fn fetch(
        &self,
        frame: &DataFrame,
        column: &str,
        rows: &[usize],
    ) -> Result<Vec<Option<String>>, String> {
        Unread::fetch(self, frame, column, rows).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::frame::{col, FrameBuilder, Row, UserKeys};
    use crate::ingest::parquet::ROW_GROUP_ROWS;
    use crate::ingest::{load_files, write_canonical_parquet, Compression, IngestOptions};

    /// Three row groups; correlation ids unique (plain pages), user agents recurring
    /// (dictionary pages), some of each null.
    fn write(path: &Path, rows: usize, first: usize) {
        write_with(path, rows, first, true);
    }

    /// `agents`: the rows carry user agents (a copy without them has fewer filled columns).
    fn write_with(path: &Path, rows: usize, first: usize, agents: bool) {
        let mut builder = FrameBuilder::with_capacity(rows);
        let source = path.to_string_lossy().into_owned();
        for k in first..first + rows {
            builder.push(&Row {
                time: 1_740_787_200_000_000 + k as i64,
                request_id: Some(Cow::Owned(format!("req-{k:07}"))),
                correlation_id: (k % 5 != 0).then(|| Cow::Owned(format!("corr-{k:07}"))),
                user_id: Some(Cow::Owned(format!("user-{}", k % 11))),
                user_agent: (agents && k % 7 != 0).then(|| Cow::Owned(format!("agent {}", k % 13))),
                ip_address: address(k).map(Cow::Owned),
                source_file: Some(Cow::Owned(source.clone())),
                source_line: Some(k as u64),
                ..Row::default()
            });
        }
        write_canonical_parquet(&builder.finish(), path, Compression::Zstd).unwrap();
    }

    /// Recurring IPv4 and IPv6 addresses and nulls, except in the second row group, where
    /// every address is new (too many for a dictionary page).
    fn address(k: usize) -> Option<String> {
        if (ROW_GROUP_ROWS..2 * ROW_GROUP_ROWS).contains(&k) {
            return Some(format!("10.{}.{}.{}", k >> 16, (k >> 8) & 255, k & 255));
        }
        match k % 9 {
            0 => None,
            1 | 2 => Some(format!("2001:db8::{:x}", k % 17)),
            _ => Some(format!("192.0.{}.{}", k % 3, k % 200)),
        }
    }

    fn load(paths: &[PathBuf], projected: bool) -> crate::ingest::Ingested {
        let mut options = IngestOptions::new(crate::rules::Rules::builtin().outcome_codes());
        if projected {
            options.columns = Some(vec![col::time, col::ip_address]);
        }
        load_files(paths, &options).unwrap()
    }

    fn texts(frame: &DataFrame, column: &str, rows: &[usize]) -> Vec<Option<String>> {
        let values = frame.column(column).unwrap().str().unwrap();
        rows.iter()
            .map(|&r| values.get(r).map(String::from))
            .collect()
    }

    /// Two files, the first of three row groups: `(dir, [a, b], rows of a)`.
    fn two_files() -> (tempfile::TempDir, [PathBuf; 2], usize) {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        let n = 2 * ROW_GROUP_ROWS + 100;
        write(&a, n, 0);
        write(&b, 50, n);
        (dir, [a, b], n)
    }

    #[test]
    fn unread_columns_fetched_by_row_equal_the_columns_read_whole() {
        let (_dir, files, n) = two_files();
        let whole = load(&files, false);
        let projected = load(&files, true);
        assert!(whole.unread.columns().is_empty());
        assert!(projected.unread.is_unread(col::correlation_id));
        assert!(projected.unread.is_unread(col::user_agent));
        // The two files follow each other in (time, id) order: no copies are possible, so even
        // the ids stay in the files.
        assert!(projected.unread.is_unread(col::request_id));
        assert_eq!(
            projected
                .frame
                .column(col::user_agent)
                .unwrap()
                .null_count(),
            n + 50
        );
        // Either side of every row-group and file boundary, and rows of no interest between.
        let rows = [
            0,
            5,
            7,
            ROW_GROUP_ROWS - 1,
            ROW_GROUP_ROWS,
            2 * ROW_GROUP_ROWS + 99,
            n,
            n + 49,
        ];
        for column in [col::correlation_id, col::user_agent, col::request_id] {
            let fetched = projected
                .unread
                .fetch(&projected.frame, column, &rows)
                .unwrap();
            assert_eq!(fetched, texts(&whole.frame, column, &rows), "{column}");
        }
        assert!(projected
            .unread
            .fetch(&projected.frame, col::user_agent, &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rows_of_interleaving_files_move_into_time_order_and_keep_their_unread_columns() {
        let dir = tempfile::tempdir().unwrap();
        // Even and odd rows in two files, each in order: together they interleave, as the
        // user buckets of one day do.
        let files = [
            dir.path().join("even.parquet"),
            dir.path().join("odd.parquet"),
        ];
        let n = ROW_GROUP_ROWS + 300;
        for (file, parity) in files.iter().zip([0, 1]) {
            let mut builder = FrameBuilder::with_capacity(n);
            for k in (0..2 * n).filter(|k| k % 2 == parity) {
                builder.push(&Row {
                    // Pairs of rows share a time: their ids order them.
                    time: 1_740_787_200_000_000 + (k / 2) as i64,
                    request_id: Some(Cow::Owned(format!("req-{:07}", 2 * n - k))),
                    correlation_id: (k % 5 != 0).then(|| Cow::Owned(format!("corr-{k:07}"))),
                    user_id: Some(Cow::Owned(format!("user-{}", k % 11))),
                    user_agent: (k % 7 != 0).then(|| Cow::Owned(format!("agent {}", k % 13))),
                    ip_address: address(k).map(Cow::Owned),
                    ..Row::default()
                });
            }
            write_canonical_parquet(&builder.finish(), file, Compression::Zstd).unwrap();
        }
        let whole = load(&files, false);
        let projected = load(&files, true);
        // No id was read whole: the order came from the times and the tied rows' ids.
        assert!(projected.unread.is_unread(col::request_id));
        assert_eq!(projected.frame.height(), 2 * n);
        assert!(projected
            .frame
            .column(col::time)
            .unwrap()
            .equals(whole.frame.column(col::time).unwrap()));
        assert_eq!(projected.times.as_ref().unwrap().len(), 2 * n);
        let rows: Vec<usize> = (0..2 * n).step_by(37).chain([1, 2 * n - 1]).collect();
        let mut rows = rows;
        rows.sort_unstable();
        rows.dedup();
        for column in [col::request_id, col::correlation_id, col::user_agent] {
            let fetched = projected
                .unread
                .fetch(&projected.frame, column, &rows)
                .unwrap();
            assert_eq!(fetched, texts(&whole.frame, column, &rows), "{column}");
        }
        for column in [col::user_agent, col::ip_address, col::user_id] {
            let codes = projected.unread.codes(&projected.frame, column).unwrap();
            let values: Vec<Option<&str>> = codes
                .index
                .iter()
                .map(|&c| (c != TextCodes::NULL).then(|| codes.distinct[c as usize].as_str()))
                .collect();
            let want: Vec<Option<&str>> = whole
                .frame
                .column(column)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .collect();
            assert_eq!(values, want, "{column}");
        }
        assert_eq!(
            projected.users.as_ref().unwrap().index,
            UserKeys::from_columns(
                whole.frame.column(col::user_id).unwrap().str().unwrap(),
                whole
                    .frame
                    .column(col::user_principal_name)
                    .unwrap()
                    .str()
                    .unwrap(),
            )
            .index
        );
        // Read whole after all, the columns come in the frame's order.
        let mut frame = projected.frame.clone();
        projected.unread.read_into(&mut frame).unwrap();
        for column in [col::request_id, col::correlation_id, col::user_agent] {
            assert!(frame
                .column(column)
                .unwrap()
                .equals_missing(whole.frame.column(column).unwrap()));
        }
    }

    /// A Parquet file mapped, with its row groups.
    fn mapped(path: &Path) -> (Mapped, Vec<polars_parquet::read::RowGroupMetadata>) {
        let mut file = File::open(path).unwrap();
        let metadata = read_metadata(&mut file).unwrap();
        (Mapped::new(&file, path).unwrap(), metadata.row_groups)
    }

    #[test]
    fn a_chunk_beyond_the_end_of_a_mapped_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.parquet");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = Mapped::new(&File::open(&path).unwrap(), &path).unwrap();
        assert_eq!(file.range(2..6).unwrap().as_slice(), b"2345");
        assert!(file.range(5..20).is_err());
        assert!(file.range(Range { start: 8, end: 4 }).is_err());
    }

    #[test]
    fn codes_of_unread_columns_give_every_row_its_value() {
        let (_dir, files, n) = two_files();
        // Recurring text is read from dictionary pages; unique ids (plain pages) are not.
        let (file, groups) = mapped(&files[0]);
        let group = &groups[1];
        let pieces = read_group_codes(&file, group, col::user_agent).unwrap();
        assert_eq!(pieces.iter().map(|p| p.values.len()).sum::<usize>(), 13);
        assert!(read_group_codes(&file, group, col::correlation_id).is_err());
        let whole = load(&files, false);
        let projected = load(&files, true);
        let all: Vec<usize> = (0..n + 50).collect();
        // User agents come from dictionary pages, correlation ids (plain pages) are decoded
        // as text; the user id was read into the frame.
        for column in [col::user_agent, col::correlation_id, col::user_id] {
            let expected = texts(&whole.frame, column, &all);
            for ingested in [&whole, &projected] {
                let codes = ingested.unread.codes(&ingested.frame, column).unwrap();
                assert!(codes.distinct.windows(2).all(|w| w[0] < w[1]), "{column}");
                let got: Vec<Option<String>> = all
                    .iter()
                    .map(|&r| codes.get(r).map(String::from))
                    .collect();
                assert_eq!(got, expected, "{column}");
            }
        }
    }

    #[test]
    fn address_codes_read_from_the_file_equal_those_of_the_text() {
        let (_dir, files, n) = two_files();
        let (file, groups) = mapped(&files[0]);
        assert!(read_group_codes(&file, &groups[0], col::ip_address).is_ok());
        assert!(read_group_codes(&file, &groups[1], col::ip_address).is_err());
        let whole = load(&files, false);
        let mut options = IngestOptions::new(crate::rules::Rules::builtin().outcome_codes());
        options.columns = Some(vec![col::time]);
        let projected = load_files(&files, &options).unwrap();
        assert!(projected.unread.is_unread(col::ip_address));
        let text = whole.frame.column(col::ip_address).unwrap().str().unwrap();
        let expected = crate::frame::address::address_codes(text);
        assert!(expected.distinct.iter().any(|a| a.contains(':')));
        for ingested in [&whole, &projected] {
            let codes = ingested
                .unread
                .codes(&ingested.frame, col::ip_address)
                .unwrap();
            assert_eq!(codes, expected);
        }
        let all: Vec<usize> = (0..n + 50).collect();
        let got: Vec<Option<String>> = all
            .iter()
            .map(|&r| expected.get(r).map(String::from))
            .collect();
        assert_eq!(got, texts(&whole.frame, col::ip_address, &all));
    }

    #[test]
    fn rows_that_move_in_deduplication_take_their_unread_columns_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        // Overlapping files, the later one first by name: rows are deduplicated and reordered.
        // The copies in `a` lack user agents: the copies in `b` are kept, as a full load keeps
        // them, though a projected load never decoded the agents to count them.
        write_with(&a, 300, 200, false);
        write(&b, 300, 0);
        let files = [a, b];
        let whole = load(&files, false);
        let projected = load(&files, true);
        assert_eq!(projected.frame.height(), 500);
        assert!(projected.unread.columns().is_empty());
        // Moved rows may have taken cells from their copies: no keys or times are handed over.
        assert!(projected.users.is_none() && whole.users.is_none());
        assert!(projected.times.is_none() && whole.times.is_none());
        assert!(projected.frame.equals_missing(&whole.frame));
        let rows: Vec<usize> = (0..500).collect();
        let agents = texts(&projected.frame, col::user_agent, &rows);
        assert_eq!(agents[250], Some("agent 3".to_string()));
        let files = texts(&projected.frame, col::source_file, &rows);
        assert!(files[250]
            .as_deref()
            .is_some_and(|f| f.ends_with("b.parquet")));
    }

    /// One file of sign-ins at `times`, named by `ids`, in that order.
    fn write_rows(path: &Path, times: &[i64], ids: &[&str]) {
        let mut builder = FrameBuilder::with_capacity(times.len());
        for (&time, &id) in times.iter().zip(ids) {
            builder.push(&Row {
                time,
                request_id: Some(Cow::Borrowed(id)),
                user_id: Some(Cow::Borrowed("user")),
                ..Row::default()
            });
        }
        write_canonical_parquet(&builder.finish(), path, Compression::Zstd).unwrap();
    }

    #[test]
    fn request_ids_stay_unread_and_only_equal_times_are_checked_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        // Rows 1–3 share a time, their ids in order: the file's order stands.
        write_rows(&path, &[1, 2, 2, 2, 3], &["e", "a", "b", "c", "d"]);
        let projected = load(std::slice::from_ref(&path), true);
        assert!(projected.unread.is_unread(col::request_id));
        let ids = projected
            .unread
            .fetch(&projected.frame, col::request_id, &[0, 1, 2, 3, 4])
            .unwrap();
        let ids: Vec<&str> = ids.iter().flatten().map(String::as_str).collect();
        assert_eq!(ids, ["e", "a", "b", "c", "d"]);

        // Tied rows whose ids are out of order (a writer that did not sort them): the load
        // reads the ids and sorts, as a whole load does.
        write_rows(&path, &[1, 2, 2, 2, 3], &["e", "c", "a", "b", "d"]);
        let whole = load(std::slice::from_ref(&path), false);
        let projected = load(std::slice::from_ref(&path), true);
        let rows: Vec<usize> = (0..5).collect();
        let sorted = texts(&whole.frame, col::request_id, &rows);
        assert_eq!(
            sorted
                .iter()
                .flatten()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["e", "a", "b", "c", "d"]
        );
        assert_eq!(
            projected
                .unread
                .fetch(&projected.frame, col::request_id, &rows)
                .unwrap(),
            sorted
        );
    }

    #[test]
    fn user_columns_left_unread_come_as_codes_and_keys_that_count_as_the_text_does() {
        let (_dir, files, n) = two_files();
        let whole = load(&files, false);
        assert!(whole.codes.is_empty());
        // One file alone (nothing moves) and both files (read whole to find copies, none
        // found, so nothing moves either).
        for paths in [&files[..1], &files[..]] {
            let whole = load(paths, false);
            let projected = load(paths, true);
            let keys = projected.users.as_ref().expect("keys built from codes");
            assert_eq!(keys.index.len(), projected.frame.height());
            // Keys from codes and keys from text are the same keys.
            assert_eq!(projected.users, whole.users);
            // Rows that stay come with their times, as the frame holds them.
            let times = crate::frame::time_values(&projected.frame).unwrap();
            assert_eq!(projected.times.as_ref(), Some(&times));
            assert_eq!(whole.times.as_ref(), Some(&times));
            assert_eq!(projected.totals.users, whole.totals.users);
            assert_eq!(projected.totals.users, keys.count as u64);
            let per_file = |i: &crate::ingest::Ingested| -> Vec<u64> {
                i.files.iter().map(|f| f.users).collect()
            };
            assert_eq!(per_file(&projected), per_file(&whole));
            let rows: Vec<usize> = (0..projected.frame.height()).collect();
            for column in [col::user_id, col::user_principal_name] {
                let (_, codes) = projected
                    .codes
                    .iter()
                    .find(|(c, _)| *c == column)
                    .expect("handed over as codes");
                let got: Vec<Option<String>> = rows
                    .iter()
                    .map(|&r| codes.get(r).map(String::from))
                    .collect();
                assert_eq!(got, texts(&whole.frame, column, &rows), "{column}");
            }
        }
        assert_eq!(n, 2 * ROW_GROUP_ROWS + 100);
    }
}
