//! Deduplication on the sign-in id, the final sort, and the per-file account of a load.
//!
//! The same sign-in reaches the engine several times (overlapping downloads, a Log Analytics
//! export repeating a row, the same hour in two shapes). Of the copies, a JSON or Parquet copy
//! is kept over a CSV one (CSV is a rendering for people: rounded times, no coordinates),
//! then the one with the most filled columns; ties go to the first file and line by name, so
//! the choice never depends on argument or thread order.
//! Cells the kept copy lacks are filled from the other copies in the same order, so a field
//! one export shape has and another lacks is never lost to deduplication.

use std::path::PathBuf;
use std::sync::Arc;

use ahash::AHashMap;
use polars::prelude::*;
use rayon::iter::{
    IndexedParallelIterator, IntoParallelIterator, IntoParallelRefIterator, ParallelIterator,
};
use rayon::slice::ParallelSliceMut;

use super::values::format_time;
use super::{Counts, FileLoad, FileReport, IngestError, Ingested, Unread};

use crate::frame::{self, col, TextCodes, UserKeys};

/// `all`: every file's rows, stacked in file order; `ranges`: each file's rows in it;
/// `late_gather`: rows that move are left to the writer (see [`Ordered`]).
pub(super) fn finish(
    files: &[PathBuf],
    loads: Vec<FileLoad>,
    mut all: DataFrame,
    ranges: Vec<std::ops::Range<usize>>,
    late_gather: bool,
) -> Result<Ingested, IngestError> {
    crate::trace::rss("rss after parse");
    let mut rendered = vec![false; all.height()];
    for (load, range) in loads.iter().zip(&ranges) {
        if load.shape.is_rendered_for_people() || load.rendered {
            rendered[range.clone()].fill(true);
        }
    }
    let mut unread_columns: Vec<&'static str> = Vec::new();
    for column in loads.iter().flat_map(|load| &load.unread) {
        if !unread_columns.contains(column) {
            unread_columns.push(column);
        }
    }
    let parts = files
        .iter()
        .zip(&loads)
        .zip(&ranges)
        .map(|((path, load), range)| {
            (
                range.clone(),
                (!load.unread.is_empty()).then(|| path.clone()),
                load.selected.clone(),
            )
        })
        .collect();
    let mut unread = Unread::new(unread_columns, parts);
    let span = crate::trace::span("dedupe: plan");
    let times = frame::time_values(&all)?;
    // Canonical Parquet was deduplicated when it was written, and is in (time, request id)
    // order; so are a dataset's day partitions taken in order, one after another. That is
    // trusted only once checked, cheaply (ids are fetched just for rows that share a time):
    // copies of one sign-in share its time and id, so in that order they stand side by side,
    // and strictly increasing rows prove there are none. Files another tool wrote or edited,
    // out of order or with copies, or overlapping each other, are deduplicated.
    let all_parquet = !loads.is_empty()
        && loads
            .iter()
            .all(|load| load.shape == super::Shape::CanonicalParquet);
    let mut strictly_ordered = all_parquet && {
        let ids = TiedIds::new(&all, &unread, &times)?;
        (1..all.height())
            .into_par_iter()
            .all(|i| ids.order(&times, i - 1, i).is_lt())
    };
    // Canonical files each in order but interleaving (a dataset's user buckets of one day,
    // a shard's files): sorted by time, with the ids of rows that share a time alone
    // fetched, copies still stand side by side. None found, the rows move to that order and
    // their unread columns stay in the files, found through the order.
    let mut moved: Option<Vec<IdxSize>> = None;
    if all_parquet && !strictly_ordered && unread.all_in_files() {
        moved = time_order_without_copies(&all, &unread, &times)?;
        strictly_ordered = moved.is_some();
    }
    let repeated = if strictly_ordered {
        Vec::new()
    } else {
        // Finding copies takes every row's id.
        unread.read_column_into(&mut all, col::request_id)?;
        repeated_ids(&all)?
    };
    if !repeated.is_empty() {
        // Copies are ranked on every column, so the choice is the one a full load makes.
        unread.read_into(&mut all)?;
        unread = Unread::none();
    }
    let plan = plan(&all, &rendered, repeated)?;
    drop(span);
    let span = crate::trace::span("dedupe: order");
    let keep = &plan.keep;

    let all_kept = keep.iter().all(|&k| k);
    // Canonical Parquet is written in this order; checking is far cheaper than sorting.
    let already_ordered = if strictly_ordered {
        true
    } else if all_kept {
        // Every row kept (no copies): the rows themselves are checked, no list is built.
        let ids = TiedIds::new(&all, &unread, &times)?;
        (1..all.height())
            .into_par_iter()
            .all(|i| ids.order(&times, i - 1, i).is_le())
    } else {
        // Copies were found, so every column is in the frame.
        let ids = TiedIds::new(&all, &Unread::none(), &times)?;
        (0..all.height())
            .filter(|&i| keep[i])
            .is_sorted_by(|&a, &b| ids.order(&times, a, b).is_le())
    };
    let mut order: Vec<IdxSize> = Vec::new();
    if !already_ordered {
        // Sorting takes every row's id.
        unread.read_column_into(&mut all, col::request_id)?;
        let id_column = all.column(col::request_id)?.str()?;
        let ids: Vec<&str> = id_column.iter().map(|id| id.unwrap_or("")).collect();
        order = (0..all.height() as IdxSize)
            .filter(|&i| keep[i as usize])
            .collect();
        order.par_sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            times[a].cmp(&times[b]).then_with(|| ids[a].cmp(ids[b]))
        });
    } else if !all_kept {
        order = (0..all.height() as IdxSize)
            .filter(|&i| keep[i as usize])
            .collect();
    }
    drop(span);
    let rows_stay = already_ordered && all_kept;
    if !rows_stay {
        // Rows move: unread columns are read whole first, so copies fill each other's gaps.
        unread.read_into(&mut all)?;
        unread = Unread::none();
    }
    // Each row's user key, built once for the account here and, when the rows stay where
    // they are, for the detectors' order: from the user columns' dictionary codes when a
    // projection left them unread, else from their text.
    let span = crate::trace::span("dedupe: user keys");
    let (codes, keys) =
        if unread.is_unread(col::user_id) && unread.is_unread(col::user_principal_name) {
            let (ids, names) = rayon::join(
                || unread.codes(&all, col::user_id),
                || unread.codes(&all, col::user_principal_name),
            );
            let (ids, names) = (ids?, names?);
            let keys = UserKeys::from_codes(&ids, &names);
            let codes = vec![
                (col::user_id, Arc::new(ids)),
                (col::user_principal_name, Arc::new(names)),
            ];
            (codes, keys)
        } else {
            unread.read_column_into(&mut all, col::user_id)?;
            unread.read_column_into(&mut all, col::user_principal_name)?;
            let keys = UserKeys::from_columns(
                all.column(col::user_id)?.str()?,
                all.column(col::user_principal_name)?.str()?,
            );
            (Vec::new(), keys)
        };
    drop(span);

    let span = crate::trace::span("dedupe: per-file account");
    let mut reports = Vec::with_capacity(loads.len());
    let mut totals = Counts {
        files: loads.len() as u64,
        ..Counts::default()
    };
    let mut all_users = vec![0u64; keys.count.div_ceil(64)];
    let mut quarantine = Vec::new();
    for ((path, load), range) in files.iter().zip(loads).zip(ranges) {
        let (kept, first, last, file_users) = account(range.clone(), keep, &times, &keys);
        let report = FileReport {
            path: path.to_string_lossy().into_owned(),
            shape: load.shape,
            gzip: load.gzip,
            read: load.read,
            kept,
            duplicates: range.len() as u64 - kept,
            skipped: load.skipped,
            quarantined: load.quarantine.len() as u64,
            first: (!range.is_empty()).then(|| format_time(first)),
            last: (!range.is_empty()).then(|| format_time(last)),
            users: count_bits(&file_users),
            warnings: load.warnings,
        };
        // Per file first: a file's distinct users are far fewer than its rows.
        add_bits(&mut all_users, &file_users);
        totals.read += report.read;
        totals.kept += report.kept;
        totals.duplicates += report.duplicates;
        totals.skipped += report.skipped;
        totals.elsewhere += load.elsewhere;
        totals.quarantined += report.quarantined;
        quarantine.extend(load.quarantine);
        reports.push(report);
    }
    totals.users = count_bits(&all_users);
    quarantine.sort();
    drop(span);
    let mut ordered = None;
    // Rows that stay keep their times for the detectors; moved rows are timed anew.
    let (frame, times, users, unread, codes) = if let Some(order) = moved {
        // Everything made in the load's order above follows the rows.
        let _span = crate::trace::span("dedupe: move rows");
        let gather =
            |index: &[u32]| -> Vec<u32> { order.par_iter().map(|&o| index[o as usize]).collect() };
        let times: Vec<i64> = order.par_iter().map(|&o| times[o as usize]).collect();
        let keys = UserKeys {
            index: gather(&keys.index),
            count: keys.count,
        };
        let codes = codes
            .into_iter()
            .map(|(name, c)| {
                let moved = TextCodes {
                    distinct: c.distinct.clone(),
                    index: gather(&c.index),
                };
                (name, Arc::new(moved))
            })
            .collect();
        // A column of one value for every row (the unread ones' nulls) is the same in any
        // order: only the others are gathered.
        let rows = IdxCa::from_vec("order".into(), order.clone());
        let height = all.height();
        let columns = all
            .into_columns()
            .into_iter()
            .map(|c| match c {
                Column::Scalar(_) => Ok(c),
                c => c.take(&rows),
            })
            .collect::<PolarsResult<Vec<Column>>>()?;
        let frame = DataFrame::new(height, columns)?;
        let unread = unread.reordered(order.into());
        (frame, Some(times), Some(keys), unread, codes)
    } else {
        let _span = crate::trace::span("dedupe: gather");
        let frame = if rows_stay {
            // Every row kept, already in order: nothing to copy, and each frame row is still
            // the file row its unread columns are fetched from.
            all
        } else if late_gather {
            ordered = Some(Ordered::new(all, order, plan));
            DataFrame::empty()
        } else {
            Ordered::new(all, order, plan).into_frame()?
        };
        // Moved rows may have had cells filled from their copies: the detectors key them
        // anew.
        let users = rows_stay.then_some(keys);
        (frame, rows_stay.then_some(times), users, unread, codes)
    };
    crate::trace::note("frame bytes", frame.estimated_size());
    crate::trace::rss("rss after gather");
    Ok(Ingested {
        frame,
        ordered,
        quarantine,
        files: reports,
        totals,
        unread,
        codes,
        users,
        times,
    })
}

