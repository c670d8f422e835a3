//! The JSON document splitter and the JSON Lines splitter: fed whole and cut into two
//! chunks at a point the input chooses, they must find the same records, each inside the
//! buffer; the skipper must end inside what it was fed.
#![no_main]

use idrisk::ingest::json_split::{split_lines, DocumentSplitter, RawRecord, Skipper};
use libfuzzer_sys::fuzz_target;

fn whole(doc: &[u8]) -> Vec<Vec<u8>> {
    let mut splitter = DocumentSplitter::new();
    let mut out = Vec::new();
    let used = splitter.split(doc, true, &mut out);
    assert_eq!(used, doc.len());
    texts(doc, &out)
}

fn texts(buf: &[u8], records: &[RawRecord]) -> Vec<Vec<u8>> {
    records
        .iter()
        .map(|r| {
            assert!(r.start <= r.end && r.end <= buf.len());
            buf[r.start..r.end].to_vec()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, doc)) = data.split_first() else {
        return;
    };
    let all = whole(doc);
    let cut = (cut as usize * doc.len()) / 255;
    let mut splitter = DocumentSplitter::new();
    let mut buf = doc[..cut].to_vec();
    let mut out = Vec::new();
    let used = splitter.split(&buf, false, &mut out);
    let mut got = texts(&buf, &out);
    buf.drain(..used);
    buf.extend_from_slice(&doc[cut..]);
    out.clear();
    splitter.split(&buf, true, &mut out);
    got.extend(texts(&buf, &out));
    assert_eq!(got, all);

    let mut line = 1;
    let mut records = Vec::new();
    let used = split_lines(doc, true, &mut line, &mut records);
    assert_eq!(used, doc.len());
    texts(doc, &records);

    if let Some(end) = Skipper::value().feed(doc) {
        assert!(end <= doc.len());
    }
});
