use std::collections::BTreeMap;

use super::*;
use crate::{CountBy, LogCounts};

/// A line `n` at `ts` µs; ids are the agent's form (32 hex digits) for
/// even `n` and free text for odd, to exercise both.
fn line(n: u64, ts: i64, message: &str) -> (String, String, i64) {
    let id = if n.is_multiple_of(2) {
        format!("{:032x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15)
    } else {
        format!("resent-{n}")
    };
    (id, message.to_owned(), ts)
}

/// A store's memory with a head of `lines` lines, whose segments are not
/// merged (a merge runs on a thread of its own, whenever it is due).
fn head(lines: usize) -> LogMemory {
    LogMemory {
        head_lines: lines,
        merge_segments: 0,
        ..LogMemory::default()
    }
}

fn write(store: &LogStore, host: &str, lines: &[(String, String, i64)]) -> (u64, u64) {
    let new: Vec<NewLine<'_>> = lines
        .iter()
        .map(|(id, message, ts)| NewLine {
            ts: *ts,
            file: "/var/log/app.log",
            level: Some(if message.contains("fail") {
                "ERROR"
            } else {
                "INFO"
            }),
            logger: Some("Handler"),
            id,
            origin: None,
            message,
        })
        .collect();
    store.write("acme", host, &new).unwrap()
}

/// Every line of environment `acme` that `expr` matches.
pub(super) fn everything(expr: &Expr) -> Search<'_> {
    Search {
        environment: "acme",
        host: None,
        level: None,
        file: None,
        from: i64::MIN,
        to: i64::MAX,
        below: None,
        limit: 0,
        expr,
    }
}

fn search(store: &LogStore, text: &str, limit: usize, below: Option<Key>) -> Page {
    let expr = parse(text).unwrap();
    store
        .search(&Search {
            below,
            limit,
            ..everything(&expr)
        })
        .unwrap()
}

/// Every line's timestamp, newest first, page by page.
fn all_pages(store: &LogStore, text: &str, limit: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut below = None;
    loop {
        let page = search(store, text, limit, below);
        seen.extend(page.lines.iter().map(|l| l.timestamp.timestamp_micros()));
        match page.next {
            Some(next) => below = Some(next),
            None => return seen,
        }
    }
}

/// A byte of a segment's first granule (right after the magic).
const FIRST_GRANULE_BYTE: usize = b"AERIELG1".len() + 6;

/// The path of the one segment in the store at `dir`.
fn only_segment(dir: &Path) -> PathBuf {
    let mut paths = std::fs::read_dir(dir.join("segments")).unwrap();
    let path = paths.next().unwrap().unwrap().path();
    assert!(paths.next().is_none(), "one segment");
    path
}

/// Damages the file at `path` by flipping the bits of byte `at`.
fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn segments(dir: &Path) -> usize {
    aerie_testkit::files_named(&dir.join("segments"), "seg")
}

#[test]
fn lines_come_back_newest_first_across_head_and_segments_with_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), head(100)).unwrap();
    // Two hosts whose batches interleave in time, as concurrent agents do.
    for batch in 0..10i64 {
        for (host, offset) in [("gw-1", 0), ("gw-2", 1)] {
            let lines: Vec<_> = (0..30)
                .map(|i| {
                    let n = (batch * 60 + i * 2 + offset) as u64;
                    line(n, 1_000 + n as i64 * 10, &format!("request {n} done"))
                })
                .collect();
            assert_eq!(write(&store, host, &lines), (30, 0));
        }
    }
    assert!(segments(dir.path()) >= 5, "the head was written out");
    let seen = all_pages(&store, "", 7);
    assert_eq!(seen.len(), 600);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    let page = search(&store, "\"request 599\"", 10, None);
    assert_eq!(page.lines.len(), 1);
    assert_eq!(page.lines[0].host, "gw-2");
    assert_eq!(page.lines[0].logger.as_deref(), Some("Handler"));
}

#[test]
fn a_resent_line_is_a_duplicate_in_the_head_in_a_segment_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<_> = (0..50)
        .map(|n| line(n, 5_000 + n as i64, "hello"))
        .collect();
    {
        let store = LogStore::open(dir.path(), head(40)).unwrap();
        assert_eq!(write(&store, "gw-1", &lines[..30]), (30, 0));
        assert_eq!(write(&store, "gw-1", &lines[..30]), (0, 30), "in the head");
        assert_eq!(write(&store, "gw-1", &lines[20..]), (20, 10));
        assert_eq!(segments(dir.path()), 1);
        assert_eq!(write(&store, "gw-1", &lines[..5]), (0, 5), "in a segment");
    }
    let store = LogStore::open(dir.path(), head(40)).unwrap();
    assert_eq!(write(&store, "gw-1", &lines), (0, 50), "across a restart");
    assert_eq!(all_pages(&store, "hello", 100).len(), 50);
    let dup = [lines[3].clone(), lines[3].clone()];
    assert_eq!(write(&store, "gw-2", &dup), (0, 2));
    let new = [line(77, 9_000, "x"), line(77, 9_000, "x")];
    assert_eq!(
        write(&store, "gw-2", &new),
        (1, 1),
        "a repeat within a batch"
    );
}