/// The request ids the order check compares: only where two neighbouring rows have the same
/// time. When the load left the ids unread, just those rows' ids are fetched.
enum TiedIds<'a> {
    InFrame(&'a StringChunked),
    /// Tied frame rows, ascending, and their ids.
    Fetched(Vec<usize>, Vec<Option<String>>),
}

impl<'a> TiedIds<'a> {
    fn new(all: &'a DataFrame, unread: &Unread, times: &[i64]) -> Result<Self, IngestError> {
        if !unread.is_unread(col::request_id) {
            return Ok(TiedIds::InFrame(all.column(col::request_id)?.str()?));
        }
        let mut rows: Vec<usize> = Vec::new();
        for i in 1..times.len() {
            if times[i - 1] == times[i] {
                if rows.last() != Some(&(i - 1)) {
                    rows.push(i - 1);
                }
                rows.push(i);
            }
        }
        let ids = unread.fetch(all, col::request_id, &rows)?;
        Ok(TiedIds::Fetched(rows, ids))
    }

    fn get(&self, row: usize) -> &str {
        match self {
            TiedIds::InFrame(ids) => ids.get(row),
            TiedIds::Fetched(rows, ids) => rows
                .binary_search(&row)
                .ok()
                .and_then(|k| ids[k].as_deref()),
        }
        .unwrap_or("")
    }

