//! Dynamic shell completion (bash, zsh, fish), by clap_complete's engine:
//! `source <(COMPLETE=bash oxctl)` registers it, and the shell then runs
//! `COMPLETE=<shell> oxctl -- <words>` at each Tab. Besides commands and
//! flags it completes what only a running cluster knows: keys for `get`,
//! `del`, `put` and `watch`, member IDs, lease IDs, user and role names.
//! Each asks the cluster with oxctl's own commands (`get --prefix
//! --keys-only`, `member list`, `lease list`, `user list`, `role list`),
//! run in process with the endpoints and TLS flags already typed (or in
//! `ETCDCTL_*`) and short timeouts; an unreachable cluster completes
//! nothing, silently. The static scripts of `completion bash|zsh|fish`
//! stay for systems that want them.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::sync::{Arc, Mutex};

use clap::Command;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate, ValueCompleter};

use crate::printer::Streams;

/// Keys offered at most per Tab.
const KEY_LIMIT: &str = "--limit=100";
/// Global flags that say where and how to connect, kept from the words typed.
const CONNECT_FLAGS: &[&str] = &[
    "endpoints",
    "cacert",
    "cert",
    "key",
    "user",
    "password",
    "insecure-transport",
    "insecure-skip-tls-verify",
    "insecure-discovery",
    "discovery-srv",
    "discovery-srv-name",
];

/// What a positional argument is completed from.
#[derive(Clone, Copy, Debug)]
enum Source {
    Keys,
    Members,
    Leases,
    Users,
    Roles,
}

/// Where each source applies: (command path, source).
const WHERE: &[(&[&str], Source)] = &[
    (&["get"], Source::Keys),
    (&["del"], Source::Keys),
    (&["put"], Source::Keys),
    (&["watch"], Source::Keys),
    (&["member", "remove"], Source::Members),
    (&["member", "update"], Source::Members),
    (&["member", "promote"], Source::Members),
    (&["lease", "revoke"], Source::Leases),
    (&["lease", "timetolive"], Source::Leases),
    (&["lease", "keep-alive"], Source::Leases),
    (&["user", "get"], Source::Users),
    (&["user", "delete"], Source::Users),
    (&["user", "passwd"], Source::Users),
    (&["user", "grant-role"], Source::Users),
    (&["user", "revoke-role"], Source::Users),
    (&["role", "get"], Source::Roles),
    (&["role", "delete"], Source::Roles),
    (&["role", "grant-permission"], Source::Roles),
    (&["role", "revoke-permission"], Source::Roles),
];

/// The command tree with the cluster-backed completers on the positional
/// arguments of the commands in [`WHERE`].
fn tree() -> Command {
    let mut root = crate::cli::cli();
    for &(path, source) in WHERE {
        let attach = move |c: Command| c.mut_arg("args", |a| a.add(ArgValueCompleter::new(source)));
        root = match path {
            [one] => root.mut_subcommand(*one, attach),
            [group, leaf] => root.mut_subcommand(*group, |g| g.mut_subcommand(*leaf, attach)),
            _ => root,
        };
    }
    root
}

/// Answers the shell when `COMPLETE` asks for completions (or for the
/// registration script): Some(exit code); None when it does not.
pub fn run_if_asked() -> Option<i32> {
    std::env::var_os("COMPLETE").filter(|v| !v.is_empty() && v != "0")?;
    let cwd = std::env::current_dir().ok();
    match clap_complete::CompleteEnv::with_factory(tree)
        .try_complete(std::env::args_os(), cwd.as_deref())
    {
        Ok(true) => Some(0),
        Ok(false) => None,
        Err(e) => {
            eprintln!("completion: {e}");
            Some(1)
        }
    }
}

/// A writer whose bytes are read back after the in-process run.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The connection flags among the words typed so far (after `--`).
fn typed_connect_flags(words: &[OsString]) -> Vec<String> {
    let words: Vec<String> = words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let name = w
            .strip_prefix("--")
            .map(|n| n.split('=').next().unwrap_or(n));
        if let Some(name) = name.filter(|n| CONNECT_FLAGS.contains(n)) {
            kept.push(w.clone());
            let bool_flag = name.starts_with("insecure");
            if !w.contains('=') && !bool_flag && i + 1 < words.len() {
                kept.push(words[i + 1].clone());
                i += 1;
            }
        }
        i += 1;
    }
    kept
}

