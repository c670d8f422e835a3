//! `idrisk eval`: detection quality against labels.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::{EXIT_OK, EXIT_QUARANTINED};
use crate::eval::{detections_path, evaluate, read_detections, read_labels, Evaluation};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The output directory of `idrisk score` (or a detections file: .jsonl, .csv, .parquet).
    #[arg(long, value_name = "DIR")]
    detections: PathBuf,
    /// Ground-truth labels (labels.jsonl from `idrisk synth`).
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Exit 1 when any risk event type scores an F1 below this.
    #[arg(long, value_name = "X")]
    min_f1: Option<f64>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let labels = read_labels(&args.labels)?;
    let detections = read_detections(&detections_path(&args.detections)?)?;
    let evaluation = evaluate(&labels, &detections);
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
        "TP",
        "FP",
        "FN",
        "dup",
        "precision",
        "recall",
        "F1",
    ]);
    for t in &e.types {
        table.add_row([
            t.risk_event_type.clone(),
            t.true_positives.to_string(),
            t.false_positives.to_string(),
            t.false_negatives.to_string(),
            t.duplicates.to_string(),
            format!("{:.3}", t.precision),
            format!("{:.3}", t.recall),
            format!("{:.3}", t.f1),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} labels, {} detections", e.labels, e.detections)?;
    for t in &e.types {
        for miss in &t.worst_misses {
            writeln!(
                out,
                "missed      {:<32} {} {} {}",
                t.risk_event_type,
                miss.scenario_id,
                miss.request_id.as_deref().unwrap_or("(user)"),
                miss.time
            )?;
        }
        for alarm in &t.false_alarms {
            writeln!(out, "false alarm {:<32} {}", t.risk_event_type, alarm)?;
        }
    }
    Ok(())
}
