//! The normalisation rules: the only differences the suite forgives.

use super::*;

/// Normalises one client output. The ONLY rules applied are listed in
/// [`normalise_text`], [`normalise_protobuf`] and [`mask_leases`]; keys,
/// values, revisions, counts, member/cluster IDs and error texts are never
/// touched. `leases` are the lease IDs granted so far in this run.
pub(super) fn normalise(
    out: &common::Output,
    endpoint: &str,
    protobuf: bool,
    leases: &[i64],
) -> Outcome {
    let stdout = if protobuf && out.code == 0 && !out.stdout.is_empty() {
        normalise_protobuf(&out.stdout)
    } else {
        mask_leases(
            &normalise_text(&bytes_to_text(&out.stdout), endpoint),
            leases,
        )
    };
    let stderr_text = bytes_to_text(&out.stderr);
    let mut stderr = String::new();
    let mut zap = String::new();
    for line in stderr_text.split_inclusive('\n') {
        if line.starts_with("{\"level\"") {
            // zap JSON log lines are not part of the stderr comparison: the
            // gRPC retry warnings carry Go pointers and grpc-go's transport
            // error wording. Steps marked `.zap()` compare a summary instead.
            zap.push_str(&zap_summary(line));
        } else {
            stderr.push_str(line);
        }
    }
    // Rule 11 (etcdutl banner): etcdctl 3.5 announces that `snapshot
    // status|restore` moved to etcdutl; oxctl keeps them and says nothing.
    for cmd in ["status", "restore"] {
        let banner = format!("Deprecated: Use `etcdutl snapshot {cmd}` instead.\n\n");
        if let Some(rest) = stderr.strip_prefix(&banner) {
            stderr = rest.to_string();
        }
    }
    Outcome {
        stdout,
        stderr: mask_leases(&normalise_text(&stderr, endpoint), leases),
        zap,
        code: out.code,
    }
}

/// Lease IDs a step's stdout reports as granted: `lease <hex> granted`
/// (simple), `"ID":<dec>,"TTL"` (json) and `"ID" : <dec>` followed by
/// `"TTL"` (fields) of `lease grant` and `lease keep-alive`.
pub(super) fn granted_leases(stdout: &[u8]) -> Vec<i64> {
    let text = String::from_utf8_lossy(stdout);
    let mut found = Vec::new();
    for line in text.lines() {
        let hex = line
            .strip_prefix("lease ")
            .and_then(|r| r.split_once(" granted with TTL("))
            .map(|(id, _)| id);
        if let Some(id) = hex.filter(|h| h.len() == 16) {
            found.extend(i64::from_str_radix(id, 16).ok());
        }
        if let Some((_, rest)) = line.split_once("\"ID\":") {
            if let Some((dec, _)) = rest.split_once(",\"TTL\"") {
                found.extend(dec.parse::<i64>().ok());
            }
        }
    }
    if let Some((_, rest)) = text.split_once("\"ID\" : ") {
        if let Some((dec, _)) = rest.split_once("\n\"TTL\" : ") {
            found.extend(dec.parse::<i64>().ok());
        }
    }
    found
}

/// Rule 10 (lease IDs): etcd and oxcd generate lease IDs from the clock, so
/// every ID granted in this run (see [`granted_leases`]) becomes `<LEASE>`,
/// both as `%016x` hex (simple output, errors) and in decimal (json,
/// fields), when not part of a longer hex or decimal token. Other numbers,
/// including member and cluster IDs, are never touched.
pub(super) fn mask_leases(text: &str, leases: &[i64]) -> String {
    let mut s = text.to_string();
    for id in leases {
        for (form, digit) in [
            (
                format!("{id:016x}"),
                (|c: char| c.is_ascii_hexdigit()) as fn(char) -> bool,
            ),
            (id.to_string(), |c: char| c.is_ascii_digit()),
        ] {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(pos) = rest.find(&form) {
                let before = match pos {
                    0 => out.chars().last(),
                    _ => rest[..pos].chars().last(),
                };
                let after = rest[pos + form.len()..].chars().next();
                out.push_str(&rest[..pos]);
                if before.is_some_and(digit) || after.is_some_and(digit) {
                    out.push_str(&form);
                } else {
                    out.push_str("<LEASE>");
                }
                rest = &rest[pos + form.len()..];
            }
            out.push_str(rest);
            s = out;
        }
    }
    s
}

