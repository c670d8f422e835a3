//! A string column builder that stores a repeated value once.
//!
//! Sign-in logs repeat most of their text: the same user agent, application, failure reason
//! and city on row after row. Polars' own builder copies every value into its buffers; this
//! one remembers recently stored values (a small direct-mapped cache keyed by hash) and
//! points new rows at the stored bytes, which shrinks a frame of diagnostic records by about
//! a third. Columns of unique values (ids) skip the cache.

use polars::prelude::*;
use polars_arrow::array::{BinaryViewArrayGeneric, View};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::ArrowDataType;
use polars_buffer::Buffer;

/// Cache slots per column, at most (a power of two); a builder for a few rows (a small
/// blob's) takes fewer, as allocating and clearing a cache and a buffer per column costs more
/// than those rows when thousands of files are read.
const SLOTS: usize = 512;
/// Bytes per completed buffer, at most; a column's first buffers are smaller and double, so
/// the few rows of a small file (an archive's hourly blob) do not each hold a megabyte.
const BLOCK: usize = 1 << 20;
/// A column's first buffer.
const FIRST_BLOCK: usize = 16 << 10;

pub struct TextBuilder {
    name: PlSmallStr,
    views: Vec<View>,
    validity: MutableBitmap,
    nulls: usize,
    buffers: Vec<Buffer<u8>>,
    current: Vec<u8>,
    /// The size of the next buffer.
    block: usize,
    total_bytes: usize,
    total_buffer: usize,
    cache: Vec<(u64, View)>,
}

impl TextBuilder {
    /// `repeats`: the column's values recur (cache them); false for ids.
    pub fn new(name: &str, capacity: usize, repeats: bool) -> Self {
        TextBuilder {
            name: name.into(),
            views: Vec::with_capacity(capacity),
            validity: MutableBitmap::with_capacity(capacity),
            nulls: 0,
            buffers: Vec::new(),
            current: Vec::new(),
            block: (capacity.saturating_mul(64)).clamp(1 << 10, FIRST_BLOCK),
            total_bytes: 0,
            total_buffer: 0,
            cache: if repeats {
                vec![(0, View::default()); capacity.next_power_of_two().clamp(16, SLOTS)]
            } else {
                Vec::new()
            },
        }
    }

    pub fn push(&mut self, value: Option<&str>) {
        let Some(value) = value else {
            self.views.push(View::default());
            self.validity.push(false);
            self.nulls += 1;
            return;
        };
        self.validity.push(true);
        let bytes = value.as_bytes();
        self.total_bytes += bytes.len();
        if bytes.len() <= View::MAX_INLINE_SIZE as usize {
            self.views.push(View::new_inline(bytes));
            return;
        }
        if self.cache.is_empty() {
            let view = self.store(bytes);
            self.views.push(view);
            return;
        }
        let hash = hash_bytes(bytes);
        let slot = (hash as usize) & (self.cache.len() - 1);
        let (cached_hash, cached) = self.cache[slot];
        if cached_hash == hash
            && cached.length as usize == bytes.len()
            && self.bytes_of(cached) == bytes
        {
            self.views.push(cached);
            return;
        }
        let view = self.store(bytes);
        self.cache[slot] = (hash, view);
        self.views.push(view);
    }

    fn store(&mut self, bytes: &[u8]) -> View {
        if self.current.len() + bytes.len() > self.current.capacity() {
            if !self.current.is_empty() {
                let full = std::mem::take(&mut self.current);
                self.buffers.push(Buffer::from(full));
            }
            self.current = Vec::with_capacity(self.block.max(bytes.len()));
            self.block = (self.block * 2).min(BLOCK);
        }
        let offset = self.current.len() as u32;
        self.current.extend_from_slice(bytes);
        self.total_buffer += bytes.len();
        View::new_from_bytes(bytes, self.buffers.len() as u32, offset)
    }

    fn bytes_of(&self, view: View) -> &[u8] {
        let index = view.buffer_idx as usize;
        let buffer: &[u8] = match self.buffers.get(index) {
            Some(done) => done,
            None => &self.current,
        };
        let start = view.offset as usize;
        &buffer[start..start + view.length as usize]
    }

    pub fn finish(mut self) -> StringChunked {
        if !self.current.is_empty() {
            let mut last = std::mem::take(&mut self.current);
            // The frame keeps its buffers as long as it lives: no room left unused.
            last.shrink_to_fit();
            self.buffers.push(Buffer::from(last));
        }
        let validity = (self.nulls > 0).then(|| self.validity.into());
        // SAFETY: every view was made by `View::new_inline` or `View::new_from_bytes` from the
        // bytes of a `&str` (valid UTF-8), and points at the buffer index and offset where
        // `store` copied those bytes; null rows have a zero-length view and an unset validity
        // bit. The totals are the sums of the pushed lengths and of the stored bytes.
        let array = unsafe {
            BinaryViewArrayGeneric::<str>::new_unchecked(
                ArrowDataType::Utf8View,
                Buffer::from(self.views),
                Buffer::from(self.buffers),
                validity,
                Some(self.total_bytes),
                self.total_buffer,
            )
        };
        StringChunked::with_chunk(self.name, array)
    }
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    static STATE: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    STATE
        .get_or_init(|| ahash::RandomState::with_seeds(1, 2, 3, 4))
        .hash_one(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_nulls_and_repeats_read_back() {
        let long_a = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edge/122";
        let long_b = "Invalid username or password.";
        let values = [
            Some(long_a),
            None,
            Some("short"),
            Some(long_b),
            Some(long_a),
            Some(long_a),
            Some(""),
        ];
        for repeats in [true, false] {
            let mut builder = TextBuilder::new("c", 0, repeats);
            for v in values {
                builder.push(v);
            }
            let column = builder.finish();
            let got: Vec<Option<&str>> = column.iter().collect();
            assert_eq!(got, values);
            assert_eq!(column.null_count(), 1);
        }
    }

    #[test]
    fn a_repeated_value_is_stored_once() {
        let value = "Office 365 Exchange Online, a long repeated value";
        let mut cached = TextBuilder::new("c", 1000, true);
        let mut plain = TextBuilder::new("c", 1000, false);
        for _ in 0..1000 {
            cached.push(Some(value));
            plain.push(Some(value));
        }
        assert_eq!(cached.total_buffer, value.len());
        assert_eq!(plain.total_buffer, value.len() * 1000);
        let column = cached.finish();
        assert!(column.iter().all(|v| v == Some(value)));
    }

    #[test]
    fn many_buffers_read_back() {
        let mut builder = TextBuilder::new("c", 0, false);
        let values: Vec<String> = (0..50_000).map(|i| format!("{i:040}")).collect();
        for v in &values {
            builder.push(Some(v));
        }
        let column = builder.finish();
        assert!(column
            .iter()
            .zip(&values)
            .all(|(a, b)| a == Some(b.as_str())));
    }
}
