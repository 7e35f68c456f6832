//! Pseudonymisation of person identifiers: a keyed hash (HMAC-SHA256, RFC 2104 / FIPS 180-4).
//!
//! The same clear value and key always give the same pseudonym, so records of one person link
//! across datasets and uploads; without the key the pseudonym cannot be reversed or recomputed
//! from a guessed identifier. The key is configuration, never in the repository or the lake.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::LakeError;

/// Environment variable holding the key itself (at least 16 bytes).
pub const KEY_ENV: &str = "MARMOT_PSEUDONYM_KEY";
/// Environment variable naming a file that holds the key.
pub const KEY_FILE_ENV: &str = "MARMOT_PSEUDONYM_KEY_FILE";

/// Replaces identifiers by keyed hashes.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser { key: <secret> }")
    }
}

impl Pseudonymiser {
    /// A pseudonymiser with this key. Keys shorter than 16 bytes are refused.
    pub fn new(key: &[u8]) -> Result<Pseudonymiser, LakeError> {
        if key.len() < 16 {
            return Err(LakeError::Config(format!(
                "the pseudonymisation key must be at least 16 bytes (got {})",
                key.len()
            )));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| LakeError::Config(format!("pseudonymisation key: {e}")))?;
        Ok(Pseudonymiser { mac })
    }

    /// Where the key lives unless configured: `$XDG_CONFIG_HOME/marmot/pseudonym.key`, else
    /// `~/.config/marmot/pseudonym.key`. The CLI and the server use the same one, so data
    /// ingested either way links up.
    pub fn default_key_file() -> PathBuf {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("marmot")
            .join("pseudonym.key")
    }

    /// The key from `MARMOT_PSEUDONYM_KEY`, else the file named by `MARMOT_PSEUDONYM_KEY_FILE`,
    /// else `default_file` — created with 32 random bytes (mode 0600) when it does not exist yet.
    /// Returns the pseudonymiser and a note saying where the key came from.
    pub fn from_env_or_file(default_file: &Path) -> Result<(Pseudonymiser, String), LakeError> {
        if let Ok(k) = std::env::var(KEY_ENV) {
            return Ok((
                Pseudonymiser::new(k.trim().as_bytes())?,
                format!("key from {KEY_ENV}"),
            ));
        }
        let file = std::env::var_os(KEY_FILE_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| default_file.to_path_buf());
        if !file.exists() {
            write_new_key(&file)?;
        }
        let key = std::fs::read(&file).map_err(|e| LakeError::io(file.display().to_string(), e))?;
        Ok((
            Pseudonymiser::new(&key)?,
            format!("key from {}", file.display()),
        ))
    }

    /// The 128-bit pseudonym of `value` (surrounding spaces ignored).
    pub fn digest(&self, value: &str) -> u128 {
        let mut m = self.mac.clone();
        m.update(value.trim().as_bytes());
        let out = m.finalize().into_bytes();
        let mut b = [0u8; 16];
        b.copy_from_slice(&out[..16]);
        u128::from_be_bytes(b)
    }

    /// The pseudonym as 32 lowercase hex characters.
    pub fn pseudonym(&self, value: &str) -> String {
        format!("{:032x}", self.digest(value))
    }
}

fn write_new_key(file: &Path) -> Result<(), LakeError> {
    use std::io::Write;
    let io = |e| LakeError::io(file.display().to_string(), e);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let key: [u8; 32] = std::array::from_fn(|_| rand_byte());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(file).map_err(io)?;
    f.write_all(hex::encode(key).as_bytes()).map_err(io)?;
    Ok(())
}

/// One byte from the operating system's random source, via the UUID v4 generator (which reads
/// it), so no extra dependency is needed.
fn rand_byte() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[6]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_differ_from_input_and_are_stable_per_key() {
        let a = Pseudonymiser::new(b"0123456789abcdef-key-one").expect("key");
        let b = Pseudonymiser::new(b"0123456789abcdef-key-two").expect("key");
        let p = a.pseudonym("9434765919");
        assert_ne!(p, "9434765919");
        assert_eq!(p.len(), 32);
        assert_eq!(p, a.pseudonym("9434765919"), "stable for the same key");
        assert_eq!(p, a.pseudonym(" 9434765919 "), "surrounding spaces ignored");
        assert_ne!(
            p,
            b.pseudonym("9434765919"),
            "another key gives another pseudonym"
        );
        assert_ne!(p, a.pseudonym("9434765918"));
    }

    #[test]
    fn matches_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?". Our keys must be
        // 16+ bytes, so check the underlying MAC directly.
        let mut m = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("key");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(Pseudonymiser::new(b"short").is_err());
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("sub/key");
        // Only meaningful when the environment does not override the key.
        if std::env::var(KEY_ENV).is_err() && std::env::var(KEY_FILE_ENV).is_err() {
            let (a, note) = Pseudonymiser::from_env_or_file(&f).expect("created");
            assert!(note.contains("sub/key"));
            let (b, _) = Pseudonymiser::from_env_or_file(&f).expect("read back");
            assert_eq!(a.pseudonym("x"), b.pseudonym("x"));
        }
    }
}
