//! The `idrisk` command line: parse, validate, call the library, print. No engine logic here.

mod convert;
mod eval;
mod facts;
mod inspect;
mod load;
mod merge;
mod outputs;
mod report;
mod rules;
mod score;
mod synth;
mod tune;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit code: the command ran and everything read was usable (or `--strict` was not given).
pub const EXIT_OK: i32 = 0;
/// Exit code: the command ran, but records were quarantined and `--strict` was given.
pub const EXIT_QUARANTINED: i32 = 1;
/// Exit code: the command could not run (bad arguments, unreadable input, invalid rules).
pub const EXIT_ERROR: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "idrisk",
    version,
    about = "Turns exported Entra ID sign-in logs into risk detections",
    after_help = "Exit codes: 0 ok; 1 records were quarantined and --strict was given; 2 error.\n\
                  Inputs are files, directories (searched recursively) or globs; plain or gzip;\n\
                  the export shape of each file is detected from its content."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the detectors: risk detections, risky sign-ins, risky users and a summary.
    #[command(
        after_help = "Examples:\n  idrisk score datasets/tenant/signins --out out/\n  \
                            idrisk score exports/ --out out/ --score-since 2025-03-30 --format csv"
    )]
    Score(score::ScoreArgs),
    /// List the detectors with their effective settings, or check a rules file.
    #[command(
        after_help = "Examples:\n  idrisk rules list\n  idrisk rules list --rules mine.toml\n  idrisk rules check mine.toml"
    )]
    Rules(rules::RulesArgs),
    /// Show what each input holds: detected shape, rows, time range, users, quarantined.
    #[command(after_help = "Examples:\n  idrisk inspect datasets/samples\n  \
                            idrisk inspect 'exports/**/PT1H.json' --json")]
    Inspect(inspect::InspectArgs),
    /// Write the deduplicated canonical frame as Parquet (plus its quarantine beside it).
    #[command(
        after_help = "Examples:\n  idrisk convert datasets/samples --out signins.parquet\n  \
                            idrisk convert insights-logs-signinlogs/ --out 2025-03.parquet --strict"
    )]
    Convert(convert::ConvertArgs),
    /// Generate a synthetic tenant with ground-truth labels and side files.
    #[command(
        after_help = "Examples:\n  idrisk synth --users 2000 --days 30 --seed 7 --shape portal-csv --out /tmp/tenant\n  \
                            idrisk synth --shape parquet --users 50000 --days 30 --out /tmp/big"
    )]
    Synth(synth::SynthArgs),
    /// Score detections against labels: precision, recall and F1 per risk event type.
    #[command(
        after_help = "Examples:\n  idrisk eval --detections out/ --labels /tmp/tenant/labels.jsonl\n  \
                            idrisk eval --detections out/detections.csv --labels labels.jsonl --json --min-f1 0.9"
    )]
    Eval(eval::EvalArgs),
    /// Sweep rules settings against labels: the Pareto front of recall against false alarms,
    /// the objective's pick, written as a rules overlay.
    #[command(
        after_help = "Examples:\n  idrisk tune t/signins --labels t/labels.jsonl --ignore t/ignore.jsonl \\\n      --sweep 'password_spray.min_users=4..30:2' --objective 'recall_at_fp_per_10k=1' --write-rules best.toml\n  \
                            idrisk tune t/signins --labels t/labels.jsonl --mode one-at-a-time \\\n      --sweep 'atypical_travel.min_speed_kmh=500..1500:100' --sweep 'atypical_travel.learning_days=3,7,14' --html sweep.html"
    )]
    Tune(tune::TuneArgs),
    /// Compute the tenant-wide facts of a sharded run once, for `score --facts --shard K/N`.
    #[command(after_help = "Examples:\n  idrisk facts dataset/ --out facts.json\n  \
                            idrisk score dataset/ --facts facts.json --shard 2/7 --out shard-2/\n  \
                            idrisk merge shard-*/ --out run/")]
    Facts(facts::FactsArgs),
    /// Combine the output directories of every shard of a run into the one run's outputs.
    #[command(after_help = "Examples:\n  idrisk merge shard-1/ shard-2/ shard-3/ --out run/")]
    Merge(merge::MergeArgs),
    /// Write a score run's outputs as one self-contained HTML page (opens offline).
    #[command(after_help = "Examples:\n  idrisk report out/ --html report.html")]
    Report(report::ReportArgs),
}

/// Arguments every command that reads sign-ins shares.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Sign-in exports: files, directories or glob patterns (plain or .gz).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Rules file (default: the built-in rules/default.toml).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar or status lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Exit with code 1 when any record was quarantined.
    #[arg(long)]
    pub strict: bool,
    /// Go on past inputs that are missing or unreadable: each is listed in the quarantine
    /// and the summary, and the others are read.
    #[arg(long)]
    pub keep_going: bool,
    /// The largest record (line, array element, CSV row) read, in MiB: a longer one is
    /// quarantined with its first bytes and passed over.
    #[arg(long, value_name = "MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_record_mib: u32,
    /// Read only sign-ins at or after this time (RFC 3339 or YYYY-MM-DD, UTC): archive
    /// partitions (y=/m=/d=/h=, date=) before it are not read at all.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Read only sign-ins before this time (RFC 3339 or YYYY-MM-DD, UTC; exclusive).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

