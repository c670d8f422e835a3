//! The frame as detectors see it: sorted once by (user, time, request id), with the columns
//! the kernels read extracted into plain slices and each user's rows as one contiguous range.

use polars::prelude::*;

use crate::frame::{col, outcome};

/// An outcome class as a small number, for tight loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    Success,
    CredentialValid,
    CredentialFailure,
    OtherFailure,
    Unknown,
}

impl Outcome {
    fn from_text(text: Option<&str>) -> Outcome {
        match text {
            Some(outcome::SUCCESS) => Outcome::Success,
            Some(outcome::CREDENTIAL_VALID) => Outcome::CredentialValid,
            Some(outcome::CREDENTIAL_FAILURE) => Outcome::CredentialFailure,
            Some(outcome::OTHER_FAILURE) => Outcome::OtherFailure,
            _ => Outcome::Unknown,
        }
    }

    /// Success, or the password was right and the flow was interrupted later.
    pub fn validated(self) -> bool {
        matches!(self, Outcome::Success | Outcome::CredentialValid)
    }
}

/// The sorted frame and its columns.
pub struct Context {
    /// Sorted by user key, time, request id; rows without a user come last.
    pub frame: DataFrame,
    pub time: Vec<i64>,
    pub outcome: Vec<Outcome>,
    pub interactive: Vec<bool>,
    /// Each user's rows: `users[k] = (start, end)`.
    pub users: Vec<(usize, usize)>,
    /// Detections are emitted only for events at or after this time (microseconds, UTC).
    pub score_since: i64,
    ip: StringChunked,
}

impl Context {
    /// Sorts the canonical frame for the detectors.
    pub fn new(frame: &DataFrame, score_since: Option<i64>) -> PolarsResult<Context> {
        let user_ids = frame.column(col::user_id)?.str()?;
        let names = frame.column(col::user_principal_name)?.str()?;
        let keys: Vec<Option<&str>> = user_ids
            .iter()
            .zip(names.iter())
            .map(|(id, name)| id.or(name))
            .collect();
        let times = crate::frame::time_values(frame)?;
        let request: Vec<&str> = frame
            .column(col::request_id)?
            .str()?
            .iter()
            .map(|r| r.unwrap_or(""))
            .collect();
        let mut order: Vec<IdxSize> = (0..frame.height() as IdxSize).collect();
        rayon::slice::ParallelSliceMut::par_sort_unstable_by(&mut order[..], |&a, &b| {
            let (a, b) = (a as usize, b as usize);
            // Rows with a user first (None sorts after Some here), then time, then id.
            (keys[a].is_none(), keys[a], times[a], request[a]).cmp(&(
                keys[b].is_none(),
                keys[b],
                times[b],
                request[b],
            ))
        });
        let mut users = Vec::new();
        let mut start = 0;
        for k in 1..=order.len() {
            let boundary =
                k == order.len() || keys[order[k] as usize] != keys[order[start] as usize];
            if boundary {
                if keys[order[start] as usize].is_some() {
                    users.push((start, k));
                }
                start = k;
            }
        }
        let frame = frame.take(&IdxCa::from_vec("order".into(), order))?;
        let time = crate::frame::time_values(&frame)?;
        let outcome = frame
            .column(col::outcome)?
            .str()?
            .iter()
            .map(Outcome::from_text)
            .collect();
        let interactive = frame
            .column(col::is_interactive)?
            .bool()?
            .iter()
            .map(|b| b.unwrap_or(false))
            .collect();
        let ip = frame.column(col::ip_address)?.str()?.clone();
        Ok(Context {
            frame,
            time,
            outcome,
            interactive,
            users,
            score_since: score_since.unwrap_or(i64::MIN),
            ip,
        })
    }

    pub fn ip(&self, row: usize) -> Option<&str> {
        self.ip.get(row)
    }

    /// A text column's value at a row of the sorted frame.
    pub fn text(&self, column: &str, row: usize) -> Option<String> {
        self.frame
            .column(column)
            .ok()?
            .str()
            .ok()?
            .get(row)
            .map(String::from)
    }

    /// A float column's value at a row of the sorted frame.
    pub fn float(&self, column: &str, row: usize) -> Option<f64> {
        self.frame.column(column).ok()?.f64().ok()?.get(row)
    }
}