#[test]
fn a_line_read_at_an_origin_comes_back_with_its_id_after_merges_and_is_a_duplicate_when_resent() {
    let dir = tempfile::tempdir().unwrap();
    let memory = LogMemory {
        merge_segments: 3,
        ..head(50)
    };
    let store = LogStore::open(dir.path(), memory).unwrap();
    // Two hosts' lines as an agent reads them: each file's offsets grow by
    // the length of the line before. The last host says an origin that
    // does not spell its lines' ids: the hint is passed over.
    let hosts = ["gw-1", "gw-2", "tm-1"];
    let mut sent = Vec::new();
    for n in 0..330u64 {
        let host = hosts[n as usize % 3];
        let origin = aerie_wire::Origin {
            fingerprint: 0xf00d + n % 2,
            offset: n * 97,
        };
        let id = match host {
            "tm-1" => format!("{:032x}", u128::from(n) << 64 | 5),
            _ => origin.id(host).as_str().to_owned(),
        };
        let message = format!("request {n} done");
        sent.push((host, id, origin, 1_000 + n as i64 * 10, message));
    }
    let write_all = |store: &LogStore| {
        let mut totals = (0, 0);
        for batch in sent.chunks(30) {
            for host in hosts {
                let new: Vec<NewLine<'_>> = batch
                    .iter()
                    .filter(|line| line.0 == host)
                    .map(|(_, id, origin, ts, message)| NewLine {
                        ts: *ts,
                        file: "/var/log/app.log",
                        level: None,
                        logger: None,
                        id,
                        origin: Some(*origin),
                        message,
                    })
                    .collect();
                let (stored, duplicates) = store.write("acme", host, &new).unwrap();
                totals = (totals.0 + stored, totals.1 + duplicates);
            }
        }
        totals
    };
    assert_eq!(write_all(&store), (330, 0));
    store.merger.finish();
    assert!(segments(dir.path()) < 330 / 50, "merged");
    let page = search(&store, "request", 1000, None);
    let mut back: Vec<(String, String)> = page
        .lines
        .iter()
        .map(|line| (line.host.clone(), line.id.clone()))
        .collect();
    let mut expected: Vec<(String, String)> = sent
        .iter()
        .map(|(host, id, ..)| ((*host).to_owned(), id.clone()))
        .collect();
    back.sort();
    expected.sort();
    assert_eq!(back, expected);
    assert_eq!(write_all(&store), (0, 330), "sent again");
    drop(store);
    let store = LogStore::open(dir.path(), head(50)).unwrap();
    assert_eq!(write_all(&store), (0, 330), "after a restart");
}

#[test]
fn what_was_acknowledged_survives_a_restart_and_a_torn_wal_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), head(1_000)).unwrap();
        write(
            &store,
            "gw-1",
            &[line(1, 10, "first"), line(2, 20, "second")],
        );
        write(&store, "gw-1", &[line(3, 30, "third")]);
    }
    // A crash in the middle of appending the next frame.
    let wal = dir.path().join("wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, FRAME_CHUNK, 9, 9]);
    std::fs::write(&wal, &bytes).unwrap();
    let store = LogStore::open(dir.path(), head(1_000)).unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len() as usize, whole);
    assert_eq!(all_pages(&store, "", 10), [30, 20, 10]);
    write(&store, "gw-1", &[line(4, 40, "fourth")]);
    drop(store);
    let store = LogStore::open(dir.path(), head(1_000)).unwrap();
    assert_eq!(
        all_pages(&store, "", 10),
        [40, 30, 20, 10],
        "written after the repair"
    );
}

#[test]
fn a_crash_after_a_segment_is_written_but_before_the_wal_is_emptied_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    {
        let store = LogStore::open(dir.path(), head(10)).unwrap();
        let lines: Vec<_> = (0..6).map(|n| line(n, 100 + n as i64, "a")).collect();
        write(&store, "gw-1", &lines);
        let before_flush = std::fs::read(&wal).unwrap();
        let more: Vec<_> = (6..12).map(|n| line(n, 100 + n as i64, "a")).collect();
        write(&store, "gw-1", &more);
        assert_eq!(segments(dir.path()), 1);
        // Put back the WAL as it was before the flush emptied it, plus the
        // second batch's frame: what a crash at that moment leaves.
        let mut frames = before_flush;
        let second = {
            let scratch = tempfile::tempdir().unwrap();
            let other = LogStore::open(scratch.path(), head(1_000)).unwrap();
            other.state().next_seq = 6;
            write(&other, "gw-1", &more);
            std::fs::read(scratch.path().join("wal")).unwrap()
        };
        frames.extend_from_slice(&second);
        drop(store);
        std::fs::write(&wal, frames).unwrap();
    }
    let store = LogStore::open(dir.path(), head(10)).unwrap();
    assert_eq!(all_pages(&store, "a", 100).len(), 12);
    assert_eq!(write(&store, "gw-1", &[line(3, 103, "a")]), (0, 1));
}

#[test]
fn retention_drops_and_rewrites_segments_and_cuts_the_head_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), head(20)).unwrap();
        for start in [0u64, 20, 40] {
            let lines: Vec<_> = (start..start + 20)
                .map(|n| line(n, n as i64 * 100, "tick"))
                .collect();
            write(&store, "gw-1", &lines);
        }
        // Three segments of 20; then 10 lines in the head.
        let head: Vec<_> = (60..70).map(|n| line(n, n as i64 * 100, "tick")).collect();
        write(&store, "gw-1", &head);
        assert_eq!(segments(dir.path()), 3);
        // Cut at 3,000 µs: the first segment goes, the second is rewritten.
        assert_eq!(store.delete_older_than(3_000).unwrap(), 30);
        assert_eq!(segments(dir.path()), 2);
        assert_eq!(all_pages(&store, "", 100).len(), 40);
        // Cut inside the head.
        assert_eq!(store.delete_older_than(6_500).unwrap(), 35);
        assert_eq!(
            all_pages(&store, "", 100),
            [6_900, 6_800, 6_700, 6_600, 6_500]
        );
    }
    let store = LogStore::open(dir.path(), head(20)).unwrap();
    assert_eq!(
        all_pages(&store, "", 100),
        [6_900, 6_800, 6_700, 6_600, 6_500],
        "the head's cutoff holds after a restart"
    );
    assert_eq!(store.delete_older_than(6_500).unwrap(), 0);
}

