//! IP address columns as codes: each distinct address once, in address order, and each
//! row's index into them, so per-address work (lookups, grouping) runs once per address.
//!
//! A tenant's ten million sign-ins come from a few hundred thousand addresses. Nearly all
//! are IPv4, which is keyed by its number rather than its text: an integer hashes and
//! compares far cheaper than text, and the order it gives (numeric) is the one people read
//! address lists in. Anything else (IPv6, text no parser accepts) comes after, by its text.

use polars::prelude::StringChunked;
use rayon::prelude::*;

use super::intern::{first_seen, merge_parts, parts_of, values_of};
use super::TextCodes;

/// Addresses as numbered keys: an IPv4 address is its number (below 2^32); any other text
/// is 2^32 plus its rank among the column's other texts. Keys sort IPv4 first, by number.
///
/// The IPv4 parser accepts one spelling per address (dotted decimal, no leading zeros), so
/// equal numbers are equal texts and [`Keys::text`] gives the text back.
pub struct Keys<'a> {
    /// The texts that are not IPv4, sorted and distinct.
    others: Vec<&'a str>,
}

const OTHER: u64 = 1 << 32;

fn ipv4(text: &str) -> Option<u32> {
    text.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

impl<'a> Keys<'a> {
    /// Keys every text of `lists` (each list on its own thread; a text may recur), each text
    /// parsed once: the keys, and each list's texts' keys in its order.
    pub fn of_lists<T, I>(
        lists: &'a [T],
        texts: impl Fn(&'a T) -> I + Sync,
    ) -> (Self, Vec<Vec<u64>>)
    where
        T: Sync,
        I: Iterator<Item = &'a str>,
    {
        // Each text's number, or a mark for the few that are no IPv4 (kept aside as text).
        const MARK: u64 = u64::MAX;
        let mut keyed: Vec<(Vec<u64>, Vec<&'a str>)> = lists
            .par_iter()
            .map(|list| {
                let mut others = Vec::new();
                let keys = texts(list)
                    .map(|t| match ipv4(t) {
                        Some(number) => u64::from(number),
                        None => {
                            others.push(t);
                            MARK
                        }
                    })
                    .collect();
                (keys, others)
            })
            .collect();
        let mut others: Vec<&'a str> = keyed.iter().flat_map(|(_, o)| o.iter().copied()).collect();
        others.par_sort_unstable();
        others.dedup();
        let keys = Keys { others };
        keyed.par_iter_mut().for_each(|(list, others)| {
            if others.is_empty() {
                return;
            }
            // The marks, in order, stand for the list's other texts, in order.
            let mut others = others.iter();
            for key in list.iter_mut().filter(|k| **k == MARK) {
                let text = others.next().copied().unwrap_or_default();
                // Every other text is listed: the search finds it.
                *key = OTHER + keys.others.partition_point(|&o| o < text) as u64;
            }
        });
        let keyed = keyed.into_iter().map(|(list, _)| list).collect();
        (keys, keyed)
    }

    /// The address's text, as the log wrote it.
    pub fn text(&self, key: u64) -> String {
        match u32::try_from(key) {
            Ok(number) => std::net::Ipv4Addr::from(number).to_string(),
            Err(_) => self
                .others
                .get((key - OTHER) as usize)
                .map_or_else(String::new, |t| t.to_string()),
        }
    }

    /// Codes whose distinct values are `distinct` keys, sorted, with each row's `index`.
    pub fn codes(&self, distinct: &[u64], index: Vec<u32>) -> TextCodes {
        TextCodes {
            distinct: distinct.par_iter().map(|&k| self.text(k)).collect(),
            index,
        }
    }
}

/// An address column as codes: its distinct addresses in [`Keys`] order (not text order),
/// and each row's index into them. Parts of the column are keyed on their own threads,
/// straight from its chunks.
pub fn address_codes(column: &StringChunked) -> TextCodes {
    let rows = (column.len() / (4 * rayon::current_num_threads())).max(1 << 16);
    // Each part interned as text first, so that each distinct text of a part is parsed once.
    let (seen, indices): (Vec<Vec<&str>>, Vec<Vec<u32>>) = parts_of(column, rows)
        .into_par_iter()
        .map(|runs| first_seen(values_of(&runs)))
        .unzip();
    let (keys, keyed) = Keys::of_lists(&seen, |texts| texts.iter().copied());
    let parts: Vec<(Vec<u64>, Vec<u32>)> = keyed.into_iter().zip(indices).collect();
    let (distinct, index) = merge_parts(parts);
    keys.codes(&distinct, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::NewChunkedArray;

    #[test]
    fn ipv4_comes_first_in_numeric_order_and_every_text_comes_back() {
        let texts = [
            Some("10.0.0.9"),
            Some("2001:db8::1"),
            None,
            Some("9.255.0.1"),
            Some("10.0.0.10"),
            Some("2001:DB8::1"),
            Some("10.0.0.9"),
            Some("not an address"),
        ];
        let column = StringChunked::from_iter_options("ip".into(), texts.iter().copied());
        let codes = address_codes(&column);
        assert_eq!(
            codes.distinct,
            [
                "9.255.0.1",
                "10.0.0.9",
                "10.0.0.10",
                "2001:DB8::1",
                "2001:db8::1",
                "not an address"
            ]
        );
        for (row, text) in texts.iter().enumerate() {
            assert_eq!(codes.get(row), *text);
        }
    }

    #[test]
    fn spellings_the_ipv4_parser_rejects_stay_apart_as_text() {
        // Leading zeros are another text for the same number: kept as the log wrote it.
        let rejected = ["010.0.0.1", "1.2.3", "1.2.3.4 ", "256.1.1.1"];
        let accepted = ["0.0.0.0", "1.2.3.4", "255.255.255.255", "192.168.10.100"];
        let lists = [rejected, accepted];
        let (keys, keyed) = Keys::of_lists(&lists, |list| list.iter().copied());
        for (text, &key) in rejected.iter().zip(&keyed[0]) {
            assert!(key >= OTHER, "{text}");
            assert_eq!(keys.text(key), *text);
        }
        for (text, &key) in accepted.iter().zip(&keyed[1]) {
            assert!(key < OTHER, "{text}");
            assert_eq!(keys.text(key), *text);
        }
    }
}
