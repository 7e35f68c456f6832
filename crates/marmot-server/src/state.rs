//! Shared server state: the lake, the current engine snapshot (re-opened when the lake changes),
//! definitions, tokens, and caches keyed by data version so a stale answer is never served.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::NaiveDate;
use marmot_engine::indicators::Reference;
use marmot_engine::{Engine, EngineOptions};
use marmot_lake::Lake;
use marmot_model::{IndicatorDef, SignalDef};

use crate::auth::TokenStore;
use crate::disclosure::Pattern;
use crate::error::{ApiError, ApiResult};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub addr: String,
    /// Lake location.
    pub lake: String,
    /// Object-store options (credentials from the environment).
    pub lake_options: HashMap<String, String>,
    /// Query definitions directory (None: built in).
    pub queries: Option<PathBuf>,
    /// Dashboard definitions directory.
    pub dashboards: PathBuf,
    /// Tokens file.
    pub tokens: PathBuf,
    /// Requests without a token are refused (otherwise they are viewers).
    pub require_token: bool,
    /// Tokens held in memory only (the demo's), in addition to the file's.
    pub ephemeral_tokens: Vec<crate::auth::TokenRecord>,
    /// Limits of ad-hoc SQL.
    pub sql: SqlLimits,
    /// Largest request body (uploads), bytes.
    pub max_body: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// How often to look for new data versions in the lake.
    pub reload_every: Duration,
    /// Where queries run (local, or a Ballista cluster).
    pub engine: marmot_engine::EngineKind,
    /// K, the disclosure threshold below analyst: counts 1..K-1 are withheld, and partner
    /// datasets reach ad-hoc SQL only as groups of at least K records. At least
    /// [`crate::sql_guard::MIN_THRESHOLD`]; raises (never lowers) an indicator's own threshold.
    pub disclosure_threshold: u64,
}

/// Limits of `POST /api/v1/sql`.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Most rows returned.
    pub max_rows: usize,
    /// Longest a query may run.
    pub timeout: Duration,
    /// Memory budget of one query, bytes.
    pub memory: usize,
    /// Queries in flight at once.
    pub concurrency: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_rows: 10_000,
            timeout: Duration::from_secs(30),
            memory: 1 << 30,
            concurrency: 2,
        }
    }
}

impl ServerConfig {
    /// Defaults for a lake: 127.0.0.1:8080, `./dashboards`, `<config>/marmot/tokens.toml`.
    pub fn new(lake: &str) -> ServerConfig {
        ServerConfig {
            addr: "127.0.0.1:8080".into(),
            lake: lake.into(),
            lake_options: HashMap::new(),
            queries: None,
            dashboards: PathBuf::from("dashboards"),
            tokens: default_tokens_path(),
            require_token: false,
            ephemeral_tokens: Vec::new(),
            sql: SqlLimits::default(),
            max_body: 512 << 20,
            request_timeout: Duration::from_secs(120),
            reload_every: Duration::from_secs(30),
            engine: marmot_engine::EngineKind::Local,
            disclosure_threshold: marmot_stats::disclosure::DEFAULT_THRESHOLD,
        }
    }
}

/// `$MARMOT_TOKENS`, else `~/.config/marmot/tokens.toml`.
pub fn default_tokens_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MARMOT_TOKENS") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".config/marmot/tokens.toml")
}

/// One consistent view of the lake: engines at fixed table versions and what derives from it.
pub struct Snapshot {
    /// Engine for the server's own aggregate queries (indicators, triggers, extracts).
    pub engine: Engine,
    /// Engine for analysts' ad-hoc SQL: the same table versions, identifier columns hidden,
    /// a memory budget.
    pub sql_engine: Engine,
    /// Reference geography and population.
    pub reference: Reference,
    /// Last data date of each curated dataset.
    pub data_end: BTreeMap<String, NaiveDate>,
    /// First data date of each curated dataset.
    pub data_start: BTreeMap<String, NaiveDate>,
    /// `table@version;...` of every registered table: the cache key of everything derived.
    pub versions: String,
    /// Generation number (increases at each reload).
    pub generation: u64,
}

