//! Which hosts each environment has, and when each was last heard from (the
//! time of its last batch), saved beside the index.

use crate::embedded::error::{EmbeddedError, io};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::HostSeen;

#[derive(Debug)]
pub(super) struct Catalog {
    file: PathBuf,
    hosts: Mutex<BTreeMap<String, BTreeMap<String, DateTime<Utc>>>>,
}

impl Catalog {
    pub(super) fn load(file: PathBuf) -> Result<Self, EmbeddedError> {
        let hosts = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| EmbeddedError::damaged(format!("{}: {error}", file.display())))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(io(&file)(error)),
        };
        Ok(Self {
            file,
            hosts: Mutex::new(hosts),
        })
    }

    pub(super) fn saw(&self, environment: &str, host: &str, at: DateTime<Utc>) {
        self.hosts
            .lock()
            .expect("catalog lock")
            .entry(environment.to_owned())
            .or_default()
            .insert(host.to_owned(), at);
    }

    pub(super) fn hosts(&self, environment: &str) -> Vec<HostSeen> {
        self.hosts
            .lock()
            .expect("catalog lock")
            .get(environment)
            .map(|hosts| {
                hosts
                    .iter()
                    .map(|(host, last_seen)| HostSeen {
                        host: host.clone(),
                        last_seen: *last_seen,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn save(&self) -> std::io::Result<()> {
        let json = serde_json::to_vec(&*self.hosts.lock().expect("catalog lock"))
            .expect("catalog serializes");
        aerie_common::atomic_write(&self.file, &json)
    }
}
