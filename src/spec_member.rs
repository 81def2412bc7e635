//! The `member` subcommands and `defrag`: names, synopses, flags and help
//! strings as etcdctl 3.5.1 prints them.

use crate::spec::{flag, leaf, CmdSpec, FlagSpec, Kind::*};

static MEMBER_ADD_FLAGS: &[FlagSpec] = &[
    flag(
        "peer-urls",
        None,
        Str,
        "",
        "comma separated peer URLs for the new member.",
    ),
    flag(
        "learner",
        None,
        Bool,
        "false",
        "indicates if the new member is raft learner",
    ),
];

static MEMBER_UPDATE_FLAGS: &[FlagSpec] = &[flag(
    "peer-urls",
    None,
    Str,
    "",
    "comma separated peer URLs for the updated member.",
)];

const MEMBER_LIST_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
";

const MEMBER_PROMOTE_LONG: &str =
    "Promotes a non-voting learner member to a voting one in the cluster.\n";

/// In etcdctl's registration order.
pub(crate) static MEMBER_SUBS: &[CmdSpec] = &[
    leaf(
        "add",
        "add <memberName> [options]",
        "Adds a member into the cluster",
        "",
        MEMBER_ADD_FLAGS,
    ),
    leaf(
        "remove",
        "remove <memberID>",
        "Removes a member from the cluster",
        "",
        &[],
    ),
    leaf(
        "update",
        "update <memberID> [options]",
        "Updates a member in the cluster",
        "",
        MEMBER_UPDATE_FLAGS,
    ),
    leaf(
        "list",
        "list",
        "Lists all members in the cluster",
        MEMBER_LIST_LONG,
        &[],
    ),
    leaf(
        "promote",
        "promote <memberID>",
        "Promotes a non-voting member in the cluster",
        MEMBER_PROMOTE_LONG,
        &[],
    ),
];

pub(crate) static DEFRAG_FLAGS: &[FlagSpec] = &[flag(
    "data-dir",
    None,
    Str,
    "",
    "Optional. If present, defragments a data directory not in use by etcd.",
)];

/// `--cluster` is a persistent flag of `defrag`, as in etcdctl.
pub(crate) static DEFRAG_PERSISTENT: &[FlagSpec] = &[flag(
    "cluster",
    None,
    Bool,
    "false",
    "use all endpoints from the cluster member list",
)];
