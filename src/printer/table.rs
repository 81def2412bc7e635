//! The `table` writer, rendering like olekukonko/tablewriter v0.0.5 as
//! etcdctl configures it: centred upper-case headers, right-aligned cells,
//! `+-|` borders, cells wider than 30 columns word-wrapped with minimal
//! raggedness. comfy-table cannot reproduce that wrapping byte for byte.

use oxcd_proto::etcdserverpb::MemberListResponse;
use unicode_width::UnicodeWidthStr;

use super::{EpHashKv, EpHealth, EpStatus, Printer, SnapshotStatus, Streams};
use crate::error::Result;

pub struct TablePrinter;

const MAX_WIDTH: usize = 30;

fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// tablewriter's `WrapString`: split at single spaces, then break lines to
/// minimise the sum of squared slack (words longer than the limit raise it).
pub fn wrap(s: &str, limit: usize) -> Vec<String> {
    let replaced = s.replace('\n', " ");
    let words: Vec<&str> = replaced.split(' ').collect();
    let lim = words.iter().map(|w| width(w)).fold(limit, usize::max) as i64;
    let n = words.len();
    // len[i][j]: width of words i..=j joined by single spaces
    let mut len = vec![vec![0i64; n]; n];
    for i in 0..n {
        len[i][i] = width(words[i]) as i64;
        for j in i + 1..n {
            len[i][j] = len[i][j - 1] + 1 + width(words[j]) as i64;
        }
    }
    const PENALTY: i64 = 100_000;
    let mut brk = vec![0usize; n];
    let mut cost = vec![i64::from(i32::MAX); n];
    for i in (0..n).rev() {
        if len[i][n - 1] <= lim {
            cost[i] = 0;
            brk[i] = n;
            continue;
        }
        for j in i + 1..n {
            let d = lim - len[i][j - 1];
            let mut c = d * d + cost[j];
            if len[i][j - 1] > lim {
                c += PENALTY;
            }
            if c < cost[i] {
                cost[i] = c;
                brk[i] = j;
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        let j = brk[i].max(i + 1);
        lines.push(words[i..j].join(" "));
        i = j;
    }
    lines
}

/// One cell split into display lines plus the column width it needs
/// (`parseDimension`: at least the capped unwrapped width).
fn cell_lines(s: &str) -> (Vec<String>, usize) {
    let raw: Vec<&str> = s.split('\n').collect();
    let max = raw
        .iter()
        .map(|l| width(l))
        .max()
        .unwrap_or(0)
        .min(MAX_WIDTH);
    let mut out = Vec::new();
    let mut w = max;
    for (i, para) in raw.iter().enumerate() {
        if i > 0 {
            out.push(" ".to_string());
        }
        for l in wrap(para, max) {
            w = w.max(width(&l));
            out.push(l);
        }
    }
    (out, w)
}

/// tablewriter's `Title`: `_` and word-joining `.` become spaces, upper case.
fn title(h: &str) -> String {
    let chars: Vec<char> = h.chars().collect();
    let num_or_space = |c: char| c.is_ascii_digit() || c == ' ';
    let mapped: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            '_' => ' ',
            '.' if (i != 0 && !num_or_space(chars[i - 1]))
                || (i + 1 != chars.len() && !num_or_space(chars[i + 1])) =>
            {
                ' '
            }
            c => c,
        })
        .collect();
    let t = mapped.trim();
    if t.is_empty() && !h.is_empty() {
        return " ".to_string();
    }
    t.to_uppercase()
}

