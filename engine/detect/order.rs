//! The building blocks of the detectors' order: text columns interned into small integers,
//! rows ordered by (user, time, request id), and rows grouped by a key in time order.
//!
//! These run over every row of a tenant's history, so they avoid per-row hashing of text
//! where they can: a frame that is already in (time, request id) order (every ingested frame
//! is) needs only a counting sort by user to be in the detectors' order.

use ahash::AHashMap;
use polars::prelude::{IdxSize, StringChunked};
use polars_arrow::array::{Array, Utf8ViewArray};
use rayon::prelude::*;

use crate::frame::{first_seen, rank_together};

/// The index of a null value in [`Interned::index`].
pub const NONE: u32 = crate::frame::TextCodes::NULL;

/// The distinct values of a text column, sorted, and each row's index into them.
pub struct Interned<'a> {
    pub distinct: Vec<&'a str>,
    /// `index[row]` is the position of the row's value in `distinct`, [`NONE`] for a null.
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
                        index.push(NONE);
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
    let lists: Vec<&[&'a str]> = parts.iter().map(|(seen, _)| seen.as_slice()).collect();
    let (distinct, ranks) = rank_together(&lists);
    let index = parts
        .par_iter()
        .zip(&ranks)
        .flat_map_iter(|((_, local), global)| {
            local
                .iter()
                .map(move |&i| if i == NONE { NONE } else { global[i as usize] })
        })
        .collect();
    Interned { distinct, index }
}

/// A text column as small integers in some order of rows, with its distinct values: what
/// per-user kernels compare instead of strings.
#[derive(Debug, Clone, Default)]
pub struct Codes {
    /// The distinct values, sorted: a code is an index into this.
    pub distinct: Vec<String>,
    /// Each row's code, [`NONE`] for a null.
    pub code: Vec<u32>,
}

impl Codes {
    /// The codes of a column of few distinct values, in `order`.
    pub fn new(column: &StringChunked, order: &[IdxSize]) -> Codes {
        let interned = intern_few(column);
        Codes {
            distinct: interned.distinct.iter().map(|t| t.to_string()).collect(),
            code: gather(&interned.index, order),
        }
    }

    /// The row's value.
    pub fn get(&self, row: usize) -> Option<&str> {
        let code = self.code[row];
        (code != NONE).then(|| self.distinct[code as usize].as_str())
    }

    /// The codes of `f` applied to each value (`None` becomes null): `f` runs once per
    /// distinct value, not once per row.
    pub fn mapped(&self, f: impl Fn(&str) -> Option<String>) -> Codes {
        let images: Vec<Option<String>> = self.distinct.iter().map(|t| f(t)).collect();
        let texts: Vec<Option<&str>> = images.iter().map(|i| i.as_deref()).collect();
        let interned = intern(&texts);
        let code = self
            .code
            .par_iter()
            .map(|&c| {
                if c == NONE {
                    NONE
                } else {
                    interned.index[c as usize]
                }
            })
            .collect();
        Codes {
            distinct: interned.distinct.iter().map(|t| t.to_string()).collect(),
            code,
        }
    }
}

/// True when rows are in (time, request id) order, the order every ingested frame has.
/// `request` is asked only for rows whose times tie, so callers need not collect the ids.
pub fn is_time_ordered<'a>(times: &[i64], request: impl Fn(usize) -> &'a str) -> bool {
    (1..times.len()).all(|r| match times[r - 1].cmp(&times[r]) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => request(r - 1) <= request(r),
    })
}

/// Rows of a frame in (time, request id) order (see [`is_time_ordered`]), stably ordered by
/// user rank: a counting sort. Rows without a user ([`NONE`]) come last.
pub fn by_user(user: &[u32], users: usize) -> Vec<IdxSize> {
    let bucket = |row: usize| (user[row] as usize).min(users);
    let mut start = vec![0usize; users + 2];
    for row in 0..user.len() {
        start[bucket(row) + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut order = vec![0 as IdxSize; user.len()];
    for row in 0..user.len() {
        let slot = &mut start[bucket(row)];
        order[*slot] = row as IdxSize;
        *slot += 1;
    }
    order
}

/// Rows in any order sorted by (user rank, time, request id, row); rows without a user
/// ([`NONE`]) come last.
pub fn by_user_time_request(
    user: &[u32],
    users: usize,
    times: &[i64],
    request: &[&str],
) -> Vec<IdxSize> {
    let bucket = |row: usize| (user[row] as usize).min(users);
    let mut order: Vec<IdxSize> = (0..user.len() as IdxSize).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        (bucket(a), times[a], request[a], a).cmp(&(bucket(b), times[b], request[b], b))
    });
    order
}

