//! Ingest: one partner file into one curated table, in one atomic commit.
//!
//! Rules (also in the README):
//! - Every input row is either accepted (appended to the curated table), rejected (written to
//!   `quarantine/` with its row number, column and reason) or, for a contract that sets rows
//!   outside the place aside (`outside_place = "set_aside"`), out of area (written to the same
//!   quarantine file with that reason, counted apart): `rows_read = accepted + rejected +
//!   out_of_area`.
//! - A file sent with a source mapping (`mapping`) is first turned into the contract's shape by
//!   [`crate::mapping::apply`]; the original is what is kept, hashed and named, and the mapping's
//!   name and version are recorded with the ingest (its lineage).
//! - The original file is kept byte-for-byte under `raw/`.
//! - The file's SHA-256 is recorded; ingesting the same bytes into the same dataset again is a
//!   no-op that says so (unless forced).
//! - **Submission modes** ([`SubmissionMode`]): never inferred from the rows' dates.
//!   - *append* (the default): the rows are added. A record whose key (the contract's record
//!     key, its first identifier column) the same partner sent before is an update: the earlier
//!     row is taken out in the same commit. Datasets without a record key only add.
//!   - *replace* a stated period (`--period` is required): every earlier row of the same partner
//!     dated in that period is taken out and the submission's rows put in; rows re-sent count as
//!     updated, the rest as removed. A replacement that would take out more than
//!     [`REPLACE_RATIO`] times the rows it brings is refused unless forced.
//!   - A *dry run* does the whole ingest (validation, quarantine, the count of rows added,
//!     updated and removed) and commits nothing.
//!
//!   Earlier versions stay in the table history (time travel). A submission with no accepted
//!   row takes nothing out.
//! - A whole-file problem changes nothing; a crash leaves only unreferenced files.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path as FsPath;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use marmot_model::Contract;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::read::{InputBatch, Reader};
use crate::store::{self, DataFile, TableWriter, table_files, table_history};
use crate::validate::{
    ColumnMap, PARTNER_COLUMN, Rejection, Validator, curated_schema, date_of, days,
};
use crate::{Lake, LakeError, Pseudonymiser};

/// Receives progress of long work (the CLI draws a bar; tests and servers ignore it).
pub trait Progress: Send + Sync {
    /// Work of `total` units (bytes) begins.
    fn begin(&self, _what: &str, _total: u64) {}
    /// `done` units of the total are done.
    fn advance_to(&self, _done: u64) {}
    /// The work is over.
    fn end(&self) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A submission period: inclusive first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

impl Period {
    /// Parses `YYYY-MM` or `YYYY-MM..YYYY-MM` (whole calendar months).
    pub fn parse(s: &str) -> Result<Period, LakeError> {
        let bad = || {
            LakeError::Config(format!(
                "period '{s}': expected YYYY-MM or YYYY-MM..YYYY-MM"
            ))
        };
        let month = |m: &str| {
            NaiveDate::parse_from_str(&format!("{}-01", m.trim()), "%Y-%m-%d").map_err(|_| bad())
        };
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (month(a)?, month(b)?),
            None => (month(s)?, month(s)?),
        };
        if b < a {
            return Err(bad());
        }
        Ok(Period {
            from: a,
            to: month_end(b),
        })
    }

    /// The whole calendar months covering two dates.
    pub fn covering(lo: NaiveDate, hi: NaiveDate) -> Period {
        Period {
            from: lo.with_day(1).unwrap_or(lo),
            to: month_end(hi),
        }
    }
}

fn month_end(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|n| n.pred_opt())
        .unwrap_or(d)
}

/// How a submission relates to what the partner sent before (module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionMode {
    /// Add the rows; a record key sent before is an update.
    #[default]
    Append,
    /// Replace the partner's rows in the stated period.
    Replace,
}

impl SubmissionMode {
    /// `append` or `replace`, as the CLI, the API and the report name it.
    pub fn name(self) -> &'static str {
        match self {
            SubmissionMode::Append => "append",
            SubmissionMode::Replace => "replace",
        }
    }

    /// Parses `append` or `replace`.
    pub fn parse(s: &str) -> Result<SubmissionMode, LakeError> {
        match s {
            "append" => Ok(SubmissionMode::Append),
            "replace" => Ok(SubmissionMode::Replace),
            other => Err(LakeError::Config(format!(
                "submission mode '{other}': expected append or replace"
            ))),
        }
    }
}

