//! One error type for the service, the import, the HTTP API and the command line. Each
//! variant carries the offending value; [`ProvisionError::kind`] sorts it into a [`Kind`], and
//! one table gives each kind its JSON code, HTTP status and exit code.

use std::fmt;
use std::path::{Path, PathBuf};

use axha_directory::DirectoryError;
use axha_exec::{escape_controls, ReadError};

use crate::moves::MoveError;
use crate::store::StoreError;

/// What went wrong, in the terms a client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malformed or invalid input: nothing was written.
    Invalid,
    /// The account's domain is not provisioned.
    UnknownDomain,
    /// The named account, domain, back-end or API resource does not exist.
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
    /// An HTTP request that cannot be understood (its body, its path).
    BadRequest,
    /// An HTTP request without the right bearer token.
    Unauthorized,
    /// An HTTP method the resource does not offer.
    MethodNotAllowed,
    /// An HTTP request body above the limit.
    TooLarge,
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
    // Only the HTTP API meets these; the exit code is that of bad input.
    (Kind::BadRequest, "bad_request", 400, 2),
    (Kind::Unauthorized, "unauthorized", 401, 2),
    (Kind::MethodNotAllowed, "method_not_allowed", 405, 2),
    (Kind::TooLarge, "too_large", 413, 2),
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

