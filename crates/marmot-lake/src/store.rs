//! The lake root (an object_store URL) and its Delta tables.
//!
//! Layout under the root:
//! ```text
//! _marmot/lake.json                 manifest: place, LSOAs, format version (written last at init)
//! _marmot/demo/planted_signals.json what the demo generator planted (demo lakes only)
//! tables/<dataset>/                 curated Delta tables, one per contract
//! reference/<name>/                 reference Delta tables (geography, imd2019, population, esp2013)
//! raw/<dataset>/<ingest id>/<file>  partner files byte-for-byte, as received
//! quarantine/<dataset>/<ingest id>.parquet  rejected rows with row, column and reason
//! ```
//! Everything goes through object_store and deltalake, so `s3://bucket/prefix` takes the same
//! code path as a local directory.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Add, CommitInfo, Remove, StructType};
use deltalake::protocol::{ColumnCountStat, ColumnValueStat, DeltaOperation, SaveMode, Stats};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::LakeError;

/// Version of the lake layout written in the manifest.
pub const LAKE_FORMAT: u32 = 2;
/// Where the manifest lives, relative to the root.
pub const MANIFEST_PATH: &str = "_marmot/lake.json";
/// Key under which Marmot records its own metadata in each Delta commit.
pub const COMMIT_KEY: &str = "marmot";

/// The manifest: what place a lake covers. Written last when a lake is initialised, so a lake
/// with a manifest is complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Layout version.
    pub format: u32,
    /// Place id.
    pub place_id: String,
    /// Place name.
    pub place_name: String,
    /// The geography vintage (LSOA 2021 or 2011) every code in the lake is of.
    pub geography: marmot_model::Vintage,
    /// The place's local authority codes.
    pub local_authorities: Vec<String>,
    /// The place's LSOA codes (the geography every row must fall in).
    pub lsoas: Vec<String>,
    /// When the lake was initialised (RFC 3339).
    pub created_at: String,
    /// Marmot version that initialised it.
    pub created_by: String,
}

/// A lake: a root URL and the object store behind it.
#[derive(Clone)]
pub struct Lake {
    url: Url,
    store: Arc<dyn ObjectStore>,
    options: HashMap<String, String>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lake({})", self.url)
    }
}

