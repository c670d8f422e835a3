//! Reads back the tables `score` wrote, in any of its formats: what `idrisk report` builds
//! its page from. A row is rebuilt as the JSON object the JSONL writer would have written
//! (column kinds from [`Record::COLUMNS`]), then typed.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use polars::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::write::{Kind, Record};
use crate::ingest::values::format_time;

/// The file of table `name` in `dir`, whichever format it was written in.
pub fn table_path(dir: &Path, name: &str) -> Option<PathBuf> {
    ["jsonl", "csv", "parquet", "jsonl.zst"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

/// Every row of table `name` in `dir`; an empty table when the run did not write it (an
/// output directory of an older release).
pub fn read_table<R: Record + DeserializeOwned>(dir: &Path, name: &str) -> anyhow::Result<Vec<R>> {
    let Some(path) = table_path(dir, name) else {
        return Ok(Vec::new());
    };
    let objects = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => csv_objects::<R>(&path),
        Some("parquet") => parquet_objects::<R>(&path),
        _ => jsonl_objects(&path),
    }
    .with_context(|| format!("reading '{}'", path.display()))?;
    objects
        .into_iter()
        .enumerate()
        .map(|(k, object)| {
            serde_json::from_value(Value::Object(object))
                .with_context(|| format!("'{}', row {}: not a {name} row", path.display(), k + 1))
        })
        .collect()
}

/// The rows of table `name` in `dir` one at a time, for a merge that holds few of them: JSON
/// Lines and CSV are read as they stream past; a Parquet table is read whole first.
pub fn rows<R: Record + DeserializeOwned + 'static>(
    dir: &Path,
    name: &str,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<R>>>> {
    let Some(path) = table_path(dir, name) else {
        return Ok(Box::new(std::iter::empty()));
    };
    let shown = path.display().to_string();
    let name = name.to_string();
    let row = move |k: usize, object: Map<String, Value>| {
        serde_json::from_value(Value::Object(object))
            .with_context(|| format!("'{shown}', row {}: not a {name} row", k + 1))
    };
    let opened = || File::open(&path).with_context(|| format!("reading '{}'", path.display()));
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => {
            let mut reader = ::csv::Reader::from_reader(std::io::BufReader::new(opened()?));
            let headers = reader
                .headers()
                .with_context(|| format!("reading '{}'", path.display()))?
                .clone();
            let shown = path.display().to_string();
            Box::new(reader.into_records().enumerate().map(move |(k, record)| {
                let record = record.with_context(|| format!("reading '{shown}'"))?;
                row(
                    k,
                    csv_object::<R>(&headers, &record, k)
                        .with_context(|| format!("reading '{shown}'"))?,
                )
            }))
        }
        Some("parquet") => {
            let objects = parquet_objects::<R>(&path)
                .with_context(|| format!("reading '{}'", path.display()))?;
            Box::new(objects.into_iter().enumerate().map(move |(k, o)| row(k, o)))
        }
        ext => {
            use std::io::BufRead;
            let shown = path.display().to_string();
            let file: Box<dyn std::io::Read> = match ext {
                // A sharded run's spilled tables.
                Some("zst") => Box::new(zstd::Decoder::new(opened()?)?),
                _ => Box::new(opened()?),
            };
            let lines = std::io::BufReader::with_capacity(1 << 16, file).lines();
            Box::new(
                lines
                    .enumerate()
                    .filter(|(_, line)| !line.as_ref().is_ok_and(|l| l.trim().is_empty()))
                    .map(move |(k, line)| {
                        let line = line.with_context(|| format!("reading '{shown}'"))?;
                        serde_json::from_str(&line)
                            .with_context(|| format!("'{shown}', line {}: not a table row", k + 1))
                    }),
            )
        }
    })
}

fn jsonl_objects(path: &Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(k, line)| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(anyhow!("line {}: not a JSON object", k + 1)),
            Err(e) => Err(anyhow!("line {}: {e}", k + 1)),
        })
        .collect()
}

/// A CSV cell back to its JSON value (the inverse of [`super::write::csv_cell`]).
fn cell_value(text: &str, kind: Kind) -> anyhow::Result<Value> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::Str | Kind::Time => {
            // The writer guards text a spreadsheet would run as a formula with a quote.
            let guarded = text.len() > 1
                && text.starts_with('\'')
                && text[1..].starts_with(['=', '+', '-', '@', '\t', '\r']);
            Value::from(if guarded { &text[1..] } else { text })
        }
        Kind::Int => Value::from(text.parse::<i64>()?),
        Kind::Float => Value::from(text.parse::<f64>()?),
        Kind::Bool => Value::from(text.parse::<bool>()?),
        Kind::Json => serde_json::from_str(text)?,
    })
}

