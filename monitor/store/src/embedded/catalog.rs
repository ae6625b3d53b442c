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
    /// Held while the file is written: saves from the ingest path and the
    /// writer thread would otherwise share one temporary file, the second
    /// finding it renamed away or both writing into it at once.
    saving: Mutex<()>,
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
            saving: Mutex::new(()),
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

    /// Writes the catalog to its file, one save at a time: a save that
    /// waited writes what was seen up to its turn, never older than the
    /// save before it.
    pub(super) fn save(&self) -> std::io::Result<()> {
        let _saving = self.saving.lock().expect("catalog save lock");
        let json = serde_json::to_vec(&*self.hosts.lock().expect("catalog lock"))
            .expect("catalog serializes");
        aerie_common::atomic_write(&self.file, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_at_once_from_many_threads_each_succeed_and_leave_a_file_that_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.json");
        let catalog = Catalog::load(file.clone()).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let catalog = &catalog;
                scope.spawn(move || {
                    for round in 0..50 {
                        // Names of different lengths, so that two saves
                        // written over each other would leave a broken file.
                        let host = format!("host-{thread}-{}", "x".repeat(round % 7));
                        catalog.saw("acme", &host, Utc::now());
                        catalog.save().expect("every save succeeds");
                    }
                });
            }
        });
        let loaded = Catalog::load(file).expect("the saved catalog loads");
        assert_eq!(loaded.hosts("acme").len(), 8 * 7);
    }
}
