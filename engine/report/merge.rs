//! Shards' output tables into the one run's, streamed: each table of every shard is read
//! row by row and merged into the run's order, so a merge holds one row per shard (and a
//! Parquet row group of output), not the run's detections.
//!
//! A run lists detections by detector, then by sign-in in the detectors' order (user, then
//! time), users ranked by their key (user id, else principal name; sign-ins without a user
//! last). Every sign-in of a user is in one shard, so each shard's list is already in that
//! order for its users, and a merge on (detector, user key), ties to the earlier shard,
//! gives the whole run's list: a user's own detections keep the order their shard gave them.
//! The timeline is ordered the same way by user. The aggregates group by user, sign-in or
//! service principal, each of which one shard holds whole, so the shards' aggregate tables
//! merge on their own sort keys (risky sign-ins by time then id, the others by id).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::de::DeserializeOwned;

use super::read::rows;
use super::timeline::TimelineSignIn;
use super::write::{jsonl_blocks, Format, Record, Staged, TableWriter};
use super::{Detection, RiskyServicePrincipal, RiskySignIn, RiskyUser};

/// What a run wrote: the tables' sizes, the detection counts of the summary, and the small
/// tables the closing lines rank.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// Detections per riskEventType, then per level.
    pub detection_counts: BTreeMap<String, BTreeMap<String, u64>>,
    pub detections: u64,
    pub risky_signins: u64,
    pub timeline: u64,
    pub risky_users: Vec<RiskyUser>,
    pub risky_service_principals: Vec<RiskyServicePrincipal>,
}

/// Where a user comes in the detectors' order: by key, sign-ins without a user last.
fn user_rank(key: Option<&str>) -> (bool, String) {
    (key.is_none(), key.unwrap_or("").to_string())
}

/// Merges the tables of the shards' output directories `parts` (in shard order; tables in
/// any format) into `out` in `format`, staged in `staged`.
pub fn tables(
    parts: &[PathBuf],
    format: Format,
    out: &Path,
    staged: &Staged,
) -> anyhow::Result<Written> {
    let path = |table: &str| out.join(format!("{table}.{}", format.extension()));
    // The timeline, the longest table, is merged beside the others.
    let (others, timeline) = rayon::join(
        || -> anyhow::Result<Written> {
            let mut written = Written::default();
            let counts = &mut written.detection_counts;
            written.detections = merge_table(
                parts,
                "detections",
                format,
                &path("detections"),
                staged,
                |d: &Detection| (d.detector.clone(), user_rank(d.user_key())),
                |d| {
                    *counts
                        .entry(d.risk_event_type.clone())
                        .or_default()
                        .entry(d.risk_level.as_str().to_string())
                        .or_default() += 1;
                },
            )?;
            written.risky_signins = merge_table(
                parts,
                "risky_signins",
                format,
                &path("risky_signins"),
                staged,
                |s: &RiskySignIn| (s.created_date_time.clone(), s.id.clone()),
                |_| {},
            )?;
            let users = &mut written.risky_users;
            merge_table(
                parts,
                "risky_users",
                format,
                &path("risky_users"),
                staged,
                |u: &RiskyUser| u.id.clone(),
                |u| users.push(u.clone()),
            )?;
            let principals = &mut written.risky_service_principals;
            merge_table(
                parts,
                "risky_service_principals",
                format,
                &path("risky_service_principals"),
                staged,
                |p: &RiskyServicePrincipal| p.id.clone(),
                |p| principals.push(p.clone()),
            )?;
            Ok(written)
        },
        || {
            merge_table(
                parts,
                "timeline",
                format,
                &path("timeline"),
                staged,
                |s: &TimelineSignIn| {
                    user_rank(s.user_id.as_deref().or(s.user_principal_name.as_deref()))
                },
                |_| {},
            )
        },
    );
    Ok(Written {
        timeline: timeline?,
        ..others?
    })
}

/// The tables of shards scored one after another in one process, spilled to disk as each
/// shard is done (zstd-compressed JSON Lines: a year's timeline is gigabytes of text) and
/// merged once all are: what lets `score --memory-limit` hold one shard's findings at a
/// time. The spill lives beside the run's outputs, where there is room for them, and is
/// removed when dropped.
pub struct Spill {
    dir: PathBuf,
    parts: Vec<PathBuf>,
}

