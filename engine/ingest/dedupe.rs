//! Deduplication on the sign-in id, the final sort, and the per-file account of a load.
//!
//! The same sign-in reaches the engine several times (overlapping downloads, a Log Analytics
//! export repeating a row, the same hour in two shapes). Of the copies, the one with the most
//! filled columns is kept (a JSON copy beats a CSV copy, which has no coordinates); ties go to
//! the first file and line by name, so the choice never depends on argument or thread order.

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
    let keep = keep_mask(&all)?;

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
    let order = IdxCa::from_vec("order".into(), order);
    let frame = all.take(&order)?;
    Ok(Ingested {
        frame,
        quarantine,
        files: reports,
        totals,
    })
}

/// Which rows survive deduplication on `request_id`.
fn keep_mask(all: &DataFrame) -> Result<Vec<bool>, IngestError> {
    let n = all.height();
    let ids = all.column(col::request_id)?.str()?;
    let files = all.column(col::source_file)?.str()?;
    let lines = all.column(col::source_line)?.u64()?;
    let mut filled = vec![0u16; n];
    for column in all.columns() {
        for (i, present) in column.is_not_null().iter().enumerate() {
            filled[i] += u16::from(present.unwrap_or(false));
        }
    }
    // Better copy first: more filled columns, then the earlier file and line.
    let rank = |i: usize| {
        (
            std::cmp::Reverse(filled[i]),
            files.get(i).unwrap_or(""),
            lines.get(i).unwrap_or(0),
            i,
        )
    };
    let mut best: AHashMap<&str, usize> = AHashMap::with_capacity(n);
    let mut keep = vec![false; n];
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = id else { continue };
        match best.get_mut(id) {
            None => {
                best.insert(id, i);
                keep[i] = true;
            }
            Some(held) => {
                if rank(i) < rank(*held) {
                    keep[*held] = false;
                    keep[i] = true;
                    *held = i;
                }
            }
        }
    }
    Ok(keep)
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
