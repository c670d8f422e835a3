//! The sign-ins a sharded facts pass gathers for the tenant-wide detectors, kept column by
//! column: a year of a large tenant gathers millions (5.5 M of 225 M sign-ins for 40,000
//! users), so recurring texts (users, addresses) are stored once and request ids in one
//! buffer, and the frame they become holds only the columns those detectors read.

use std::collections::HashMap;

use polars::prelude::*;

use super::Context;
use crate::frame::{col, event_type, OutcomeCodes, TextBuilder};

/// Marks a sign-in without a user, or without an address.
const NO_TEXT: u32 = u32::MAX;

/// Gathered sign-ins, each with its user's key and its place among the user's sign-ins (among
/// the sign-ins without a user, for those).
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    time: Vec<i64>,
    request_ids: Texts,
    /// Index into `users`, or [`NO_TEXT`].
    user: Vec<u32>,
    users: Interned,
    offset: Vec<u32>,
    /// Index into `addresses`, or [`NO_TEXT`].
    address: Vec<u32>,
    addresses: Interned,
    error_code: Vec<Option<i32>>,
    asn: Vec<Option<u32>>,
    interactive: Vec<bool>,
    /// From a network new to its user.
    new_network: Vec<bool>,
}

/// What the tenant-wide step keeps of the gathered sign-ins once their frame is built: each
/// frame row's origin and newness.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Per frame row: index into `users` and place among that user's sign-ins.
    rows: Vec<(u32, u32)>,
    /// The users' keys; the empty key for sign-ins without a user.
    users: Vec<String>,
    /// Per frame row: from a network new to its user.
    pub new_network: Vec<bool>,
}

impl Origins {
    /// Frame row `row`'s user key and place among that user's sign-ins.
    pub fn of(&self, row: usize) -> (String, u32) {
        let (user, offset) = self.rows[row];
        let key = self.users.get(user as usize).cloned().unwrap_or_default();
        (key, offset)
    }
}

