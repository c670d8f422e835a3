//! A partitioned canonical dataset: one directory a day (`date=YYYY-MM-DD/part-0.parquet`,
//! hive style, which DuckDB, Polars and Spark read as they are), optionally split by a hash
//! of the user (`date=…/bucket=07/part-0.parquet`, the hash that assigns users to shards),
//! and a manifest (`_idrisk.json`: schema version, partitioning, bucket count, rows and time
//! range of each day). `convert --out DIR/` writes one; given a dataset, it rewrites only the
//! days its new sign-ins fall on (the nightly append). Every command reads a dataset like any
//! directory; `--since/--until` pass over the days outside their window without opening
//! them, and a shard over the buckets of other shards' users.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::parquet::{write_canonical_parquet, Compression};
use super::{IngestError, Quarantined};
use crate::frame::col;
use crate::frame::shard::shard_of;
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
    /// How many user-hash buckets each day is split into (`bucket=NN`); 0: not split.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub buckets: u32,
    /// How many writes made the dataset (each write's quarantine is numbered by it).
    pub writes: u64,
    pub rows: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub partitions: Vec<Partition>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Manifest {
    fn empty() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            schema_version: SCHEMA_VERSION,
            engine_version: env!("CARGO_PKG_VERSION").into(),
            partitioning: vec!["date".into()],
            buckets: 0,
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

/// The manifest of the dataset at `dir`, or a new one split into `buckets` (0: not split);
/// an existing dataset keeps its split, and asking for another is refused.
pub fn open_manifest(dir: &Path, buckets: Option<u32>) -> Result<Manifest, IngestError> {
    let mut manifest = if is_dataset(dir) {
        read_manifest(dir)?
    } else {
        Manifest::empty()
    };
    match buckets {
        Some(b) if manifest.writes > 0 && b != manifest.buckets => {
            return Err(IngestError::BadInput {
                input: dir.to_path_buf(),
                reason: format!(
                    "the dataset is split into {} user buckets, not {b}: leave out --buckets \
                     to append to it",
                    manifest.buckets
                ),
            })
        }
        Some(b) if manifest.writes == 0 => {
            manifest.buckets = if b <= 1 { 0 } else { b };
        }
        _ => {}
    }
    manifest.partitioning = if manifest.buckets > 1 {
        vec!["date".into(), "bucket".into()]
    } else {
        vec!["date".into()]
    };
    Ok(manifest)
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
    buckets: Option<u32>,
) -> Result<Manifest, IngestError> {
    std::fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
    let manifest = open_manifest(dir, buckets)?;
    let times = frame.column(col::time)?.datetime()?.physical().clone();
    let times: Vec<i64> = times.iter().map(|t| t.unwrap_or(i64::MIN)).collect();
    // Rows of one day are contiguous in a frame sorted by time.
    let mut written = Vec::new();
    let mut start = 0;
    while start < times.len() {
        let day = day_of(times[start]);
        let end = start + times[start..].partition_point(|&t| day_of(t) == day);
        let slice = frame.slice(start as i64, end - start);
        written.push(write_day(&slice, dir, compression, manifest.buckets)?);
        start = end;
    }
    commit(dir, manifest, written, quarantine)
}

/// Writes the sign-ins of one day (sorted by time) as the day's partition, split into the
/// dataset's buckets; returns its manifest entry. The files are renamed into place; the
/// manifest is not touched (see [`commit`]).
pub fn write_day(
    frame: &DataFrame,
    dir: &Path,
    compression: Compression,
    buckets: u32,
) -> Result<Partition, IngestError> {
    let times = frame.column(col::time)?.datetime()?.physical().clone();
    let first = times.iter().flatten().next().unwrap_or(i64::MIN);
    let last = times.iter().flatten().last().unwrap_or(i64::MIN);
    let name = partition_name(day_of(first));
    let folder = dir.join(&name);
    let mut files = Vec::new();
    let mut write_part = |file: String, part: &DataFrame| -> Result<(), IngestError> {
        let path = folder.join(&file);
        let parent = path.parent().unwrap_or(&folder);
        std::fs::create_dir_all(parent).map_err(|e| IngestError::io(parent, e))?;
        let aside = parent.join(".part-0.parquet.partial");
        write_canonical_parquet(part, &aside, compression)?;
        std::fs::rename(&aside, &path).map_err(|e| IngestError::io(&path, e))?;
        files.push(file);
        Ok(())
    };
    if buckets > 1 {
        let ids = frame.column(col::user_id)?.str()?;
        let names = frame.column(col::user_principal_name)?.str()?;
        // Each bucket's rows in time order, found in one pass, then gathered and written one
        // bucket at a time: a filter a bucket passed over every row of the day once per
        // bucket (a tenth of a dataset convert's CPU) and held every bucket at once.
        let mut rows_of: Vec<Vec<IdxSize>> = vec![Vec::new(); buckets as usize];
        for (row, (id, name)) in ids.iter().zip(names.iter()).enumerate() {
            rows_of[shard_of(id.or(name), buckets) as usize].push(row as IdxSize);
        }
        let width = bucket_width(buckets);
        for (bucket, rows) in rows_of.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let part = frame.take(&IdxCa::from_vec("rows".into(), rows))?;
            write_part(format!("bucket={bucket:0width$}/part-0.parquet"), &part)?;
        }
    } else {
        write_part("part-0.parquet".into(), frame)?;
    }
    Ok(Partition {
        path: name,
        files,
        rows: frame.height() as u64,
        first: format_time(first),
        last: format_time(last),
    })
}

