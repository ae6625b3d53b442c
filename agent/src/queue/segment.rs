//! The record format of a queue segment: `[len: u32 LE][crc32: u32 LE][bytes]`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{QueueError, io_error};

pub(super) const HEADER_LEN: u64 = 8;

pub(super) fn header(record: &[u8]) -> [u8; 8] {
    let len = u32::try_from(record.len()).expect("records are far smaller than 4 GiB");
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(record).to_le_bytes());
    header
}

/// Why a scan stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// `each` declined a record, or the end was reached.
    Done,
    /// The bytes at the returned offset are not a whole, intact record.
    Damaged,
}

/// Calls `each` with every whole, intact record from `from` up to `len` until
/// it declines one; answers the offset after the last record taken and why it
/// stopped there.
fn scan(
    path: &Path,
    from: u64,
    len: u64,
    mut each: impl FnMut(&[u8]) -> bool,
) -> Result<(u64, Stop), QueueError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(from)).map_err(io_error(path))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut at = from;
    let mut record = Vec::new();
    while at < len {
        let mut header = [0u8; 8];
        if at + HEADER_LEN > len || reader.read_exact(&mut header).is_err() {
            return Ok((at, Stop::Damaged));
        }
        let size = u64::from(u32::from_le_bytes(header[..4].try_into().expect("4 bytes")));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if at + HEADER_LEN + size > len {
            return Ok((at, Stop::Damaged));
        }
        record.resize(size as usize, 0);
        if reader.read_exact(&mut record).is_err() || crc32fast::hash(&record) != crc {
            return Ok((at, Stop::Damaged));
        }
        if !each(&record) {
            break;
        }
        at += HEADER_LEN + size;
    }
    Ok((at, Stop::Done))
}

/// Reads records for the sink (see [`scan`]). A damaged record in the middle
/// of a segment cannot be repaired: it and the rest of its segment are
/// skipped, loudly, so that the queue does not stall behind it forever.
pub(super) fn read_records(
    path: &Path,
    from: u64,
    len: u64,
    each: impl FnMut(&[u8]) -> bool,
) -> Result<u64, QueueError> {
    match scan(path, from, len, each)? {
        (at, Stop::Done) => Ok(at),
        (at, Stop::Damaged) => {
            tracing::error!(path = %path.display(), offset = at, skipped = len - at, "disk queue record is damaged; skipping the rest of its segment");
            Ok(len)
        }
    }
}

/// The length of the longest prefix of whole, intact records: what survives
/// of a segment whose writer may have died mid-record.
pub(super) fn valid_prefix_len(path: &Path) -> Result<u64, QueueError> {
    let len = std::fs::metadata(path).map_err(io_error(path))?.len();
    Ok(scan(path, 0, len, |_| true)?.0)
}
