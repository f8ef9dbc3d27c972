//! One error type for the service, the import and the CLI, with the HTTP status and the exit
//! code each kind maps to.

use std::fmt;

use axha_directory::DirectoryError;

/// What went wrong, in the terms a client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malformed or invalid input: nothing was written.
    Invalid,
    /// The account's domain is not provisioned.
    UnknownDomain,
    /// The named account, domain or back-end does not exist.
    NotFound,
    /// It exists already.
    Duplicate,
    /// A domain that still has accounts, a back-end that still holds some.
    NotEmpty,
    /// No back-end can take the account (none enabled, home disabled, all failing).
    NoBackend,
    /// The chosen back-end failed; the operation was undone.
    Backend,
    /// The directory could not be reached; retry later.
    DirectoryUnavailable,
    /// Anything else (a refused LDAP operation, a corrupt entry, a failed undo).
    Internal,
}

/// Table: kind, machine-readable code, HTTP status, CLI exit code.
const KINDS: &[(Kind, &str, u16, i32)] = &[
    (Kind::Invalid, "invalid_input", 400, 2),
    (Kind::UnknownDomain, "unknown_domain", 422, 2),
    (Kind::NotFound, "not_found", 404, 4),
    (Kind::Duplicate, "already_exists", 409, 5),
    (Kind::NotEmpty, "not_empty", 409, 5),
    (Kind::NoBackend, "no_backend", 503, 6),
    (Kind::Backend, "backend_failed", 502, 6),
    (Kind::DirectoryUnavailable, "directory_unavailable", 503, 3),
    (Kind::Internal, "internal", 500, 1),
];

impl Kind {
    fn row(self) -> &'static (Kind, &'static str, u16, i32) {
        KINDS
            .iter()
            .find(|r| r.0 == self)
            .expect("every kind is in the table")
    }
    /// The machine-readable code in the JSON error body.
    pub fn code(self) -> &'static str {
        self.row().1
    }
    /// The HTTP status the API answers with.
    pub fn http_status(self) -> u16 {
        self.row().2
    }
    /// The exit code of the command line.
    pub fn exit_code(self) -> i32 {
        self.row().3
    }
}

/// An error with its kind and a message fit for a client (no secret in it).
#[derive(Debug, Clone)]
pub struct ProvisionError {
    /// What went wrong, in the terms a client acts on.
    pub kind: Kind,
    /// One line for the client, with the offending value.
    pub message: String,
}

impl ProvisionError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ProvisionError {
            kind,
            message: message.into(),
        }
    }
    /// The JSON body of an HTTP error.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.kind.code(), "message": self.message}})
    }
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProvisionError {}

impl From<DirectoryError> for ProvisionError {
    fn from(e: DirectoryError) -> Self {
        let kind = match &e {
            _ if e.is_unavailable() => Kind::DirectoryUnavailable,
            DirectoryError::Invalid { .. } => Kind::Invalid,
            DirectoryError::NoBackend { .. } => Kind::NoBackend,
            DirectoryError::AlreadyExists { .. } => Kind::Duplicate,
            DirectoryError::NotFound { .. } => Kind::NotFound,
            DirectoryError::NotEmpty { .. } => Kind::NotEmpty,
            _ => Kind::Internal,
        };
        ProvisionError::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_statuses_are_errors() {
        for (k, code, status, exit) in KINDS {
            assert_eq!(k.code(), *code);
            assert!((400..600).contains(status));
            assert!(*exit > 0);
        }
        let e = ProvisionError::new(Kind::Duplicate, "x exists");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error": {"code": "already_exists", "message": "x exists"}})
        );
        let d: ProvisionError = DirectoryError::Unavailable {
            url: "u".into(),
            reason: "r".into(),
        }
        .into();
        assert_eq!(d.kind, Kind::DirectoryUnavailable);
    }
}
