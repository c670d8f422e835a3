//! Findings into `riskDetection` records: the sign-in's own fields from the sorted frame,
//! the detector's identity, a stable id, and Microsoft-style additionalInfo.

use polars::prelude::{Float64Chunked, StringChunked};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{additional_info, Detection, GeoCoordinates, SignInLocation};
use crate::detect::{Context, Finding, Identity};
use crate::frame::col;
use crate::ingest::values::format_time;

/// One detection per finding, in the findings' order.
pub fn detections(ctx: &Context, findings: Vec<(Identity, Finding)>) -> Vec<Detection> {
    use rayon::prelude::*;
    let columns = Columns::new(ctx);
    findings
        .into_par_iter()
        .map(|(identity, f)| detection(ctx, &columns, &identity, f))
        .collect()
}

/// The frame columns a detection reads, looked up once rather than once per detection.
struct Columns<'a> {
    texts: Vec<(&'static str, Option<&'a StringChunked>)>,
    latitude: Option<&'a Float64Chunked>,
    longitude: Option<&'a Float64Chunked>,
}

impl<'a> Columns<'a> {
    fn new(ctx: &'a Context) -> Self {
        let frame = &ctx.frame;
        let text = |name: &'static str| (name, frame.column(name).ok().and_then(|c| c.str().ok()));
        let float = |name: &str| frame.column(name).ok().and_then(|c| c.f64().ok());
        Columns {
            // The report's own list: what `score` decodes for it is what it can read here.
            texts: super::COLUMNS.iter().map(|&name| text(name)).collect(),
            latitude: float(col::latitude),
            longitude: float(col::longitude),
        }
    }

    /// A text column's value at a frame row.
    fn text(&self, column: &str, frame_row: usize) -> Option<String> {
        let (_, values) = self.texts.iter().find(|(name, _)| *name == column)?;
        values.and_then(|v| v.get(frame_row)).map(String::from)
    }
}

fn detection(ctx: &Context, columns: &Columns<'_>, identity: &Identity, f: Finding) -> Detection {
    let row = f.row;
    let frame_row = ctx.order[row] as usize;
    let text = |column: &str| columns.text(column, frame_row);
    let request_id = (!f.user_level).then(|| text(col::request_id)).flatten();
    let user_id = text(col::user_id);
    let upn = text(col::user_principal_name);
    let subject = request_id
        .clone()
        .or_else(|| user_id.clone())
        .or_else(|| upn.clone())
        .unwrap_or_default();
    let id = stable_id(identity.id, &subject, &f.evidence);
    let location = SignInLocation {
        city: text(col::city),
        state: text(col::state),
        country_or_region: text(col::country),
        geo_coordinates: match (
            columns.latitude.and_then(|c| c.get(frame_row)),
            columns.longitude.and_then(|c| c.get(frame_row)),
        ) {
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
    let mut info: Vec<(&str, Value)> = Vec::new();
    if let Some(agent) = text(col::user_agent) {
        info.push(("userAgent", Value::from(agent)));
    }
    info.extend(f.related);
    Detection {
        id,
        request_id,
        correlation_id: if f.user_level {
            None
        } else {
            text(col::correlation_id)
        },
        risk_event_type: identity.risk_event_type.to_string(),
        risk_state: "atRisk".into(),
        risk_level: f.level,
        risk_detail: "none".into(),
        source: "idrisk".into(),
        detection_timing_type: identity.timing.into(),
        activity: identity.activity.into(),
        token_issuer_type: text(col::token_issuer_type),
        ip_address: if f.user_level {
            None
        } else {
            text(col::ip_address)
        },
        location: (!f.user_level).then_some(location),
        activity_date_time: format_time(activity),
        detected_date_time: format_time(f.detected_at),
        last_updated_date_time: format_time(f.detected_at),
        user_id,
        user_display_name: text(col::user_display_name),
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
