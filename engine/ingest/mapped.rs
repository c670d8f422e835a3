//! Input files read through memory maps, and what happens when one changes underneath.
//!
//! Canonical Parquet inputs are read where they lie in the page cache (by Polars, and by
//! [`super::unread`] for the columns fetched later). A file truncated while it is mapped (a
//! sync job rewriting the archive, a disk filling up) makes the next read of a lost page
//! raise SIGBUS, which would kill the process with no word on which file. Every input is
//! registered here while it may be mapped, and a SIGBUS handler turns the signal into an
//! error that names the file and exits with code 2: the outputs of a run are only moved
//! into place at its very end, so the previous ones stay intact.

use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

/// How many inputs are remembered at once (the handler reads these slots, so they are
/// fixed and allocation-free); more are still read, the message then names fewer.
const SLOTS: usize = 64;

/// One registered input: its path as a leaked byte string, and the address range it is
/// mapped at (0..0 while only Polars maps it, where the range is unknown).
struct Slot {
    path: AtomicPtr<u8>,
    len: AtomicUsize,
    start: AtomicUsize,
    end: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    path: AtomicPtr::new(std::ptr::null_mut()),
    len: AtomicUsize::new(0),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
};

static SLOTS_IN_USE: [Slot; SLOTS] = [EMPTY; SLOTS];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

/// Registers `path` as an input that may be mapped, at `range` when it is known, and makes
/// sure the handler is installed. Registering the same file again adds its range.
pub fn register(path: &Path, range: Option<std::ops::Range<usize>>) {
    INSTALL.call_once(install);
    let text = path.to_string_lossy().into_owned().into_bytes();
    let slot = &SLOTS_IN_USE[NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS];
    // Leaked on purpose: the handler may read it at any moment, so it is never freed (a
    // path per mapped input, a few bytes each).
    let leaked: &'static mut [u8] = Box::leak(text.into_boxed_slice());
    slot.len.store(0, Ordering::SeqCst);
    slot.path.store(leaked.as_mut_ptr(), Ordering::SeqCst);
    let (start, end) = range.map_or((0, 0), |r| (r.start, r.end));
    slot.start.store(start, Ordering::SeqCst);
    slot.end.store(end, Ordering::SeqCst);
    slot.len.store(leaked.len(), Ordering::SeqCst);
}

/// Takes the pages of `range` out of the process's memory once they have been read: a
/// file's pages stay in the page cache, but a map of a large file would otherwise count
/// every page it has touched in the resident set. A later read of them faults them in
/// again from the cache.
pub fn drop_pages(map: &memmap2::Mmap, range: std::ops::Range<usize>) {
    // SAFETY: a read-only shared file map: dropping its pages loses nothing (they are the
    // file's), and reading them again refills them from the file.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len())
    };
}

fn install() {
    // SAFETY: the handler only reads atomics and writes to stderr with write(2), then ends
    // the process with _exit(2): both are async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: writing a valid buffer to a file descriptor.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}

extern "C" fn on_sigbus(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let address = unsafe { (*info).si_addr() } as usize;
    let slot_path = |slot: &Slot| -> Option<&[u8]> {
        let len = slot.len.load(Ordering::SeqCst);
        let ptr = slot.path.load(Ordering::SeqCst);
        // SAFETY: a non-null path pointer is a leaked slice of at least `len` bytes.
        (!ptr.is_null() && len > 0).then(|| unsafe { std::slice::from_raw_parts(ptr, len) })
    };
    let mapped_at = SLOTS_IN_USE.iter().find(|s| {
        (s.start.load(Ordering::SeqCst)..s.end.load(Ordering::SeqCst)).contains(&address)
    });
    write_stderr(
        b"[!] error: an input file changed while it was being read (truncated or rewritten?): ",
    );
    match mapped_at.and_then(slot_path) {
        Some(path) => write_stderr(path),
        None => {
            // The range is Polars' own map: name every input that may be mapped.
            let mut first = true;
            for path in SLOTS_IN_USE.iter().filter_map(slot_path) {
                if !first {
                    write_stderr(b", ");
                }
                write_stderr(b"'");
                write_stderr(path);
                write_stderr(b"'");
                first = false;
            }
        }
    }
    write_stderr(b"; outputs were left as they were\n");
    // SAFETY: ends the process without running anything that is not async-signal-safe.
    unsafe { libc::_exit(2) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The child's part, run only by the test below (ignored otherwise): maps a file,
    /// truncates it, reads the lost page.
    #[test]
    #[ignore = "run as a child process by a_file_truncated_under_its_map_is_an_error…"]
    fn sigbus_child() {
        let path = std::env::var("IDRISK_SIGBUS_CHILD").expect("run by the parent test");
        let path = std::path::PathBuf::from(path);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.write_all(&vec![7u8; 1 << 20]).unwrap();
        // SAFETY: the test truncates the file on purpose; the handler ends the process.
        let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
        register(
            &path,
            Some(map.as_ptr() as usize..map.as_ptr() as usize + map.len()),
        );
        file.set_len(4096).unwrap();
        let byte = std::hint::black_box(map[900_000]);
        panic!("read {byte} from a truncated page without a signal");
    }

    #[test]
    fn a_file_truncated_under_its_map_is_an_error_naming_it_not_a_signal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrinking.parquet");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "--ignored",
                "ingest::mapped::tests::sigbus_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("IDRISK_SIGBUS_CHILD", &path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("changed while it was being read"),
            "{stderr}"
        );
        assert!(stderr.contains("shrinking.parquet"), "{stderr}");
    }
}
