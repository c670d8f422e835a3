//! Rules files: any text is valid rules or an error naming what is wrong.
#![no_main]

use idrisk::rules::Rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(rules) = Rules::parse(text, "fuzz.toml") {
        let _ = rules.digest();
    }
});
