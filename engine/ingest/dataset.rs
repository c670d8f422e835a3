//! A partitioned canonical dataset: one directory a day (`date=YYYY-MM-DD/part-0.parquet`,
//! hive style, which DuckDB, Polars and Spark read as they are) and a manifest (`_idrisk.json`:
//! schema version, partitioning, rows and time range of each day). `convert --out DIR/`
//! writes one; given a dataset, it rewrites only the days its new sign-ins fall on (the
//! nightly append). Every command reads a dataset like any directory, and `--since/--until`
//! pass over the days outside their window without opening them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::parquet::{write_canonical_parquet, Compression};
use super::{IngestError, Quarantined};
use crate::frame::col;
use crate::frame::time::format_time;

/// The manifest's file name; directory walks pass over it.
pub const MANIFEST: &str = "_idrisk.json";
/// The folder of each write's quarantine; directory walks pass over it.
pub const QUARANTINE_DIR: &str = "_quarantine";
/// What `format` says in a manifest.
const FORMAT: &str = "idrisk-canonical-dataset";
/// The version of the partition layout and of the canonical schema it holds.
pub const SCHEMA_VERSION: u32 = 1;
const DAY: i64 = 86_400_000_000;

/// One day's partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Relative to the dataset: `date=2025-03-01`.
    pub path: String,
    pub files: Vec<String>,
    pub rows: u64,
    pub first: String,
    pub last: String,
}

/// The dataset's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub schema_version: u32,
    pub engine_version: String,
    /// The partition keys, outermost first.
    pub partitioning: Vec<String>,
    /// How many writes made the dataset (each write's quarantine is numbered by it).
    pub writes: u64,
    pub rows: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub partitions: Vec<Partition>,
}

impl Manifest {
    fn empty() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            schema_version: SCHEMA_VERSION,
            engine_version: env!("CARGO_PKG_VERSION").into(),
            partitioning: vec!["date".into()],
            writes: 0,
            rows: 0,
            first: None,
            last: None,
            partitions: Vec::new(),
        }
    }
}

/// True when `dir` holds a dataset's manifest.
pub fn is_dataset(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
}

/// Reads a dataset's manifest, refusing another layout or a newer schema.
pub fn read_manifest(dir: &Path) -> Result<Manifest, IngestError> {
    let path = dir.join(MANIFEST);
    let bad = |reason: String| IngestError::BadInput {
        input: path.clone(),
        reason,
    };
    let text = std::fs::read(&path).map_err(|e| IngestError::io(&path, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not a dataset manifest ({e})")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "format '{}', expected '{FORMAT}'",
            manifest.format
        )));
    }
    if manifest.schema_version > SCHEMA_VERSION {
        return Err(bad(format!(
            "schema version {} is newer than this release's {SCHEMA_VERSION}: upgrade idrisk",
            manifest.schema_version
        )));
    }
    Ok(manifest)
}

/// The day (days since 1970-01-01, UTC) of a time.
fn day_of(time: i64) -> i64 {
    time.div_euclid(DAY)
}

/// `date=YYYY-MM-DD` of a day.
fn partition_name(day: i64) -> String {
    format!("date={}", &format_time(day * DAY)[..10])
}

/// The days a frame's sign-ins fall on.
pub fn days(frame: &DataFrame) -> Result<Vec<i64>, IngestError> {
    let times = frame.column(col::time)?.datetime()?.physical().clone();
    let mut days: Vec<i64> = times.iter().flatten().map(day_of).collect();
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

/// The Parquet files the dataset holds for `days`.
pub fn files_of_days(dir: &Path, manifest: &Manifest, days: &[i64]) -> Vec<PathBuf> {
    let wanted: Vec<String> = days.iter().map(|&d| partition_name(d)).collect();
    manifest
        .partitions
        .iter()
        .filter(|p| wanted.contains(&p.path))
        .flat_map(|p| p.files.iter().map(move |f| dir.join(&p.path).join(f)))
        .collect()
}

/// Writes `frame` (sorted by time, as a load leaves it) into the dataset at `dir`, one
/// partition a day, replacing the days it covers and keeping every other; then the
/// quarantine of this write, then the manifest. Each file is written aside and renamed into
/// place, the manifest last: a reader never sees a half-written file, and a write that is
/// cut short leaves the previous manifest.
pub fn write(
    frame: &DataFrame,
    quarantine: &[Quarantined],
    dir: &Path,
    compression: Compression,
) -> Result<Manifest, IngestError> {
    std::fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
    let mut manifest = if is_dataset(dir) {
        read_manifest(dir)?
    } else {
        Manifest::empty()
    };
    let times = frame.column(col::time)?.datetime()?.physical().clone();
    let times: Vec<i64> = times.iter().map(|t| t.unwrap_or(i64::MIN)).collect();
    // Rows of one day are contiguous in a frame sorted by time.
    let mut written: BTreeMap<String, Partition> = BTreeMap::new();
    let mut start = 0;
    while start < times.len() {
        let day = day_of(times[start]);
        let end = start + times[start..].partition_point(|&t| day_of(t) == day);
        let name = partition_name(day);
        let folder = dir.join(&name);
        std::fs::create_dir_all(&folder).map_err(|e| IngestError::io(&folder, e))?;
        let file = folder.join("part-0.parquet");
        let aside = folder.join(".part-0.parquet.partial");
        write_canonical_parquet(&frame.slice(start as i64, end - start), &aside, compression)?;
        std::fs::rename(&aside, &file).map_err(|e| IngestError::io(&file, e))?;
        written.insert(
            name.clone(),
            Partition {
                path: name,
                files: vec!["part-0.parquet".into()],
                rows: (end - start) as u64,
                first: format_time(times[start]),
                last: format_time(times[end - 1]),
            },
        );
        start = end;
    }
    manifest.writes += 1;
    let folder = dir.join(QUARANTINE_DIR);
    std::fs::create_dir_all(&folder).map_err(|e| IngestError::io(&folder, e))?;
    let path = folder.join(format!("write-{:06}.jsonl", manifest.writes));
    crate::report::write_quarantine_jsonl(quarantine, &path)
        .map_err(|e| IngestError::io(&path, e))?;
    let mut partitions: BTreeMap<String, Partition> = manifest
        .partitions
        .drain(..)
        .map(|p| (p.path.clone(), p))
        .collect();
    partitions.extend(written);
    manifest.partitions = partitions.into_values().collect();
    manifest.rows = manifest.partitions.iter().map(|p| p.rows).sum();
    manifest.first = manifest.partitions.first().map(|p| p.first.clone());
    manifest.last = manifest.partitions.last().map(|p| p.last.clone());
    manifest.engine_version = env!("CARGO_PKG_VERSION").into();
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| IngestError::io(dir, std::io::Error::other(e)))?;
    let aside = dir.join(".manifest.partial");
    std::fs::write(&aside, text).map_err(|e| IngestError::io(&aside, e))?;
    let path = dir.join(MANIFEST);
    std::fs::rename(&aside, &path).map_err(|e| IngestError::io(&path, e))?;
    Ok(manifest)
}
