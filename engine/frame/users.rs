//! Each row's user as a number: what the per-file account and the detectors' order count
//! and sort, built from the user columns' codes or from their text.

use polars::prelude::StringChunked;
use rayon::prelude::*;

use super::intern::{intern, intern_column, Interned};
use super::TextCodes;

/// Each row's user: the rank of its key (the user id, else the principal name) among the
/// sorted distinct keys, so ordering by user compares integers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserKeys {
    /// One per row; [`UserKeys::NONE`] for a row with neither id nor name.
    pub index: Vec<u32>,
    /// Distinct keys.
    pub count: usize,
}

impl UserKeys {
    pub const NONE: u32 = u32::MAX;

    /// Keys from the user id and principal name columns' text, as [`UserKeys::from_codes`]
    /// keys them.
    pub fn from_columns(ids: &StringChunked, names: &StringChunked) -> UserKeys {
        let as_codes = |interned: Interned<'_>| TextCodes {
            distinct: interned.distinct.iter().map(|t| t.to_string()).collect(),
            index: interned.index,
        };
        let by_id = intern_column(ids);
        if ids.null_count() == 0 {
            return UserKeys {
                count: by_id.distinct.len(),
                index: by_id.index,
            };
        }
        // Names key only the rows without an id (service principals, exports that leave
        // ids out): only those are interned.
        let nameless: Vec<Option<&str>> = ids
            .iter()
            .zip(names.iter())
            .map(|(id, name)| if id.is_none() { name } else { None })
            .collect();
        UserKeys::from_codes(&as_codes(by_id), &as_codes(intern(&nameless)))
    }

    /// Keys from the codes of the user id and principal name columns (same rows). Names
    /// count only for rows without an id, so the keys are those a pass over the text finds.
    pub fn from_codes(ids: &TextCodes, names: &TextCodes) -> UserKeys {
        let rows = ids.index.len().min(names.index.len());
        let mut name_used = vec![false; names.distinct.len()];
        for row in 0..rows {
            let name = names.index[row];
            if ids.index[row] == TextCodes::NULL && name != TextCodes::NULL {
                if let Some(used) = name_used.get_mut(name as usize) {
                    *used = true;
                }
            }
        }
        // Both lists are sorted: one merge ranks every key.
        let mut id_rank = vec![Self::NONE; ids.distinct.len()];
        let mut name_rank = vec![Self::NONE; names.distinct.len()];
        let (mut i, mut n, mut count) = (0usize, 0usize, 0u32);
        loop {
            while n < names.distinct.len() && !name_used[n] {
                n += 1;
            }
            let next_id = ids.distinct.get(i);
            let next_name = names.distinct.get(n);
            match (next_id, next_name) {
                (None, None) => break,
                (Some(id), Some(name)) if id == name => {
                    id_rank[i] = count;
                    name_rank[n] = count;
                    i += 1;
                    n += 1;
                }
                (Some(id), Some(name)) if id > name => {
                    name_rank[n] = count;
                    n += 1;
                }
                (None, Some(_)) => {
                    name_rank[n] = count;
                    n += 1;
                }
                _ => {
                    id_rank[i] = count;
                    i += 1;
                }
            }
            count += 1;
        }
        let index = (0..rows)
            .into_par_iter()
            .map(|row| match (ids.index[row], names.index[row]) {
                (TextCodes::NULL, TextCodes::NULL) => Self::NONE,
                (TextCodes::NULL, name) => name_rank[name as usize],
                (id, _) => id_rank[id as usize],
            })
            .collect();
        UserKeys {
            index,
            count: count as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(values: &[Option<&str>]) -> TextCodes {
        let mut distinct: Vec<String> = values.iter().flatten().map(|v| v.to_string()).collect();
        distinct.sort();
        distinct.dedup();
        let index = values
            .iter()
            .map(|v| match v {
                Some(v) => distinct.iter().position(|d| d == v).unwrap() as u32,
                None => TextCodes::NULL,
            })
            .collect();
        TextCodes { distinct, index }
    }

    #[test]
    fn keys_are_ids_else_names_ranked_together() {
        let ids = codes(&[Some("u2"), None, Some("u1"), None, None, Some("b")]);
        // Row 0's name is shadowed by its id; "x" (row 2) never counts as a key.
        let names = codes(&[Some("x"), Some("a"), Some("x"), Some("u1"), None, Some("z")]);
        let keys = UserKeys::from_codes(&ids, &names);
        // Sorted keys: a, b, u1, u2.
        assert_eq!(keys.count, 4);
        assert_eq!(keys.index, [3, 0, 2, 2, UserKeys::NONE, 1]);
    }
}
