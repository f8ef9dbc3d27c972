//! TLS for the API listener: the certificate chain and private key (PEM files) loaded into a
//! rustls server configuration, checked at start-up so a wrong file stops the service with a
//! clear message instead of failing each client's handshake.
//!
//! The key file must not be readable or writable by "others" (mode `o+r`/`o+w`): the
//! service refuses to start rather than warn, since a warning in a log nobody reads leaves
//! the key exposed. Group read stays allowed (Debian's `ssl-cert` group convention).

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axha_exec::{Deadline, ReadError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Largest certificate or key file read: a chain of a few certificates is a few KiB.
const MAX_PEM_FILE: usize = 1 << 20;
/// Longest wait for a PEM file's end (a FIFO nobody closes must not hold the start).
const PEM_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS listener cannot be set up.
#[derive(Debug)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    Read(ReadError),
    /// The certificate file holds no PEM certificate, or a malformed one.
    Certificate {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1), or a malformed one.
    Key {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The key file is readable or writable by any user.
    KeyExposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key does not belong to the certificate, or rustls refuses the pair.
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
    /// Only one of the certificate and key files is configured.
    Incomplete {
        /// The one that is missing (`certificate` or `key`).
        missing: &'static str,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read(e) => write!(f, "TLS: {e}"),
            TlsError::Certificate { path, reason } => {
                write!(f, "TLS certificate {}: {reason}", path.display())
            }
            TlsError::Key { path, reason } => write!(f, "TLS key {}: {reason}", path.display()),
            TlsError::KeyExposed { path, mode } => write!(
                f,
                "TLS key {} is accessible to every user (mode {mode:04o}): chmod o-rwx it",
                path.display()
            ),
            TlsError::Mismatch { cert, key, reason } => write!(
                f,
                "TLS key {} does not match certificate {}: {reason}",
                key.display(),
                cert.display()
            ),
            TlsError::Incomplete { missing } => write!(
                f,
                "TLS needs both a certificate and a key file: the {missing} file is not given"
            ),
        }
    }
}

/// The message already includes the underlying error (see the workspace's error convention).
impl std::error::Error for TlsError {}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    axha_exec::read_bounded(path, MAX_PEM_FILE, &Deadline::after(PEM_READ_TIMEOUT))
        .map_err(TlsError::Read)
}

/// The certificate chain of a PEM file, leaf first.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: path.to_path_buf(),
            reason: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The private key of a PEM file, once its permissions are checked.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let meta = std::fs::metadata(path).map_err(|error| {
        TlsError::Read(ReadError::Open {
            path: path.to_path_buf(),
            error,
        })
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o006 != 0 {
        return Err(TlsError::KeyExposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Key {
        path: path.to_path_buf(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key in it".into(),
            e => e.to_string(),
        },
    })
}

/// A server configuration from a certificate chain file and its key file (PEM), the pair
/// checked to match.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certificates(cert)?;
    let key_der = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key_der))
        .map_err(|e| TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    // The listener speaks HTTP/1.1 only: say so to clients that negotiate (RFC 7301), so one
    // that offers h2 alone is refused in the handshake rather than misread.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server configuration for an optional pair of files: `None` when neither is given.
pub fn optional_server_config(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(TlsError::Incomplete { missing: "key" }),
        (None, Some(_)) => Err(TlsError::Incomplete {
            missing: "certificate",
        }),
        (Some(c), Some(k)) => server_config(c, k).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_certificates(&cert).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "TLS certificate {}: no PEM certificate in it",
                cert.display()
            )
        );
        let e = read_key(&key).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("TLS key {}: ", key.display())),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key(&key).unwrap_err();
        assert!(matches!(e, TlsError::KeyExposed { mode: 0o644, .. }), "{e}");
        let e = read_key(&dir.path().join("absent.pem")).unwrap_err();
        assert!(matches!(e, TlsError::Read(_)), "{e}");
        assert!(matches!(
            optional_server_config(Some(&cert), None),
            Err(TlsError::Incomplete { missing: "key" })
        ));
        assert!(optional_server_config(None, None).unwrap().is_none());
    }
}
