//! The command tree: one clap derive tree, the single source of parsing
//! ([`crate::resolve`]), cobra-style help ([`crate::help`]), shell
//! completions and man pages; and navigating it (a command's node, the
//! flags it inherits).
//!
//! Subcommands are listed in etcdctl's registration order (cobra suggests
//! in this order). Each command's flags are an `Args` struct in its file
//! under `command/`; the global flags are in [`crate::global`]. Strings are
//! etcdctl's: a doc comment is cobra's `Short` (or a flag's usage), spelled
//! `about`/`help` where it ends in a period (clap would drop it);
//! `long_about` is cobra's `Long`, `override_usage` its `Use` line, and a
//! flag's `default_value` is pflag's default as `--help` prints it.
//! [`finish`] (from [`crate::parse`]) adds what every command shares (pflag
//! bool semantics, value names, the positional arguments).

use clap::{Arg, Command, CommandFactory, Parser, Subcommand};

use crate::command::{
    alarm, auth, check, compaction, defrag, del, elect, endpoint, get, lease, lock, make_mirror,
    member, put, role, snapshot, txn, user, watch,
};
use crate::etcdctl::VERSION;
use crate::global::GlobalFlags;
use crate::parse::finish;

/// Commands oxctl adds to etcdctl's surface: not listed in help, not
/// suggested and not matched by a prefix, so those resolve as in etcdctl.
pub const ADDITIONS: &[&str] = &["completion"];

#[derive(Parser, Debug)]
#[command(
    name = "oxctl",
    about = "A simple command line client for etcd3.",
    version = VERSION,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Gets the key or a range of keys
    #[command(override_usage = "get [options] <key> [range_end]")]
    Get(get::GetArgs),
    /// Puts the given key into the store
    #[command(long_about = put::LONG, override_usage = "put [options] <key> <value> (<value> can also be given from stdin)")]
    Put(put::PutArgs),
    /// Removes the specified key or range of keys [key, range_end)
    #[command(override_usage = "del [options] <key> [range_end]")]
    Del(del::DelArgs),
    /// Txn processes all the requests in one transaction
    #[command(override_usage = "txn [options]")]
    Txn(txn::TxnArgs),
    /// Compacts the event history in etcd
    #[command(override_usage = "compaction [options] <revision>")]
    Compaction(compaction::CompactionArgs),
    /// Alarm related commands
    #[command(subcommand, override_usage = "alarm <subcommand>")]
    Alarm(alarm::AlarmCmd),
    /// Defragments the storage of the etcd members with given endpoints
    #[command(override_usage = "defrag")]
    Defrag(defrag::DefragArgs),
    /// Endpoint related commands
    #[command(override_usage = "endpoint <subcommand>")]
    Endpoint(endpoint::EndpointCmd),
    #[command(
        about = "Transfers leadership to another etcd cluster member.",
        override_usage = "move-leader <transferee-member-id>"
    )]
    MoveLeader,
    /// Watches events stream on keys or prefixes
    #[command(
        override_usage = "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]"
    )]
    Watch(watch::WatchArgs),
    /// Prints the version of etcdctl
    #[command(override_usage = "version")]
    Version,
    /// Lease related commands
    #[command(subcommand, override_usage = "lease <subcommand>")]
    Lease(lease::LeaseCmd),
    /// Membership related commands
    #[command(subcommand, override_usage = "member <subcommand>")]
    Member(member::MemberCmd),
    /// Manages etcd node snapshots
    #[command(subcommand, override_usage = "snapshot <subcommand>")]
    Snapshot(snapshot::SnapshotCmd),
    /// Makes a mirror at the destination etcd cluster
    #[command(override_usage = "make-mirror [options] <destination>")]
    MakeMirror(make_mirror::MakeMirrorArgs),
    /// Acquires a named lock
    #[command(override_usage = "lock <lockname> [exec-command arg1 arg2 ...]")]
    Lock(lock::LockArgs),
    /// Observes and participates in leader election
    #[command(override_usage = "elect <election-name> [proposal]")]
    Elect(elect::ElectArgs),
    /// Enable or disable authentication
    #[command(subcommand, override_usage = "auth <enable or disable>")]
    Auth(auth::AuthCmd),
    /// User related commands
    #[command(subcommand, override_usage = "user <subcommand>")]
    User(user::UserCmd),
    /// Role related commands
    #[command(subcommand, override_usage = "role <subcommand>")]
    Role(role::RoleCmd),
    /// commands for checking properties of the etcd cluster
    #[command(subcommand, override_usage = "check <subcommand>")]
    Check(check::CheckCmd),
    /// Generates shell completion scripts
    #[command(subcommand, override_usage = "completion <bash|zsh|fish>")]
    Completion(CompletionCmd),
}