impl Spill {
    /// An empty spill in a new folder of `beside`. The spills a killed run left there (of
    /// a process that is gone) are removed first.
    pub fn new(beside: &Path) -> std::io::Result<Spill> {
        let dir = beside.join(format!(".shards-{}", std::process::id()));
        if let Ok(entries) = std::fs::read_dir(beside) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let gone = name
                    .strip_prefix(".shards-")
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| {
                        pid == std::process::id() || !Path::new(&format!("/proc/{pid}")).exists()
                    });
                if gone {
                    std::fs::remove_dir_all(entry.path())?;
                }
            }
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Spill {
            dir,
            parts: Vec::new(),
        })
    }

    /// Writes the next shard's tables.
    pub fn add(&mut self, scored: &super::score::Scored) -> anyhow::Result<()> {
        let part = self.dir.join(format!("shard-{}", self.parts.len()));
        std::fs::create_dir_all(&part)?;
        let write =
            |name: &str,
             rows: &dyn Fn(&mut zstd::Encoder<'static, std::fs::File>) -> std::io::Result<()>|
             -> anyhow::Result<()> {
                let path = part.join(format!("{name}.jsonl.zst"));
                let mut out = zstd::Encoder::new(std::fs::File::create(&path)?, 1)?;
                rows(&mut out)?;
                out.finish()?;
                Ok(())
            };
        write("detections", &|out| jsonl_blocks(&scored.detections, out))?;
        write("risky_signins", &|out| {
            jsonl_blocks(&scored.risky_signins, out)
        })?;
        write("risky_users", &|out| jsonl_blocks(&scored.risky_users, out))?;
        write("risky_service_principals", &|out| {
            jsonl_blocks(&scored.risky_service_principals, out)
        })?;
        write("timeline", &|out| jsonl_blocks(&scored.timeline, out))?;
        self.parts.push(part);
        Ok(())
    }

    /// Merges every shard's tables into `out` in `format`, staged in `staged`.
    pub fn merge(&self, format: Format, out: &Path, staged: &Staged) -> anyhow::Result<Written> {
        tables(&self.parts, format, out, staged)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The next row of one shard's table, ordered by its key, ties to the earlier shard.
struct Head<K, R> {
    key: K,
    part: usize,
    row: R,
}

impl<K: Ord, R> PartialEq for Head<K, R> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<K: Ord, R> Eq for Head<K, R> {}
impl<K: Ord, R> PartialOrd for Head<K, R> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord, R> Ord for Head<K, R> {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.key, self.part).cmp(&(&other.key, other.part))
    }
}

/// Merges table `name` of every part into `path` on `key`, calling `seen` on each row in
/// the output's order; returns how many rows it wrote. A part whose rows are out of order
/// (not a shard's output as `score` writes it) is refused: merged anyway, the run's order
/// would silently be lost.
fn merge_table<R, K>(
    parts: &[PathBuf],
    name: &str,
    format: Format,
    path: &Path,
    staged: &Staged,
    key: impl Fn(&R) -> K,
    mut seen: impl FnMut(&R),
) -> anyhow::Result<u64>
where
    R: Record + DeserializeOwned + 'static,
    K: Ord,
{
    let mut count = 0u64;
    staged.write(path, |tmp| -> anyhow::Result<()> {
        let mut streams = parts
            .iter()
            .map(|dir| rows::<R>(dir, name))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut heads = BinaryHeap::with_capacity(streams.len());
        for (part, stream) in streams.iter_mut().enumerate() {
            if let Some(row) = stream.next().transpose()? {
                heads.push(Reverse(Head {
                    key: key(&row),
                    part,
                    row,
                }));
            }
        }
        let mut out = TableWriter::<R>::create(tmp, format)?;
        while let Some(Reverse(head)) = heads.pop() {
            out.push(&head.row)?;
            seen(&head.row);
            count += 1;
            if let Some(row) = streams[head.part].next().transpose()? {
                let next = key(&row);
                if next < head.key {
                    bail!(
                        "'{}': its {name} are not in a run's order; was it written by `idrisk score`?",
                        parts[head.part].display()
                    );
                }
                heads.push(Reverse(Head {
                    key: next,
                    part: head.part,
                    row,
                }));
            }
        }
        out.finish()
    })?;
    Ok(count)
}