/// Digits of a bucket number in its folder's name (`bucket=07` of 16): names sort as numbers.
fn bucket_width(buckets: u32) -> usize {
    buckets.saturating_sub(1).max(1).to_string().len()
}

/// Records a write: its quarantine (numbered by the write), then the manifest with the
/// `written` days replacing those it held, renamed into place last.
pub fn commit(
    dir: &Path,
    mut manifest: Manifest,
    written: Vec<Partition>,
    quarantine: &[Quarantined],
) -> Result<Manifest, IngestError> {
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
    partitions.extend(written.into_iter().map(|p| (p.path.clone(), p)));
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

/// The bucket of a dataset file and the dataset's bucket count, from its `bucket=NN` folder
/// and the manifest above it (read once per dataset); none for any other file.
pub fn bucket_of_file(path: &Path) -> Option<(u32, u32)> {
    static COUNTS: std::sync::LazyLock<std::sync::Mutex<BTreeMap<PathBuf, u32>>> =
        std::sync::LazyLock::new(Default::default);
    let folder = path.parent()?;
    let bucket: u32 = folder
        .file_name()?
        .to_str()?
        .strip_prefix("bucket=")?
        .parse()
        .ok()?;
    // date=…/bucket=NN/part-0.parquet: the dataset is two folders up.
    let root = folder.parent()?.parent()?.to_path_buf();
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let count = match counts.get(&root) {
        Some(&count) => count,
        None => {
            let count = read_manifest(&root).map_or(0, |m| m.buckets);
            counts.insert(root, count);
            count
        }
    };
    (count > 1 && bucket < count).then_some((bucket, count))
}

/// How many sign-ins a canonical Parquet file holds, from its footer.
pub fn file_rows(path: &Path) -> Result<u64, IngestError> {
    let file = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    let rows = ParquetReader::new(file).num_rows()?;
    Ok(rows as u64)
}

/// The folder a convert in parts spills to, inside the dataset (hidden: walks pass over it).
pub const STAGING_DIR: &str = ".staging";

/// Sign-ins spilled by day while a convert reads its inputs a batch at a time: each batch,
/// deduplicated and in time order, is cut into its days (`.staging/date=…/batch-00003.parquet`),
/// so that each day can then be read alone, its copies across batches found, and written.
/// Rows of renderings for people go to files of their own (`…-rendered.parquet`), so that
/// their copies still lose to any other when the day is read. Removed when dropped.
pub struct Staging {
    dir: PathBuf,
    days: BTreeMap<i64, Vec<PathBuf>>,
    rendered: Vec<PathBuf>,
    batches: u32,
}

impl Staging {
    /// A fresh staging folder in the dataset at `dataset` (one a cut-short convert left is
    /// removed first).
    pub fn new(dataset: &Path) -> Result<Staging, IngestError> {
        let dir = dataset.join(STAGING_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| IngestError::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| IngestError::io(&dir, e))?;
        Ok(Staging {
            dir,
            days: BTreeMap::new(),
            rendered: Vec::new(),
            batches: 0,
        })
    }

    /// Spills one batch's frame (in time order); `rendered`: the source files whose rows are
    /// renderings for people.
    pub fn spill(&mut self, frame: &DataFrame, rendered: &[String]) -> Result<(), IngestError> {
        let batch = self.batches;
        self.batches += 1;
        let times = frame.column(col::time)?.datetime()?.physical().clone();
        let times: Vec<i64> = times.iter().map(|t| t.unwrap_or(i64::MIN)).collect();
        let is_rendered: Vec<bool> = if rendered.is_empty() {
            vec![false; frame.height()]
        } else {
            let sources = frame.column(col::source_file)?.str()?;
            sources
                .iter()
                .map(|s| s.is_some_and(|s| rendered.iter().any(|r| r == s)))
                .collect()
        };
        let mut start = 0;
        while start < times.len() {
            let day = day_of(times[start]);
            let end = start + times[start..].partition_point(|&t| day_of(t) == day);
            let folder = self.dir.join(partition_name(day));
            std::fs::create_dir_all(&folder).map_err(|e| IngestError::io(&folder, e))?;
            let slice = frame.slice(start as i64, end - start);
            for kind in [false, true] {
                let rows = &is_rendered[start..end];
                if !rows.contains(&kind) {
                    continue;
                }
                let part = if rows.iter().all(|&r| r == kind) {
                    slice.clone()
                } else {
                    let keep: BooleanChunked = rows.iter().map(|&r| Some(r == kind)).collect();
                    slice.filter(&keep)?
                };
                let name = match kind {
                    false => format!("batch-{batch:05}.parquet"),
                    true => format!("batch-{batch:05}-rendered.parquet"),
                };
                let path = folder.join(name);
                // Spilled parts take as much disk as the dataset: the smaller encoding.
                write_canonical_parquet(&part, &path, Compression::Zstd)?;
                if kind {
                    self.rendered.push(path.clone());
                }
                self.days.entry(day).or_default().push(path);
            }
            start = end;
        }
        Ok(())
    }

    /// The days spilled, in order, with their files.
    pub fn days(&self) -> impl Iterator<Item = (i64, &[PathBuf])> {
        self.days
            .iter()
            .map(|(&day, files)| (day, files.as_slice()))
    }

    /// The spilled files of rendered rows.
    pub fn rendered(&self) -> &[PathBuf] {
        &self.rendered
    }

    /// Removes one day's files once it is written.
    pub fn done_with(&self, day: i64) {
        let _ = std::fs::remove_dir_all(self.dir.join(partition_name(day)));
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shard count to run instead of `count` over `files`: when they are a dataset split
/// into B user buckets, the least count from `count` up that divides B (each shard then
/// reads whole buckets and no other file) or, above B, the next multiple of B (each reads
/// one bucket's files and keeps its users). Else `count`.
pub fn shard_count_for(count: u32, files: &[PathBuf]) -> u32 {
    let Some((_, buckets)) = files.iter().find_map(|f| bucket_of_file(f)) else {
        return count;
    };
    if count <= buckets {
        (count..=buckets)
            .find(|c| buckets % c == 0)
            .unwrap_or(buckets)
    } else {
        count.div_ceil(buckets) * buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_counts_round_to_whole_buckets_of_a_split_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = open_manifest(dir.path(), Some(16)).unwrap();
        manifest = commit(dir.path(), manifest, Vec::new(), &[]).unwrap();
        assert_eq!(manifest.buckets, 16);
        assert_eq!(manifest.partitioning, ["date", "bucket"]);
        let file = dir.path().join("date=2025-03-01/bucket=03/part-0.parquet");
        assert_eq!(bucket_of_file(&file), Some((3, 16)));
        let files = [file];
        let rounded: Vec<u32> = [1, 2, 3, 5, 9, 16, 17, 40]
            .iter()
            .map(|&n| shard_count_for(n, &files))
            .collect();
        assert_eq!(rounded, [1, 2, 4, 8, 16, 16, 32, 48]);
        // Files of no split dataset keep the count.
        let plain = dir.path().join("date=2025-03-01/part-0.parquet");
        assert_eq!(bucket_of_file(&plain), None);
        assert_eq!(shard_count_for(3, &[plain]), 3);
        // Another split than the dataset's is refused.
        assert!(open_manifest(dir.path(), Some(8)).is_err());
        assert!(open_manifest(dir.path(), Some(16)).is_ok());
    }
}
