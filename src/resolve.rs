//! Finding the command and parsing its arguments, over the clap tree.
//!
//! cobra finds the command *before* it parses any flag, with heuristics of
//! its own that clap's subcommand matching does not share: a word after an
//! unknown flag is taken as that flag's value (`stripFlags`), prefixes of
//! commands oxctl adds (`completion`) must not make etcdctl's prefixes
//! ambiguous (`comp` is `compaction`), an unknown command wins over a bad
//! flag, and a flag error is reported with the usage of the command found.
//! So [`resolve`] is a small pre-pass that walks the clap tree the way
//! cobra's `Find` does; then [`parse`] has clap parse the found command's
//! arguments with pflag's rules ([`crate::parse`]).

use clap::Command;

use crate::cli::{self, ADDITIONS};
use crate::error::CtlError;
use crate::etcdctl::ROOT_NAME;
use crate::flags::{self, no_value, Flags};
use crate::parse::{self, long, short};

/// The command a command line selects and the arguments left for it.
#[derive(Debug)]
pub struct Resolved {
    pub path: Vec<String>,
    pub args: Vec<String>,
}

/// Whether the flag `--name` (or `-c`) seen at `cmd` takes no value: its own
/// flags and the global ones (declared at the root; the tree is not built,
/// so they are not copied into `cmd`). `-h/--help` is unknown here, as in
/// cobra, which adds its help flag only after finding the command: like
/// any unknown flag it is taken to have a value (`--help get` shows the
/// root's help, as etcdctl does).
fn no_value_flag(root: &Command, cmd: &Command, name: Option<&str>, c: Option<char>) -> bool {
    let find = |on: &Command| match (name, c) {
        (Some(n), _) => long(on, n).cloned(),
        (None, Some(c)) => short(on, c).cloned(),
        (None, None) => None,
    };
    find(cmd)
        .or_else(|| find(root).filter(|a| a.is_global_set()))
        .is_some_and(|a| no_value(&a))
}