    /// Rows `a` and `b` in (time, id) order.
    fn order(&self, times: &[i64], a: usize, b: usize) -> std::cmp::Ordering {
        times[a]
            .cmp(&times[b])
            .then_with(|| self.get(a).cmp(self.get(b)))
    }
}

/// The rows in (time, request id) order when no two share both, fetching the ids of rows
/// that share a time alone; none when some do (copies to find).
fn time_order_without_copies(
    all: &DataFrame,
    unread: &Unread,
    times: &[i64],
) -> Result<Option<Vec<IdxSize>>, IngestError> {
    let mut order: Vec<IdxSize> = (0..all.height() as IdxSize).collect();
    // Stable: rows of one time keep the load's order until their ids sort them.
    order.par_sort_by_key(|&i| times[i as usize]);
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    for k in 1..=order.len() {
        if k == order.len() || times[order[k] as usize] != times[order[start] as usize] {
            if k - start > 1 {
                runs.push(start..k);
            }
            start = k;
        }
    }
    let mut tied: Vec<usize> = runs
        .iter()
        .flat_map(|r| order[r.clone()].iter().map(|&i| i as usize))
        .collect();
    tied.sort_unstable();
    let ids = unread.fetch(all, col::request_id, &tied)?;
    let id_of = |row: IdxSize| -> &str {
        tied.binary_search(&(row as usize))
            .ok()
            .and_then(|k| ids[k].as_deref())
            .unwrap_or("")
    };
    for run in runs {
        let slice = &mut order[run];
        slice.sort_by(|&a, &b| id_of(a).cmp(id_of(b)));
        if slice.windows(2).any(|w| id_of(w[0]) == id_of(w[1])) {
            return Ok(None);
        }
    }
    Ok(Some(order))
}