/// Runs oxctl `args` in process with the typed connection flags and short
/// timeouts; its stdout lines, or none on any failure.
fn ask(args: &[&str]) -> Vec<String> {
    let all: Vec<OsString> = std::env::args_os().collect();
    let after_dash = all
        .iter()
        .position(|a| a == "--")
        .map(|i| all[i + 1..].to_vec())
        .unwrap_or_default();
    let mut argv = typed_connect_flags(&after_dash);
    argv.extend(["--dial-timeout=300ms", "--command-timeout=1s"].map(String::from));
    argv.extend(args.iter().map(|s| s.to_string()));
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("ETCDCTL_") && k != "ETCDCTL_API")
        .collect();
    let out = Captured::default();
    let w = Streams {
        out: Box::new(out.clone()),
        err: Box::new(std::io::sink()),
    };
    if crate::run_with(argv, env, w) != 0 {
        return Vec::new();
    }
    let bytes = out.0.lock().map(|v| v.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(String::from)
        .collect()
}

impl ValueCompleter for Source {
    fn complete(&self, current: &OsStr) -> Vec<CompletionCandidate> {
        let cur = current.to_string_lossy();
        let lines = match self {
            // a key is never empty: an empty prefix is `--from-key` of "\0"
            Source::Keys if cur.is_empty() => {
                ask(&["get", "--from-key", "\0", "--keys-only", KEY_LIMIT])
            }
            Source::Keys => ask(&["get", &cur, "--prefix", "--keys-only", KEY_LIMIT]),
            Source::Members => ask(&["member", "list"]),
            Source::Leases => ask(&["lease", "list"]),
            Source::Users => ask(&["user", "list"]),
            Source::Roles => ask(&["role", "list"]),
        };
        candidates(*self, &lines)
            .into_iter()
            .filter(|(v, _)| v.starts_with(cur.as_ref()))
            .map(|(v, help)| {
                let c = CompletionCandidate::new(v);
                match help {
                    Some(h) => c.help(Some(h.into())),
                    None => c,
                }
            })
            .collect()
    }
}

/// The values (and a description) in a command's simple output.
fn candidates(source: Source, lines: &[String]) -> Vec<(String, Option<String>)> {
    match source {
        // keys-only: a key per line, an empty line after each
        Source::Keys | Source::Users | Source::Roles => lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| (l.clone(), None))
            .collect(),
        // `<id>, <status>, <name>, <peer urls>, <client urls>, <learner>`
        Source::Members => lines
            .iter()
            .filter_map(|l| {
                let mut f = l.split(", ");
                let id = f.next()?.to_string();
                let name = f.nth(1).map(String::from);
                Some((id, name))
            })
            .collect(),
        // `found N leases`, then an ID per line
        Source::Leases => lines
            .iter()
            .filter(|l| !l.is_empty() && !l.starts_with("found "))
            .map(|l| (l.clone(), None))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_flags_are_kept() {
        let words: Vec<OsString> = [
            "oxctl",
            "--endpoints",
            "https://a:2379",
            "--cacert=/ca.pem",
            "--insecure-transport",
            "-w",
            "json",
            "get",
            "fo",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            typed_connect_flags(&words),
            [
                "--endpoints",
                "https://a:2379",
                "--cacert=/ca.pem",
                "--insecure-transport"
            ]
        );
    }

    #[test]
    fn outputs_parse_into_candidates() {
        let members = vec!["8e9e05c52164694d, started, m1, http://p, http://c, false".to_string()];
        assert_eq!(
            candidates(Source::Members, &members),
            vec![("8e9e05c52164694d".to_string(), Some("m1".to_string()))]
        );
        let leases = vec!["found 1 leases".to_string(), "694d7c4e0d2a3f06".to_string()];
        assert_eq!(
            candidates(Source::Leases, &leases),
            vec![("694d7c4e0d2a3f06".to_string(), None)]
        );
        let keys = vec![
            "foo".to_string(),
            String::new(),
            "fox".to_string(),
            String::new(),
        ];
        assert_eq!(candidates(Source::Keys, &keys).len(), 2);
    }

    #[test]
    fn every_place_exists_in_the_tree() {
        let root = crate::cli::cli();
        for (path, _) in WHERE {
            let mut c = &root;
            for p in *path {
                c = c
                    .find_subcommand(p)
                    .unwrap_or_else(|| panic!("{path:?} is not a command"));
            }
            assert!(c.get_arguments().any(|a| a.get_id() == "args"), "{path:?}");
        }
    }
}