/// cobra's `stripFlags`: the words that may name subcommands.
fn strip_flags(args: &[String], root: &Command, cmd: &Command) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        i += 1;
        if s == "--" {
            break;
        }
        let takes_next = if let Some(name) = s.strip_prefix("--") {
            !s.contains('=') && !no_value_flag(root, cmd, Some(name), None)
        } else if s.starts_with('-') && !s.contains('=') && flags::unescape_arg(s).len() == 2 {
            // cobra's `len(s) == 2` counts bytes
            s.chars()
                .nth(1)
                .is_some_and(|c| !no_value_flag(root, cmd, None, Some(c)))
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

/// cobra's `findNext` with prefix matching (only etcdctl's commands).
fn find_next(cmd: &Command, next: &str, is_root: bool) -> Option<String> {
    let mut names: Vec<&str> = cmd.get_subcommands().map(Command::get_name).collect();
    if is_root {
        names.push("help");
    }
    if names.contains(&next) {
        return Some(next.to_string());
    }
    let matches: Vec<&&str> = names
        .iter()
        .filter(|n| !ADDITIONS.contains(n) && !next.is_empty() && n.starts_with(next))
        .collect();
    match matches.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// Resolves the subcommand path like cobra's `Find`; errors like cobra for
/// an unknown command.
pub fn resolve(root: &Command, argv: &[String]) -> Result<Resolved, CtlError> {
    let mut path: Vec<String> = Vec::new();
    let mut cmd = root;
    let mut args = argv.to_vec();
    loop {
        let words = strip_flags(&args, root, cmd);
        let Some(next) = words.first() else { break };
        let Some(found) = find_next(cmd, next, path.is_empty()) else {
            break;
        };
        if let Some(pos) = args.iter().position(|a| a == next) {
            args.remove(pos);
        }
        if found == "help" && path.is_empty() {
            path.push(found);
            break;
        }
        cmd = cmd.find_subcommand(&found).unwrap_or(cmd);
        path.push(found);
    }
    if path.is_empty() {
        if let Some(first) = strip_flags(&args, root, root).first() {
            return Err(CtlError::UnknownCommand {
                message: format!(
                    "unknown command {} for {}{}",
                    crate::gofmt::quote(&flags::unescape_arg(first)),
                    crate::gofmt::quote(ROOT_NAME.as_bytes()),
                    suggestions(root, first)
                ),
                command: ROOT_NAME.to_string(),
            });
        }
    }
    Ok(Resolved { path, args })
}

/// cobra's "Did you mean this?" block: Levenshtein ≤ 2 or prefix.
fn suggestions(root: &Command, typed: &str) -> String {
    let lower = typed.to_lowercase();
    let typed_bytes = flags::unescape_arg(&lower);
    let found: Vec<&str> = root
        .get_subcommands()
        .map(Command::get_name)
        .filter(|n| !ADDITIONS.contains(n))
        .filter(|n| {
            levenshtein(&typed_bytes, n.to_lowercase().as_bytes()) <= 2 || n.starts_with(&lower)
        })
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

/// cobra's `ld`: the edit distance over bytes.
fn levenshtein(a: &[u8], b: &[u8]) -> usize {
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

/// Parses the arguments of the command at `path`; errors are pflag's text.
pub fn parse(root: &Command, path: &[&str], args: &[String]) -> Result<Flags, String> {
    parse::parse_with(parse::parse_cmd(&cli::node(root, path)), args.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn get(a: &[&str]) -> Result<Flags, String> {
        parse(&cli::tree(), &["get"], &v(a))
    }

    #[test]
    fn prefix_matching_and_flag_values() {
        let t = cli::tree();
        let r = resolve(&t, &v(&["--endpoints", "x", "memb", "list"])).unwrap();
        assert_eq!(r.path, vec!["member", "list"]);
        assert_eq!(r.args, v(&["--endpoints", "x"]));
        let r = resolve(&t, &v(&["get", "--prefix", "foo"])).unwrap();
        assert_eq!(r.path, vec!["get"]);
        assert_eq!(r.args, v(&["--prefix", "foo"]));
        // An unknown flag is assumed to take a value, as cobra does.
        let r = resolve(&t, &v(&["--bogus", "get"])).unwrap();
        assert!(r.path.is_empty());
    }

    #[test]
    fn unknown_command_suggests() {
        let t = cli::tree();
        assert_eq!(resolve(&t, &v(&["comp"])).unwrap().path, vec!["compaction"]);
        assert_eq!(
            resolve(&t, &v(&["completion", "bash"])).unwrap().path,
            vec!["completion", "bash"]
        );
        match resolve(&t, &v(&["bogus"])) {
            Err(CtlError::UnknownCommand { message, .. }) => {
                assert_eq!(message, "unknown command \"bogus\" for \"etcdctl\"")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_repeat_appends() {
        assert_eq!(
            get(&[]).unwrap().strings("endpoints"),
            vec!["127.0.0.1:2379"]
        );
        let f = get(&["--endpoints=a", "--endpoints", "a,b"]).unwrap();
        assert_eq!(f.strings("endpoints"), vec!["a", "a", "b"]);
    }

    #[test]
    fn pflag_errors() {
        let e = |a: &[&str]| get(a).unwrap_err();
        assert_eq!(e(&["--bogus=1"]), "unknown flag: --bogus");
        assert_eq!(e(&["-x"]), "unknown shorthand flag: 'x' in -x");
        assert_eq!(
            e(&["-wjson", "-dx", "-qz"]),
            "unknown shorthand flag: 'q' in -qz"
        );
        assert_eq!(e(&["---x"]), "bad flag syntax: ---x");
        assert_eq!(e(&["--=x"]), "bad flag syntax: --=x");
        assert_eq!(e(&["-w"]), "flag needs an argument: 'w' in -w");
        assert_eq!(
            e(&["--dial-timeout"]),
            "flag needs an argument: --dial-timeout"
        );
        assert_eq!(
            e(&["--dial-timeout=abc"]),
            "invalid argument \"abc\" for \"--dial-timeout\" flag: time: invalid duration \"abc\""
        );
        assert_eq!(
            e(&["--hex=maybe"]),
            "invalid argument \"maybe\" for \"--hex\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(
            e(&["--limit", "x"]),
            "invalid argument \"x\" for \"--limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn interspersed_and_terminator() {
        let f = get(&["a", "-wjson", "--hex", "b", "--", "-c", "--d"]).unwrap();
        assert_eq!(f.args(), vec!["a", "b", "-c", "--d"]);
        assert_eq!(f.args_len_at_dash(), Some(2));
        assert_eq!(f.string("write-out"), "json");
        assert!(f.bool("hex"));
        assert!(f.changed("hex"));
        assert!(!f.changed("debug"));
        let f = get(&["-w=table", "--user", "-x", "--prefix=false", "-w", "--"]).unwrap();
        assert_eq!(f.string("write-out"), "--");
        assert_eq!(f.string("user"), "-x");
        assert!(!f.bool("prefix"));
        assert_eq!(f.args_len_at_dash(), None);
        let f = get(&["--keys-only", "k", "--limit", "-1", "--consistency", "s"]).unwrap();
        assert_eq!(f.int64("limit"), -1);
        assert_eq!(f.string("consistency"), "s");
        assert_eq!(f.args(), vec!["k"]);
    }
}