/// A replacement may take out at most this many times the rows it brings unless forced.
pub const REPLACE_RATIO: u64 = 2;

/// What to ingest and how.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Dataset (contract) name.
    pub dataset: String,
    /// The partner file.
    pub path: std::path::PathBuf,
    /// Partner sending it (default: the contract's default partner).
    pub partner: Option<String>,
    /// Declared submission period (default: the months its rows span).
    pub period: Option<Period>,
    /// Ingest even if the same bytes were ingested before, and let a replacement take out more
    /// than [`REPLACE_RATIO`] times the rows it brings.
    pub force: bool,
    /// Append (default) or replace the stated period.
    pub mode: SubmissionMode,
    /// Work everything out and commit nothing.
    pub dry_run: bool,
    /// The file's name as its sender knows it, for errors and the report (default: the path as
    /// given). A server passes the uploaded file's name, never its own temporary path.
    pub display_name: Option<String>,
    /// Who is ingesting (recorded in the commit).
    pub user: String,
    /// "Today", for the no-future-dates rule.
    pub today: NaiveDate,
    /// The source mapping that reads the file (by name), if it is not in the contract's shape.
    pub mapping: Option<String>,
    /// Threads validating each batch at once (default: one per core). The file is still
    /// parsed on one thread and written on another; the outcome is the same for any number.
    pub threads: Option<usize>,
}

/// The mapping that read a file, as recorded with the ingest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MappingUsed {
    /// Mapping name.
    pub name: String,
    /// Mapping version.
    pub version: String,
    /// Data rows of the partner's file (differs from `rows_read` only for a wide-to-long
    /// mapping, which makes several rows of one).
    pub source_rows: u64,
}

/// What an ingest did. Also recorded, as JSON, in the Delta commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestSummary {
    /// Unique id of this ingest.
    pub ingest_id: String,
    /// Dataset.
    pub dataset: String,
    /// Partner.
    pub partner: String,
    /// File name as given.
    pub file: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows appended to the table.
    pub accepted: u64,
    /// Rows quarantined.
    pub rejected: u64,
    /// Rejected rows by reason.
    pub reasons: BTreeMap<String, u64>,
    /// Rows set aside because their LSOA is outside the place (contracts with
    /// `outside_place = "set_aside"`); not errors.
    #[serde(default)]
    pub out_of_area: u64,
    /// Cells of accepted rows read as suppressed small numbers (a contract column's markers,
    /// e.g. `-99`): stored empty and flagged, not zero.
    #[serde(default)]
    pub suppressed_cells: u64,
    /// The source mapping that read the file, if any.
    #[serde(default)]
    pub mapping: Option<MappingUsed>,
    /// The first few rejections in words (row, column, reason).
    pub examples: Vec<String>,
    /// Period the submission covers (None when no row was accepted and none was declared).
    pub period: Option<Period>,
    /// Rows of earlier submissions taken out (`updated_rows + removed_rows`).
    pub replaced_rows: u64,
    /// Append or replace.
    #[serde(default)]
    pub mode: SubmissionMode,
    /// Accepted rows that are new records.
    #[serde(default)]
    pub added_rows: u64,
    /// Earlier rows of the partner sent again (same record key): replaced by the new version.
    #[serde(default)]
    pub updated_rows: u64,
    /// Earlier rows of the partner taken out without a new version (replace mode only).
    #[serde(default)]
    pub removed_rows: u64,
    /// Nothing was committed: what the ingest would have done.
    #[serde(default)]
    pub dry_run: bool,
    /// Commit time (RFC 3339); none for a dry run or a no-op.
    #[serde(default)]
    pub committed_at: Option<String>,
    /// Where the raw copy is, relative to the lake root.
    pub raw_path: Option<String>,
    /// Where the quarantined rows are, relative to the lake root.
    pub quarantine_path: Option<String>,
    /// Input columns not in the contract (ignored, never stored).
    pub ignored_columns: Vec<String>,
    /// Who ingested.
    pub user: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// Table version committed (or the earlier one, for a no-op).
    pub table_version: Option<u64>,
    /// True when the same file had been ingested already and nothing was done.
    pub already_ingested: bool,
}

