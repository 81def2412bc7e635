//! `etcdutl snapshot restore` as a library function: turns a snapshot
//! file into a data directory that etcd 3.5 boots from as a brand-new
//! cluster holding the snapshot's keys, leases, users and roles.
//!
//! The layout written (as etcdutl 3.5.1 writes it):
//!
//! ```text
//! DIR/member/snap/db                                  0600  bbolt, trailer removed
//! DIR/member/snap/0000000000000001-000000000000000N.snap  v2 store + ConfState
//! DIR/member/wal/0000000000000000-0000000000000000.wal    0600  64 MB segment
//! ```
//!
//! In the database the old membership (`members`, `members_removed`) is
//! replaced by the `--initial-cluster` members and `meta` gets
//! `consistent_index = N` (the number of members) and `term = 1`. The WAL
//! holds a CRC record, the member metadata, an empty snapshot marker, one
//! ConfChangeAddNode entry per member (term 1, index 1..N, sorted by ID,
//! context = member JSON), HardState{term 1, vote = smallest ID, commit N}
//! and a snapshot marker {index N, term 1, voters}.
//!
//! `--bump-revision`/`--mark-compacted` do not exist in etcdutl 3.5.1;
//! they follow etcdutl 3.5.10+/3.6: an empty-valued `key` entry at
//! latest + bump, and `meta/scheduledCompactRev` set to it, so etcd
//! compacts up to the bumped revision when it boots.
//!
//! The WAL, `.snap` and member records are byte-identical to etcdutl
//! 3.5.1's (checked by the golden tests); the bbolt file holds the same
//! buckets and entries, laid out compactly and streamed into the file by
//! a [`crate::bolt::StreamWriter`] (the bytes [`crate::bolt::Writer`]
//! would lay out in memory).
//!
//! Unlike etcdutl, which writes in place and leaves partial files behind
//! on failure, everything is written into a temporary sibling directory,
//! fsynced, and renamed onto DIR at the end.

mod files;
mod members;
mod rebuild;

pub use members::plan_members;

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use prost::Message;
use sha2::{Digest, Sha256};

use crate::bolt::{FileReader, Reader};
use crate::member::{self, Member};
use crate::raftpb::{
    ConfChange, ConfState, Entry, HardState, Metadata, SnapFile, Snapshot, SnapshotMetadata,
    WalSnapshot, CONF_CHANGE_ADD_NODE, ENTRY_CONF_CHANGE,
};
use crate::snapshot;
use crate::wal;

use files::{check_data_dir, io_err, mkdir_all, sync_dir, write_file, write_wal, TempDir};

/// Settings of a restore, with etcdutl's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreConfig {
    /// `--name` (default `default`).
    pub name: String,
    /// `--data-dir`; `None` means `<name>.etcd`.
    pub data_dir: Option<PathBuf>,
    /// `--wal-dir`; `None` means `<data-dir>/member/wal`.
    pub wal_dir: Option<PathBuf>,
    /// `--initial-cluster`, `name=url,…` (default
    /// `default=http://localhost:2380`, whatever the name).
    pub initial_cluster: String,
    /// `--initial-cluster-token` (default `etcd-cluster`).
    pub initial_cluster_token: String,
    /// `--initial-advertise-peer-urls`, comma-separated (default
    /// `http://localhost:2380`).
    pub initial_advertise_peer_urls: String,
    pub skip_hash_check: bool,
    /// `--mark-compacted` (etcdutl ≥ 3.5.10): mark the latest revision as
    /// the scheduled compaction point. Required together with
    /// `bump_revision > 0`.
    pub mark_compacted: bool,
    /// `--bump-revision` (etcdutl ≥ 3.5.10): add this much to the latest
    /// revision.
    pub bump_revision: u64,
    /// true: refuse any existing data dir, even an empty one (etcd 3.4's
    /// rule, `data-dir "DIR" exists`); false: refuse only a non-empty or
    /// unreadable one (etcd 3.5's rule).
    pub refuse_existing_dir: bool,
}

impl Default for RestoreConfig {
    fn default() -> Self {
        RestoreConfig {
            name: "default".into(),
            data_dir: None,
            wal_dir: None,
            initial_cluster: "default=http://localhost:2380".into(),
            initial_cluster_token: "etcd-cluster".into(),
            initial_advertise_peer_urls: "http://localhost:2380".into(),
            skip_hash_check: false,
            mark_compacted: false,
            bump_revision: 0,
            refuse_existing_dir: false,
        }
    }
}

