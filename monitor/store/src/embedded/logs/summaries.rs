//! The segments' index summaries kept in memory between searches: a
//! segment's term-index block table and each host's rows, which every
//! search and count of the segment asks before anything else.
//!
//! Within a byte budget ([`LogMemory::index_cache`](super::LogMemory)) the
//! newest segments' summaries are kept, since searches start from the
//! newest lines. They are read when the store opens and as each segment is
//! written, so the first search does not pay for them all; a segment past
//! the budget has its summary read again by each search that needs it. The
//! cache must never keep a segment alive: a segment that retention deletes
//! takes its summary with it.

use std::sync::{Arc, LazyLock, Mutex, Weak};

use roaring::RoaringBitmap;

use super::segment::Segment;
use super::terms::{self, IndexBytes, Table, Terms};
use crate::embedded::error::EmbeddedError;

/// Each host of an index and its rows.
type HostRows = Vec<(Arc<str>, RoaringBitmap)>;

/// The host of each row of an index: a count per host is one pass over the
/// rows it counts, whatever the number of hosts.
#[derive(Debug)]
pub(super) struct HostOfRow {
    pub names: Vec<Arc<str>>,
    /// For each row, its host's place in `names`; all ones (in its width)
    /// when no host term holds the row.
    of_row: Ordinals,
}

/// A place per row in as few bits as the hosts need: an environment's
/// hosts are usually a few gateways and traffic managers, and the newest
/// segments' lists are kept in memory ([`Summaries`]) and read at rows far
/// apart by a count, so that their size is both memory and cache misses.
#[derive(Debug)]
enum Ordinals {
    /// Two rows a byte, the first in the low half: up to 15 hosts.
    Nibble(Vec<u8>),
    Byte(Vec<u8>),
    Wide(Vec<u16>),
    /// Every row the one host's: see [`HostOfRow::anyone`].
    Anyone,
}

impl HostOfRow {
    /// The host of each row of the index `terms`; `None` when a host's term
    /// was cut (two hosts may share it) or is not UTF-8, or with more hosts
    /// than a u16 numbers, so that rows must be read to tell.
    pub(super) fn of_index(terms: &Terms<'_>) -> Result<Option<Self>, EmbeddedError> {
        Ok(host_rows(terms)?.and_then(|hosts| Self::new(hosts, terms.rows)))
    }

    /// From each host's rows, of an index of `rows` rows; `None` with more
    /// hosts than a u16 numbers.
    fn new(hosts: HostRows, rows: u32) -> Option<Self> {
        let mut of_row = match hosts.len() {
            0..15 => Ordinals::Nibble(vec![u8::MAX; (rows as usize).div_ceil(2)]),
            15..255 => Ordinals::Byte(vec![u8::MAX; rows as usize]),
            255..65535 => Ordinals::Wide(vec![u16::MAX; rows as usize]),
            _ => return None,
        };
        for (at, (_, host_rows)) in hosts.iter().enumerate() {
            for row in host_rows {
                let row = row as usize;
                match &mut of_row {
                    Ordinals::Nibble(of_row) => {
                        let shift = (row % 2) * 4;
                        let byte = &mut of_row[row / 2];
                        *byte = (*byte & !(0xf << shift)) | ((at as u8) << shift);
                    }
                    Ordinals::Byte(of_row) => of_row[row] = at as u8,
                    Ordinals::Wide(of_row) => of_row[row] = at as u16,
                    Ordinals::Anyone => {}
                }
            }
        }
        let names = hosts.into_iter().map(|(name, _)| name).collect();
        Some(Self { names, of_row })
    }

    /// Every row of any index taken as one nameless host's: how a count
    /// not asked per host counts the rows the index answers for, without
    /// looking up a row's host.
    pub(super) fn anyone() -> &'static HostOfRow {
        static ANYONE: LazyLock<HostOfRow> = LazyLock::new(|| HostOfRow {
            names: vec![Arc::from("")],
            of_row: Ordinals::Anyone,
        });
        &ANYONE
    }

    /// The place in `names` of the host of `row`, if a host holds it.
    pub(super) fn of(&self, row: u32) -> Option<usize> {
        let at = match &self.of_row {
            Ordinals::Anyone => 0,
            Ordinals::Nibble(of_row) => {
                let byte = *of_row.get(row as usize / 2)?;
                usize::from((byte >> ((row % 2) * 4)) & 0xf)
            }
            Ordinals::Byte(of_row) => usize::from(*of_row.get(row as usize)?),
            Ordinals::Wide(of_row) => usize::from(*of_row.get(row as usize)?),
        };
        (at < self.names.len()).then_some(at)
    }

    fn size(&self) -> usize {
        let names: usize = self.names.iter().map(|name| name.len() + 16).sum();
        names
            + match &self.of_row {
                Ordinals::Nibble(of_row) | Ordinals::Byte(of_row) => of_row.len(),
                Ordinals::Wide(of_row) => of_row.len() * 2,
                Ordinals::Anyone => 0,
            }
    }
}

/// What a search asks a segment's term index first.
#[derive(Debug)]
pub(super) struct Summary {
    pub table: Arc<Table>,
    /// Each row's host; `None` when a host's term was cut (two hosts may
    /// share it) or is not UTF-8, so that rows must be read to tell.
    pub hosts: Option<HostOfRow>,
}

impl Summary {
    fn read(index: &dyn IndexBytes) -> Result<Self, EmbeddedError> {
        let table = Arc::new(Table::read(index)?);
        let terms = Terms::with_table(index, Arc::clone(&table));
        let hosts = HostOfRow::of_index(&terms)?;
        Ok(Self { table, hosts })
    }

