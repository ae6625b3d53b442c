//! What the instances boot with, rendered whole: every instance's
//! user-data and every node's configuration bundle as the archive that
//! goes to the artifacts bucket, with its SHA-256 (the node checks the
//! archive it fetches against the digest its user-data names).
//!
//! The archives are reproducible: the same spec and templates give the
//! same bytes (fixed times, owners and modes), so an unchanged node has an
//! unchanged digest and nothing to replace.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{Bundle, RenderError, Templates, bundles};
use crate::spec::Spec;
use crate::topology::{Node, Topology};

/// EC2 refuses user-data over 16 KiB.
pub const USER_DATA_LIMIT: usize = 16 * 1024;

/// Every instance's user-data by role, every bundle archive by node role.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub user_data: BTreeMap<String, String>,
    pub bundles: BTreeMap<String, Archive>,
}

/// One node's bundle as stored in S3.
#[derive(Debug, Clone)]
pub struct Archive {
    /// A gzip-compressed tar of the bundle's files.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// The key of `role`'s bundle in the artifacts bucket (versioned: each
/// apply that changes it keeps the one before as an older version).
pub fn bundle_key(role: &str) -> String {
    format!("bundles/{role}.tar.gz")
}

/// Renders everything the instances of `spec` boot with.
pub fn artifacts(spec: &Spec) -> Result<Artifacts, RenderError> {
    let mut user_data = BTreeMap::from([("bastion".to_owned(), super::bastion_user_data(spec)?)]);
    let mut archives = BTreeMap::new();
    if let Some(topology) = Topology::of(spec) {
        for bundle in bundles(spec)? {
            let archive = archive(&bundle);
            let node = topology
                .nodes()
                .find(|node| node.role == bundle.role)
                .expect("every bundle is of a node");
            user_data.insert(
                bundle.role.clone(),
                node_user_data(spec, &topology, node, &archive.sha256)?,
            );
            archives.insert(bundle.role, archive);
        }
    }
    Ok(Artifacts {
        user_data,
        bundles: archives,
    })
}

/// The node's cloud-init: fetch its bundle, check it, run its configure.sh.
fn node_user_data(
    spec: &Spec,
    topology: &Topology,
    node: &Node,
    sha256: &str,
) -> Result<String, RenderError> {
    Templates::get().render(
        "cloud-init/node",
        &serde_json::json!({
            "environment": spec.name,
            "node": node,
            "region": spec.region,
            "ntp_servers": spec.ntp.servers,
            "bucket": crate::model::artifacts_bucket(spec),
            "bundle_key": bundle_key(&node.role),
            "bundle_sha256": sha256,
            "distribution": topology.distribution,
            "home": topology.home(),
        }),
    )
}

/// The bundle as a reproducible `.tar.gz`.
fn archive(bundle: &Bundle) -> Archive {
    pack(
        bundle
            .files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_bytes())),
    )
}

/// Files as a reproducible `.tar.gz`, in the order given: mode 0600 (0700
/// for scripts), owner root, time zero.
pub fn pack<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Archive {
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gzip);
    for (path, bytes) in files {
        tar.append_data(&mut header(path, bytes.len() as u64), path, bytes)
            .expect("writing to memory does not fail");
    }
    let bytes = tar
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .expect("writing to memory does not fail");
    let sha256 = sha256_hex(&bytes);
    Archive { bytes, sha256 }
}

/// A reproducible tar entry's header: no time, no owner, scripts
/// executable by their owner only.
fn header(path: &str, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(if path.ends_with(".sh") { 0o700 } else { 0o600 });
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    header
}

/// The same `.tar.gz` as [`pack`], of files on disk (`(name in the
/// archive, file)`), written to `out` as it goes, so that archives larger
/// than memory (a product distribution) can be made; answers the archive's
/// hex SHA-256 and size.
pub fn pack_files(
    files: &[(String, std::path::PathBuf)],
    out: &std::path::Path,
) -> std::io::Result<(String, u64)> {
    let file = std::fs::File::create(out)?;
    let gzip = flate2::GzBuilder::new().mtime(0).write(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gzip);
    for (name, path) in files {
        let source = std::fs::File::open(path)?;
        let size = source.metadata()?.len();
        tar.append_data(&mut header(name, size), name, source)?;
    }
    let written = tar.into_inner()?.finish()?;
    written
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    sha256_file(out)
}

