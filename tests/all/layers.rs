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

/// The source with its `#[cfg(test)]` part cut off: tests build frames with any column.
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn the_rules_import_no_detector_and_no_enrichment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine");
    let text = std::fs::read_to_string(root.join("rules.rs")).unwrap();
    // Code, not the doc comments that point a reader to the detectors.
    let code: Vec<&str> = without_tests(&text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    assert!(code.len() > 100, "{} lines of code", code.len());
    for line in code {
        for forbidden in ["crate::detect", "crate::enrich", "crate::ingest", "super::"] {
            assert!(
                !line.contains(forbidden),
                "rules.rs names '{forbidden}': {line}"
            );
        }
    }
}

/// Every `col::name` a source names outside its tests.
fn columns_named(text: &str) -> Vec<String> {
    let mut named: Vec<String> = without_tests(text)
        .match_indices("col::")
        .map(|(at, _)| {
            text[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect()
        })
        .collect();
    named.sort();
    named.dedup();
    named
}

#[test]
fn a_detector_reads_only_the_columns_it_declares() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/detect");
    let context = idrisk::detect::context::COLUMNS;
    for entry in idrisk::detect::REGISTRY {
        let path = root.join(format!("{}.rs", entry.section));
        let text = std::fs::read_to_string(&path).unwrap();
        for column in columns_named(&text) {
            assert!(
                entry.columns.all().any(|c| c == column) || context.contains(&column.as_str()),
                "{} reads col::{column} without declaring it in its COLUMNS",
                entry.section
            );
        }
    }
    // The detectors' shared kernels read no column of their own: a column a kernel read
    // would be read by detectors that did not declare it.
    let registered: Vec<String> = idrisk::detect::REGISTRY
        .iter()
        .map(|e| format!("{}.rs", e.section))
        .collect();
    for (path, text) in sources(&root) {
        let name = Path::new(&path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        // gathered.rs builds the frame of the sign-ins a sharded facts pass gathers: it names
        // the columns it writes, and reads none.
        if registered.contains(&name)
            || ["context.rs", "mod.rs", "gathered.rs"].contains(&name.as_str())
        {
            continue;
        }
        assert_eq!(columns_named(&text), Vec::<String>::new(), "{path}");
    }
}