/// A temporary file removed when dropped.
struct TempFile(std::path::PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How many example rejections to keep in the summary.
const EXAMPLES: usize = 10;

/// SHA-256 of a file, streamed; errors name the file `name`.
pub fn sha256_file(path: &FsPath, name: &str) -> Result<(String, u64), LakeError> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| LakeError::file(name, format!("cannot open: {e}")))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| LakeError::file(name, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), total))
}

/// A new ingest id: UTC time then random hex, so ids sort by time.
pub fn new_ingest_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), &u[..8])
}

/// The writer of a dataset's curated table for one ingest: files by calendar quarter of the
/// contract's date column, identifiers (pseudonyms) written as distinct columns.
pub(crate) fn curated_writer(
    lake: &Lake,
    contract: &Contract,
    schema: SchemaRef,
    ingest_id: &str,
) -> Result<TableWriter, LakeError> {
    let identifiers = contract.identifier_columns().map(|c| c.name.as_str());
    Ok(TableWriter::new(
        lake.table_store(&table_path(&contract.name)),
        schema,
        ingest_id,
    )
    .partitioned_by_quarter(&contract.date_column)?
    .distinct_columns(identifiers))
}

/// The lake path of a curated table.
pub fn table_path(dataset: &str) -> String {
    format!("tables/{dataset}")
}