    /// Bytes it takes in memory, about.
    fn size(&self) -> usize {
        self.table.size() + self.hosts.as_ref().map_or(0, HostOfRow::size)
    }
}

/// Each host of `terms` and its rows; `None` when a host's term was cut or
/// is not UTF-8.
fn host_rows(terms: &Terms<'_>) -> Result<Option<HostRows>, EmbeddedError> {
    let mut hosts = Vec::new();
    for (term, rows) in terms.with_prefix(&[terms::Field::Host as u8])? {
        let (true, Ok(host)) = (terms::whole(&term), std::str::from_utf8(&term[1..])) else {
            return Ok(None);
        };
        hosts.push((Arc::from(host), rows));
    }
    Ok(Some(hosts))
}

/// The summaries held, within a budget.
#[derive(Debug)]
pub(super) struct Summaries {
    budget: usize,
    /// The segments holding one, newest first, with its size.
    held: Mutex<Vec<(Weak<Segment>, u64, usize)>>,
}

impl Summaries {
    pub(super) fn new(budget: usize) -> Self {
        Self {
            budget,
            held: Mutex::new(Vec::new()),
        }
    }

    /// The summary of `segment`, whose term index is `index`: the one it
    /// holds, or read (and held if the budget allows).
    pub(super) fn of(
        &self,
        segment: &Arc<Segment>,
        index: &dyn IndexBytes,
    ) -> Result<Arc<Summary>, EmbeddedError> {
        if let Some(held) = segment.summary() {
            return Ok(held);
        }
        let summary = Arc::new(Summary::read(index)?);
        self.offer(segment, &summary);
        Ok(summary)
    }

    /// Reads and holds the summaries of `segments`, newest first, until
    /// the budget is full, a core's worth at a time: so that the first
    /// search after the store opens or writes a segment does not read them
    /// all (a millisecond or more each; 0.2 s at 30M lines). A summary that
    /// cannot be read is left for the search that needs it to report.
    pub(super) fn warm(&self, newest_first: &[Arc<Segment>]) {
        for batch in newest_first.chunks(super::cores().max(1)) {
            let read = super::on_every_core(batch, |segment| {
                let index = segment.index()?;
                Summary::read(&index).ok()
            });
            for (segment, summary) in batch.iter().zip(read) {
                let Some(summary) = summary else {
                    continue;
                };
                if !self.offer(segment, &Arc::new(summary)) {
                    return;
                }
            }
        }
    }

    /// Has `segment` hold `summary` unless that takes the summaries past
    /// the budget; older segments' make room for it. Answers whether the
    /// segment holds it.
    fn offer(&self, segment: &Arc<Segment>, summary: &Arc<Summary>) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|(segment, ..)| segment.strong_count() > 0);
        let this = Arc::downgrade(segment);
        if held.iter().any(|(other, ..)| Weak::ptr_eq(other, &this)) {
            return true;
        }
        let newer = segment.flushed_through();
        let at = held.partition_point(|(_, flushed, _)| *flushed > newer);
        held.insert(at, (this, newer, summary.size()));
        segment.hold_summary(Arc::clone(summary));
        let mut total: usize = held.iter().map(|(.., size)| size).sum();
        while total > self.budget {
            let Some((oldest, _, size)) = held.pop() else {
                break;
            };
            total -= size;
            if let Some(oldest) = oldest.upgrade() {
                oldest.forget_summary();
            }
        }
        segment.summary().is_some()
    }

    /// The segments (their `flushed_through`) that hold a summary now,
    /// newest first, with its size.
    #[cfg(test)]
    pub(super) fn held(&self) -> Vec<(u64, usize)> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.iter()
            .filter(|(segment, ..)| segment.upgrade().is_some_and(|s| s.summary().is_some()))
            .map(|(_, flushed, size)| (*flushed, *size))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hosts` hosts over `rows` rows, row `r` the host `r % (hosts + 1)`'s
    /// or, when that is `hosts`, no host's.
    fn made(hosts: usize, rows: u32) -> HostOfRow {
        let names = (0..hosts).map(|at| (Arc::from(format!("gw-{at}")), RoaringBitmap::new()));
        let mut host_rows: HostRows = names.collect();
        for row in 0..rows {
            if let Some((_, its)) = host_rows.get_mut(row as usize % (hosts + 1)) {
                its.insert(row);
            }
        }
        HostOfRow::new(host_rows, rows).expect("a host count a u16 numbers")
    }

    #[test]
    fn each_row_names_its_host_and_a_row_of_none_names_none_at_every_width() {
        for hosts in [1, 8, 14, 15, 254, 255, 300] {
            let rows = 2 * hosts as u32 + 7;
            let of_rows = made(hosts, rows);
            for row in 0..rows {
                let expected = Some(row as usize % (hosts + 1)).filter(|&at| at < hosts);
                assert_eq!(of_rows.of(row), expected, "{hosts} hosts, row {row}");
            }
            assert_eq!(of_rows.of(rows), None, "{hosts} hosts: a row past the last");
        }
    }

    #[test]
    fn up_to_fourteen_hosts_take_half_a_byte_a_row() {
        let (few, more) = (made(14, 1000), made(15, 1000));
        let names = |of_rows: &HostOfRow| of_rows.names.iter().map(|n| n.len() + 16).sum::<usize>();
        assert_eq!(few.size() - names(&few), 500);
        assert_eq!(more.size() - names(&more), 1000);
    }
}