/// What deduplication keeps: one row per request id, and for each id seen more than once its
/// copies from best to worst.
struct Plan {
    keep: Vec<bool>,
    groups: Vec<Vec<usize>>,
}

/// The rows of each request id seen more than once.
fn repeated_ids(all: &DataFrame) -> Result<Vec<Vec<usize>>, IngestError> {
    let ids = all.column(col::request_id)?.str()?;
    let mut first: AHashMap<&str, usize> = AHashMap::with_capacity(all.height());
    let mut repeated: AHashMap<usize, Vec<usize>> = AHashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = id else { continue };
        match first.get(id) {
            None => {
                first.insert(id, i);
            }
            Some(&held) => repeated.entry(held).or_insert_with(|| vec![held]).push(i),
        }
    }
    Ok(repeated.into_values().collect())
}

/// What deduplication keeps, given the rows of each id seen more than once: the best copy
/// of each. `rendered[i]`: row `i` comes from a CSV rendering, the last choice among copies.
fn plan(
    all: &DataFrame,
    rendered: &[bool],
    mut groups: Vec<Vec<usize>>,
) -> Result<Plan, IngestError> {
    let n = all.height();
    let mut keep = vec![true; n];
    if groups.is_empty() {
        return Ok(Plan { keep, groups });
    }
    let files = all.column(col::source_file)?.str()?.rechunk();
    let lines = all.column(col::source_line)?.u64()?.rechunk();
    let mut filled = vec![0u16; n];
    for column in all.columns() {
        for (i, present) in column.is_not_null().iter().enumerate() {
            filled[i] += u16::from(present.unwrap_or(false));
        }
    }
    // Better copy first: not a CSV rendering, more filled columns, the earlier file and line.
    let rank = |i: usize| {
        (
            rendered[i],
            std::cmp::Reverse(filled[i]),
            files.get(i).unwrap_or(""),
            lines.get(i).unwrap_or(0),
            i,
        )
    };
    for group in &mut groups {
        group.sort_by_key(|&i| rank(i));
        for &i in &group[1..] {
            keep[i] = false;
        }
    }
    groups.sort_unstable();
    Ok(Plan { keep, groups })
}

/// Kept rows in their final order, not yet gathered: each loaded column and the rows it
/// takes (a kept row's null cells filled from its other copies). A convert gathers each
/// column just before encoding it, so the ordered frame is never held beside the loaded one;
/// [`Ordered::into_frame`] gathers them all.
pub struct Ordered {
    names: Vec<PlSmallStr>,
    columns: Vec<std::sync::Mutex<Option<Column>>>,
    sizes: Vec<usize>,
    order: Vec<IdxSize>,
    /// The rows of each id seen more than once, the kept one first.
    groups: Vec<Vec<usize>>,
    /// Where each kept row of a group stands in `order`.
    position: AHashMap<usize, usize>,
}