/// The regular files of the `.tar.gz` at `archive` whose names start with
/// `prefix`, each written to its own file in `dir` as it is read (never
/// whole in memory); answers `(name in the archive, file)` in the
/// archive's order. A name is never used as a path, so an entry named
/// `../x` writes nowhere but `dir`.
pub fn unpack_files(
    archive: &std::path::Path,
    prefix: &str,
    dir: &std::path::Path,
) -> std::io::Result<Vec<(String, std::path::PathBuf)>> {
    let gzip = flate2::read::GzDecoder::new(std::io::BufReader::new(std::fs::File::open(archive)?));
    let mut tar = tar::Archive::new(gzip);
    let mut out = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !name.starts_with(prefix) {
            continue;
        }
        let path = dir.join(format!("entry-{}", out.len()));
        let mut file = std::fs::File::create(&path)?;
        std::io::copy(&mut entry, &mut file)?;
        file.sync_all()?;
        out.push((name, path));
    }
    Ok(out)
}

/// The hex SHA-256 and the size of the file at `path`, read in pieces.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let mut digest = Sha256::new();
    let (mut file, mut size) = (std::fs::File::open(path)?, 0);
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex(&digest.finalize()), size))
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A digest written as lowercase hex.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Spec {
        use aerie_common::toml_file::TomlFile as _;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        Spec::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn packing_files_from_disk_makes_the_same_archive_as_packing_them_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, std::path::PathBuf)> =
            [("dist/configure.sh", "echo hi\n"), ("bundles/a.txt", "a")]
                .iter()
                .map(|(name, text)| {
                    let path = dir.path().join(name.replace('/', "_"));
                    std::fs::write(&path, text).unwrap();
                    ((*name).to_owned(), path)
                })
                .collect();
        let out = dir.path().join("out.tar.gz");
        let (sha256, size) = pack_files(&files, &out).unwrap();
        let memory = pack([
            ("dist/configure.sh", &b"echo hi\n"[..]),
            ("bundles/a.txt", &b"a"[..]),
        ]);
        assert_eq!(std::fs::read(&out).unwrap(), memory.bytes);
        assert_eq!((sha256, size), (memory.sha256, memory.bytes.len() as u64));
    }

    #[test]
    fn unpacking_gives_back_the_files_under_the_prefix_each_in_a_file_of_the_folder_given() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        std::fs::write(
            &archive,
            pack([
                ("dist/wso2am.zip", &b"product"[..]),
                ("bundles/gateway-1.tar.gz", &b"bundle"[..]),
            ])
            .bytes,
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let files = unpack_files(&archive, "dist/", &out).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["dist/wso2am.zip"]);
        assert_eq!(std::fs::read(&files[0].1).unwrap(), b"product");
        assert!(files.iter().all(|(_, path)| path.parent() == Some(&*out)));
    }

    #[test]
    fn the_same_spec_gives_the_same_archives_byte_for_byte() {
        let (first, second) = (
            artifacts(&example()).unwrap(),
            artifacts(&example()).unwrap(),
        );
        assert!(!first.bundles.is_empty());
        for (role, archive) in &first.bundles {
            assert_eq!(archive.bytes, second.bundles[role].bytes, "{role}");
        }
    }

    #[test]
    fn every_user_data_is_under_ec2_s_limit_and_names_its_bundle_s_digest() {
        let artifacts = artifacts(&example()).unwrap();
        for (role, user_data) in &artifacts.user_data {
            assert!(
                user_data.len() < USER_DATA_LIMIT,
                "{role}: {} bytes",
                user_data.len()
            );
        }
        for (role, archive) in &artifacts.bundles {
            assert!(
                artifacts.user_data[role].contains(&archive.sha256),
                "{role}"
            );
        }
    }

    #[test]
    fn an_archive_unpacks_to_the_bundle_s_files() {
        let spec = example();
        let bundle = bundles(&spec).unwrap().remove(0);
        let archive = archive(&bundle);
        let mut unpacked = BTreeMap::new();
        let gzip = flate2::read::GzDecoder::new(archive.bytes.as_slice());
        for entry in tar::Archive::new(gzip).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            unpacked.insert(path, text);
        }
        assert_eq!(unpacked, bundle.files);
    }
}
