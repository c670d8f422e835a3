//! `idrisk tune`: sweeps of rules settings evaluated against labels, the Pareto front, the
//! objective's pick, and that pick written as a rules overlay.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::load::load_inputs;
use super::{EnrichmentArgs, InputArgs, EXIT_OK};
use crate::enrich::sources::Sources;
use crate::eval::{read_ignored, read_labels};
use crate::report::score::columns_read;
use crate::rules::Rules;
use crate::tune::{html, overlay_text, Mode, Objective, Sweep, Tuner, Tuning};

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Ground-truth labels (labels.jsonl from `idrisk synth`).
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,
    /// (sign-in, type) pairs that may fire either way (ignore.jsonl); repeatable.
    #[arg(long, value_name = "FILE")]
    ignore: Vec<PathBuf>,
    /// A setting and its values: `section.key=LOW..HIGH:STEP` or `section.key=A,B,C`;
    /// repeatable.
    #[arg(long, value_name = "SETTING=VALUES", required = true)]
    sweep: Vec<String>,
    /// Every combination of the sweeps, or each sweep alone.
    #[arg(long, value_enum, default_value_t = Mode::Grid)]
    mode: Mode,
    /// What picks the point: `f1`, or `recall_at_fp_per_10k=X` (the highest recall with at
    /// most X false alarms per 10k interactive sign-ins).
    #[arg(long, default_value = "f1")]
    objective: String,
    /// Write the picked point as a rules overlay that `score --rules` takes.
    #[arg(long, value_name = "FILE")]
    write_rules: Option<PathBuf>,
    /// Write a self-contained page plotting recall against false alarms.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    enrichment: EnrichmentArgs,
}

pub fn run(args: TuneArgs) -> anyhow::Result<i32> {
    let sweeps: Vec<Sweep> = args
        .sweep
        .iter()
        .map(|s| Sweep::parse(s).map_err(|e| anyhow::anyhow!("invalid value for '--sweep': {e}")))
        .collect::<anyhow::Result<_>>()?;
    let objective = Objective::parse(&args.objective)
        .map_err(|e| anyhow::anyhow!("invalid value for '--objective': {e}"))?;
    let base: toml::Table = match &args.input.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read rules file '{}'", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("rules file '{}' is invalid", path.display()))?
        }
        None => toml::Table::new(),
    };
    let rules = super::load_rules(args.input.rules.as_deref())?;
    // Every point's rules are checked before the first is scored.
    for point in crate::tune::points(&sweeps, args.mode) {
        let settings: Vec<(&Sweep, &toml::Value)> =
            point.iter().map(|(k, v)| (&sweeps[*k], v)).collect();
        crate::tune::rules_with(&base, &settings)
            .map_err(|e| anyhow::anyhow!("a point of the sweep is no valid rules: {e}"))?;
    }
    let labels = read_labels(&args.labels)?;
    let ignored = read_ignored(&args.ignore)?;
    let sources = Sources::open(&args.enrichment.files(&rules))?;
    let loaded = load_inputs(&args.input, &rules, Some(columns_read()))?;
    let tuner = Tuner {
        loaded: &loaded,
        sources: &sources,
        base,
        labels: &labels,
        ignored: &ignored,
    };
    let tuning = tuner.run(&sweeps, args.mode, objective)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &tuning)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &tuning)?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::page(&tuning))
            .with_context(|| format!("writing '{}'", path.display()))?;
    }
    if let Some(path) = &args.write_rules {
        let Some(chosen) = tuning.chosen else {
            anyhow::bail!(
                "no point meets {}: nothing written to '{}'",
                tuning.objective,
                path.display()
            );
        };
        let text = overlay_text(&tuner.base, &tuning, &tuning.points[chosen]);
        // What is written must be rules `score --rules` accepts.
        Rules::parse(&text, &path.to_string_lossy())?;
        std::fs::write(path, text).with_context(|| format!("writing '{}'", path.display()))?;
        if !args.input.quiet {
            eprintln!("[+] point #{chosen} written to {}", path.display());
        }
    }
    Ok(EXIT_OK)
}

fn print_table(out: &mut impl Write, tuning: &Tuning) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut header: Vec<String> = vec!["#".into()];
    header.extend(tuning.sweeps.iter().cloned());
    for kind in &tuning.affected_types {
        header.push(format!("{kind} TP/FP/FN"));
    }
    header.extend(
        ["precision", "recall", "F1", "FP/10k", ""]
            .iter()
            .map(|s| s.to_string()),
    );
    table.set_header(header);
    for (k, p) in tuning.points.iter().enumerate() {
        let mut row: Vec<String> = vec![k.to_string()];
        for name in &tuning.sweeps {
            row.push(p.settings.get(name).map_or("-".into(), |v| v.to_string()));
        }
        for kind in &tuning.affected_types {
            row.push(p.types.iter().find(|t| &t.risk_event_type == kind).map_or(
                "0/0/0".into(),
                |t| {
                    format!(
                        "{}/{}/{}",
                        t.true_positives, t.false_positives, t.false_negatives
                    )
                },
            ));
        }
        row.push(format!("{:.3}", p.precision));
        row.push(format!("{:.3}", p.recall));
        row.push(format!("{:.3}", p.f1));
        row.push(format!("{:.2}", p.false_alarms_per_10k));
        row.push(
            match (p.chosen, p.pareto) {
                (true, _) => "picked",
                (false, true) => "front",
                _ => "",
            }
            .to_string(),
        );
        table.add_row(row);
    }
    writeln!(out, "{table}")?;
    match tuning.chosen {
        Some(c) => writeln!(
            out,
            "{} points; front: {}; {} picks #{c}",
            tuning.points.len(),
            tuning
                .points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.pareto)
                .map(|(k, _)| format!("#{k}"))
                .collect::<Vec<_>>()
                .join(" "),
            tuning.objective
        ),
        None => writeln!(
            out,
            "{} points; none meets {}",
            tuning.points.len(),
            tuning.objective
        ),
    }
}