/// Ingests one file. See the module documentation for the rules.
pub async fn ingest(
    lake: &Lake,
    pseudonymiser: &Pseudonymiser,
    req: &IngestRequest,
    progress: &dyn Progress,
) -> Result<IngestSummary, LakeError> {
    // Errors about the file name it as its sender knows it, never a server's temporary path.
    let file_name = req
        .display_name
        .clone()
        .unwrap_or_else(|| req.path.display().to_string());
    let file_name = file_name.as_str();
    let manifest = lake.require_manifest().await?;
    let contract = crate::catalog::contract(lake, &req.dataset).await?;
    let mapping = match &req.mapping {
        Some(name) => {
            let m = crate::catalog::mapping(lake, name).await?;
            if m.dataset != contract.name {
                return Err(LakeError::Config(format!(
                    "mapping {} produces {} rows, not {}",
                    m.name, m.dataset, contract.name
                )));
            }
            Some(m)
        }
        None => None,
    };
    if req.mode == SubmissionMode::Replace && req.period.is_none() {
        return Err(LakeError::Config(
            "a replacement names the period it replaces (--period YYYY-MM or YYYY-MM..YYYY-MM)"
                .into(),
        ));
    }
    let base_name = std::path::Path::new(file_name)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| LakeError::file(file_name, "not a file"))?;
    let partner = req
        .partner
        .clone()
        .unwrap_or_else(|| contract.default_partner.clone());
    let (sha256, bytes) = sha256_file(&req.path, file_name)?;
    let tpath = table_path(&contract.name);

    // Same bytes already ingested into this dataset: say so and do nothing.
    if !req.force
        && let Some(table) = lake.load_table(&tpath, None).await?
    {
        for c in table_history(&table, &contract.name).await? {
            let Some(m) = c.marmot else { continue };
            if m.get("sha256").and_then(|s| s.as_str()) == Some(sha256.as_str()) {
                let mut prior: IngestSummary = serde_json::from_value(m)
                    .map_err(|e| LakeError::Internal(format!("commit metadata: {e}")))?;
                prior.already_ingested = true;
                prior.table_version = Some(c.version);
                return Ok(prior);
            }
        }
    }

    // A mapped file is turned into the contract's shape first (a temporary CSV, removed when
    // this returns); the original stays what is hashed, kept and named.
    let ingest_id = new_ingest_id();
    let mut mapped_file = None;
    let mut mapping_used = None;
    if let Some(m) = &mapping {
        let tmp = TempFile(std::env::temp_dir().join(format!("marmot-mapped-{ingest_id}.csv")));
        let r = crate::mapping::apply(m, &req.path, file_name, &tmp.0).await?;
        mapping_used = Some(MappingUsed {
            name: m.name.clone(),
            version: m.version.clone(),
            source_rows: r.source_rows,
        });
        mapped_file = Some(tmp);
    }
    let read_path = mapped_file
        .as_ref()
        .map_or(req.path.as_path(), |t| t.0.as_path());

    // Whole-file checks before anything is written.
    let mut reader = Reader::open(read_path, file_name)?;
    let map = ColumnMap::resolve(&contract, &reader.schema(), file_name)?;
    let ignored_columns = map.ignored.clone();
    let lsoas: std::collections::HashSet<String> = manifest.lsoas.iter().cloned().collect();
    // In a 2021 lake, LSOA 2011 codes are converted to their best-fit LSOA 2021.
    let conversions = match manifest.geography {
        marmot_model::Vintage::Lsoa2021 => Some(crate::reference::change::conversions()?),
        marmot_model::Vintage::Lsoa2011 => None,
    };
    let mut validator = Validator::new(
        &contract,
        map,
        &lsoas,
        &manifest.place_name,
        pseudonymiser,
        req.today,
        req.period.map(|p| (p.from, p.to)),
        &partner,
        &ingest_id,
    );
    let threads = req.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    validator = validator.with_threads(threads);
    if let Some(c) = &conversions {
        validator = validator.with_lsoa_conversion(c);
    }
    // Real LSOAs outside the place are told apart from codes that are no LSOA at all.
    validator = validator.with_england(crate::reference::england::england(manifest.geography)?);
    if contract.area_kind() != marmot_model::AreaKind::Lsoa {
        validator = validator.with_areas(
            crate::reference::areas::in_place(contract.area_kind(), &manifest.local_authorities)?
                .into_iter()
                .collect(),
        );
    }
    let set_aside = contract.outside_place == marmot_model::OutsidePlace::SetAside;

    // Loaded now (for replacement), created only at commit time: a file that fails as a whole
    // leaves no trace, not even an empty table.
    let existing = lake.load_table(&tpath, None).await?;
    let mut summary = IngestSummary {
        ingest_id: ingest_id.clone(),
        dataset: contract.name.clone(),
        partner: partner.clone(),
        file: base_name.clone(),
        sha256,
        bytes,
        rows_read: 0,
        accepted: 0,
        rejected: 0,
        reasons: BTreeMap::new(),
        out_of_area: 0,
        suppressed_cells: 0,
        mapping: mapping_used,
        examples: Vec::new(),
        period: req.period,
        replaced_rows: 0,
        mode: req.mode,
        added_rows: 0,
        updated_rows: 0,
        removed_rows: 0,
        dry_run: req.dry_run,
        committed_at: None,
        raw_path: None,
        quarantine_path: None,
        ignored_columns,
        user: req.user.clone(),
        started_at: chrono::Utc::now().to_rfc3339(),
        table_version: None,
        already_ingested: false,
    };

    // Keys are only needed to find earlier rows sent again: a new table has none (and a first
    // load of many millions of rows keeps no key set in memory).
    let key_column = existing
        .as_ref()
        .and(contract.record_key())
        .map(|c| c.name.clone());
    let mut keys: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut staged = Staged::default();
    let mut raw_copy: Option<tokio::task::JoinHandle<Result<(), LakeError>>> = None;
    let result = async {
        // 1. The raw copy.
        let raw = format!(
            "raw/{}/{}/{}",
            contract.name,
            ingest_id,
            sanitise(&base_name)
        );
        // It runs on a task of its own beside the validation (the file is read from the page
        // cache twice rather than copied first and read after), and is waited for before the
        // commit; a failed ingest stops it before its files are discarded.
        staged.lake_files.push(raw.clone());
        summary.raw_path = Some(raw.clone());
        raw_copy = Some({
            let (lake, from) = (lake.clone(), req.path.clone());
            tokio::spawn(async move { copy_to_lake(&lake, &from, &raw).await })
        });

        // 2. Validate and write, batch by batch.
        let mut writer = curated_writer(lake, &contract, validator.schema(), &ingest_id)?;
        // Parquet encoding and upload run on a task of their own (a runtime worker), two
        // batches behind, so that this thread only validates: encoding was a fifth of its time.
        let (wtx, mut wrx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let write_task = tokio::spawn(async move {
            while let Some(b) = wrx.recv().await {
                writer.write(&b).await?;
            }
            Ok::<TableWriter, LakeError>(writer)
        });
        let join_writer = |t: tokio::task::JoinHandle<Result<TableWriter, LakeError>>| async {
            t.await
                .map_err(|e| LakeError::Internal(format!("the table writer stopped: {e}")))?
        };
        let mut quarantine = QuarantineWriter::new(lake, &contract.name, &ingest_id);
        progress.begin(
            &format!("ingest {} into {}", base_name, contract.name),
            bytes,
        );
        // Parse the file on its own thread (two batches ahead) while this one validates and
        // writes: parsing is a fifth of the work.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<InputBatch, LakeError>>(2);
        let parser = std::thread::spawn(move || {
            loop {
                let next = reader.next_batch().transpose();
                let stop = !matches!(next, Some(Ok(_)));
                if let Some(item) = next
                    && tx.send(item).is_err()
                {
                    break;
                }
                if stop {
                    break;
                }
            }
        });
        for item in rx.iter() {
            let InputBatch {
                batch,
                rows,
                broken,
                bytes_read,
            } = item?;
            // Rows read are counted from the input, independently of the validator's verdicts,
            // so that `rows_read == accepted + rejected` is a real check.
            summary.rows_read += (batch.num_rows() + broken.len()) as u64;
            let broken_rejections: Vec<Rejection> = broken
                .into_iter()
                .map(|b| Rejection {
                    row: b.row,
                    column: None,
                    kind: "malformed row".into(),
                    reason: b.reason.clone(),
                    problems: b.reason,
                    record: String::new(),
                })
                .collect();
            if summary.rows_read == (batch.num_rows() + broken_rejections.len()) as u64
                && bytes_read > 0
            {
                // The first batch: the file's rows estimated from its size, so that the
                // duplicate check's map is made once at about its final size.
                let per_byte = summary.rows_read as f64 / bytes_read as f64;
                validator.expect_rows((per_byte * bytes as f64 * 1.05) as usize);
            }
            // Each slice's accepted rows go to the writer as they are (the Parquet writer
            // gathers them into row groups): no copy into one batch again.
            let (parts, mut rejected) = validator.validate_parts(&batch, &rows)?;
            rejected.extend(broken_rejections);
            for accepted in &parts {
                summary.accepted += accepted.num_rows() as u64;
                if let Some(k) = &key_column {
                    collect_keys(accepted, k, &mut keys)?;
                }
            }
            for r in &rejected {
                if set_aside && r.kind == crate::validate::OUTSIDE_PLACE {
                    summary.out_of_area += 1;
                } else {
                    summary.rejected += 1;
                    *summary.reasons.entry(r.kind.clone()).or_default() += 1;
                }
            }
            rejected.sort_by_key(|r| r.row);
            for r in rejected
                .iter()
                .filter(|r| !(set_aside && r.kind == crate::validate::OUTSIDE_PLACE))
                .take(EXAMPLES.saturating_sub(summary.examples.len()))
            {
                summary.examples.push(describe_rejection(r));
            }
            for accepted in parts {
                if wtx.send(accepted).await.is_err() {
                    // The writer stopped: its error says why.
                    return Err(join_writer(write_task).await.err().unwrap_or_else(|| {
                        LakeError::Internal("the table writer stopped early".into())
                    }));
                }
            }
            quarantine.write(&rejected, &base_name).await?;
            progress.advance_to(bytes_read);
        }
        progress.end();
        drop(wtx);
        let mut writer = join_writer(write_task).await?;
        parser
            .join()
            .map_err(|_| LakeError::Internal("the file parser thread panicked".into()))?;
        if summary.rows_read == 0 {
            return Err(LakeError::file(
                file_name,
                "the file has a header but no data rows",
            ));
        }
        summary.examples.sort();
        summary.suppressed_cells = validator.suppressed_cells;
        summary.quarantine_path = quarantine.finish(&mut staged).await?;

        // 3. Period and replacement of the partner's earlier rows in it.
        if summary.period.is_none() {
            summary.period = validator
                .date_range
                .map(|(lo, hi)| Period::covering(date_of(lo), date_of(hi)));
        }
        // A submission with no accepted row takes nothing out: a broken file must not wipe
        // the partner's good rows.
        let mut removes = Vec::new();
        if let (Some(table), true) = (existing.as_ref(), summary.accepted > 0) {
            // A replacement's period is required (checked above).
            let scope = match (req.mode, req.period) {
                (SubmissionMode::Replace, Some(p)) => Scope::Period(p),
                _ => Scope::Keys,
            };
            let taken = take_out(
                table,
                &contract,
                &partner,
                scope,
                key_column.as_deref().map(|k| (k, &keys)),
                &mut writer,
            )
            .await?;
            summary.updated_rows = taken.updated;
            summary.removed_rows = taken.removed;
            summary.replaced_rows = taken.updated + taken.removed;
            removes = taken.removes;
        }
        summary.added_rows = summary.accepted.saturating_sub(summary.updated_rows);
        if req.mode == SubmissionMode::Replace
            && !req.force
            && !req.dry_run
            && summary.replaced_rows > REPLACE_RATIO * summary.accepted
        {
            return Err(LakeError::Refused(format!(
                "this replacement of {} would take out {} earlier rows of {partner} and bring {}: \
                 more than {REPLACE_RATIO} times as many; nothing was changed. Check it with a \
                 dry run, send it in append mode if it holds late records, or force it",
                summary
                    .period
                    .map(|p| format!("{}..{}", p.from, p.to))
                    .unwrap_or_default(),
                summary.replaced_rows,
                summary.accepted
            )));
        }
        let (adds, written) = writer.finish().await?;
        staged.table_files = written;
        if let Some(copy) = raw_copy.take() {
            copy.await
                .map_err(|e| LakeError::Internal(format!("the raw copy stopped: {e}")))??;
        }
        if req.dry_run {
            return Ok(());
        }

        fault_point("before-commit");
        summary.committed_at = Some(chrono::Utc::now().to_rfc3339());
        let meta =
            serde_json::to_value(&summary).map_err(|e| LakeError::Internal(e.to_string()))?;
        let mut table = match existing {
            Some(t) => t,
            None => {
                lake.open_or_create_table(&tpath, &contract.name, &curated_schema(&contract))
                    .await?
            }
        };
        let version = store::commit(&mut table, &contract.name, adds, removes, meta, None).await?;
        summary.table_version = Some(version);
        Ok::<(), LakeError>(())
    }
    .await;
    if let Err(e) = result {
        progress.end();
        if let Some(copy) = raw_copy.take() {
            // Stopped and waited for, so that nothing is written after the discard below.
            copy.abort();
            let _ = copy.await;
        }
        staged.discard(lake, &tpath).await;
        return Err(e);
    }
    if req.dry_run {
        // Nothing of a dry run stays: the raw copy, quarantine and data files go.
        staged.discard(lake, &tpath).await;
        summary.raw_path = None;
        summary.quarantine_path = None;
    }
    Ok(summary)
}

