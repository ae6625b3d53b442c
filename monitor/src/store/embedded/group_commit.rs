//! Group commit, shared by the embedded stores' write-ahead logs: writers
//! append under their store's lock, then wait here for a sync that covers
//! what they wrote. One sync serves every writer whose bytes it covers, so
//! requests that arrive together pay for one fsync.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;

pub(super) struct GroupCommit {
    /// Bytes ever written that are known to be synced.
    synced: Mutex<u64>,
    /// The files a sync covers, with their paths for errors.
    files: Vec<(PathBuf, File)>,
}

impl GroupCommit {
    /// `synced`: what is on disk already (what was read back at open).
    pub(super) fn new(synced: u64, files: Vec<(PathBuf, File)>) -> Self {
        Self {
            synced: Mutex::new(synced),
            files,
        }
    }

    /// Returns once bytes up to `written` are synced: at once if a sync since
    /// did it, else after syncing every file. `now_written` tells how much
    /// has been written by then; it is read under the sync lock, so the mark
    /// only grows.
    pub(super) fn sync_to(
        &self,
        written: u64,
        now_written: impl FnOnce() -> u64,
    ) -> Result<(), String> {
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= written {
            return Ok(());
        }
        let now_written = now_written();
        for (path, file) in &self.files {
            file.sync_data()
                .map_err(|error| format!("{}: {error}", path.display()))?;
        }
        *synced = now_written;
        Ok(())
    }
}