/// Renders a complete table.
pub fn render(hdr: &[&str], rows: &[Vec<String>]) -> String {
    let ncol = hdr.len();
    let mut widths = vec![0usize; ncol];
    let mut head: Vec<Vec<String>> = Vec::new();
    for (i, h) in hdr.iter().enumerate() {
        let (lines, w) = cell_lines(h);
        widths[i] = w;
        head.push(lines);
    }
    let mut body: Vec<Vec<Vec<String>>> = Vec::new();
    for r in rows {
        let mut row = Vec::new();
        for (i, c) in r.iter().enumerate().take(ncol) {
            let (lines, w) = cell_lines(c);
            widths[i] = widths[i].max(w);
            row.push(lines);
        }
        body.push(row);
    }
    let line = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s.push('\n');
        s
    };
    let mut out = line.clone();
    let hh = head.iter().map(Vec::len).max().unwrap_or(0);
    for x in 0..hh {
        out.push('|');
        for (y, lines) in head.iter().enumerate() {
            let h = lines.get(x).map(|s| title(s)).unwrap_or_default();
            let gap = widths[y].saturating_sub(width(&h));
            let left = gap / 2;
            out.push(' ');
            out.push_str(&" ".repeat(left));
            out.push_str(&h);
            out.push_str(&" ".repeat(gap - left));
            out.push_str(" |");
        }
        out.push('\n');
    }
    out.push_str(&line);
    for row in &body {
        let rh = row.iter().map(Vec::len).max().unwrap_or(0);
        for x in 0..rh {
            for (y, lines) in row.iter().enumerate().take(ncol) {
                // short cells are filled with two spaces, as tablewriter does
                let c = lines.get(x).map(String::as_str).unwrap_or("  ");
                out.push_str("| ");
                out.push_str(&" ".repeat(widths[y].saturating_sub(width(c))));
                out.push_str(c);
                out.push(' ');
            }
            out.push_str("|\n");
        }
    }
    out.push_str(&line);
    out
}

impl Printer for TablePrinter {
    fn name(&self) -> &'static str {
        "table"
    }
    fn endpoint_status(&self, w: &mut Streams, s: &[EpStatus]) -> Result<()> {
        let (hdr, rows) = super::endpoint_status_rows(s);
        w.print(&render(&hdr, &rows));
        Ok(())
    }
    fn endpoint_health(&self, w: &mut Streams, h: &[EpHealth]) -> Result<()> {
        let (hdr, rows) = super::endpoint_health_rows(h);
        w.print(&render(&hdr, &rows));
        Ok(())
    }
    fn endpoint_hashkv(&self, w: &mut Streams, hs: &[EpHashKv]) -> Result<()> {
        let rows: Vec<Vec<String>> = hs
            .iter()
            .map(|h| vec![h.ep.clone(), h.resp.hash.to_string()])
            .collect();
        w.print(&render(&["endpoint", "hash"], &rows));
        Ok(())
    }
    fn member_list(&self, w: &mut Streams, r: &MemberListResponse) -> Result<()> {
        let (hdr, rows) = super::member_list_rows(r);
        w.print(&render(&hdr, &rows));
        Ok(())
    }
    fn snapshot_status(&self, w: &mut Streams, s: &SnapshotStatus) -> Result<()> {
        let (hdr, row) = super::snapshot_status_row(s);
        w.print(&render(&hdr, &[row]));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn member_list_table_matches_etcdctl() {
        let hdr = [
            "ID",
            "Status",
            "Name",
            "Peer Addrs",
            "Client Addrs",
            "Is Learner",
        ];
        let rows = vec![s(&[
            "8e9e05c52164694d",
            "started",
            "default",
            "http://localhost:2380",
            "http://127.0.0.1:42379",
            "false",
        ])];
        let want = "\
+------------------+---------+---------+-----------------------+------------------------+------------+
|        ID        | STATUS  |  NAME   |      PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |
+------------------+---------+---------+-----------------------+------------------------+------------+
| 8e9e05c52164694d | started | default | http://localhost:2380 | http://127.0.0.1:42379 |      false |
+------------------+---------+---------+-----------------------+------------------------+------------+
";
        assert_eq!(render(&hdr, &rows), want);
    }

    #[test]
    fn long_cells_wrap_at_spaces() {
        let hdr = ["endpoint", "errors"];
        let rows = vec![s(&[
            "127.0.0.1:42379",
            "memberID:10276657743932975437 alarm:NOSPACE ",
        ])];
        let want = "\
+-----------------+--------------------------------+
|    ENDPOINT     |             ERRORS             |
+-----------------+--------------------------------+
| 127.0.0.1:42379 |  memberID:10276657743932975437 |
|                 |                 alarm:NOSPACE  |
+-----------------+--------------------------------+
";
        assert_eq!(render(&hdr, &rows), want);
    }

    #[test]
    fn empty_table_has_header_only() {
        let out = render(&["endpoint", "health"], &[]);
        assert_eq!(out.lines().count(), 4);
    }
}
