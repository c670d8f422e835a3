//! The building blocks of the detectors' order: text columns as small integers (interned
//! by [`crate::frame::intern`]), rows ordered by (user, time, request id), and rows grouped by a key in time order.
//!
//! These run over every row of a tenant's history, so they avoid per-row hashing of text
//! where they can: a frame that is already in (time, request id) order (every ingested frame
//! is) needs only a counting sort by user to be in the detectors' order.

use polars::prelude::{IdxSize, StringChunked};
use rayon::prelude::*;

pub use crate::frame::intern::{intern, intern_column, intern_few, Interned};

/// The index of a null value in [`Interned::index`].
pub const NONE: u32 = crate::frame::TextCodes::NULL;

/// A text column as small integers in some order of rows, with its distinct values: what
/// per-user kernels compare instead of strings.
#[derive(Debug, Clone, Default)]
pub struct Codes {
    /// The distinct values, sorted: a code is an index into this.
    pub distinct: Vec<String>,
    /// Each row's code, [`NONE`] for a null.
    pub code: Vec<u32>,
}

impl Codes {
    /// The codes of a column of few distinct values, in `order`.
    pub fn new(column: &StringChunked, order: &[IdxSize]) -> Codes {
        let interned = intern_few(column);
        Codes {
            distinct: interned.distinct.iter().map(|t| t.to_string()).collect(),
            code: gather(&interned.index, order),
        }
    }

    /// The row's value.
    pub fn get(&self, row: usize) -> Option<&str> {
        let code = self.code[row];
        (code != NONE).then(|| self.distinct[code as usize].as_str())
    }

    /// These codes seen through `f` applied to each value (`None` becomes null): `f` runs
    /// once per distinct value, and rows are mapped as they are read, not copied.
    pub fn mapped(&self, f: impl Fn(&str) -> Option<String>) -> MappedCodes<'_> {
        let images: Vec<Option<String>> = self.distinct.iter().map(|t| f(t)).collect();
        let texts: Vec<Option<&str>> = images.iter().map(|i| i.as_deref()).collect();
        let interned = intern(&texts);
        MappedCodes {
            codes: self,
            distinct: interned.distinct.iter().map(|t| t.to_string()).collect(),
            image: interned.index,
        }
    }
}

/// [`Codes`] seen through a function of their values (see [`Codes::mapped`]).
pub struct MappedCodes<'c> {
    codes: &'c Codes,
    /// The distinct images, sorted: a mapped code is an index into this.
    pub distinct: Vec<String>,
    /// Each original code's mapped code ([`NONE`] for a value mapped to nothing).
    image: Vec<u32>,
}

impl MappedCodes<'_> {
    /// The row's mapped code, [`NONE`] for a null.
    pub fn code(&self, row: usize) -> u32 {
        match self.codes.code[row] {
            NONE => NONE,
            c => self.image[c as usize],
        }
    }

    /// The row's mapped value.
    pub fn get(&self, row: usize) -> Option<&str> {
        let code = self.code(row);
        (code != NONE).then(|| self.distinct[code as usize].as_str())
    }
}

/// True when rows are in (time, request id) order, the order every ingested frame has.
/// `request` is asked only for rows whose times tie, so callers need not collect the ids.
pub fn is_time_ordered<'a>(times: &[i64], request: impl Fn(usize) -> &'a str + Sync) -> bool {
    (1..times.len())
        .into_par_iter()
        .all(|r| match times[r - 1].cmp(&times[r]) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => request(r - 1) <= request(r),
        })
}