impl Lake {
    /// Opens a lake at a local directory (created if missing) or an object store URL
    /// (`file:///...`, `s3://bucket/prefix`). Storage options (credentials, endpoint) for
    /// remote stores come from `options` or the environment, never from the repository.
    pub fn open(location: &str, options: HashMap<String, String>) -> Result<Lake, LakeError> {
        let url = if location.contains("://") {
            let mut u = Url::parse(location)
                .map_err(|e| LakeError::Config(format!("lake URL '{location}': {e}")))?;
            if !u.path().ends_with('/') {
                u.set_path(&format!("{}/", u.path()));
            }
            u
        } else {
            let p = std::path::Path::new(location);
            std::fs::create_dir_all(p).map_err(|e| LakeError::io(location, e))?;
            let abs = p.canonicalize().map_err(|e| LakeError::io(location, e))?;
            Url::from_directory_path(&abs)
                .map_err(|_| LakeError::Config(format!("lake path '{location}' is not absolute")))?
        };
        // Without explicit credentials the S3 client would go looking for cloud instance
        // credentials over the network; a lake's credentials must be given, never guessed.
        if matches!(url.scheme(), "s3" | "s3a") && !options.contains_key("aws_access_key_id") {
            return Err(LakeError::Config(format!(
                "the lake {url} needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (and AWS_ENDPOINT, AWS_ALLOW_HTTP for an S3-compatible server)"
            )));
        }
        crate::remote::register_delta_handlers();
        let (store, prefix) = crate::remote::store_for_url(&url, &options)?;
        let store: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(store, prefix));
        Ok(Lake {
            url,
            store,
            options,
        })
    }

    /// Checks that the lake's store answers (one small request): an unreachable server or a
    /// refused credential is one clear error before any work starts, not a failure halfway.
    pub async fn check_reachable(&self) -> Result<(), LakeError> {
        match self.store.head(&Path::from(MANIFEST_PATH)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(LakeError::Lake(format!(
                "the lake at {} cannot be reached: {e}",
                self.url
            ))),
        }
    }

    /// The root URL (with a trailing slash).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store rooted at the lake root.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Storage options passed to object stores and Delta tables.
    pub fn options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// The manifest, or `None` when the lake has not been initialised.
    pub async fn manifest(&self) -> Result<Option<Manifest>, LakeError> {
        match self.store.get(&Path::from(MANIFEST_PATH)).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                let format = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("format").and_then(serde_json::Value::as_u64));
                if let Some(f) = format.filter(|&f| f != u64::from(LAKE_FORMAT)) {
                    return Err(LakeError::Lake(format!(
                        "the lake at {} has layout {f}, and this Marmot reads layout {LAKE_FORMAT} \
                         (layout 1 named LSOA columns lsoa11cd; layout 2 names them lsoa_code in a \
                         lake of either geography): make a new lake with `marmot init` (add \
                         `--geography 2011` to keep LSOA 2011 codes) and ingest the original files \
                         again (the old lake keeps them under raw/)",
                        self.url
                    )));
                }
                let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                    LakeError::Lake(format!("{}{MANIFEST_PATH} is damaged: {e}", self.url))
                })?;
                Ok(Some(m))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The manifest, or a clear error saying how to create the lake.
    pub async fn require_manifest(&self) -> Result<Manifest, LakeError> {
        self.manifest().await?.ok_or_else(|| {
            LakeError::Lake(format!(
                "no Marmot lake at {} (run `marmot init` or `marmot demo generate` first)",
                self.url
            ))
        })
    }

    /// Writes a small JSON document (atomically replaced).
    pub async fn put_json<T: Serialize>(&self, path: &str, value: &T) -> Result<(), LakeError> {
        let bytes =
            serde_json::to_vec_pretty(value).map_err(|e| LakeError::Internal(e.to_string()))?;
        self.store
            .put(&Path::from(path), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Reads a small JSON document, `None` when absent.
    pub async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
    ) -> Result<Option<T>, LakeError> {
        match self.store.get(&Path::from(path)).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                Ok(Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| LakeError::Lake(format!("{path}: {e}")))?,
                ))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The URL of a table directory (`tables/admissions`, `reference/imd2019`).
    pub fn table_url(&self, rel: &str) -> Result<Url, LakeError> {
        self.url
            .join(&format!("{}/", rel.trim_end_matches('/')))
            .map_err(|e| LakeError::Internal(format!("table url {rel}: {e}")))
    }

    /// Loads a Delta table (latest, or at `version`); `None` when it does not exist.
    pub async fn load_table(
        &self,
        rel: &str,
        version: Option<u64>,
    ) -> Result<Option<DeltaTable>, LakeError> {
        // No log, no table (deltalake reports a missing local directory as a location error).
        let log = Path::from(format!("{}/_delta_log", rel.trim_end_matches('/')));
        if self
            .store
            .list(Some(&log))
            .next()
            .await
            .transpose()?
            .is_none()
        {
            return Ok(None);
        }
        let url = self.table_url(rel)?;
        let mut b = DeltaTableBuilder::from_url(url)
            .map_err(|e| LakeError::delta(rel, e))?
            .with_storage_options(self.options.clone());
        if let Some(v) = version {
            b = b.with_version(v);
        }
        match b.load().await {
            Ok(t) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(LakeError::delta(rel, e)),
        }
    }

    /// The object store rooted at a table's directory (where its data files go), whether or
    /// not the table exists yet.
    pub fn table_store(&self, rel: &str) -> Arc<dyn ObjectStore> {
        Arc::new(PrefixStore::new(
            self.store.clone(),
            rel.trim_end_matches('/'),
        ))
    }

    /// Loads a table, creating it empty with `schema` when it does not exist yet.
    pub async fn open_or_create_table(
        &self,
        rel: &str,
        name: &str,
        schema: &Schema,
    ) -> Result<DeltaTable, LakeError> {
        if let Some(t) = self.load_table(rel, None).await? {
            return Ok(t);
        }
        let delta_schema: StructType = schema
            .try_into_kernel()
            .map_err(|e| LakeError::delta(rel, e))?;
        // ensure_table_uri creates a local table directory; remote stores need none.
        let url = deltalake::ensure_table_uri(self.table_url(rel)?.as_str())
            .map_err(|e| LakeError::delta(rel, e))?;
        let table = DeltaTableBuilder::from_url(url)
            .map_err(|e| LakeError::delta(rel, e))?
            .with_storage_options(self.options.clone())
            .build()
            .map_err(|e| LakeError::delta(rel, e))?;
        table
            .create()
            .with_table_name(name)
            .with_columns(delta_schema.fields().cloned())
            .with_storage_options(self.options.clone())
            // Keep the whole history: reports must be traceable to the data they used.
            .with_configuration([("delta.enableExpiredLogCleanup", Some("false"))])
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(|e| LakeError::delta(rel, e))
    }
}

