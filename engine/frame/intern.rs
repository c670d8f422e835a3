//! Texts as small integers: text columns interned into ranks of their sorted distinct
//! values, and the steps the load's dictionary codes share with that.

use ahash::AHashMap;
use polars::prelude::StringChunked;
use polars_arrow::array::{Array, Utf8ViewArray};
use rayon::prelude::*;

use super::TextCodes;

/// The index of a null value in [`Interned::index`].
const NULL: u32 = TextCodes::NULL;

/// Values numbered in order of first sight: the distinct values, and each value's number
/// ([`TextCodes::NULL`] for a null). Values are texts, or any small key standing for one
/// (see [`crate::frame::address`]).
pub fn first_seen<K>(values: impl Iterator<Item = Option<K>>) -> (Vec<K>, Vec<u32>)
where
    K: Copy + Eq + std::hash::Hash,
{
    first_seen_sized(values, 0)
}

/// [`first_seen`] of `count` values (a hint: the result is the same for any count), with
/// room made for them at once instead of growing the table step by step.
pub fn first_seen_sized<K>(
    values: impl Iterator<Item = Option<K>>,
    count: usize,
) -> (Vec<K>, Vec<u32>)
where
    K: Copy + Eq + std::hash::Hash,
{
    let mut seen: Vec<K> = Vec::with_capacity(count / 4);
    let mut local: AHashMap<K, u32> = AHashMap::with_capacity(count / 4);
    let mut index = Vec::with_capacity(count);
    index.extend(values.map(|value| match value {
        None => NULL,
        Some(key) => *local.entry(key).or_insert_with(|| {
            seen.push(key);
            (seen.len() - 1) as u32
        }),
    }));
    (seen, index)
}

/// Lists of distinct values (each interned on its own) ranked together: all their values,
/// sorted and deduplicated, and for each list its values' ranks in that order.
pub fn rank_together<K>(lists: &[&[K]]) -> (Vec<K>, Vec<Vec<u32>>)
where
    K: Copy + Ord + std::hash::Hash + Send + Sync,
{
    let mut distinct: Vec<K> = lists.iter().flat_map(|list| list.iter().copied()).collect();
    distinct.par_sort_unstable();
    distinct.dedup();
    let rank: AHashMap<K, u32> = distinct
        .iter()
        .enumerate()
        .map(|(k, &key)| (key, k as u32))
        .collect();
    let ranks = lists
        .par_iter()
        .map(|list| list.iter().map(|key| rank[key]).collect())
        .collect();
    (distinct, ranks)
}

/// The distinct values of a text column, sorted, and each row's index into them.
pub struct Interned<'a> {
    pub distinct: Vec<&'a str>,
    /// `index[row]` is the position of the row's value in `distinct`, [`NULL`] for a null.
    pub index: Vec<u32>,
}

/// Interns `values`: each part of the rows is hashed on its own thread, then the parts'
/// distinct values are merged and sorted, so ranks follow the text's order.
pub fn intern<'a>(values: &[Option<&'a str>]) -> Interned<'a> {
    let part = (values.len() / (4 * rayon::current_num_threads())).max(1 << 16);
    let parts: Vec<(Vec<&'a str>, Vec<u32>)> = values
        .par_chunks(part)
        .map(|rows| first_seen(rows.iter().copied()))
        .collect();
    merge(parts)
}

/// Rows `start..end` of one chunk of a text column.
pub type Run<'a> = (&'a Utf8ViewArray, usize, usize);

/// A text column's rows as parts of `rows` rows (the last may be shorter), each a list of
/// runs within chunks, in row order: the part `k` starts at row `k * rows`.
pub fn parts_of(column: &StringChunked, rows: usize) -> Vec<Vec<Run<'_>>> {
    let mut parts: Vec<Vec<Run<'_>>> = Vec::new();
    let mut filled = rows;
    for array in column.downcast_iter() {
        let mut start = 0;
        while start < array.len() {
            if filled == rows {
                parts.push(Vec::new());
                filled = 0;
            }
            let end = (start + rows - filled).min(array.len());
            if let Some(part) = parts.last_mut() {
                part.push((array, start, end));
            }
            filled += end - start;
            start = end;
        }
    }
    parts
}

/// Each value of a part's runs, in row order.
pub fn values_of<'a, 'r>(runs: &'r [Run<'a>]) -> impl Iterator<Item = Option<&'a str>> + 'r {
    runs.iter().flat_map(|&(array, start, end)| {
        (start..end).map(move |i| array.is_valid(i).then(|| array.value(i)))
    })
}

