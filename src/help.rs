//! cobra/cobrautl-style usage text (`NAME:`, `USAGE:`, `OPTIONS:` …) as
//! etcdctl prints it for `-h`, `help` and flag errors, rendered from the
//! clap tree and aligned by an emulation of Go's `text/tabwriter`
//! (minwidth 0, tabwidth 8, padding 1, tab padding).

use clap::{Arg, Command};

use crate::cli::{self, help_command, ADDITIONS};
use crate::etcdctl::{API_VERSION, ROOT_NAME, VERSION};
use crate::flags::{self, Kind};

/// Renders the usage of the command at `path` (empty path = root).
pub fn usage(path: &[&str]) -> String {
    usage_with(path, true)
}

/// `with_help_flag` is false where cobra renders a command before adding
/// its `--help` flag (the root usage after `help <unknown topic>`).
pub fn usage_with(path: &[&str], with_help_flag: bool) -> String {
    let root = cli::tree();
    let cmd = cli::node(&root, path);
    let is_root = path.is_empty();
    let about = |c: &Command| c.get_about().map(|a| a.to_string()).unwrap_or_default();
    let mut t = String::new();
    t.push_str("NAME:\n");
    let name = if is_root {
        ROOT_NAME.to_string()
    } else {
        path.join(" ")
    };
    t.push_str(&format!("\t{name} - {}\n", about(&cmd)));
    t.push_str("\nUSAGE:\n");
    t.push_str(&format!("\t{}\n", use_line(path, &cmd)));
    if is_root {
        t.push_str(&format!("\nVERSION:\n\t{VERSION}\n"));
    }
    if cmd.has_subcommands() {
        t.push_str(&format!("\nAPI VERSION:\n\t{API_VERSION}\n"));
        t.push_str("\n\nCOMMANDS:\n");
        let mut lines = Vec::new();
        collect_commands(&cmd, is_root, &[], &mut lines);
        for (name, short) in lines {
            t.push_str(&format!("\t{name}\t{short}\n"));
        }
    }
    if let Some(long) = cmd.get_long_about() {
        t.push_str("\nDESCRIPTION:\n");
        let long = long.to_string();
        for line in long
            .trim_matches(|c| c == '\n' || c == '\t' || c == ' ')
            .split('\n')
        {
            t.push_str(&format!("\t{line}\n"));
        }
    }
    let inherited = if is_root {
        Vec::new()
    } else {
        cli::inherited(&root, path)
    };
    let own = if is_root { ROOT_NAME } else { cmd.get_name() };
    let mut local: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| a.get_long().is_some() && a.get_id() != "version")
        .filter(|a| !inherited.iter().any(|i| i.get_id() == a.get_id()))
        .filter(|a| with_help_flag || a.get_id() != "help")
        .collect();
    local.sort_by_key(|a| a.get_long());
    t.push_str("\nOPTIONS:\n");
    t.push_str(&flag_lines(&local, own));
    if !inherited.is_empty() {
        let mut inherited = inherited;
        inherited.sort_by_key(|a| a.get_long());
        t.push_str("\nGLOBAL OPTIONS:\n");
        t.push_str(&flag_lines(&inherited, own));
    }
    t.push('\n');
    tabwrite(&t)
}

/// cobra's `UseLine`: the parent path, the `Use` text and `[flags]`.
fn use_line(path: &[&str], cmd: &Command) -> String {
    let mut s = String::from(ROOT_NAME);
    for p in &path[..path.len().saturating_sub(1)] {
        s.push(' ');
        s.push_str(p);
    }
    if !path.is_empty() {
        s.push(' ');
        match cmd.get_overridden_usage() {
            Some(u) => s.push_str(&u.to_string()),
            None => s.push_str(cmd.get_name()),
        }
    }
    if !s.contains("[flags]") {
        s.push_str(" [flags]");
    }
    s
}

