//! `idrisk inspect`: what each input holds, as a table or JSON.

use std::io::Write;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde::Serialize;

use super::load::load_inputs;
use super::{InputArgs, EXIT_OK, EXIT_QUARANTINED};
use crate::ingest::{Counts, FileReport};

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Print JSON (one object with `files` and `totals`) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct InspectReport<'a> {
    files: &'a [FileReport],
    totals: &'a Counts,
}

pub fn run(args: InspectArgs) -> anyhow::Result<i32> {
    let rules = super::load_rules(args.input.rules.as_deref())?;
    let ingested = load_inputs(&args.input, &rules, None)?;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let report = InspectReport {
            files: &ingested.files,
            totals: &ingested.totals,
        };
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        writeln!(out, "{}", table(&ingested.files, &ingested.totals))
    };
    // A closed pipe (`| head`) is not an error.
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if args.input.strict && ingested.totals.quarantined > 0 {
        EXIT_QUARANTINED
    } else {
        EXIT_OK
    })
}

/// The directory all paths share, shown once in the header instead of on every row.
fn common_dir(files: &[FileReport]) -> String {
    let mut parts: Option<Vec<&str>> = None;
    for f in files {
        let dirs: Vec<&str> = f.path.split('/').collect();
        let dirs = &dirs[..dirs.len().saturating_sub(1)];
        parts = Some(match parts {
            None => dirs.to_vec(),
            Some(common) => common
                .iter()
                .zip(dirs)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    let common = parts.unwrap_or_default().join("/");
    if common.is_empty() {
        common
    } else {
        common + "/"
    }
}

fn table(files: &[FileReport], totals: &Counts) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let prefix = common_dir(files);
    let file_header = if prefix.is_empty() {
        "file".to_string()
    } else {
        format!("file (under {prefix})")
    };
    table.set_header([
        file_header.as_str(),
        "shape",
        "read",
        "kept",
        "dup",
        "skipped",
        "quarant.",
        "first",
        "last",
        "users",
    ]);
    for f in files {
        let shape = if f.gzip {
            format!("{} (gz)", f.shape)
        } else {
            f.shape.to_string()
        };
        table.add_row(row([
            f.path.strip_prefix(&prefix).unwrap_or(&f.path).to_string(),
            shape,
            f.read.to_string(),
            f.kept.to_string(),
            f.duplicates.to_string(),
            f.skipped.to_string(),
            f.quarantined.to_string(),
            to_seconds(f.first.as_deref()),
            to_seconds(f.last.as_deref()),
            f.users.to_string(),
        ]));
    }
    table.add_row(row([
        format!("total ({} files)", totals.files),
        String::new(),
        totals.read.to_string(),
        totals.kept.to_string(),
        totals.duplicates.to_string(),
        totals.skipped.to_string(),
        totals.quarantined.to_string(),
        String::new(),
        String::new(),
        totals.users.to_string(),
    ]));
    table
}

/// `2025-03-01T06:00:00.123456Z` → `2025-03-01T06:00:00Z`: a table needs no microseconds.
fn to_seconds(time: Option<&str>) -> String {
    match time {
        Some(t) if t.len() > 19 => format!("{}Z", &t[..19]),
        Some(t) => t.to_string(),
        None => String::new(),
    }
}

fn row(cells: [String; 10]) -> Vec<Cell> {
    cells
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let cell = Cell::new(text);
            if (2..=6).contains(&i) || i == 9 {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        })
        .collect()
}