/// Marmot's metadata of one commit, with its version and time.
#[derive(Debug, Clone)]
pub struct CommitRecord {
    /// Table version the commit made.
    pub version: u64,
    /// Commit time, ms since the epoch.
    pub timestamp: Option<i64>,
    /// Delta operation name (WRITE, CREATE TABLE...).
    pub operation: Option<String>,
    /// Marmot's JSON recorded under [`COMMIT_KEY`], if any.
    pub marmot: Option<serde_json::Value>,
}

/// Every commit of a table, newest first, read from the log files so versions are exact.
pub async fn table_history(table: &DeltaTable, name: &str) -> Result<Vec<CommitRecord>, LakeError> {
    use deltalake::logstore::get_actions;
    let Some(latest) = table.version() else {
        return Ok(Vec::new());
    };
    let store = table.log_store();
    let mut out = Vec::new();
    for v in (0..=latest).rev() {
        let Some(bytes) = store
            .read_commit_entry(v)
            .await
            .map_err(|e| LakeError::delta(name, e))?
        else {
            continue;
        };
        let actions = get_actions(v, &bytes).map_err(|e| LakeError::delta(name, e))?;
        let ci: Option<CommitInfo> = actions.into_iter().find_map(|a| match a {
            Action::CommitInfo(ci) => Some(ci),
            _ => None,
        });
        let (timestamp, operation, marmot) = match ci {
            Some(ci) => (
                ci.timestamp,
                ci.operation.clone(),
                ci.info.get(COMMIT_KEY).cloned(),
            ),
            None => (None, None, None),
        };
        out.push(CommitRecord {
            version: v,
            timestamp,
            operation,
            marmot,
        });
    }
    Ok(out)
}

/// One file of the current snapshot.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Path relative to the table root.
    pub path: String,
    /// Rows, from the Delta stats.
    pub rows: Option<usize>,
    /// Parsed Delta stats JSON.
    pub stats: Option<serde_json::Value>,
    /// The remove action for this file, ready to commit.
    pub remove: Remove,
}

/// The files of the table's current snapshot.
pub fn table_files(table: &DeltaTable, name: &str) -> Result<Vec<DataFile>, LakeError> {
    let snap = table.snapshot().map_err(|e| LakeError::delta(name, e))?;
    Ok(snap
        .log_data()
        .iter()
        .map(|f| DataFile {
            path: f.path().to_string(),
            rows: f.num_records(),
            stats: f.stats().and_then(|s| serde_json::from_str(&s).ok()),
            remove: f.remove_action(true),
        })
        .collect())
}

/// Total rows of the current snapshot (from the Delta stats).
pub fn table_rows(table: &DeltaTable, name: &str) -> Result<u64, LakeError> {
    Ok(table_files(table, name)?
        .iter()
        .map(|f| f.rows.unwrap_or(0) as u64)
        .sum())
}

/// Commits adds and removes with Marmot's metadata as ONE Delta commit: readers see all of it
/// or none. Fails (rather than retrying blindly) when another writer committed in between.
pub async fn commit(
    table: &mut DeltaTable,
    name: &str,
    adds: Vec<Add>,
    removes: Vec<Remove>,
    marmot: serde_json::Value,
    predicate: Option<String>,
) -> Result<u64, LakeError> {
    let snap = table.snapshot().map_err(|e| LakeError::delta(name, e))?;
    let mode = if removes.is_empty() {
        SaveMode::Append
    } else {
        SaveMode::Overwrite
    };
    let mut actions: Vec<Action> = adds.into_iter().map(Action::from).collect();
    actions.extend(removes.into_iter().map(Action::Remove));
    let op = DeltaOperation::Write {
        mode,
        partition_by: None,
        predicate,
    };
    let meta = HashMap::from([(COMMIT_KEY.to_string(), marmot)]);
    let done = CommitBuilder::from(CommitProperties::default().with_metadata(meta))
        .with_actions(actions)
        .with_max_retries(0)
        .build(Some(snap as &dyn TableReference), table.log_store(), op)
        .await
        .map_err(|e| LakeError::delta(name, e))?;
    let v = done.version();
    table.state = Some(done.snapshot);
    Ok(v)
}