/// Each user's rows as a range of positions of the order [`by_user`] (or
/// [`by_user_time_request`]) makes: users by rank, each as many positions as it has rows.
pub fn user_ranges(user: &[u32], users: usize) -> Vec<(usize, usize)> {
    let counts = user
        .par_chunks(1 << 20)
        .map(|chunk| {
            let mut counts = vec![0usize; users];
            for &k in chunk {
                if k != NONE {
                    counts[k as usize] += 1;
                }
            }
            counts
        })
        .reduce(
            || vec![0usize; users],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut start = 0;
    counts
        .into_iter()
        .filter(|&n| n > 0)
        .map(|n| {
            start += n;
            (start - n, start)
        })
        .collect()
}

/// `values` in the order of `order`.
pub fn gather<T: Copy + Send + Sync>(values: &[T], order: &[IdxSize]) -> Vec<T> {
    order.par_iter().map(|&row| values[row as usize]).collect()
}

/// Positions grouped by a key (`NONE`: in no group), as one flat list with offsets.
pub struct Groups {
    offsets: Vec<usize>,
    members: Vec<usize>,
}

impl Groups {
    /// Groups `0..key.len()` by key, members of a group in the order `sequence` lists them.
    pub fn new(key: &[u32], sequence: impl Iterator<Item = usize>) -> Groups {
        let groups = key
            .iter()
            .filter(|&&k| k != NONE)
            .max()
            .map_or(0, |&k| k as usize + 1);
        let mut offsets = vec![0usize; groups + 1];
        for &k in key.iter().filter(|&&k| k != NONE) {
            offsets[k as usize + 1] += 1;
        }
        for g in 1..offsets.len() {
            offsets[g] += offsets[g - 1];
        }
        let mut next = offsets.clone();
        let mut members = vec![0usize; offsets[groups]];
        for position in sequence {
            let k = key[position];
            if k != NONE {
                members[next[k as usize]] = position;
                next[k as usize] += 1;
            }
        }
        Groups { offsets, members }
    }

    /// Groups from where each starts in `members` (ascending), the groups laid end to end.
    pub fn from_parts(mut starts: Vec<usize>, members: Vec<usize>) -> Groups {
        starts.push(members.len());
        Groups {
            offsets: starts,
            members,
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members of group `key`.
    pub fn get(&self, key: usize) -> &[usize] {
        &self.members[self.offsets[key]..self.offsets[key + 1]]
    }

    /// Runs `kernel(key, members, out)` over every group in parallel; what the kernels push
    /// comes back in key order, whatever the thread count.
    pub fn per_group<T: Send>(
        &self,
        kernel: impl Fn(usize, &[usize], &mut Vec<T>) + Sync,
    ) -> Vec<T> {
        (0..self.len())
            .into_par_iter()
            .flat_map_iter(|key| {
                let mut out = Vec::new();
                kernel(key, self.get(key), &mut out);
                out
            })
            .collect()
    }

    /// Every group's members, by key.
    pub fn iter(&self) -> impl Iterator<Item = &[usize]> {
        self.offsets.windows(2).map(|w| &self.members[w[0]..w[1]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_ranks_follow_the_text_order_whatever_the_row_order() {
        let values = [Some("b"), None, Some("a"), Some("b"), Some("c")];
        let interned = intern(&values);
        assert_eq!(interned.distinct, ["a", "b", "c"]);
        assert_eq!(interned.index, [1, NONE, 0, 1, 2]);
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

    #[test]
    fn mapped_codes_merge_values_with_one_image() {
        use polars::prelude::NewChunkedArray;
        let values = StringChunked::from_iter_options(
            "os".into(),
            [Some("Windows 10"), Some("Windows 11"), None, Some("iOS 17")].into_iter(),
        );
        let codes = Codes::new(&values, &[0, 1, 2, 3]);
        let families = codes.mapped(|t| t.split(' ').next().map(String::from));
        assert_eq!(families.distinct, ["Windows", "iOS"]);
        assert_eq!(families.code, [0, 0, NONE, 1]);
        assert_eq!(families.get(3), Some("iOS"));
        assert_eq!(families.get(2), None);
    }

    #[test]
    fn counting_sort_and_full_sort_give_the_same_order() {
        let user = [1, 0, NONE, 1, 0, 1];
        let times = [1, 2, 2, 3, 3, 3];
        let request = ["a", "b", "c", "d", "e", "f"];
        assert!(is_time_ordered(&times, |r| request[r]));
        let fast = by_user(&user, 2);
        let full = by_user_time_request(&user, 2, &times, &request);
        assert_eq!(fast, [1, 4, 0, 3, 5, 2]);
        assert_eq!(fast, full);
        assert_eq!(user_ranges(&user, 2), [(0, 2), (2, 5)]);
    }

    #[test]
    fn out_of_order_rows_are_noticed() {
        assert!(!is_time_ordered(&[2, 1], |r| ["a", "b"][r]));
        assert!(!is_time_ordered(&[1, 1], |r| ["b", "a"][r]));
        assert!(is_time_ordered(&[1, 1, 2], |r| ["a", "b", "a"][r]));
    }

    #[test]
    fn groups_keep_the_sequence_order_and_skip_nulls() {
        let key = [2, 0, NONE, 2, 0];
        let groups = Groups::new(&key, [4, 3, 2, 1, 0].into_iter());
        let listed: Vec<&[usize]> = groups.iter().collect();
        assert_eq!(listed, [&[4, 1][..], &[][..], &[3, 0][..]]);
    }
}