impl Gathered {
    /// The sign-ins at `positions` (ascending) of a shard's context; `new`: each position's
    /// newness, where a detector asks for it.
    pub fn of(ctx: &Context, positions: &[usize], new: Option<&[bool]>) -> Gathered {
        let keys = ctx.user_keys();
        let tail = ctx.users.last().map_or(0, |&(_, end)| end);
        let (request_ids, codes) = ctx.gathered_fields(positions);
        let mut gathered = Gathered::default();
        let mut users: HashMap<usize, u32> = HashMap::new();
        for ((&p, error_code), request_id) in positions.iter().zip(codes).zip(request_ids) {
            let user = ctx.users.partition_point(|&(_, end)| end <= p);
            let (index, start) = match ctx.users.get(user) {
                Some(&(start, _)) => {
                    let index = *users.entry(user).or_insert_with(|| {
                        gathered
                            .users
                            .index(keys.get(user).map_or("", String::as_str))
                    });
                    (index, start)
                }
                None => (NO_TEXT, tail),
            };
            gathered.time.push(ctx.time[p]);
            gathered.request_ids.push(request_id.as_deref());
            gathered.user.push(index);
            gathered.offset.push((p - start) as u32);
            let address = ctx.ip(p).map_or(NO_TEXT, |ip| gathered.addresses.index(ip));
            gathered.address.push(address);
            gathered.error_code.push(error_code);
            gathered.asn.push(ctx.asn(p));
            gathered.interactive.push(ctx.interactive[p]);
            gathered
                .new_network
                .push(new.is_some_and(|new| new.get(p) == Some(&true)));
        }
        gathered
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Appends another shard's gathered sign-ins after these.
    pub fn append(&mut self, other: Gathered) {
        let remap = |from: &Interned, into: &mut Interned| -> Vec<u32> {
            from.texts.iter().map(|text| into.index(text)).collect()
        };
        let users = remap(&other.users, &mut self.users);
        let addresses = remap(&other.addresses, &mut self.addresses);
        let at = |map: &[u32], k: u32| map.get(k as usize).copied().unwrap_or(NO_TEXT);
        self.time.extend(other.time);
        for k in 0..other.request_ids.len() {
            self.request_ids.push(other.request_ids.get(k));
        }
        self.user.extend(other.user.iter().map(|&k| at(&users, k)));
        self.offset.extend(other.offset);
        self.address
            .extend(other.address.iter().map(|&k| at(&addresses, k)));
        self.error_code.extend(other.error_code);
        self.asn.extend(other.asn);
        self.interactive.extend(other.interactive);
        self.new_network.extend(other.new_network);
    }

    /// The gathered sign-ins as a canonical frame ordered by (time, request id), as a run over
    /// dataset partitions orders them (the gathering order breaks ties), holding the columns
    /// the tenant-wide detectors read, the others null; with each row's origin.
    pub fn into_frame(self, outcomes: &OutcomeCodes) -> PolarsResult<(DataFrame, Origins)> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            (self.time[a], self.request_ids.get(a), a).cmp(&(
                self.time[b],
                self.request_ids.get(b),
                b,
            ))
        });
        let height = order.len();
        let rows = || order.iter().map(|&k| k as usize);
        let texts = |name: &str, repeats: bool, value: &dyn Fn(usize, &mut TextBuilder)| {
            let mut builder = TextBuilder::new(name, height, repeats);
            for k in rows() {
                value(k, &mut builder);
            }
            builder.finish().into_column()
        };
        let networks: Vec<Option<u64>> = self
            .addresses
            .texts
            .iter()
            .map(|ip| ip.parse().ok().map(crate::frame::ip::network_key))
            .collect();
        let columns = vec![
            Int64Chunked::from_iter_values(col::time.into(), rows().map(|k| self.time[k]))
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_column(),
            texts(col::request_id, false, &|k, b| {
                b.push(self.request_ids.get(k))
            }),
            texts(col::user_id, true, &|k, b| {
                b.push(self.users.text(self.user[k]))
            }),
            texts(col::ip_address, true, &|k, b| {
                b.push(self.addresses.text(self.address[k]))
            }),
            UInt64Chunked::from_iter_options(
                col::ip_network.into(),
                rows().map(|k| networks.get(self.address[k] as usize).copied().flatten()),
            )
            .into_column(),
            Int32Chunked::from_iter_options(
                col::error_code.into(),
                rows().map(|k| self.error_code[k]),
            )
            .into_column(),
            texts(col::outcome, true, &|k, b| {
                b.push(self.error_code[k].map(|code| outcomes.classify(code)))
            }),
            BooleanChunked::from_iter_options(
                col::is_interactive.into(),
                rows().map(|k| Some(self.interactive[k])),
            )
            .into_column(),
            texts(col::event_type, true, &|k, b| {
                b.push(Some(if self.interactive[k] {
                    event_type::INTERACTIVE_USER
                } else {
                    event_type::NON_INTERACTIVE_USER
                }))
            }),
            UInt32Chunked::from_iter_options(col::asn.into(), rows().map(|k| self.asn[k]))
                .into_column(),
        ];
        let frame = crate::frame::with_nulls(height, columns)?;
        let mut users = self.users.texts;
        let none = users.len() as u32;
        users.push(String::new());
        let origins = Origins {
            rows: rows()
                .map(|k| match self.user[k] {
                    NO_TEXT => (none, self.offset[k]),
                    user => (user, self.offset[k]),
                })
                .collect(),
            users,
            new_network: rows().map(|k| self.new_network[k]).collect(),
        };
        Ok((frame, origins))
    }
}

/// Texts stored once each, by index.
#[derive(Debug, Clone, Default)]
struct Interned {
    texts: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interned {
    fn text(&self, k: u32) -> Option<&str> {
        self.texts.get(k as usize).map(String::as_str)
    }

    fn index(&mut self, text: &str) -> u32 {
        if let Some(&k) = self.index.get(text) {
            return k;
        }
        let k = self.texts.len() as u32;
        self.texts.push(text.to_string());
        self.index.insert(text.to_string(), k);
        k
    }
}

/// Optional texts in one buffer: each value's end, with [`Texts::NULL`] set for a missing one.
#[derive(Debug, Clone, Default)]
struct Texts {
    bytes: String,
    ends: Vec<u64>,
}

impl Texts {
    const NULL: u64 = 1 << 63;

    fn push(&mut self, value: Option<&str>) {
        match value {
            Some(text) => {
                self.bytes.push_str(text);
                self.ends.push(self.bytes.len() as u64);
            }
            None => self.ends.push(self.bytes.len() as u64 | Self::NULL),
        }
    }

    fn get(&self, k: usize) -> Option<&str> {
        let end = *self.ends.get(k)?;
        if end & Self::NULL != 0 {
            return None;
        }
        let start = match k {
            0 => 0,
            _ => self.ends[k - 1] & !Self::NULL,
        };
        self.bytes.get(start as usize..end as usize)
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_keep_values_and_gaps_in_one_buffer() {
        let mut texts = Texts::default();
        for value in [Some("a-1"), None, Some(""), Some("bbb"), None] {
            texts.push(value);
        }
        let got: Vec<Option<&str>> = (0..texts.len()).map(|k| texts.get(k)).collect();
        assert_eq!(got, [Some("a-1"), None, Some(""), Some("bbb"), None]);
        assert_eq!(texts.get(5), None);
    }
}
