//! The JVMs' performance-data files (`<root>/hsperfdata_*/<pid>`), listed
//! again only when a folder that holds them has changed: the root is the
//! temp dir, often hundreds of entries, and an idle agent must not read it
//! all every interval.
//!
//! A folder is listed again when its modification time differs from the
//! one seen, is too recent to trust (a change within the file system's
//! clock tick leaves it as it was: "racy git"), or cannot be read, and
//! every [`RELIST_EVERY`] listings whatever it says.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Listings between two that read every folder.
const RELIST_EVERY: u32 = 30;

/// A modification time this close to now may yet hide a change.
const RACY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(super) struct Listing {
    root: Folder,
    folders: Vec<Folder>,
    listings: u32,
}

/// A folder, its modification time when listed, and what it held.
#[derive(Debug)]
struct Folder {
    path: PathBuf,
    seen: Option<SystemTime>,
    entries: Vec<PathBuf>,
}

impl Folder {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            seen: None,
            entries: Vec::new(),
        }
    }

    /// Lists the folder again, keeping the entries `keep` accepts, unless
    /// its modification time says it has not changed.
    fn refresh(&mut self, all: bool, keep: impl Fn(&str) -> bool) -> bool {
        let now = std::fs::metadata(&self.path)
            .and_then(|meta| meta.modified())
            .ok();
        let trusted = now.is_some_and(|modified| {
            SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age >= RACY)
        });
        if !all && trusted && now == self.seen {
            return false;
        }
        self.seen = now;
        self.entries = match std::fs::read_dir(&self.path) {
            Ok(entries) => entries
                .flatten()
                .filter(|entry| keep(&entry.file_name().to_string_lossy()))
                .map(|entry| entry.path())
                .collect(),
            Err(_) => Vec::new(),
        };
        true
    }
}

impl Listing {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: Folder::new(root.to_owned()),
            folders: Vec::new(),
            listings: 0,
        }
    }

    /// Every JVM's performance-data file now.
    pub(super) fn files(&mut self) -> Vec<PathBuf> {
        let all = self.listings.is_multiple_of(RELIST_EVERY);
        self.listings = self.listings.wrapping_add(1);
        if self
            .root
            .refresh(all, |name| name.starts_with("hsperfdata_"))
        {
            let mut kept = std::mem::take(&mut self.folders);
            self.folders = (self.root.entries.iter())
                .map(|path| match kept.iter().position(|f| &f.path == path) {
                    Some(at) => kept.swap_remove(at),
                    None => Folder::new(path.clone()),
                })
                .collect();
        }
        let pid = |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_digit());
        for folder in &mut self.folders {
            folder.refresh(all, pid);
        }
        let mut files: Vec<PathBuf> = (self.folders.iter())
            .flat_map(|folder| folder.entries.iter().cloned())
            .collect();
        files.sort();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[PathBuf]) -> Vec<String> {
        let name = |path: &PathBuf| {
            let parent = path.parent().and_then(Path::file_name).unwrap_or_default();
            let file = path.file_name().unwrap_or_default();
            format!("{}/{}", parent.to_string_lossy(), file.to_string_lossy())
        };
        files.iter().map(name).collect()
    }

    #[test]
    fn jvms_that_start_and_end_show_in_the_next_listing_and_other_files_never_do() {
        let root = tempfile::tempdir().unwrap();
        let alice = root.path().join("hsperfdata_alice");
        std::fs::create_dir(&alice).unwrap();
        std::fs::create_dir(root.path().join("not-perfdata")).unwrap();
        std::fs::write(root.path().join("not-perfdata/123"), b"").unwrap();
        std::fs::write(alice.join("101"), b"").unwrap();
        std::fs::write(alice.join("notes.txt"), b"").unwrap();
        let mut listing = Listing::new(root.path());
        assert_eq!(names(&listing.files()), ["hsperfdata_alice/101"]);

        std::fs::write(alice.join("102"), b"").unwrap();
        let bob = root.path().join("hsperfdata_bob");
        std::fs::create_dir(&bob).unwrap();
        std::fs::write(bob.join("201"), b"").unwrap();
        assert_eq!(
            names(&listing.files()),
            [
                "hsperfdata_alice/101",
                "hsperfdata_alice/102",
                "hsperfdata_bob/201"
            ]
        );

        std::fs::remove_file(alice.join("101")).unwrap();
        std::fs::remove_dir_all(&bob).unwrap();
        assert_eq!(names(&listing.files()), ["hsperfdata_alice/102"]);
    }

    #[test]
    fn a_folder_unchanged_since_it_was_listed_is_not_read_again() {
        let root = tempfile::tempdir().unwrap();
        let alice = root.path().join("hsperfdata_alice");
        std::fs::create_dir(&alice).unwrap();
        std::fs::write(alice.join("101"), b"").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        for folder in [root.path(), alice.as_path()] {
            let dir = std::fs::File::open(folder).unwrap();
            dir.set_modified(old).unwrap();
        }
        let mut listing = Listing::new(root.path());
        assert_eq!(names(&listing.files()), ["hsperfdata_alice/101"]);
        // A file appears but the folder's time is set back: only the
        // periodic full listing sees it.
        std::fs::write(alice.join("102"), b"").unwrap();
        std::fs::File::open(&alice)
            .unwrap()
            .set_modified(old)
            .unwrap();
        for _ in 1..RELIST_EVERY {
            assert_eq!(names(&listing.files()), ["hsperfdata_alice/101"]);
        }
        assert_eq!(
            names(&listing.files()),
            ["hsperfdata_alice/101", "hsperfdata_alice/102"]
        );
    }
}
