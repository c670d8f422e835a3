//! `idrisk rules`: the detectors with their effective settings, and checking a rules file.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{EXIT_ERROR, EXIT_OK};
use crate::detect::registry;
use crate::rules::Rules;

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Every enabled detector (id, riskEventType, report, timing, effective settings), then
    /// the settings the location detectors share.
    List {
        /// Rules file laid over the defaults.
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
    },
    /// Validate a rules file; exit 2 naming the problem when it is not usable.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn run(args: RulesArgs) -> anyhow::Result<i32> {
    match args.command {
        RulesCommand::List { rules } => {
            let rules = Rules::load(rules.as_deref())?;
            let detectors = registry(&rules)?;
            let mut out = std::io::stdout().lock();
            let written = detectors
                .iter()
                .try_for_each(|detector| {
                    let id = detector.identity();
                    writeln!(
                        out,
                        "{} → {} ({}, {}, {})",
                        id.id, id.risk_event_type, id.report, id.activity, id.timing
                    )?;
                    writeln!(out, "  {}", detector.settings())
                })
                .and_then(|()| {
                    let shared = serde_json::json!(rules.networks);
                    writeln!(out, "[networks] (org-common and trusted egress, shared)")?;
                    writeln!(out, "  {shared}")?;
                    writeln!(out, "[geoip]")?;
                    writeln!(out, "  {}", serde_json::json!(rules.geoip))
                });
            match written {
                // A closed pipe (`| head`) is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(EXIT_OK),
            }
        }
        RulesCommand::Check { file } => match super::load_rules(Some(&file)) {
            Ok(_) => {
                println!("{}: ok", file.display());
                Ok(EXIT_OK)
            }
            Err(e) => {
                eprintln!("[!] {e}");
                Ok(EXIT_ERROR)
            }
        },
    }
}
