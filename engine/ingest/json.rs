//! The JSON reader: Graph pages and arrays, portal JSON, JSON Lines, diagnostic archives and
//! Log Analytics JSON, in bounded chunks parsed in parallel.
//!
//! The file is read in chunks ([`super::IngestOptions::chunk_bytes`]); the splitter cuts each chunk into record
//! slices, and rayon workers parse slices of records straight into column builders. The
//! record shape (signIn, diagnostic envelope, Log Analytics row) is decided from the first
//! record that shows one; a record that fails under that shape is tried under its own before
//! it is quarantined, so mixed files lose nothing.

use rayon::prelude::*;
use serde::de::IgnoredAny;

use super::json_split::{self, Containers, DocumentSplitter, Layout, RawRecord, Skipper};
use super::records::{push_record, Probe, RecordKind, SourceRef, Verdict};
use super::source::{self, stopped_warning, Opened, Prefetcher};
use super::{FileLoad, IngestError, IngestOptions, Part, Quarantined, Shape};
use crate::frame::{FrameBuilder, OutcomeCodes};
use std::io::Read;

enum Splitter {
    Lines { next_line: u64 },
    Document(DocumentSplitter),
}

/// Reads a JSON input. With `shared`, every row goes into that builder (a run of small files
/// building one frame), handed back in [`FileLoad::shared`]; without, into frames of the
/// file's own.
pub(super) fn read(
    opened: Opened,
    name: &str,
    options: &IngestOptions,
    shared: Option<Box<FrameBuilder>>,
) -> Result<FileLoad, IngestError> {
    let Opened {
        reader,
        head,
        gzip,
        stopped,
        file,
        ..
    } = opened;
    let codes = &options.codes;
    let cap = options.max_record_bytes;
    let mut load = FileLoad::new(Shape::SignInLines, gzip);
    load.shared = shared;
    // The head decides the layout; then it is read again, from the map of a plain local file
    // (JSON Lines) or through the chunked stream, so every byte takes the same path whatever
    // the chunk size.
    let layout = json_split::detect_layout(&head, head.len() < source::HEAD_BYTES);
    if let (Layout::Lines, Some(file)) = (layout, &file) {
        // SAFETY: the map is only read; a file truncated under it raises SIGBUS, which
        // `mapped` turns into an error naming the file.
        if let Ok(map) = unsafe { memmap2::Mmap::map(file) } {
            return Ok(read_mapped_lines(&map, head.len(), name, options, load));
        }
    }
    let stream: Box<dyn std::io::Read + Send> = match stopped {
        Some(error) => {
            load.warnings.push(stopped_warning(&error));
            Box::new(std::io::Cursor::new(head))
        }
        None => Box::new(std::io::Cursor::new(head).chain(reader)),
    };
    let mut prefetch = Some(Prefetcher::start(stream, options.chunk_bytes));
    let mut buf = Vec::new();
    let mut eof = match &mut prefetch {
        Some(prefetcher) => append_chunk(prefetcher, &mut buf, &mut load),
        None => true,
    };
    let mut splitter = match layout {
        Layout::Lines => Splitter::Lines { next_line: 1 },
        Layout::Document => Splitter::Document(DocumentSplitter::new()),
    };
    let mut kind: Option<RecordKind> = None;
    let ctx = |kind| Ctx {
        kind,
        name,
        codes,
        cap,
    };
    let mut saw_container_line = false;
    // Set while the rest of an oversized record is passed over.
    let mut skipping: Option<Skipper> = None;
    loop {
        if let Some(skipper) = &mut skipping {
            let end = skipper.feed(&buf);
            let passed = end.unwrap_or(buf.len());
            match &mut splitter {
                Splitter::Lines { next_line } => *next_line += u64::from(end.is_some()),
                Splitter::Document(doc) => doc.pass_over(&buf[..passed]),
            }
            buf.drain(..passed);
            if end.is_some() {
                skipping = None;
            } else if eof {
                break;
            } else if let Some(prefetcher) = &mut prefetch {
                eof = append_chunk(prefetcher, &mut buf, &mut load);
                continue;
            }
        }
        let mut records = Vec::new();
        let consumed = match &mut splitter {
            Splitter::Lines { next_line } => {
                json_split::split_lines(&buf, eof, next_line, &mut records)
            }
            Splitter::Document(doc) => doc.split(&buf, eof, &mut records),
        };
        if kind.is_none() {
            kind = records.iter().find_map(|r| probe(&buf[r.start..r.end]));
        }
        if let Splitter::Lines { .. } = splitter {
            saw_container_line |= records
                .first()
                .is_some_and(|r| json_split::is_container_object(&buf[r.start..r.end]));
        }
        parse_with(&buf, &records, ctx(kind), &mut load);
        buf.drain(..consumed);
        if !eof && buf.len() > cap {
            // What is left is one unfinished record already larger than the cap.
            let line = match &splitter {
                Splitter::Lines { next_line } => *next_line,
                Splitter::Document(doc) => doc.line(),
            };
            load.read += 1;
            load.quarantine.push(oversized(name, line, cap, &buf));
            skipping = Some(match layout {
                Layout::Lines => Skipper::line(),
                Layout::Document => Skipper::value(),
            });
            continue;
        }
        if eof {
            break;
        }
        let Some(prefetcher) = &mut prefetch else {
            break;
        };
        if let Splitter::Lines { next_line } = &mut splitter {
            if kind.is_some() {
                // From here on, whole lines are parsed where they lie in each chunk; only the
                // line cut by a chunk boundary is copied.
                read_remaining_lines(prefetcher, buf, next_line, ctx(kind), &mut load);
                break;
            }
        }
        eof = append_chunk(prefetcher, &mut buf, &mut load);
    }
    if let Splitter::Document(doc) = &splitter {
        load.warnings.extend(doc.warnings.iter().cloned());
    }
    let containers = match &splitter {
        Splitter::Document(doc) => doc.containers,
        Splitter::Lines { .. } => Default::default(),
    };
    load.shape = shape_of(kind, containers, saw_container_line);
    Ok(load)
}

