//! HTTPS for the monitor: the server's certificate chain and key (and the
//! CA whose client certificates agents must present, when one is named)
//! read into a rustls configuration. Read before anything listens, so a bad
//! file is refused at start (and by `check`), and read again on SIGHUP, when
//! a bad file keeps the configuration in use. It never logs or prints a key,
//! and refuses one that others may read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;

/// `[tls]`: where the certificate, the key and the client CA are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsConfig {
    /// PEM: the server's certificate, then its chain.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1), readable by no one
    /// but the monitor's user and group.
    pub key_file: PathBuf,
    /// PEM: the CA(s) that sign the agents' client certificates; when set,
    /// a connection without one of those is refused in the handshake.
    pub client_ca_file: Option<PathBuf>,
}

/// Why the TLS files cannot be used; each names its file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read it", path.display())]
    Read {
        field: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate in it (it should hold -----BEGIN CERTIFICATE----- blocks)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error(
        "{}: others may read this private key (mode {mode:03o}); make it the monitor's only: chmod 600 (or 640 with its group)",
        path.display()
    )]
    KeyReadable { path: PathBuf, mode: u32 },
    #[error("{}: the certificate and the key do not go together", cert.display())]
    Mismatch {
        cert: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{}: a CA certificate in it is not usable", path.display())]
    CaCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{}: no usable CA certificate in it", path.display())]
    ClientCa {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}

impl TlsError {
    /// The `[tls]` field the problem is in.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Read { field, .. } => field,
            Self::NoKey { .. } | Self::KeyReadable { .. } => "tls.key_file",
            Self::CaCertificate { .. } | Self::ClientCa { .. } => "tls.client_ca_file",
            Self::NoCertificate { .. } | Self::Mismatch { .. } => "tls.cert_file",
        }
    }
}

/// The rustls server configuration the files describe.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&tls.cert_file, "tls.cert_file")?;
    let key = private_key(&tls.key_file)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Mismatch {
            cert: tls.cert_file.clone(),
            source,
        })?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in certificates(path, "tls.client_ca_file")? {
                roots
                    .add(certificate)
                    .map_err(|source| TlsError::CaCertificate {
                        path: path.clone(),
                        source,
                    })?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|source| TlsError::ClientCa {
                        path: path.clone(),
                        source,
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Mismatch {
            cert: tls.cert_file.clone(),
            source,
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path, field: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        field,
        path: path.to_owned(),
        source,
    })
}

fn certificates(
    path: &Path,
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, field)?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let metadata = std::fs::metadata(path).map_err(|source| TlsError::Read {
        field: "tls.key_file",
        path: path.to_owned(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o007 != 0 {
        return Err(TlsError::KeyReadable {
            path: path.to_owned(),
            mode,
        });
    }
    PrivateKeyDer::from_pem_slice(&read(path, "tls.key_file")?).map_err(|_| TlsError::NoKey {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, key_mode: u32) -> TlsConfig {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert_file = dir.join("monitor.crt");
        let key_file = dir.join("monitor.key");
        std::fs::write(&cert_file, made.cert.pem()).unwrap();
        std::fs::write(&key_file, made.signing_key.serialize_pem()).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(key_mode)).unwrap();
        TlsConfig {
            cert_file,
            key_file,
            client_ca_file: None,
        }
    }

    #[test]
    fn a_certificate_and_its_key_make_a_server_configuration() {
        let dir = tempfile::tempdir().unwrap();
        assert!(server_config(&files(dir.path(), 0o600)).is_ok());
    }

    #[test]
    fn a_key_others_may_read_is_refused_naming_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let error = server_config(&files(dir.path(), 0o644)).unwrap_err();
        assert_eq!(error.field(), "tls.key_file");
        let message = error.to_string();
        assert!(
            message.contains("monitor.key") && message.contains("chmod 600"),
            "{message}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tls = files(dir.path(), 0o600);
        let other = tempfile::tempdir().unwrap();
        let other = files(other.path(), 0o600);
        let mixed = TlsConfig {
            key_file: other.key_file,
            ..tls
        };
        let error = server_config(&mixed).unwrap_err();
        assert_eq!(error.field(), "tls.cert_file", "{error}");
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tls = files(dir.path(), 0o600);
        std::fs::write(&tls.cert_file, "not a certificate").unwrap();
        let error = server_config(&tls).unwrap_err();
        assert!(matches!(error, TlsError::NoCertificate { .. }), "{error}");
    }
}
