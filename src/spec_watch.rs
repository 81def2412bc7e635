//! Flags of `watch` and `endpoint hashkv` (etcdctl's help strings).

use crate::spec::{flag, FlagSpec, Kind::*};

pub(crate) static WATCH_FLAGS: &[FlagSpec] = &[
    flag("interactive", Some('i'), Bool, "false", "Interactive mode"),
    flag(
        "prefix",
        None,
        Bool,
        "false",
        "Watch on a prefix if prefix is set",
    ),
    flag("rev", None, Int64, "0", "Revision to start watching"),
    flag(
        "prev-kv",
        None,
        Bool,
        "false",
        "get the previous key-value pair before the event happens",
    ),
    flag(
        "progress-notify",
        None,
        Bool,
        "false",
        "get periodic watch progress notification from server",
    ),
];

pub(crate) static HASHKV_FLAGS: &[FlagSpec] = &[flag(
    "rev",
    None,
    Int64,
    "0",
    "maximum revision to hash (default: all revisions)",
)];
