//! The crate's layers: detectors and enrichment read the canonical frame and its primitives
//! (`frame/`), never the readers (`ingest/`), so a detector can be built and tested without
//! knowing how an export was read.

use std::path::Path;

/// Every Rust source under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path.display().to_string(), text));
        }
    }
    found
}

#[test]
fn detectors_and_enrichment_import_nothing_from_the_readers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine");
    let mut checked = 0;
    for layer in ["detect", "enrich"] {
        for (path, text) in sources(&root.join(layer)) {
            checked += 1;
            for forbidden in ["crate::ingest", "idrisk::ingest", "super::super::ingest"] {
                assert!(!text.contains(forbidden), "{path} names '{forbidden}'");
            }
        }
    }
    assert!(checked >= 20, "{checked} sources");
}
