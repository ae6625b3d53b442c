//! What both sinks need of HTTP: a client (rustls with the system roots plus
//! the configured CA, through the customer's proxy when there is one), the
//! URL and CA checks their configs make, the default timeout, and errors
//! shown with their causes (reqwest hides the useful part, such as a
//! refused connection or an unknown certificate, in the chain).

use std::path::Path;
use std::time::Duration;

use aerie_common::toml_file::FieldError;

pub use aerie_common::error_chain;

/// The default time a request may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP client for a sink: rustls with the system roots plus `ca_pem`,
/// through `proxy` when given.
pub fn http_client(
    ca_pem: Option<&[u8]>,
    proxy: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("aerie-agent/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        for certificate in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(proxy) = proxy {
        builder =
            builder.proxy(reqwest::Proxy::all(proxy).map_err(|e| format!("proxy {proxy}: {e}"))?);
    }
    builder.build().map_err(|error| error.to_string())
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
pub fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let pem =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(pem),
        _ => Err(format!("{} holds no PEM certificate", path.display())),
    }
}
