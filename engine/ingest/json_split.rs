//! Splits a JSON byte stream into record slices without parsing the records.
//!
//! Two layouts: JSON Lines (one record a line; diagnostic archives) is split on newlines;
//! documents (a top-level array, Graph pages `{"value":[…]}`, diagnostic `{"records":[…]}`,
//! or several of them concatenated) are walked by a small structural scanner that tracks only
//! strings and bracket depth. Either way the splitter works on a bounded buffer: it reports
//! how many bytes it consumed, and the caller keeps the rest and appends the next chunk, so
//! memory follows the chunk size, not the file size.

use memchr::{memchr, memchr2, memchr_iter};

/// One record's place in the buffer and the 1-based line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord {
    pub start: usize,
    pub end: usize,
    pub line: u64,
}

/// How a JSON file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JSON value per line.
    Lines,
    /// Arrays and container objects, possibly pretty-printed over many lines.
    Document,
}

/// Which containers the scanner walked through (to name the file's shape).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Containers {
    pub array: bool,
    pub page: bool,
    pub records: bool,
}

/// Decides the layout from the first bytes of a file (BOM and leading whitespace skipped):
/// JSON Lines when the file starts with an object and one of its first lines is a whole
/// object on its own (so a damaged first line does not hide the layout), else a document.
pub fn detect_layout(head: &[u8], eof: bool) -> Layout {
    let start = skip_ws(head, 0);
    if head.get(start) != Some(&b'{') {
        return Layout::Document;
    }
    let mut pos = start;
    for _ in 0..4 {
        let line_end = memchr(b'\n', &head[pos..]).map(|i| pos + i);
        let limit = line_end.unwrap_or(head.len());
        let first = skip_ws(&head[..limit], pos);
        if head.get(first) == Some(&b'{') {
            if let Some(end) = skip_value(&head[..limit], first, line_end.is_some() || eof) {
                if skip_ws(&head[..limit], end) == limit {
                    return Layout::Lines;
                }
            }
        }
        match line_end {
            Some(end) => pos = end + 1,
            None => break,
        }
    }
    Layout::Document
}

/// True when a line holds a container (`{"records":[…]}`, a Graph page) rather than one record.
pub fn is_container_object(bytes: &[u8]) -> bool {
    matches!(
        first_key_is_container(bytes, skip_ws(bytes, 0), true),
        Some(true)
    )
}

/// Splits JSON Lines: every non-blank complete line is a record. Returns bytes consumed.
pub fn split_lines(buf: &[u8], eof: bool, first_line: &mut u64, out: &mut Vec<RawRecord>) -> usize {
    let mut pos = 0;
    while pos < buf.len() {
        let end = match memchr(b'\n', &buf[pos..]) {
            Some(i) => pos + i,
            None if eof => buf.len(),
            None => break,
        };
        let mut record_end = end;
        while record_end > pos && buf[record_end - 1].is_ascii_whitespace() {
            record_end -= 1;
        }
        let record_start = skip_ws(&buf[..record_end], pos);
        if record_start < record_end {
            out.push(RawRecord {
                start: record_start,
                end: record_end,
                line: *first_line,
            });
        }
        *first_line += 1;
        pos = (end + 1).min(buf.len());
    }
    pos
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Array,
    /// A Graph page or diagnostic `{"records":…}` object: its keys are walked, and the
    /// `value` / `records` array holds the records.
    Page,
}

/// The structural scanner for the document layout; keeps its container stack across chunks.
#[derive(Debug, Default)]
pub struct DocumentSplitter {
    stack: Vec<Container>,
    line: u64,
    pub containers: Containers,
    /// Problems with the document that are not records (an unclosed array, say).
    pub warnings: Vec<String>,
}

impl DocumentSplitter {
    pub fn new() -> Self {
        DocumentSplitter {
            line: 1,
            ..Default::default()
        }
    }

    /// Finds the complete records in `buf`; returns the bytes consumed. At `eof` a trailing
    /// partial value becomes a record too (its parse fails and it is quarantined as truncated).
    pub fn split(&mut self, buf: &[u8], eof: bool, out: &mut Vec<RawRecord>) -> usize {
        let mut pos = 0;
        let mut counted = 0;
        loop {
            pos = skip_ws(buf, pos);
            if pos >= buf.len() {
                break;
            }
            let step = match self.stack.last() {
                None => self.top_level(buf, pos, eof),
                Some(Container::Array) => self.in_array(buf, pos, eof),
                Some(Container::Page) => self.in_page(buf, pos, eof),
            };
            match step {
                Step::Advance(next) => pos = next,
                Step::Record(start, end) => {
                    self.line += count_lines(&buf[counted..start]);
                    counted = start;
                    out.push(RawRecord {
                        start,
                        end,
                        line: self.line,
                    });
                    pos = end;
                }
                Step::NeedMore if eof => {
                    self.line += count_lines(&buf[counted..pos]);
                    counted = pos;
                    out.push(RawRecord {
                        start: pos,
                        end: buf.len(),
                        line: self.line,
                    });
                    self.warnings.push("the input ends inside a record".into());
                    pos = buf.len();
                    break;
                }
                Step::NeedMore => break,
            }
        }
        self.line += count_lines(&buf[counted..pos]);
        if eof && !self.stack.is_empty() {
            self.warnings
                .push("the document ends before its closing bracket".into());
            self.stack.clear();
        }
        pos
    }

