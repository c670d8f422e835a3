//! Findings into `riskDetection` records: the sign-in's own fields from the sorted frame,
//! the detector's identity, a stable id, and Microsoft-style additionalInfo.

use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{additional_info, Detection, GeoCoordinates, SignInLocation};
use crate::detect::order::Positions;
use crate::detect::{Context, Finding, Identity};
use crate::frame::{col, floats_at, texts_at};
use crate::ingest::values::format_time;
use crate::ingest::{IngestError, Unread};

/// One detection per finding, in the findings' order. Columns the load left unread are
/// fetched for the findings' sign-ins only.
pub fn detections(
    ctx: &Context,
    unread: &Unread,
    mut findings: Vec<(Identity, Finding)>,
) -> Result<Vec<Detection>, IngestError> {
    // The detections' sign-ins, and those their evidence names by request id.
    let mut rows: Vec<usize> = findings
        .iter()
        .flat_map(|(_, f)| std::iter::once(f.row).chain(f.related_requests.iter().map(|&(_, r)| r)))
        .map(|row| ctx.order[row] as usize)
        .collect();
    rows.par_sort_unstable();
    rows.dedup();
    let span = crate::trace::span("report: columns");
    let columns = Columns::new(ctx, unread, &rows)?;
    drop(span);
    let _span = crate::trace::span("report: records");
    let texts = Texts::of(&columns);
    // Records are built in their sign-ins' frame order, so that each column's values are
    // read in sequence rather than at random, and put back in the findings' order after.
    let mut by_row: Vec<u64> = findings
        .iter()
        .enumerate()
        .map(|(k, (_, f))| (ctx.order[f.row] as u64) << 32 | k as u64)
        .collect();
    by_row.par_sort_unstable();
    let by_row: Vec<u32> = by_row.iter().map(|&key| key as u32).collect();
    permute(&mut findings, &by_row);
    let mut built: Vec<Detection> = findings
        .into_par_iter()
        .map(|(identity, f)| detection(ctx, &columns, &texts, &identity, f))
        .collect();
    // Each finding's place in the frame order is where its record comes from.
    permute(&mut built, Positions::of(&by_row).as_slice());
    Ok(built)
}

/// Reorders `items` in place so that item `k` is the one at `from[k]` before (`from` lists
/// each index once), by swaps along the permutation's cycles: no second list is built.
fn permute<T>(items: &mut [T], from: &[u32]) {
    let mut done = vec![false; items.len()];
    for start in 0..items.len() {
        let mut k = start;
        while !done[k] {
            done[k] = true;
            let source = from[k] as usize;
            if source == start {
                break;
            }
            items.swap(k, source);
            k = source;
        }
    }
}

/// The report's columns at the detections' frame rows, gathered once: looking a value up
/// in a frame of many chunks costs a walk over the chunks, once per value otherwise.
struct Columns<'a> {
    /// The frame rows of the detections, ascending; values sit at the same positions.
    rows: &'a [usize],
    texts: Vec<(&'static str, Packed)>,
    latitude: Vec<Option<f64>>,
    longitude: Vec<Option<f64>>,
}

impl<'a> Columns<'a> {
    fn new(ctx: &'a Context, unread: &Unread, rows: &'a [usize]) -> Result<Self, IngestError> {
        let frame = &ctx.frame;
        // The report's own list: what `score` decodes for it is what it can read here.
        let texts = super::COLUMNS
            .par_iter()
            .map(|&name| {
                let _span = crate::trace::span(format!("report: {name}"));
                let values = if let Some(codes) = ctx.coded(name) {
                    Packed::of(rows.iter().map(|&r| codes.get(r)))
                } else if unread.is_unread(name) {
                    let fetched = unread.fetch(frame, name, rows)?;
                    Packed::of(fetched.iter().map(Option::as_deref))
                } else {
                    match frame.column(name).ok().and_then(|c| c.str().ok()) {
                        Some(values) => Packed::of(texts_at(values, rows).into_iter()),
                        None => Packed::of(rows.iter().map(|_| None)),
                    }
                };
                Ok((name, values))
            })
            .collect::<Result<_, IngestError>>()?;
        let float = |name: &str| match frame.column(name).ok().and_then(|c| c.f64().ok()) {
            Some(values) => floats_at(values, rows),
            None => vec![None; rows.len()],
        };
        Ok(Columns {
            rows,
            texts,
            latitude: float(col::latitude),
            longitude: float(col::longitude),
        })
    }

    /// The position of a frame row among the detections' rows.
    fn position(&self, frame_row: usize) -> Option<usize> {
        self.rows.binary_search(&frame_row).ok()
    }

    /// A text column's values, one per position (none for a column not gathered).
    fn values(&self, column: &str) -> &Packed {
        static NONE: Packed = Packed {
            text: String::new(),
            offsets: Vec::new(),
            present: Vec::new(),
        };
        self.texts
            .iter()
            .find(|(name, _)| *name == column)
            .map_or(&NONE, |(_, values)| values)
    }
}

/// A text column's values at the detections' rows, packed end to end in row order. The
/// records read them in the findings' order, at random: a few megabytes packed stay in
/// cache, where values spread over a ten-million-row frame cost a trip to memory each.
struct Packed {
    text: String,
    /// Value `k` is `text[offsets[k]..offsets[k + 1]]`...
    offsets: Vec<usize>,
    /// ...when it is present.
    present: Vec<bool>,
}

impl Packed {
    fn of<'v>(values: impl Iterator<Item = Option<&'v str>>) -> Packed {
        let mut packed = Packed {
            text: String::new(),
            offsets: vec![0],
            present: Vec::with_capacity(values.size_hint().0),
        };
        for value in values {
            packed.text.push_str(value.unwrap_or(""));
            packed.offsets.push(packed.text.len());
            packed.present.push(value.is_some());
        }
        packed
    }

    /// The value at a position.
    fn get(&self, at: usize) -> Option<&str> {
        if !*self.present.get(at)? {
            return None;
        }
        self.text.get(self.offsets[at]..self.offsets[at + 1])
    }
}

