//! Replacing a file whole: written beside it, synced, renamed over it, and
//! the directory synced, so that after a crash or a power cut the file holds
//! either its old or its new content, never a mix or nothing.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Replaces `path` with `bytes`, durably: a `.tmp` sibling is written and
/// synced, renamed over `path`, then the directory is synced so the rename
/// itself survives a crash.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // No buffer: the bytes are written in one call.
    replace(path, 0, |out| out.write_all(bytes))
}

/// The same for a file written piece by piece (a store segment): `write`
/// fills the buffered temporary file; nothing replaces `path` unless it
/// succeeds. Answers what `write` answered.
pub fn atomic_write_with<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    replace(path, 1 << 20, write)
}

/// Both of the above, through a buffer of `buffer` bytes.
fn replace<T>(
    path: &Path,
    buffer: usize,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&tmp)?;
    let mut out = BufWriter::with_capacity(buffer, file);
    let written = match write(&mut out) {
        Ok(written) => written,
        Err(error) => {
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            return Err(error);
        }
    };
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        atomic_write(&path, b"a much longer first version").unwrap();
        atomic_write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let error = atomic_write(&dir.path().join("gone/state.json"), b"x").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }
}
