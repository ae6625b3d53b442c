//! What the embedded stores' write-ahead logs share: the frame, and group
//! commit.
//!
//! A frame is `u32 length, u32 CRC, payload`, the CRC over the payload. A
//! WAL is read up to its first frame that is cut short or fails its CRC:
//! what follows was never acknowledged.
//!
//! Group commit: writers append under their store's lock, then wait here
//! for a sync that covers what they wrote. One sync serves every writer
//! whose bytes it covers, so requests that arrive together pay for one
//! fsync.

use crate::embedded::error::EmbeddedError;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;

/// Bytes before a frame's payload.
pub(super) const HEADER: usize = 8;

/// Fills in the header of a frame whose payload follows [`HEADER`] reserved
/// bytes.
pub(super) fn seal(frame: &mut [u8]) {
    let len = (frame.len() - HEADER) as u32;
    let crc = crc32fast::hash(&frame[HEADER..]);
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// The whole frames at the start of `bytes`: each payload with the offset
/// just after its frame.
pub(super) fn frames(bytes: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = bytes.get(at..at + HEADER)?;
        let len = u32::from_le_bytes(header[..4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4"));
        let payload = bytes.get(at + HEADER..at + HEADER + len)?;
        if crc32fast::hash(payload) != crc {
            return None;
        }
        at += HEADER + len;
        Some((payload, at))
    })
}

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
    ) -> Result<(), EmbeddedError> {
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= written {
            return Ok(());
        }
        let now_written = now_written();
        for (path, file) in &self.files {
            file.sync_data()
                .map_err(|error| EmbeddedError::damaged(format!("{}: {error}", path.display())))?;
        }
        *synced = now_written;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_until_one_is_cut_short_or_damaged() {
        let mut log = Vec::new();
        for payload in [&b"one"[..], b"", b"three"] {
            let mut frame = vec![0; HEADER];
            frame.extend_from_slice(payload);
            seal(&mut frame);
            log.extend_from_slice(&frame);
        }
        let whole = log.len();
        let read: Vec<_> = frames(&log).collect();
        assert_eq!(
            read.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            [&b"one"[..], b"", b"three"]
        );
        assert_eq!(read.last().unwrap().1, whole);
        log.extend_from_slice(&[9, 0, 0, 0, 1, 2, 3, 4, b'x']);
        assert_eq!(frames(&log).count(), 3, "a frame cut short");
        log.truncate(whole);
        log[whole - 1] ^= 1;
        assert_eq!(frames(&log).count(), 2, "a frame failing its CRC");
    }
}