/// The text columns a detection reads, each looked up once for all detections.
struct Texts<'c> {
    request_id: &'c Packed,
    correlation_id: &'c Packed,
    user_id: &'c Packed,
    user_principal_name: &'c Packed,
    user_display_name: &'c Packed,
    ip_address: &'c Packed,
    country: &'c Packed,
    state: &'c Packed,
    city: &'c Packed,
    user_agent: &'c Packed,
    token_issuer_type: &'c Packed,
}

impl<'c> Texts<'c> {
    fn of(columns: &'c Columns<'_>) -> Self {
        Texts {
            request_id: columns.values(col::request_id),
            correlation_id: columns.values(col::correlation_id),
            user_id: columns.values(col::user_id),
            user_principal_name: columns.values(col::user_principal_name),
            user_display_name: columns.values(col::user_display_name),
            ip_address: columns.values(col::ip_address),
            country: columns.values(col::country),
            state: columns.values(col::state),
            city: columns.values(col::city),
            user_agent: columns.values(col::user_agent),
            token_issuer_type: columns.values(col::token_issuer_type),
        }
    }
}

/// A column's value at a position, owned.
fn owned(values: &Packed, at: usize) -> Option<String> {
    values.get(at).map(String::from)
}

fn detection(
    ctx: &Context,
    columns: &Columns<'_>,
    texts: &Texts<'_>,
    identity: &Identity,
    mut f: Finding,
) -> Detection {
    if let Value::Object(evidence) = &mut f.evidence {
        for &(key, related) in &f.related_requests {
            let id = columns
                .position(ctx.order[related] as usize)
                .and_then(|at| owned(texts.request_id, at));
            evidence.insert(key.into(), Value::from(id));
        }
    }
    let row = f.row;
    let at = columns
        .position(ctx.order[row] as usize)
        .expect("every finding's row was gathered");
    let text = |values: &Packed| owned(values, at);
    let request_id = (!f.user_level).then(|| text(texts.request_id)).flatten();
    let user_id = text(texts.user_id);
    let upn = text(texts.user_principal_name);
    let subject = request_id
        .clone()
        .or_else(|| user_id.clone())
        .or_else(|| upn.clone())
        .unwrap_or_default();
    let id = stable_id(identity.id, &subject, &f.evidence);
    let location = SignInLocation {
        city: text(texts.city),
        state: text(texts.state),
        country_or_region: text(texts.country),
        geo_coordinates: match (columns.latitude[at], columns.longitude[at]) {
            (Some(latitude), Some(longitude)) => Some(GeoCoordinates {
                latitude,
                longitude,
            }),
            _ => None,
        },
    };
    let activity = if f.user_level {
        f.detected_at
    } else {
        ctx.time[row]
    };
    let detected = format_time(f.detected_at);
    let mut info: Vec<(&str, Value)> = Vec::new();
    if let Some(agent) = text(texts.user_agent) {
        info.push(("userAgent", Value::from(agent)));
    }
    info.extend(f.related);
    Detection {
        id,
        request_id,
        correlation_id: if f.user_level {
            None
        } else {
            text(texts.correlation_id)
        },
        risk_event_type: identity.risk_event_type.to_string(),
        risk_state: "atRisk".into(),
        risk_level: f.level,
        risk_detail: "none".into(),
        source: "idrisk".into(),
        detection_timing_type: identity.timing.into(),
        activity: identity.activity.into(),
        token_issuer_type: text(texts.token_issuer_type),
        ip_address: if f.user_level {
            None
        } else {
            text(texts.ip_address)
        },
        location: (!f.user_level).then_some(location),
        activity_date_time: format_time(activity),
        detected_date_time: detected.clone(),
        last_updated_date_time: detected,
        user_id,
        user_display_name: text(texts.user_display_name),
        user_principal_name: upn,
        additional_info: additional_info(info),
        report: identity.report.into(),
        detector: identity.id.into(),
        evidence: f.evidence,
    }
}

/// A stable id: the same detector, subject and evidence always give the same id.
fn stable_id(detector: &str, subject: &str, evidence: &Value) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    hasher.update(detector.as_bytes());
    hasher.update([0]);
    hasher.update(subject.as_bytes());
    hasher.update([0]);
    // Evidence serialised straight into the hasher, without an intermediate string.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), evidence);
    let digest = hasher.finalize();
    let mut id = String::with_capacity(32);
    for b in &digest[..16] {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id
}

/// Feeds written bytes to a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuting_in_place_equals_gathering_and_undoes_itself() {
        // A permutation of several cycles, a fixed point among them.
        let from: Vec<u32> = vec![3, 0, 2, 5, 1, 4, 7, 6];
        let mut items: Vec<String> = (0..8).map(|k| format!("item {k}")).collect();
        let gathered: Vec<String> = from.iter().map(|&k| items[k as usize].clone()).collect();
        permute(&mut items, &from);
        assert_eq!(items, gathered);
        permute(&mut items, Positions::of(&from).as_slice());
        let original: Vec<String> = (0..8).map(|k| format!("item {k}")).collect();
        assert_eq!(items, original);
    }

    #[test]
    fn packed_values_keep_their_gaps() {
        let values = [Some("a"), None, Some(""), Some("ccc"), None];
        let packed = Packed::of(values.iter().copied());
        let got: Vec<Option<&str>> = (0..values.len()).map(|k| packed.get(k)).collect();
        assert_eq!(got, values);
        assert_eq!(packed.get(5), None);
    }
}
