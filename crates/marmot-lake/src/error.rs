use thiserror::Error;

/// Errors from the lake, sorted by who must act.
#[derive(Debug, Error)]
pub enum LakeError {
    /// The partner's file as a whole cannot be ingested (unreadable, empty, missing a required
    /// column, a type that cannot be cast, truncated). Nothing in the lake was changed.
    #[error("{file}: {message}")]
    File {
        /// The file, as given.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// Bad configuration or arguments (unknown dataset, bad key, bad period).
    #[error("{0}")]
    Config(String),
    /// A submission that would do more harm than a caller can have meant (a replacement taking
    /// out far more rows than it brings) and was not forced. Nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Configuration data (contracts, places) is wrong.
    #[error(transparent)]
    Model(#[from] marmot_model::ModelError),
    /// The lake is missing or not a Marmot lake.
    #[error("{0}")]
    Lake(String),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The object store failed (includes the path and store concerned).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// The Delta log failed (e.g. a concurrent commit won).
    #[error("delta table {table}: {message}")]
    Delta {
        /// The table.
        table: String,
        /// The Delta error.
        message: String,
    },
    /// Arrow failed on data we built.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet failed on data we wrote or read.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// DataFusion failed.
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A bug: an invariant of ours did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LakeError {
    /// An IO error on a path.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: path.into(),
            source,
        }
    }

    /// A whole-file error.
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> LakeError {
        LakeError::File {
            file: file.into(),
            message: message.into(),
        }
    }

    /// A Delta error on a table.
    pub fn delta(table: impl Into<String>, e: impl std::fmt::Display) -> LakeError {
        LakeError::Delta {
            table: table.into(),
            message: e.to_string(),
        }
    }
}
