//! Event Hubs Capture files: Avro containers (`{Namespace}/{EventHub}/{PartitionId}/{Year}/…
//! /{Second}.avro`) whose events' `Body` bytes hold what diagnostic settings sent to the hub,
//! `{"records":[…]}` documents. Each body is read by the JSON reader, as the document it is.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use apache_avro::types::Value;

use super::source::{self, Sniffed};
use super::{json, FileLoad, IngestError, IngestOptions, Quarantined, Shape};

/// The first bytes of an Avro object container file.
pub const MAGIC: &[u8; 4] = b"Obj\x01";

/// The `Body` bytes of a Capture event (a record with a `Body` field of bytes, or a union
/// holding them).
fn body(event: &Value) -> Option<&[u8]> {
    let Value::Record(fields) = event else {
        return None;
    };
    let mut value = &fields.iter().find(|(name, _)| name == "Body")?.1;
    while let Value::Union(_, inner) = value {
        value = inner;
    }
    match value {
        Value::Bytes(bytes) | Value::Fixed(_, bytes) => Some(bytes),
        Value::String(text) => Some(text.as_bytes()),
        _ => None,
    }
}

/// Reads a Capture file. A damaged container (a header that is not Avro, a block cut short)
/// keeps the events before the damage and quarantines the rest with the reason; an event
/// without a body, or whose body is not JSON, is quarantined alone.
pub(super) fn read(
    reader: Box<dyn Read + Send>,
    path: &Path,
    options: &IngestOptions,
) -> Result<FileLoad, IngestError> {
    let name = path.to_string_lossy().into_owned();
    let mut load = FileLoad::new(Shape::EventHubsCapture, false);
    let events = apache_avro::Reader::new(reader).map_err(|e| IngestError::Damaged {
        path: path.to_path_buf(),
        reason: format!("unreadable Avro container ({e})"),
    })?;
    // Bodies were counted in the container's bytes already.
    let uncounted = Arc::new(AtomicU64::new(0));
    for (k, event) in events.enumerate() {
        let number = k as u64 + 1;
        let quarantine = |load: &mut FileLoad, reason: String, raw: &[u8]| {
            load.read += 1;
            load.quarantine
                .push(Quarantined::new(&name, Some(number), reason, raw));
        };
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                quarantine(
                    &mut load,
                    format!("event {number}: the container is damaged from here on ({e})"),
                    b"",
                );
                break;
            }
        };
        let Some(bytes) = body(&event) else {
            quarantine(&mut load, format!("event {number} has no Body bytes"), b"");
            continue;
        };
        // Each event's records are named by the event, so their source lines stay distinct.
        let event_name = format!("{name}#{number}");
        let opened = source::open_bytes(bytes.to_vec(), Path::new(&event_name), uncounted.clone())?;
        match opened.sniffed {
            Sniffed::Json => {
                let part = json::read(opened, &event_name, options, None)?;
                load.read += part.read;
                load.skipped += part.skipped;
                load.frames.extend(part.frames);
                load.quarantine.extend(part.quarantine);
                load.warnings.extend(
                    part.warnings
                        .into_iter()
                        .map(|w| format!("event {number}: {w}")),
                );
            }
            Sniffed::Empty => {}
            _ => quarantine(
                &mut load,
                format!("event {number}: the body is not JSON"),
                &opened.head,
            ),
        }
    }
    Ok(load)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;

    use crate::synth::output::CAPTURE_SCHEMA;

    fn capture(bodies: &[&[u8]]) -> Vec<u8> {
        let schema = apache_avro::Schema::parse_str(CAPTURE_SCHEMA).unwrap();
        let mut writer = apache_avro::Writer::new(&schema, Vec::new()).unwrap();
        for (k, body) in bodies.iter().enumerate() {
            let mut record = apache_avro::types::Record::new(&schema).unwrap();
            record.put("SequenceNumber", Value::Long(k as i64));
            record.put("Offset", Value::String(format!("{}", k * 100)));
            record.put(
                "EnqueuedTimeUtc",
                Value::String("3/1/2025 10:00:00 AM".into()),
            );
            record.put("SystemProperties", Value::Map(Default::default()));
            record.put("Properties", Value::Map(Default::default()));
            record.put(
                "Body",
                Value::Union(1, Box::new(Value::Bytes(body.to_vec()))),
            );
            writer.append_value(record).unwrap();
        }
        writer.into_inner().unwrap()
    }

    fn options() -> IngestOptions {
        IngestOptions::new(Rules::builtin().outcome_codes())
    }

    const RECORDS: &str = r#"{"records":[{"time":"2025-03-01T10:00:00.0000000Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs","properties":{"id":"a1","createdDateTime":"2025-03-01T10:00:00Z","userPrincipalName":"a@contoso.com","userId":"u1","ipAddress":"1.2.3.4","status":{"errorCode":0}}},{"time":"2025-03-01T10:01:00.0000000Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs","properties":{"id":"a2","createdDateTime":"2025-03-01T10:01:00Z","userPrincipalName":"b@contoso.com","userId":"u2","ipAddress":"1.2.3.5","status":{"errorCode":50126}}}]}"#;

    #[test]
    fn each_events_records_are_read() {
        let file = capture(&[
            RECORDS.as_bytes(),
            RECORDS.replace("a1", "a3").replace("a2", "a4").as_bytes(),
        ]);
        assert!(file.starts_with(MAGIC));
        let load = read(
            Box::new(std::io::Cursor::new(file)),
            Path::new("x.avro"),
            &options(),
        )
        .unwrap();
        assert_eq!(load.shape, Shape::EventHubsCapture);
        assert_eq!(load.read, 4);
        assert_eq!(load.frames.iter().map(|f| f.height()).sum::<usize>(), 4);
        assert!(load.quarantine.is_empty());
    }

    #[test]
    fn a_body_that_is_not_json_and_a_cut_container_are_quarantined_with_the_rest_kept() {
        let file = capture(&[RECORDS.as_bytes(), b"\x00\x01binary", RECORDS.as_bytes()]);
        let load = read(
            Box::new(std::io::Cursor::new(file.clone())),
            Path::new("x.avro"),
            &options(),
        )
        .unwrap();
        assert_eq!(load.quarantine.len(), 1);
        assert!(
            load.quarantine[0].reason.contains("event 2"),
            "{}",
            load.quarantine[0].reason
        );
        assert_eq!(load.frames.iter().map(|f| f.height()).sum::<usize>(), 4);
        let cut = &file[..file.len() - 40];
        let load = read(
            Box::new(std::io::Cursor::new(cut.to_vec())),
            Path::new("x.avro"),
            &options(),
        )
        .unwrap();
        assert_eq!(
            load.read,
            load.frames.iter().map(|f| f.height() as u64).sum::<u64>()
                + load.quarantine.len() as u64
        );
        assert!(
            load.quarantine.iter().any(|q| q.reason.contains("damaged")),
            "{:?}",
            load.quarantine
                .iter()
                .map(|q| &q.reason)
                .collect::<Vec<_>>()
        );
        let garbage = b"Obj\x01garbage".to_vec();
        assert!(matches!(
            read(
                Box::new(std::io::Cursor::new(garbage)),
                Path::new("x.avro"),
                &options()
            ),
            Err(IngestError::Damaged { .. })
        ));
    }
}
