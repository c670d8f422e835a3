//! The hand-written record scanner against serde: whatever the scanner reads, serde reads
//! too, and the same way (a diagnostic envelope and a bare signIn).
#![no_main]

use idrisk::ingest::records::{DiagnosticRecord, SignIn};
use idrisk::ingest::scan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Some(fast) = scan::diagnostic(text) {
        let slow = serde_json::from_str::<DiagnosticRecord>(text)
            .unwrap_or_else(|e| panic!("scanned what serde rejects: {e}"));
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
    if let Some(fast) = scan::sign_in(text) {
        let slow = serde_json::from_str::<SignIn>(text)
            .unwrap_or_else(|e| panic!("scanned what serde rejects: {e}"));
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
});
