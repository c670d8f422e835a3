//! Memory against the number of files: the same diagnostic records written as a few large
//! gzipped files and as thousands of small ones (an archive's hourly `PT1H.json.gz` blobs),
//! each loaded by `idrisk inspect` in a process of its own. Prints wall time and peak
//! resident memory per layout, as ratios against the fewest-files layout measured in the
//! same run: memory must follow the rows, not the files.
//!
//! `cargo bench --bench blobs`

use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Records in every layout.
const RECORDS: usize = 96_000;
/// Files per layout: from a few large ones to an archive's worth of blobs.
const LAYOUTS: [usize; 4] = [12, 120, 1_200, 6_000];

/// The committed diagnostic sample lines, the templates of every record.
fn templates() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "datasets/samples/diagnostic/insights-logs-signinlogs/\
         tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00/PT1H.json",
    );
    let text = std::fs::read_to_string(path).expect("sample blob");
    text.lines()
        .filter(|l| l.contains("\"SignInLogs\""))
        .map(String::from)
        .collect()
}

/// Writes `RECORDS` records, each with its own sign-in id, as `files` gzipped blobs.
fn write_layout(dir: &Path, files: usize, templates: &[String]) {
    std::fs::create_dir_all(dir).expect("layout directory");
    let per_file = RECORDS / files;
    for f in 0..files {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for r in 0..per_file {
            let k = f * per_file + r;
            let line = &templates[k % templates.len()];
            // Every template's id starts with 8 hex digits: replace them with the record's.
            let id_at = line.find("\"id\": \"").expect("an id") + 7;
            let record = format!("{}{k:08x}{}", &line[..id_at], &line[id_at + 8..]);
            writeln!(gz, "{record}").expect("written");
        }
        let bytes = gz.finish().expect("compressed");
        std::fs::write(dir.join(format!("PT1H-{f:05}.json.gz")), bytes).expect("blob");
    }
}

/// Runs `idrisk inspect` on `dir`; wall seconds and the child's own peak RSS in MiB.
fn measure(dir: &Path) -> (f64, f64) {
    let began = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(["inspect", "-q"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("idrisk runs");
    let (code, peak_kib) = idrisk::trace::wait_with_peak_rss(child).expect("waited");
    assert_eq!(code, Some(0));
    (began.elapsed().as_secs_f64(), peak_kib as f64 / 1024.0)
}

fn main() {
    // `cargo test` runs benches with --bench absent: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let templates = templates();
    let dir = tempfile::tempdir().expect("temporary directory");
    println!("{RECORDS} diagnostic records, gzipped, loaded by `idrisk inspect`");
    println!(
        "{:>7} {:>9} {:>9} {:>10} {:>9}",
        "files", "wall s", "ratio", "peak MiB", "ratio"
    );
    let mut baseline: Option<(f64, f64)> = None;
    for files in LAYOUTS {
        let layout = dir.path().join(files.to_string());
        write_layout(&layout, files, &templates);
        let (wall, peak) = measure(&layout);
        let (base_wall, base_peak) = *baseline.get_or_insert((wall, peak));
        println!(
            "{files:>7} {wall:>9.2} {:>9.2} {peak:>10.0} {:>9.2}",
            wall / base_wall,
            peak / base_peak
        );
        std::fs::remove_dir_all(&layout).expect("cleaned");
    }
}
