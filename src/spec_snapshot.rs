//! The `snapshot` commands: `save` (etcdctl's), and `status`/`restore`,
//! which etcdctl 3.5 deprecates in favour of etcdutl. oxctl keeps those two
//! as first-class commands: no deprecation banner, and the short help drops
//! etcdctl's `[deprecated]` marker (the description says so).

use crate::spec::{flag, leaf, CmdSpec, FlagSpec, Kind::*};

static RESTORE_FLAGS: &[FlagSpec] = &[
    flag("data-dir", None, Str, "", "Path to the data directory"),
    flag(
        "wal-dir",
        None,
        Str,
        "",
        "Path to the WAL directory (use --data-dir if none given)",
    ),
    flag(
        "initial-cluster",
        None,
        Str,
        "default=http://localhost:2380",
        "Initial cluster configuration for restore bootstrap",
    ),
    flag(
        "initial-cluster-token",
        None,
        Str,
        "etcd-cluster",
        "Initial cluster token for the etcd cluster during restore bootstrap",
    ),
    flag(
        "initial-advertise-peer-urls",
        None,
        Str,
        "http://localhost:2380",
        "List of this member's peer URLs to advertise to the rest of the cluster",
    ),
    flag(
        "name",
        None,
        Str,
        "default",
        "Human-readable name for this member",
    ),
    flag(
        "skip-hash-check",
        None,
        Bool,
        "false",
        "Ignore snapshot integrity hash value (required if copied from data directory)",
    ),
    // Not in etcdctl 3.5.1; as in later etcdutl releases.
    flag(
        "mark-compacted",
        None,
        Bool,
        "false",
        "Schedule a compaction at the latest revision of the restored data (needed with --bump-revision)",
    ),
    flag(
        "bump-revision",
        None,
        Int64,
        "0",
        "Raise the latest revision of the restored data by this much (needs --mark-compacted)",
    ),
];

const STATUS_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.

oxctl keeps this command (etcdctl 3.5 moved it to etcdutl) and prints no
deprecation notice. Like etcdctl, it ignores ETCDCTL_* variables.
";

const RESTORE_LONG: &str = "
oxctl keeps this command (etcdctl 3.5 moved it to etcdutl) and prints no
deprecation notice. An existing data directory is refused, even an empty
one, and nothing is written unless the restore completes. Like etcdctl,
it ignores ETCDCTL_* variables.
";

pub(crate) static SNAPSHOT_SUBS: &[CmdSpec] = &[
    leaf(
        "save",
        "save <filename>",
        "Stores an etcd node backend snapshot to a given file",
        "",
        &[],
    ),
    leaf(
        "status",
        "status <filename>",
        "Gets backend snapshot status of a given file",
        STATUS_LONG,
        &[],
    ),
    leaf(
        "restore",
        "restore <filename> [options]",
        "Restores an etcd member snapshot to an etcd directory",
        RESTORE_LONG,
        RESTORE_FLAGS,
    ),
];
