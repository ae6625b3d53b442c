//! How the monitor sink compresses a request body: `[monitor] compression`
//! and the encoder that keeps its working memory from one batch to the next.
//!
//! zstd at its first fast level (-1) is the default: on log events it
//! compresses faster than gzip's fastest level and still smaller.
//! gzip stays for a monitor older than zstd support, and `"none"` for a
//! proxy that inspects bodies. Nothing here may fail on a body: compressing
//! memory into memory has no error but running out of it.

use std::io::Write;

use serde::{Deserialize, Serialize};

use aerie_common::toml_file::FieldError;

/// `compression` as written: a name, or `true` (the default) / `false`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawCompression {
    On(bool),
    Named(String),
}

impl Default for RawCompression {
    fn default() -> Self {
        Self::On(true)
    }
}

/// How request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl RawCompression {
    pub(super) fn validate(self) -> Result<Compression, FieldError> {
        match self {
            Self::On(true) => Ok(Compression::Zstd),
            Self::On(false) => Ok(Compression::None),
            Self::Named(name) => match name.as_str() {
                "zstd" => Ok(Compression::Zstd),
                "gzip" => Ok(Compression::Gzip),
                "none" => Ok(Compression::None),
                _ => Err(FieldError::new(
                    "monitor.compression",
                    format!(
                        "{name:?} is not a compression the monitor takes: write \"zstd\" (the default), \"gzip\" (for a monitor without zstd) or \"none\""
                    ),
                )),
            },
        }
    }
}

impl Compression {
    /// The `Content-Encoding` a body compressed this way is sent with.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Gzip => Some("gzip"),
            Self::Zstd => Some("zstd"),
        }
    }
}

/// Compresses bodies one after another, reusing its working memory.
pub(super) enum Encoder {
    None,
    Gzip,
    Zstd(zstd::bulk::Compressor<'static>),
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::None => "None",
            Self::Gzip => "Gzip",
            Self::Zstd(_) => "Zstd",
        };
        f.write_str(name)
    }
}

/// zstd's level: the first of its fast levels. On 4 MB of the benchmark's
/// log file in 400 kB bodies it compressed 8.7 to 1 at 1.1 GB/s, where
/// gzip's fastest level gave 8.2 to 1 at 0.3 GB/s and zstd's level 1 11 to
/// 1 at 0.7 GB/s (one run on the benchmark machine).
const ZSTD_LEVEL: i32 = -1;

impl Encoder {
    pub(super) fn new(compression: Compression) -> Self {
        match compression {
            Compression::None => Self::None,
            Compression::Gzip => Self::Gzip,
            Compression::Zstd => Self::Zstd(
                zstd::bulk::Compressor::new(ZSTD_LEVEL)
                    .expect("zstd makes a context at its fast level"),
            ),
        }
    }

    /// `json` compressed (or as it is, with no compression).
    pub(super) fn encode(&mut self, json: Vec<u8>) -> Vec<u8> {
        match self {
            Self::None => json,
            Self::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(json.len() / 4),
                    flate2::Compression::fast(),
                );
                encoder.write_all(&json).expect("writing to memory");
                encoder.finish().expect("writing to memory")
            }
            Self::Zstd(zstd) => zstd.compress(&json).expect("compressing into memory"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const JSON: &[u8] = br#"{"environment":"acme","events":[{"id":"1","message":"Request handled for API pizzashack/1.0.0"}]}"#;

    #[test]
    fn every_compression_gives_back_the_body_its_decoder_reads() {
        let zstd = Encoder::new(Compression::Zstd).encode(JSON.to_vec());
        assert_eq!(zstd::decode_all(&zstd[..]).unwrap(), JSON);
        let gzip = Encoder::new(Compression::Gzip).encode(JSON.to_vec());
        let mut read = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, JSON);
        assert_eq!(Encoder::new(Compression::None).encode(JSON.to_vec()), JSON);
    }

    #[test]
    fn a_kept_zstd_context_compresses_each_body_on_its_own() {
        let mut encoder = Encoder::new(Compression::Zstd);
        let first = encoder.encode(JSON.to_vec());
        let second = encoder.encode(b"{}".to_vec());
        assert_eq!(zstd::decode_all(&first[..]).unwrap(), JSON);
        assert_eq!(zstd::decode_all(&second[..]).unwrap(), b"{}");
    }

    #[test]
    fn compression_is_a_name_or_a_switch_and_anything_else_is_named_with_the_choices() {
        let named = |name: &str| RawCompression::Named(name.into()).validate();
        assert_eq!(
            RawCompression::On(true).validate().unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            RawCompression::On(false).validate().unwrap(),
            Compression::None
        );
        assert_eq!(named("gzip").unwrap(), Compression::Gzip);
        assert_eq!(named("none").unwrap(), Compression::None);
        let error = named("lz4").unwrap_err();
        assert_eq!(error.field, "monitor.compression");
        let message = error.message;
        assert!(
            message.contains("\"lz4\"") && message.contains("\"gzip\""),
            "{message}"
        );
    }
}
