//! Reads a HotSpot performance-data file (`/tmp/hsperfdata_<user>/<pid>`),
//! the memory-mapped counters `jstat` reads. No attach, no JMX: the JVM is
//! never touched.
//!
//! Layout (HotSpot `perfMemory.hpp`): a 32-byte prologue (magic `0xcafec0c0`,
//! byte order, version, used length, entry offset and count), then entries of
//! `[entry_length, name_offset, vector_length: i32][type, flags, units,
//! variability: u8][data_offset: i32]`, name NUL-terminated, a scalar `J`
//! (long) or a vector of `B` (a string).

use std::collections::HashMap;

/// Why a file could not be read as performance data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PerfDataError {
    #[error("not a HotSpot performance data file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("the JVM has not finished writing it")]
    NotAccessible,
}

/// A value of one counter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Long(i64),
    Text(String),
}

/// The counters of one JVM, by name.
#[derive(Debug, Default)]
pub struct PerfData {
    pub counters: HashMap<String, Value>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    little_endian: bool,
}

impl Reader<'_> {
    fn slice(&self, at: usize, len: usize) -> Result<&[u8], PerfDataError> {
        self.bytes
            .get(at..at.checked_add(len).ok_or(PerfDataError::Truncated(at))?)
            .ok_or(PerfDataError::Truncated(at))
    }

    fn i32(&self, at: usize) -> Result<i32, PerfDataError> {
        let bytes: [u8; 4] = self.slice(at, 4)?.try_into().expect("4 bytes");
        Ok(if self.little_endian {
            i32::from_le_bytes(bytes)
        } else {
            i32::from_be_bytes(bytes)
        })
    }

    fn i64(&self, at: usize) -> Result<i64, PerfDataError> {
        let bytes: [u8; 8] = self.slice(at, 8)?.try_into().expect("8 bytes");
        Ok(if self.little_endian {
            i64::from_le_bytes(bytes)
        } else {
            i64::from_be_bytes(bytes)
        })
    }

    fn offset(&self, at: usize) -> Result<usize, PerfDataError> {
        usize::try_from(self.i32(at)?).map_err(|_| PerfDataError::Truncated(at))
    }
}

const MAGIC: u32 = 0xcafe_c0c0;

impl PerfData {
    pub fn parse(bytes: &[u8]) -> Result<Self, PerfDataError> {
        let magic = u32::from_be_bytes(
            bytes
                .get(..4)
                .ok_or(PerfDataError::Truncated(0))?
                .try_into()
                .expect("4 bytes"),
        );
        if magic != MAGIC {
            return Err(PerfDataError::BadMagic(magic));
        }
        let reader = Reader {
            bytes,
            little_endian: *bytes.get(4).ok_or(PerfDataError::Truncated(4))? == 1,
        };
        if *bytes.get(7).ok_or(PerfDataError::Truncated(7))? == 0 {
            return Err(PerfDataError::NotAccessible);
        }
        let mut at = reader.offset(24)?;
        let entries = reader.offset(28)?;
        // The count is the file's word: an entry takes at least 20 bytes,
        // so room for more than the file can hold is never reserved (a
        // corrupt count asked for 100 GB; found by fuzzing).
        let mut counters = HashMap::with_capacity(entries.min(bytes.len() / 20));
        for _ in 0..entries {
            let length = reader.offset(at)?;
            let name_offset = reader.offset(at + 4)?;
            let vector_length = reader.offset(at + 8)?;
            let data_type = reader.slice(at + 12, 1)?[0];
            let data_offset = reader.offset(at + 16)?;
            if length == 0 {
                return Err(PerfDataError::Truncated(at));
            }
            let name_bytes =
                reader.slice(at + name_offset, data_offset.saturating_sub(name_offset))?;
            let name_end = name_bytes
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(name_bytes.len());
            let name = String::from_utf8_lossy(&name_bytes[..name_end]).into_owned();
            let value = match (data_type, vector_length) {
                (b'J', 0) => Value::Long(reader.i64(at + data_offset)?),
                (b'B', len) if len > 0 => {
                    let text = reader.slice(at + data_offset, len)?;
                    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
                    Value::Text(String::from_utf8_lossy(&text[..end]).into_owned())
                }
                _ => {
                    at += length;
                    continue;
                }
            };
            counters.insert(name, value);
            at += length;
        }
        Ok(Self { counters })
    }

