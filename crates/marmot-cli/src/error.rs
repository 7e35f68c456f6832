//! How a command ends: the documented exit codes ([`Exit`]) and the error that carries a
//! failure to them ([`CliError`]).
//!
//! Whether an error is the user's (usage, exit 2) or the work's (failure, exit 1) is decided by
//! the error's type, never by its text: a [`LakeError`] of a configuration, model or refusal
//! kind (bad flag value, bad file given, unknown indicator, a replacement refused without
//! `--force`) is usage, whether it arrives on its own, inside an [`EngineError`] or under
//! added context; everything else is a failure.

use marmot_engine::EngineError;
use marmot_lake::LakeError;
use marmot_server::{ApiError, AuthError};

/// Exit codes (documented in the README), ordered by severity: when one command handles many
/// files, the worst outcome is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything done, everything accepted: 0.
    Ok,
    /// Committed, with some rows quarantined: 3.
    Partial,
    /// A whole-file or other failure; nothing changed by it: 1.
    Failure,
    /// A usage error (clap's own usage errors exit 2 too): 2.
    Usage,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Partial => 3,
        }
    }
}

/// A command that could not do its work. Not a `std::error::Error` itself (so any error
/// converts into it with `?`); the message is the error with its context chain.
#[derive(Debug)]
pub enum CliError {
    /// The command line, a settings file or a definition is wrong: exit 2.
    Usage(anyhow::Error),
    /// The work failed: exit 1.
    Failure(anyhow::Error),
}

/// What every command returns.
pub type CliResult<T = Exit> = Result<T, CliError>;

impl CliError {
    /// A usage error with this message.
    pub fn usage(message: impl std::fmt::Display) -> CliError {
        CliError::Usage(anyhow::anyhow!("{message}"))
    }

    /// The exit status this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Failure(_) => Exit::Failure,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(e) | CliError::Failure(e) => write!(f, "{e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> CliError {
        let e = e.into();
        if e.chain().any(is_usage) {
            CliError::Usage(e)
        } else {
            CliError::Failure(e)
        }
    }
}

/// Whether one error of a chain is the user's to fix.
fn is_usage(e: &(dyn std::error::Error + 'static)) -> bool {
    let lake = |l: &LakeError| {
        matches!(
            l,
            LakeError::Config(_) | LakeError::Model(_) | LakeError::Refused(_)
        )
    };
    e.downcast_ref::<LakeError>().is_some_and(lake)
        || e.downcast_ref::<EngineError>()
            .is_some_and(|x| matches!(x, EngineError::Lake(l) if lake(l)))
        || e.downcast_ref::<marmot_model::ModelError>().is_some()
        || e.downcast_ref::<AuthError>()
            .is_some_and(|x| matches!(x, AuthError::UnknownRole(_) | AuthError::PartnerWithoutOrg))
        || e.downcast_ref::<ApiError>()
            .is_some_and(|x| matches!(x, ApiError::BadRequest { .. } | ApiError::NotFound { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_type_of_an_error_decides_its_exit_code() {
        let usage: CliError = LakeError::Config("bad flag".into()).into();
        assert_eq!(usage.exit(), Exit::Usage);
        let wrapped: Result<(), LakeError> = Err(LakeError::Refused("too many rows".into()));
        let wrapped: CliError = wrapped.context("ingesting a.csv").unwrap_err().into();
        assert_eq!(wrapped.exit(), Exit::Usage, "context keeps the kind");
        assert!(wrapped.to_string().starts_with("ingesting a.csv: "));
        let engine: CliError = EngineError::Lake(LakeError::Config("x".into())).into();
        assert_eq!(engine.exit(), Exit::Usage);
        let io: CliError = std::io::Error::other("disk on fire").into();
        assert_eq!(io.exit(), Exit::Failure);
        let text: CliError = anyhow::anyhow!("Config: looks like usage, is not").into();
        assert_eq!(text.exit(), Exit::Failure, "never decided by the message");
    }

    #[test]
    fn the_worst_outcome_wins() {
        assert!(Exit::Usage > Exit::Failure && Exit::Failure > Exit::Partial);
        assert!(Exit::Partial > Exit::Ok);
        let codes: Vec<u8> = [Exit::Ok, Exit::Failure, Exit::Usage, Exit::Partial]
            .iter()
            .map(|e| e.code())
            .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
    }
}
