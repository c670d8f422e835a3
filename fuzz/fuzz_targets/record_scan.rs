//! The hand-written record scanner against serde: whatever the scanner reads, serde reads
//! too, and the same way (a diagnostic envelope and a bare signIn); it reads only UTF-8.
#![no_main]

use idrisk::ingest::records::{DiagnosticRecord, SignIn};
use idrisk::ingest::scan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // What the scanner reads must be UTF-8.
    let text = || std::str::from_utf8(bytes).expect("scanned bytes that are not UTF-8");
    if let Some(fast) = scan::diagnostic(bytes) {
        let slow = serde_json::from_str::<DiagnosticRecord>(text())
            .unwrap_or_else(|e| panic!("scanned what serde rejects: {e}"));
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
    if let Some(fast) = scan::sign_in(bytes) {
        let slow = serde_json::from_str::<SignIn>(text())
            .unwrap_or_else(|e| panic!("scanned what serde rejects: {e}"));
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
});
