use thiserror::Error;

/// Errors in configuration data (contracts, places): always the author's to fix.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A contract or place file is not valid TOML or does not have the expected fields.
    #[error("{what} is not valid: {message}")]
    Parse {
        /// Which document (file or built-in name).
        what: String,
        /// The parser's explanation, with line and column.
        message: String,
    },
    /// The document parsed but says something inconsistent.
    #[error("{what}: {message}")]
    Invalid {
        /// Which document.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A name that is not one of the known datasets or places.
    #[error("unknown {kind} '{name}' (known: {known})")]
    Unknown {
        /// "dataset", "place", "level"...
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
}
