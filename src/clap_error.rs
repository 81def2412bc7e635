//! clap's parse errors as pflag's error texts (which [`crate::error`] then
//! reports like cobra: usage on stdout, the message twice, exit 1).
//!
//! clap names the offending word but not always the way pflag quotes it
//! (a short flag inside a group, a flag without its value), so the word is
//! looked up again in the arguments.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Command;

/// pflag's text for a clap error of `cmd` parsing `args`.
pub fn pflag_message(e: &clap::Error, cmd: &Command, args: &[String]) -> String {
    match e.kind() {
        ErrorKind::UnknownArgument => unknown(&invalid_arg(e), cmd, args),
        ErrorKind::InvalidValue if args.last().is_some_and(|a| a.starts_with('-')) => {
            needs_argument(args.last().map(String::as_str).unwrap_or_default())
        }
        // Value parsers and anything else carry their own text.
        _ => raw_text(e),
    }
}

fn invalid_arg(e: &clap::Error) -> String {
    match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// `error: <text>` with clap's decoration removed.
fn raw_text(e: &clap::Error) -> String {
    let s = e.render().to_string();
    let s = s.strip_prefix("error: ").unwrap_or(&s);
    s.lines().next().unwrap_or_default().to_string()
}

/// The rest of the short group `word` from its last `c` on.
fn group_from(word: &str, c: char) -> String {
    let at = word.rfind(c).unwrap_or(1);
    format!("-{}", &word[at..])
}

fn unknown(word: &str, cmd: &Command, args: &[String]) -> String {
    if let Some(body) = word.strip_prefix("--") {
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            // clap names `--=x` as `--`: report the word as given.
            let given = args
                .iter()
                .find(|a| a.starts_with("---") || a.starts_with("--="))
                .map_or(word, String::as_str);
            return format!("bad flag syntax: {given}");
        }
        let name = body.split('=').next().unwrap_or_default();
        return format!("unknown flag: --{name}");
    }
    let c = word.chars().nth(1).unwrap_or('-');
    // The first short group where `c` stands as a flag (not inside a value).
    for a in args {
        if a == "--" {
            break;
        }
        let Some(group) = a.strip_prefix('-').filter(|g| !g.starts_with('-')) else {
            continue;
        };
        for (k, ch) in group.char_indices() {
            if ch == c {
                return format!("unknown shorthand flag: '{c}' in -{}", &group[k..]);
            }
            let known = cmd.get_arguments().find(|x| x.get_short() == Some(ch));
            if !known.is_some_and(crate::flags::no_value) {
                break;
            }
        }
    }
    format!("unknown shorthand flag: '{c}' in {word}")
}

fn needs_argument(last: &str) -> String {
    if last.starts_with("--") {
        return format!("flag needs an argument: {last}");
    }
    // The flag without its value is the last one of the group.
    let c = last.chars().last().unwrap_or('-');
    format!("flag needs an argument: '{c}' in {}", group_from(last, c))
}