impl Snapshot {
    /// Opens the lake at its current versions.
    pub async fn open(
        lake: &Lake,
        generation: u64,
        sql: &SqlLimits,
        pins: &BTreeMap<String, u64>,
        engine_kind: &marmot_engine::EngineKind,
    ) -> ApiResult<Snapshot> {
        let engine = Engine::open_with(
            lake,
            &EngineOptions {
                versions: pins.clone(),
                only_pinned: !pins.is_empty(),
                engine: engine_kind.clone(),
                ..EngineOptions::default()
            },
        )
        .await?;
        let sql_engine = Engine::open_with(
            lake,
            &EngineOptions {
                versions: engine
                    .tables()
                    .iter()
                    .map(|t| (t.name.clone(), t.version))
                    .collect(),
                only_pinned: true,
                memory_limit: Some(sql.memory),
                hide_identifiers: true,
                engine: engine_kind.clone(),
            },
        )
        .await?;
        let reference = Reference::load(&engine).await?;
        let mut data_end = BTreeMap::new();
        let mut data_start = BTreeMap::new();
        for c in engine.contracts() {
            if !engine.tables().iter().any(|t| t.name == c.name) {
                continue;
            }
            let b = engine
                .sql(&format!(
                    "SELECT CAST(max(\"{0}\") AS DATE) AS d, CAST(min(\"{0}\") AS DATE) AS s \
                     FROM \"{1}\"",
                    c.date_column, c.name
                ))
                .await?;
            if let Some(d) = first_date(&b) {
                data_end.insert(c.name.clone(), d);
            }
            let start: Vec<_> = b
                .iter()
                .map(|x| x.project(&[1]))
                .collect::<Result<_, _>>()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            if let Some(d) = first_date(&start) {
                data_start.insert(c.name.clone(), d);
            }
        }
        let versions = table_versions(&engine);
        Ok(Snapshot {
            engine,
            sql_engine,
            reference,
            data_end,
            data_start,
            versions,
            generation,
        })
    }

    /// The version of one registered table.
    pub fn version_of(&self, table: &str) -> Option<u64> {
        self.engine
            .tables()
            .iter()
            .find(|t| t.name == table)
            .map(|t| t.version)
    }
}

/// The date in the first column of the first row of a query result, if any.
pub fn first_date(batches: &[arrow::record_batch::RecordBatch]) -> Option<NaiveDate> {
    use arrow::array::{Array, Date32Array};
    let a = batches
        .first()?
        .column(0)
        .as_any()
        .downcast_ref::<Date32Array>()?;
    (!a.is_empty() && a.is_valid(0))
        .then(|| a.value_as_date(0))
        .flatten()
}

/// Parses `name@version;...` (as a report names its data version) into pins.
pub fn parse_versions(s: &str) -> ApiResult<BTreeMap<String, u64>> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('@').ok_or_else(|| {
                ApiError::bad("bad_versions", format!("'{p}' is not table@version"))
            })?;
            let v = v.parse::<u64>().map_err(|_| {
                ApiError::bad("bad_versions", format!("'{v}' is not a version number"))
            })?;
            Ok((n.to_string(), v))
        })
        .collect()
}

/// `name@version;...` sorted by name.
pub fn table_versions(engine: &Engine) -> String {
    let mut v: Vec<String> = engine
        .tables()
        .iter()
        .map(|t| format!("{}@{}", t.name, t.version))
        .collect();
    v.sort();
    v.join(";")
}

/// A cached response body.
#[derive(Clone)]
pub struct Cached {
    /// Content type.
    pub content_type: &'static str,
    /// Strong ETag (quoted).
    pub etag: String,
    /// Body.
    pub body: bytes_alias::Bytes,
}

/// `axum::body::Bytes`, named once.
pub mod bytes_alias {
    pub use axum::body::Bytes;
}

/// A small cache that forgets everything when full (answers are cheap to recompute; the point
/// is that a hot URL is served from memory). Concurrent misses of one key compute it once
/// (`enter`): after the cache forgets, a hot URL's waiting callers do not all recompute it.
pub struct ResponseCache {
    map: Mutex<HashMap<String, Cached>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    capacity: usize,
}

impl ResponseCache {
    fn new(capacity: usize) -> Self {
        ResponseCache {
            map: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Enters the flight of one key: whoever enters first computes the answer; others wait
    /// here and then find it cached. Leaving (dropping the [`Flight`], also when the request is
    /// cancelled) lets the next in; the last to leave removes the key.
    pub async fn enter(&self, key: &str) -> Flight<'_> {
        let gate = self
            .flights
            .lock()
            .ok()
            .map(|mut f| f.entry(key.to_string()).or_default().clone());
        let mut flight = Flight {
            cache: self,
            key: key.to_string(),
            gate: gate.clone(),
            turn: None,
        };
        if let Some(g) = gate {
            flight.turn = Some(g.lock_owned().await);
        }
        flight
    }

    /// A cached body.
    pub fn get(&self, key: &str) -> Option<Cached> {
        self.map.lock().ok()?.get(key).cloned()
    }

    /// Stores a body.
    pub fn put(&self, key: String, value: Cached) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= self.capacity {
                m.clear();
            }
            m.insert(key, value);
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }
}

