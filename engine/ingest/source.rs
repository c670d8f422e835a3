//! Finding input files (files, directory trees, globs), opening them (plain or gzip) and
//! sniffing their shape from their first bytes, never from their names.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use super::json_split::{detect_layout, skip_junk, skip_ws, Layout};
use super::IngestError;
use crate::storage::Window;

/// Expands the inputs a user named into a sorted, de-duplicated list of files. A directory
/// contributes every regular file under it, except hidden files and folders and the
/// quarantine files `convert` writes beside its output (`*.quarantine.jsonl`: rejected
/// records, not an export; read only when named); a pattern with `*`, `?` or `[` is a glob.
/// A name that matches nothing is an error.
///
/// An object storage URL (`az://`, `s3://`, …) is listed the same way ([`crate::storage::list`]):
/// its objects come back as their URLs. Partitions of an archive (`y=/m=/d=/h=`, `date=`)
/// wholly outside `window` are left out, before anything is read.
pub fn expand_inputs(inputs: &[PathBuf], window: Window) -> Result<Vec<PathBuf>, IngestError> {
    let mut files = Vec::new();
    for input in inputs {
        let text = input.to_string_lossy();
        if crate::storage::is_url(&text) {
            let listed = crate::storage::list(&text, window, &mut listing_progress(&text))
                .map_err(IngestError::Storage)?;
            for object in listed {
                LISTED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(object.url.clone(), object.size);
                files.push(PathBuf::from(object.url));
            }
            continue;
        }
        let mut found = Vec::new();
        expand_local(input, &mut found)?;
        found.retain(|f| window.admits_path(&f.to_string_lossy()));
        files.append(&mut found);
        if files.is_empty() && !window.is_open() {
            return Err(IngestError::BadInput {
                input: input.clone(),
                reason: "no files in the --since/--until window".into(),
            });
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Sizes of the objects listed, by URL: what progress counts against.
static LISTED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, u64>>> =
    std::sync::LazyLock::new(Default::default);

/// The size of an input: a local file's, or what the listing said of an object.
pub fn input_size(path: &Path) -> Option<u64> {
    let text = path.to_string_lossy();
    if crate::storage::is_url(&text) {
        return LISTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(text.as_ref())
            .copied();
    }
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// About how many sign-ins `files` hold, before any is read: a canonical Parquet file's
/// count from its metadata, else its size over 600 bytes (a diagnostic-settings record takes
/// about 3 KB, a portal CSV row 600 bytes; gzip shrinks either about six times): an upper
/// estimate for text, for choosing how many shards a memory limit takes.
pub fn estimated_rows(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|path| {
            let counted = (!crate::storage::is_url(&path.to_string_lossy()))
                .then(|| std::fs::File::open(path).ok())
                .flatten()
                .and_then(|mut file| polars_parquet::read::read_metadata(&mut file).ok())
                .map(|metadata| metadata.num_rows as u64);
            let gzip = path.to_string_lossy().ends_with(".gz");
            let bytes = input_size(path).unwrap_or(0) * if gzip { 6 } else { 1 };
            counted.unwrap_or(bytes / 600)
        })
        .sum()
}

/// Shows how many objects a long listing has found, on a terminal.
fn listing_progress(url: &str) -> impl FnMut(usize) + '_ {
    use std::io::IsTerminal;
    let terminal = io::stderr().is_terminal();
    move |seen| {
        if terminal && seen >= 1000 {
            eprint!("\r[+] listing {url}: {seen} objects");
        }
    }
}

/// One local input: a file, a directory tree or a glob.
fn expand_local(input: &Path, files: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    {
        if input.is_file() {
            files.push(input.to_path_buf());
        } else if input.is_dir() {
            walk(input, files).map_err(|e| IngestError::io(input, e))?;
        } else if is_glob(input) {
            let pattern = input.to_string_lossy();
            let matches = glob::glob(&pattern).map_err(|e| IngestError::BadInput {
                input: input.to_path_buf(),
                reason: format!("invalid glob pattern: {e}"),
            })?;
            let before = files.len();
            for entry in matches {
                let path = entry.map_err(|e| {
                    let path = e.path().to_path_buf();
                    IngestError::io(&path, e.into())
                })?;
                if path.is_dir() {
                    walk(&path, files).map_err(|e| IngestError::io(&path, e))?;
                } else if path.is_file() {
                    files.push(path);
                }
            }
            if files.len() == before {
                return Err(IngestError::BadInput {
                    input: input.to_path_buf(),
                    reason: "the pattern matches no files".into(),
                });
            }
        } else {
            return Err(IngestError::BadInput {
                input: input.to_path_buf(),
                reason: "no such file or directory".into(),
            });
        }
    }
    Ok(())
}

/// [`expand_inputs`], or with `keep_going` each input on its own, an input that matches
/// nothing kept as named: the load then reports it as an unreadable file instead of stopping
/// (`--keep-going`).
pub fn expand(
    inputs: &[PathBuf],
    keep_going: bool,
    window: Window,
) -> Result<Vec<PathBuf>, IngestError> {
    if !keep_going {
        return expand_inputs(inputs, window);
    }
    let mut files = Vec::new();
    for input in inputs {
        match expand_inputs(std::slice::from_ref(input), window) {
            Ok(found) => files.extend(found),
            Err(_) => files.push(input.clone()),
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn is_glob(path: &Path) -> bool {
    path.to_string_lossy().contains(['*', '?', '['])
}

/// How the quarantine files `convert` writes end (see [`crate::cli::convert::quarantine_path`]).
pub const QUARANTINE_SUFFIX: &str = ".quarantine.jsonl";

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A dataset's manifest and quarantine folder are no sign-ins.
        if name.starts_with('.')
            || name.ends_with(QUARANTINE_SUFFIX)
            || name == super::dataset::MANIFEST
            || name == super::dataset::QUARANTINE_DIR
        {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

/// What a file holds, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Empty,
    Json,
    Csv,
    Parquet,
    /// An Avro object container (Event Hubs Capture).
    Avro,
    /// Binary or otherwise unreadable content.
    Unrecognised,
}

/// An opened input: the decompressed byte stream and the first bytes already read from it.
pub struct Opened {
    pub reader: Box<dyn Read + Send>,
    pub head: Vec<u8>,
    pub gzip: bool,
    pub sniffed: Sniffed,
    /// Set when the stream already failed while reading the head (a short, truncated gzip
    /// file): `head` holds everything that could be read and `reader` must not be read.
    pub stopped: Option<String>,
    /// The file itself when the stream is its bytes unchanged (a local file, neither gzip
    /// nor UTF-16): a reader may map it rather than read it through `reader`.
    pub file: Option<File>,
}

/// The buffer in front of a gzip decoder.
const GZIP_INPUT_BUFFER: usize = 256 * 1024;

/// How much of a file is read to sniff it (at most).
pub const HEAD_BYTES: usize = 64 * 1024;

/// Opens a file, transparently decompressing gzip, and sniffs its content. `progress`
/// counts the bytes read from disk (compressed bytes for gzip).
pub fn open(path: &Path, progress: Arc<AtomicU64>) -> Result<Opened, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let same = file.try_clone().ok();
    open_stream(Box::new(file), same, path, progress)
}

/// [`open`] for bytes already in memory (a blob fetched from object storage).
pub fn open_bytes(
    bytes: Vec<u8>,
    name: &Path,
    progress: Arc<AtomicU64>,
) -> Result<Opened, IngestError> {
    open_stream(Box::new(io::Cursor::new(bytes)), None, name, progress)
}

/// Opens `file`'s stream; `local` is the same file, kept in [`Opened::file`] when the stream
/// turns out to be its bytes unchanged.
fn open_stream(
    mut file: Box<dyn Read + Send>,
    local: Option<File>,
    path: &Path,
    progress: Arc<AtomicU64>,
) -> Result<Opened, IngestError> {
    let mut magic = [0u8; 4];
    let (n, error) = read_up_to(&mut file, &mut magic);
    if let Some(e) = error {
        return Err(IngestError::io(path, e));
    }
    let raw = CountingReader {
        inner: io::Cursor::new(magic[..n].to_vec()).chain(file),
        count: progress,
    };
    let gzip = n >= 2 && magic[..2] == [0x1f, 0x8b];
    let reader: Box<dyn Read + Send> = if gzip {
        // Readers take the decompressed bytes in large chunks: no buffer after the decoder,
        // and a modest one before it (an archive is thousands of small blobs, each with its
        // own buffers).
        Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            GZIP_INPUT_BUFFER,
            raw,
        )))
    } else {
        Box::new(raw)
    };
    let binary = match &magic {
        b"PAR1" => Some(Sniffed::Parquet),
        super::avro::MAGIC => Some(Sniffed::Avro),
        _ => None,
    };
    if let Some(sniffed) = binary.filter(|_| !gzip && n == 4) {
        return Ok(Opened {
            reader,
            head: Vec::new(),
            gzip,
            sniffed,
            stopped: None,
            file: None,
        });
    }
    let (mut reader, peek_error, transcoded) = as_utf8(reader);
    let mut head = vec![0u8; HEAD_BYTES];
    let (len, error) = match peek_error {
        // The stream already failed: what was peeked is all there is.
        Some(e) => (read_up_to(&mut reader, &mut head).0, Some(e)),
        None => read_up_to(&mut reader, &mut head),
    };
    head.truncate(len);
    // A damaged gzip stream is a data problem (its readable part is still used); any other
    // read failure is the file system's and stops the run.
    let stopped = match error {
        Some(e) if gzip => Some(e.to_string()),
        Some(e) => return Err(IngestError::io(path, e)),
        None => None,
    };
    let sniffed = if gzip && stopped.is_some() && head.is_empty() {
        Sniffed::Unrecognised
    } else {
        sniff(&head)
    };
    Ok(Opened {
        reader,
        head,
        gzip,
        sniffed,
        stopped,
        file: local.filter(|_| !gzip && !transcoded),
    })
}

/// The stream as UTF-8: text that starts with a UTF-16 byte-order mark (what Windows
/// PowerShell 5.1's `>` and `Out-File` write) is transcoded as it is read; anything else
/// passes through untouched. A read error while peeking is handed back with what was read,
/// and whether the stream is transcoded.
fn as_utf8(mut reader: Box<dyn Read + Send>) -> (Box<dyn Read + Send>, Option<io::Error>, bool) {
    let mut bom = [0u8; 2];
    let (n, error) = read_up_to(&mut reader, &mut bom);
    let little_endian = match bom[..n] {
        [0xFF, 0xFE] => true,
        [0xFE, 0xFF] => false,
        _ => {
            let peeked = io::Cursor::new(bom[..n].to_vec());
            return (Box::new(peeked.chain(reader)), error, false);
        }
    };
    let decoder = Utf16Reader {
        inner: reader,
        little_endian,
        pending: Vec::new(),
        out: Vec::new(),
        at: 0,
        odd: None,
        high: None,
    };
    (Box::new(decoder), error, true)
}

/// Transcodes UTF-16 (the byte-order mark already read) into UTF-8. Unpaired surrogates
/// become U+FFFD, as any decoder would show them; the records around them survive.
struct Utf16Reader<R> {
    inner: R,
    little_endian: bool,
    /// Raw bytes read from `inner`, reused between reads.
    pending: Vec<u8>,
    /// Transcoded bytes not yet handed out, from `at` on.
    out: Vec<u8>,
    at: usize,
    /// A byte of a code unit cut by the previous read.
    odd: Option<u8>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
}

impl<R: Read> Utf16Reader<R> {
    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.out
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    fn unit(&mut self, unit: u16) {
        match (self.high.take(), unit) {
            (Some(high), 0xDC00..=0xDFFF) => {
                let code =
                    0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                self.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            (high, 0xD800..=0xDBFF) => {
                if high.is_some() {
                    self.push('\u{FFFD}');
                }
                self.high = Some(unit);
            }
            (high, unit) => {
                if high.is_some() {
                    self.push('\u{FFFD}');
                }
                self.push(char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'));
            }
        }
    }

    /// Transcodes the next block; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.at = 0;
        self.pending.resize(64 * 1024, 0);
        let n = loop {
            match self.inner.read(&mut self.pending) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            if self.high.take().is_some() || self.odd.take().is_some() {
                self.push('\u{FFFD}');
            }
            return Ok(!self.out.is_empty());
        }
        let mut bytes = std::mem::take(&mut self.pending);
        let mut i = 0;
        if let Some(first) = self.odd.take() {
            let pair = [first, bytes[0]];
            self.unit(self.decode(pair));
            i = 1;
        }
        while i + 1 < n {
            let unit = self.decode([bytes[i], bytes[i + 1]]);
            self.unit(unit);
            i += 2;
        }
        if i < n {
            self.odd = Some(bytes[i]);
        }
        bytes.truncate(0);
        self.pending = bytes;
        Ok(true)
    }

    fn decode(&self, pair: [u8; 2]) -> u16 {
        if self.little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.out.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads a stream in chunks on a thread of its own, one chunk ahead of the parser, so that
/// reading (and gunzipping) overlaps with parsing. Buffers go back and forth, so a file is
/// read with two chunk-sized allocations however large it is. The first chunk is read on the
/// caller's thread: a file that fits in it (an hourly blob of an archive, of which there are
/// thousands) needs no thread at all.
pub struct Prefetcher {
    first: Option<Chunk>,
    /// The reading thread's chunks and the way back for spent buffers, when the file is
    /// longer than one chunk.
    rest: Option<(
        std::sync::mpsc::Receiver<Chunk>,
        std::sync::mpsc::SyncSender<Vec<u8>>,
    )>,
}

/// One chunk of a stream.
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// True for the last chunk.
    pub end: bool,
    /// Why the stream stopped early, if it did.
    pub error: Option<String>,
}

impl Chunk {
    /// Reads the next chunk into `bytes`, which grows with what is read up to `chunk_bytes`:
    /// a small file never touches a chunk's worth of memory.
    fn read(reader: &mut impl Read, mut bytes: Vec<u8>, chunk_bytes: usize) -> Chunk {
        bytes.clear();
        // What was read before an error stays in `bytes` (interruptions are retried).
        let error = reader
            .take(chunk_bytes as u64)
            .read_to_end(&mut bytes)
            .err();
        let end = bytes.len() < chunk_bytes || error.is_some();
        Chunk {
            bytes,
            end,
            error: error.map(|e| e.to_string()),
        }
    }
}

impl Prefetcher {
    pub fn start(mut reader: Box<dyn Read + Send>, chunk_bytes: usize) -> Self {
        let first = Chunk::read(&mut reader, Vec::new(), chunk_bytes);
        if first.end {
            return Prefetcher {
                first: Some(first),
                rest: None,
            };
        }
        let (chunk_tx, chunks) = std::sync::mpsc::sync_channel::<Chunk>(1);
        let (spare, spare_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        std::thread::spawn(move || loop {
            let bytes = spare_rx.try_recv().unwrap_or_default();
            let chunk = Chunk::read(&mut reader, bytes, chunk_bytes);
            let end = chunk.end;
            // The receiver is gone when the parser stopped early: nothing left to do.
            if chunk_tx.send(chunk).is_err() || end {
                return;
            }
        });
        Prefetcher {
            first: Some(first),
            rest: Some((chunks, spare)),
        }
    }

    /// The next chunk; after the last one, an empty final chunk.
    pub fn next_chunk(&mut self) -> Chunk {
        let after_the_end = || Chunk {
            bytes: Vec::new(),
            end: true,
            error: None,
        };
        if let Some(first) = self.first.take() {
            return first;
        }
        match &self.rest {
            Some((chunks, _)) => chunks.recv().unwrap_or_else(|_| after_the_end()),
            None => after_the_end(),
        }
    }

    /// Hands a used buffer back for the reader to fill again.
    pub fn recycle(&self, mut bytes: Vec<u8>) {
        if let Some((_, spare)) = &self.rest {
            bytes.clear();
            let _ = spare.try_send(bytes);
        }
    }
}

/// Reads until `buf` is full, the stream ends or a read fails; returns the bytes read and
/// the failure, if any.
pub fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// The warning for a stream that stopped early.
pub fn stopped_warning(error: &str) -> String {
    format!("the input stops early ({error}); records after that point are missing")
}

/// Judges content from its first bytes: JSON starts with `[` or `{` (after whitespace, a
/// BOM and any NUL or control bytes a partial write left), or is JSON Lines behind a
/// damaged first line; CSV is text whose first line has a comma; anything else with NUL
/// bytes or invalid UTF-8 is unrecognised.
pub fn sniff(head: &[u8]) -> Sniffed {
    let start = skip_ws(head, 0);
    if start == head.len() {
        return Sniffed::Empty;
    }
    if matches!(head.get(skip_junk(head, start)), Some(b'[' | b'{'))
        || detect_layout(head, false) == Layout::Lines
    {
        return Sniffed::Json;
    }
    if head.contains(&0) {
        return Sniffed::Unrecognised;
    }
    let first_line = head[start..].split(|b| *b == b'\n').next().unwrap_or(&[]);
    let text_ok = match std::str::from_utf8(&head[start..]) {
        Ok(_) => true,
        // The head may cut a multi-byte character at its end; that is not invalid text.
        Err(e) => e.error_len().is_none(),
    };
    if text_ok && first_line.contains(&b',') {
        Sniffed::Csv
    } else {
        Sniffed::Unrecognised
    }
}

/// Counts bytes as they are read, for progress reporting.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_leave_out_hidden_entries_and_quarantine_files_unless_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("day1/.cache")).unwrap();
        for name in [
            "day1/signins.parquet",
            "day1/signins.quarantine.jsonl",
            "day1/.cache/x.json",
            ".hidden.json",
            "b.json",
        ] {
            std::fs::write(root.join(name), b"").unwrap();
        }
        let found = expand_inputs(&[root.to_path_buf()], Window::default()).unwrap();
        assert_eq!(
            found,
            [root.join("b.json"), root.join("day1/signins.parquet")]
        );
        let named = root.join("day1/signins.quarantine.jsonl");
        assert_eq!(
            expand_inputs(std::slice::from_ref(&named), Window::default()).unwrap(),
            [named]
        );
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_read_as_utf8() {
        let text = "[{\"city\":\"Zürich 東京 😀\"}]\r\n";
        for little_endian in [true, false] {
            let mut bytes: Vec<u8> = if little_endian {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            for unit in text.encode_utf16() {
                bytes.extend(if little_endian {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            // Read in odd-sized pieces, so code units and surrogate pairs are cut.
            let reader = Box::new(io::BufReader::with_capacity(3, io::Cursor::new(bytes)));
            let (mut utf8, error, transcoded) = as_utf8(reader);
            assert!(error.is_none() && transcoded);
            let mut out = String::new();
            utf8.read_to_string(&mut out).unwrap();
            assert_eq!(out, text);
        }
        let (mut plain, _, transcoded) = as_utf8(Box::new(io::Cursor::new(b"{\"a\":1}".to_vec())));
        assert!(!transcoded);
        let mut out = String::new();
        plain.read_to_string(&mut out).unwrap();
        assert_eq!(out, "{\"a\":1}");
        // An unpaired surrogate is U+FFFD, not an error.
        let lone = [0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00];
        let (mut lone, _, _) = as_utf8(Box::new(io::Cursor::new(lone.to_vec())));
        let mut out = String::new();
        lone.read_to_string(&mut out).unwrap();
        assert_eq!(out, "\u{FFFD}A");
    }

    #[test]
    fn sniffing_is_by_content() {
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert_eq!(sniff(b"  \n\t"), Sniffed::Empty);
        assert_eq!(sniff(b"\xEF\xBB\xBF[{}]"), Sniffed::Json);
        assert_eq!(sniff(b"{\"time\":1}\n"), Sniffed::Json);
        assert_eq!(
            sniff(b"\xEF\xBB\xBF\"Date (UTC)\",\"Request ID\"\r\n"),
            Sniffed::Csv
        );
        assert_eq!(sniff(b"\x00\x01\x02garbage"), Sniffed::Unrecognised);
        assert_eq!(sniff(b"\x00\x00\x00{\"id\":1}\n"), Sniffed::Json);
        assert_eq!(sniff(b"{\"id\":1}\n\x00\x00\n"), Sniffed::Json);
        assert_eq!(
            sniff(b"\xef\xbf\xbd\x00x\n{\"id\":1}\n{\"id\":2}\n"),
            Sniffed::Json
        );
        assert_eq!(sniff(b"\xff\xfe\xfd,\xfa"), Sniffed::Unrecognised);
        assert_eq!(sniff(b"just some words"), Sniffed::Unrecognised);
    }
}