#[test]
fn filters_narrow_by_host_level_file_time_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), head(8)).unwrap();
    write(
        &store,
        "gw-1",
        &[line(1, 10, "login ok"), line(2, 20, "login failed")],
    );
    write(
        &store,
        "gw-2",
        &[line(3, 30, "login failed"), line(4, 40, "logout")],
    );
    let expr = parse("login").unwrap();
    let mut query = Search {
        environment: "acme",
        host: Some("gw-2"),
        level: None,
        file: None,
        from: i64::MIN,
        to: i64::MAX,
        below: None,
        limit: 10,
        expr: &expr,
    };
    assert_eq!(store.search(&query).unwrap().lines.len(), 1);
    query.host = None;
    query.level = Some("error");
    assert_eq!(
        store.search(&query).unwrap().lines.len(),
        2,
        "level in any case"
    );
    query.level = None;
    query.from = 15;
    query.to = 30;
    assert_eq!(store.search(&query).unwrap().lines.len(), 2);
    query.file = Some("/var/log/other.log");
    assert_eq!(store.search(&query).unwrap().lines.len(), 0);
    query.file = None;
    query.environment = "globex";
    assert_eq!(
        store.search(&query).unwrap().lines.len(),
        0,
        "environments apart"
    );
}

#[test]
fn a_damaged_segment_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), head(4)).unwrap();
        let lines: Vec<_> = (0..4).map(|n| line(n, n as i64, "x")).collect();
        write(&store, "gw-1", &lines);
    }
    let path = only_segment(dir.path());
    let at = std::fs::metadata(&path).unwrap().len() as usize - 30;
    flip(&path, at);
    let error = LogStore::open(dir.path(), head(4)).unwrap_err();
    let error = error.to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("damaged"), "{error}");
}

#[test]
fn a_failed_duplicate_check_keeps_nothing_so_the_resent_lines_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), head(4)).unwrap();
        let lines: Vec<_> = (0..4).map(|n| line(n, 10 + n as i64, "old")).collect();
        write(&store, "gw-1", &lines);
    }
    // Damage the segment's granule (just after its magic), whose ids make
    // its id list; the segment still opens, and the damage shows when a
    // duplicate check needs the list.
    let path = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 4] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let store = LogStore::open(dir.path(), head(4)).unwrap();
    let new = [
        line(100, 1_000, "new"),
        line(101, 12, "inside the old span"),
    ];
    let refs: Vec<NewLine<'_>> = new
        .iter()
        .map(|(id, message, ts)| NewLine {
            ts: *ts,
            file: "/var/log/app.log",
            level: None,
            logger: None,
            id,
            origin: None,
            message,
        })
        .collect();
    let error = store.write("acme", "gw-1", &refs).unwrap_err();
    let error = error.to_string();
    assert!(error.contains("damaged"), "{error}");
    assert_eq!(
        write(&store, "gw-1", &new[..1]),
        (1, 0),
        "the line of the refused part is not taken for a duplicate"
    );
}

#[test]
fn retention_that_fails_on_one_segment_leaves_the_others_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), head(4)).unwrap();
    for start in [10i64, 20, 30] {
        let lines: Vec<_> = (0..4)
            .map(|i| line((start + i) as u64, start + i, "tick"))
            .collect();
        write(&store, "gw-1", &lines);
    }
    // The oldest segment straddles the cutoff and its granule is damaged,
    // so rewriting it fails.
    let mut paths: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut bytes = std::fs::read(&paths[0]).unwrap();
    bytes[12] ^= 0xff;
    std::fs::write(&paths[0], bytes).unwrap();
    let error = store.delete_older_than(12).unwrap_err();
    let error = error.to_string();
    assert!(error.contains("damaged"), "{error}");
    let expr = parse("tick").unwrap();
    let page = store
        .search(&Search {
            environment: "acme",
            host: None,
            level: None,
            file: None,
            from: 20,
            to: i64::MAX,
            below: None,
            limit: 100,
            expr: &expr,
        })
        .unwrap();
    assert_eq!(page.lines.len(), 8, "the newer segments are still there");
}

#[test]
fn a_search_for_a_word_passes_over_granules_whose_term_index_rules_it_out_unread() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), head(4)).unwrap();
        let old: Vec<_> = (0..4)
            .map(|n| line(n, 10 + n as i64, "heap space ok"))
            .collect();
        write(&store, "gw-1", &old);
        let new: Vec<_> = (4..8)
            .map(|n| line(n, 10 + n as i64, "Connection refused by acme.com"))
            .collect();
        write(&store, "gw-1", &new);
    }
    assert_eq!(segments(dir.path()), 2);
    // Damage the older segment's one granule (right after the magic).
    let mut paths: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    flip(&paths[0], FIRST_GRANULE_BYTE);

    let store = LogStore::open(dir.path(), head(4)).unwrap();
    // Its term index has neither word: the damaged granule is never read.
    assert_eq!(all_pages(&store, "refused acme.com", 10), [17, 16, 15, 14]);
    assert_eq!(search(&store, "\"refused by\"", 10, None).lines.len(), 4);
    // A word it may hold makes the search read it, and find the damage.
    let expr = parse("heap").unwrap();
    let error = store
        .search(&Search {
            limit: 10,
            ..everything(&expr)
        })
        .unwrap_err();
    assert!(error.to_string().contains("damaged"), "{error}");
}

#[test]
fn a_count_covers_segments_and_head_per_host_with_each_hosts_newest_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), head(4)).unwrap();
    // Ten lines on two hosts: two segments of four, two in the head.
    for n in 0..10u64 {
        let host = if n % 3 == 0 { "gw-2" } else { "gw-1" };
        let word = if n % 2 == 0 { "refused" } else { "accepted" };
        write(
            &store,
            host,
            &[line(
                n,
                1_000_000 * n as i64,
                &format!("connection {n} {word}"),
            )],
        );
    }
    assert_eq!(segments(dir.path()), 2);
    let expr = parse("refused").unwrap();
    let counts = store
        .count(
            &everything(&expr),
            CountBy::hosts_and_buckets(std::time::Duration::from_secs(4)),
        )
        .unwrap();
    // Lines 0, 2, 4, 6, 8: gw-2 has 0 and 6, gw-1 has 2, 4 and 8.
    assert_eq!(counts.total, 5);
    let hosts: Vec<_> = counts
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.count, h.newest.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("gw-1", 3, "connection 8 refused"),
            ("gw-2", 2, "connection 6 refused")
        ]
    );
    let buckets: Vec<_> = counts
        .buckets
        .iter()
        .map(|b| (b.start.timestamp(), b.count))
        .collect();
    assert_eq!(buckets, [(0, 2), (4, 2), (8, 1)]);
}