/// A turn at computing one response (see [`ResponseCache::enter`]).
pub struct Flight<'a> {
    cache: &'a ResponseCache,
    key: String,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.turn.take();
        if let (Some(gate), Ok(mut f)) = (self.gate.take(), self.cache.flights.lock()) {
            // Held by the map and by this flight only: nobody waits, so the key goes.
            if Arc::strong_count(&gate) <= 2 {
                f.remove(&self.key);
            }
        }
    }
}

/// Everything handlers share.
pub struct AppState {
    /// Settings.
    pub config: ServerConfig,
    /// The lake.
    pub lake: Lake,
    /// Indicator definitions.
    pub indicators: Vec<IndicatorDef>,
    /// Trigger signal definitions.
    pub signals: Vec<SignalDef>,
    /// Tokens.
    pub tokens: TokenStore,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Responses by request key and data version.
    pub responses: ResponseCache,
    /// Disclosure patterns by (indicator, period, versions).
    pub patterns: Mutex<HashMap<String, Arc<Pattern>>>,
    /// One pattern computation in flight per indicator: requests that miss the cache while
    /// another computes the same indicator wait for it instead of computing it again.
    pub pattern_flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises reloads and ingests.
    pub write_lock: tokio::sync::Mutex<()>,
    /// Slots for ad-hoc queries in flight.
    pub sql_slots: Arc<tokio::sync::Semaphore>,
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

impl AppState {
    /// Opens the lake and loads definitions.
    pub async fn new(config: ServerConfig) -> ApiResult<AppState> {
        AppState::pinned(config, &BTreeMap::new()).await
    }

    /// Opens the lake with some tables pinned to earlier versions (a report made again from
    /// the data version it names). A pinned state is never reloaded.
    pub async fn pinned(config: ServerConfig, pins: &BTreeMap<String, u64>) -> ApiResult<AppState> {
        let lake = Lake::open(&config.lake, config.lake_options.clone())?;
        let mut indicators = marmot_engine::load_indicators(config.queries.as_deref())?;
        // The server's threshold raises, never lowers, an indicator's own.
        for ind in &mut indicators {
            ind.disclosure_threshold = ind.disclosure_threshold.max(config.disclosure_threshold);
        }
        let signals = marmot_engine::triggers::load_signals(config.queries.as_deref())?;
        let snapshot = Snapshot::open(&lake, 1, &config.sql, pins, &config.engine).await?;
        let tokens =
            TokenStore::new(config.tokens.clone()).with_ephemeral(config.ephemeral_tokens.clone());
        Ok(AppState {
            lake,
            indicators,
            signals,
            tokens,
            snapshot: RwLock::new(Arc::new(snapshot)),
            responses: ResponseCache::new(4096),
            patterns: Mutex::new(HashMap::new()),
            pattern_flights: Mutex::new(HashMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
            sql_slots: Arc::new(tokio::sync::Semaphore::new(config.sql.concurrency.max(1))),
            config,
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-opens the lake if any table version changed; returns whether it did.
    pub async fn reload(&self) -> ApiResult<bool> {
        let _guard = self.write_lock.lock().await;
        let current = self.snapshot();
        let probe = Engine::open(&self.lake, &BTreeMap::new()).await?;
        if table_versions(&probe) == current.versions {
            return Ok(false);
        }
        let next = Snapshot::open(
            &self.lake,
            current.generation + 1,
            &self.config.sql,
            &BTreeMap::new(),
            &self.config.engine,
        )
        .await?;
        tracing::info!(versions = %next.versions, "lake changed: new snapshot");
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(next);
        }
        self.responses.clear();
        if let Ok(mut p) = self.patterns.lock() {
            p.clear();
        }
        Ok(true)
    }

    /// An indicator by id (404 otherwise).
    pub fn indicator(&self, id: &str) -> ApiResult<&IndicatorDef> {
        self.indicators.iter().find(|i| i.id == id).ok_or_else(|| {
            ApiError::not_found(
                "unknown_indicator",
                format!("no indicator '{id}' (GET /api/v1/indicators lists them)"),
            )
        })
    }
}
