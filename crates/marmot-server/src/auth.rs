//! Tokens and roles. A token is 32 random bytes shown once (`marmot tokens add`); the tokens
//! file keeps only its SHA-256 (tokens are random, so a fast hash is the right one: there is no
//! password to guess), with the role and, for partners, the organisation. The file is re-read
//! when it changes, so adding or revoking a token needs no restart.
//!
//! Roles, weakest first: `viewer` (public dashboards and indicator values, suppressed),
//! `partner` (its own uploads and ingest reports, extracts, suppressed), `analyst` (everything
//! aggregated, unsuppressed, ad-hoc SQL, triggers, reports, saved views), `admin` (everything,
//! and the audit log). Requests without a token are viewers unless the server requires tokens.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::ApiError;

/// A role, weakest first (the order is used for "at least").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Public dashboards and indicators, small numbers suppressed.
    Viewer,
    /// A partner organisation: its own uploads, extracts, suppressed.
    Partner,
    /// Everything aggregated, unsuppressed; ad-hoc SQL.
    Analyst,
    /// Everything.
    Admin,
}

/// What can go wrong with roles and the tokens file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A role name that is not one of the four.
    #[error("unknown role '{0}' (roles: viewer, partner, analyst, admin)")]
    UnknownRole(String),
    /// A partner token must say which partner it belongs to.
    #[error("a partner token needs --org (the partner its uploads belong to)")]
    PartnerWithoutOrg,
    /// The tokens file could not be read, parsed or written.
    #[error("tokens file {path}: {reason}")]
    File {
        /// The file (or its directory, or the temporary file written beside it).
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another thread panicked while holding the token cache.
    #[error("the token cache is poisoned")]
    Poisoned,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> AuthError {
    AuthError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl Role {
    /// Parses `viewer|partner|analyst|admin`.
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "partner" => Ok(Role::Partner),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            _ => Err(AuthError::UnknownRole(s.to_string())),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Partner => "partner",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Whether small numbers are suppressed for this role.
    pub fn suppressed(self) -> bool {
        self < Role::Analyst
    }
}

/// One stored token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    /// Short public id (the first 8 hex digits of the hash), for logs and ownership.
    pub id: String,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// The role.
    pub role: Role,
    /// Organisation (partners: the partner name their uploads are recorded under).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// A label for people.
    #[serde(default)]
    pub name: String,
    /// When it was made (RFC 3339).
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    #[serde(default, rename = "token")]
    tokens: Vec<TokenRecord>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The role.
    pub role: Role,
    /// The token's id (`anonymous` without a token).
    pub id: String,
    /// Organisation, if any.
    pub org: Option<String>,
}

impl Caller {
    /// An anonymous viewer.
    pub fn anonymous() -> Caller {
        Caller {
            role: Role::Viewer,
            id: "anonymous".into(),
            org: None,
        }
    }

    /// Errors unless the caller has at least `role`.
    pub fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{what} needs the {} role or above (this token is {})",
                role.name(),
                self.role.name()
            )))
        }
    }
}

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The tokens file, re-read when its modification time changes.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    cache: Mutex<(Option<SystemTime>, Vec<TokenRecord>)>,
    /// Tokens that live only as long as this process (the demo's).
    ephemeral: Vec<TokenRecord>,
}

/// Makes a new token and its record (the token is for the caller to show once).
pub fn mint(role: Role, org: Option<String>, name: &str) -> (String, TokenRecord) {
    let token = format!(
        "mt_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let sha256 = hash_token(&token);
    let record = TokenRecord {
        id: sha256[..8].to_string(),
        sha256,
        role,
        org,
        name: name.to_string(),
        created: chrono::Utc::now().to_rfc3339(),
    };
    (token, record)
}

impl TokenStore {
    /// A store over a file (which need not exist yet: then there are no tokens).
    pub fn new(path: PathBuf) -> TokenStore {
        TokenStore {
            path,
            cache: Mutex::new((None, Vec::new())),
            ephemeral: Vec::new(),
        }
    }

    /// Adds tokens held in memory only (never written anywhere).
    pub fn with_ephemeral(mut self, records: Vec<TokenRecord>) -> TokenStore {
        self.ephemeral = records;
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(path: &Path) -> Result<Vec<TokenRecord>, AuthError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<TokenFile>(&text)
                .map(|f| f.tokens)
                .map_err(|e| file_error(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(file_error(path, e)),
        }
    }

    /// The caller a bearer token stands for; `None` when no token matches.
    pub fn lookup(&self, token: &str) -> Result<Option<Caller>, AuthError> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut cache = self.cache.lock().map_err(|_| AuthError::Poisoned)?;
        if cache.0 != mtime || mtime.is_none() {
            cache.1 = Self::read(&self.path)?;
            cache.0 = mtime;
        }
        let h = hash_token(token);
        // Compare every record (no early exit) so timing says nothing about which matched.
        let mut found = None;
        for r in cache.1.iter().chain(&self.ephemeral) {
            if constant_time_eq(r.sha256.as_bytes(), h.as_bytes()) {
                found = Some(Caller {
                    role: r.role,
                    id: r.id.clone(),
                    org: r.org.clone(),
                });
            }
        }
        Ok(found)
    }

    /// Adds a token; returns the token (shown once) and its record.
    pub fn add(
        &self,
        role: Role,
        org: Option<String>,
        name: &str,
    ) -> Result<(String, TokenRecord), AuthError> {
        if role == Role::Partner && org.is_none() {
            return Err(AuthError::PartnerWithoutOrg);
        }
        let (token, record) = mint(role, org, name);
        let mut file = TokenFile {
            tokens: Self::read(&self.path)?,
        };
        file.tokens.push(record.clone());
        let text = toml::to_string(&file).map_err(|e| file_error(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        }
        // Write then rename, so a reader never sees half a file.
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| file_error(&tmp, e))?;
        restrict_permissions(&tmp);
        std::fs::rename(&tmp, &self.path).map_err(|e| file_error(&self.path, e))?;
        Ok((token, record))
    }

    /// Every record (for `marmot tokens list`).
    pub fn records(&self) -> Result<Vec<TokenRecord>, AuthError> {
        Self::read(&self.path)
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("tokens.toml"));
        let (token, rec) = store
            .add(Role::Partner, Some("cab".into()), "CAB uploads")
            .unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&token), "the token itself is never stored");
        assert!(text.contains(&rec.sha256));
        let caller = store.lookup(&token).unwrap().unwrap();
        assert_eq!(caller.role, Role::Partner);
        assert_eq!(caller.org.as_deref(), Some("cab"));
        assert_eq!(store.lookup("mt_wrong").unwrap(), None);
    }

    #[test]
    fn partner_needs_org_and_roles_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("t.toml"));
        assert!(matches!(
            store.add(Role::Partner, None, ""),
            Err(AuthError::PartnerWithoutOrg)
        ));
        assert!(Role::Viewer < Role::Partner && Role::Partner < Role::Analyst);
        assert!(Role::Partner.suppressed() && !Role::Analyst.suppressed());
        assert!(matches!(
            Role::parse("root"),
            Err(AuthError::UnknownRole(_))
        ));
    }
}
