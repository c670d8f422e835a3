//! A whole file through the load: sniffing, gzip, UTF-16, JSON Lines and documents, the
//! portal, service-principal and Log Analytics CSV dialects, the canonical Parquet opener.
//! The first byte picks the file name (the portal CSV takes the event type from it). The
//! counts must reconcile.
#![no_main]

use idrisk::ingest::{load, IngestOptions};
use idrisk::rules::Rules;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [
    "PT1H.json",
    "InteractiveSignIns_2025-03-01_2025-03-02.csv",
    "ApplicationSignIns_2025-03-01_2025-03-02.csv",
    "signins.parquet",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(NAMES[pick as usize % NAMES.len()]);
    std::fs::write(&path, bytes).expect("written");
    let mut options = IngestOptions::new(Rules::builtin().outcome_codes());
    options.chunk_bytes = 256;
    options.max_record_bytes = 4096;
    if let Ok(ingested) = load(&[path], &options) {
        assert!(ingested.totals.reconciles(), "{:?}", ingested.totals);
    }
});
