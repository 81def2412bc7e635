//! Parsing one command's arguments with pflag's rules, by clap.
//!
//! Each command of the tree is parsed through a flat copy of it
//! ([`parse_cmd`]): its flags (own and inherited), pflag's `--help` bool and
//! the positional arguments, with pflag's rules set on it: interspersed
//! flags and positionals, option values that may begin with `-`
//! (`allow_hyphen_values`), `--x=false` bools, grouped shorthands, `--`,
//! and repeated flags overriding (`args_override_self`; slices append).
//! clap's errors are turned into pflag's texts by [`crate::clap_error`].
//! [`finish`] gives every command of the tree its pflag shape; `ETCDCTL_*`
//! values are set like pflag's `Set` by [`set_from_env`].

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::etcdctl::ROOT_NAME;
use crate::flags::{self, Bool, Flags, Kind};

/// What every command shares: pflag's bool flags (`--x`, `--x=false`),
/// value names by kind, defaults kept for `--help` only, and `[ARGS]` on
/// runnable commands. clap's own `-h/--help` stands for cobra's (parsed as
/// a pflag bool, see [`parse_cmd`]).
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

pub(crate) fn long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| a.get_long() == Some(name))
}

pub(crate) fn short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// The flat command clap parses for one tree node: its flags (own and
/// inherited), pflag's `--help` bool and the positional arguments.
pub fn parse_cmd(node: &Command) -> Command {
    let mut cmd = Command::new(ROOT_NAME)
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true);
    for a in node.get_arguments() {
        let id = a.get_id().as_str();
        if id == "version" || id == "args" || a.is_positional() {
            continue;
        }
        let mut a = a.clone().global(false);
        if id == "help" {
            a = a
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(Bool))
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .default_value("false");
        } else if flags::kind(&a) != Some(Kind::Bool) {
            a = a.allow_hyphen_values(true);
        }
        cmd = cmd.arg(a);
    }
    cmd.arg(Arg::new("args").num_args(0..).action(ArgAction::Append))
}

/// The parse command of the command `name` with only its own flags `T`
/// (no global flags, no `--help`), as etcdctl builds fresh commands for
/// `txn` op lines and interactive watch.
pub fn own_flags<T: clap::Args>(name: &'static str) -> Command {
    parse_cmd(&finish(T::augment_args(Command::new(name)), false))
}

/// Parses `args` with a command made by [`parse_cmd`]; errors are pflag's
/// text.
pub fn parse_with(cmd: Command, args: Vec<String>) -> Result<Flags, String> {
    let m = matches(&cmd, &args)?;
    let dash = dash_at(&cmd, &args);
    Ok(Flags::new(m, cmd, args, dash))
}

fn matches(cmd: &Command, args: &[String]) -> Result<ArgMatches, String> {
    cmd.clone()
        .try_get_matches_from(args)
        .map_err(|e| crate::clap_error::pflag_message(&e, cmd, args))
}

/// pflag `Set` from the environment: `--name=value` words (already
/// checked) are parsed before the command line; they count as changed.
pub fn set_from_env(fs: &mut Flags, words: Vec<String>) -> Result<(), String> {
    let mut argv = words;
    argv.extend(fs.argv().iter().cloned());
    let m = matches(fs.command(), &argv)?;
    let dash = fs.args_len_at_dash();
    *fs = Flags::new(m, fs.command().clone(), argv, dash);
    Ok(())
}

/// cobra's `ArgsLenAtDash`: the positional arguments before `--`.
fn dash_at(cmd: &Command, args: &[String]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        i += 1;
        if s == "--" {
            return Some(n);
        }
        if let Some(body) = s.strip_prefix("--") {
            if !body.contains('=') && long(cmd, body).is_some_and(|a| !flags::no_value(a)) {
                i += 1;
            }
        } else if s.len() > 1 && s.starts_with('-') {
            let shorts: Vec<char> = s[1..].chars().collect();
            for (k, c) in shorts.iter().enumerate() {
                if short(cmd, *c).is_some_and(|a| !flags::no_value(a)) {
                    if k + 1 == shorts.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    None
}
