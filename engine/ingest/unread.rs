//! Columns a load left unread, fetched later for the few rows that need them.
//!
//! A scoring pass reads most canonical columns for every row, but some (correlation id,
//! display name, user agent…) only for the sign-ins it reports: a tenth of a million rows of
//! ten million. Canonical Parquet lets a load decode only the columns asked for; the others
//! stay null in the frame and [`Unread::fetch`] decodes them later, row group by row group,
//! for the rows asked (pages are still read, but no ten-million-row column is built). Other
//! shapes are parsed whole, so their rows always hold every column.

use std::fs::File;
use std::io::Cursor;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars_arrow::array::Utf8ViewArray;
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::{ArrowDataType, Field as ArrowField};
use polars_buffer::Buffer;
use polars_parquet::read::{
    column_iter_to_arrays, read_metadata, BasicDecompressor, Filter, PageReader,
};
use rayon::prelude::*;

use super::IngestError;

/// One load's rows in the frame, and the file their unread columns are fetched from.
#[derive(Debug, Clone)]
struct Part {
    rows: Range<usize>,
    /// The canonical Parquet file, when the load left columns unread.
    parquet: Option<PathBuf>,
}

/// Which columns a load left unread, and where each frame row's values are.
#[derive(Debug, Clone, Default)]
pub struct Unread {
    columns: Vec<&'static str>,
    parts: Vec<Part>,
}

impl Unread {
    /// Nothing unread: every column of every row is in the frame.
    pub fn none() -> Self {
        Unread::default()
    }

    /// `parts`: each load's frame rows, with its Parquet file when it left `columns` unread.
    pub(super) fn new(
        columns: Vec<&'static str>,
        parts: Vec<(Range<usize>, Option<PathBuf>)>,
    ) -> Self {
        let parts: Vec<Part> = parts
            .into_iter()
            .map(|(rows, parquet)| Part { rows, parquet })
            .collect();
        if columns.is_empty() || parts.iter().all(|p| p.parquet.is_none()) {
            return Unread::none();
        }
        Unread { columns, parts }
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
        if !self.is_unread(column) {
            return Ok(rows
                .iter()
                .map(|&r| in_frame.get(r).map(String::from))
                .collect());
        }
        let mut out = Vec::with_capacity(rows.len());
        for part in &self.parts {
            let from = rows.partition_point(|&r| r < part.rows.start);
            let to = rows.partition_point(|&r| r < part.rows.end);
            let wanted = &rows[from..to];
            match &part.parquet {
                Some(path) => {
                    let file_rows: Vec<usize> =
                        wanted.iter().map(|&r| r - part.rows.start).collect();
                    out.extend(read_text_rows(path, column, &file_rows)?);
                }
                None => out.extend(wanted.iter().map(|&r| in_frame.get(r).map(String::from))),
            }
        }
        Ok(out)
    }

