//! Texts as small integers: the interning steps shared by the load's dictionary codes and
//! the detectors' order.

use ahash::AHashMap;
use rayon::prelude::*;

use super::TextCodes;

/// Values numbered in order of first sight: the distinct values, and each value's number
/// ([`TextCodes::NULL`] for a null).
pub fn first_seen<'a>(values: impl Iterator<Item = Option<&'a str>>) -> (Vec<&'a str>, Vec<u32>) {
    let mut seen: Vec<&'a str> = Vec::new();
    let mut local: AHashMap<&'a str, u32> = AHashMap::new();
    let index = values
        .map(|value| match value {
            None => TextCodes::NULL,
            Some(text) => *local.entry(text).or_insert_with(|| {
                seen.push(text);
                (seen.len() - 1) as u32
            }),
        })
        .collect();
    (seen, index)
}

/// Lists of distinct values (each interned on its own) ranked together: all their values,
/// sorted and deduplicated, and for each list its values' ranks in that order.
pub fn rank_together<'a>(lists: &[&[&'a str]]) -> (Vec<&'a str>, Vec<Vec<u32>>) {
    let mut distinct: Vec<&'a str> = lists.iter().flat_map(|list| list.iter().copied()).collect();
    distinct.par_sort_unstable();
    distinct.dedup();
    let rank: AHashMap<&str, u32> = distinct
        .iter()
        .enumerate()
        .map(|(k, &text)| (text, k as u32))
        .collect();
    let ranks = lists
        .par_iter()
        .map(|list| list.iter().map(|text| rank[text]).collect())
        .collect();
    (distinct, ranks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_interned_apart_are_ranked_together() {
        let (a, index) = first_seen([Some("b"), None, Some("a"), Some("b")].into_iter());
        assert_eq!(a, ["b", "a"]);
        assert_eq!(index, [0, TextCodes::NULL, 1, 0]);
        let c = ["c", "a"];
        let (distinct, ranks) = rank_together(&[&a, &c]);
        assert_eq!(distinct, ["a", "b", "c"]);
        assert_eq!(ranks, [vec![1, 0], vec![2, 0]]);
    }
}
