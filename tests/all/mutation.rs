//! Seeded, structure-aware mutation of the committed samples: truncations, byte flips, splices
//! of two records, deep nesting, huge fields, invalid UTF-8, UTF-16 with a byte-order mark,
//! CRLF/LF mixes, and gzip of each. Every case must load without a panic or a hang, its
//! counts must reconcile, and the good records beside a broken one must survive.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use idrisk::ingest::{load, IngestOptions, Ingested};
use idrisk::rules::Rules;

use crate::support::repo;

/// Cases per run: a few thousand, well under a minute.
const CASES: u64 = 2500;

/// SplitMix64: a small, seeded generator of our own, so a failing case is reproducible from
/// its number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Every committed sample file (gzip undone), with its name.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for dir in [
        "datasets/samples",
        "datasets/powershell",
        "datasets/malformed",
    ] {
        collect(&repo(dir), &mut files);
    }
    // A canonical Parquet file, for the Parquet reader's share of the damage.
    collect(&repo("datasets/shapes/parquet/signins"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let raw = std::fs::read(&path).unwrap();
            let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                // A deliberately truncated sample gives what it has.
                let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out);
                out
            } else {
                raw
            };
            let name = path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".gz", "");
            (name, bytes)
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// One mutation of `bytes`, named for the failure message.
fn mutate(rng: &mut Rng, bytes: &[u8], other: &[u8]) -> (&'static str, Vec<u8>) {
    let mut b = bytes.to_vec();
    let at = rng.below(b.len() + 1);
    match rng.below(9) {
        0 => {
            b.truncate(at);
            ("truncation", b)
        }
        1 => {
            for _ in 0..1 + rng.below(8) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            ("byte flips", b)
        }
        2 => {
            // A slice of another file spliced in: half of one record joined to another.
            let from = rng.below(other.len() + 1);
            let to = (from + rng.below(4096)).min(other.len());
            b.splice(at..at, other[from..to].iter().copied());
            ("splice", b)
        }
        3 => {
            // Arrays, or Graph pages inside pages, around the file.
            let depth = 1 + rng.below(50_000);
            let (open, close): (&[u8], &[u8]) = if rng.below(2) == 0 {
                (b"[", b"]")
            } else {
                (b"{\"value\":[", b"]}")
            };
            let mut nested = open.repeat(depth);
            nested.extend_from_slice(&b);
            nested.extend(close.repeat(rng.below(depth + 1)));
            ("deep nesting", nested)
        }
        4 => {
            let huge = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'x', 1 + rng.below(300_000)))
                .chain(std::iter::once(b'"'));
            b.splice(at..at, huge);
            ("huge field", b)
        }
        5 => {
            b.splice(at..at, [0xC3, 0x28, 0xFF, 0xFE, 0x80]);
            ("invalid UTF-8", b)
        }
        6 => {
            let text = String::from_utf8_lossy(&b);
            let little = rng.below(2) == 0;
            let mut out = if little {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            for unit in text.encode_utf16() {
                out.extend(if little {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            // Sometimes cut inside a code unit.
            if rng.below(3) == 0 {
                out.truncate(rng.below(out.len() + 1));
            }
            ("UTF-16 with BOM", out)
        }
        7 => {
            let mut out = Vec::with_capacity(b.len() + b.len() / 16);
            for &byte in &b {
                if byte == b'\n' && rng.below(2) == 0 {
                    out.push(b'\r');
                }
                out.push(byte);
            }
            ("CRLF/LF mix", out)
        }
        _ => {
            b.splice(at..at, std::iter::repeat_n(0u8, 1 + rng.below(5000)));
            ("NUL run", b)
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Loads one file on a thread of its own, failing on a panic or after `limit`.
fn load_bounded(path: PathBuf, limit: Duration) -> Result<Ingested, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut options = IngestOptions::new(Rules::builtin().outcome_codes());
        // Small chunks and a small record cap, so both are crossed inside these files.
        options.chunk_bytes = 4096;
        options.max_record_bytes = 64 * 1024;
        let result = std::panic::catch_unwind(|| load(&[path], &options));
        let _ = tx.send(match result {
            Ok(Ok(ingested)) => Ok(ingested),
            Ok(Err(e)) => Err(format!("load failed: {e}")),
            Err(_) => Err("panicked".to_string()),
        });
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| Err(format!("no answer in {limit:?}")))
}

#[test]
fn mutated_samples_never_panic_hang_or_lose_count() {
    let seeds = seeds();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in 0..CASES {
        let mut rng = Rng(case);
        let (name, bytes) = &seeds[rng.below(seeds.len())];
        let (_, other) = &seeds[rng.below(seeds.len())];
        let (what, mut mutated) = mutate(&mut rng, bytes, other);
        let gzipped = rng.below(4) == 0;
        if gzipped {
            mutated = gzip(&mutated);
        }
        let path = dir
            .path()
            .join(format!("{case}-{name}{}", if gzipped { ".gz" } else { "" }));
        std::fs::write(&path, &mutated).unwrap();
        match load_bounded(path.clone(), Duration::from_secs(20)) {
            Ok(ingested) if ingested.totals.reconciles() => {}
            Ok(ingested) => failures.push(format!(
                "case {case} ({what} of {name}): counts do not reconcile: {:?}",
                ingested.totals
            )),
            Err(e) if e.contains("is not a canonical idrisk frame") => {
                // A Parquet file whose schema no longer reads as the canonical one is refused
                // with an error naming it: not a loss, and not a crash.
            }
            Err(e) => failures.push(format!("case {case} ({what} of {name}): {e}")),
        }
        let _ = std::fs::remove_file(&path);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn one_broken_line_costs_only_that_line() {
    let path = repo("datasets/samples/graph/signins-beta.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    for case in 0..200 {
        let broken = rng.below(lines.len());
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i == broken {
                let (what, bytes) = mutate(&mut rng, line.as_bytes(), b"{\"a\":");
                if what == "deep nesting" && broken == 0 && bytes.len() > 64 * 1024 {
                    // A first line longer than the sniffed head that opens containers it
                    // never closes reads as a document that never ends: the one layout
                    // ambiguity the readers do not resolve (see README, Bad input).
                    out.push_str(line);
                    out.push('\n');
                    continue;
                }
                let bytes = String::from_utf8_lossy(&bytes).replace('\n', " ");
                out.push_str(&bytes);
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        let file = dir.path().join(format!("{case}.jsonl"));
        std::fs::write(&file, &out).unwrap();
        let ingested = load_bounded(file, Duration::from_secs(20)).unwrap();
        let t = &ingested.totals;
        assert!(t.reconciles(), "{t:?}");
        // Every line but the broken one is a sign-in: kept or a duplicate of another.
        assert!(
            t.kept + t.duplicates >= lines.len() as u64 - 1,
            "case {case}: {t:?} from {} lines",
            lines.len()
        );
    }
}