/// Everything that can go wrong in provisioning; each variant carries the offending value.
/// The message is one line for the client and never holds a secret.
#[derive(Debug)]
pub enum ProvisionError {
    /// Moving an account, draining or removing a back-end, rebalancing.
    Move(MoveError),
    /// The directory refused or could not do an operation.
    Directory(DirectoryError),
    /// A back-end failed an operation.
    Backend(StoreError),
    /// A back-end refused a name as invalid: bad input, not a broken back-end.
    Rejected(StoreError),
    /// Every back-end tried failed before anything changed on it.
    AllBackendsFailed {
        /// Each back-end's failure, in the order tried.
        failures: Vec<StoreError>,
    },
    /// A back-end weight above the maximum.
    Weight {
        /// The weight asked for.
        weight: u32,
        /// The largest weight allowed.
        max: u32,
    },
    /// A domain-based domain created without its home back-end.
    NoHome {
        /// The domain.
        domain: String,
    },
    /// The home back-end named for a domain is not in the directory.
    HomeNotRegistered {
        /// The back-end named.
        home: String,
    },
    /// The home back-end named for a domain is disabled.
    HomeDisabled {
        /// The back-end named.
        home: String,
    },
    /// No back-end is enabled to hold a new domain.
    NoEnabledBackend,
    /// The domain exists already.
    DomainExists {
        /// The domain.
        domain: String,
    },
    /// An account's domain is not provisioned.
    DomainNotProvisioned {
        /// The domain.
        domain: String,
    },
    /// The account exists already.
    AccountExists {
        /// The account's address.
        address: String,
        /// Where it lives.
        backend: String,
    },
    /// No back-end of that name.
    NoSuchBackend {
        /// The name asked for.
        name: String,
    },
    /// No domain of that name.
    NoSuchDomain {
        /// The name asked for.
        name: String,
    },
    /// No account of that address.
    NoSuchAccount {
        /// The address asked for.
        address: String,
    },
    /// A domain to delete still has accounts.
    DomainNotEmpty {
        /// The domain.
        domain: String,
    },
    /// An account's entry names a back-end the directory does not list (a corrupt entry).
    Unregistered {
        /// The back-end named by the entry.
        backend: String,
    },
    /// Creating a domain failed, and undoing it failed on some back-ends, where it stays.
    DomainLeftBehind {
        /// Why the creation failed.
        error: Box<ProvisionError>,
        /// Each back-end that still holds the domain, with why it could not be removed.
        left: Vec<StoreError>,
    },
    /// Adding an account failed part way on a back-end, and removing it again failed too.
    AccountUndoFailed {
        /// Why adding failed.
        error: StoreError,
        /// Why the removal failed (boxed: errors travel by value and stay small).
        undo: Box<StoreError>,
    },
    /// An account was made on a back-end, its entry could not be written, and removing the
    /// account failed: it stays there without an entry.
    AccountWithoutEntry {
        /// Why the entry could not be written.
        error: DirectoryError,
        /// The back-end that holds the account.
        backend: String,
        /// Why the removal failed (boxed: errors travel by value and stay small).
        undo: Box<StoreError>,
    },
    /// The directory went away while an account's entry was written: the account stays on
    /// its back-end until a retry of the same create completes it.
    AccountPending {
        /// The directory's error.
        error: DirectoryError,
        /// The back-end that holds the account.
        backend: String,
    },
    /// The configuration file could not be read.
    ConfigRead(ReadError),
    /// The configuration file is not UTF-8 text.
    ConfigNotText {
        /// The file.
        path: PathBuf,
    },
    /// The configuration is not valid TOML or has a wrong field.
    ConfigSyntax {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The line of the error, when known.
        line: Option<usize>,
        /// What is wrong, in the TOML reader's words.
        message: String,
    },
    /// `service.workers` out of range.
    Workers {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The number given.
        workers: usize,
    },
    /// A password or token file named by the configuration could not be used.
    SecretFile(DirectoryError),
    /// A file of an import could not be read or written.
    ImportFile {
        /// Which file (`progress file`, `rejected-rows file`, `CSV file`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// An import's CSV file could not be opened.
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV reader's error.
        error: csv::Error,
    },
    /// An import's progress file could not be read.
    ProgressRead(ReadError),
    /// An import's progress file holds a line it cannot have written.
    ProgressContent {
        /// The file.
        path: PathBuf,
        /// The offending line.
        line: String,
    },
    /// The service cannot listen on its address.
    Listen {
        /// The address.
        address: String,
        /// The server's reason.
        reason: String,
    },
    /// The API listener's TLS certificate or key cannot be used.
    Tls(crate::tls::TlsError),
    /// An HTTP request that is not well-formed HTTP/1.1 (request line, headers, framing).
    Request {
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP request body that is not the JSON expected.
    Body(serde_json::Error),
    /// An HTTP request body that could not be read.
    BodyUnreadable(std::io::Error),
    /// An HTTP request body above the limit.
    BodyTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// An HTTP request path with a malformed `%XX` escape.
    PathEncoding {
        /// The path.
        path: String,
    },
    /// An HTTP request without the right bearer token.
    Unauthorized,
    /// An HTTP request for a resource the API does not have.
    NoSuchResource {
        /// The path.
        path: String,
    },
    /// An HTTP method the resource does not offer.
    MethodNotAllowed {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
}

impl From<MoveError> for ProvisionError {
    fn from(e: MoveError) -> Self {
        ProvisionError::Move(e)
    }
}

impl ProvisionError {
    /// What went wrong, in the terms a client acts on: the one mapping from errors to the
    /// rows of the table (JSON code, HTTP status, exit code).
    pub fn kind(&self) -> Kind {
        use ProvisionError as E;
        match self {
            E::Move(e) => e.kind(),
            E::Directory(e) | E::AccountPending { error: e, .. } => directory_kind(e),
            E::Backend(_) | E::AllBackendsFailed { .. } | E::AccountUndoFailed { .. } => {
                Kind::Backend
            }
            E::Rejected(_)
            | E::Weight { .. }
            | E::NoHome { .. }
            | E::HomeNotRegistered { .. }
            | E::ConfigRead(_)
            | E::ConfigNotText { .. }
            | E::ConfigSyntax { .. }
            | E::Workers { .. }
            | E::SecretFile(_)
            | E::ImportFile { .. }
            | E::Csv { .. }
            | E::ProgressRead(_)
            | E::ProgressContent { .. }
            | E::Listen { .. }
            | E::Tls(_) => Kind::Invalid,
            E::HomeDisabled { .. } | E::NoEnabledBackend => Kind::NoBackend,
            E::DomainExists { .. } | E::AccountExists { .. } => Kind::Duplicate,
            E::DomainNotProvisioned { .. } => Kind::UnknownDomain,
            E::NoSuchBackend { .. }
            | E::NoSuchDomain { .. }
            | E::NoSuchAccount { .. }
            | E::NoSuchResource { .. } => Kind::NotFound,
            E::DomainNotEmpty { .. } => Kind::NotEmpty,
            E::Unregistered { .. } | E::AccountWithoutEntry { .. } => Kind::Internal,
            E::DomainLeftBehind { error, .. } => error.kind(),
            E::Body(_) | E::BodyUnreadable(_) | E::PathEncoding { .. } | E::Request { .. } => {
                Kind::BadRequest
            }
            E::BodyTooLarge { .. } => Kind::TooLarge,
            E::Unauthorized => Kind::Unauthorized,
            E::MethodNotAllowed { .. } => Kind::MethodNotAllowed,
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        self.kind().http_status()
    }

    /// The exit code of the command line.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    /// The JSON body of an HTTP error.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.kind().code(), "message": self.to_string()}})
    }

    /// A TOML error of the configuration, with its line when the reader knows it.
    pub(crate) fn config_syntax(text: &str, e: &toml::de::Error) -> Self {
        ProvisionError::ConfigSyntax {
            path: None,
            line: e
                .span()
                .map(|sp| text[..sp.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().trim_end().to_string(),
        }
    }

    /// The same configuration error, naming the file it came from.
    pub(crate) fn in_file(self, file: &Path) -> Self {
        match self {
            ProvisionError::ConfigSyntax { line, message, .. } => ProvisionError::ConfigSyntax {
                path: Some(file.to_path_buf()),
                line,
                message,
            },
            ProvisionError::Workers { workers, .. } => ProvisionError::Workers {
                path: Some(file.to_path_buf()),
                workers,
            },
            other => other,
        }
    }
}

/// The kind of a directory error: unreachable, bad input, a refusal, or internal.
fn directory_kind(e: &DirectoryError) -> Kind {
    match e {
        _ if e.is_unavailable() => Kind::DirectoryUnavailable,
        DirectoryError::Invalid { .. } => Kind::Invalid,
        DirectoryError::NoBackend { .. } => Kind::NoBackend,
        DirectoryError::AlreadyExists { .. } => Kind::Duplicate,
        DirectoryError::NotFound { .. } => Kind::NotFound,
        DirectoryError::NotEmpty { .. } => Kind::NotEmpty,
        _ => Kind::Internal,
    }
}

/// `path: ` before a configuration message, when it came from a file.
fn config_at(f: &mut fmt::Formatter<'_>, path: &Option<PathBuf>) -> fmt::Result {
    if let Some(p) = path {
        write!(f, "{}: ", p.display())?;
    }
    f.write_str("configuration: ")
}

/// Items joined by `; `.
fn join(f: &mut fmt::Formatter<'_>, items: &[StoreError]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProvisionError as E;
        match self {
            E::Move(e) => write!(f, "{e}"),
            E::Directory(e) | E::SecretFile(e) => write!(f, "{e}"),
            E::Backend(e) | E::Rejected(e) => write!(f, "{e}"),
            E::AllBackendsFailed { failures } => join(f, failures),
            E::Weight { weight, max } => write!(f, "weight {weight} is above {max}"),
            E::NoHome { domain } => {
                write!(f, "domain-based domain {domain} needs a home back-end")
            }
            E::HomeNotRegistered { home } => {
                write!(f, "home back-end {home} is not registered")
            }
            E::HomeDisabled { home } => write!(f, "home back-end {home} is disabled"),
            E::NoEnabledBackend => f.write_str("no enabled back-end"),
            E::DomainExists { domain } => write!(f, "domain {domain} exists already"),
            E::DomainNotProvisioned { domain } => {
                write!(f, "domain {domain} is not provisioned")
            }
            E::AccountExists { address, backend } => {
                write!(f, "account {address} exists already on back-end {backend}")
            }
            E::NoSuchBackend { name } => write!(f, "no back-end {name}"),
            E::NoSuchDomain { name } => write!(f, "no domain {name}"),
            E::NoSuchAccount { address } => write!(f, "no account {address}"),
            E::DomainNotEmpty { domain } => write!(f, "domain {domain} still has accounts"),
            E::Unregistered { backend } => write!(f, "back-end {backend} is not registered"),
            E::DomainLeftBehind { error, left } => {
                write!(f, "{error}; undo failed, domain left behind: ")?;
                join(f, left)
            }
            E::AccountUndoFailed { error, undo } => {
                write!(f, "{error}; undo failed ({undo}): run reconcile")
            }
            E::AccountWithoutEntry {
                error,
                backend,
                undo,
            } => write!(
                f,
                "{error}; undo failed, account left on back-end {backend} without an entry ({undo}): run reconcile"
            ),
            E::AccountPending { error, backend } => write!(
                f,
                "{error}; the account stays on back-end {backend} until a retry of this create completes it"
            ),
            E::ConfigRead(e) => write!(f, "configuration file: {e}"),
            E::ConfigNotText { path } => {
                write!(f, "{}: configuration: not UTF-8 text", path.display())
            }
            E::ConfigSyntax {
                path,
                line,
                message,
            } => {
                config_at(f, path)?;
                if let Some(l) = line {
                    write!(f, "line {l}: ")?;
                }
                f.write_str(&escape_controls(message))
            }
            E::Workers { path, workers } => {
                config_at(f, path)?;
                write!(f, "service.workers must be 1 to 256, not {workers}")
            }
            E::ImportFile { what, path, error } => {
                write!(f, "{what} {}: {error}", path.display())
            }
            E::Csv { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            E::ProgressRead(e) => write!(f, "progress file: {e}"),
            E::ProgressContent { path, line } => write!(
                f,
                "unreadable progress file {}: line {line:?}",
                path.display()
            ),
            E::Listen { address, reason } => write!(f, "cannot listen on {address}: {reason}"),
            E::Tls(e) => write!(f, "{e}"),
            E::Request { reason } => write!(f, "malformed HTTP request: {reason}"),
            E::Body(e) => write!(f, "request body: {e}"),
            E::BodyUnreadable(e) => write!(f, "cannot read the request body: {e}"),
            E::BodyTooLarge { max } => write!(f, "request body above {max} bytes"),
            E::PathEncoding { path } => {
                write!(f, "malformed percent-encoding in the path {path:?}")
            }
            E::Unauthorized => f.write_str("missing or wrong bearer token"),
            E::NoSuchResource { path } => write!(f, "no such resource: {path}"),
            E::MethodNotAllowed { method, path } => {
                write!(f, "{method} is not allowed on {path}")
            }
        }
    }
}

/// The message already includes the underlying error, so `source` stays empty (an error
/// chain printer would repeat it otherwise).
impl std::error::Error for ProvisionError {}

impl From<DirectoryError> for ProvisionError {
    fn from(e: DirectoryError) -> Self {
        ProvisionError::Directory(e)
    }
}

impl From<StoreError> for ProvisionError {
    fn from(e: StoreError) -> Self {
        ProvisionError::Backend(e)
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
        let e = ProvisionError::DomainExists {
            domain: "x.example.com".into(),
        };
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error": {"code": "already_exists", "message": "domain x.example.com exists already"}})
        );
        assert_eq!(e.http_status(), 409);
        let d: ProvisionError = DirectoryError::Unavailable {
            url: "u".into(),
            reason: "r".into(),
        }
        .into();
        assert_eq!(d.kind(), Kind::DirectoryUnavailable);
        let pending = ProvisionError::AccountPending {
            error: DirectoryError::Unavailable {
                url: "u".into(),
                reason: "r".into(),
            },
            backend: "be1".into(),
        };
        assert_eq!(pending.kind(), Kind::DirectoryUnavailable);
        assert!(pending.to_string().ends_with(
            "; the account stays on back-end be1 until a retry of this create completes it"
        ));
    }

    #[test]
    fn configuration_errors_are_one_line_naming_the_file() {
        let text = "[ldap]\nurl = \"x\ny\"\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let e = ProvisionError::config_syntax(text, &e).in_file(Path::new("/etc/p.toml"));
        let shown = e.to_string();
        assert!(
            shown.starts_with("/etc/p.toml: configuration: line 2: "),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");
        assert_eq!(e.exit_code(), 2);
    }
}