/// Files written by an ingest that are not yet referenced by a commit.
#[derive(Default)]
struct Staged {
    lake_files: Vec<String>,
    table_files: Vec<String>,
}

impl Staged {
    /// Deletes them (best effort: unreferenced files are invisible to readers anyway).
    async fn discard(self, lake: &Lake, table_rel: &str) {
        let store = lake.store();
        for p in self.lake_files {
            let _ = store.delete(&Path::from(p)).await;
        }
        let tstore = lake.table_store(table_rel);
        for p in self.table_files {
            let _ = tstore.delete(&Path::from(p)).await;
        }
    }
}

/// Test seam (feature `fault-injection`, test builds only): with `MARMOT_FAULT=<point>` the
/// process announces the point on stderr and waits there, so a test can kill it at the worst
/// moment (files written, commit not yet made).
#[cfg(feature = "fault-injection")]
fn fault_point(point: &str) {
    if std::env::var("MARMOT_FAULT").is_ok_and(|v| v == point) {
        eprintln!("marmot: fault point {point} reached; waiting");
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
}

/// Release and ordinary builds: no seam, nothing read from the environment.
#[cfg(not(feature = "fault-injection"))]
fn fault_point(_point: &str) {}

fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn describe_rejection(r: &Rejection) -> String {
    match &r.column {
        Some(c) => format!("row {}: column {c}: {}", r.row, r.reason),
        None => format!("row {}: {}", r.row, r.reason),
    }
}

/// Copies a local file into the lake byte-for-byte, streaming.
async fn copy_to_lake(lake: &Lake, from: &FsPath, to: &str) -> Result<(), LakeError> {
    let name = from.display().to_string();
    let f = tokio::fs::File::open(from)
        .await
        .map_err(|e| LakeError::file(&name, format!("cannot open: {e}")))?;
    // Large reads: tokio's file reads go through a blocking thread each, so small chunks cost
    // a context switch per few kilobytes.
    let mut f = tokio::io::BufReader::with_capacity(8 << 20, f);
    let mut w = BufWriter::new(lake.store(), Path::from(to));
    tokio::io::copy_buf(&mut f, &mut w)
        .await
        .map_err(|e| LakeError::io(to, e))?;
    w.shutdown().await.map_err(|e| LakeError::io(to, e))?;
    Ok(())
}

/// Which earlier rows of the partner a submission takes out.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// Rows whose record key the submission sends again (append).
    Keys,
    /// Every row dated in the period (replace).
    Period(Period),
}

