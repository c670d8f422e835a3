//! `idrisk report`: a `score` run's outputs as one self-contained HTML page.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::EXIT_OK;
use crate::report::html::{page, Outputs};
use crate::report::read::read_table;
use crate::report::{Staged, Summary};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output directory of `idrisk score` (any of its formats).
    #[arg(value_name = "OUT_DIR")]
    out: PathBuf,
    /// Where to write the page.
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

pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let outputs = outputs(&args.out)?;
    write_page(&outputs, &args.html)?;
    eprintln!(
        "[+] report of {} detections, {} risky users → {}",
        outputs.detections.len(),
        outputs.risky_users.len(),
        args.html.display()
    );
    Ok(EXIT_OK)
}
