//! The command tree as data: every command and flag of the supported
//! etcdctl subset, with the Go-style defaults and usage strings that appear
//! in `--help`. The clap tree (for parsing, completions and man pages) and
//! the cobra-style usage text are both generated from this one table so they
//! cannot drift apart.

/// The kind of a pflag value; decides parsing and how help shows the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Str,
    StrSlice,
    Duration,
    Int64,
}

#[derive(Debug)]
pub struct FlagSpec {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// Default as pflag prints it (`DefValue`): `2s`, `false`, `[127.0.0.1:2379]`.
    pub default: &'static str,
    pub usage: &'static str,
}

#[derive(Debug)]
pub struct CmdSpec {
    pub name: &'static str,
    /// cobra `Use`: the name plus the argument synopsis.
    pub use_line: &'static str,
    pub short: &'static str,
    pub long: &'static str,
    pub flags: &'static [FlagSpec],
    /// Flags inherited by all subcommands (cobra persistent flags).
    pub persistent: &'static [FlagSpec],
    pub runnable: bool,
    /// Not listed in help or suggestions (our additions to etcdctl's surface).
    pub hidden: bool,
    pub subs: &'static [CmdSpec],
}

pub(crate) const fn flag(
    name: &'static str,
    short: Option<char>,
    kind: Kind,
    default: &'static str,
    usage: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        short,
        kind,
        default,
        usage,
    }
}

pub(crate) const fn leaf(
    name: &'static str,
    use_line: &'static str,
    short: &'static str,
    long: &'static str,
    flags: &'static [FlagSpec],
) -> CmdSpec {
    CmdSpec {
        name,
        use_line,
        short,
        long,
        flags,
        persistent: &[],
        runnable: true,
        hidden: false,
        subs: &[],
    }
}

use Kind::*;

use crate::spec_member::{DEFRAG_FLAGS, DEFRAG_PERSISTENT, MEMBER_SUBS};
use crate::spec_snapshot::SNAPSHOT_SUBS;
use crate::spec_stubs::*;
use crate::spec_watch::{HASHKV_FLAGS, WATCH_FLAGS};

pub const ROOT_NAME: &str = "etcdctl";
pub const VERSION: &str = "3.5.1";
pub const API_VERSION: &str = "3.5";

pub static GLOBAL_FLAGS: &[FlagSpec] = &[
    flag("endpoints", None, StrSlice, "[127.0.0.1:2379]", "gRPC endpoints"),
    flag("debug", None, Bool, "false", "enable client-side debug logging"),
    flag("write-out", Some('w'), Str, "simple", "set the output format (fields, json, protobuf, simple, table)"),
    flag("hex", None, Bool, "false", "print byte strings as hex encoded strings"),
    flag("dial-timeout", None, Duration, "2s", "dial timeout for client connections"),
    flag("command-timeout", None, Duration, "5s", "timeout for short running command (excluding dial timeout)"),
    flag("keepalive-time", None, Duration, "2s", "keepalive time for client connections"),
    flag("keepalive-timeout", None, Duration, "6s", "keepalive timeout for client connections"),
    flag("insecure-transport", None, Bool, "true", "disable transport security for client connections"),
    flag("insecure-discovery", None, Bool, "true", "accept insecure SRV records describing cluster endpoints"),
    flag("insecure-skip-tls-verify", None, Bool, "false", "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)"),
    flag("cert", None, Str, "", "identify secure client using this TLS certificate file"),
    flag("key", None, Str, "", "identify secure client using this TLS key file"),
    flag("cacert", None, Str, "", "verify certificates of TLS-enabled secure servers using this CA bundle"),
    flag("user", None, Str, "", "username[:password] for authentication (prompt if password is not supplied)"),
    flag("password", None, Str, "", "password for authentication (if this option is used, --user option shouldn't include password)"),
    flag("discovery-srv", Some('d'), Str, "", "domain name to query for SRV records describing cluster endpoints"),
    flag("discovery-srv-name", None, Str, "", "service name to query when using DNS discovery"),
];

static GET_FLAGS: &[FlagSpec] = &[
    flag(
        "consistency",
        None,
        Str,
        "l",
        "Linearizable(l) or Serializable(s)",
    ),
    flag(
        "order",
        None,
        Str,
        "",
        "Order of results; ASCEND or DESCEND (ASCEND by default)",
    ),
    flag(
        "sort-by",
        None,
        Str,
        "",
        "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION",
    ),
    flag("limit", None, Int64, "0", "Maximum number of results"),
    flag(
        "prefix",
        None,
        Bool,
        "false",
        "Get keys with matching prefix",
    ),
    flag(
        "from-key",
        None,
        Bool,
        "false",
        "Get keys that are greater than or equal to the given key using byte compare",
    ),
    flag("rev", None, Int64, "0", "Specify the kv revision"),
    flag("keys-only", None, Bool, "false", "Get only the keys"),
    flag("count-only", None, Bool, "false", "Get only the count"),
    flag(
        "print-value-only",
        None,
        Bool,
        "false",
        "Only write values when using the \"simple\" output format",
    ),
];

