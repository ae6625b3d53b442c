use super::*;

const DAY: i64 = 86_400_000;

fn labels(mount: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("mount".to_owned(), mount.to_owned())])
}

/// Writes `(millis, value)` samples of `system.cpu.total.pct` for `host`.
fn write(store: &MetricStore, host: &str, samples: &[(i64, f64)]) -> (u64, u64) {
    let no_labels = BTreeMap::new();
    let samples: Vec<Sample<'_>> = samples
        .iter()
        .map(|&(millis, value)| Sample {
            name: "system.cpu.total.pct",
            labels: &no_labels,
            millis,
            value,
        })
        .collect();
    store.write("acme-prod", host, &samples).unwrap()
}

fn all(store: &MetricStore, host: Option<&str>) -> Vec<(String, Vec<(i64, f64)>)> {
    store
        .read(&range("system.cpu.total.pct", host, i64::MIN, i64::MAX))
        .unwrap()
        .into_iter()
        .map(|series| (series.info.host, series.points))
        .collect()
}

fn range<'a>(name: &'a str, host: Option<&'a str>, from: i64, to: i64) -> Range<'a> {
    Range {
        environment: "acme-prod",
        name,
        host,
        from,
        to,
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn samples_read_back_in_time_order_per_series_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open(dir.path()).unwrap();
    assert_eq!(write(&store, "gw-1", &[(3_000, 3.0), (1_000, 1.0)]), (2, 0));
    assert_eq!(write(&store, "gw-2", &[(1_000, 9.0)]), (1, 0));
    // Again, and twice in one request: kept once.
    assert_eq!(
        write(&store, "gw-1", &[(1_000, 1.0), (2_000, 2.0), (2_000, 2.0)]),
        (1, 2)
    );
    let labelled = labels("/data");
    let disk = Sample {
        name: "system.filesystem.used.pct",
        labels: &labelled,
        millis: 1_000,
        value: 50.0,
    };
    assert_eq!(store.write("acme-prod", "gw-1", &[disk]).unwrap(), (1, 0));

    assert_eq!(
        all(&store, None),
        [
            (
                "gw-1".to_owned(),
                vec![(1_000, 1.0), (2_000, 2.0), (3_000, 3.0)]
            ),
            ("gw-2".to_owned(), vec![(1_000, 9.0)]),
        ]
    );
    assert_eq!(all(&store, Some("gw-2")).len(), 1);
    let ranged = store
        .read(&range("system.cpu.total.pct", Some("gw-1"), 1_500, 3_000))
        .unwrap();
    assert_eq!(ranged[0].points, [(2_000, 2.0), (3_000, 3.0)]);
    let disks = store
        .read(&range("system.filesystem.used.pct", None, 0, 5_000))
        .unwrap();
    assert_eq!(disks[0].info.labels, labelled);
    assert!(
        store
            .read(&Range {
                environment: "globex",
                ..range("system.cpu.total.pct", None, 0, 5_000)
            })
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.names("acme-prod"),
        ["system.cpu.total.pct", "system.filesystem.used.pct"]
    );
}

#[test]
fn what_was_acknowledged_survives_a_restart_from_the_wal_and_from_blocks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MetricStore::open_with(dir.path(), 4).unwrap();
        // Five samples: four go to a block, one stays in the WAL.
        write(
            &store,
            "gw-1",
            &[(1_000, 1.0), (2_000, 2.0), (3_000, 3.0), (4_000, 4.0)],
        );
        write(&store, "gw-1", &[(5_000, 5.0)]);
        assert_eq!(files(dir.path()).len(), 1);
    }
    let store = MetricStore::open_with(dir.path(), 4).unwrap();
    assert_eq!(all(&store, None)[0].1.len(), 5);
    assert_eq!(
        write(&store, "gw-1", &[(1_000, 1.0), (5_000, 5.0), (6_000, 6.0)]),
        (1, 2),
        "samples in blocks and in the WAL are both remembered"
    );
}

#[test]
fn a_torn_wal_tail_and_a_half_written_series_line_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MetricStore::open(dir.path()).unwrap();
        write(&store, "gw-1", &[(1_000, 1.0), (2_000, 2.0)]);
    }
    // A crash in the middle of the next request's writes.
    let mut wal = OpenOptions::new()
        .append(true)
        .open(dir.path().join("wal"))
        .unwrap();
    wal.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 0, 0]).unwrap();
    let mut series = OpenOptions::new()
        .append(true)
        .open(dir.path().join("series.jsonl"))
        .unwrap();
    series.write_all(b"{\"id\":1,\"envi").unwrap();

    let store = MetricStore::open(dir.path()).unwrap();
    assert_eq!(all(&store, None)[0].1, [(1_000, 1.0), (2_000, 2.0)]);
    // And the files are usable after it.
    assert_eq!(write(&store, "gw-2", &[(1_000, 7.0)]), (1, 0));
    drop(store);
    let store = MetricStore::open(dir.path()).unwrap();
    assert_eq!(all(&store, None).len(), 2);
}

#[test]
fn a_day_with_enough_blocks_is_merged_and_a_crash_during_it_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open_with(dir.path(), 2).unwrap();
    // Three flushes, each two samples: one on day 0, one on day 1.
    for n in 0..3 {
        write(
            &store,
            "gw-1",
            &[(n * 1_000, n as f64), (DAY + n * 1_000, n as f64)],
        );
    }
    assert_eq!(files(dir.path()).len(), 6);
    // The fourth flush merges each day's four blocks into one.
    write(&store, "gw-1", &[(3_000, 3.0), (DAY + 3_000, 3.0)]);
    let names = files(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(all(&store, None)[0].1.len(), 8);
    drop(store);

    // A merge that crashed after writing its block but before removing the
    // blocks it replaces: those are removed at open, not read twice.
    let block = Block::open(&dir.path().join("blocks").join(&names[0])).unwrap();
    let old = Block::write(
        &dir.path().join("blocks"),
        block.supersedes[0],
        0,
        &[],
        &[(0, vec![(0, 0.0)])],
    )
    .unwrap();
    drop(old);
    assert_eq!(files(dir.path()).len(), 3);
    let store = MetricStore::open_with(dir.path(), 2).unwrap();
    assert_eq!(files(dir.path()).len(), 2);
    assert_eq!(all(&store, None)[0].1.len(), 8);
}

#[test]
fn retention_removes_samples_before_the_cutoff_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open_with(dir.path(), 3).unwrap();
    write(
        &store,
        "gw-1",
        &[(1_000, 1.0), (DAY + 1_000, 2.0), (DAY + 5_000, 3.0)],
    );
    write(&store, "gw-1", &[(2 * DAY, 4.0)]);
    assert_eq!(store.delete_older_than(DAY + 2_000).unwrap(), 2);
    assert_eq!(all(&store, None)[0].1, [(DAY + 5_000, 3.0), (2 * DAY, 4.0)]);
    assert_eq!(store.delete_older_than(DAY + 2_000).unwrap(), 0);
    drop(store);
    let store = MetricStore::open_with(dir.path(), 3).unwrap();
    assert_eq!(all(&store, None)[0].1.len(), 2, "retention is durable");
    assert_eq!(store.delete_older_than(3 * DAY).unwrap(), 2);
    assert!(store.names("acme-prod").is_empty());
}