/// The file's shape from its record kind and the containers it was seen to hold.
fn shape_of(kind: Option<RecordKind>, containers: Containers, container_line: bool) -> Shape {
    match kind {
        Some(RecordKind::Diagnostic) if containers.records || container_line => {
            Shape::DiagnosticRecords
        }
        Some(RecordKind::Diagnostic) => Shape::DiagnosticLines,
        Some(RecordKind::LogAnalytics) => Shape::LogAnalyticsJson,
        _ if containers.page || container_line => Shape::GraphPage,
        _ if containers.array => Shape::SignInArray,
        _ => Shape::SignInLines,
    }
}

/// JSON Lines of a local file, parsed where they lie in the page cache: no copy into chunk
/// buffers and no reading thread (that copy was a tenth of a one-file convert's CPU time).
/// The map is cut into windows of about [`IngestOptions::chunk_bytes`] that end at a line
/// end, and each worker parses a whole window into a frame of its own, taking the next one
/// as soon as it is done: no worker waits for another between windows (a window split
/// between the workers left a core idle a sixth of the parse while the slower half ended).
/// Each window's pages leave the process once it is parsed, so memory follows the windows
/// in flight, not the file. `counted`: the bytes already counted as read (the head, sniffed
/// through the stream).
fn read_mapped_lines(
    map: &memmap2::Mmap,
    counted: usize,
    name: &str,
    options: &IngestOptions,
    mut load: FileLoad,
) -> FileLoad {
    super::mapped::register(
        std::path::Path::new(name),
        Some(map.as_ptr() as usize..map.as_ptr() as usize + map.len()),
    );
    // A file of a few windows is cut into one a worker at least, so that every core parses.
    let per_worker = map
        .len()
        .div_ceil(rayon::current_num_threads())
        .max(1 << 20);
    let mut windows = Windows::new(map, options.chunk_bytes.min(per_worker));
    let ctx = |kind| Ctx {
        kind,
        name,
        codes: &options.codes,
        cap: options.max_record_bytes,
    };
    // Once parsed, nothing borrows a window any more: rows copied what they keep.
    let done = |range: std::ops::Range<usize>| {
        let more = range.end.saturating_sub(range.start.max(counted)) as u64;
        options
            .progress
            .fetch_add(more, std::sync::atomic::Ordering::Relaxed);
        super::mapped::drop_pages(map, range);
    };
    if load.shared.is_some() {
        for window in &mut windows {
            let buf = &map[window.range.clone()];
            parse_with(buf, &window.records, ctx(window.kind), &mut load);
            done(window.range);
        }
    } else {
        // Windows are cut in turn (the cut counts lines and is the first touch of a window's
        // pages) by whichever worker asks for the next one, so cutting overlaps parsing.
        let mut parts: Vec<(usize, Part)> = (&mut windows)
            .par_bridge()
            .map(|window| {
                let part = parse_part(
                    &map[window.range.clone()],
                    &window.records,
                    ctx(window.kind),
                );
                done(window.range);
                (window.index, part)
            })
            .collect();
        parts.sort_unstable_by_key(|(index, _)| *index);
        for (_, part) in parts {
            load.absorb(part);
        }
    }
    load.shape = shape_of(windows.kind, Containers::default(), windows.container_line);
    load
}

