//! etcdctl commands that oxctl lists but does not implement yet (names,
//! synopses and one-line descriptions only), so that `--help`, prefix
//! matching and "Did you mean this?" suggestions match etcdctl's.

use crate::spec::{leaf, CmdSpec};

/// A command of etcdctl that oxctl lists (help, prefix matching and
/// suggestions stay identical) but does not implement yet.
pub(crate) const fn stub(
    name: &'static str,
    use_line: &'static str,
    short: &'static str,
) -> CmdSpec {
    leaf(name, use_line, short, "", &[])
}

pub(crate) const fn group(
    name: &'static str,
    use_line: &'static str,
    short: &'static str,
    subs: &'static [CmdSpec],
) -> CmdSpec {
    CmdSpec {
        name,
        use_line,
        short,
        long: "",
        flags: &[],
        persistent: &[],
        runnable: false,
        hidden: false,
        subs,
    }
}

pub(crate) static AUTH_SUBS: &[CmdSpec] = &[
    stub("status", "status", "Returns authentication status"),
    stub("enable", "enable", "Enables authentication"),
    stub("disable", "disable", "Disables authentication"),
];

pub(crate) static USER_SUBS: &[CmdSpec] = &[
    stub(
        "add",
        "add <user name or user:password> [options]",
        "Adds a new user",
    ),
    stub("delete", "delete <user name>", "Deletes a user"),
    stub(
        "get",
        "get <user name> [options]",
        "Gets detailed information of a user",
    ),
    stub("list", "list", "Lists all users"),
    stub(
        "passwd",
        "passwd <user name> [options]",
        "Changes password of user",
    ),
    stub(
        "grant-role",
        "grant-role <user name> <role name>",
        "Grants a role to a user",
    ),
    stub(
        "revoke-role",
        "revoke-role <user name> <role name>",
        "Revokes a role from a user",
    ),
];

pub(crate) static ROLE_SUBS: &[CmdSpec] = &[
    stub("add", "add <role name>", "Adds a new role"),
    stub("delete", "delete <role name>", "Deletes a role"),
    stub(
        "get",
        "get <role name>",
        "Gets detailed information of a role",
    ),
    stub("list", "list", "Lists all roles"),
    stub(
        "grant-permission",
        "grant-permission [options] <role name> <permission type> <key> [endkey]",
        "Grants a key to a role",
    ),
    stub(
        "revoke-permission",
        "revoke-permission <role name> <key> [endkey]",
        "Revokes a key from a role",
    ),
];

pub(crate) static CHECK_SUBS: &[CmdSpec] = &[
    stub("perf", "perf [options]", "Check the performance of the etcd cluster"),
    stub("datascale", "datascale [options]", "Check the memory usage of holding data for different workloads on a given server endpoint."),
];