/// What [`take_out`] did.
struct TakenOut {
    updated: u64,
    removed: u64,
    removes: Vec<deltalake::kernel::Remove>,
}

/// The record keys of accepted rows (already pseudonymised).
fn collect_keys(
    batch: &RecordBatch,
    key: &str,
    keys: &mut std::collections::HashSet<String>,
) -> Result<(), LakeError> {
    let col = batch
        .column(batch.schema().index_of(key)?)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| LakeError::Internal(format!("record key {key} is not text")))?;
    keys.extend(col.iter().flatten().map(str::to_string));
    Ok(())
}

/// Finds the partner's earlier rows in `scope`, writes the other rows of the affected files
/// back through `writer`, and returns what it took out: rows whose key is sent again count as
/// updated, the others as removed.
async fn take_out(
    table: &deltalake::DeltaTable,
    contract: &Contract,
    partner: &str,
    scope: Scope,
    keys: Option<(&str, &std::collections::HashSet<String>)>,
    writer: &mut TableWriter,
) -> Result<TakenOut, LakeError> {
    let date_col = contract.date_column.as_str();
    let mut out = TakenOut {
        updated: 0,
        removed: 0,
        removes: Vec::new(),
    };
    if matches!(scope, Scope::Keys) && keys.is_none_or(|(_, k)| k.is_empty()) {
        return Ok(out);
    }
    let period = match scope {
        Scope::Period(p) => Some(p),
        Scope::Keys => None,
    };
    for f in table_files(table, &contract.name)? {
        if !may_hold(&f, partner, date_col, period) {
            continue;
        }
        let batches = store::read_data_file(table, &f.path).await?;
        let mut keep_batches = Vec::new();
        let mut dropped = 0u64;
        for b in &batches {
            let schema = b.schema();
            let partners = b
                .column(schema.index_of(PARTNER_COLUMN)?)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| LakeError::Internal("partner column".into()))?;
            let dates = b
                .column(schema.index_of(date_col)?)
                .as_any()
                .downcast_ref::<Date32Array>()
                .ok_or_else(|| LakeError::Internal("date column".into()))?;
            let key_values = match keys {
                Some((k, _)) => Some(
                    b.column(schema.index_of(k)?)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .ok_or_else(|| LakeError::Internal("record key column".into()))?
                        .clone(),
                ),
                None => None,
            };
            let sent_again = |i: usize| match (&key_values, keys) {
                (Some(v), Some((_, set))) => v.is_valid(i) && set.contains(v.value(i)),
                _ => false,
            };
            let keep: BooleanArray = (0..b.num_rows())
                .map(|i| {
                    if partners.value(i) != partner {
                        return Some(true);
                    }
                    let again = sent_again(i);
                    let hit = match scope {
                        Scope::Keys => again,
                        Scope::Period(p) => {
                            dates.is_valid(i)
                                && (days(p.from)..=days(p.to)).contains(&dates.value(i))
                        }
                    };
                    if hit {
                        if again {
                            out.updated += 1;
                        } else {
                            out.removed += 1;
                        }
                    }
                    Some(!hit)
                })
                .collect();
            dropped += (b.num_rows() - keep.true_count()) as u64;
            keep_batches.push(arrow::compute::filter_record_batch(b, &keep)?);
        }
        if dropped == 0 {
            continue;
        }
        for k in &keep_batches {
            writer.write(k).await?;
        }
        out.removes.push(f.remove);
    }
    Ok(out)
}