/// The windows of a mapped JSON Lines file, cut one after the other: each ends at a line
/// end, its records carry their lines in the file, and it is parsed with the record kind
/// of the first record seen to show one, up to and including its own.
struct Windows<'m> {
    map: &'m [u8],
    size: usize,
    pos: usize,
    next_line: u64,
    count: usize,
    kind: Option<RecordKind>,
    container_line: bool,
}

struct Window {
    index: usize,
    range: std::ops::Range<usize>,
    records: Vec<RawRecord>,
    kind: Option<RecordKind>,
}

impl<'m> Windows<'m> {
    fn new(map: &'m [u8], size: usize) -> Self {
        Windows {
            map,
            size: size.max(1),
            pos: 0,
            next_line: 1,
            count: 0,
            kind: None,
            container_line: false,
        }
    }
}

impl Iterator for Windows<'_> {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        let (map, pos) = (self.map, self.pos);
        if pos >= map.len() {
            return None;
        }
        let end = (pos + self.size).min(map.len());
        let end = memchr::memchr(b'\n', &map[end..]).map_or(map.len(), |i| end + i + 1);
        let window = &map[pos..end];
        let mut records = Vec::new();
        json_split::split_lines(window, true, &mut self.next_line, &mut records);
        if self.kind.is_none() {
            self.kind = records.iter().find_map(|r| probe(&window[r.start..r.end]));
            self.container_line |= records
                .first()
                .is_some_and(|r| json_split::is_container_object(&window[r.start..r.end]));
        }
        self.pos = end;
        self.count += 1;
        Some(Window {
            index: self.count - 1,
            range: pos..end,
            records,
            kind: self.kind,
        })
    }
}

/// The quarantine entry for a record over the size cap, with its first bytes.
fn oversized(name: &str, line: u64, cap: usize, start: &[u8]) -> Quarantined {
    Quarantined::new(
        name,
        Some(line),
        format!(
            "record larger than the {} cap (a line or string that never ends?); passed over",
            super::byte_size(cap)
        ),
        &start[..start.len().min(super::QUARANTINE_RAW_LIMIT)],
    )
}

