//! Where a command's outputs go: a local path, or object storage. Outputs bound for storage
//! are written to a scratch directory first, exactly as they would be locally, then each file
//! is PUT whole (an object appears complete or not at all), `summary.json` last so that a
//! reader that sees the summary sees every table.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::storage;

/// An output directory or file.
pub struct Destination {
    /// Where the command writes.
    pub local: PathBuf,
    /// The URL the local files go to, when the destination is object storage.
    remote: Option<String>,
    /// The scratch directory to remove afterwards.
    scratch: Option<PathBuf>,
}

impl Destination {
    /// `target` as given on the command line. For storage, the container is checked now,
    /// before any work, so a missing container or credential stops the run at once.
    pub fn new(target: &Path) -> anyhow::Result<Destination> {
        let text = target.to_string_lossy();
        if !storage::is_url(&text) {
            return Ok(Destination {
                local: target.to_path_buf(),
                remote: None,
                scratch: None,
            });
        }
        storage::check_writable(&text)?;
        let scratch = scratch_dir()?;
        let name = text
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("out");
        Ok(Destination {
            local: scratch.join(name),
            remote: Some(text.trim_end_matches('/').to_string()),
            scratch: Some(scratch),
        })
    }

    /// What to call the destination in messages.
    pub fn shown(&self) -> String {
        self.remote
            .clone()
            .unwrap_or_else(|| self.local.display().to_string())
    }

    /// Sends what was written locally to storage: the file, or every file of the directory
    /// (`summary.json` last); `also`: files beside it that belong to it (a quarantine).
    pub fn publish(&self, also: &[PathBuf]) -> anyhow::Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        if self.local.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&self.local)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            names.sort_by_key(|p| (p.file_name() == Some("summary.json".as_ref()), p.clone()));
            for path in names {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                files.push((path, format!("{remote}/{name}")));
            }
        } else {
            files.push((self.local.clone(), remote.clone()));
        }
        for path in also {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let parent = remote.rsplit_once('/').map_or(remote.as_str(), |(p, _)| p);
            files.insert(0, (path.clone(), format!("{parent}/{name}")));
        }
        for (path, url) in files {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading '{}'", path.display()))?;
            storage::put(&url, bytes)?;
        }
        Ok(())
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        if let Some(scratch) = &self.scratch {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

/// A new directory under the system's temporary directory, for files on their way to or from
/// storage; the caller removes it.
fn scratch_dir() -> anyhow::Result<PathBuf> {
    let scratch = std::env::temp_dir().join(format!(
        "idrisk-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("creating '{}'", scratch.display()))?;
    Ok(scratch)
}

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> anyhow::Result<Scratch> {
        Ok(Scratch(scratch_dir()?))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