impl Ordered {
    fn new(all: DataFrame, order: Vec<IdxSize>, plan: Plan) -> Self {
        let position = if plan.groups.is_empty() {
            AHashMap::new()
        } else {
            order
                .iter()
                .enumerate()
                .map(|(k, &row)| (row as usize, k))
                .collect()
        };
        let names = all.get_column_names_owned();
        let columns = all.into_columns();
        Ordered {
            names,
            // A column of one value (the unread ones' nulls) is not made whole to be sized.
            sizes: columns
                .iter()
                .map(|c| c.as_series().map_or(0, |s| s.estimated_size()))
                .collect(),
            columns: columns
                .into_iter()
                .map(|c| std::sync::Mutex::new(Some(c)))
                .collect(),
            order,
            groups: plan.groups,
            position,
        }
    }

    pub fn height(&self) -> usize {
        self.order.len()
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The loaded size of column `index`, in bytes (estimated).
    pub fn size(&self, index: usize) -> usize {
        self.sizes[index]
    }

    /// Column `index` gathered in order; its loaded copy is dropped. A column is taken once.
    pub fn take(&self, index: usize) -> PolarsResult<Column> {
        let taken = self.columns[index]
            .lock()
            .map_err(|_| polars_err!(ComputeError: "a column's gather failed on another thread"))?
            .take();
        let Some(column) = taken else {
            polars_bail!(ComputeError: "column '{}' was gathered twice", self.names[index]);
        };
        // Gathering from one contiguous chunk is far cheaper than from hundreds.
        let column = column.rechunk();
        if self.groups.is_empty() {
            return column.take(&IdxCa::from_vec("order".into(), self.order.clone()));
        }
        let present = column.is_not_null();
        let is_present = |i: usize| present.get(i).unwrap_or(false);
        let mut source = self.order.clone();
        for group in &self.groups {
            let best = group[0];
            if is_present(best) {
                continue;
            }
            if let Some(&donor) = group[1..].iter().find(|&&i| is_present(i)) {
                source[self.position[&best]] = donor as IdxSize;
            }
        }
        column.take(&IdxCa::from_vec("source".into(), source))
    }

    /// Every column gathered: a column a thread at a time, each source column dropped once
    /// gathered, so the peak is the frame plus a column a thread rather than two frames.
    pub fn into_frame(self) -> PolarsResult<DataFrame> {
        // Each thread takes its columns in turn, so no thread waits for another between
        // columns.
        let columns = (0..self.width())
            .into_par_iter()
            .with_max_len(1)
            .map(|index| {
                // Trimming has a cost; every other column keeps the peak near one frame.
                if index % 2 == 1 {
                    super::release_freed_memory();
                }
                self.take(index)
            })
            .collect::<PolarsResult<Vec<Column>>>()?;
        DataFrame::new(self.height(), columns)
    }
}

/// Distinct user keys as bits, one per key number.
fn add_bits(all: &mut [u64], more: &[u64]) {
    for (word, more) in all.iter_mut().zip(more) {
        *word |= more;
    }
}

fn count_bits(bits: &[u64]) -> u64 {
    bits.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// One file's account: rows kept, first and last time, and its distinct users (user id,
/// else principal name) as bits by key. Parts of the file are counted in parallel.
fn account(
    range: std::ops::Range<usize>,
    keep: &[bool],
    times: &[i64],
    keys: &UserKeys,
) -> (u64, i64, i64, Vec<u64>) {
    use rayon::prelude::*;
    let words = keys.count.div_ceil(64);
    let part = (range.len() / (4 * rayon::current_num_threads())).max(1 << 16);
    let starts: Vec<usize> = range.clone().step_by(part).collect();
    let parts: Vec<(u64, i64, i64, Vec<u64>)> = starts
        .into_par_iter()
        .map(|lo| {
            let hi = (lo + part).min(range.end);
            let mut kept = 0u64;
            let mut first = i64::MAX;
            let mut last = i64::MIN;
            let mut seen = vec![0u64; words];
            for i in lo..hi {
                kept += u64::from(keep[i]);
                first = first.min(times[i]);
                last = last.max(times[i]);
                let k = keys.index[i];
                if k != UserKeys::NONE {
                    seen[k as usize / 64] |= 1 << (k % 64);
                }
            }
            (kept, first, last, seen)
        })
        .collect();
    let mut total = (0, i64::MAX, i64::MIN, vec![0u64; words]);
    for (kept, first, last, seen) in parts {
        total.0 += kept;
        total.1 = total.1.min(first);
        total.2 = total.2.max(last);
        add_bits(&mut total.3, &seen);
    }
    total
}