/// What [`tables`] reports for tables written from memory.
impl Written {
    pub fn of(scored: &super::score::Scored) -> Written {
        Written {
            detection_counts: super::detection_counts(&scored.detections),
            detections: scored.detections.len() as u64,
            risky_signins: scored.risky_signins.len() as u64,
            timeline: scored.timeline.len() as u64,
            risky_users: scored.risky_users.clone(),
            risky_service_principals: scored.risky_service_principals.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::score::Scored;
    use crate::report::tests::detection;
    use crate::report::{risky_service_principals, risky_signins, risky_users, write_tables};
    use crate::report::{write_table, RiskLevel};

    /// A scoring pass's tables made from `detections` alone, as a shard would have them.
    fn scored(detections: Vec<Detection>) -> Scored {
        Scored {
            risky_signins: risky_signins(&detections),
            risky_users: risky_users(&detections),
            risky_service_principals: risky_service_principals(&detections),
            detections,
            timeline: Vec::new(),
            campaigns: Vec::new(),
            detectors: Vec::new(),
            scored_rows: 0,
            scored_interactive: 0,
            warnings: Vec::new(),
        }
    }

    /// Detections of `users`, each user's two in the order a shard lists them: by detector,
    /// then user; a float that only reads back exactly with a correct parser.
    fn detections_of(users: &[&str]) -> Vec<Detection> {
        let mut all = Vec::new();
        for detector in ["anonymous_ip", "new_country"] {
            for user in users {
                for (k, at) in ["2025-03-02T10:00:00Z", "2025-03-01T09:00:00Z"]
                    .iter()
                    .enumerate()
                {
                    let mut d = detection(
                        &format!("{detector}-{user}-{k}"),
                        Some(&format!("req-{user}-{k}")),
                        user,
                        detector,
                        RiskLevel::Medium,
                        at,
                    );
                    d.detector = detector.to_string();
                    d.evidence = serde_json::json!({"rareLimit": 498.28000000000003, "k": k});
                    all.push(d);
                }
            }
        }
        all
    }

    #[test]
    fn merged_shards_write_the_bytes_of_the_whole_run_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        // Users split over two shards, interleaving in key order.
        let shards = [vec!["u1", "u4"], vec!["u2", "u3", "u5"]];
        let mut all_users: Vec<&str> = shards.concat();
        all_users.sort();
        let whole = scored(detections_of(&all_users));
        // The shards as `idrisk merge` finds them (output directories) and as a run under a
        // memory limit spills them.
        let mut parts = Vec::new();
        let mut spill = Spill::new(dir.path()).unwrap();
        for (k, users) in shards.iter().enumerate() {
            let part = dir.path().join(format!("part-{k}"));
            let staged = Staged::new();
            let shard = scored(detections_of(users));
            write_tables(&shard, Format::Jsonl, &part, &staged).unwrap();
            staged.commit().unwrap();
            parts.push(part);
            spill.add(&shard).unwrap();
        }
        for (format, spilled) in [Format::Jsonl, Format::Csv, Format::Parquet]
            .into_iter()
            .flat_map(|f| [(f, false), (f, true)])
        {
            let one = dir.path().join(format!("one-{}", format.extension()));
            let staged = Staged::new();
            write_tables(&whole, format, &one, &staged).unwrap();
            staged.commit().unwrap();
            let merged = dir
                .path()
                .join(format!("merged-{}-{spilled}", format.extension()));
            let staged = Staged::new();
            let written = match spilled {
                false => tables(&parts, format, &merged, &staged).unwrap(),
                true => spill.merge(format, &merged, &staged).unwrap(),
            };
            staged.commit().unwrap();
            assert_eq!(written, Written::of(&whole));
            for table in [
                "detections",
                "risky_signins",
                "risky_users",
                "risky_service_principals",
                "timeline",
            ] {
                let name = format!("{table}.{}", format.extension());
                assert_eq!(
                    std::fs::read(one.join(&name)).unwrap(),
                    std::fs::read(merged.join(&name)).unwrap(),
                    "{name}"
                );
            }
        }
        let spilled_to = spill.dir.clone();
        drop(spill);
        assert!(!spilled_to.exists(), "the spill is removed with the run");
    }

    #[test]
    fn a_spill_left_by_a_killed_run_is_removed_and_a_running_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // No process has this id (above the kernel's pid limit); the parent of the test
        // process is alive.
        let left = dir.path().join(".shards-4294967294");
        let alive = dir
            .path()
            .join(format!(".shards-{}", std::os::unix::process::parent_id()));
        for d in [&left, &alive] {
            std::fs::create_dir_all(d.join("shard-0")).unwrap();
        }
        let spill = Spill::new(dir.path()).unwrap();
        assert!(!left.exists());
        assert!(alive.exists());
        assert!(spill.dir.is_dir());
    }

    #[test]
    fn a_parquet_table_is_the_same_file_streamed_row_by_row_or_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        // More rows than a row group holds, so the file has a cut in it.
        let rows: Vec<Detection> = (0..super::super::write::PARQUET_ROWS + 5)
            .map(|k| {
                let mut d = detection(
                    &format!("d{k:06}"),
                    None,
                    "u1",
                    "x",
                    RiskLevel::Low,
                    "2025-03-01T00:00:00Z",
                );
                d.additional_info = String::new();
                d
            })
            .collect();
        let whole = dir.path().join("whole.parquet");
        write_table(&rows, Format::Parquet, &whole).unwrap();
        let streamed = dir.path().join("streamed.parquet");
        let mut out = TableWriter::<Detection>::create(&streamed, Format::Parquet).unwrap();
        rows.iter().for_each(|r| out.push(r).unwrap());
        out.finish().unwrap();
        assert_eq!(
            std::fs::read(whole).unwrap(),
            std::fs::read(streamed).unwrap()
        );
    }

    #[test]
    fn a_part_out_of_order_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("part-0");
        let mut rows = detections_of(&["u1", "u2"]);
        rows.reverse();
        write_table(&rows, Format::Jsonl, &part.join("detections.jsonl")).unwrap();
        let staged = Staged::new();
        let error = tables(&[part], Format::Jsonl, &dir.path().join("out"), &staged)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("part-0") && error.contains("not in a run's order"),
            "{error}"
        );
    }
}
