//! `[tls]`: the monitor serves HTTPS itself when the section is there.
//! The files are read here once, so `check` and a start refuse what the
//! server could not use (see `crate::tls`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::invalid;
use crate::tls::{TlsConfig, server_config};
use aerie_common::toml_file::FieldError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

impl RawTls {
    /// The paths made absolute against the config's folder, and the files
    /// read and checked as the server will read them.
    pub(super) fn validate(self, base: &Path) -> Result<TlsConfig, FieldError> {
        let tls = TlsConfig {
            cert_file: base.join(self.cert_file),
            key_file: base.join(self.key_file),
            client_ca_file: self.client_ca_file.map(|path| base.join(path)),
        };
        server_config(&tls)
            .map_err(|error| invalid(error.field(), aerie_common::error_chain(&error)))?;
        Ok(tls)
    }
}
