//! What both sinks need of HTTP: a client (rustls with the system roots plus
//! the configured CA, through the customer's proxy when there is one), the
//! URL and CA checks their configs make, the default timeout, and errors
//! shown with their causes (reqwest hides the useful part, such as a
//! refused connection or an unknown certificate, in the chain).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aerie_common::toml_file::FieldError;

pub use aerie_common::error_chain;

/// The default time a request may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a sink has no HTTP client, or no CA to give it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {path}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("the CA bundle is not PEM")]
    Ca(#[source] reqwest::Error),
    #[error("proxy {proxy} is not usable")]
    Proxy {
        proxy: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the HTTP client could not be built")]
    Build(#[source] reqwest::Error),
    #[error("{}: cannot read it", path.display())]
    ReadIdentity {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the client certificate and key are not a usable PEM pair (a certificate chain and its PKCS#8, PKCS#1 or SEC1 key)"
    )]
    Identity(#[source] reqwest::Error),
}

/// Why one delivery attempt failed (either sink).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot reach {url}{route}: {detail}")]
    Unreachable {
        url: String,
        route: String,
        detail: String,
    },
    #[error("{url}{route} answered {status}{via}: {body}")]
    Status {
        url: String,
        route: String,
        status: reqwest::StatusCode,
        via: String,
        body: String,
    },
    #[error("{url} answered with a body that is not {expected}: {detail}")]
    BadAnswer {
        url: String,
        expected: &'static str,
        detail: String,
    },
}

/// An HTTP client for a sink: rustls with the system roots plus `ca_pem`,
/// through `proxy` when given.
pub fn http_client(
    ca_pem: Option<&[u8]>,
    identity_pem: Option<&[u8]>,
    proxy: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("aerie-agent/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = identity_pem {
        builder =
            builder.identity(reqwest::Identity::from_pem(pem).map_err(ClientError::Identity)?);
    }
    if let Some(pem) = ca_pem {
        for certificate in reqwest::Certificate::from_pem_bundle(pem).map_err(ClientError::Ca)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(proxy) = proxy {
        let all = reqwest::Proxy::all(proxy).map_err(|source| ClientError::Proxy {
            proxy: proxy.to_owned(),
            source,
        })?;
        builder = builder.proxy(all);
    }
    builder.build().map_err(ClientError::Build)
}

/// Refuses a value of `field` that is not an http or https URL.
pub fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        FieldError::new(
            field,
            format!("{url:?} is not a URL ({error}); write e.g. \"https://monitor.example:8443\""),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FieldError::new(
            field,
            format!("{url:?}: the scheme must be http or https"),
        ));
    }
    Ok(())
}

/// The PEM bundle at `path`, refused when it holds no certificate.
/// The client certificate (with its chain) and key at these paths, as one
/// PEM, checked by building it.
pub fn read_identity(cert: &Path, key: &Path) -> Result<Vec<u8>, ClientError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ClientError::ReadIdentity {
            path: path.to_owned(),
            source,
        })
    };
    let mut pem = read(cert)?;
    pem.push(b'\n');
    pem.extend(read(key)?);
    reqwest::Identity::from_pem(&pem).map_err(ClientError::Identity)?;
    Ok(pem)
}

pub fn read_ca(path: &Path) -> Result<Vec<u8>, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::ReadCa {
        path: path.to_owned(),
        source,
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(pem),
        _ => Err(ClientError::NoCertificate {
            path: path.to_owned(),
        }),
    }
}
