//! A column's values at chosen rows, walking its chunks once: looking each value up on its
//! own walks a frame's chunks (one per Parquet row group) again for every value.

use polars::prelude::{Float64Chunked, StringChunked};
use polars_arrow::array::Array;

/// For each of `rows` (ascending), its chunk and its index in the chunk.
fn chunk_positions(lengths: impl Iterator<Item = usize>, rows: &[usize]) -> Vec<(usize, usize)> {
    let mut positions = Vec::with_capacity(rows.len());
    let mut rows = rows.iter().peekable();
    let mut start = 0;
    for (chunk, length) in lengths.enumerate() {
        while let Some(&&row) = rows.peek() {
            if row >= start + length {
                break;
            }
            positions.push((chunk, row - start));
            rows.next();
        }
        start += length;
    }
    positions
}

/// A text column's values at `rows` (ascending).
pub fn texts_at<'a>(column: &'a StringChunked, rows: &[usize]) -> Vec<Option<&'a str>> {
    let arrays: Vec<_> = column.downcast_iter().collect();
    chunk_positions(arrays.iter().map(|a| a.len()), rows)
        .into_iter()
        .map(|(c, i)| arrays[c].is_valid(i).then(|| arrays[c].value(i)))
        .collect()
}

/// A float column's values at `rows` (ascending).
pub fn floats_at(column: &Float64Chunked, rows: &[usize]) -> Vec<Option<f64>> {
    let arrays: Vec<_> = column.downcast_iter().collect();
    chunk_positions(arrays.iter().map(|a| a.len()), rows)
        .into_iter()
        .map(|(c, i)| arrays[c].is_valid(i).then(|| arrays[c].value(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use polars::prelude::NewChunkedArray;

    use super::*;

    #[test]
    fn rows_are_found_in_their_chunks_across_every_boundary() {
        let lengths = [3, 0, 2, 4];
        let rows = [0, 2, 3, 4, 5, 8];
        assert_eq!(
            chunk_positions(lengths.into_iter(), &rows),
            [(0, 0), (0, 2), (2, 0), (2, 1), (3, 0), (3, 3)]
        );
        let mut column =
            StringChunked::from_iter_options("c".into(), [Some("a"), None].into_iter());
        column
            .append(&StringChunked::from_iter_options(
                "c".into(),
                [Some("b")].into_iter(),
            ))
            .unwrap();
        assert_eq!(texts_at(&column, &[1, 2]), [None, Some("b")]);
    }
}