/// Writes batches into Parquet data files in a table's directory, rolling to a new file every
/// `rows_per_file` rows, and returns Delta `Add` actions with statistics. Nothing is visible
/// until the adds are committed; [`TableWriter::abort`] deletes what was written.
///
/// Curated tables are laid out by calendar quarter of the dataset's date column
/// ([`TableWriter::partitioned_by_quarter`]): `period=2020Q3/part-<ingest>-00000.zstd.parquet`.
/// The quarter is a directory only, not a Delta partition column: the date stays in the file,
/// and each file's Delta statistics (min/max per column) let a query for one period skip the
/// files of every other quarter.
pub struct TableWriter {
    store: Arc<dyn ObjectStore>,
    schema: arrow::datatypes::SchemaRef,
    prefix: String,
    rows_per_file: usize,
    partition: Option<usize>,
    open: std::collections::BTreeMap<String, OpenFile>,
    adds: Vec<Add>,
    written: Vec<String>,
    seq: usize,
    encoding: Encoding,
}

/// How a table's files are encoded: the Parquet settings, and which columns get a min and max
/// in the Delta statistics.
#[derive(Clone)]
struct Encoding {
    props: WriterProperties,
    /// Per column: false for the distinct columns ([`TableWriter::distinct_columns`]).
    ranged: Arc<[bool]>,
}

/// A file being written: its batches are encoded and uploaded by a task of its own
/// ([`file_task`]), so that the files of different quarters are encoded on different cores.
struct OpenFile {
    tx: tokio::sync::mpsc::Sender<RecordBatch>,
    task: tokio::task::JoinHandle<Result<Add, LakeError>>,
    rows: usize,
}

/// Writes the batches it receives into one Parquet file at `path` and returns its Delta `Add`
/// (with statistics) once the sender is dropped.
fn file_task(
    store: Arc<dyn ObjectStore>,
    schema: arrow::datatypes::SchemaRef,
    path: String,
    encoding: Encoding,
) -> OpenFile {
    // Two batches queued: enough to keep the encoder busy, little memory held.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let task = tokio::spawn(async move {
        let mut writer = AsyncArrowWriter::try_new(
            BufWriter::new(store, Path::from(path.as_str())),
            schema.clone(),
            Some(encoding.props),
        )?;
        let mut stats = StatsAcc::new(&schema, encoding.ranged);
        let mut rows = 0;
        while let Some(batch) = rx.recv().await {
            writer.write(&batch).await?;
            stats.update(&batch);
            rows += batch.num_rows();
        }
        writer.finish().await?;
        Ok(Add {
            size: writer.bytes_written() as i64,
            path,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(stats.to_json(rows)),
            ..Default::default()
        })
    });
    OpenFile { tx, task, rows: 0 }
}

/// The outcome of a file's task.
async fn file_done(f: OpenFile) -> Result<Add, LakeError> {
    drop(f.tx);
    joined(f.task).await
}

/// A file task's `Add`, or why it has none.
async fn joined(task: tokio::task::JoinHandle<Result<Add, LakeError>>) -> Result<Add, LakeError> {
    task.await
        .map_err(|e| LakeError::Internal(format!("a Parquet file writer stopped: {e}")))?
}

/// The directory of a date's quarter (`period=2020Q3`).
pub fn quarter_dir(days_since_epoch: i32) -> String {
    quarter_dir_of(quarter_number(days_since_epoch))
}

/// The directory of a [`quarter_number`].
fn quarter_dir_of(q: i32) -> String {
    format!("period={}Q{}", q.div_euclid(4), q.rem_euclid(4) + 1)
}