    /// Reads every unread column whole into `frame`, for passes that reorder the rows.
    pub(super) fn read_into(&self, frame: &mut DataFrame) -> Result<(), IngestError> {
        for &name in &self.columns {
            let dtype = frame.column(name)?.dtype().clone();
            let mut whole = Column::new_empty(name.into(), &dtype);
            for part in &self.parts {
                let slice = match &part.parquet {
                    Some(path) => read_whole(path, name)?,
                    None => frame
                        .column(name)?
                        .slice(part.rows.start as i64, part.rows.len()),
                };
                whole.append(&slice)?;
            }
            frame.replace(name, whole)?;
        }
        Ok(())
    }
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
    let mut file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let metadata = read_metadata(&mut file)?;
    let mut groups = Vec::new();
    let mut start = 0usize;
    for (index, group) in metadata.row_groups.iter().enumerate() {
        let end = start + group.num_rows();
        let from = rows.partition_point(|&r| r < start);
        let to = rows.partition_point(|&r| r < end);
        if from < to {
            groups.push((index, start, from..to));
        }
        start = end;
    }
    let parts: Vec<Vec<Option<String>>> = groups
        .into_par_iter()
        .map(|(index, start, wanted)| {
            let group = &metadata.row_groups[index];
            let mut mask = MutableBitmap::from_len_zeroed(group.num_rows());
            for &r in &rows[wanted.clone()] {
                mask.set(r - start, true);
            }
            let values = read_group_rows(&file, group, column, mask).map_err(|e| {
                IngestError::NotCanonical {
                    path: path.to_path_buf(),
                    reason: format!("column '{column}': {e}"),
                }
            })?;
            if values.len() != wanted.len() {
                return Err(IngestError::NotCanonical {
                    path: path.to_path_buf(),
                    reason: format!("column '{column}' has fewer rows than the file"),
                });
            }
            Ok(values)
        })
        .collect::<Result<_, IngestError>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// The rows of one row group's column chunk that `mask` selects, as text.
fn read_group_rows(
    file: &File,
    group: &polars_parquet::read::RowGroupMetadata,
    column: &str,
    mask: MutableBitmap,
) -> PolarsResult<Vec<Option<String>>> {
    let mut chunks = group
        .columns_under_root_iter(column)
        .ok_or_else(|| polars_err!(ColumnNotFound: "{column}"))?;
    let (Some(chunk), None) = (chunks.next(), chunks.next()) else {
        polars_bail!(ComputeError: "not a flat text column");
    };
    let range = chunk.byte_range();
    let mut bytes = vec![0u8; (range.end - range.start) as usize];
    file.read_exact_at(&mut bytes, range.start)?;
    let pages = PageReader::new(Cursor::new(Buffer::from(bytes)), chunk, vec![], usize::MAX);
    let field = ArrowField::new(column.into(), ArrowDataType::Utf8View, true);
    let (arrays, _) = column_iter_to_arrays(
        vec![BasicDecompressor::new(pages, vec![])],
        vec![&chunk.descriptor().descriptor.primitive_type],
        field,
        Some(Filter::Mask(mask.into())),
    )?;
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::frame::{col, FrameBuilder, Row};
    use crate::ingest::parquet::ROW_GROUP_ROWS;
    use crate::ingest::{load_files, write_canonical_parquet, Compression, IngestOptions};

    /// Three row groups; correlation ids unique (plain pages), user agents recurring
    /// (dictionary pages), some of each null.
    fn write(path: &Path, rows: usize, first: usize) {
        let mut builder = FrameBuilder::with_capacity(rows);
        for k in first..first + rows {
            builder.push(&Row {
                time: 1_740_787_200_000_000 + k as i64,
                request_id: Some(Cow::Owned(format!("req-{k:07}"))),
                correlation_id: (k % 5 != 0).then(|| Cow::Owned(format!("corr-{k:07}"))),
                user_id: Some(Cow::Owned(format!("user-{}", k % 11))),
                user_agent: (k % 7 != 0).then(|| Cow::Owned(format!("agent {}", k % 13))),
                ..Row::default()
            });
        }
        write_canonical_parquet(&builder.finish(), path, Compression::Zstd).unwrap();
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

    #[test]
    fn unread_columns_fetched_by_row_equal_the_columns_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        let n = 2 * ROW_GROUP_ROWS + 100;
        write(&a, n, 0);
        write(&b, 50, n);
        let files = [a, b];
        let whole = load(&files, false);
        let projected = load(&files, true);
        assert!(whole.unread.columns().is_empty());
        assert!(projected.unread.is_unread(col::correlation_id));
        assert!(projected.unread.is_unread(col::user_agent));
        assert!(!projected.unread.is_unread(col::request_id));
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
    fn rows_that_move_in_deduplication_take_their_unread_columns_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        // Overlapping files, the later one first by name: rows are deduplicated and reordered.
        write(&a, 300, 200);
        write(&b, 300, 0);
        let files = [a, b];
        let whole = load(&files, false);
        let projected = load(&files, true);
        assert_eq!(projected.frame.height(), 500);
        assert!(projected.unread.columns().is_empty());
        let rows: Vec<usize> = (0..500).collect();
        for column in [col::correlation_id, col::user_agent] {
            assert_eq!(
                texts(&projected.frame, column, &rows),
                texts(&whole.frame, column, &rows)
            );
        }
    }
}