/// Whether a file may hold rows of `partner` (within `period`, if given), judged from its
/// Delta stats.
fn may_hold(f: &DataFile, partner: &str, date_col: &str, period: Option<Period>) -> bool {
    let Some(stats) = &f.stats else { return true };
    let get = |which: &str, col: &str| {
        stats
            .get(which)
            .and_then(|m| m.get(col))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    if let (Some(lo), Some(hi)) = (
        get("minValues", PARTNER_COLUMN),
        get("maxValues", PARTNER_COLUMN),
    ) && (partner < lo.as_str() || partner > hi.as_str())
    {
        return false;
    }
    if let (Some(period), Some(lo), Some(hi)) = (
        period,
        get("minValues", date_col),
        get("maxValues", date_col),
    ) {
        let (from, to) = (period.from.to_string(), period.to.to_string());
        if hi < from || lo > to {
            return false;
        }
    }
    true
}

/// Writes rejected rows to `quarantine/<dataset>/<ingest id>.parquet`, created on first use.
struct QuarantineWriter<'a> {
    lake: &'a Lake,
    path: String,
    writer: Option<AsyncArrowWriter<BufWriter>>,
    ingest_id: String,
}

/// Schema of quarantine files.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ingest_id", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("row", DataType::Int64, false),
        Field::new("column", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("problems", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
    ]))
}

