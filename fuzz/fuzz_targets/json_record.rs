//! One record parsed as each JSON record shape (Graph signIn, diagnostic envelope, Log
//! Analytics row): a row or a reason, never a panic.
#![no_main]

use idrisk::frame::FrameBuilder;
use idrisk::ingest::records::{push_record, RecordKind, SourceRef};
use idrisk::rules::Rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let codes = Rules::builtin().outcome_codes();
    let source = SourceRef {
        file: "fuzz",
        line: 1,
    };
    for kind in [
        RecordKind::SignIn,
        RecordKind::Diagnostic,
        RecordKind::LogAnalytics,
    ] {
        let mut builder = FrameBuilder::with_capacity(1);
        let _ = push_record(kind, bytes, &codes, &source, &mut builder);
        let _ = builder.finish();
    }
});