/// Interns a text column like [`intern`], straight from its chunks.
pub fn intern_column(column: &StringChunked) -> Interned<'_> {
    let rows = (column.len() / (4 * rayon::current_num_threads())).max(1 << 16);
    let parts: Vec<(Vec<&str>, Vec<u32>)> = parts_of(column, rows)
        .into_par_iter()
        .map(|runs| first_seen(values_of(&runs)))
        .collect();
    merge(parts)
}

/// Interns a column of few distinct values (countries, device names) like [`intern`], keyed
/// by each value's 16-byte view rather than its text: a column read from dictionary pages
/// repeats one view per distinct value of a row group, and short values are held whole in
/// their views, so each row costs an integer hash into a table that stays in cache, and only
/// distinct views are looked at as text. Equal texts behind different views meet in the
/// merge. (For columns of many distinct values, such as users or addresses, views repeat
/// too little to help: use [`intern_column`].)
pub fn intern_few(column: &StringChunked) -> Interned<'_> {
    let parts: Vec<(Vec<&str>, Vec<u32>)> = parts_of(column, 1 << 16)
        .into_par_iter()
        .map(|runs| {
            let mut seen: Vec<&str> = Vec::new();
            let mut local: AHashMap<u128, u32> = AHashMap::new();
            let mut index = Vec::new();
            for (array, start, end) in runs {
                let views = &array.views()[start..end];
                let validity = array.validity();
                for (i, view) in (start..end).zip(views) {
                    if validity.is_some_and(|v| !v.get_bit(i)) {
                        index.push(NULL);
                        continue;
                    }
                    index.push(*local.entry(view.as_u128()).or_insert_with(|| {
                        seen.push(array.value(i));
                        (seen.len() - 1) as u32
                    }));
                }
            }
            (seen, index)
        })
        .collect();
    merge(parts)
}

/// Merges parts interned on their own: the distinct values of all, sorted, and each row's
/// rank among them.
fn merge<'a>(parts: Vec<(Vec<&'a str>, Vec<u32>)>) -> Interned<'a> {
    let (distinct, index) = merge_parts(parts);
    Interned { distinct, index }
}

/// [`merge`] for any key: the sorted distinct keys of all parts, and each row's rank.
pub(super) fn merge_parts<K>(parts: Vec<(Vec<K>, Vec<u32>)>) -> (Vec<K>, Vec<u32>)
where
    K: Copy + Ord + std::hash::Hash + Send + Sync,
{
    let lists: Vec<&[K]> = parts.iter().map(|(seen, _)| seen.as_slice()).collect();
    let (distinct, ranks) = rank_together(&lists);
    let index = parts
        .par_iter()
        .zip(&ranks)
        .flat_map_iter(|((_, local), global)| {
            local
                .iter()
                .map(move |&i| if i == NULL { NULL } else { global[i as usize] })
        })
        .collect();
    (distinct, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_interned_apart_are_ranked_together() {
        let (a, index) = first_seen([Some("b"), None, Some("a"), Some("b")].into_iter());
        assert_eq!(a, ["b", "a"]);
        assert_eq!(index, [0, TextCodes::NULL, 1, 0]);
        let c = ["c", "a"];
        let (distinct, ranks) = rank_together(&[&a, &c]);
        assert_eq!(distinct, ["a", "b", "c"]);
        assert_eq!(ranks, [vec![1, 0], vec![2, 0]]);
    }

    #[test]
    fn interned_ranks_follow_the_text_order_whatever_the_row_order() {
        let values = [Some("b"), None, Some("a"), Some("b"), Some("c")];
        let interned = intern(&values);
        assert_eq!(interned.distinct, ["a", "b", "c"]);
        assert_eq!(interned.index, [1, NULL, 0, 1, 2]);
    }

    #[test]
    fn interning_a_column_by_view_or_by_chunk_equals_interning_its_values() {
        use polars::prelude::NewChunkedArray;
        // Short values (held in their views) and long ones (in buffers), nulls, and the same
        // long value in two chunks, so equal texts sit behind unequal views.
        let texts: Vec<Option<String>> = (0..200_000)
            .map(|k| match k % 7 {
                0 => None,
                1 | 2 => Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)".to_string()),
                3 => Some(format!("a rather long device name {}", k % 9)),
                _ => Some(format!("Windows {}", k % 3)),
            })
            .collect();
        let refs: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
        let mut column =
            StringChunked::from_iter_options("c".into(), refs[..70_000].iter().copied());
        column
            .append(&StringChunked::from_iter_options(
                "c".into(),
                refs[70_000..].iter().copied(),
            ))
            .unwrap();
        assert!(column.chunks().len() > 1);
        let by_text = intern(&refs);
        for interned in [intern_few(&column), intern_column(&column)] {
            assert_eq!(interned.distinct, by_text.distinct);
            assert_eq!(interned.index, by_text.index);
        }
    }
}