/// The calendar quarter of a date as one number: year * 4 + (quarter - 1).
fn quarter_number(days_since_epoch: i32) -> i32 {
    use chrono::Datelike;
    let d = crate::validate::date_of(days_since_epoch);
    d.year() * 4 + (d.month0() / 3) as i32
}

impl TableWriter {
    /// A writer into a table's directory (`store` is rooted there, see [`Lake::table_store`]);
    /// file names start with `prefix` (e.g. the ingest id).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        schema: arrow::datatypes::SchemaRef,
        prefix: &str,
    ) -> TableWriter {
        let encoding = Encoding {
            props: writer_properties(),
            ranged: schema.fields().iter().map(|_| true).collect(),
        };
        TableWriter {
            store,
            schema,
            prefix: prefix.to_string(),
            rows_per_file: 4_000_000,
            partition: None,
            open: std::collections::BTreeMap::new(),
            adds: Vec::new(),
            written: Vec::new(),
            seq: 0,
            encoding,
        }
    }

    /// Marks columns whose values are almost all distinct and in no useful order (pseudonyms):
    /// they are written without a dictionary, which such a column outgrows within each row
    /// group anyway (the writer then falls back to plain encoding), so building it is wasted
    /// work: about a tenth of the Parquet encoding time of an admissions file, for the same
    /// file size. Their Delta statistics keep the null count but no min and max: a file's
    /// range of keyed hashes spans nearly all of them, so it never lets a query skip the file,
    /// and finding it compared every value twice.
    pub fn distinct_columns<'c>(
        mut self,
        columns: impl IntoIterator<Item = &'c str>,
    ) -> TableWriter {
        let mut b = writer_properties().into_builder();
        let mut ranged = vec![true; self.schema.fields().len()];
        for c in columns {
            b = b.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(c), false);
            if let Ok(i) = self.schema.index_of(c) {
                ranged[i] = false;
            }
        }
        self.encoding = Encoding {
            props: b.build(),
            ranged: ranged.into(),
        };
        self
    }

    /// Splits rows into one directory per calendar quarter of `column` (a date column).
    pub fn partitioned_by_quarter(mut self, column: &str) -> Result<TableWriter, LakeError> {
        let i = self.schema.index_of(column)?;
        if self.schema.field(i).data_type() != &arrow::datatypes::DataType::Date32 {
            return Err(LakeError::Internal(format!(
                "partition column {column} is not a date"
            )));
        }
        self.partition = Some(i);
        Ok(self)
    }

    /// Appends a batch.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Some(pi) = self.partition else {
            return self.write_to(String::new(), batch).await;
        };
        use arrow::array::{Array as _, AsArray};
        let dates = batch
            .column(pi)
            .as_primitive_opt::<arrow::datatypes::Date32Type>()
            .ok_or_else(|| LakeError::Internal("partition column is not a date".into()))?;
        // Rows grouped by quarter as a number (year * 4 + quarter index), so that a row costs
        // no string: the directory name is made once per group. Rows mostly arrive in date
        // order, so the previous row's quarter is reused for the same day.
        const UNKNOWN: i32 = i32::MAX;
        let mut groups: std::collections::BTreeMap<i32, Vec<u32>> =
            std::collections::BTreeMap::new();
        let mut last: Option<(i32, i32)> = None;
        for r in 0..batch.num_rows() {
            let quarter = if dates.is_valid(r) {
                let d = dates.value(r);
                match last {
                    Some((ld, q)) if ld == d => q,
                    _ => {
                        let q = quarter_number(d);
                        last = Some((d, q));
                        q
                    }
                }
            } else {
                UNKNOWN
            };
            groups.entry(quarter).or_default().push(r as u32);
        }
        let dir = |q: i32| {
            if q == UNKNOWN {
                "period=unknown".to_string()
            } else {
                quarter_dir_of(q)
            }
        };
        if groups.len() == 1 {
            let q = groups.into_keys().next().unwrap_or(UNKNOWN);
            return self.write_to(dir(q), batch).await;
        }
        for (q, rows) in groups {
            let part =
                arrow::compute::take_record_batch(batch, &arrow::array::UInt32Array::from(rows))?;
            self.write_to(dir(q), &part).await?;
        }
        Ok(())
    }

    async fn write_to(&mut self, key: String, batch: &RecordBatch) -> Result<(), LakeError> {
        if !self.open.contains_key(&key) {
            let name = format!("part-{}-{:05}.zstd.parquet", self.prefix, self.seq);
            let path = if key.is_empty() {
                name
            } else {
                format!("{key}/{name}")
            };
            self.seq += 1;
            self.written.push(path.clone());
            self.open.insert(
                key.clone(),
                file_task(
                    self.store.clone(),
                    self.schema.clone(),
                    path,
                    self.encoding.clone(),
                ),
            );
        }
        let f = self
            .open
            .get_mut(&key)
            .ok_or_else(|| LakeError::Internal("no open file".into()))?;
        if f.tx.send(batch.clone()).await.is_err() {
            // The file's task stopped early: its error says why.
            if let Some(f) = self.open.remove(&key) {
                file_done(f).await?;
            }
            return Err(LakeError::Internal("a Parquet file writer stopped".into()));
        }
        f.rows += batch.num_rows();
        if f.rows >= self.rows_per_file {
            self.close(&key).await?;
        }
        Ok(())
    }

    async fn close(&mut self, key: &str) -> Result<(), LakeError> {
        if let Some(f) = self.open.remove(key) {
            self.adds.push(file_done(f).await?);
        }
        Ok(())
    }

    /// Closes the last files and returns the adds (not yet committed). Every file is told to
    /// finish before the first is waited for, so their last row groups are encoded at once.
    pub async fn finish(mut self) -> Result<(Vec<Add>, Vec<String>), LakeError> {
        let open = std::mem::take(&mut self.open);
        let tasks: Vec<_> = open
            .into_values()
            .map(|f| {
                drop(f.tx);
                f.task
            })
            .collect();
        for task in tasks {
            self.adds.push(joined(task).await?);
        }
        Ok((self.adds, self.written))
    }

    /// Deletes every file written (best effort; unreferenced files are invisible anyway),
    /// once the files still open are no longer being written.
    pub async fn abort(mut self) {
        for (_, f) in std::mem::take(&mut self.open) {
            let _ = file_done(f).await;
        }
        for p in &self.written {
            let _ = self.store.delete(&Path::from(p.as_str())).await;
        }
    }
}