#[test]
fn a_count_folds_a_segments_granules_and_finds_each_hosts_newest_line_in_the_granule_that_holds_it()
{
    let dir = tempfile::tempdir().unwrap();
    let rows = 2 * CHUNK_ROWS + 100;
    // The segment is written when the lines below reach the head's limit.
    let store = LogStore::open(dir.path(), head(rows - 10)).unwrap();
    // One segment of three granules, a line a second: gw-1 writes every
    // line but the newest few, gw-2 only the oldest hundred (its newest
    // line is in the oldest granule), gw-3 one line in the middle one.
    let mut expected: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    for (host, range) in [
        ("gw-2", 0..100),
        ("gw-3", CHUNK_ROWS + 50..CHUNK_ROWS + 51),
        ("gw-1", 100..rows - 10),
    ] {
        let lines: Vec<_> = range
            .clone()
            .filter(|n| *n != CHUNK_ROWS + 50 || host == "gw-3")
            .map(|n| {
                let word = if n % 7 == 0 || host == "gw-3" {
                    "needle"
                } else {
                    "hay"
                };
                line(
                    n as u64,
                    1_000_000 * n as i64,
                    &format!("{host} line {n} {word}"),
                )
            })
            .collect();
        for (_, message, _) in lines.iter().filter(|(_, m, _)| m.ends_with("needle")) {
            let entry = expected.entry(host).or_default();
            entry.0 += 1;
            entry.1 = message.clone();
        }
        write(&store, host, &lines);
    }
    // The head fills up with the last lines: these stay in it.
    write(
        &store,
        "gw-1",
        &[line(9_999_999, 1_000_000 * rows as i64, "gw-1 late hay")],
    );
    assert_eq!(segments(dir.path()), 1);
    let expr = parse("needle").unwrap();
    // One bucket holds every line (the parts are folded), then buckets of
    // a minute (granules straddle their boundaries).
    for bucket in [1_000_000, 60] {
        let counts = store
            .count(
                &everything(&expr),
                CountBy::hosts_and_buckets(std::time::Duration::from_secs(bucket)),
            )
            .unwrap();
        let found: BTreeMap<&str, (u64, String)> = counts
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), (h.count, h.newest.clone())))
            .collect();
        assert_eq!(found, expected, "buckets of {bucket} s");
        let total: u64 = expected.values().map(|(count, _)| count).sum();
        assert_eq!(counts.total, total, "buckets of {bucket} s");
        let in_buckets: u64 = counts.buckets.iter().map(|b| b.count).sum();
        assert_eq!(in_buckets, total, "buckets of {bucket} s");
    }
}

#[test]
fn duplicate_checks_keep_the_configured_number_of_id_lists_in_memory_and_still_see_old_ids() {
    let dir = tempfile::tempdir().unwrap();
    const LISTS: usize = 3;
    let memory = LogMemory {
        id_lists: LISTS,
        ..head(4)
    };
    let store = LogStore::open(dir.path(), memory).unwrap();
    let segments_written = LISTS * 2 + 1;
    let lines: Vec<_> = (0..segments_written as u64 * 4)
        .map(|n| line(n, 10 + n as i64, "x"))
        .collect();
    for part in lines.chunks(4) {
        write(&store, "gw-1", part);
    }
    assert_eq!(segments(dir.path()), segments_written);
    let in_memory = |store: &LogStore| {
        let state = store.state();
        assert!(state.id_lists.len() <= LISTS);
        state.segments.iter().filter(|s| s.holds_ids()).count()
    };
    assert_eq!(in_memory(&store), LISTS, "the newest segments' lists");
    // A line of the oldest segment, sent again, is still recognised: its
    // list is read again, and another is let go.
    assert_eq!(write(&store, "gw-1", &lines[..1]), (0, 1));
    assert!(store.state().segments[0].holds_ids());
    assert_eq!(in_memory(&store), LISTS);
}

