//! `idrisk eval`: detection quality against labels.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::{EXIT_OK, EXIT_QUARANTINED};
use crate::eval::{
    detections_path, evaluate, read_detections, read_ignored, read_labels, scored_interactive,
    Evaluation,
};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The output directory of `idrisk score` (or a detections file: .jsonl, .csv, .parquet).
    #[arg(long, value_name = "DIR")]
    detections: PathBuf,
    /// Ground-truth labels (labels.jsonl from `idrisk synth`).
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,
    /// (sign-in, type) pairs that may fire either way, counted neither as hits nor as false
    /// alarms (ignore.jsonl from `idrisk synth`). Repeatable.
    #[arg(long, value_name = "FILE")]
    ignore: Vec<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Exit 1 when any risk event type scores an F1 below this.
    #[arg(long, value_name = "X")]
    min_f1: Option<f64>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let labels = read_labels(&args.labels)?;
    let path = detections_path(&args.detections)?;
    let detections = read_detections(&path)?;
    let ignored = read_ignored(&args.ignore)?;
    let evaluation = evaluate(&labels, &detections, &ignored, scored_interactive(&path));
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &evaluation)?;
        writeln!(out)?;
    } else {
        print_tables(&mut out, &evaluation)?;
    }
    let below: Vec<&str> = match args.min_f1 {
        Some(min) => evaluation
            .types
            .iter()
            .filter(|t| t.f1 < min)
            .map(|t| t.risk_event_type.as_str())
            .collect(),
        None => Vec::new(),
    };
    if !below.is_empty() {
        eprintln!(
            "[!] F1 under {} for: {}",
            args.min_f1.unwrap_or_default(),
            below.join(", ")
        );
        return Ok(EXIT_QUARANTINED);
    }
    Ok(EXIT_OK)
}

fn print_tables(out: &mut impl Write, e: &Evaluation) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "riskEventType",
        "labels",
        "found",
        "TP",
        "FP",
        "dup",
        "ignored",
        "precision",
        "recall",
        "F1",
        "FP/10k",
    ]);
    for t in &e.types {
        table.add_row([
            t.risk_event_type.clone(),
            t.labels.to_string(),
            t.found.to_string(),
            t.true_positives.to_string(),
            t.false_positives.to_string(),
            t.duplicates.to_string(),
            t.ignored.to_string(),
            format!("{:.3}", t.precision),
            format!("{:.3}", t.recall),
            format!("{:.3}", t.f1),
            t.false_alarms_per_10k
                .map_or("-".to_string(), |r| format!("{r:.2}")),
        ]);
    }
    writeln!(out, "{table}")?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "scenario", "variant", "primary", "labels", "found", "recall",
    ]);
    for s in &e.scenarios {
        table.add_row([
            s.scenario.clone(),
            s.variant.clone(),
            s.risk_event_type.clone(),
            s.labels.to_string(),
            s.found.to_string(),
            format!("{:.3}", s.recall),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "{} labels, {} detections ({} ignored){}",
        e.labels,
        e.detections,
        e.ignored,
        e.interactive_sign_ins.map_or(String::new(), |n| format!(
            ", {n} interactive sign-ins scored"
        ))
    )?;
    for s in &e.scenarios {
        for miss in &s.misses {
            writeln!(
                out,
                "missed      {:<20} {:<22} {}",
                s.scenario,
                s.variant,
                serde_json::to_string(miss).unwrap_or_default()
            )?;
        }
    }
    for t in &e.types {
        for alarm in &t.false_alarms {
            writeln!(out, "false alarm {:<32} {}", t.risk_event_type, alarm)?;
        }
    }
    Ok(())
}