/// Parquet settings for lake files: zstd (level 1: most of the size gain at a fraction of the
/// CPU of level 3, measured by the ingest benchmark), page-level statistics (column and offset indexes) for
/// pruning, row groups of 256k rows.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build()
}

/// Per-column min, max and null count over the batches of one file, in the Delta stats format.
struct StatsAcc {
    names: Vec<String>,
    /// Per column: whether its min and max are kept.
    ranged: Arc<[bool]>,
    mins: Vec<Option<Val>>,
    maxs: Vec<Option<Val>>,
    nulls: Vec<i64>,
}

#[derive(Clone, PartialEq, PartialOrd)]
enum Val {
    I(i64),
    F(f64),
    S(String),
    B(bool),
    D(i32),
}

impl StatsAcc {
    fn new(schema: &Schema, ranged: Arc<[bool]>) -> StatsAcc {
        let n = schema.fields().len();
        StatsAcc {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            ranged,
            mins: vec![None; n],
            maxs: vec![None; n],
            nulls: vec![0; n],
        }
    }

    fn update(&mut self, batch: &RecordBatch) {
        use arrow::array::AsArray;
        use arrow::compute::{max, max_boolean, max_string, min, min_boolean, min_string};
        use arrow::datatypes::{DataType as A, Date32Type, Float64Type, Int32Type, Int64Type};
        for (i, c) in batch.columns().iter().enumerate() {
            self.nulls[i] += c.null_count() as i64;
            if !self.ranged.get(i).copied().unwrap_or(true) {
                continue;
            }
            let mm: Option<(Val, Val)> = match c.data_type() {
                A::Int32 => {
                    let p = c.as_primitive::<Int32Type>();
                    min(p)
                        .zip(max(p))
                        .map(|(a, b)| (Val::I(a.into()), Val::I(b.into())))
                }
                A::Int64 => {
                    let p = c.as_primitive::<Int64Type>();
                    min(p).zip(max(p)).map(|(a, b)| (Val::I(a), Val::I(b)))
                }
                A::Float64 => {
                    let p = c.as_primitive::<Float64Type>();
                    min(p)
                        .zip(max(p))
                        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
                        .map(|(a, b)| (Val::F(a), Val::F(b)))
                }
                A::Date32 => {
                    let p = c.as_primitive::<Date32Type>();
                    min(p).zip(max(p)).map(|(a, b)| (Val::D(a), Val::D(b)))
                }
                A::Boolean => {
                    let p = c.as_boolean();
                    min_boolean(p)
                        .zip(max_boolean(p))
                        .map(|(a, b)| (Val::B(a), Val::B(b)))
                }
                A::Utf8 => {
                    let p = c.as_string::<i32>();
                    min_string(p)
                        .zip(max_string(p))
                        .map(|(a, b)| (Val::S(a.to_string()), Val::S(b.to_string())))
                }
                _ => None,
            };
            if let Some((lo, hi)) = mm {
                if self.mins[i].as_ref().is_none_or(|m| lo < *m) {
                    self.mins[i] = Some(lo);
                }
                if self.maxs[i].as_ref().is_none_or(|m| hi > *m) {
                    self.maxs[i] = Some(hi);
                }
            }
        }
    }

