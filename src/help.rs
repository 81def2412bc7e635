//! cobra/cobrautl-style usage text (`NAME:`, `USAGE:`, `OPTIONS:` …) as
//! etcdctl prints it for `-h`, `help` and flag errors, aligned by an
//! emulation of Go's `text/tabwriter` (minwidth 0, tabwidth 8, padding 1,
//! tab padding).

use crate::spec::{self, CmdSpec, FlagSpec, Kind, API_VERSION, ROOT_NAME, VERSION};

/// Renders the usage of the command at `path` (empty path = root).
pub fn usage(path: &[&str]) -> String {
    usage_with(path, true)
}

/// `with_help_flag` is false where cobra renders a command before adding
/// its `--help` flag (the root usage after `help <unknown topic>`).
pub fn usage_with(path: &[&str], with_help_flag: bool) -> String {
    let cmd = match spec::find(path) {
        Some(c) => c,
        None => &spec::ROOT,
    };
    let is_root = path.is_empty();
    let mut t = String::new();
    t.push_str("NAME:\n");
    if is_root {
        t.push_str(&format!("\t{} - {}\n", cmd.name, cmd.short));
    } else {
        t.push_str(&format!("\t{} - {}\n", path.join(" "), cmd.short));
    }
    t.push_str("\nUSAGE:\n");
    t.push_str(&format!("\t{}\n", use_line(path, cmd)));
    if is_root {
        t.push_str(&format!("\nVERSION:\n\t{VERSION}\n"));
    }
    let has_subs = !cmd.subs.is_empty();
    if has_subs {
        t.push_str(&format!("\nAPI VERSION:\n\t{API_VERSION}\n"));
        t.push_str("\n\nCOMMANDS:\n");
        let mut lines = Vec::new();
        collect_commands(cmd, is_root, &[], &mut lines);
        for (name, short) in lines {
            t.push_str(&format!("\t{name}\t{short}\n"));
        }
    }
    let long = cmd
        .long
        .trim_matches(|c| c == '\n' || c == '\t' || c == ' ');
    if !cmd.long.is_empty() {
        t.push_str("\nDESCRIPTION:\n");
        for line in long.split('\n') {
            t.push_str(&format!("\t{line}\n"));
        }
    }
    let (mut local, inherited) = flag_sets(path, cmd);
    if !with_help_flag {
        local.retain(|f| f.name() != "help");
    }
    t.push_str("\nOPTIONS:\n");
    t.push_str(&flag_lines(&local));
    if !inherited.is_empty() {
        t.push_str("\nGLOBAL OPTIONS:\n");
        t.push_str(&flag_lines(&inherited));
    }
    t.push('\n');
    tabwrite(&t)
}

/// cobra's `UseLine`: the parent path, the `Use` text and `[flags]`.
fn use_line(path: &[&str], cmd: &CmdSpec) -> String {
    let mut s = String::from(ROOT_NAME);
    for p in &path[..path.len().saturating_sub(1)] {
        s.push(' ');
        s.push_str(p);
    }
    if !path.is_empty() {
        s.push(' ');
        s.push_str(cmd.use_line);
    }
    if !s.contains("[flags]") {
        s.push_str(" [flags]");
    }
    s
}

/// All runnable descendants, sorted by name at each level (cobra sorts).
fn collect_commands(
    cmd: &'static CmdSpec,
    is_root: bool,
    prefix: &[&'static str],
    out: &mut Vec<(String, &'static str)>,
) {
    let mut subs: Vec<&'static CmdSpec> = cmd.subs.iter().filter(|c| !c.hidden).collect();
    if is_root && prefix.is_empty() {
        subs.push(&spec::HELP_CMD);
    }
    subs.sort_by_key(|c| c.name);
    for sub in subs {
        let mut p = prefix.to_vec();
        p.push(sub.name);
        if sub.runnable {
            out.push((p.join(" "), sub.short));
        }
        collect_commands(sub, false, &p, out);
    }
}

/// (local flags incl. `--help`, inherited flags), each sorted by name.
fn flag_sets(path: &[&str], cmd: &'static CmdSpec) -> (Vec<FlagRef>, Vec<FlagRef>) {
    let help_usage = format!("help for {}", cmd.name);
    let mut local: Vec<FlagRef> = cmd
        .flags
        .iter()
        .chain(cmd.persistent.iter())
        .map(FlagRef::Spec)
        .collect();
    local.push(FlagRef::Help(help_usage));
    local.sort_by(|a, b| a.name().cmp(b.name()));
    let mut inherited: Vec<FlagRef> = if path.is_empty() {
        Vec::new()
    } else {
        spec::inherited_flags(path)
            .into_iter()
            .map(FlagRef::Spec)
            .collect()
    };
    inherited.sort_by(|a, b| a.name().cmp(b.name()));
    (local, inherited)
}

enum FlagRef {
    Spec(&'static FlagSpec),
    Help(String),
}

impl FlagRef {
    fn name(&self) -> &str {
        match self {
            FlagRef::Spec(f) => f.name,
            FlagRef::Help(_) => "help",
        }
    }
}

fn flag_lines(flags: &[FlagRef]) -> String {
    let mut s = String::new();
    for f in flags {
        let (name, short, kind, default, usage) = match f {
            FlagRef::Spec(f) => (f.name, f.short, f.kind, f.default, f.usage),
            FlagRef::Help(u) => ("help", Some('h'), Kind::Bool, "false", u.as_str()),
        };
        match short {
            Some(c) => s.push_str(&format!("  -{c}, --{name}")),
            None => s.push_str(&format!("      --{name}")),
        }
        match kind {
            Kind::Bool => s.push_str(&format!("[={default}]")),
            Kind::Str => s.push_str(&format!("={}", crate::gofmt::quote(default.as_bytes()))),
            _ => s.push_str(&format!("={default}")),
        }
        s.push('\t');
        s.push_str(usage);
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
