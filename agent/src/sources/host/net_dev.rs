//! Network counters from `/proc/net/dev`: every interface's bytes and errors
//! in one file. Reading them through sysfs took about ten files and a
//! netlink query per interface at every collection, the largest part of an
//! idle agent's CPU. Nothing here may fail a collection: an unreadable file
//! or line gives no network metrics, never an error.

use std::collections::HashMap;

/// One interface's counters since it came up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counters {
    pub(super) in_bytes: u64,
    pub(super) in_errors: u64,
    pub(super) out_bytes: u64,
    pub(super) out_errors: u64,
}

impl Counters {
    /// What grew from `before` to `self` (a counter that went back, as when
    /// an interface is made again, counts from nothing).
    fn since(self, before: Self) -> Self {
        let grown = |now: u64, then: u64| now.checked_sub(then).unwrap_or(now);
        Self {
            in_bytes: grown(self.in_bytes, before.in_bytes),
            in_errors: grown(self.in_errors, before.in_errors),
            out_bytes: grown(self.out_bytes, before.out_bytes),
            out_errors: grown(self.out_errors, before.out_errors),
        }
    }
}

/// Each interface's counters as `/proc/net/dev` shows them: after the two
/// heading lines, `name: ` then 8 receive columns (bytes, packets, errs, ...)
/// and 8 transmit columns. A line that does not read so is passed over.
pub(super) fn parse(text: &str) -> Vec<(String, Counters)> {
    text.lines()
        .filter_map(|line| {
            let (name, columns) = line.split_once(':')?;
            let columns: Vec<u64> = columns
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            (columns.len() >= 16).then(|| {
                let counters = Counters {
                    in_bytes: columns[0],
                    in_errors: columns[2],
                    out_bytes: columns[8],
                    out_errors: columns[10],
                };
                (name.trim().to_owned(), counters)
            })
        })
        .collect()
}

/// The counters at the last reading, to give what grew in between.
#[derive(Debug, Default)]
pub(super) struct NetDev {
    last: HashMap<String, Counters>,
}

impl NetDev {
    /// Reads the file now, as the first reading to count from.
    pub(super) fn new() -> Self {
        let mut net = Self::default();
        net.sample();
        net
    }

    /// Each interface's growth since the last reading, by name; an
    /// interface new since then counts from nothing, one gone is forgotten.
    pub(super) fn sample(&mut self) -> Vec<(String, Counters)> {
        let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
        self.grown(parse(&text))
    }

    fn grown(&mut self, now: Vec<(String, Counters)>) -> Vec<(String, Counters)> {
        let grown = now
            .iter()
            .map(|(name, counters)| {
                let before = self.last.get(name).copied().unwrap_or_default();
                (name.clone(), counters.since(before))
            })
            .collect();
        self.last = now.into_iter().collect();
        grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 52000    400    3    0    0     0          0         1    91000     300    1    0    0     0       0          0
";

    #[test]
    fn each_interface_reads_its_bytes_and_errors_both_ways() {
        let interfaces = parse(FILE);
        assert_eq!(interfaces.len(), 2, "the headings are not interfaces");
        assert_eq!(
            interfaces[1],
            (
                "eth0".to_owned(),
                Counters {
                    in_bytes: 52000,
                    in_errors: 3,
                    out_bytes: 91000,
                    out_errors: 1
                }
            )
        );
    }

    #[test]
    fn a_sample_is_what_grew_and_a_counter_that_went_back_counts_from_nothing() {
        let mut net = NetDev::default();
        net.grown(parse(FILE));
        let later = FILE.replace("52000", "52500").replace("91000", "500");
        let grown = net.grown(parse(&later));
        let eth0 = grown.iter().find(|(name, _)| name == "eth0").unwrap().1;
        assert_eq!(eth0.in_bytes, 500);
        assert_eq!(eth0.out_bytes, 500, "a counter made again counts from 0");
        assert_eq!(eth0.in_errors, 0);
    }

    #[test]
    fn a_damaged_line_is_passed_over_and_the_others_kept() {
        let damaged = FILE.replace("    lo: 1000", "    lo: many");
        let interfaces = parse(&damaged);
        assert_eq!(interfaces.len(), 1);
        assert_eq!(interfaces[0].0, "eth0");
    }

    #[test]
    fn this_machine_s_file_reads() {
        let text = std::fs::read_to_string("/proc/net/dev").unwrap();
        let interfaces = parse(&text);
        assert!(interfaces.iter().any(|(name, _)| name == "lo"), "{text}");
    }
}
