//! Command resolution (cobra's `Find`: flag stripping, unique-prefix
//! matching, "unknown command" with suggestions) and the clap description of
//! the same tree, used for shell completions and man pages.

use crate::error::CtlError;
use crate::flags::FlagSet;
use crate::spec::{self, CmdSpec, FlagSpec, Kind};

/// The command a command line selects and the arguments left for it.
#[derive(Debug)]
pub struct Resolved {
    pub path: Vec<&'static str>,
    pub args: Vec<String>,
}

/// Flags visible at a command: its own, its persistent ones and inherited.
pub fn flagset_for(path: &[&str]) -> FlagSet {
    let mut specs: Vec<&'static FlagSpec> = spec::inherited_flags(path);
    if let Some(cmd) = spec::find(path) {
        specs.extend(cmd.flags.iter());
        specs.extend(cmd.persistent.iter());
    }
    FlagSet::new(specs)
}

/// cobra's `stripFlags`: the words that look like subcommand names.
fn strip_flags(args: &[String], fs: &FlagSet) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        i += 1;
        if s == "--" {
            break;
        }
        let takes_next = if let Some(name) = s.strip_prefix("--") {
            !s.contains('=') && !fs.is_bool(name)
        } else if s.starts_with('-') && !s.contains('=') && s.chars().count() == 2 {
            s.chars().nth(1).is_some_and(|c| !fs.is_bool_short(c))
        } else {
            false
        };
        if takes_next {
            if args.len() - i <= 1 {
                break;
            }
            i += 1;
            continue;
        }
        if !s.is_empty() && !s.starts_with('-') {
            out.push(s.clone());
        }
    }
    out
}

/// cobra's `findNext` with `EnablePrefixMatching`.
fn find_next(cmd: &'static CmdSpec, next: &str, is_root: bool) -> Option<&'static CmdSpec> {
    let mut candidates: Vec<&'static CmdSpec> = cmd.subs.iter().collect();
    if is_root {
        candidates.push(&spec::HELP_CMD);
    }
    if let Some(c) = candidates.iter().find(|c| c.name == next) {
        return Some(c);
    }
    // Hidden commands (our additions) need their full name, so that
    // prefixes resolve exactly as in etcdctl.
    let matches: Vec<_> = candidates
        .iter()
        .filter(|c| !c.hidden && !next.is_empty() && c.name.starts_with(next))
        .collect();
    if matches.len() == 1 {
        return Some(matches[0]);
    }
    None
}

/// Resolves the subcommand path; errors like cobra for unknown commands.
pub fn resolve(argv: &[String]) -> Result<Resolved, CtlError> {
    let mut path: Vec<&'static str> = Vec::new();
    let mut cmd: &'static CmdSpec = &spec::ROOT;
    let mut args = argv.to_vec();
    loop {
        let fs = flagset_for(&path);
        let words = strip_flags(&args, &fs);
        let Some(next) = words.first() else { break };
        let Some(found) = find_next(cmd, next, path.is_empty()) else {
            break;
        };
        if let Some(pos) = args.iter().position(|a| a == next) {
            args.remove(pos);
        }
        path.push(found.name);
        cmd = found;
        if found.name == "help" && path.len() == 1 {
            break;
        }
    }
    if path.is_empty() {
        let words = strip_flags(&args, &flagset_for(&path));
        if let Some(first) = words.first() {
            return Err(CtlError::UnknownCommand {
                message: format!(
                    "unknown command {} for {}{}",
                    crate::gofmt::quote(first.as_bytes()),
                    crate::gofmt::quote(spec::ROOT_NAME.as_bytes()),
                    suggestions(first)
                ),
                path: Vec::new(),
            });
        }
    }
    Ok(Resolved { path, args })
}

/// cobra's "Did you mean this?" block: Levenshtein ≤ 2 or prefix.
fn suggestions(typed: &str) -> String {
    let lower = typed.to_lowercase();
    let found: Vec<&str> = spec::COMMANDS
        .iter()
        .filter(|c| !c.hidden)
        .filter(|c| levenshtein(&lower, &c.name.to_lowercase()) <= 2 || c.name.starts_with(&lower))
        .map(|c| c.name)
        .collect();
    if found.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n\nDid you mean this?\n");
    for f in found {
        s.push('\t');
        s.push_str(f);
        s.push('\n');
    }
    s
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The command tree as a clap `Command`, for completions and man pages.
pub fn cli() -> clap::Command {
    let mut root = clap::Command::new("oxctl")
        .about(spec::ROOT.short)
        .version(spec::VERSION)
        .disable_help_subcommand(true);
    for f in spec::GLOBAL_FLAGS {
        root = root.arg(clap_arg(f).global(true));
    }
    for c in spec::COMMANDS {
        root = root.subcommand(clap_cmd(c));
    }
    root
}

fn clap_cmd(c: &'static CmdSpec) -> clap::Command {
    let mut cmd = clap::Command::new(c.name).about(c.short);
    if !c.long.trim().is_empty() {
        cmd = cmd.long_about(c.long.trim());
    }
    for f in c.flags {
        cmd = cmd.arg(clap_arg(f));
    }
    for f in c.persistent {
        cmd = cmd.arg(clap_arg(f).global(true));
    }
    if c.runnable && c.subs.is_empty() {
        cmd = cmd.arg(
            clap::Arg::new("args")
                .num_args(0..)
                .value_name("ARGS")
                .help("Command arguments"),
        );
    }
    for s in c.subs {
        cmd = cmd.subcommand(clap_cmd(s));
    }
    cmd
}

fn clap_arg(f: &'static FlagSpec) -> clap::Arg {
    let mut a = clap::Arg::new(f.name).long(f.name).help(f.usage);
    if let Some(s) = f.short {
        a = a.short(s);
    }
    match f.kind {
        Kind::Bool => a
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(["true", "false"]),
        Kind::StrSlice => a.action(clap::ArgAction::Append).value_name("LIST"),
        Kind::Duration => a.value_name("DURATION"),
        Kind::Int64 => a.value_name("N"),
        Kind::Str if f.name == "write-out" => {
            a.value_parser(["simple", "json", "fields", "protobuf", "table"])
        }
        Kind::Str => a.value_name("VALUE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prefix_matching_and_flag_values() {
        let r = resolve(&v(&["--endpoints", "x", "memb", "list"])).unwrap();
        assert_eq!(r.path, vec!["member", "list"]);
        assert_eq!(r.args, v(&["--endpoints", "x"]));
        let r = resolve(&v(&["get", "--prefix", "foo"])).unwrap();
        assert_eq!(r.path, vec!["get"]);
        assert_eq!(r.args, v(&["--prefix", "foo"]));
        // An unknown flag is assumed to take a value, as cobra does.
        let r = resolve(&v(&["--bogus", "get"])).unwrap();
        assert!(r.path.is_empty());
    }

    #[test]
    fn unknown_command_suggests() {
        assert_eq!(resolve(&v(&["comp"])).unwrap().path, vec!["compaction"]);
        assert_eq!(
            resolve(&v(&["completion", "bash"])).unwrap().path,
            vec!["completion", "bash"]
        );
        let e = resolve(&v(&["compactio", "x"])).map(|r| r.path);
        assert_eq!(e.unwrap(), vec!["compaction"]);
        match resolve(&v(&["bogus"])) {
            Err(CtlError::UnknownCommand { message, .. }) => {
                assert_eq!(message, "unknown command \"bogus\" for \"etcdctl\"")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clap_tree_is_valid() {
        cli().debug_assert();
    }
}
