//! oxctl: a drop-in replacement for etcd's `etcdctl` 3.5 (v3 API).
//!
//! `run` finds the command like cobra and parses its flags like pflag
//! (both over the clap tree in [`cli`](mod@cli)), runs the command and maps any
//! error to etcdctl's stderr text and exit code. It is the top of the
//! layering (docs/architecture.md, "The client"): it hands the commands
//! what they need of the tree (the flags they inherit) in
//! [`command::Ctx`].

pub mod clap_error;
pub mod cli;
pub mod client;
pub mod command;
pub mod complete;
pub mod discovery;
pub mod error;
pub mod etcdctl;
pub mod flags;
pub mod global;
pub mod gofmt;
mod gofmt_print;
pub mod gourl;
pub mod help;
pub mod hint;
pub mod keepalive;
pub mod keys;
pub mod parse;
pub mod password;
pub mod printer;
pub mod resolve;
pub mod tls;
pub mod tls_files;
pub mod txn_parse;

use std::io::Write;

pub use cli::cli;
use error::CtlError;
use printer::Streams;

/// Runs oxctl with the process arguments and environment; returns the exit
/// code.
pub fn run() -> i32 {
    // the shell asking for completions (`COMPLETE=<shell>`)
    if let Some(code) = complete::run_if_asked() {
        return code;
    }
    use std::os::unix::ffi::OsStrExt;
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| flags::escape_arg(a.as_bytes()))
        .collect();
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let w = Streams {
        out: Box::new(std::io::BufWriter::new(std::io::stdout())),
        err: Box::new(std::io::stderr()),
    };
    // advice for a person only: scripts see etcdctl's output exactly
    use std::io::IsTerminal;
    run_inner(argv, env, w, std::io::stderr().is_terminal())
}

/// Runs oxctl with explicit arguments, environment and output streams.
pub fn run_with(argv: Vec<String>, env: Vec<(String, String)>, w: Streams) -> i32 {
    run_inner(argv, env, w, false)
}

/// [`run_with`], adding a [`hint`] line after the error when `hints`.
fn run_inner(
    argv: Vec<String>,
    mut env: Vec<(String, String)>,
    mut w: Streams,
    hints: bool,
) -> i32 {
    // ETCDCTL_API is read first and removed, so it never warns.
    let api = env
        .iter()
        .rev()
        .find(|(k, _)| k == "ETCDCTL_API")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    env.retain(|(k, _)| k != "ETCDCTL_API");
    let (argv_seen, env_seen) = if hints {
        (argv.clone(), env.clone())
    } else {
        Default::default()
    };
    let result = if api.is_empty() || api == "3" {
        run_v3(argv, env, &mut w)
    } else if api == "2" {
        run_v2(&argv, &mut w)
    } else {
        Err(CtlError::Plain(format!("unsupported API version: {api}")))
    };
    match result {
        Ok(()) => {
            w.flush();
            0
        }
        Err(e) => {
            w.flush();
            let code = e.report(&mut *w.out, &mut *w.err);
            if hints {
                if let Some(h) = hint::hint(&e.to_string(), &argv_seen, &env_seen) {
                    let _ = writeln!(w.err, "{h}");
                }
            }
            let _ = w.out.flush();
            code
        }
    }
}

/// etcdctl's v2 mode is not implemented; only `--version` works.
fn run_v2(argv: &[String], w: &mut Streams) -> error::Result<()> {
    if argv.iter().any(|a| a == "--version" || a == "-v") {
        w.print(&format!(
            "etcdctl version: {}\nAPI version: 2\n",
            etcdctl::VERSION
        ));
        return Ok(());
    }
    Err(CtlError::General(
        "the v2 API (ETCDCTL_API=2) is not supported by oxctl".into(),
    ))
}

fn run_v3(argv: Vec<String>, env: Vec<(String, String)>, w: &mut Streams) -> error::Result<()> {
    let root = cli::tree();
    let resolved = resolve::resolve(&root, &argv)?;
    let path = resolved.path;
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let flags = resolve::parse(&root, &p, &resolved.args).map_err(|message| CtlError::Usage {
        message,
        usage: help::usage(&p),
    })?;
    if flags.bool("help") {
        w.print(&help::usage(&p));
        return Ok(());
    }
    let args = flags.args();
    if p == ["help"] {
        return help_command(&root, &args, w);
    }
    let runnable = cli::find(&root, &p).is_some_and(|c| !c.has_subcommands()) && !p.is_empty();
    if !runnable {
        w.print(&help::usage(&p));
        return Ok(());
    }
    let streams = std::mem::replace(
        w,
        Streams {
            out: Box::new(std::io::sink()),
            err: Box::new(std::io::sink()),
        },
    );
    let inherited = cli::inherited(&root, &p).into_iter().cloned().collect();
    let mut ctx = command::Ctx {
        path: path.clone(),
        flags,
        inherited,
        args,
        env,
        w: streams,
    };
    let res = match p.as_slice() {
        ["completion", shell] => command::completion::run(&mut ctx, shell),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CtlError::General(e.to_string()))
            .and_then(|rt| rt.block_on(command::dispatch(&mut ctx))),
    };
    *w = ctx.w;
    res
}

/// cobra's `help [command]`.
fn help_command(root: &clap::Command, args: &[String], w: &mut Streams) -> error::Result<()> {
    // cobra's `Find`: words that name no command are an unknown topic;
    // no words at all (`help ""`) is the root.
    match resolve::resolve(root, args) {
        Ok(r) => {
            let p: Vec<&str> = r.path.iter().map(String::as_str).collect();
            w.print(&help::usage(&p));
        }
        Err(_) => {
            let topics: Vec<String> = args.iter().map(|a| go_backquote(a)).collect();
            let _ = w.out.flush();
            let _ = writeln!(w.err, "Unknown help topic [{}]", topics.join(" "));
            w.print(&help::usage_with(&[], false));
        }
    }
    Ok(())
}

/// Go's `%#q` of an argument: backquoted where `strconv.CanBackquote`
/// allows (valid UTF-8 without a backquote, DEL, a BOM or an ASCII control
/// character but tab), else double-quoted.
fn go_backquote(arg: &str) -> String {
    let bytes = flags::unescape_arg(arg);
    let plain = |c: char| !(c == '`' || c == '\u{7f}' || c == '\u{feff}' || (c < ' ' && c != '\t'));
    match std::str::from_utf8(&bytes) {
        Ok(s) if s.chars().all(plain) => format!("`{s}`"),
        _ => gofmt::quote(&bytes),
    }
}
