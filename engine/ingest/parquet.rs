//! Canonical frames as Parquet: what `idrisk convert` writes and every command reads back,
//! the fast path for re-running detectors over an archive.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::{FileLoad, IngestError, Shape};
use crate::frame;

/// Reads a canonical Parquet frame, checking every canonical column is there with its type.
/// Extra columns are ignored.
pub fn read_canonical_parquet(path: &Path) -> Result<DataFrame, IngestError> {
    read_projected(path, None)
}

/// Reads a canonical Parquet frame decoding only `columns` (and [`super::KEY_COLUMNS`]) when
/// given; the other canonical columns come back null. Every canonical column must still be in
/// the file with its type, so a projection never hides a file that is not canonical.
pub fn read_projected(path: &Path, columns: Option<&[&str]>) -> Result<DataFrame, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let not_canonical = |reason: String| IngestError::NotCanonical {
        path: path.to_path_buf(),
        reason,
    };
    let unreadable = |e: PolarsError| not_canonical(format!("unreadable Parquet ({e})"));
    let mut reader = ParquetReader::new(file);
    let stored = reader.schema().map_err(unreadable)?;
    let schema = frame::schema();
    let wanted = |name: &str| {
        columns.is_none_or(|c| c.contains(&name) || super::KEY_COLUMNS.contains(&name))
    };
    for (name, dtype) in schema.iter() {
        let Some(field) = stored.get(name.as_str()) else {
            return Err(not_canonical(format!("column '{name}' is missing")));
        };
        let found = DataType::from_arrow_field(field);
        if &found != dtype {
            return Err(not_canonical(format!(
                "column '{name}' is {found}, expected {dtype}"
            )));
        }
    }
    let names: Vec<String> = schema
        .iter_names()
        .filter(|n| wanted(n.as_str()))
        .map(|n| n.to_string())
        .collect();
    let frame = reader
        .with_columns(Some(names))
        .finish()
        .map_err(unreadable)?;
    let height = frame.height();
    let mut out = Vec::with_capacity(schema.len());
    for (name, dtype) in schema.iter() {
        out.push(match frame.column(name) {
            Ok(column) => column.clone(),
            Err(_) => Column::full_null(name.clone(), height, dtype),
        });
    }
    Ok(DataFrame::new(height, out)?)
}

pub(super) fn read_as_load(path: &Path, columns: Option<&[&str]>) -> Result<FileLoad, IngestError> {
    let frame = read_projected(path, columns)?;
    let mut load = FileLoad::new(Shape::CanonicalParquet, false);
    load.read = frame.height() as u64;
    load.frames.push(frame);
    Ok(load)
}

/// Writes a canonical frame as zstd-compressed Parquet.
pub fn write_canonical_parquet(frame: &mut DataFrame, path: &Path) -> Result<(), IngestError> {
    let file = File::create(path).map_err(|e| IngestError::io(path, e))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(frame)?;
    Ok(())
}