    fn top_level(&mut self, buf: &[u8], pos: usize, eof: bool) -> Step {
        match buf[pos] {
            b'[' => {
                self.stack.push(Container::Array);
                self.containers.array = true;
                Step::Advance(pos + 1)
            }
            b'{' => match first_key_is_container(buf, pos, eof) {
                Some(true) => {
                    self.stack.push(Container::Page);
                    Step::Advance(pos + 1)
                }
                Some(false) => record(buf, pos, eof),
                None => Step::NeedMore,
            },
            _ => record(buf, pos, eof),
        }
    }

    fn in_array(&mut self, buf: &[u8], pos: usize, eof: bool) -> Step {
        match buf[pos] {
            b',' => Step::Advance(pos + 1),
            b']' => {
                self.stack.pop();
                Step::Advance(pos + 1)
            }
            _ => record(buf, pos, eof),
        }
    }

    fn in_page(&mut self, buf: &[u8], pos: usize, eof: bool) -> Step {
        match buf[pos] {
            b',' => Step::Advance(pos + 1),
            b'}' => {
                self.stack.pop();
                Step::Advance(pos + 1)
            }
            b'"' => {
                let Some(key_end) = skip_string(buf, pos) else {
                    return Step::NeedMore;
                };
                let key = &buf[pos + 1..key_end - 1];
                let colon = skip_ws(buf, key_end);
                if colon >= buf.len() {
                    return Step::NeedMore;
                }
                if buf[colon] != b':' {
                    // Not a key: the page object is malformed here; hand the text on as a
                    // record so it is quarantined with the parser's reason.
                    return record(buf, pos, eof);
                }
                let value = skip_ws(buf, colon + 1);
                if value >= buf.len() {
                    return Step::NeedMore;
                }
                if buf[value] == b'[' && (key == b"value" || key == b"records") {
                    self.containers.page |= key == b"value";
                    self.containers.records |= key == b"records";
                    self.stack.push(Container::Array);
                    return Step::Advance(value + 1);
                }
                match skip_value(buf, value, eof) {
                    Some(end) => Step::Advance(end),
                    None => Step::NeedMore,
                }
            }
            _ => record(buf, pos, eof),
        }
    }
}

enum Step {
    Advance(usize),
    Record(usize, usize),
    NeedMore,
}

fn record(buf: &[u8], pos: usize, eof: bool) -> Step {
    match skip_value(buf, pos, eof) {
        Some(end) => Step::Record(pos, end),
        None => Step::NeedMore,
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    memchr_iter(b'\n', bytes).count() as u64
}

/// Skips whitespace and a UTF-8 byte-order mark.
pub fn skip_ws(buf: &[u8], mut pos: usize) -> usize {
    loop {
        match buf.get(pos) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => pos += 1,
            Some(0xEF) if buf[pos..].starts_with(&[0xEF, 0xBB, 0xBF]) => pos += 3,
            _ => return pos,
        }
    }
}

/// For an object starting at `pos`: does its first key make it a container (Graph page or
/// diagnostic records document)? `None` when the buffer ends first.
fn first_key_is_container(buf: &[u8], pos: usize, eof: bool) -> Option<bool> {
    if buf.get(pos) != Some(&b'{') {
        return Some(false);
    }
    let key_start = skip_ws(buf, pos + 1);
    match buf.get(key_start) {
        None => return if eof { Some(false) } else { None },
        Some(b'"') => {}
        Some(_) => return Some(false),
    }
    let Some(key_end) = skip_string(buf, key_start) else {
        return if eof { Some(false) } else { None };
    };
    let key = &buf[key_start + 1..key_end - 1];
    Some(key == b"value" || key == b"records" || key.starts_with(b"@odata."))
}