/// `completion`'s shells (run by [`crate::command::completion`]).
#[derive(Subcommand, Debug)]
pub enum CompletionCmd {
    /// Generates the bash completion script
    #[command(override_usage = "bash")]
    Bash,
    /// Generates the zsh completion script
    #[command(override_usage = "zsh")]
    Zsh,
    /// Generates the fish completion script
    #[command(override_usage = "fish")]
    Fish,
}

/// The command tree, for completions and man pages (not built).
pub fn cli() -> Command {
    finish(Cli::command(), true)
}

/// The tree a command line is resolved against. It is not built as a
/// whole: clap's build copies every global flag into every command, which
/// cost more than the rest of a short run; [`node`] builds just the command
/// a line selects, and [`crate::resolve`] finds global flags at the root.
pub fn tree() -> Command {
    cli()
}

/// cobra's own `help [command]` (not part of the clap tree, so that
/// completions and man pages do not list it).
pub fn help_command() -> Command {
    finish(
        Command::new("help")
            .about("Help about any command")
            .long_about(
                "Help provides help for any command in the application.\nSimply type etcdctl help [path to command] for full details.",
            )
            .override_usage("help [command]"),
        false,
    )
}

/// Follows `path` from the root of `root`.
pub fn find<'a>(root: &'a Command, path: &[&str]) -> Option<&'a Command> {
    let mut cur = root;
    for name in path {
        cur = cur.find_subcommand(name)?;
    }
    Some(cur)
}

/// The command at `path`, built, with the global flags it inherits (`help`
/// is cobra's own command; a path that names no command gives the root).
pub fn node(root: &Command, path: &[&str]) -> Command {
    let found = if path == ["help"] {
        help_command()
    } else {
        find(root, path).unwrap_or(root).clone()
    };
    // the root's global settings reach a command only when the root is
    // built, so the one that matters is set here again
    let mut cmd = found.disable_help_subcommand(true);
    for a in inherited(root, path) {
        if !cmd.get_arguments().any(|x| x.get_id() == a.get_id()) {
            cmd = cmd.arg(a.clone());
        }
    }
    cmd.build();
    cmd
}

/// Flags a command inherits: the global (cobra persistent) flags of its
/// ancestors, not its own.
pub fn inherited<'a>(root: &'a Command, path: &[&str]) -> Vec<&'a Arg> {
    let mut out: Vec<&Arg> = Vec::new();
    let mut cur = root;
    for name in path {
        for a in cur.get_arguments().filter(|a| a.is_global_set()) {
            if !out.iter().any(|o| o.get_id() == a.get_id()) {
                out.push(a);
            }
        }
        match cur.find_subcommand(name) {
            Some(c) => cur = c,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_tree_is_valid() {
        cli().debug_assert();
    }

    #[test]
    fn inherited_flags_include_persistent_ones() {
        let t = tree();
        let names = |p: &[&str]| -> Vec<String> {
            inherited(&t, p)
                .iter()
                .map(|a| a.get_id().to_string())
                .collect()
        };
        assert!(names(&["endpoint", "status"]).contains(&"cluster".to_string()));
        assert!(!names(&["defrag"]).contains(&"cluster".to_string()));
        assert_eq!(names(&["get"]).len(), 18);
    }

    #[test]
    fn own_flags_match_the_tree() {
        use crate::parse::{own_flags, parse_cmd};
        let tree = cli();
        let of = |name: &str| format!("{:?}", parse_cmd(tree.find_subcommand(name).unwrap()));
        let own = |c: Command| format!("{c:?}");
        assert_eq!(own(own_flags::<get::GetArgs>("get")), of("get"));
        assert_eq!(own(own_flags::<put::PutArgs>("put")), of("put"));
        assert_eq!(own(own_flags::<del::DelArgs>("del")), of("del"));
        assert_eq!(own(own_flags::<watch::WatchArgs>("watch")), of("watch"));
    }
}