/// A line of the mixed corpus below: (host, level, message, µs).
type Mixed = (String, &'static str, String, i64);

/// 600 lines on three hosts, in writes of 1 to 40 lines (head chunks,
/// whole and merged granules, segments of 100 rows), with common, rare
/// and unique words, three levels, times that go back and forth, and ids
/// of every form (hex, text, spelled by the line's origin).
fn mixed_store(dir: &Path) -> (LogStore, Vec<Mixed>) {
    mixed_store_in(dir, head(100))
}

/// [`mixed_store`], in a store of `memory`.
fn mixed_store_in(dir: &Path, memory: LogMemory) -> (LogStore, Vec<Mixed>) {
    let store = LogStore::open(dir, memory).unwrap();
    let mut state = 7u64;
    let mut next = move |below: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    let words = ["heap", "space", "refused", "acme", "pizzashack", "timeout"];
    let levels = ["INFO", "WARN", "ERROR"];
    let mut lines = Vec::new();
    let mut n = 0u64;
    while n < 600 {
        let host = format!("gw-{}", next(3));
        let size = 1 + next(40);
        let mut batch = Vec::new();
        let mut new = Vec::new();
        for _ in 0..size.min(600 - n) {
            let message = format!(
                "{} {} line{n} {}",
                words[next(6) as usize],
                words[next(6) as usize],
                if next(50) == 0 { "rare" } else { "" }
            );
            let ts = 1_000_000 * (n as i64 % 97) + next(1000) as i64;
            let level = levels[next(3) as usize];
            // One line in four as an agent reads it: its id what its
            // origin spells.
            let (id, origin) = match n % 4 {
                2 => {
                    let origin = aerie_wire::Origin {
                        fingerprint: 0xbeef,
                        offset: n * 80,
                    };
                    (origin.id(&host).as_str().to_owned(), Some(origin))
                }
                _ => (line(n, ts, "").0, None),
            };
            batch.push((id, message.clone(), ts, level, origin));
            lines.push((host.clone(), level, message, ts));
            n += 1;
        }
        for (id, message, ts, level, origin) in &batch {
            new.push(NewLine {
                ts: *ts,
                file: "/var/log/app.log",
                level: Some(level),
                logger: Some("ThrottleHandler"),
                id,
                origin: *origin,
                message,
            });
        }
        store.write("acme", &host, &new).unwrap();
    }
    (store, lines)
}

#[test]
fn index_summaries_stay_within_their_budget_newest_segments_first_and_counts_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = mixed_store(dir.path());
    let expr = parse("refused").unwrap();
    let search = everything(&expr);
    let bucket = std::time::Duration::from_secs(10);
    let counted = |store: &LogStore| {
        let counts = store
            .count(&search, CountBy::hosts_and_buckets(bucket))
            .unwrap();
        let hosts: Vec<_> = (counts.hosts.iter())
            .map(|h| (h.host.clone(), h.count, h.newest.clone()))
            .collect();
        let buckets: Vec<_> = counts.buckets.iter().map(|b| (b.start, b.count)).collect();
        (counts.total, hosts, buckets)
    };
    let expected = counted(&store);
    let mut newest: Vec<u64> = store
        .state()
        .segments
        .iter()
        .map(|s| s.flushed_through())
        .collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    let held = store.summaries.held();
    assert_eq!(
        held.len(),
        newest.len(),
        "the default budget holds them all"
    );
    drop(store);

    let two: usize = held[..2].iter().map(|(_, size)| size).sum();
    for (budget, kept) in [(two, 2), (0, 0)] {
        let memory = LogMemory {
            index_cache: budget,
            ..head(100)
        };
        let store = LogStore::open(dir.path(), memory).unwrap();
        assert_eq!(counted(&store), expected, "with a budget of {budget} bytes");
        assert_eq!(counted(&store), expected, "again, from what is held");
        let held: Vec<u64> = store.summaries.held().iter().map(|(f, _)| *f).collect();
        assert_eq!(held, newest[..kept], "with a budget of {budget} bytes");
    }
}

#[test]
fn summaries_and_the_replayed_heads_indexes_are_made_before_the_first_search() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = mixed_store(dir.path());
    write(&store, "gw-9", &[line(9_999, 5, "late words")]);
    let mut newest: Vec<u64> = (store.state().segments.iter())
        .map(|s| s.flushed_through())
        .collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    assert!(newest.len() >= 5);
    let held = store.summaries.held();
    let held_now: Vec<u64> = held.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        held_now, newest,
        "each segment's summary is held as it is written"
    );
    drop(store);

    let two: usize = held[..2].iter().map(|(_, size)| size).sum();
    for (budget, kept) in [(usize::MAX, newest.len()), (two, 2)] {
        let memory = LogMemory {
            index_cache: budget,
            ..head(100)
        };
        let store = LogStore::open(dir.path(), memory).unwrap();
        let held: Vec<u64> = store.summaries.held().iter().map(|(f, _)| *f).collect();
        assert_eq!(
            held,
            newest[..kept],
            "opened with a budget of {budget} bytes"
        );
        let state = store.state();
        assert!(!state.head.is_empty(), "the WAL holds the late line");
        assert!(
            state.head.iter().all(|chunk| chunk.index.get().is_some()),
            "the replayed head's term indexes are made as the store opens"
        );
    }
}

#[test]
fn a_segment_that_retention_deletes_lets_its_index_summary_go() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = mixed_store(dir.path());
    let expr = parse("refused").unwrap();
    store
        .count(
            &everything(&expr),
            CountBy::hosts_and_buckets(std::time::Duration::from_secs(10)),
        )
        .unwrap();
    let before = store.summaries.held().len();
    assert_eq!(before, store.state().segments.len());
    store.delete_older_than(i64::MAX).unwrap();
    assert!(store.state().segments.is_empty());
    assert_eq!(store.summaries.held(), []);
}

#[test]
fn counts_and_searches_through_the_term_index_agree_with_reading_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let (store, lines) = mixed_store(dir.path());
    assert!(segments(dir.path()) >= 5);
    agrees_with_reading_every_line(&store, &lines);
}

