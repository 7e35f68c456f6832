//! Reading partner files into Arrow batches: CSV (UTF-8 with or without BOM, CRLF, quoted
//! fields) and Parquet. Rows whose shape is broken (wrong number of fields, invalid UTF-8) are
//! reported per row so that the rest of the file can still be ingested.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::LakeError;

/// Rows per batch handed to the validator.
pub const BATCH_ROWS: usize = 64 * 1024;

/// A row that could not even be split into the header's columns.
#[derive(Debug, Clone)]
pub struct BrokenRow {
    /// 1-based data row.
    pub row: u64,
    /// What is wrong.
    pub reason: String,
}

/// A batch of input rows: the batch, the data-row number of its first row... and, because
/// broken rows are skipped, the row number of every row.
pub struct InputBatch {
    /// The rows (text columns for CSV, typed for Parquet).
    pub batch: RecordBatch,
    /// Data-row number of each row of `batch`.
    pub rows: Vec<u64>,
    /// Rows skipped since the previous batch because they could not be read.
    pub broken: Vec<BrokenRow>,
    /// Bytes of the file consumed so far (for progress).
    pub bytes_read: u64,
}

/// The kinds of file Marmot ingests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileKind {
    /// Detects the kind from the magic bytes (Parquet starts with `PAR1`), else the extension.
    /// Errors name the file `name` (as its sender knows it).
    pub fn detect(path: &Path, name: &str) -> Result<FileKind, LakeError> {
        use std::io::Read;
        let mut head = [0u8; 4];
        let mut f =
            File::open(path).map_err(|e| LakeError::file(name, format!("cannot open: {e}")))?;
        let n = f
            .read(&mut head)
            .map_err(|e| LakeError::file(name, format!("cannot read: {e}")))?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if n == 4 && &head == b"PAR1" || ext == "parquet" {
            Ok(FileKind::Parquet)
        } else if ext == "xlsx" || ext == "xls" {
            Err(LakeError::file(
                name,
                "spreadsheets are not read yet: save the sheet as CSV (UTF-8) and send that",
            ))
        } else {
            Ok(FileKind::Csv)
        }
    }
}

/// A source of input batches.
pub enum Reader {
    /// CSV.
    Csv(CsvReader),
    /// Parquet.
    Parquet(ParquetReader),
}

impl Reader {
    /// Opens a file. An unreadable or empty file, or a Parquet file whose footer cannot be read,
    /// is a whole-file error. Every error names the file `name`, as its sender knows it (a
    /// server reads an upload from a temporary path the partner never saw).
    pub fn open(path: &Path, name: &str) -> Result<Reader, LakeError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| LakeError::file(name, format!("cannot open: {e}")))?;
        if meta.len() == 0 {
            return Err(LakeError::file(name, "the file is empty"));
        }
        match FileKind::detect(path, name)? {
            FileKind::Csv => Ok(Reader::Csv(CsvReader::open(path, name)?)),
            FileKind::Parquet => Ok(Reader::Parquet(ParquetReader::open(path, name)?)),
        }
    }

    /// The input schema (CSV: the header's names, all text).
    pub fn schema(&self) -> SchemaRef {
        match self {
            Reader::Csv(r) => r.schema.clone(),
            Reader::Parquet(r) => r.schema.clone(),
        }
    }

    /// The next batch, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<InputBatch>, LakeError> {
        match self {
            Reader::Csv(r) => r.next_batch(),
            Reader::Parquet(r) => r.next_batch(),
        }
    }
}

/// CSV reader built on the `csv` crate, flexible about field counts so that a short or long row
/// is one rejected row rather than a failed file.
pub struct CsvReader {
    name: String,
    inner: csv::Reader<BufReader<File>>,
    schema: SchemaRef,
    width: usize,
    next_row: u64,
    record: csv::ByteRecord,
}

