//! `idrisk report`: a `score` run's outputs as one self-contained HTML page.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::outputs::{Destination, Scratch};
use super::EXIT_OK;
use crate::report::html::{page, Outputs};
use crate::report::read::read_table;
use crate::report::{Staged, Summary};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output directory of `idrisk score` (any of its formats), local or in object
    /// storage (`s3://bucket/runs/2025-03-14`).
    #[arg(value_name = "OUT_DIR")]
    out: PathBuf,
    /// Where to write the page (a local path or an object storage URL).
    #[arg(long, value_name = "FILE")]
    html: PathBuf,
}

/// Reads a run's outputs from its directory.
pub fn outputs(dir: &Path) -> anyhow::Result<Outputs> {
    let summary_path = dir.join("summary.json");
    let text = std::fs::read(&summary_path).with_context(|| {
        format!(
            "reading '{}' (is '{}' the --out directory of `idrisk score`?)",
            summary_path.display(),
            dir.display()
        )
    })?;
    let summary: Summary = serde_json::from_slice(&text).with_context(|| {
        format!(
            "'{}' is not a summary of `idrisk score`",
            summary_path.display()
        )
    })?;
    Ok(Outputs {
        summary,
        detections: read_table(dir, "detections")?,
        risky_users: read_table(dir, "risky_users")?,
        risky_service_principals: read_table(dir, "risky_service_principals")?,
        timeline: read_table(dir, "timeline")?,
    })
}

/// Writes the page of `outputs` to `path`, moved into place once complete.
pub fn write_page(outputs: &Outputs, path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating '{}'", parent.display()))?;
    }
    let staged = Staged::new();
    staged.write(path, |tmp| std::fs::write(tmp, page(outputs)))?;
    staged
        .commit()
        .with_context(|| format!("writing '{}'", path.display()))
}

/// The files of a run in storage, fetched into `scratch`: what [`outputs`] reads, and the
/// files named in `also`.
pub(super) fn fetch_run(url: &str, scratch: &Path, also: &[&str]) -> anyhow::Result<()> {
    const TABLES: [&str; 5] = [
        "detections",
        "risky_signins",
        "risky_users",
        "risky_service_principals",
        "timeline",
    ];
    let wanted = |name: &str| {
        name == "summary.json"
            || also.contains(&name)
            || name.rsplit_once('.').is_some_and(|(stem, ext)| {
                TABLES.contains(&stem) && ["jsonl", "csv", "parquet"].contains(&ext)
            })
    };
    let prefix = url.trim_end_matches('/');
    let listed = crate::storage::list(prefix, Default::default(), &mut |_| {})?;
    let urls: Vec<String> = listed
        .into_iter()
        .map(|o| o.url)
        .filter(|u| {
            // Only the run's own files, not those of runs in folders under it.
            u.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| !name.contains('/') && wanted(name))
        })
        .collect();
    for (object, bytes) in crate::storage::Fetcher::start(urls) {
        let bytes = bytes.map_err(|reason| anyhow::anyhow!("{object}: {reason}"))?;
        let name = object.rsplit('/').next().unwrap_or("unnamed");
        std::fs::write(scratch.join(name), bytes)?;
    }
    Ok(())
}

pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let text = args.out.to_string_lossy().into_owned();
    let outputs = if crate::storage::is_url(&text) {
        let scratch = Scratch::new()?;
        fetch_run(&text, &scratch.0, &[])?;
        outputs(&scratch.0).with_context(|| format!("reading the run at '{text}'"))?
    } else {
        outputs(&args.out)?
    };
    let page = Destination::new(&args.html)?;
    write_page(&outputs, &page.local)?;
    page.publish(&[])?;
    eprintln!(
        "[+] report of {} detections, {} risky users → {}",
        outputs.detections.len(),
        outputs.risky_users.len(),
        args.html.display()
    );
    Ok(EXIT_OK)
}