/// Checks that every page of searches of many kinds, and their counts in
/// buckets of several widths, find what reading every one of `lines` does.
fn agrees_with_reading_every_line(store: &LogStore, lines: &[Mixed]) {
    let queries = [
        "heap",
        "rare",
        "line17",
        "heap -space",
        "refused OR rare",
        "\"space heap\"",
        "logger:throttlehandler timeout",
        "host:gw-1 acme",
        "level:error",
        "host:gw-2 OR level:error",
        "NOT level:error",
        "NOT acme",
        "*",
        "absent",
    ];
    for text in queries {
        let expr = parse(text).unwrap();
        for (level, host) in [(None, None), (Some("warn"), None), (None, Some("gw-2"))] {
            let matching: Vec<&Mixed> = lines
                .iter()
                .filter(|(h, l, message, _)| {
                    level.is_none_or(|level: &str| l.eq_ignore_ascii_case(level))
                        && host.is_none_or(|host| h == host)
                        && line_matches(&expr, message, Some("ThrottleHandler"), Some(l), h)
                })
                .collect();
            let search = Search {
                level,
                host,
                limit: 7,
                ..everything(&expr)
            };
            // Every page, newest first.
            let mut found = Vec::new();
            let mut below = None;
            loop {
                let page = store.search(&Search { below, ..search }).unwrap();
                found.extend(page.lines.iter().map(|l| l.message.clone()));
                match page.next {
                    Some(next) => below = Some(next),
                    None => break,
                }
            }
            let mut expected: Vec<&Mixed> = matching.clone();
            expected.sort_by_key(|(_, _, _, ts)| std::cmp::Reverse(*ts));
            let mut found_sorted = found.clone();
            found_sorted.sort();
            let mut expected_messages: Vec<String> =
                expected.iter().map(|(_, _, m, _)| m.clone()).collect();
            expected_messages.sort();
            assert_eq!(found_sorted, expected_messages, "{text} {level:?} {host:?}");
            for bucket in [1, 7, 3600] {
                let counts = store
                    .count(
                        &search,
                        CountBy::hosts_and_buckets(std::time::Duration::from_secs(bucket)),
                    )
                    .unwrap();
                let context = format!("{text} {level:?} {host:?} per {bucket} s");
                assert_eq!(counts.total, matching.len() as u64, "{context}");
                let mut buckets = BTreeMap::new();
                let mut hosts = BTreeMap::new();
                for (h, _, message, ts) in &matching {
                    let width = bucket as i64 * 1_000_000;
                    *buckets.entry(ts - ts.rem_euclid(width)).or_insert(0u64) += 1;
                    let entry = hosts
                        .entry(h.clone())
                        .or_insert((0u64, i64::MIN, String::new()));
                    entry.0 += 1;
                    if *ts > entry.1 {
                        (entry.1, entry.2) = (*ts, message.clone());
                    }
                }
                let got: Vec<(i64, u64)> = counts
                    .buckets
                    .iter()
                    .map(|b| (b.start.timestamp_micros(), b.count))
                    .collect();
                assert_eq!(got, buckets.into_iter().collect::<Vec<_>>(), "{context}");
                for host in &counts.hosts {
                    let (count, newest_ts, _) = &hosts[&host.host];
                    assert_eq!(host.count, *count, "{context} {}", host.host);
                    // Two lines may share the newest time: either is the newest.
                    let newest_of_host: Vec<&String> = matching
                        .iter()
                        .filter(|(h, _, _, ts)| *h == host.host && ts == newest_ts)
                        .map(|(_, _, m, _)| m)
                        .collect();
                    assert!(
                        newest_of_host.contains(&&host.newest),
                        "{context} {}",
                        host.host
                    );
                }
                assert_eq!(counts.hosts.len(), hosts.len(), "{context}");
                // Asked for less, the same figures and nothing else.
                let width = std::time::Duration::from_secs(bucket);
                let per_host = |counts: &LogCounts| -> Vec<(String, u64)> {
                    (counts.hosts.iter().map(|h| (h.host.clone(), h.count))).collect()
                };
                for (by_host, by_bucket) in [(false, false), (true, false), (false, true)] {
                    let by = CountBy {
                        hosts: by_host,
                        buckets: by_bucket.then_some(width),
                    };
                    let partial = store.count(&search, by).unwrap();
                    let context = format!("{context}, by {by:?}");
                    assert_eq!(partial.total, counts.total, "{context}");
                    let hosts = if by_host { per_host(&counts) } else { vec![] };
                    assert_eq!(per_host(&partial), hosts, "{context}");
                    let buckets = if by_bucket {
                        counts.buckets.clone()
                    } else {
                        vec![]
                    };
                    assert_eq!(partial.buckets, buckets, "{context}");
                }
            }
        }
    }
}

