//! The command tree: one clap derive tree, the single source of parsing
//! ([`crate::resolve`]), cobra-style help ([`crate::help`]), shell
//! completions and man pages.
//!
//! Subcommands are listed in etcdctl's registration order (cobra suggests
//! in this order). Each command's flags are an `Args` struct in its file
//! under `command/`; the global flags are in [`crate::global`]. Strings are
//! etcdctl's: a doc comment is cobra's `Short` (or a flag's usage), spelled
//! `about`/`help` where it ends in a period (clap would drop it);
//! `long_about` is cobra's `Long`, `override_usage` its `Use` line, and a
//! flag's `default_value` is pflag's default as `--help` prints it.
//! [`finish`] adds what every command shares (pflag bool semantics, value
//! names, the positional arguments).

use clap::{Arg, ArgAction, Command, CommandFactory, Parser, Subcommand};

use crate::command::{
    alarm, compaction, completion, defrag, del, endpoint, get, lease, member, put, snapshot, stubs,
    txn, watch,
};
use crate::flags::{self, Kind};
use crate::global::GlobalFlags;

pub const ROOT_NAME: &str = "etcdctl";
pub const VERSION: &str = "3.5.1";
pub const API_VERSION: &str = "3.5";

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
    MakeMirror,
    /// Acquires a named lock
    #[command(override_usage = "lock <lockname> [exec-command arg1 arg2 ...]")]
    Lock,
    /// Observes and participates in leader election
    #[command(override_usage = "elect <election-name> [proposal]")]
    Elect,
    /// Enable or disable authentication
    #[command(subcommand, override_usage = "auth <enable or disable>")]
    Auth(stubs::AuthCmd),
    /// User related commands
    #[command(subcommand, override_usage = "user <subcommand>")]
    User(stubs::UserCmd),
    /// Role related commands
    #[command(subcommand, override_usage = "role <subcommand>")]
    Role(stubs::RoleCmd),
    /// commands for checking properties of the etcd cluster
    #[command(subcommand, override_usage = "check <subcommand>")]
    Check(stubs::CheckCmd),
    /// Generates shell completion scripts
    #[command(subcommand, override_usage = "completion <bash|zsh|fish>")]
    Completion(completion::CompletionCmd),
}

/// The command tree, for completions and man pages (not built).
pub fn cli() -> Command {
    finish(Cli::command(), true)
}

/// The built tree: global flags propagated to every subcommand.
pub fn tree() -> Command {
    let mut c = cli();
    c.build();
    c
}

/// What every command shares: pflag's bool flags (`--x`, `--x=false`),
/// value names by kind, defaults kept for `--help` only, and `[ARGS]` on
/// runnable commands. clap's own `-h/--help` stands for cobra's (parsed as
/// a pflag bool, see [`crate::resolve::parse_cmd`]).
pub fn finish(cmd: Command, is_root: bool) -> Command {
    let leaf = !cmd.has_subcommands();
    let mut cmd = cmd.subcommand_required(false).mut_args(shape);
    if leaf && !is_root {
        cmd = cmd.arg(
            Arg::new("args")
                .num_args(0..)
                .value_name("ARGS")
                .help("Command arguments"),
        );
    }
    cmd.mut_subcommands(|s| finish(s, false))
}

fn shape(a: Arg) -> Arg {
    let a = a.hide_default_value(true);
    match flags::kind(&a) {
        Some(Kind::Bool) => a
            .value_name(None::<&str>)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true"),
        Some(Kind::List) => a.action(ArgAction::Append).value_name("LIST"),
        Some(Kind::Dur) => a.value_name("DURATION"),
        Some(Kind::Int) => a.value_name("N"),
        Some(Kind::Text) if a.get_possible_values().is_empty() => a.value_name("VALUE"),
        _ => a.value_name(None::<&str>),
    }
}

/// Follows `path` from the root of `root`.
pub fn find<'a>(root: &'a Command, path: &[&str]) -> Option<&'a Command> {
    let mut cur = root;
    for name in path {
        cur = cur.find_subcommand(name)?;
    }
    Some(cur)
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
}
