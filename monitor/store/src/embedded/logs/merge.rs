//! Segments merged into larger ones, as LSM stores and ClickHouse's
//! MergeTree merge their parts: a search or count looks up its terms once
//! in every segment, so a store of 30M lines in 117 segments of a head each
//! spent more on the segments than on the rows. Every run of
//! [`LogMemory::merge_segments`](super::LogMemory) segments of about a
//! head's lines, one after another, is written as one
//! ([`Segment::merge`]: granules copied, term indexes merged) on a thread
//! of its own, then takes their place in one step under the store's lock;
//! a search that began before reads the segments it began with.
//!
//! A merge must never lose a row nor keep one twice. The merged segment is
//! written whole (to a `.tmp` file, synced, renamed) before it replaces its
//! sources; it names them, so a source that a crash left behind is deleted
//! when the store opens ([`leftovers`]). A source that retention deleted or
//! rewrote meanwhile calls the merge off.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::State;
use super::segment::Segment;
use super::summaries::Summaries;
use crate::embedded::error::EmbeddedError;

/// What makes segments due for a merge.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Segments merged at once; fewer than 2: none.
    pub segments: usize,
    /// The store's head, in lines: a segment of up to two heads' lines that
    /// is no merge itself is merged.
    pub head_lines: usize,
}

impl Policy {
    /// Whether `segment` is merged with others.
    fn takes(&self, segment: &Segment) -> bool {
        segment.merged().is_empty()
            && segment.mergeable()
            && segment.rows() <= 2 * self.head_lines as u64
    }

    /// The oldest run of segments due for a merge, oldest first.
    pub(super) fn due(&self, segments: &[Arc<Segment>]) -> Option<Vec<Arc<Segment>>> {
        if self.segments < 2 {
            return None;
        }
        let mut run = 0;
        for (at, segment) in segments.iter().enumerate() {
            // A run's segments store their granules alike.
            let alike = at > 0 && segment.stored_like(&segments[at - 1]);
            run = match self.takes(segment) {
                true if alike => run + 1,
                true => 1,
                false => 0,
            };
            if run == self.segments {
                return Some(segments[at + 1 - run..=at].to_vec());
            }
        }
        None
    }
}

/// Merges segments on a thread of its own, one merge at a time.
pub(super) struct Merger {
    policy: Policy,
    dir: PathBuf,
    state: Arc<Mutex<State>>,
    summaries: Arc<Summaries>,
    running: Arc<Mutex<Running>>,
}

/// The merging thread, and what it was asked while it ran.
#[derive(Debug, Default)]
struct Running {
    thread: Option<std::thread::JoinHandle<()>>,
    busy: bool,
    /// Segments were written while it merged: it looks for runs due again
    /// before it ends.
    again: bool,
}

impl Merger {
    pub(super) fn new(
        policy: Policy,
        dir: &Path,
        state: &Arc<Mutex<State>>,
        summaries: &Arc<Summaries>,
    ) -> Self {
        Self {
            policy,
            dir: dir.to_owned(),
            state: Arc::clone(state),
            summaries: Arc::clone(summaries),
            running: Arc::default(),
        }
    }

    /// Merges the runs of segments due, if any, on the merging thread
    /// (started if it is not running). Never call it holding the store's
    /// lock.
    pub(super) fn when_due(&self) {
        let mut running = lock(&self.running);
        if running.busy {
            running.again = true;
            return;
        }
        if self.policy.due(&lock(&self.state).segments).is_none() {
            return;
        }
        if let Some(ended) = running.thread.take() {
            let _ = ended.join();
        }
        let (state, summaries) = (Arc::clone(&self.state), Arc::clone(&self.summaries));
        let (dir, policy, looked) = (self.dir.clone(), self.policy, Arc::clone(&self.running));
        let thread = std::thread::Builder::new()
            .name("log-merge".into())
            .spawn(move || {
                loop {
                    if let Err(error) = merge_due(&state, &summaries, &dir, policy) {
                        tracing::warn!(%error, "cannot merge log segments; they stay as they are");
                    }
                    let mut running = lock(&looked);
                    if !std::mem::take(&mut running.again) {
                        running.busy = false;
                        return;
                    }
                }
            });
        match thread {
            Ok(thread) => (running.thread, running.busy) = (Some(thread), true),
            Err(error) => tracing::warn!(%error, "cannot start merging log segments"),
        }
    }

