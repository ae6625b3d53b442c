//! Per-file positions, keyed by the file's fingerprint, saved atomically. A
//! position is saved only after the events before it are in the disk queue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where reading of one file resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub offset: u64,
    /// The path it was last seen at (informational).
    pub path: PathBuf,
    /// Unix seconds of the last update: entries unseen for a week are dropped.
    pub updated: i64,
    /// The device and inode it was last read through: which of several
    /// files with the same first line owns the plain fingerprint.
    #[serde(default)]
    pub inode: Option<(u64, u64)>,
}

/// The positions, and whatever state the source keeps with them (saved in
/// the same write, so the two always agree).
#[derive(Debug)]
pub struct Checkpoints {
    file: PathBuf,
    entries: BTreeMap<String, Checkpoint>,
    state: serde_json::Value,
    dirty: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    files: BTreeMap<String, Checkpoint>,
    #[serde(default)]
    state: serde_json::Value,
}

const FORGET_AFTER_SECS: i64 = 7 * 24 * 3600;

impl Checkpoints {
    /// Loads `file`; a missing file is an empty set, an unreadable one an error
    /// (starting over would send every file again).
    pub fn load(file: &Path) -> Result<Self, std::io::Error> {
        let saved: CheckpointFile = match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a checkpoint file ({error}); move it aside to read every file from the start", file.display()),
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => CheckpointFile::default(),
            Err(error) => return Err(error),
        };
        Ok(Self {
            file: file.to_path_buf(),
            entries: saved.files,
            state: saved.state,
            dirty: false,
        })
    }

    pub fn get(&self, fingerprint: u64) -> Option<u64> {
        self.entries
            .get(&key(fingerprint))
            .map(|entry| entry.offset)
    }

    /// The device and inode the file with `fingerprint` was last read through.
    pub fn inode(&self, fingerprint: u64) -> Option<(u64, u64)> {
        self.entries
            .get(&key(fingerprint))
            .and_then(|entry| entry.inode)
    }

    pub fn set(&mut self, fingerprint: u64, offset: u64, path: &Path, inode: (u64, u64)) {
        let entry = self
            .entries
            .entry(key(fingerprint))
            .or_insert_with(|| Checkpoint {
                offset: 0,
                path: path.to_path_buf(),
                updated: 0,
                inode: None,
            });
        // A file's position only moves forward: everything before it was
        // queued, whichever copy of the content it was read from.
        let offset = offset.max(entry.offset);
        if entry.offset != offset || entry.path != path || entry.inode != Some(inode) {
            entry.offset = offset;
            entry.path = path.to_path_buf();
            entry.inode = Some(inode);
            entry.updated = chrono::Utc::now().timestamp();
            self.dirty = true;
        }
    }

    /// The source's own state, as last saved.
    pub fn state(&self) -> &serde_json::Value {
        &self.state
    }

    pub fn set_state(&mut self, state: serde_json::Value) {
        if self.state != state {
            self.state = state;
            self.dirty = true;
        }
    }

    /// Writes the set if it changed: to a temporary file, then renamed over.
    pub fn save(&mut self) -> Result<(), std::io::Error> {
        if !self.dirty {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp();
        self.entries
            .retain(|_, entry| now - entry.updated < FORGET_AFTER_SECS);
        let saved = CheckpointFile {
            files: std::mem::take(&mut self.entries),
            state: std::mem::take(&mut self.state),
        };
        let written = aerie_common::atomic_write(
            &self.file,
            &serde_json::to_vec(&saved).expect("checkpoints serialize"),
        );
        self.entries = saved.files;
        self.state = saved.state;
        written?;
        self.dirty = false;
        Ok(())
    }
}

fn key(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}