/// `level msg [environment-variable]` of a zap JSON line, skipping the gRPC
/// retry-interceptor warnings (pointer addresses, grpc-go error wording).
pub(super) fn zap_summary(line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line.trim_end()) {
        Ok(v) => {
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            if field("msg") == "retrying of unary invoker failed" {
                return String::new();
            }
            let mut s = format!("zap level={} msg={:?}", field("level"), field("msg"));
            if let Some(var) = v.get("environment-variable").and_then(|x| x.as_str()) {
                let _ = write!(s, " environment-variable={var:?}");
            }
            s.push('\n');
            s
        }
        Err(_) => format!("unparsable zap line: {line}"),
    }
}

/// Bytes to text; invalid UTF-8 bytes become `⟪xx⟫` so different bytes stay
/// different after conversion.
pub(super) fn bytes_to_text(b: &[u8]) -> String {
    let mut s = String::new();
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(s, "⟪{byte:02x}⟫");
        }
    }
    s
}

/// The text normalisation rules, applied to stdout and stderr.
pub(super) fn normalise_text(text: &str, endpoint: &str) -> String {
    // Rule 1 (endpoint): the server's `127.0.0.1:<port>` is chosen per run.
    let mut s = replace_endpoint(text, endpoint);

    // Rule 2 (durations): health-check latencies vary per run. Only a valid
    // Go `time.Duration.String()` value is replaced, so a wrongly formatted
    // duration still shows up as a mismatch.
    s = mask_after(&s, "took = ", Token::GoDuration, "<DUR>");
    s = mask_after(&s, "\"took\":\"", Token::GoDuration, "<DUR>");
    s = mask_after(&s, "\"Took\" : ", Token::GoDuration, "<DUR>");

    // Rule 3 (raft term): election timing decides the term. A zero (the
    // term-less nested headers of txn responses) is kept and compared.
    s = mask_after(&s, "\"raft_term\":", Token::NonZeroNumber, "<TERM>");
    s = mask_after(&s, "\"RaftTerm\" : ", Token::NonZeroNumber, "<TERM>");
    s = mask_after(&s, "\"raftTerm\":", Token::NonZeroNumber, "<TERM>");

    // Rule 4 (raft index): depends on internal raft entries (conf changes,
    // leader no-ops, cluster-version sets), not on the client's requests.
    s = mask_after(&s, "\"raftIndex\":", Token::Number, "<INDEX>");
    s = mask_after(&s, "\"raftAppliedIndex\":", Token::Number, "<INDEX>");
    s = mask_after(&s, "\"RaftIndex\" : ", Token::Number, "<INDEX>");
    s = mask_after(&s, "\"RaftAppliedIndex\" : ", Token::Number, "<INDEX>");

    // Rule 5 (db size): storage engines differ in file layout.
    s = mask_after(&s, "\"dbSize\":", Token::Number, "<SIZE>");
    s = mask_after(&s, "\"dbSizeInUse\":", Token::Number, "<SIZE>");
    s = mask_after(&s, "\"DBSize\" : ", Token::Number, "<SIZE>");

    // Rule 6 (endpoint status, simple writer): the columns db size (4th),
    // raft term (7th), raft index (8th) and raft applied index (9th), for the
    // same reasons as rules 3-5.
    s = s
        .split_inclusive('\n')
        .map(normalise_status_line)
        .collect::<String>();

    // Rules 7 and 8 (tables of endpoint status / endpoint health).
    normalise_tables(&s)
}