/// Rows of a frame in (time, request id) order (see [`is_time_ordered`]), stably ordered by
/// user rank: a counting sort. Rows without a user ([`NONE`]) come last. With the order,
/// each row's position in it, which the sort finds as it goes.
pub fn by_user(user: &[u32], users: usize) -> (Vec<IdxSize>, Positions) {
    let bucket = |row: usize| (user[row] as usize).min(users);
    // Parts of the rows are counted and placed on their own threads: within a user, an
    // earlier part's rows come first, so the sort stays stable.
    let parts = (2 * rayon::current_num_threads()).clamp(1, user.len().div_ceil(1 << 16).max(1));
    let part_rows = user.len().div_ceil(parts).max(1);
    let counts: Vec<Vec<usize>> = user
        .par_chunks(part_rows)
        .enumerate()
        .map(|(part, chunk)| {
            let mut counts = vec![0usize; users + 1];
            for row in part * part_rows..part * part_rows + chunk.len() {
                counts[bucket(row)] += 1;
            }
            counts
        })
        .collect();
    // Where each part's rows of each user start.
    let mut starts = vec![vec![0usize; users + 1]; counts.len()];
    let mut next = 0;
    for b in 0..=users {
        for (part, counts) in counts.iter().enumerate() {
            starts[part][b] = next;
            next += counts[b];
        }
    }
    let mut position: Vec<IdxSize> = vec![0; user.len()];
    position
        .par_chunks_mut(part_rows)
        .zip(starts)
        .enumerate()
        .for_each(|(part, (positions, mut start))| {
            for (k, out) in positions.iter_mut().enumerate() {
                let slot = &mut start[bucket(part * part_rows + k)];
                *out = *slot as IdxSize;
                *slot += 1;
            }
        });
    // A counting sort gives each row its own slot: the positions are a permutation, and the
    // order is each row written at its position.
    let positions = Positions(position);
    let order = positions.scatter(|row| row as IdxSize);
    (order, positions)
}

/// Rows in any order sorted by (user rank, time, request id, row); rows without a user
/// ([`NONE`]) come last.
pub fn by_user_time_request(
    user: &[u32],
    users: usize,
    times: &[i64],
    request: &[&str],
) -> Vec<IdxSize> {
    let bucket = |row: usize| (user[row] as usize).min(users);
    let mut order: Vec<IdxSize> = (0..user.len() as IdxSize).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        (bucket(a), times[a], request[a], a).cmp(&(bucket(b), times[b], request[b], b))
    });
    order
}

