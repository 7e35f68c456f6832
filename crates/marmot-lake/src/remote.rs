//! Object stores behind a lake URL: the local file system, or any S3-compatible server.
//!
//! One function builds every store ([`store_for_url`]), so the lake's own reads and writes,
//! Delta's log and data files, and DataFusion's scans (local or on Ballista executors) all talk
//! to S3 with the same settings:
//! - credentials and endpoint come from storage options (`aws_access_key_id`,
//!   `aws_secret_access_key`, `aws_endpoint`, `aws_allow_http`, `aws_region`), which the CLI reads
//!   from the `AWS_*` environment variables; never from the repository;
//! - a server that does not answer fails fast and clearly (5 s to connect, 3 retries within
//!   15 s) instead of object_store's default of retrying for three minutes.
//!
//! Delta's commits on S3 go through the default log store: each commit is a put of the next
//! `_delta_log/NNN.json` with `If-None-Match: *`, so a concurrent writer fails instead of
//! overwriting (on servers that honour conditional puts; Marmot's own writers are serialised
//! by the lake's write lock in any case).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use url::Url;

use crate::LakeError;

/// URL schemes served by the S3 client.
pub const S3_SCHEMES: [&str; 2] = ["s3", "s3a"];

/// Storage options from the environment: every `AWS_*` variable, lower-cased
/// (`AWS_ENDPOINT` becomes `aws_endpoint`). The one place Marmot reads credentials from.
pub fn options_from_env() -> HashMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// The store for a URL (rooted at the bucket, or at `/` for files) and the path of the URL in it.
pub fn store_for_url(
    url: &Url,
    options: &HashMap<String, String>,
) -> Result<(Arc<dyn ObjectStore>, Path), LakeError> {
    if S3_SCHEMES.contains(&url.scheme()) {
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| LakeError::Config(format!("the lake URL {url} names no bucket")))?;
        let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
        for (k, v) in options {
            // Options that are not S3 settings (or not known to this client) are ignored.
            if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
                b = b.with_config(key, v);
            }
        }
        let store = b
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120))
                    .with_allow_http(
                        options
                            .get("aws_allow_http")
                            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                    ),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            })
            .build()
            .map_err(|e| LakeError::Config(format!("lake URL {url}: {e}")))?;
        let path = Path::from_url_path(url.path())
            .map_err(|e| LakeError::Config(format!("lake URL {url}: {e}")))?;
        Ok((Arc::new(store), path))
    } else {
        let (store, path) = object_store::parse_url_opts(url, options.iter())
            .map_err(|e| LakeError::Config(format!("lake URL {url}: {e}")))?;
        Ok((Arc::from(store), path))
    }
}

/// Makes `s3://` and `s3a://` table locations known to deltalake (its object store and log
/// store registries), built by [`store_for_url`]. Idempotent; called by [`crate::Lake::open`].
pub fn register_delta_handlers() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        for scheme in S3_SCHEMES {
            let Ok(u) = Url::parse(&format!("{scheme}://")) else {
                continue;
            };
            object_store_factories().insert(u.clone(), Arc::new(S3Factory));
            logstore_factories().insert(u, Arc::new(S3LogStoreFactory));
        }
    });
}

struct S3Factory;

impl ObjectStoreFactory for S3Factory {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> deltalake::DeltaResult<(ObjectStoreRef, Path)> {
        store_for_url(url, &config.raw)
            .map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))
    }
}

struct S3LogStoreFactory;

impl LogStoreFactory for S3LogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// A DataFusion object store registry that builds S3 stores on first use from the given
/// storage options: what a Ballista scheduler or executor needs to read a lake on S3 (the
/// executors' `AWS_*` environment is their S3 configuration).
#[derive(Debug)]
pub struct LakeStoreRegistry {
    inner: DefaultObjectStoreRegistry,
    options: HashMap<String, String>,
}

impl LakeStoreRegistry {
    /// A registry with local files and, on demand, S3 buckets configured by `options`.
    pub fn new(options: HashMap<String, String>) -> LakeStoreRegistry {
        LakeStoreRegistry {
            inner: DefaultObjectStoreRegistry::new(),
            options,
        }
    }
}

impl ObjectStoreRegistry for LakeStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(s) = self.inner.get_store(url) {
            return Ok(s);
        }
        if !S3_SCHEMES.contains(&url.scheme()) {
            return self.inner.get_store(url);
        }
        let root = Url::parse(&format!(
            "{}://{}",
            url.scheme(),
            url.host_str().unwrap_or_default()
        ))
        .map_err(|e| datafusion::error::DataFusionError::Configuration(e.to_string()))?;
        let (store, _) = store_for_url(&root, &self.options)
            .map_err(|e| datafusion::error::DataFusionError::Configuration(e.to_string()))?;
        self.inner.register_store(&root, store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_build_a_bucket_rooted_store_with_the_prefix_as_path() {
        let opts = HashMap::from([
            ("aws_access_key_id".to_string(), "AK".to_string()),
            ("aws_secret_access_key".to_string(), "SK".to_string()),
            ("aws_endpoint".to_string(), "http://127.0.0.1:1".to_string()),
            ("aws_allow_http".to_string(), "true".to_string()),
            ("not_an_s3_key".to_string(), "ignored".to_string()),
        ]);
        let url = Url::parse("s3://bucket/a/b/").expect("url");
        let (_, path) = store_for_url(&url, &opts).expect("store");
        assert_eq!(path.as_ref(), "a/b");
        let no_bucket = Url::parse("s3:///a").expect("url");
        assert!(store_for_url(&no_bucket, &opts).is_err());
    }

    #[test]
    fn the_registry_builds_s3_stores_on_demand_and_keeps_local_files() {
        let reg = LakeStoreRegistry::new(HashMap::from([(
            "aws_endpoint".to_string(),
            "http://127.0.0.1:1".to_string(),
        )]));
        let s3 = Url::parse("s3://bucket/x/y.parquet").expect("url");
        assert!(reg.get_store(&s3).is_ok());
        let file = Url::parse("file:///tmp/x.parquet").expect("url");
        assert!(reg.get_store(&file).is_ok());
    }
}