impl CsvReader {
    fn open(path: &Path, name: &str) -> Result<CsvReader, LakeError> {
        let name = name.to_string();
        let file =
            File::open(path).map_err(|e| LakeError::file(&name, format!("cannot open: {e}")))?;
        let mut inner = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let header = inner
            .byte_headers()
            .map_err(|e| LakeError::file(&name, format!("cannot read the header row: {e}")))?
            .clone();
        let mut fields = Vec::with_capacity(header.len());
        for (i, h) in header.iter().enumerate() {
            let h = std::str::from_utf8(h).map_err(|_| {
                LakeError::file(
                    &name,
                    format!(
                        "header column {} is not valid UTF-8 (save the file as UTF-8)",
                        i + 1
                    ),
                )
            })?;
            let h = h.trim_start_matches('\u{feff}').trim();
            if h.is_empty() {
                return Err(LakeError::file(
                    &name,
                    format!("header column {} has no name", i + 1),
                ));
            }
            fields.push(Field::new(h, DataType::Utf8, true));
        }
        if fields.is_empty() {
            return Err(LakeError::file(&name, "the header row is empty"));
        }
        let width = fields.len();
        Ok(CsvReader {
            name,
            inner,
            schema: Arc::new(Schema::new(fields)),
            width,
            next_row: 1,
            record: csv::ByteRecord::new(),
        })
    }

    fn next_batch(&mut self) -> Result<Option<InputBatch>, LakeError> {
        let mut builders: Vec<StringBuilder> = (0..self.width)
            .map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8))
            .collect();
        let mut rows = Vec::with_capacity(BATCH_ROWS);
        let mut broken = Vec::new();
        let mut any = false;
        while rows.len() < BATCH_ROWS {
            let more = self.inner.read_byte_record(&mut self.record).map_err(|e| {
                LakeError::file(
                    &self.name,
                    format!("cannot read row {}: {e}", self.next_row),
                )
            })?;
            if !more {
                break;
            }
            any = true;
            let row = self.next_row;
            self.next_row += 1;
            // A completely empty line (e.g. a trailing blank line) is not a row.
            if self.record.len() == 1 && self.record[0].is_empty() {
                continue;
            }
            if self.record.len() != self.width {
                broken.push(BrokenRow {
                    row,
                    reason: format!(
                        "has {} fields; the header has {}",
                        self.record.len(),
                        self.width
                    ),
                });
                continue;
            }
            let mut texts: Vec<&str> = Vec::with_capacity(self.width);
            let mut bad = None;
            for (i, f) in self.record.iter().enumerate() {
                match std::str::from_utf8(f) {
                    Ok(s) => texts.push(s),
                    Err(_) => {
                        bad = Some(i);
                        break;
                    }
                }
            }
            if let Some(i) = bad {
                broken.push(BrokenRow {
                    row,
                    reason: format!(
                        "column '{}' is not valid UTF-8 text",
                        self.schema.field(i).name()
                    ),
                });
                continue;
            }
            for (b, s) in builders.iter_mut().zip(texts) {
                b.append_value(s);
            }
            rows.push(row);
        }
        if !any {
            return Ok(None);
        }
        let cols: Vec<ArrayRef> = builders
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), cols)?;
        Ok(Some(InputBatch {
            batch,
            rows,
            broken,
            bytes_read: self.inner.position().byte(),
        }))
    }
}

/// Parquet reader (synchronous, batch by batch).
pub struct ParquetReader {
    inner: ParquetRecordBatchReader,
    schema: SchemaRef,
    next_row: u64,
    total_rows: u64,
    file_len: u64,
    name: String,
}

impl ParquetReader {
    fn open(path: &Path, name: &str) -> Result<ParquetReader, LakeError> {
        let name = name.to_string();
        let file =
            File::open(path).map_err(|e| LakeError::file(&name, format!("cannot open: {e}")))?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            LakeError::file(
                &name,
                format!("not a readable Parquet file (truncated or corrupt?): {e}"),
            )
        })?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let schema = builder.schema().clone();
        let inner = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| LakeError::file(&name, format!("cannot read Parquet: {e}")))?;
        Ok(ParquetReader {
            inner,
            schema,
            next_row: 1,
            total_rows,
            file_len,
            name,
        })
    }

    fn next_batch(&mut self) -> Result<Option<InputBatch>, LakeError> {
        match self.inner.next() {
            None => Ok(None),
            Some(Err(e)) => Err(LakeError::file(
                &self.name,
                format!("cannot read Parquet data near row {}: {e}", self.next_row),
            )),
            Some(Ok(batch)) => {
                let n = batch.num_rows() as u64;
                let rows = (self.next_row..self.next_row + n).collect();
                self.next_row += n;
                let done = if self.total_rows == 0 {
                    1.0
                } else {
                    (self.next_row - 1) as f64 / self.total_rows as f64
                };
                Ok(Some(InputBatch {
                    batch,
                    rows,
                    broken: Vec::new(),
                    bytes_read: (self.file_len as f64 * done) as u64,
                }))
            }
        }
    }
}