/// Each user's rows as a range of positions of the order [`by_user`] (or
/// [`by_user_time_request`]) makes: users by rank, each as many positions as it has rows.
pub fn user_ranges(user: &[u32], users: usize) -> Vec<(usize, usize)> {
    let counts = user
        .par_chunks(1 << 20)
        .map(|chunk| {
            let mut counts = vec![0usize; users];
            for &k in chunk {
                if k != NONE {
                    counts[k as usize] += 1;
                }
            }
            counts
        })
        .reduce(
            || vec![0usize; users],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut start = 0;
    counts
        .into_iter()
        .filter(|&n| n > 0)
        .map(|n| {
            start += n;
            (start - n, start)
        })
        .collect()
}

/// `values` in the order of `order`.
pub fn gather<T: Copy + Send + Sync>(values: &[T], order: &[IdxSize]) -> Vec<T> {
    order.par_iter().map(|&row| values[row as usize]).collect()
}

/// Each frame row's position in an order (the order's inverse), and the fast way to lay
/// per-row values out in that order.
///
/// [`gather`] reads the rows at random, and every read waits for its cache line. Reading the
/// rows in their own order and writing each value to its position at random
/// ([`Positions::scatter`]) lets the writes drain in the background: about twice as fast for
/// the ten million rows of a tenant's month.
pub struct Positions(Vec<IdxSize>);

/// Rows per parallel task when scattering.
const SCATTER_ROWS: usize = 1 << 16;

/// The output of a scatter, written from many threads at once (see [`Positions::scatter`]).
struct Slots<T>(*mut std::mem::MaybeUninit<T>);

// SAFETY: the threads that share `Slots` write disjoint slots (see `Positions::scatter`).
unsafe impl<T: Send> Send for Slots<T> {}
unsafe impl<T: Send> Sync for Slots<T> {}

impl<T> Slots<T> {
    /// # Safety
    /// `slot` must lie inside the allocation the pointer came from.
    unsafe fn at(&self, slot: usize) -> *mut std::mem::MaybeUninit<T> {
        // SAFETY: the caller keeps `slot` inside the allocation.
        unsafe { self.0.add(slot) }
    }
}

impl Positions {
    /// The positions of `order`'s rows. Panics unless `order` lists each of `0..order.len()`
    /// exactly once (every order the context builds does): scattering relies on it.
    pub fn of(order: &[IdxSize]) -> Positions {
        let mut position = vec![IdxSize::MAX; order.len()];
        for (k, &row) in order.iter().enumerate() {
            let slot = &mut position[row as usize];
            assert!(
                *slot == IdxSize::MAX,
                "an order lists frame row {row} twice"
            );
            *slot = k as IdxSize;
        }
        Positions(position)
    }

    /// `position[row]` for every frame row.
    pub fn as_slice(&self) -> &[IdxSize] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<IdxSize> {
        self.0
    }

    /// `value(row)` for every frame row, laid out in the order: rows are visited in their
    /// own order (so `value` reads its columns in sequence) and each value is written at its
    /// row's position.
    pub fn scatter<T: Send>(&self, value: impl Fn(usize) -> T + Sync) -> Vec<T> {
        self.scatter_runs(|rows| rows.map(&value))
    }

    /// Like [`Positions::scatter`], with the values of each run of rows from one iterator
    /// (`values(rows)` must yield one value per row of `rows`, in order): a chunked column
    /// is then read chunk by chunk, with no contiguous copy made first.
    pub fn scatter_runs<T, I>(&self, values: impl Fn(std::ops::Range<usize>) -> I + Sync) -> Vec<T>
    where
        T: Send,
        I: Iterator<Item = T>,
    {
        let rows = self.0.len();
        let mut out: Vec<std::mem::MaybeUninit<T>> = Vec::with_capacity(rows);
        let slots = Slots(out.as_mut_ptr());
        self.0
            .par_chunks(SCATTER_ROWS)
            .enumerate()
            .for_each(|(part, positions)| {
                let first = part * SCATTER_ROWS;
                let mut values = values(first..first + positions.len());
                for &at in positions {
                    let at = at as usize;
                    // Panics (leaving `out` empty, nothing read) if the run is short.
                    let value = values.next().expect("a value for every row of the run");
                    // SAFETY: `self.0` is a permutation of `0..rows` (checked in `of`, or
                    // made so by a counting sort), so `at` is inside the allocation of `rows`
                    // slots and no two writes, on any thread, touch the same slot.
                    unsafe { slots.at(at).write(std::mem::MaybeUninit::new(value)) };
                }
            });
        // SAFETY: every one of the `rows` slots was written above (a permutation covers them
        // all), and `MaybeUninit<T>` has `T`'s layout.
        unsafe {
            out.set_len(rows);
            let mut out = std::mem::ManuallyDrop::new(out);
            Vec::from_raw_parts(out.as_mut_ptr().cast::<T>(), rows, out.capacity())
        }
    }
}

/// Positions grouped by a key (`NONE`: in no group), as one flat list with offsets.
/// Members are [`IdxSize`], like the order: half the memory of `usize` at ten million rows.
pub struct Groups {
    offsets: Vec<usize>,
    members: Vec<IdxSize>,
}

impl Groups {
    /// Groups `0..key.len()` by key, members of a group in the order `sequence` lists them.
    pub fn new(key: &[u32], sequence: impl Iterator<Item = usize>) -> Groups {
        let groups = key
            .iter()
            .filter(|&&k| k != NONE)
            .max()
            .map_or(0, |&k| k as usize + 1);
        let mut offsets = vec![0usize; groups + 1];
        for &k in key.iter().filter(|&&k| k != NONE) {
            offsets[k as usize + 1] += 1;
        }
        for g in 1..offsets.len() {
            offsets[g] += offsets[g - 1];
        }
        let mut next = offsets.clone();
        let mut members: Vec<IdxSize> = vec![0; offsets[groups]];
        for position in sequence {
            let k = key[position];
            if k != NONE {
                members[next[k as usize]] = position as IdxSize;
                next[k as usize] += 1;
            }
        }
        Groups { offsets, members }
    }

    /// The same groups with each member replaced by `f(member)`, in place.
    pub fn mapped(mut self, f: impl Fn(usize) -> usize + Sync) -> Groups {
        self.members
            .par_iter_mut()
            .for_each(|m| *m = f(*m as usize) as IdxSize);
        self
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members of group `key`.
    pub fn get(&self, key: usize) -> &[IdxSize] {
        &self.members[self.offsets[key]..self.offsets[key + 1]]
    }

    /// Runs `kernel(key, members, out)` over every group in parallel; what the kernels push
    /// comes back in key order, whatever the thread count.
    pub fn per_group<T: Send>(
        &self,
        kernel: impl Fn(usize, &[IdxSize], &mut Vec<T>) + Sync,
    ) -> Vec<T> {
        (0..self.len())
            .into_par_iter()
            .flat_map_iter(|key| {
                let mut out = Vec::new();
                kernel(key, self.get(key), &mut out);
                out
            })
            .collect()
    }

    /// Every group's members, by key.
    pub fn iter(&self) -> impl Iterator<Item = &[IdxSize]> {
        self.offsets.windows(2).map(|w| &self.members[w[0]..w[1]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scattering_by_position_equals_gathering_by_order() {
        // Rows of three users, time-ordered, ordered by user: more rows than one task takes.
        let user: Vec<u32> = (0..3 * SCATTER_ROWS as u32 + 7)
            .map(|r| (r * 7) % 3)
            .collect();
        let (order, by_sort) = by_user(&user, 3);
        // Counted and placed in parts, the sort is still the stable one.
        let mut stable: Vec<IdxSize> = (0..user.len() as IdxSize).collect();
        stable.sort_by_key(|&row| user[row as usize]);
        assert_eq!(order, stable);
        assert_eq!(by_sort.as_slice(), Positions::of(&order).as_slice());
        let values: Vec<String> = (0..user.len()).map(|r| format!("row {r}")).collect();
        let positions = Positions::of(&order);
        let scattered = positions.scatter(|row| values[row].clone());
        let gathered: Vec<String> = order.iter().map(|&r| values[r as usize].clone()).collect();
        assert_eq!(scattered, gathered);
        for (k, &row) in order.iter().enumerate() {
            assert_eq!(positions.as_slice()[row as usize] as usize, k);
        }
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn an_order_that_repeats_a_row_has_no_positions() {
        Positions::of(&[0, 2, 2]);
    }

    #[test]
    fn mapped_codes_merge_values_with_one_image() {
        use polars::prelude::NewChunkedArray;
        let values = StringChunked::from_iter_options(
            "os".into(),
            [Some("Windows 10"), Some("Windows 11"), None, Some("iOS 17")].into_iter(),
        );
        let codes = Codes::new(&values, &[0, 1, 2, 3]);
        let families = codes.mapped(|t| t.split(' ').next().map(String::from));
        assert_eq!(families.distinct, ["Windows", "iOS"]);
        let mapped: Vec<u32> = (0..4).map(|row| families.code(row)).collect();
        assert_eq!(mapped, [0, 0, NONE, 1]);
        assert_eq!(families.get(3), Some("iOS"));
        assert_eq!(families.get(2), None);
    }

    #[test]
    fn counting_sort_and_full_sort_give_the_same_order() {
        let user = [1, 0, NONE, 1, 0, 1];
        let times = [1, 2, 2, 3, 3, 3];
        let request = ["a", "b", "c", "d", "e", "f"];
        assert!(is_time_ordered(&times, |r| request[r]));
        let (fast, _) = by_user(&user, 2);
        let full = by_user_time_request(&user, 2, &times, &request);
        assert_eq!(fast, [1, 4, 0, 3, 5, 2]);
        assert_eq!(fast, full);
        assert_eq!(user_ranges(&user, 2), [(0, 2), (2, 5)]);
    }

    #[test]
    fn out_of_order_rows_are_noticed() {
        assert!(!is_time_ordered(&[2, 1], |r| ["a", "b"][r]));
        assert!(!is_time_ordered(&[1, 1], |r| ["b", "a"][r]));
        assert!(is_time_ordered(&[1, 1, 2], |r| ["a", "b", "a"][r]));
    }

    #[test]
    fn groups_keep_the_sequence_order_and_skip_nulls() {
        let key = [2, 0, NONE, 2, 0];
        let groups = Groups::new(&key, [4, 3, 2, 1, 0].into_iter());
        let listed: Vec<&[IdxSize]> = groups.iter().collect();
        assert_eq!(listed, [&[4, 1][..], &[][..], &[3, 0][..]]);
    }
}