impl InputArgs {
    /// The `--since/--until` window.
    pub fn window(&self) -> anyhow::Result<crate::storage::Window> {
        let window = crate::storage::Window {
            since: self
                .since
                .as_deref()
                .map(|t| parse_time_flag("--since", t))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| parse_time_flag("--until", t))
                .transpose()?,
        };
        if let (Some(since), Some(until)) = (window.since, window.until) {
            if until <= since {
                anyhow::bail!("'--until' must be after '--since'");
            }
        }
        Ok(window)
    }
}

/// `--score-since`, parsed when given.
pub fn score_since_flag(text: &Option<String>) -> anyhow::Result<Option<i64>> {
    text.as_deref()
        .map(|t| parse_time_flag("--score-since", t))
        .transpose()
}

/// A time given on the command line: RFC 3339, or a date meaning its midnight UTC.
pub fn parse_time_flag(flag: &str, text: &str) -> anyhow::Result<i64> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    crate::ingest::values::parse_time(&full).map_err(|e| {
        anyhow::anyhow!(
            "invalid value '{text}' for '{flag}': {e} (use 2025-03-30 or 2025-03-30T00:00:00Z)"
        )
    })
}

/// Enrichment files, for the commands that score.
#[derive(Debug, Args)]
pub struct EnrichmentArgs {
    /// GeoIP City database (.mmdb): coordinates and accuracy radius where the log has none.
    #[arg(long, value_name = "FILE")]
    geoip_city: Option<PathBuf>,
    /// GeoIP ASN database (.mmdb).
    #[arg(long, value_name = "FILE")]
    geoip_asn: Option<PathBuf>,
    /// GeoIP2 Anonymous-IP database (.mmdb): Tor exits, anonymous VPNs, public proxies.
    #[arg(long, value_name = "FILE")]
    anonymous_ip: Option<PathBuf>,
    /// Anonymous addresses: one IP or CIDR a line, `#` comments, or the Tor exit-addresses
    /// format (repeatable).
    #[arg(long, value_name = "FILE")]
    anonymous_list: Vec<PathBuf>,
    /// Threat-intelligence addresses (IP or CIDR a line): validated sign-ins from them are
    /// suspiciousIPAddress.
    #[arg(long, value_name = "FILE")]
    threat_intel: Vec<PathBuf>,
    /// Addresses of infected devices from a botnet feed (IP or CIDR a line): validated
    /// sign-ins from them are malwareInfectedIPAddress.
    #[arg(long, value_name = "FILE")]
    infected_list: Vec<PathBuf>,
    /// Leaked accounts: one address or SHA-256 hex of the lowercased address a line,
    /// optionally `,YYYY-MM-DD` (repeatable).
    #[arg(long, value_name = "FILE")]
    leaked_accounts: Vec<PathBuf>,
}

impl EnrichmentArgs {
    /// The files to open: each flag given, else the rules' `[files]` entry.
    pub fn files(&self, rules: &crate::rules::Rules) -> crate::rules::FilesConfig {
        let listed = &rules.files;
        let either = |flag: &[PathBuf], listed: &[PathBuf]| {
            if flag.is_empty() {
                listed.to_vec()
            } else {
                flag.to_vec()
            }
        };
        crate::rules::FilesConfig {
            geoip_city: self.geoip_city.clone().or(listed.geoip_city.clone()),
            geoip_asn: self.geoip_asn.clone().or(listed.geoip_asn.clone()),
            anonymous_ip: self.anonymous_ip.clone().or(listed.anonymous_ip.clone()),
            anonymous_lists: either(&self.anonymous_list, &listed.anonymous_lists),
            threat_intel: either(&self.threat_intel, &listed.threat_intel),
            infected_lists: either(&self.infected_list, &listed.infected_lists),
            leaked_accounts: either(&self.leaked_accounts, &listed.leaked_accounts),
        }
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let result = match cli.command {
        Command::Score(args) => score::run(args),
        Command::Rules(args) => rules::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Report(args) => report::run(args),
        Command::Facts(args) => facts::run(args),
        Command::Merge(args) => merge::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[!] error: {e:#}");
            EXIT_ERROR
        }
    }
}

/// Sets the size of the global worker pool once, before any work.
fn configure_threads(threads: Option<usize>) -> anyhow::Result<()> {
    static CONFIGURED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if CONFIGURED.get().is_some() {
        return Ok(());
    }
    if let Some(n) = threads {
        if n == 0 {
            anyhow::bail!("invalid value '0' for '--threads': use 1 or more");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start {n} worker threads: {e}"))?;
    }
    let _ = CONFIGURED.set(());
    Ok(())
}

/// Reads a rules file (or the built-in rules) and checks every section, the detectors' too:
/// every command that takes `--rules` refuses an unusable file before reading any sign-in.
pub fn load_rules(
    path: Option<&std::path::Path>,
) -> Result<crate::rules::Rules, crate::rules::RulesError> {
    let rules = crate::rules::Rules::load(path)?;
    crate::detect::registry(&rules)?;
    Ok(rules)
}
