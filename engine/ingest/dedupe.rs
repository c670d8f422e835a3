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

use ahash::{AHashMap, AHashSet};
use polars::prelude::*;

use super::values::format_time;
use super::{Counts, FileLoad, FileReport, IngestError, Ingested};
use crate::frame::{self, col};

pub(super) fn finish(files: &[PathBuf], loads: Vec<FileLoad>) -> Result<Ingested, IngestError> {
    let mut all = frame::empty();
    let mut ranges = Vec::with_capacity(loads.len());
    for load in &loads {
        let start = all.height();
        for part in &load.frames {
            all.vstack_mut(part)?;
        }
        ranges.push(start..all.height());
    }
    all.rechunk_mut_par();
    let mut rendered = vec![false; all.height()];
    for (load, range) in loads.iter().zip(&ranges) {
        if load.shape.is_rendered_for_people() {
            rendered[range.clone()].fill(true);
        }
    }
    let plan = plan(&all, &rendered)?;
    let keep = &plan.keep;

    let times = all.column(col::time)?.datetime()?.physical().clone();
    let ids = all.column(col::request_id)?.str()?.clone();
    let users = user_keys(&all)?;
    let mut order: Vec<IdxSize> = (0..all.height() as IdxSize)
        .filter(|&i| keep[i as usize])
        .collect();
    let time_at = |i: IdxSize| times.get(i as usize).unwrap_or(i64::MIN);
    order.sort_unstable_by(|&a, &b| {
        time_at(a)
            .cmp(&time_at(b))
            .then_with(|| ids.get(a as usize).cmp(&ids.get(b as usize)))
    });

    let mut reports = Vec::with_capacity(loads.len());
    let mut totals = Counts {
        files: loads.len() as u64,
        ..Counts::default()
    };
    let mut all_users = AHashSet::new();
    let mut quarantine = Vec::new();
    for ((path, load), range) in files.iter().zip(loads).zip(ranges) {
        let mut kept = 0u64;
        let mut first = i64::MAX;
        let mut last = i64::MIN;
        let mut file_users = AHashSet::new();
        for i in range.clone() {
            if !keep[i] {
                continue;
            }
            kept += 1;
            if let Some(t) = times.get(i) {
                first = first.min(t);
                last = last.max(t);
            }
            if let Some(user) = users[i] {
                file_users.insert(user);
                all_users.insert(user);
            }
        }
        let report = FileReport {
            path: path.to_string_lossy().into_owned(),
            shape: load.shape,
            gzip: load.gzip,
            read: load.read,
            kept,
            duplicates: load.rows() - kept,
            skipped: load.skipped,
            quarantined: load.quarantine.len() as u64,
            first: (kept > 0).then(|| format_time(first)),
            last: (kept > 0).then(|| format_time(last)),
            users: file_users.len() as u64,
            warnings: load.warnings,
        };
        totals.read += report.read;
        totals.kept += report.kept;
        totals.duplicates += report.duplicates;
        totals.skipped += report.skipped;
        totals.quarantined += report.quarantined;
        quarantine.extend(load.quarantine);
        reports.push(report);
    }
    totals.users = all_users.len() as u64;
    quarantine.sort();
    let frame = assemble(&all, order, &plan)?;
    Ok(Ingested {
        frame,
        quarantine,
        files: reports,
        totals,
    })
}

/// What deduplication keeps: one row per request id, and for each id seen more than once its
/// copies from best to worst.
struct Plan {
    keep: Vec<bool>,
    groups: Vec<Vec<usize>>,
}

/// `rendered[i]`: row `i` comes from a CSV rendering, the last choice among copies.
fn plan(all: &DataFrame, rendered: &[bool]) -> Result<Plan, IngestError> {
    let n = all.height();
    let ids = all.column(col::request_id)?.str()?;
    let files = all.column(col::source_file)?.str()?;
    let lines = all.column(col::source_line)?.u64()?;
    let mut first: AHashMap<&str, usize> = AHashMap::with_capacity(n);
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
    let mut keep = vec![true; n];
    if repeated.is_empty() {
        return Ok(Plan {
            keep,
            groups: Vec::new(),
        });
    }
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
    let mut groups: Vec<Vec<usize>> = repeated.into_values().collect();
    for group in &mut groups {
        group.sort_by_key(|&i| rank(i));
        for &i in &group[1..] {
            keep[i] = false;
        }
    }
    groups.sort_unstable();
    Ok(Plan { keep, groups })
}

/// Gathers the kept rows in `order`, filling each kept row's null cells from its other copies.
fn assemble(all: &DataFrame, order: Vec<IdxSize>, plan: &Plan) -> Result<DataFrame, IngestError> {
    if plan.groups.is_empty() {
        return Ok(all.take(&IdxCa::from_vec("order".into(), order))?);
    }
    let position: AHashMap<usize, usize> = order
        .iter()
        .enumerate()
        .map(|(k, &row)| (row as usize, k))
        .collect();
    let mut columns = Vec::with_capacity(all.width());
    for column in all.columns() {
        let present = column.is_not_null();
        let is_present = |i: usize| present.get(i).unwrap_or(false);
        let mut source = order.clone();
        for group in &plan.groups {
            let best = group[0];
            if is_present(best) {
                continue;
            }
            if let Some(&donor) = group[1..].iter().find(|&&i| is_present(i)) {
                source[position[&best]] = donor as IdxSize;
            }
        }
        columns.push(column.take(&IdxCa::from_vec("source".into(), source))?);
    }
    Ok(DataFrame::new(order.len(), columns)?)
}

/// Per row, the user key (user id, else principal name) for counting distinct users.
fn user_keys(all: &DataFrame) -> Result<Vec<Option<&str>>, IngestError> {
    let ids = all.column(col::user_id)?.str()?;
    let names = all.column(col::user_principal_name)?.str()?;
    Ok(ids
        .iter()
        .zip(names.iter())
        .map(|(id, name)| id.or(name))
        .collect())
}