/// A segment as the version before the term index wrote it: 16-byte id
/// hashes, no index in its meta.
fn write_old_segment(path: &Path, lines: &[(String, String, i64)]) {
    let mut builder = Builder::default();
    let mut ids: Vec<u128> = Vec::new();
    for (seq, (id, message, ts)) in lines.iter().enumerate() {
        builder.push(&NewRow {
            ts: *ts,
            seq: seq as u64,
            env: "acme",
            host: "gw-1",
            file: "/var/log/app.log",
            level: Some("INFO"),
            logger: Some("Handler"),
            id: Id::of(id),
            message: message.as_bytes(),
        });
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(b"acme");
        hasher.update(&[0xff]);
        match Id::of(id) {
            Id::Hex(value) => hasher.update(&value.to_le_bytes()),
            Id::Text(text) => hasher.update(text.as_bytes()),
            Id::Located { .. } | Id::Kept { .. } => unreachable!("Id::of never answers an origin"),
        }
        ids.push(hasher.digest128());
    }
    let (span, chunk) = builder.finish().unwrap();
    let granule = lz4_flex::block::compress_prepend_size(&chunk);
    let mut bytes = b"AERIELG1".to_vec();
    let granule_at = bytes.len();
    bytes.extend_from_slice(&granule);
    ids.sort_unstable();
    let ids_at = bytes.len();
    let id_bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    bytes.extend_from_slice(&id_bytes);
    let meta = serde_json::json!({
        "flushed_through": lines.len(),
        "rows": lines.len(),
        "min_ts": span.min_key.0,
        "max_ts": span.max_key.0,
        "ids_offset": ids_at,
        "ids_count": ids.len(),
        "ids_crc": crc32fast::hash(&id_bytes),
        "granules": [{
            "span": span,
            "offset": granule_at,
            "len": granule.len(),
            "crc": crc32fast::hash(&granule),
        }],
    });
    let json = serde_json::to_vec(&meta).unwrap();
    let meta_at = bytes.len() as u64;
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(&meta_at.to_le_bytes());
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
    bytes.extend_from_slice(b"AERIELG1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_segment_from_before_the_term_index_is_searched_counted_and_still_knows_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<_> = (0..6)
        .map(|n| {
            line(
                n,
                100 + n as i64,
                if n % 2 == 0 { "heap low" } else { "ok" },
            )
        })
        .collect();
    write_old_segment(
        &dir.path().join("segments").join("00000000000000000006.seg"),
        &old,
    );
    let store = LogStore::open(dir.path(), head(4)).unwrap();
    assert_eq!(all_pages(&store, "heap", 2), [104, 102, 100]);
    let expr = parse("heap").unwrap();
    let counts = store
        .count(
            &everything(&expr),
            CountBy::hosts_and_buckets(std::time::Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(counts.total, 3);
    // Sent again, each old line is known; a new one is not.
    assert_eq!(write(&store, "gw-1", &old), (0, 6));
    assert_eq!(write(&store, "gw-1", &[line(6, 106, "heap new")]), (1, 0));
    assert_eq!(all_pages(&store, "heap", 10), [106, 104, 102, 100]);
}

#[test]
fn a_count_across_bucket_boundaries_places_rows_by_the_time_marks_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let limit = CHUNK_ROWS * 2;
    // Two whole granules a millisecond a row, eight seconds each; "pick" in
    // the middle of every second.
    let granule = |first: u64, start: i64| -> Vec<_> {
        (0..CHUNK_ROWS as u64)
            .map(|n| {
                let word = if n % 1000 == 500 { "pick" } else { "other" };
                line(first + n, start + 1000 * n as i64, &format!("{word} {n}"))
            })
            .collect()
    };
    {
        let store = LogStore::open(dir.path(), head(limit)).unwrap();
        write(&store, "gw-1", &granule(0, 0));
        write(&store, "gw-1", &granule(10_000, 100_000_000));
    }
    assert_eq!(segments(dir.path()), 1);
    // Damage the older granule (the first, right after the magic).
    flip(&only_segment(dir.path()), FIRST_GRANULE_BYTE);

    let store = LogStore::open(dir.path(), head(limit)).unwrap();
    let second = std::time::Duration::from_secs(1);
    let expr = parse("pick").unwrap();
    let counts = store
        .count(&everything(&expr), CountBy::hosts_and_buckets(second))
        .unwrap();
    assert_eq!(counts.total, 16);
    let buckets: Vec<(i64, u64)> = counts
        .buckets
        .iter()
        .map(|b| (b.start.timestamp(), b.count))
        .collect();
    let expected: Vec<(i64, u64)> = (0..8).chain(100..108).map(|s| (s, 1)).collect();
    assert_eq!(buckets, expected);
    assert_eq!(counts.hosts.len(), 1);
    assert_eq!(
        (counts.hosts[0].count, counts.hosts[0].newest.as_str()),
        (16, "pick 7500")
    );
    // Every row of the older granule, some beside a boundary: it is read,
    // and its damage found.
    let expr = parse("other").unwrap();
    let error = store
        .count(&everything(&expr), CountBy::hosts_and_buckets(second))
        .unwrap_err();
    assert!(error.to_string().contains("damaged"), "{error}");
}

/// The mixed corpus in a store whose segments of 100 lines are merged
/// three at a time, its merges done.
fn merged_store(dir: &Path) -> (LogStore, Vec<Mixed>) {
    let memory = LogMemory {
        merge_segments: 3,
        ..head(100)
    };
    let (store, lines) = mixed_store_in(dir, memory);
    store.merger.finish();
    (store, lines)
}

/// The segments' files in `dir`, by name.
fn segment_files(dir: &Path) -> std::collections::BTreeSet<String> {
    let names = std::fs::read_dir(dir.join("segments")).unwrap();
    names
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn merged_segments_answer_every_search_and_count_as_reading_every_line_does() {
    let dir = tempfile::tempdir().unwrap();
    let (store, lines) = merged_store(dir.path());
    let merged = (store.state().segments.iter())
        .filter(|segment| !segment.merged().is_empty())
        .count();
    assert!(merged >= 1, "segments of 100 lines, merged three at a time");
    assert!(
        store.merger.due().is_none(),
        "no run is left due: {:?}",
        store.state().segments
    );
    assert_eq!(
        segments(dir.path()),
        store.state().segments.len(),
        "the merged segments' sources are deleted"
    );
    agrees_with_reading_every_line(&store, &lines);
    drop(store);
    let store = LogStore::open(dir.path(), head(100)).unwrap();
    agrees_with_reading_every_line(&store, &lines);
}

#[test]
fn a_merge_cut_short_by_a_crash_before_its_sources_went_keeps_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, lines) = mixed_store(dir.path());
    drop(store);
    let sources = tempfile::tempdir().unwrap();
    let unmerged = segment_files(dir.path());
    for name in &unmerged {
        let from = dir.path().join("segments").join(name);
        std::fs::copy(from, sources.path().join(name)).unwrap();
    }
    let merging = LogMemory {
        merge_segments: 3,
        ..head(100)
    };
    let store = LogStore::open(dir.path(), merging).unwrap();
    store.merger.finish();
    drop(store);
    let merged = segment_files(dir.path());
    assert!(merged.len() < unmerged.len(), "{merged:?}");
    // A crash after the merged segments were renamed into place, before
    // their sources were deleted: the sources are back.
    for name in &unmerged {
        let to = dir.path().join("segments").join(name);
        std::fs::copy(sources.path().join(name), to).unwrap();
    }
    let store = LogStore::open(dir.path(), head(100)).unwrap();
    assert_eq!(
        segment_files(dir.path()),
        merged,
        "the sources left are deleted"
    );
    agrees_with_reading_every_line(&store, &lines);
}

#[test]
fn a_line_sent_again_after_its_segment_was_merged_is_still_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let (store, lines) = merged_store(dir.path());
    let oldest = Arc::clone(&store.state().segments[0]);
    assert!(!oldest.merged().is_empty());
    assert!(oldest.holds_ids(), "its sources' ids, carried over");
    // The first line written (n = 0), sent again as the agent would.
    let (host, level, message, ts) = &lines[0];
    let (id, _, _) = line(0, *ts, "");
    let again = |store: &LogStore| {
        let new = NewLine {
            ts: *ts,
            file: "/var/log/app.log",
            level: Some(level),
            logger: Some("ThrottleHandler"),
            id: &id,
            origin: None,
            message,
        };
        store.write("acme", host, &[new]).unwrap()
    };
    assert_eq!(again(&store), (0, 1));
    oldest.forget_ids();
    assert_eq!(again(&store), (0, 1), "with its ids made again");
    drop((oldest, store));
    let store = LogStore::open(dir.path(), head(100)).unwrap();
    assert_eq!(again(&store), (0, 1), "after a restart");
}