fn csv_objects<R: Record>(path: &Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let mut reader = ::csv::Reader::from_path(path)?;
    let headers = reader.headers()?.clone();
    let mut objects = Vec::new();
    for (k, record) in reader.records().enumerate() {
        objects.push(csv_object::<R>(&headers, &record?, k)?);
    }
    Ok(objects)
}

/// Row `k` of a CSV table as its JSON object.
fn csv_object<R: Record>(
    headers: &::csv::StringRecord,
    record: &::csv::StringRecord,
    k: usize,
) -> anyhow::Result<Map<String, Value>> {
    let mut object = Map::new();
    for (name, kind) in R::COLUMNS {
        let value = match headers.iter().position(|h| h == *name) {
            Some(i) => cell_value(record.get(i).unwrap_or(""), *kind)
                .with_context(|| format!("row {}, column {name}", k + 1))?,
            None => Value::Null,
        };
        object.insert(name.to_string(), value);
    }
    Ok(object)
}

fn parquet_objects<R: Record>(path: &Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let frame = ParquetReader::new(File::open(path)?).finish()?;
    let mut objects = vec![Map::new(); frame.height()];
    for (name, kind) in R::COLUMNS {
        let Ok(column) = frame.column(name) else {
            objects.iter_mut().for_each(|o| {
                o.insert(name.to_string(), Value::Null);
            });
            continue;
        };
        let values: Vec<Value> = match kind {
            Kind::Str => column.str()?.iter().map(Value::from).collect(),
            Kind::Json => column
                .str()?
                .iter()
                .map(|v| v.map_or(Ok(Value::Null), serde_json::from_str))
                .collect::<Result<_, _>>()?,
            Kind::Int => column
                .cast(&DataType::Int64)?
                .i64()?
                .iter()
                .map(Value::from)
                .collect(),
            Kind::Float => column.f64()?.iter().map(Value::from).collect(),
            Kind::Bool => column.bool()?.iter().map(Value::from).collect(),
            Kind::Time => column
                .cast(&DataType::Int64)?
                .i64()?
                .iter()
                .map(|t| t.map_or(Value::Null, |t| Value::from(format_time(t))))
                .collect(),
        };
        for (object, value) in objects.iter_mut().zip(values) {
            object.insert(name.to_string(), value);
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::TimelineSignIn;
    use crate::report::{write_table, Format};

    fn sample() -> Vec<TimelineSignIn> {
        vec![TimelineSignIn {
            user_id: Some("u1".into()),
            user_principal_name: Some("=cmd|' /C calc'!A0@contoso.com".into()),
            created_date_time: "2025-03-01T10:00:00.000000Z".into(),
            request_id: Some("r1".into()),
            ip_address: None,
            city: Some("Zürich".into()),
            country_or_region: Some("CH".into()),
            latitude: Some(47.37),
            longitude: Some(8.54),
            asn: Some(3303),
            app_display_name: Some("Office, \"365\"\nline".into()),
            client_app_used: None,
            operating_system: Some("Windows".into()),
            browser: None,
            device_id: None,
            is_interactive: true,
            outcome: "success".into(),
            failure_reason: None,
        }]
    }

    #[test]
    fn every_format_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Jsonl, Format::Csv, Format::Parquet] {
            let sub = dir.path().join(format.extension());
            std::fs::create_dir_all(&sub).unwrap();
            let path = sub.join(format!("timeline.{}", format.extension()));
            write_table(&sample(), format, &path).unwrap();
            let back: Vec<TimelineSignIn> = read_table(&sub, "timeline").unwrap();
            assert_eq!(back, sample(), "{format:?}");
        }
    }

    #[test]
    fn a_missing_table_is_empty_and_a_damaged_one_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let none: Vec<TimelineSignIn> = read_table(dir.path(), "timeline").unwrap();
        assert!(none.is_empty());
        std::fs::write(dir.path().join("timeline.jsonl"), "{\"userId\": \n").unwrap();
        let e = read_table::<TimelineSignIn>(dir.path(), "timeline").unwrap_err();
        assert!(format!("{e:#}").contains("timeline.jsonl"), "{e:#}");
    }
}