/// All runnable descendants, sorted by name at each level (cobra sorts).
fn collect_commands(
    cmd: &Command,
    is_root: bool,
    prefix: &[&str],
    out: &mut Vec<(String, String)>,
) {
    let help = help_command();
    let mut subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|c| !ADDITIONS.contains(&c.get_name()))
        .collect();
    if is_root && prefix.is_empty() {
        subs.push(&help);
    }
    subs.sort_by_key(|c| c.get_name());
    for sub in subs {
        let mut p = prefix.to_vec();
        p.push(sub.get_name());
        if !sub.has_subcommands() {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push((p.join(" "), about));
        }
        collect_commands(sub, false, &p, out);
    }
}

/// pflag's `FlagUsages` lines: `  -w, --write-out="simple"<TAB>usage`.
fn flag_lines(flags: &[&Arg], cmd_name: &str) -> String {
    let mut s = String::new();
    for f in flags {
        let name = f.get_long().unwrap_or_default();
        match f.get_short() {
            Some(c) => s.push_str(&format!("  -{c}, --{name}")),
            None => s.push_str(&format!("      --{name}")),
        }
        let default: Vec<String> = f
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = default.join(",");
        match flags::kind(f) {
            Some(Kind::Bool) => s.push_str(&format!("[={default}]")),
            None => s.push_str("[=false]"),
            Some(Kind::Text) => {
                s.push_str(&format!("={}", crate::gofmt::quote(default.as_bytes())))
            }
            Some(Kind::List) => s.push_str(&format!("=[{default}]")),
            Some(Kind::Int) if default.is_empty() => s.push_str("=0"),
            Some(_) => s.push_str(&format!("={default}")),
        }
        s.push('\t');
        if f.get_id() == "help" {
            s.push_str(&format!("help for {cmd_name}"));
        } else {
            s.push_str(&f.get_help().map(|h| h.to_string()).unwrap_or_default());
        }
        s.push('\n');
    }
    s
}

/// Go `text/tabwriter` with minwidth 0, tabwidth 8, padding 1 and '\t' as
/// padding character: tab-terminated cells in consecutive lines form
/// columns whose width is rounded up to a tab stop.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths: Vec<usize> = Vec::new();
    format_block(&lines, 0, lines.len(), &mut widths, &mut out);
    // The last split element is the text after the final newline.
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn format_block(
    lines: &[Vec<&str>],
    line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut start = line0;
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        // A cell exists in this column: print preceding lines, then find
        // the block of consecutive lines having this column.
        write_lines(lines, start, this, widths, out);
        start = this;
        let mut w = 0;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + 1);
            this += 1;
        }
        widths.push(w);
        format_block(lines, start, this, widths, out);
        widths.pop();
        start = this;
    }
    write_lines(lines, start, line1, widths, out);
}

fn write_lines(
    lines: &[Vec<&str>],
    line0: usize,
    line1: usize,
    widths: &[usize],
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                // tab-terminated cell: pad with tabs up to the column width
                let cellw = widths.get(j).copied().unwrap_or(0);
                let cellw = cellw.div_ceil(8) * 8;
                let textw = width(cell);
                let n = cellw.saturating_sub(textw);
                for _ in 0..n.div_ceil(8) {
                    out.push('\t');
                }
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_aligns_to_tab_stops() {
        let s = tabwrite("      --consistency=\"l\"\tA\n      --print-value-only[=false]\tB\n");
        assert_eq!(
            s,
            "      --consistency=\"l\"\t\t\tA\n      --print-value-only[=false]\tB\n"
        );
    }

    #[test]
    fn get_usage_header() {
        let u = usage(&["get"]);
        assert!(u.starts_with(
            "NAME:\n\tget - Gets the key or a range of keys\n\nUSAGE:\n\tetcdctl get [options] <key> [range_end] [flags]\n\nOPTIONS:\n      --consistency=\"l\"\t\t\tLinearizable(l) or Serializable(s)\n"
        ));
        assert!(u.ends_with("(fields, json, protobuf, simple, table)\n\n"));
    }
}