static PUT_FLAGS: &[FlagSpec] = &[
    flag(
        "lease",
        None,
        Str,
        "0",
        "lease ID (in hexadecimal) to attach to the key",
    ),
    flag(
        "prev-kv",
        None,
        Bool,
        "false",
        "return the previous key-value pair before modification",
    ),
    flag(
        "ignore-value",
        None,
        Bool,
        "false",
        "updates the key using its current value",
    ),
    flag(
        "ignore-lease",
        None,
        Bool,
        "false",
        "updates the key using its current lease",
    ),
];

static DEL_FLAGS: &[FlagSpec] = &[
    flag(
        "prefix",
        None,
        Bool,
        "false",
        "delete keys with matching prefix",
    ),
    flag(
        "prev-kv",
        None,
        Bool,
        "false",
        "return deleted key-value pairs",
    ),
    flag(
        "from-key",
        None,
        Bool,
        "false",
        "delete keys that are greater than or equal to the given key using byte compare",
    ),
];

static TXN_FLAGS: &[FlagSpec] = &[flag(
    "interactive",
    Some('i'),
    Bool,
    "false",
    "Input transaction in interactive mode",
)];

static COMPACTION_FLAGS: &[FlagSpec] = &[flag(
    "physical",
    None,
    Bool,
    "false",
    "'true' to wait for compaction to physically remove all old revisions",
)];

static ENDPOINT_FLAGS: &[FlagSpec] = &[flag(
    "cluster",
    None,
    Bool,
    "false",
    "use all endpoints from the cluster member list",
)];

static LEASE_TTL_FLAGS: &[FlagSpec] = &[flag(
    "keys",
    None,
    Bool,
    "false",
    "Get keys attached to this lease",
)];

static LEASE_KEEP_ALIVE_FLAGS: &[FlagSpec] = &[flag(
    "once",
    None,
    Bool,
    "false",
    "Resets the keep-alive time to its original value and cobrautl.Exits immediately",
)];

const PUT_LONG: &str = "
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
";

const TXN_USE: &str = "txn [options]";

const ENDPOINT_STATUS_LONG: &str = "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
";

static ENDPOINT_SUBS: &[CmdSpec] = &[
    leaf(
        "health",
        "health",
        "Checks the healthiness of endpoints specified in `--endpoints` flag",
        "",
        &[],
    ),
    leaf(
        "status",
        "status",
        "Prints out the status of endpoints specified in `--endpoints` flag",
        ENDPOINT_STATUS_LONG,
        &[],
    ),
    leaf(
        "hashkv",
        "hashkv",
        "Prints the KV history hash for each endpoint in --endpoints",
        "",
        HASHKV_FLAGS,
    ),
];

static ALARM_SUBS: &[CmdSpec] = &[
    leaf("disarm", "disarm", "Disarms all alarms", "", &[]),
    leaf("list", "list", "Lists all alarms", "", &[]),
];

static LEASE_SUBS: &[CmdSpec] = &[
    leaf("grant", "grant <ttl>", "Creates leases", "", &[]),
    leaf("revoke", "revoke <leaseID>", "Revokes leases", "", &[]),
    leaf(
        "timetolive",
        "timetolive <leaseID> [options]",
        "Get lease information",
        "",
        LEASE_TTL_FLAGS,
    ),
    leaf("list", "list", "List all active leases", "", &[]),
    leaf(
        "keep-alive",
        "keep-alive [options] <leaseID>",
        "Keeps leases alive (renew)",
        "",
        LEASE_KEEP_ALIVE_FLAGS,
    ),
];

static COMPLETION_SUBS: &[CmdSpec] = &[
    leaf(
        "bash",
        "bash",
        "Generates the bash completion script",
        "",
        &[],
    ),
    leaf("zsh", "zsh", "Generates the zsh completion script", "", &[]),
    leaf(
        "fish",
        "fish",
        "Generates the fish completion script",
        "",
        &[],
    ),
];