#[test]
fn retention_cuts_a_merged_segment_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let (store, lines) = merged_store(dir.path());
    let cutoff = 40_000_000;
    let kept: Vec<Mixed> = (lines.iter())
        .filter(|(.., ts)| *ts >= cutoff)
        .cloned()
        .collect();
    assert!(!kept.is_empty() && kept.len() < lines.len());
    let gone = store.delete_older_than(cutoff).unwrap();
    assert_eq!(gone, (lines.len() - kept.len()) as u64);
    agrees_with_reading_every_line(&store, &kept);
}

/// Copies the files of folder `from` (and its folders') into `to`.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every line the store holds, read page by page, as the mixed corpus
/// lists them.
fn every_line(store: &LogStore) -> Vec<Mixed> {
    let expr = parse("*").unwrap();
    let mut lines = Vec::new();
    let mut below = None;
    loop {
        let page = store
            .search(&Search {
                below,
                limit: 100,
                ..everything(&expr)
            })
            .unwrap();
        for line in &page.lines {
            let level = ["INFO", "WARN", "ERROR"]
                .into_iter()
                .find(|level| line.level.as_deref() == Some(*level))
                .expect("a level of the mixed corpus");
            let ts = line.timestamp.timestamp_micros();
            lines.push((line.host.clone(), level, line.message.clone(), ts));
        }
        match page.next {
            Some(next) => below = Some(next),
            None => return lines,
        }
    }
}

/// Whether the meta of `segment` says `field` (as JSON, `"name":"value"`).
fn meta_says(segment: &Path, field: &str) -> bool {
    let bytes = std::fs::read(segment).unwrap();
    memchr::memmem::find(&bytes, field.as_bytes()).is_some()
}

/// The folder of the store fixture `fixture`.
fn fixture_dir(fixture: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture)
}

/// The segment files of `fixture`.
fn fixture_segments(fixture: &str) -> Vec<PathBuf> {
    let files = std::fs::read_dir(fixture_dir(fixture).join("segments")).unwrap();
    files.map(|file| file.unwrap().path()).collect()
}

/// The store of `fixture` (five segments of the mixed corpus, as an
/// earlier version wrote them): opened, it answers every search and count
/// as reading every line does; opened to merge three segments at a time,
/// the merged one's meta says each of `merged_says` and it answers the
/// same; lines written then are merged with one another, never with the
/// two old segments left.
fn old_store_answers_and_merges(fixture: &str, merged_says: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    copy_folder(&fixture_dir(fixture), dir.path());
    let before = std::fs::read_dir(dir.path().join("segments")).unwrap();
    assert_eq!(before.count(), 5);
    let lines = {
        let store = LogStore::open(dir.path(), head(100)).unwrap();
        let lines = every_line(&store);
        assert_eq!(lines.len(), 600, "every line of the mixed corpus");
        agrees_with_reading_every_line(&store, &lines);
        lines
    };

    let memory = LogMemory {
        merge_segments: 3,
        ..head(100)
    };
    let store = LogStore::open(dir.path(), memory).unwrap();
    store.merger.finish();
    let merged: Vec<PathBuf> = (store.state().segments.iter())
        .filter(|segment| !segment.merged().is_empty())
        .map(|segment| segment.path.clone())
        .collect();
    assert_eq!(merged.len(), 1, "three of the five segments are merged");
    for field in merged_says {
        assert!(
            meta_says(&merged[0], field),
            "the merged segment's meta says {field}"
        );
    }
    agrees_with_reading_every_line(&store, &lines);
    assert_eq!(every_line(&store).len(), 600);

    // Segments written now keep their messages as templates, and are
    // merged with one another, never with the two old ones left.
    let new: Vec<_> = (0..400u64)
        .map(|n| line(10_000 + n, 200_000_000 + n as i64, &format!("took {n} ms")))
        .collect();
    for batch in new.chunks(50) {
        write(&store, "gw-1", batch);
    }
    store.merger.finish();
    let state = store.state();
    let merged_templates = (state.segments.iter())
        .filter(|segment| !segment.merged().is_empty())
        .filter(|segment| meta_says(&segment.path, r#""granule_form":"zstd-templates""#))
        .count();
    drop(state);
    assert_eq!(
        merged_templates, 1,
        "the first three new segments are merged"
    );
    assert_eq!(every_line(&store).len(), 1000);
    let took = store
        .search(&everything(&parse("took 399").unwrap()))
        .unwrap();
    assert_eq!(took.lines.len(), 1);
    assert_eq!(took.lines[0].message, "took 399 ms");
}

#[test]
fn a_store_written_before_blocks_were_packed_answers_every_search_and_merges_into_packed_blocks() {
    let fixture = "logs-before-packed-blocks";
    for segment in fixture_segments(fixture) {
        assert!(
            !meta_says(&segment, "index_form"),
            "the fixture's blocks are prefixed"
        );
    }
    old_store_answers_and_merges(fixture, &[r#""index_form":"packed""#]);
}

#[test]
fn a_store_written_before_messages_were_templates_answers_every_search_and_merges_its_own_kind() {
    let fixture = "logs-before-templates";
    for segment in fixture_segments(fixture) {
        assert!(meta_says(&segment, r#""granule_form":"zstd-columns""#));
        assert!(
            !meta_says(&segment, "gaps_form"),
            "the fixture's gaps are varints"
        );
    }
    let merged_says = [r#""granule_form":"zstd-columns""#, r#""gaps_form":"rice""#];
    old_store_answers_and_merges(fixture, &merged_says);
}