    pub fn long(&self, name: &str) -> Option<i64> {
        match self.counters.get(name) {
            Some(Value::Long(value)) => Some(*value),
            _ => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.counters.get(name) {
            Some(Value::Text(value)) => Some(value),
            _ => None,
        }
    }

    /// Sum of the longs whose names start with `prefix` and end with `suffix`.
    fn sum(&self, prefix: &str, suffix: &str) -> i64 {
        self.counters
            .iter()
            .filter(|(name, _)| name.starts_with(prefix) && name.ends_with(suffix))
            .filter_map(|(_, value)| match value {
                Value::Long(value) => Some(*value),
                Value::Text(_) => None,
            })
            .sum()
    }

    /// Heap in use, as `jstat -gc` sums it: S0U + S1U + EU + OU.
    pub fn heap_used(&self) -> i64 {
        self.sum("sun.gc.generation.0.space.", ".used")
            + self.sum("sun.gc.generation.1.space.", ".used")
    }

    /// Heap committed: S0C + S1C + EC + OC.
    pub fn heap_committed(&self) -> i64 {
        self.sum("sun.gc.generation.0.space.", ".capacity")
            + self.sum("sun.gc.generation.1.space.", ".capacity")
    }

    /// The most the heap may grow to (`-Xmx`). Generational collectors split
    /// it between young and old; G1's regions may all serve either, so each
    /// generation reports the whole heap as its maximum.
    pub fn heap_max(&self) -> i64 {
        let young = self.long("sun.gc.generation.0.maxCapacity").unwrap_or(0);
        let old = self.long("sun.gc.generation.1.maxCapacity").unwrap_or(0);
        if self.text("sun.gc.policy.name") == Some("GarbageFirst") {
            young.max(old)
        } else {
            young + old
        }
    }

    /// Collections so far, over every collector.
    pub fn gc_count(&self) -> i64 {
        self.sum("sun.gc.collector.", ".invocations")
    }

    /// Time spent collecting, in milliseconds.
    pub fn gc_time_ms(&self) -> f64 {
        let ticks = self.sum("sun.gc.collector.", ".time") as f64;
        match self.long("sun.os.hrt.frequency") {
            Some(frequency) if frequency > 0 => ticks * 1000.0 / frequency as f64,
            _ => 0.0,
        }
    }

    /// The main class or jar, from the command line.
    pub fn main_class(&self) -> Option<&str> {
        self.text("sun.rt.javaCommand")?.split_whitespace().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a little-endian file with the given long and text counters.
    pub(crate) fn sample(longs: &[(&str, i64)], texts: &[(&str, &str)]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut count: i32 = 0;
        let mut entry = |name: &str, data_type: u8, data: &[u8], vector: usize| {
            let name_offset = 20usize;
            let data_offset = (name_offset + name.len() + 1).next_multiple_of(8);
            let length = (data_offset + data.len()).next_multiple_of(8);
            let mut bytes = vec![0u8; length];
            bytes[..4].copy_from_slice(&(length as i32).to_le_bytes());
            bytes[4..8].copy_from_slice(&(name_offset as i32).to_le_bytes());
            bytes[8..12].copy_from_slice(&(vector as i32).to_le_bytes());
            bytes[12] = data_type;
            bytes[16..20].copy_from_slice(&(data_offset as i32).to_le_bytes());
            bytes[name_offset..name_offset + name.len()].copy_from_slice(name.as_bytes());
            bytes[data_offset..data_offset + data.len()].copy_from_slice(data);
            entries.extend(bytes);
            count += 1;
        };
        for (name, value) in longs {
            entry(name, b'J', &value.to_le_bytes(), 0);
        }
        for (name, value) in texts {
            entry(name, b'B', value.as_bytes(), value.len());
        }
        let mut file = vec![0u8; 32];
        file[..4].copy_from_slice(&MAGIC.to_be_bytes());
        file[4] = 1;
        file[5] = 2;
        file[7] = 1;
        file[8..12].copy_from_slice(&((32 + entries.len()) as i32).to_le_bytes());
        file[24..28].copy_from_slice(&32i32.to_le_bytes());
        file[28..32].copy_from_slice(&count.to_le_bytes());
        file.extend(entries);
        file
    }

    #[test]
    fn sums_heap_and_gc_as_jstat_does() {
        let file = sample(
            &[
                ("sun.gc.generation.0.space.0.used", 100),
                ("sun.gc.generation.0.space.1.used", 20),
                ("sun.gc.generation.0.space.2.used", 0),
                ("sun.gc.generation.1.space.0.used", 300),
                ("sun.gc.generation.0.space.0.capacity", 1000),
                ("sun.gc.generation.1.space.0.capacity", 2000),
                ("sun.gc.generation.0.maxCapacity", 4000),
                ("sun.gc.generation.1.maxCapacity", 4000),
                ("sun.gc.collector.0.invocations", 7),
                ("sun.gc.collector.1.invocations", 1),
                ("sun.gc.collector.0.time", 2_000_000),
                ("sun.os.hrt.frequency", 1_000_000_000),
            ],
            &[(
                "sun.rt.javaCommand",
                "org.wso2.carbon.bootstrap.Bootstrap -Dx=y",
            )],
        );
        let data = PerfData::parse(&file).unwrap();
        assert_eq!(data.heap_used(), 420);
        assert_eq!(data.heap_committed(), 3000);
        assert_eq!(data.heap_max(), 8000);
        assert_eq!(data.gc_count(), 8);
        assert!((data.gc_time_ms() - 2.0).abs() < 1e-9);
        assert_eq!(
            data.main_class(),
            Some("org.wso2.carbon.bootstrap.Bootstrap")
        );
    }

    #[test]
    fn g1_reports_the_whole_heap_as_each_generations_maximum() {
        let file = sample(
            &[
                ("sun.gc.generation.0.maxCapacity", 4000),
                ("sun.gc.generation.1.maxCapacity", 4000),
            ],
            &[("sun.gc.policy.name", "GarbageFirst")],
        );
        assert_eq!(PerfData::parse(&file).unwrap().heap_max(), 4000);
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_panic() {
        let file = sample(
            &[
                ("sun.gc.collector.0.invocations", 7),
                ("sun.os.hrt.frequency", 1),
            ],
            &[],
        );
        for cut in 0..file.len() {
            let result = PerfData::parse(&file[..cut]);
            assert!(
                result.is_err() || cut >= file.len() - 8,
                "cut at {cut} parsed"
            );
        }
        assert_eq!(
            PerfData::parse(b"not perf data at all, no").unwrap_err(),
            PerfDataError::BadMagic(0x6e6f7420)
        );
    }
}