/// JSON Lines after the first chunk, without copying chunks: `carry` holds the start of a
/// line cut by the previous chunk's end.
fn read_remaining_lines(
    prefetch: &mut Prefetcher,
    mut carry: Vec<u8>,
    next_line: &mut u64,
    ctx: Ctx<'_>,
    load: &mut FileLoad,
) {
    let cap = ctx.cap;
    // True while the rest of a line over the size cap is passed over.
    let mut skipping = false;
    loop {
        let chunk = prefetch.next_chunk();
        if let Some(error) = &chunk.error {
            load.warnings.push(stopped_warning(error));
        }
        let bytes = &chunk.bytes;
        let mut start = 0;
        if skipping {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    start = i + 1;
                    *next_line += 1;
                    skipping = false;
                }
                None => start = bytes.len(),
            }
        }
        if !carry.is_empty() {
            let cut = match memchr::memchr(b'\n', &bytes[start..]) {
                Some(i) => start + i + 1,
                None if chunk.end => bytes.len(),
                None => {
                    carry.extend_from_slice(&bytes[start..]);
                    if carry.len() > cap {
                        load.read += 1;
                        load.quarantine
                            .push(oversized(ctx.name, *next_line, cap, &carry));
                        carry.clear();
                        skipping = true;
                    }
                    prefetch.recycle(chunk.bytes);
                    continue;
                }
            };
            carry.extend_from_slice(&bytes[start..cut]);
            let mut records = Vec::new();
            json_split::split_lines(
                &carry,
                chunk.end && cut == bytes.len(),
                next_line,
                &mut records,
            );
            parse_with(&carry, &records, ctx, load);
            carry.clear();
            start = cut;
        }
        let mut records = Vec::new();
        let used = json_split::split_lines(&bytes[start..], chunk.end, next_line, &mut records);
        parse_with(&bytes[start..], &records, ctx, load);
        carry.extend_from_slice(&bytes[start + used..]);
        if !chunk.end && carry.len() > cap {
            load.read += 1;
            load.quarantine
                .push(oversized(ctx.name, *next_line, cap, &carry));
            carry.clear();
            skipping = true;
        }
        let end = chunk.end;
        prefetch.recycle(chunk.bytes);
        if end {
            return;
        }
    }
}

/// Appends the next chunk to `buf`; returns true at the end of the input. A read error (a
/// truncated gzip stream) ends the input with a warning: what was read is still used.
fn append_chunk(prefetch: &mut Prefetcher, buf: &mut Vec<u8>, load: &mut FileLoad) -> bool {
    let chunk = prefetch.next_chunk();
    if let Some(error) = &chunk.error {
        load.warnings.push(stopped_warning(error));
    }
    buf.extend_from_slice(&chunk.bytes);
    prefetch.recycle(chunk.bytes);
    chunk.end
}

/// The record shape of a record, or of the first recognisable element of a container line.
fn probe(bytes: &[u8]) -> Option<RecordKind> {
    probe_within(bytes, MAX_CONTAINER_DEPTH)
}

/// How deep containers may nest inside a record slice: a Graph page or a `{"records":[…]}`
/// document on one line holds records, not further pages. Deeper nesting is hostile or
/// damaged input, and following it would recurse (and rescan the rest) once per level.
const MAX_CONTAINER_DEPTH: usize = 2;

fn probe_within(bytes: &[u8], depth: usize) -> Option<RecordKind> {
    if json_split::is_container_object(bytes) {
        let depth = depth.checked_sub(1)?;
        let mut inner = Vec::new();
        DocumentSplitter::new().split(bytes, true, &mut inner);
        return inner
            .iter()
            .find_map(|r| probe_within(&bytes[r.start..r.end], depth));
    }
    serde_json::from_slice::<Probe>(bytes).ok()?.kind()
}

/// What every record of a file is parsed with.
#[derive(Clone, Copy)]
struct Ctx<'c> {
    kind: Option<RecordKind>,
    name: &'c str,
    codes: &'c OutcomeCodes,
    /// The record size cap.
    cap: usize,
}

/// Parses the records of one chunk in order: into the load's shared builder one after the
/// other when it has one, else in parallel parts.
fn parse_with(buf: &[u8], records: &[RawRecord], ctx: Ctx<'_>, load: &mut FileLoad) {
    if records.is_empty() {
        return;
    }
    if let Some(builder) = load.shared.as_mut() {
        let mut tally = Tally {
            read: &mut load.read,
            skipped: &mut load.skipped,
            quarantine: &mut load.quarantine,
        };
        parse_in_turn(buf, records, ctx, builder, &mut tally);
        return;
    }
    // One task per thread: every task builds a frame of its own (three dozen column builders,
    // later stacked), so fewer, larger tasks cost less time and memory than finer ones that
    // balance better (four a thread: 9 % more CPU, 5 % more peak memory in a one-file convert).
    let per_task = records
        .len()
        .div_ceil(rayon::current_num_threads())
        .max(256);
    let parts: Vec<Part> = records
        .par_chunks(per_task)
        .map(|slice| parse_part(buf, slice, ctx))
        .collect();
    for part in parts {
        load.absorb(part);
    }
}