/// Subcommands in etcdctl's registration order (cobra suggests in this order).
pub static COMMANDS: &[CmdSpec] = &[
    leaf(
        "get",
        "get [options] <key> [range_end]",
        "Gets the key or a range of keys",
        "",
        GET_FLAGS,
    ),
    leaf(
        "put",
        "put [options] <key> <value> (<value> can also be given from stdin)",
        "Puts the given key into the store",
        PUT_LONG,
        PUT_FLAGS,
    ),
    leaf(
        "del",
        "del [options] <key> [range_end]",
        "Removes the specified key or range of keys [key, range_end)",
        "",
        DEL_FLAGS,
    ),
    leaf(
        "txn",
        TXN_USE,
        "Txn processes all the requests in one transaction",
        "",
        TXN_FLAGS,
    ),
    leaf(
        "compaction",
        "compaction [options] <revision>",
        "Compacts the event history in etcd",
        "",
        COMPACTION_FLAGS,
    ),
    group(
        "alarm",
        "alarm <subcommand>",
        "Alarm related commands",
        ALARM_SUBS,
    ),
    CmdSpec {
        name: "defrag",
        use_line: "defrag",
        short: "Defragments the storage of the etcd members with given endpoints",
        long: "",
        flags: DEFRAG_FLAGS,
        persistent: DEFRAG_PERSISTENT,
        runnable: true,
        hidden: false,
        subs: &[],
    },
    CmdSpec {
        name: "endpoint",
        use_line: "endpoint <subcommand>",
        short: "Endpoint related commands",
        long: "",
        flags: &[],
        persistent: ENDPOINT_FLAGS,
        runnable: false,
        hidden: false,
        subs: ENDPOINT_SUBS,
    },
    leaf(
        "move-leader",
        "move-leader <transferee-member-id>",
        "Transfers leadership to another etcd cluster member.",
        "",
        &[],
    ),
    leaf(
        "watch",
        "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
        "Watches events stream on keys or prefixes",
        "",
        WATCH_FLAGS,
    ),
    leaf(
        "version",
        "version",
        "Prints the version of etcdctl",
        "",
        &[],
    ),
    group(
        "lease",
        "lease <subcommand>",
        "Lease related commands",
        LEASE_SUBS,
    ),
    CmdSpec {
        name: "member",
        use_line: "member <subcommand>",
        short: "Membership related commands",
        long: "",
        flags: &[],
        persistent: &[],
        runnable: false,
        hidden: false,
        subs: MEMBER_SUBS,
    },
    group(
        "snapshot",
        "snapshot <subcommand>",
        "Manages etcd node snapshots",
        SNAPSHOT_SUBS,
    ),
    stub(
        "make-mirror",
        "make-mirror [options] <destination>",
        "Makes a mirror at the destination etcd cluster",
    ),
    stub(
        "lock",
        "lock <lockname> [exec-command arg1 arg2 ...]",
        "Acquires a named lock",
    ),
    stub(
        "elect",
        "elect <election-name> [proposal]",
        "Observes and participates in leader election",
    ),
    group(
        "auth",
        "auth <enable or disable>",
        "Enable or disable authentication",
        AUTH_SUBS,
    ),
    group(
        "user",
        "user <subcommand>",
        "User related commands",
        USER_SUBS,
    ),
    group(
        "role",
        "role <subcommand>",
        "Role related commands",
        ROLE_SUBS,
    ),
    group(
        "check",
        "check <subcommand>",
        "commands for checking properties of the etcd cluster",
        CHECK_SUBS,
    ),
    CmdSpec {
        name: "completion",
        use_line: "completion <bash|zsh|fish>",
        short: "Generates shell completion scripts",
        long: "",
        flags: &[],
        persistent: &[],
        runnable: false,
        hidden: true,
        subs: COMPLETION_SUBS,
    },
];

/// The root command. cobra adds a runnable `help` command; it is listed in
/// the root help but never suggested.
pub static ROOT: CmdSpec = CmdSpec {
    name: ROOT_NAME,
    use_line: ROOT_NAME,
    short: "A simple command line client for etcd3.",
    long: "",
    flags: &[],
    persistent: GLOBAL_FLAGS,
    runnable: false,
    hidden: false,
    subs: COMMANDS,
};

pub static HELP_CMD: CmdSpec = leaf(
    "help",
    "help [command]",
    "Help about any command",
    "Help provides help for any command in the application.\nSimply type etcdctl help [path to command] for full details.",
    &[],
);

/// Looks up the spec for a command path such as `["endpoint", "status"]`.
pub fn find(path: &[&str]) -> Option<&'static CmdSpec> {
    let mut cur: &'static CmdSpec = &ROOT;
    for name in path {
        if *name == "help" && std::ptr::eq(cur, &ROOT) {
            cur = &HELP_CMD;
            continue;
        }
        cur = cur.subs.iter().find(|c| c.name == *name)?;
    }
    Some(cur)
}

/// Flags a command inherits: root persistent flags plus persistent flags of
/// every ancestor (not the command's own).
pub fn inherited_flags(path: &[&str]) -> Vec<&'static FlagSpec> {
    let mut out: Vec<&'static FlagSpec> = Vec::new();
    let mut cur: &'static CmdSpec = &ROOT;
    for name in path {
        out.extend(cur.persistent.iter());
        match cur.subs.iter().find(|c| c.name == *name) {
            Some(c) => cur = c,
            None => break,
        }
    }
    out
}