/// The end (exclusive) of the JSON value starting at `pos`, or `None` if the buffer ends
/// first. Only strings and bracket depth are tracked: the records are validated later by the
/// real parser, which gives the reason when one is malformed. At `eof` a bare token may end
/// at the end of the buffer.
pub fn skip_value(buf: &[u8], pos: usize, eof: bool) -> Option<usize> {
    match buf.get(pos)? {
        b'"' => skip_string(buf, pos),
        b'{' | b'[' => skip_nested(buf, pos),
        _ => {
            let end = buf[pos..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                .map(|i| pos + i);
            match end {
                Some(end) if end == pos => Some(pos + 1),
                Some(end) => Some(end),
                None if eof => Some(buf.len()),
                None => None,
            }
        }
    }
}

/// The end (exclusive) of the string whose opening quote is at `pos`.
fn skip_string(buf: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    loop {
        let found = memchr2(b'"', b'\\', &buf[i..])?;
        i += found;
        if buf[i] == b'\\' {
            i += 2;
            if i > buf.len() {
                return None;
            }
        } else {
            return Some(i + 1);
        }
    }
}

fn skip_nested(buf: &[u8], pos: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = pos;
    while i < buf.len() {
        match buf[i] {
            b'"' => {
                i = skip_string(buf, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(buf: &'a [u8], records: &[RawRecord]) -> Vec<&'a str> {
        records
            .iter()
            .map(|r| std::str::from_utf8(&buf[r.start..r.end]).unwrap())
            .collect()
    }

    fn split_all(doc: &str) -> (Vec<String>, Vec<u64>, DocumentSplitter) {
        let mut splitter = DocumentSplitter::new();
        let mut out = Vec::new();
        let consumed = splitter.split(doc.as_bytes(), true, &mut out);
        assert_eq!(consumed, doc.len());
        let lines = out.iter().map(|r| r.line).collect();
        let texts = texts(doc.as_bytes(), &out)
            .into_iter()
            .map(String::from)
            .collect();
        (texts, lines, splitter)
    }

    #[test]
    fn layout_is_detected_from_content() {
        assert_eq!(
            detect_layout(b"{\"a\":1}\n{\"a\":2}\n", false),
            Layout::Lines
        );
        assert_eq!(
            detect_layout(b"\xEF\xBB\xBF[{\"a\":1}]", true),
            Layout::Document
        );
        assert_eq!(
            detect_layout(b"{\n  \"value\": [\n", false),
            Layout::Document
        );
        assert_eq!(
            detect_layout(b"{\"records\":[{\"a\":1}]}", true),
            Layout::Lines
        );
        assert_eq!(
            detect_layout(b"{\"broken\n{\"a\":2}\n", false),
            Layout::Lines
        );
    }

    #[test]
    fn arrays_pages_and_records_documents_yield_their_elements() {
        let (t, _, s) = split_all(r#"[{"a":1},{"b":"x]}"}]"#);
        assert_eq!(t, [r#"{"a":1}"#, r#"{"b":"x]}"}"#]);
        assert!(s.containers.array);
        let (t, _, s) =
            split_all(r#"{"@odata.context":"c","value":[{"a":1}, {"a":2}],"@odata.nextLink":"n"}"#);
        assert_eq!(t, [r#"{"a":1}"#, r#"{"a":2}"#]);
        assert!(s.containers.page);
        let (t, _, s) = split_all(r#"{"records":[{"a":"\"q\""}]}"#);
        assert_eq!(t, [r#"{"a":"\"q\""}"#]);
        assert!(s.containers.records);
    }

    #[test]
    fn concatenated_documents_and_line_numbers() {
        let doc = "[\n {\"a\":1},\n {\"a\":2}\n]\n[\n{\"a\":3}]";
        let (t, lines, _) = split_all(doc);
        assert_eq!(t.len(), 3);
        assert_eq!(lines, [2, 3, 6]);
    }

    #[test]
    fn chunked_input_gives_the_same_records_as_whole_input() {
        let doc = r#"{"@odata.context":"x","value":[{"id":"1","s":"a,b"},{"id":"2"},{"id":"3"}]}"#;
        let (whole, _, _) = split_all(doc);
        for cut in 1..doc.len() {
            let mut splitter = DocumentSplitter::new();
            let mut buf = doc.as_bytes()[..cut].to_vec();
            let mut got = Vec::new();
            let mut out = Vec::new();
            let used = splitter.split(&buf, false, &mut out);
            got.extend(texts(&buf, &out).into_iter().map(String::from));
            buf.drain(..used);
            buf.extend_from_slice(&doc.as_bytes()[cut..]);
            out.clear();
            splitter.split(&buf, true, &mut out);
            got.extend(texts(&buf, &out).into_iter().map(String::from));
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn truncated_document_hands_on_the_partial_record_and_warns() {
        let (t, _, s) = split_all(r#"[{"a":1},{"b":"trunc"#);
        assert_eq!(t, [r#"{"a":1}"#, r#"{"b":"trunc"#]);
        assert!(!s.warnings.is_empty());
        let (t, _, s) = split_all(r#"[{"a":1}"#);
        assert_eq!(t, [r#"{"a":1}"#]);
        assert_eq!(s.warnings, ["the document ends before its closing bracket"]);
    }

    #[test]
    fn json_lines_split_keeps_partial_last_line_until_eof() {
        let buf = b"{\"a\":1}\r\n\n  {\"a\":2}\n{\"a\":";
        let mut line = 1;
        let mut out = Vec::new();
        let used = split_lines(buf, false, &mut line, &mut out);
        assert_eq!(texts(buf, &out), [r#"{"a":1}"#, r#"{"a":2}"#]);
        assert_eq!(out[1].line, 3);
        assert_eq!(&buf[used..], b"{\"a\":");
        out.clear();
        split_lines(&buf[used..], true, &mut line, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].line, 4);
    }

    #[test]
    fn container_lines_are_recognised() {
        assert!(is_container_object(br#"{"records":[{"a":1}]}"#));
        assert!(is_container_object(
            br#"{ "@odata.context":"x","value":[]}"#
        ));
        assert!(!is_container_object(br#"{"id":"1"}"#));
    }
}