    fn to_json(&self, rows: usize) -> String {
        let js = |v: &Val| match v {
            Val::I(i) => serde_json::json!(i),
            Val::F(f) => serde_json::json!(f),
            Val::S(s) => serde_json::json!(s),
            Val::B(b) => serde_json::json!(b),
            Val::D(d) => {
                serde_json::json!(crate::validate::date_of(*d).format("%Y-%m-%d").to_string())
            }
        };
        let mut s = Stats {
            num_records: rows as i64,
            ..Default::default()
        };
        for (i, name) in self.names.iter().enumerate() {
            s.null_count
                .insert(name.clone(), ColumnCountStat::Value(self.nulls[i]));
            if let (Some(lo), Some(hi)) = (&self.mins[i], &self.maxs[i]) {
                s.min_values
                    .insert(name.clone(), ColumnValueStat::Value(js(lo)));
                s.max_values
                    .insert(name.clone(), ColumnValueStat::Value(js(hi)));
            }
        }
        serde_json::to_string(&s).unwrap_or_else(|_| format!("{{\"numRecords\":{rows}}}"))
    }
}

/// Reads every row of one data file of a table (used to rewrite files on resubmission).
pub async fn read_data_file(table: &DeltaTable, path: &str) -> Result<Vec<RecordBatch>, LakeError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = table
        .object_store()
        .get(&Path::from(path))
        .await?
        .bytes()
        .await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_lake_without_credentials_is_a_configuration_error_not_a_network_probe() {
        let err = Lake::open("s3://bucket/prefix", HashMap::new()).expect_err("no credentials");
        assert!(matches!(err, LakeError::Config(_)), "{err}");
        assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
    }

    #[test]
    fn quarter_directories_at_quarter_and_epoch_boundaries() {
        // Days since 1970-01-01.
        assert_eq!(quarter_dir(-1), "period=1969Q4");
        assert_eq!(quarter_dir(0), "period=1970Q1");
        assert_eq!(quarter_dir(18_352), "period=2020Q1"); // 2020-03-31
        assert_eq!(quarter_dir(18_353), "period=2020Q2"); // 2020-04-01
        assert_eq!(quarter_dir(18_627), "period=2020Q4"); // 2020-12-31
        assert!(quarter_number(18_627) < quarter_number(18_628)); // into 2021Q1
    }

    /// A reader of one Parquet file a [`TableWriter`] wrote into `store`.
    async fn parquet_file(
        store: &Arc<dyn ObjectStore>,
        path: &str,
    ) -> parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<bytes::Bytes> {
        let bytes = store
            .get(&Path::from(path))
            .await
            .expect("file")
            .bytes()
            .await
            .expect("bytes");
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
    }

    #[tokio::test]
    async fn distinct_columns_have_no_dictionary_nor_range_and_read_back_unchanged() {
        use arrow::array::{AsArray, StringArray};
        use arrow::datatypes::{DataType, Field};
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let schema = Arc::new(Schema::new(vec![
            Field::new("person", DataType::Utf8, false),
            Field::new("sex", DataType::Utf8, false),
        ]));
        let mut w =
            TableWriter::new(store.clone(), schema.clone(), "t").distinct_columns(["person"]);
        let people: Vec<String> = (0..1000).map(|i| format!("{:032x}", i * 7919)).collect();
        let sexes: Vec<&str> = (0..1000)
            .map(|i| if i % 3 == 0 { "female" } else { "male" })
            .collect();
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(people.clone())),
                Arc::new(StringArray::from(sexes.clone())),
            ],
        )
        .expect("batch");
        w.write(&b).await.expect("write");
        let (adds, _) = w.finish().await.expect("finish");
        assert_eq!(adds.len(), 1);
        let stats: serde_json::Value =
            serde_json::from_str(adds[0].stats.as_deref().unwrap_or_default()).expect("stats");
        assert_eq!(stats["nullCount"]["person"], 0, "{stats}");
        assert!(
            stats["minValues"].get("person").is_none(),
            "no range for person: {stats}"
        );
        assert!(
            stats["maxValues"].get("person").is_none(),
            "no range for person: {stats}"
        );
        assert_eq!(stats["minValues"]["sex"], "female", "{stats}");
        assert_eq!(stats["maxValues"]["sex"], "male", "{stats}");
        let builder = parquet_file(&store, &adds[0].path).await;
        let rg = builder.metadata().row_group(0);
        assert!(
            rg.column(0).dictionary_page_offset().is_none(),
            "person has no dictionary"
        );
        assert!(
            rg.column(1).dictionary_page_offset().is_some(),
            "sex keeps its dictionary"
        );
        let back: Vec<RecordBatch> = builder
            .build()
            .expect("reader")
            .collect::<Result<_, _>>()
            .expect("batches");
        let got: Vec<String> = back
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(got, people);
    }

    #[tokio::test]
    async fn rows_are_split_by_quarter_and_none_is_lost_or_misplaced() {
        use arrow::array::{Array as _, AsArray, Date32Array, Int64Array};
        use arrow::datatypes::{DataType, Date32Type, Field, Int64Type};
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("day", DataType::Date32, true),
        ]));
        let mut w = TableWriter::new(store.clone(), schema.clone(), "t")
            .partitioned_by_quarter("day")
            .expect("date column");
        // Days from 2019-12-25 over 200 days, out of order, with a missing date.
        let base = 18_255; // 2019-12-25
        let days: Vec<Option<i32>> = (0..200)
            .map(|i| (i != 7).then_some(base + (i * 37) % 200))
            .collect();
        for chunk in (0..200).collect::<Vec<i64>>().chunks(64) {
            let ids = Int64Array::from(chunk.to_vec());
            let ds = Date32Array::from(chunk.iter().map(|&i| days[i as usize]).collect::<Vec<_>>());
            let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(ds)])
                .expect("batch");
            w.write(&b).await.expect("write");
        }
        let (adds, written) = w.finish().await.expect("finish");
        assert_eq!(adds.len(), written.len());
        let mut seen = Vec::new();
        for add in &adds {
            let dir = add.path.split('/').next().unwrap_or_default().to_string();
            let reader = parquet_file(&store, &add.path)
                .await
                .build()
                .expect("reader");
            for b in reader {
                let b = b.expect("batch");
                let ids = b.column(0).as_primitive::<Int64Type>();
                let ds = b.column(1).as_primitive::<Date32Type>();
                for r in 0..b.num_rows() {
                    let want = if ds.is_valid(r) {
                        quarter_dir(ds.value(r))
                    } else {
                        "period=unknown".to_string()
                    };
                    assert_eq!(dir, want, "row {} in the wrong directory", ids.value(r));
                    seen.push(ids.value(r));
                }
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<i64>>(), "every row once");
        let dirs: std::collections::BTreeSet<String> = adds
            .iter()
            .map(|a| a.path.split('/').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            dirs.into_iter().collect::<Vec<_>>(),
            [
                "period=2019Q4",
                "period=2020Q1",
                "period=2020Q2",
                "period=2020Q3",
                "period=unknown"
            ]
        );
    }

    #[test]
    fn a_local_lake_is_a_directory_url() {
        let dir = tempfile::tempdir().expect("tmp");
        let lake =
            Lake::open(&dir.path().join("l").display().to_string(), HashMap::new()).expect("open");
        assert_eq!(lake.url().scheme(), "file");
        assert!(lake.url().path().ends_with("/l/"));
    }
}
