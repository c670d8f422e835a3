//! Shape sniffing and layout detection on any first bytes of a file.
#![no_main]

use idrisk::ingest::json_split::detect_layout;
use idrisk::ingest::source::sniff;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|head: &[u8]| {
    let _ = sniff(head);
    let _ = detect_layout(head, true);
    let _ = detect_layout(head, false);
});
