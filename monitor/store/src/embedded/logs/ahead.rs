//! Reading ahead what a search's lookups in many segments' term indexes
//! will read, so that the reads of bytes not in memory overlap instead of
//! following one another, two at a time on two cores. A segment's lookup
//! reads a block, then the rows the block points to: both would be waited
//! for, once per segment. Here every segment's blocks are asked for first,
//! then read, each asking for its terms' rows; the search then finds them
//! read. On a store whose pages the machine has let go (a cloud VM's host
//! may reclaim page cache not touched for a while, however much memory is
//! free), a count of a word at 30M lines waited for about 230 reads in
//! turn.
//!
//! It must never change what a search finds: it only asks the kernel to
//! read ahead, and looks terms up as the search would itself. A lookup
//! that fails here is left for the search to make again and report.

use std::sync::Arc;

use super::segment::Segment;
use super::summaries::{Summaries, Summary};
use super::terms::{Found, Terms};
use super::{Search, on_every_core, plan};

/// What was read ahead of a segment's search: its index's summary and the
/// search's terms looked up. Empty when the segment has no index or a read
/// failed.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    pub summary: Option<Arc<Summary>>,
    pub found: Found,
}

/// For each of `segments`, its summary and the terms `search` looks up in
/// its index, looked up, with the blocks of all the segments read ahead
/// first and each term's rows after.
pub(super) fn look_up(
    segments: &[Arc<Segment>],
    summaries: &Summaries,
    search: &Search<'_>,
) -> Vec<Ahead> {
    let wanted = plan::terms(search);
    let summaries = on_every_core(segments, |segment| {
        let index = segment.index()?;
        let summary = summaries.of(segment, &index).ok()?;
        Terms::with_table(&index, Arc::clone(&summary.table)).read_blocks_ahead(&wanted);
        Some(summary)
    });
    let segments: Vec<_> = segments.iter().zip(summaries).collect();
    on_every_core(&segments, |(segment, summary)| {
        let Some((index, summary)) = segment.index().zip(summary.clone()) else {
            return Ahead::default();
        };
        let terms = Terms::with_table(&index, Arc::clone(&summary.table));
        Ahead {
            found: terms.look_up(&wanted).unwrap_or_default(),
            summary: Some(summary),
        }
    })
}
