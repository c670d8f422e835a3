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
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let not_canonical = |reason: String| IngestError::NotCanonical {
        path: path.to_path_buf(),
        reason,
    };
    let frame = ParquetReader::new(file)
        .finish()
        .map_err(|e| not_canonical(format!("unreadable Parquet ({e})")))?;
    let schema = frame::schema();
    let mut columns = Vec::with_capacity(schema.len());
    for (name, dtype) in schema.iter() {
        let column = frame
            .column(name)
            .map_err(|_| not_canonical(format!("column '{name}' is missing")))?;
        if column.dtype() != dtype {
            return Err(not_canonical(format!(
                "column '{name}' is {}, expected {dtype}",
                column.dtype()
            )));
        }
        columns.push(column.clone());
    }
    Ok(DataFrame::new(frame.height(), columns)?)
}

pub(super) fn read_as_load(path: &Path) -> Result<FileLoad, IngestError> {
    let frame = read_canonical_parquet(path)?;
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
