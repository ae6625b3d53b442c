use std::collections::VecDeque;
use std::io::Write;

use proptest::prelude::*;

use super::*;

fn records(queue: &DiskQueue) -> Vec<Vec<u8>> {
    owned(&queue.peek(usize::MAX, u64::MAX).unwrap())
}

fn owned(batch: &Batch) -> Vec<Vec<u8>> {
    batch.records().map(<[u8]>::to_vec).collect()
}

#[test]
fn pushed_records_come_back_in_order_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = DiskQueue::open(dir.path(), 1 << 20).unwrap();
    queue.push(&[b"one".as_slice(), b"two"]).unwrap();
    queue.push(&[b"three"]).unwrap();
    drop(queue);
    let queue = DiskQueue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        records(&queue),
        [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
}

#[test]
fn acknowledged_records_are_not_sent_again_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = DiskQueue::open(dir.path(), 1 << 20).unwrap();
    queue.push(&[b"one".as_slice(), b"two", b"three"]).unwrap();
    let batch = queue.peek(2, u64::MAX).unwrap();
    assert_eq!(owned(&batch), [b"one".to_vec(), b"two".to_vec()]);
    queue.ack(batch.end).unwrap();
    drop(queue);
    let queue = DiskQueue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(records(&queue), [b"three".to_vec()]);
}

#[test]
fn after_a_crash_records_delivered_since_the_cursor_was_written_come_again_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of three 48-byte records.
    let mut queue = DiskQueue::open_with_segment_limit(dir.path(), 1 << 20, 100).unwrap();
    for n in 1..=5u8 {
        queue.push(&[[n; 40]]).unwrap();
    }
    assert_eq!(segment_files(dir.path()), 2);
    // Past the first segment: the cursor is written before it goes.
    let batch = queue.peek(4, u64::MAX).unwrap();
    queue.ack(batch.end).unwrap();
    assert_eq!(segment_files(dir.path()), 1);
    // Within the segment, soon after: the cursor moves in memory only.
    let batch = queue.peek(1, u64::MAX).unwrap();
    assert_eq!(owned(&batch), [vec![5u8; 40]]);
    queue.ack(batch.end).unwrap();
    std::mem::forget(queue); // a crash: no Drop
    let queue = DiskQueue::open_with_segment_limit(dir.path(), 1 << 20, 100).unwrap();
    assert_eq!(records(&queue), [vec![5u8; 40]]);
}

fn segment_files(dir: &Path) -> usize {
    aerie_testkit::files_named(dir, "seg")
}

#[test]
fn a_full_queue_refuses_a_push_whole_and_keeps_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = DiskQueue::open(dir.path(), 64).unwrap();
    queue.push(&[[1u8; 40]]).unwrap();
    let error = queue.push(&[[2u8; 10], [3u8; 10]]).unwrap_err();
    assert!(
        matches!(
            error,
            QueueError::Full {
                used: 48,
                budget: 64
            }
        ),
        "{error}"
    );
    assert_eq!(records(&queue), [vec![1u8; 40]]);
    let batch = queue.peek(10, u64::MAX).unwrap();
    queue.ack(batch.end).unwrap();
    queue.push(&[[2u8; 10], [3u8; 10]]).unwrap();
    assert_eq!(records(&queue), [vec![2u8; 10], vec![3u8; 10]]);
}

#[test]
fn a_torn_last_record_is_cut_off_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = DiskQueue::open(dir.path(), 1 << 20).unwrap();
    queue.push(&[b"whole"]).unwrap();
    drop(queue);
    let segment = segment_path(dir.path(), 0);
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&segment::header(b"torn record")).unwrap();
    file.write_all(b"torn").unwrap();
    drop(file);
    let mut queue = DiskQueue::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(records(&queue), [b"whole".to_vec()]);
    queue.push(&[b"after"]).unwrap();
    assert_eq!(records(&queue), [b"whole".to_vec(), b"after".to_vec()]);
}

#[derive(Debug, Clone)]
enum Op {
    Push(Vec<Vec<u8>>),
    /// Peek up to n records and acknowledge them.
    Deliver(usize),
    /// Peek but fail to deliver: nothing is acknowledged.
    FailDelivery(usize),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8).prop_map(Op::Push),
        3 => (1usize..10).prop_map(Op::Deliver),
        1 => (1usize..10).prop_map(Op::FailDelivery),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The queue behaves as a FIFO of records that only refuses pushes over
    /// budget, across deliveries, failed deliveries and restarts.
    #[test]
    fn queue_matches_a_fifo_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let budget = 4096;
        let mut queue = DiskQueue::open_with_segment_limit(dir.path(), budget, 512).unwrap();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(batch) => {
                    let size: u64 = batch.iter().map(|r| HEADER_LEN + r.len() as u64).sum();
                    let used: u64 = model.iter().map(|r| HEADER_LEN + r.len() as u64).sum();
                    match queue.push(&batch) {
                        Ok(()) => {
                            prop_assert!(used + size <= budget);
                            model.extend(batch);
                        }
                        Err(QueueError::Full { .. }) => prop_assert!(used + size > budget),
                        Err(other) => prop_assert!(false, "unexpected {other}"),
                    }
                }
                Op::Deliver(n) => {
                    let batch = queue.peek(n, u64::MAX).unwrap();
                    let expected: Vec<_> = model.iter().take(n).cloned().collect();
                    prop_assert_eq!(&owned(&batch), &expected);
                    queue.ack(batch.end).unwrap();
                    model.drain(..expected.len());
                }
                Op::FailDelivery(n) => {
                    let batch = queue.peek(n, u64::MAX).unwrap();
                    let expected: Vec<_> = model.iter().take(n).cloned().collect();
                    prop_assert_eq!(owned(&batch), expected);
                }
                Op::Reopen => {
                    drop(queue);
                    queue = DiskQueue::open_with_segment_limit(dir.path(), budget, 512).unwrap();
                }
            }
            let used: u64 = model.iter().map(|r| HEADER_LEN + r.len() as u64).sum();
            prop_assert_eq!(queue.unacked_bytes(), used);
        }
        prop_assert_eq!(records(&queue), Vec::from(model));
        let segments = segment_files(dir.path()) as u64;
        // Acknowledged segments are deleted: what stays on disk is bounded by the budget.
        prop_assert!(segments <= budget / 512 + 2, "{} segments left", segments);
    }
}
