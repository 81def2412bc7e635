//! Snapshot files under `<data-dir>/member/snap`: one small file per
//! snapshot point (`<term>-<index>.snap`, etcd's naming) recording raft's
//! metadata with a CRC. The store itself is the snapshot's data (it is
//! made durable before the file is written); the newest
//! `--max-snapshots` files are kept.

use crate::config::Config;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, SnapshotMetadata};
use std::io::Write;

pub fn save(cfg: &Config, term: u64, index: u64, cs: &ConfState) -> std::io::Result<()> {
    let dir = cfg.data_dir.join("member").join("snap");
    let mut md = SnapshotMetadata {
        index,
        term,
        ..Default::default()
    };
    md.set_conf_state(cs.clone());
    let body = md
        .write_to_bytes()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut out = crc32c::crc32c(&body).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    let name = format!("{term:016x}-{index:016x}.snap");
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&out)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(&name))?;
    std::fs::File::open(&dir)?.sync_all()?;
    prune(&dir, ".snap", cfg.max_snapshots)
}

/// Deletes all but the newest `keep` files ending in `suffix` (0: keep all).
pub(crate) fn prune(dir: &std::path::Path, suffix: &str, keep: usize) -> std::io::Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    files.sort();
    let n = files.len().saturating_sub(keep);
    for p in files.into_iter().take(n) {
        std::fs::remove_file(&p)?;
        tracing::info!(path = %p.display(), "purged");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_files_only() {
        let d = tempfile::tempdir().expect("tmp");
        for i in 1..=4u64 {
            std::fs::write(d.path().join(format!("{:016x}-{i:016x}.snap", 1)), b"x").expect("w");
        }
        std::fs::write(
            d.path().join("0000000000000001-0000000000000001.snap.db"),
            b"x",
        )
        .expect("w");
        prune(d.path(), ".snap", 2).expect("prune");
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                "0000000000000001-0000000000000001.snap.db",
                "0000000000000001-0000000000000003.snap",
                "0000000000000001-0000000000000004.snap",
            ]
        );
    }
}