pub(super) fn replace_endpoint(text: &str, endpoint: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(endpoint) {
        let after = &rest[pos + endpoint.len()..];
        out.push_str(&rest[..pos]);
        // Do not touch a longer port that merely starts with ours.
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(endpoint);
        } else {
            out.push_str("<EP>");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Copy)]
pub(super) enum Token {
    Number,
    NonZeroNumber,
    GoDuration,
}

/// Length of a Go `time.Duration.String()` value at the start of `s`
/// (e.g. `3.748913ms`, `850µs`, `1m2.5s`, `0s`), if any.
pub(super) fn go_duration_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut parts = 0;
    loop {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            break;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let frac = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == frac {
                return None;
            }
        }
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| s[i..].starts_with(u))?;
        i += unit.len();
        parts += 1;
    }
    (parts > 0).then_some(i)
}

pub(super) fn token_len(s: &str, token: Token) -> Option<usize> {
    match token {
        Token::Number | Token::NonZeroNumber => {
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            if matches!(token, Token::NonZeroNumber) && s[..n].bytes().all(|c| c == b'0') {
                return None;
            }
            Some(n)
        }
        Token::GoDuration => go_duration_len(s),
    }
}

/// Replaces the token right after each occurrence of `prefix` by
/// `placeholder`, when the token is well formed.
pub(super) fn mask_after(text: &str, prefix: &str, token: Token, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(prefix) {
        let after = &rest[pos + prefix.len()..];
        out.push_str(&rest[..pos + prefix.len()]);
        match token_len(after, token) {
            Some(n) => {
                out.push_str(placeholder);
                rest = &after[n..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

pub(super) fn is_humanized_size(s: &str) -> bool {
    let Some((num, unit)) = s.split_once(' ') else {
        return false;
    };
    let num_ok = match num.split_once('.') {
        Some((i, f)) => {
            !i.is_empty()
                && i.bytes().all(|c| c.is_ascii_digit())
                && f.len() == 1
                && f.bytes().all(|c| c.is_ascii_digit())
        }
        None => !num.is_empty() && num.bytes().all(|c| c.is_ascii_digit()),
    };
    num_ok && ["B", "kB", "MB", "GB", "TB", "PB", "EB"].contains(&unit)
}

pub(super) fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// Rule 6: `<EP>, <id>, <version>, <db size>, <leader>, <learner>, <term>,
/// <index>, <applied index>, <errors>`.
pub(super) fn normalise_status_line(line: &str) -> String {
    if !line.starts_with("<EP>, ") && !line.starts_with("http://<EP>, ") {
        return line.to_string();
    }
    let mut fields: Vec<String> = line.split(", ").map(str::to_string).collect();
    if fields.len() < 10
        || !is_humanized_size(&fields[3])
        || !is_number(&fields[6])
        || !is_number(&fields[7])
        || !is_number(&fields[8])
    {
        return line.to_string();
    }
    fields[3] = "<SIZE>".into();
    fields[6] = "<TERM>".into();
    fields[7] = "<INDEX>".into();
    fields[8] = "<INDEX>".into();
    fields.join(", ")
}

/// Splits a table line (`+--+--+` or `| a | b |`) into its cells.
pub(super) fn table_cells(line: &str) -> Option<(char, Vec<String>)> {
    let sep = match line.chars().next()? {
        '+' => '+',
        '|' => '|',
        _ => return None,
    };
    let body = line.trim_end_matches('\n');
    if !body.ends_with(sep) || body.len() < 2 {
        return None;
    }
    let inner = &body[sep.len_utf8()..body.len() - sep.len_utf8()];
    Some((sep, inner.split(sep).map(str::to_string).collect()))
}

pub(super) fn join_cells(sep: char, cells: &[String]) -> String {
    let mut s = String::new();
    s.push(sep);
    for c in cells {
        s.push_str(c);
        s.push(sep);
    }
    s.push('\n');
    s
}

/// Rules 7 and 8, applied to each block of consecutive table lines.
pub(super) fn normalise_tables(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if table_cells(lines[i]).is_none() {
            out.push_str(lines[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && table_cells(lines[i]).is_some() {
            i += 1;
        }
        out.push_str(&normalise_table(&lines[start..i]));
    }
    out
}

pub(super) fn normalise_table(lines: &[&str]) -> String {
    let parsed: Vec<(char, Vec<String>)> = lines
        .iter()
        .map(|l| table_cells(l).expect("table line checked by the caller"))
        .collect();
    let Some(header) = parsed.iter().find(|(sep, _)| *sep == '|') else {
        return lines.concat();
    };
    let ncols = header.1.len();
    let names: Vec<String> = header.1.iter().map(|c| c.trim().to_string()).collect();
    // Rule 7 (endpoint status table): the DB SIZE / RAFT TERM / RAFT INDEX /
    // RAFT APPLIED INDEX cells get a placeholder, keeping the cell width (so
    // the table geometry is still compared), when the value is well formed.
    let masked_same_width: Vec<(usize, &str)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match n.as_str() {
            "DB SIZE" => Some((i, "<SIZE>")),
            "RAFT TERM" => Some((i, "<TERM>")),
            "RAFT INDEX" | "RAFT APPLIED INDEX" => Some((i, "<INDEX>")),
            _ => None,
        })
        .collect();
    let is_status_table = names.iter().any(|n| n == "RAFT INDEX");
    // Rule 8 (endpoint health table): the TOOK column's width follows the
    // duration's length, so the whole column (border, header and cells)
    // collapses to a fixed form; well-formed durations become <DUR>.
    let took_col = names.iter().position(|n| n == "TOOK");
    let mut out = String::new();
    let mut seen_header = false;
    for (sep, mut cells) in parsed {
        if cells.len() != ncols {
            out.push_str(&join_cells(sep, &cells));
            continue;
        }
        let is_header = sep == '|' && !seen_header;
        if sep == '|' {
            seen_header = true;
        }
        if sep == '|' && !is_header && is_status_table {
            for &(col, placeholder) in &masked_same_width {
                let cell = &cells[col];
                let value = cell.trim();
                let ok = if placeholder == "<SIZE>" {
                    is_humanized_size(value)
                } else {
                    is_number(value)
                };
                let width = cell.chars().count();
                if ok && width >= placeholder.len() + 2 {
                    cells[col] = format!("{placeholder:>w$} ", w = width - 1);
                }
            }
        }
        if let Some(col) = took_col {
            cells[col] = if sep == '+' {
                "-------".to_string()
            } else if is_header {
                "  TOOK ".to_string()
            } else {
                let value = cells[col].trim();
                if go_duration_len(value) == Some(value.len()) {
                    " <DUR> ".to_string()
                } else {
                    format!(" {value} ")
                }
            };
        }
        out.push_str(&join_cells(sep, &cells));
    }
    out
}

pub(super) fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn hex_lines(b: &[u8]) -> String {
    let mut s = String::new();
    for chunk in b.chunks(16) {
        s.push_str(&hex(chunk));
        s.push('\n');
    }
    s
}

/// Rule 9 (protobuf writer): the response starts with field 1, the
/// ResponseHeader (`cluster_id`=1, `member_id`=2, `revision`=3,
/// `raft_term`=4, all varints). The output is rendered as hex, with the
/// header's fields on their own lines and the raft_term value (when non-zero)
/// replaced by `<TERM>`. Everything else is compared byte for byte. If the
/// bytes do not parse this way, the plain hex dump is compared.
pub(super) fn normalise_protobuf(b: &[u8]) -> String {
    let fallback = || format!("protobuf (unparsed header):\n{}", hex_lines(b));
    if b.first() != Some(&0x0a) {
        return fallback();
    }
    let mut pos = 1;
    let Some(len) = read_varint(b, &mut pos) else {
        return fallback();
    };
    let header_start = pos;
    let Some(header_end) = header_start
        .checked_add(len as usize)
        .filter(|&e| e <= b.len())
    else {
        return fallback();
    };
    let mut s = format!("protobuf header field: {}\n", hex(&b[..header_start]));
    let h = &b[..header_end];
    let mut p = header_start;
    while p < header_end {
        let field_start = p;
        let Some(tag) = read_varint(h, &mut p) else {
            return fallback();
        };
        if tag & 7 != 0 {
            return fallback();
        }
        let value_start = p;
        let Some(value) = read_varint(h, &mut p) else {
            return fallback();
        };
        if tag >> 3 == 4 && value != 0 {
            let _ = writeln!(s, "  {} <TERM>", hex(&h[field_start..value_start]));
        } else {
            let _ = writeln!(
                s,
                "  {} {}",
                hex(&h[field_start..value_start]),
                hex(&h[value_start..p])
            );
        }
    }
    s.push_str("protobuf body:\n");
    s.push_str(&hex_lines(&b[header_end..]));
    s
}

/// The normaliser itself (no servers): it masks exactly the listed values.
#[test]
fn normaliser_rules() {
    let ep = "127.0.0.1:4237";
    // Rule 1, but not a longer port that starts with ours.
    assert_eq!(
        normalise_text("127.0.0.1:4237 x 127.0.0.1:42379\n", ep),
        "<EP> x 127.0.0.1:42379\n"
    );
    // Rule 2 accepts only Go durations.
    assert_eq!(
        normalise_text("took = 1m2.5s\ntook = 850µs\ntook = soon\n", ep),
        "took = <DUR>\ntook = <DUR>\ntook = soon\n"
    );
    // Rule 3 keeps zero terms; revisions and IDs are never touched.
    assert_eq!(
        normalise_text(
            "{\"header\":{\"cluster_id\":1,\"member_id\":2,\"revision\":5,\"raft_term\":2}}\n\
             \"Revision\" : 7\n\"RaftTerm\" : 0\n\"RaftTerm\" : 3\n",
            ep
        ),
        "{\"header\":{\"cluster_id\":1,\"member_id\":2,\"revision\":5,\"raft_term\":<TERM>}}\n\
         \"Revision\" : 7\n\"RaftTerm\" : 0\n\"RaftTerm\" : <TERM>\n"
    );
    // Rule 6.
    assert_eq!(
        normalise_text(
            "127.0.0.1:4237, 8e9e05c52164694d, 3.5.1, 20 kB, true, false, 2, 17, 17, \n",
            ep
        ),
        "<EP>, 8e9e05c52164694d, 3.5.1, <SIZE>, true, false, <TERM>, <INDEX>, <INDEX>, \n"
    );
    // A value that merely looks like a status line is left alone.
    assert_eq!(normalise_text("a, b, c\n", ep), "a, b, c\n");
    // Rule 9.
    let pb = [
        0x0a, 0x06, 0x18, 0x05, 0x20, 0x02, 0x08, 0x01, 0x12, 0x01, 0x61,
    ];
    // Rule 10: only the granted lease, in hex and decimal, not longer tokens.
    let leases = granted_leases(b"lease 694da2185ef91805 granted with TTL(100s)\n");
    assert_eq!(leases, vec![0x694da2185ef91805]);
    assert_eq!(
        mask_leases(
            "lease 694da2185ef91805 revoked\n\"ID\":7587899172745451525,\"x\":17587899172745451525 a694da2185ef91805\n",
            &leases
        ),
        "lease <LEASE> revoked\n\"ID\":<LEASE>,\"x\":17587899172745451525 a694da2185ef91805\n"
    );
    assert_eq!(
        granted_leases(
            b"{\"cluster_id\":1,\"ID\":7587899172745451525,\"TTL\":50,\"Error\":\"\"}\n"
        ),
        vec![7587899172745451525]
    );
    assert_eq!(
        granted_leases(b"\"RaftTerm\" : 2\n\"ID\" : 7587899172745451525\n\"TTL\" : 50\n"),
        vec![7587899172745451525]
    );
    assert_eq!(
        normalise_protobuf(&pb),
        "protobuf header field: 0a06\n  18 05\n  20 <TERM>\n  08 01\nprotobuf body:\n120161\n"
    );
}
