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
    /// Keys for the addresses `texts` lists (each at least once).
    pub fn new(texts: impl ParallelIterator<Item = &'a str>) -> Self {
        let mut others: Vec<&'a str> = texts.filter(|t| ipv4(t).is_none()).collect();
        others.par_sort_unstable();
        others.dedup();
        Keys { others }
    }

    /// The key of an address [`Keys::new`] was given.
    pub fn key(&self, text: &str) -> u64 {
        match ipv4(text) {
            Some(number) => u64::from(number),
            // Every other text was listed: the search finds it.
            None => OTHER + self.others.partition_point(|&o| o < text) as u64,
        }
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
    let parts = parts_of(column, rows);
    let keys = Keys::new(
        parts
            .par_iter()
            .flat_map_iter(|runs| values_of(runs).flatten()),
    );
    let keyed: Vec<(Vec<u64>, Vec<u32>)> = parts
        .par_iter()
        .map(|runs| first_seen(values_of(runs).map(|v| v.map(|t| keys.key(t)))))
        .collect();
    let (distinct, index) = merge_parts(keyed);
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
        let keys = Keys::new(rejected.into_par_iter().chain(accepted));
        for text in rejected {
            assert!(keys.key(text) >= OTHER, "{text}");
            assert_eq!(keys.text(keys.key(text)), text);
        }
        for text in accepted {
            assert!(keys.key(text) < OTHER, "{text}");
            assert_eq!(keys.text(keys.key(text)), text);
        }
    }
}