impl<'a> QuarantineWriter<'a> {
    fn new(lake: &'a Lake, dataset: &str, ingest_id: &str) -> Self {
        QuarantineWriter {
            lake,
            path: format!("quarantine/{dataset}/{ingest_id}.parquet"),
            writer: None,
            ingest_id: ingest_id.to_string(),
        }
    }

    async fn write(&mut self, rejected: &[Rejection], file: &str) -> Result<(), LakeError> {
        if rejected.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            self.writer = Some(AsyncArrowWriter::try_new(
                BufWriter::new(self.lake.store(), Path::from(self.path.as_str())),
                quarantine_schema(),
                None,
            )?);
        }
        let n = rejected.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.ingest_id.as_str(); n])),
            Arc::new(StringArray::from(vec![file; n])),
            Arc::new(Int64Array::from_iter_values(
                rejected.iter().map(|r| r.row as i64),
            )),
            Arc::new(StringArray::from_iter(
                rejected.iter().map(|r| r.column.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejected.iter().map(|r| r.kind.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejected.iter().map(|r| r.reason.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejected.iter().map(|r| r.problems.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejected.iter().map(|r| r.record.as_str()),
            )),
        ];
        let batch = RecordBatch::try_new(quarantine_schema(), cols)?;
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch).await?;
        }
        Ok(())
    }

    async fn finish(self, staged: &mut Staged) -> Result<Option<String>, LakeError> {
        match self.writer {
            None => Ok(None),
            Some(mut w) => {
                staged.lake_files.push(self.path.clone());
                w.finish().await?;
                Ok(Some(self.path))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_cover_whole_months() {
        let p = Period::parse("2020-04").expect("month");
        assert_eq!(p.from.to_string(), "2020-04-01");
        assert_eq!(p.to.to_string(), "2020-04-30");
        let p = Period::parse("2019-11..2020-02").expect("range");
        assert_eq!(
            (p.from.to_string(), p.to.to_string()),
            ("2019-11-01".into(), "2020-02-29".into())
        );
        assert!(Period::parse("2020-13").is_err());
        assert!(Period::parse("2020-05..2020-04").is_err());
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let c = Period::covering(d("2020-12-05"), d("2020-12-31"));
        assert_eq!((c.from, c.to), (d("2020-12-01"), d("2020-12-31")));
    }
}