    /// The oldest run of segments due for a merge now.
    #[cfg(test)]
    pub(super) fn due(&self) -> Option<Vec<Arc<Segment>>> {
        self.policy.due(&lock(&self.state).segments)
    }

    /// Waits for the merging thread, if it runs, to end.
    pub(super) fn finish(&self) {
        let thread = lock(&self.running).thread.take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Merges the runs of segments due, oldest first, until none is: each
/// written as one segment, put in its sources' place in `state` and its
/// sources' files deleted. A run whose merge fails is left as it is, and
/// merging stops until the next call.
fn merge_due(
    state: &Mutex<State>,
    summaries: &Summaries,
    dir: &Path,
    policy: Policy,
) -> Result<(), EmbeddedError> {
    loop {
        let due = policy.due(&lock(state).segments);
        let Some(sources) = due else {
            return Ok(());
        };
        merge(state, summaries, dir, &sources)?;
    }
}

fn lock<T>(held: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Merges `sources` (one after another in `state`, oldest first).
fn merge(
    state: &Mutex<State>,
    summaries: &Summaries,
    dir: &Path,
    sources: &[Arc<Segment>],
) -> Result<(), EmbeddedError> {
    let (Some(first), Some(last)) = (sources.first(), sources.last()) else {
        return Ok(());
    };
    let name = format!(
        "{:020}-{:020}.seg",
        last.flushed_through(),
        first.flushed_through()
    );
    let path = dir.join("segments").join(name);
    let merged = Arc::new(Segment::merge(&path, sources)?);
    if !lock(state).replace(sources, &merged) {
        // Retention took a source meanwhile: the merged copy goes.
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    for source in sources {
        if let Err(error) = std::fs::remove_file(&source.path) {
            // Its rows are in the merged segment: the next open deletes it.
            tracing::warn!(path = %source.path.display(), %error, "cannot delete a merged log segment");
        }
    }
    summaries.warm(std::slice::from_ref(&merged));
    Ok(())
}

impl State {
    /// Puts `merged` in place of `sources`, if they are still one after
    /// another among the segments; answers whether they were.
    fn replace(&mut self, sources: &[Arc<Segment>], merged: &Arc<Segment>) -> bool {
        let Some(at) = (self.segments.iter()).position(|s| Arc::ptr_eq(s, &sources[0])) else {
            return false;
        };
        let run = self.segments.get(at..at + sources.len());
        if !run.is_some_and(|run| run.iter().zip(sources).all(|(a, b)| Arc::ptr_eq(a, b))) {
            return false;
        }
        self.segments
            .splice(at..at + sources.len(), [Arc::clone(merged)]);
        let source = |held: &Arc<Segment>| sources.iter().any(|s| Arc::ptr_eq(s, held));
        self.id_lists.retain(|held| !source(held));
        if merged.holds_ids() {
            self.used(merged);
        }
        true
    }
}

/// The places among `segments` of those a merged segment holds the rows
/// of: left by a crash between the merged segment's writing and their
/// deletion.
pub(super) fn leftovers(segments: &[Segment]) -> Vec<usize> {
    let merged: std::collections::HashSet<u64> = segments
        .iter()
        .flat_map(|segment| segment.merged().iter().copied())
        .collect();
    (segments.iter().enumerate())
        .filter(|(_, segment)| {
            segment.merged().is_empty() && merged.contains(&segment.flushed_through())
        })
        .map(|(at, _)| at)
        .collect()
}