/// Parses `records` one after the other into a part of their own.
fn parse_part(buf: &[u8], records: &[RawRecord], ctx: Ctx<'_>) -> Part {
    let mut part = Part::with_capacity(records.len());
    let Part {
        builder,
        quarantine,
        read,
        skipped,
    } = &mut part;
    let mut tally = Tally {
        read,
        skipped,
        quarantine,
    };
    parse_in_turn(buf, records, ctx, builder, &mut tally);
    part
}

/// A line that is a whole container (`{"records":[…]}` or a Graph page): its elements are
/// the records.
fn expand_container(
    bytes: &[u8],
    line: u64,
    ctx: Ctx<'_>,
    builder: &mut FrameBuilder,
    tally: &mut Tally<'_>,
) {
    let mut inner = Vec::new();
    DocumentSplitter::new().split(bytes, true, &mut inner);
    for record in inner {
        let bytes = &bytes[record.start..record.end];
        parse_one(bytes, line + record.line - 1, ctx, builder, tally);
    }
}

/// Where one record's outcome is counted: a worker's part, or the file's load.
struct Tally<'t> {
    read: &'t mut u64,
    skipped: &'t mut u64,
    quarantine: &'t mut Vec<Quarantined>,
}

/// Parses `records` one after the other into `builder`.
fn parse_in_turn(
    buf: &[u8],
    records: &[RawRecord],
    ctx: Ctx<'_>,
    builder: &mut FrameBuilder,
    tally: &mut Tally<'_>,
) {
    for record in records {
        let bytes = &buf[record.start..record.end];
        if bytes.len() > ctx.cap {
            // Quarantined unparsed, whether or not the chunk happened to hold all of it.
            *tally.read += 1;
            tally
                .quarantine
                .push(oversized(ctx.name, record.line, ctx.cap, bytes));
        } else if json_split::is_container_object(bytes) {
            expand_container(bytes, record.line, ctx, builder, tally);
        } else {
            parse_one(bytes, record.line, ctx, builder, tally);
        }
    }
}

fn parse_one(
    bytes: &[u8],
    line: u64,
    ctx: Ctx<'_>,
    builder: &mut FrameBuilder,
    tally: &mut Tally<'_>,
) {
    *tally.read += 1;
    let source = SourceRef {
        file: ctx.name,
        line,
    };
    let result = match ctx.kind {
        Some(kind) => push_record(kind, bytes, ctx.codes, &source, builder).or_else(|first| {
            // A record of another shape in the same file: try its own before giving up.
            match probe(bytes) {
                Some(own) if own != kind => push_record(own, bytes, ctx.codes, &source, builder),
                _ => Err(first),
            }
        }),
        None => Err(unknown_record_reason(bytes)),
    };
    match result {
        Ok(Verdict::Kept) => {}
        Ok(Verdict::Skipped) => *tally.skipped += 1,
        Err(reason) => {
            let reason = if json_split::is_all_junk(bytes) {
                "NUL or control bytes, not a record (a partial write or a crashed collector?)"
                    .to_string()
            } else {
                reason
            };
            tally
                .quarantine
                .push(Quarantined::new(ctx.name, Some(line), reason, bytes))
        }
    }
}

fn unknown_record_reason(bytes: &[u8]) -> String {
    match serde_json::from_slice::<IgnoredAny>(bytes) {
        Err(e) if e.is_eof() => format!("truncated record: {e}"),
        Err(e) => format!("invalid record: {e}"),
        Ok(_) => "not a sign-in record (no createdDateTime, properties or TimeGenerated)".into(),
    }
}