impl RestoreConfig {
    /// The data dir, defaulted to `<name>.etcd`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name)))
    }

    /// The WAL dir, defaulted to `<data-dir>/member/wal`.
    pub fn wal_dir(&self) -> PathBuf {
        self.wal_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("member").join("wal"))
    }

    /// Formats `(name, peer URL)` pairs as an `--initial-cluster` value.
    pub fn initial_cluster_of(pairs: &[(&str, &str)]) -> String {
        let items: Vec<String> = pairs.iter().map(|(n, u)| format!("{n}={u}")).collect();
        items.join(",")
    }
}

/// Why a restore failed. Display texts follow etcdutl 3.5.1.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("--mark-compacted required if --revision-bump > 0")]
    BumpNeedsMarkCompacted,
    #[error("{0}")]
    InvalidUrl(String),
    #[error("couldn't find local name {name:?} in the initial cluster configuration")]
    LocalNameMissing { name: String },
    #[error("{0}")]
    AdvertiseMismatch(String),
    #[error("initial cluster {0} has duplicate url")]
    DuplicateUrl(String),
    #[error("{0}")]
    BadMembership(String),
    #[error("data-dir {} not empty or could not be read", go_quote(.0))]
    DataDirNotEmpty(PathBuf),
    #[error("data-dir {} exists", go_quote(.0))]
    DataDirExists(PathBuf),
    #[error("wal-dir {} exists", go_quote(.0))]
    WalDirExists(PathBuf),
    #[error("snapshot missing hash but --skip-hash-check=false")]
    MissingHash,
    #[error("expected sha256 {}, got {}", go_bytes(.expected), go_bytes(.got))]
    HashMismatch { expected: Vec<u8>, got: Vec<u8> },
    #[error(transparent)]
    Format(#[from] crate::Error),
    #[error("{op} {}: {source}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Go's `%q` of a path (printable ASCII kept, `"` and `\` escaped).
fn go_quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a byte slice: `[1 2 3]`.
fn go_bytes(b: &[u8]) -> String {
    let items: Vec<String> = b.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// What a successful restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    /// The `.snap` file.
    pub snap_file: PathBuf,
    /// This member (`--name`).
    pub member_id: u64,
    pub cluster_id: u64,
    /// All members, sorted by ID.
    pub members: Vec<Member>,
    /// Latest revision of the restored key space (after any bump).
    pub revision: i64,
    /// The raft index the restored member starts at (= members).
    pub consistent_index: u64,
    /// Whether the SHA-256 trailer was verified.
    pub hash_checked: bool,
}

/// Checks the SHA-256 trailer as etcdutl does and returns the database.
pub fn verify_snapshot(bytes: &[u8], skip_hash_check: bool) -> Result<&[u8], RestoreError> {
    let (db, trailer) = snapshot::split_trailer(bytes);
    match trailer {
        None if !skip_hash_check => Err(RestoreError::MissingHash),
        Some(t) if !skip_hash_check => {
            let got = Sha256::digest(db);
            if got.as_slice() != t {
                return Err(RestoreError::HashMismatch {
                    expected: t.to_vec(),
                    got: got.to_vec(),
                });
            }
            Ok(db)
        }
        _ => Ok(db),
    }
}

/// [`verify_snapshot`] for a file of `len` bytes, hashed in 1 MiB
/// chunks; returns the length of the database (the trailer excluded).
pub fn verify_snapshot_file(
    file: &fs::File,
    path: &Path,
    len: u64,
    skip_hash_check: bool,
) -> Result<u64, RestoreError> {
    use std::os::unix::fs::FileExt;
    let trailer = snapshot::TRAILER_LEN as u64;
    let has_trailer = len % 512 == trailer;
    let db_len = if has_trailer { len - trailer } else { len };
    if skip_hash_check {
        return Ok(db_len);
    }
    if !has_trailer {
        return Err(RestoreError::MissingHash);
    }
    let read = io_err("read", path);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; (1 << 20).min(db_len as usize)];
    let mut at = 0u64;
    let res = (|| {
        while at < db_len {
            let n = buf.len().min((db_len - at) as usize);
            file.read_exact_at(&mut buf[..n], at)?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        let mut t = [0u8; snapshot::TRAILER_LEN];
        file.read_exact_at(&mut t, db_len)?;
        Ok(t)
    })();
    let expected = res.map_err(read)?;
    let got = hasher.finalize();
    if got.as_slice() != expected {
        return Err(RestoreError::HashMismatch {
            expected: expected.to_vec(),
            got: got.to_vec(),
        });
    }
    Ok(db_len)
}

/// The restored database: the snapshot's buckets with the membership
/// replaced, the consistent index set, and the optional revision bump.
/// Returns the file and its latest revision. Built in memory and checked;
/// [`rebuild_db_into`] streams it into a file instead.
pub fn rebuild_db(
    db: &[u8],
    members: &[Member],
    bump_revision: u64,
    mark_compacted: bool,
) -> Result<(Vec<u8>, i64), crate::Error> {
    let out = io::Cursor::new(Vec::new());
    let (out, latest) = rebuild_db_into(db, members, bump_revision, mark_compacted, out)?;
    let out = out.into_inner();
    Reader::new(&out)?.check()?;
    Ok((out, latest))
}

/// [`rebuild_db`] written straight into `out` with a [`StreamWriter`]:
/// the snapshot's entries are passed on as slices of `db`, so memory use
/// stays at a few pages beyond `db` itself. Only `members`,
/// `members_removed` and `meta` (and `key`, with a revision bump) differ
/// from the snapshot. Returns `out`, positioned at the end of the file,
/// and the latest revision.
///
/// [`StreamWriter`]: crate::bolt::StreamWriter
pub fn rebuild_db_into<W: io::Write + io::Seek>(
    db: &[u8],
    members: &[Member],
    bump_revision: u64,
    mark_compacted: bool,
    out: W,
) -> Result<(W, i64), crate::Error> {
    let reader = Reader::new(db)?;
    rebuild::rebuild(&&reader, members, bump_revision, mark_compacted, out)
}

/// [`rebuild_db_into`] reading the snapshot's database, the first
/// `db_len` bytes of `file`, a page at a time ([`FileReader`]): memory
/// use stays small whatever the size of the file.
pub fn rebuild_db_from_file<W: io::Write + io::Seek>(
    file: &fs::File,
    db_len: u64,
    members: &[Member],
    bump_revision: u64,
    mark_compacted: bool,
    out: W,
) -> Result<(W, i64), crate::Error> {
    let reader = FileReader::new(file, db_len)?;
    let source = rebuild::FileSource::new(&reader)?;
    rebuild::rebuild(&source, members, bump_revision, mark_compacted, out)
}

fn conf_state(members: &[Member]) -> ConfState {
    ConfState {
        voters: members.iter().map(|m| m.id).collect(),
        ..Default::default()
    }
}

/// The `.snap` file: name and bytes.
pub fn snap_file(members: &[Member]) -> (String, Vec<u8>) {
    let n = members.len() as u64;
    let snap = Snapshot {
        data: Some(member::v2_store_json(members)),
        metadata: SnapshotMetadata {
            conf_state: conf_state(members),
            index: n,
            term: 1,
        },
    };
    let body = snap.encode_to_vec();
    let file = SnapFile {
        crc: crc32c::crc32c(&body),
        data: Some(body),
    };
    (format!("{:016x}-{:016x}.snap", 1, n), file.encode_to_vec())
}

/// The records of the first WAL segment (without the preallocated tail).
pub fn wal_records(members: &[Member], local_id: u64, cluster_id: u64) -> Vec<u8> {
    let mut enc = wal::Encoder::new(0);
    enc.crc_record();
    let md = Metadata {
        node_id: local_id,
        cluster_id,
    };
    enc.metadata(md.encode_to_vec());
    enc.snapshot(&WalSnapshot::default());
    for (i, m) in members.iter().enumerate() {
        let cc = ConfChange {
            id: 0,
            r#type: CONF_CHANGE_ADD_NODE,
            node_id: m.id,
            context: Some(m.json().into_bytes()),
        };
        enc.entry(&Entry {
            r#type: ENTRY_CONF_CHANGE,
            term: 1,
            index: i as u64 + 1,
            data: Some(cc.encode_to_vec()),
        });
    }
    let n = members.len() as u64;
    enc.state(&HardState {
        term: 1,
        vote: members.first().map_or(0, |m| m.id),
        commit: n,
    });
    enc.snapshot(&WalSnapshot {
        index: n,
        term: 1,
        conf_state: Some(conf_state(members)),
    });
    enc.into_bytes()
}

/// Restores `snapshot_bytes` (a `snapshot save` file, or a raw db with
/// `skip_hash_check`) into a new data directory. The database is
/// streamed into `member/snap/db` (see [`rebuild_db_into`]): beyond
/// `snapshot_bytes`, memory use stays small whatever the snapshot's size.
pub fn restore(snapshot_bytes: &[u8], cfg: &RestoreConfig) -> Result<RestoreReport, RestoreError> {
    let plan = Plan::new(cfg)?;
    let db = verify_snapshot(snapshot_bytes, cfg.skip_hash_check)?;
    // Fail on an unreadable database before creating anything.
    Reader::new(db)?;
    plan.write(cfg, |members, out| {
        rebuild_db_into(db, members, cfg.bump_revision, cfg.mark_compacted, out)
    })
}

/// [`restore`] reading the snapshot from `path` itself (after the
/// configuration and target directories are checked), a page at a time:
/// the snapshot is hashed in chunks and its database walked with a
/// [`FileReader`], so memory use stays at a few MiB whatever its size.
pub fn restore_file(path: &Path, cfg: &RestoreConfig) -> Result<RestoreReport, RestoreError> {
    let plan = Plan::new(cfg)?;
    let file = fs::File::open(path).map_err(io_err("open", path))?;
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    let db_len = verify_snapshot_file(&file, path, len, cfg.skip_hash_check)?;
    // Fail on an unreadable database before creating anything.
    FileReader::new(&file, db_len)?;
    plan.write(cfg, |members, out| {
        rebuild_db_from_file(
            &file,
            db_len,
            members,
            cfg.bump_revision,
            cfg.mark_compacted,
            out,
        )
    })
}

/// What is checked before the snapshot is looked at.
struct Plan {
    members: Vec<Member>,
    cluster_id: u64,
    local_id: u64,
    data_dir: PathBuf,
    wal_dir: PathBuf,
    separate_wal: bool,
}

impl Plan {
    fn new(cfg: &RestoreConfig) -> Result<Plan, RestoreError> {
        let (members, cluster_id) = plan_members(cfg)?;
        let local_id = members
            .iter()
            .find(|m| m.name == cfg.name)
            .map(|m| m.id)
            .expect("local member checked");
        let data_dir = cfg.data_dir();
        check_data_dir(&data_dir, cfg.refuse_existing_dir)?;
        let separate_wal = cfg.wal_dir.is_some();
        let wal_dir = cfg.wal_dir();
        if separate_wal && fs::symlink_metadata(&wal_dir).is_ok() {
            return Err(RestoreError::WalDirExists(wal_dir));
        }
        Ok(Plan {
            members,
            cluster_id,
            local_id,
            data_dir,
            wal_dir,
            separate_wal,
        })
    }

    /// Writes the data dir, the database with `write_db`.
    fn write(
        self,
        cfg: &RestoreConfig,
        write_db: impl FnOnce(&[Member], fs::File) -> Result<(fs::File, i64), crate::Error>,
    ) -> Result<RestoreReport, RestoreError> {
        let Plan {
            members,
            cluster_id,
            local_id,
            data_dir,
            wal_dir,
            separate_wal,
        } = self;
        let (snap_name, snap) = snap_file(&members);
        let records = wal_records(&members, local_id, cluster_id);

        let data_tmp = TempDir::new(&data_dir)?;
        let snap_dir = data_tmp.path.join("member").join("snap");
        mkdir_all(&snap_dir)?;
        let db_path = snap_dir.join("db");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&db_path)
            .map_err(io_err("create", &db_path))?;
        let (file, revision) = write_db(&members, file)?;
        file.sync_all().map_err(io_err("fsync", &db_path))?;
        drop(file);
        write_file(&snap_dir.join(&snap_name), &snap, 0o666)?;
        let wal_tmp = if separate_wal {
            Some(TempDir::new(&wal_dir)?)
        } else {
            None
        };
        let wal_target = match &wal_tmp {
            Some(t) => t.path.clone(),
            None => data_tmp.path.join("member").join("wal"),
        };
        mkdir_all(&wal_target)?;
        write_wal(&wal_target.join(wal::segment_name(0, 0)), &records)?;
        for d in [&wal_target, &snap_dir, &data_tmp.path.join("member")] {
            sync_dir(d)?;
        }
        sync_dir(&data_tmp.path)?;
        if let Some(t) = wal_tmp {
            t.commit(&wal_dir)?;
        }
        if let Err(e) = data_tmp.commit(&data_dir) {
            if separate_wal {
                let _ = fs::remove_dir_all(&wal_dir);
            }
            return Err(e);
        }
        Ok(RestoreReport {
            snap_file: data_dir.join("member").join("snap").join(snap_name),
            data_dir,
            wal_dir,
            member_id: local_id,
            cluster_id,
            consistent_index: members.len() as u64,
            members,
            revision,
            hash_checked: !cfg.skip_hash_check,
        })
    }
}

#[cfg(test)]
mod tests;
