//! Which hosts each environment has, and when each was last heard from (the
//! time of its last batch), saved beside the index.
//!
//! A host new to its environment is saved before its batch is answered,
//! so that no stored line or sample has a host the catalog forgets after a
//! crash. The times last heard from are saved at most every
//! [`SAVE_EVERY`] and when the store closes: a crash forgets at most that
//! much of them, and a batch of a known host costs no write of its own.
//! It must never answer a batch with a new host before that host is saved.

use crate::embedded::error::{EmbeddedError, io};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::HostSeen;

#[derive(Debug)]
pub(super) struct Catalog {
    file: PathBuf,
    hosts: Mutex<BTreeMap<String, BTreeMap<String, DateTime<Utc>>>>,
    /// A host was added since the last save began (set and cleared with
    /// `hosts` held).
    new_host: AtomicBool,
    /// When the last save began; held while the file is written: saves
    /// from the ingest path and the writer thread would otherwise share one
    /// temporary file, the second finding it renamed away or both writing
    /// into it at once.
    saving: Mutex<Option<Instant>>,
}

/// How long the times hosts were last heard from may go unsaved.
const SAVE_EVERY: Duration = Duration::from_secs(5);

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
            new_host: AtomicBool::new(false),
            saving: Mutex::new(None),
        })
    }

    pub(super) fn saw(&self, environment: &str, host: &str, at: DateTime<Utc>) {
        let mut hosts = self.hosts.lock().expect("catalog lock");
        let environment = hosts.entry(environment.to_owned()).or_default();
        match environment.get_mut(host) {
            Some(last) => *last = at,
            None => {
                environment.insert(host.to_owned(), at);
                self.new_host.store(true, Ordering::Relaxed);
            }
        }
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

    /// Writes the catalog to its file when a host is new since the last
    /// save, or the last save began [`SAVE_EVERY`] ago; when this answers,
    /// every host seen before the call is in the file.
    pub(super) fn save_due(&self) -> std::io::Result<()> {
        let mut saving = self.saving.lock().expect("catalog save lock");
        let recent = saving.is_some_and(|began| began.elapsed() < SAVE_EVERY);
        if recent && !self.new_host.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.write(&mut saving)
    }

    /// Writes the catalog to its file now (as the store closes).
    pub(super) fn save(&self) -> std::io::Result<()> {
        let mut saving = self.saving.lock().expect("catalog save lock");
        self.write(&mut saving)
    }

    /// One save at a time: a save that waited writes what was seen up to
    /// its turn, never older than the save before it.
    fn write(&self, began: &mut Option<Instant>) -> std::io::Result<()> {
        *began = Some(Instant::now());
        let json = {
            let hosts = self.hosts.lock().expect("catalog lock");
            // A host added from here on is saved by the next save.
            self.new_host.store(false, Ordering::Relaxed);
            serde_json::to_vec(&*hosts).expect("catalog serializes")
        };
        let written = aerie_common::atomic_write(&self.file, &json);
        if written.is_err() {
            // Not saved: the next save may not wait.
            self.new_host.store(true, Ordering::Relaxed);
        }
        written
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
                        catalog.save_due().expect("every save succeeds");
                    }
                });
            }
        });
        let loaded = Catalog::load(file).expect("the saved catalog loads");
        assert_eq!(loaded.hosts("acme").len(), 8 * 7);
    }

    #[test]
    fn a_new_host_is_saved_at_once_and_a_known_hosts_time_waits_for_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.json");
        let catalog = Catalog::load(file.clone()).unwrap();
        let (first, later) = (Utc::now() - chrono::Duration::minutes(1), Utc::now());
        catalog.saw("acme", "gw-1", first);
        catalog.save_due().unwrap();
        catalog.saw("acme", "gw-1", later);
        catalog.saw("acme", "gw-2", later);
        catalog.save_due().unwrap();
        let loaded = Catalog::load(file.clone()).unwrap().hosts("acme");
        let seen: Vec<_> = loaded
            .iter()
            .map(|h| (h.host.as_str(), h.last_seen))
            .collect();
        assert_eq!(seen, [("gw-1", later), ("gw-2", later)]);

        // A known host's batch alone, within SAVE_EVERY: not written.
        let latest = later + chrono::Duration::seconds(1);
        catalog.saw("acme", "gw-2", latest);
        catalog.save_due().unwrap();
        let on_disk = Catalog::load(file.clone()).unwrap().hosts("acme");
        assert_eq!(on_disk[1].last_seen, later, "saved again within SAVE_EVERY");
        assert_eq!(catalog.hosts("acme")[1].last_seen, latest);
        catalog.save().unwrap();
        assert_eq!(
            Catalog::load(file).unwrap().hosts("acme")[1].last_seen,
            latest
        );
    }
}
