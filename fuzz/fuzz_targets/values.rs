//! Field parsers every reader shares: times in every accepted spelling, IP addresses.
#![no_main]

use idrisk::ingest::values::{format_time, parse_ip, parse_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(time) = parse_time(text) {
        assert!((idrisk::frame::MIN_TIME..=idrisk::frame::MAX_TIME).contains(&time));
        let _ = format_time(time);
    }
    let _ = parse_ip(text);
});
