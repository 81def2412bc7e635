//! The cluster normalisation rules, applied AFTER the single-node suite's
//! rules 1-10 (`tests/compat/normalise.rs`, reused unchanged: durations, raft
//! term/index, db sizes, the status and health tables).
//!
//! - **C1 (member identity)**: ports are picked per run and member/cluster
//!   IDs follow from them, so for each member `mK`: `127.0.0.1:<client port>`
//!   becomes `<EP-mK>`, `127.0.0.1:<peer port>` `<PEER-mK>`, its ID (`%x` hex
//!   or decimal) `<ID-mK>`; the cluster ID (hex or decimal) becomes
//!   `<CLUSTER-ID>` and the cluster's temp dir (data dirs) `<DIR>`. Only whole
//!   tokens are replaced (not part of a longer number). Member ORDER is not
//!   normalised: the harness makes `ID(m1) < ID(m2) < ID(m3)` in every run
//!   (see `cluster.rs`), so etcd's ID order is always m1, m2, m3.
//! - **C2 (simple endpoint status)**: rule 6 (db size, term, indexes masked)
//!   also for lines starting with `<EP-mK>, `, `http://<EP-mK>, ` or
//!   `https://<EP-mK>, ` (TLS clusters).
//! - **C3 (health order)**: `endpoint health` checks the endpoints
//!   concurrently and lists them in completion order, so its entries are
//!   sorted (lines of the simple writer, array elements of json, blocks of
//!   fields, rows of table).
//! - **C4 (answering member)**: given several endpoints, the client's
//!   balancer picks the member that answers `member list` (at random in
//!   etcdctl), so for steps marked `any_responder` the header's member ID
//!   becomes `<ANY-ID>`. With one endpoint it is compared.
//! - **C5 (protobuf member list)**: the bytes must decode as a
//!   `MemberListResponse` AND re-encode to exactly the same bytes (canonical
//!   encoding, no unknown fields); they are then compared as the decoded
//!   message's pretty `Debug` text under C1, with a non-zero `raft_term`
//!   masked (rule 3). Other protobuf output falls back to rule 9.

use super::cluster::Cluster;
use super::compat_normalise::{self as compat, Token};
use super::{Outcome, Step};
use crate::common;

use oxcd_proto::etcdserverpb::MemberListResponse;
use prost::Message;

/// What C1 replaces, taken from a running cluster.
pub struct Layout {
    /// `(name, id, client port, peer port)`
    pub members: Vec<(&'static str, u64, u16, u16)>,
    pub cluster_id: u64,
    pub dir: String,
}

impl Layout {
    pub fn of(c: &Cluster) -> Layout {
        Layout {
            members: c
                .members
                .iter()
                .map(|m| (m.name, m.id, m.client_port, m.peer_port))
                .collect(),
            cluster_id: c.cluster_id,
            dir: c.dir().to_string_lossy().into_owned(),
        }
    }
}

/// Normalises one client output of `step` (see the module doc).
pub fn normalise_step(out: &common::Output, step: &Step, layout: &Layout) -> Outcome {
    // Rules 1-10 of the single-node suite (rule 1 has no endpoint to match:
    // C1 handles the three endpoints).
    let base = compat::normalise(out, "\u{0}", false, &[]);
    let mut stdout = if step.is_protobuf() && out.code == 0 && !out.stdout.is_empty() {
        render_protobuf(&out.stdout, step)
    } else {
        base.stdout
    };
    stdout = member_identity(&stdout, layout);
    stdout = stdout
        .split_inclusive('\n')
        .map(status_line)
        .collect::<String>();
    if step.is_health() {
        stdout = sort_health(&stdout, step.writer());
    }
    if step.any_responder {
        stdout = mask_responder(&stdout, layout);
    }
    Outcome {
        stdout,
        stderr: member_identity(&base.stderr, layout),
        zap: base.zap,
        code: base.code,
    }
}

/// Replaces every whole-token occurrence of `needle` (whole: the characters
/// around it are not `word` characters).
fn replace_token(text: &str, needle: &str, with: &str, word: fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(needle) {
        let before = match pos {
            0 => out.chars().last(),
            _ => rest[..pos].chars().last(),
        };
        let after = rest[pos + needle.len()..].chars().next();
        out.push_str(&rest[..pos]);
        if before.is_some_and(word) || after.is_some_and(word) {
            out.push_str(needle);
        } else {
            out.push_str(with);
        }
        rest = &rest[pos + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// Rule C1.
pub fn member_identity(text: &str, layout: &Layout) -> String {
    let digit = |c: char| c.is_ascii_digit();
    let hex = |c: char| c.is_ascii_hexdigit();
    let mut s = text.to_string();
    if !layout.dir.is_empty() {
        s = s.replace(&layout.dir, "<DIR>");
    }
    for &(name, id, client, peer) in &layout.members {
        s = replace_token(
            &s,
            &format!("127.0.0.1:{client}"),
            &format!("<EP-{name}>"),
            digit,
        );
        s = replace_token(
            &s,
            &format!("127.0.0.1:{peer}"),
            &format!("<PEER-{name}>"),
            digit,
        );
        s = replace_token(&s, &format!("{id:x}"), &format!("<ID-{name}>"), hex);
        s = replace_token(&s, &id.to_string(), &format!("<ID-{name}>"), digit);
    }
    let cid = layout.cluster_id;
    s = replace_token(&s, &format!("{cid:x}"), "<CLUSTER-ID>", hex);
    replace_token(&s, &cid.to_string(), "<CLUSTER-ID>", digit)
}

/// Rule C2: rule 6 for a member's endpoint.
fn status_line(line: &str) -> String {
    for scheme in ["", "http://", "https://"] {
        let Some(rest) = line
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("<EP-"))
        else {
            continue;
        };
        let Some((name, tail)) = rest.split_once(">, ") else {
            continue;
        };
        let masked = compat::normalise_status_line(&format!("<EP>, {tail}"));
        return format!("{scheme}<EP-{name}>, {}", &masked["<EP>, ".len()..]);
    }
    line.to_string()
}

/// The elements of a one-line JSON array of objects (`[{…},{…}]`), as text.
fn json_array_elements(line: &str) -> Option<Vec<&str>> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let mut elems = Vec::new();
    let (mut depth, mut in_str, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in inner.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                elems.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || in_str {
        return None;
    }
    if !inner.is_empty() {
        elems.push(&inner[start..]);
    }
    Some(elems)
}

/// Rule C3, for the output of `writer`.
pub fn sort_health(text: &str, writer: &str) -> String {
    match writer {
        "json" => text
            .split_inclusive('\n')
            .map(|line| {
                let (body, nl) = match line.strip_suffix('\n') {
                    Some(b) => (b, "\n"),
                    None => (line, ""),
                };
                match json_array_elements(body) {
                    Some(mut elems) => {
                        elems.sort_unstable();
                        format!("[{}]{nl}", elems.join(","))
                    }
                    None => line.to_string(),
                }
            })
            .collect(),
        "fields" => {
            let mut blocks: Vec<&str> = text.split_inclusive("\n\n").collect();
            blocks.sort_unstable();
            blocks.concat()
        }
        "table" => {
            // Rows are the `|` lines after the header row.
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let Some(header) = lines.iter().position(|l| l.starts_with('|')) else {
                return text.to_string();
            };
            let mut rows: Vec<&str> = lines[header + 1..]
                .iter()
                .copied()
                .filter(|l| l.starts_with('|'))
                .collect();
            rows.sort_unstable();
            let mut rows = rows.into_iter();
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if i > header && l.starts_with('|') {
                        rows.next().unwrap_or(l)
                    } else {
                        l
                    }
                })
                .collect()
        }
        _ => {
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            lines.sort_unstable();
            lines.concat()
        }
    }
}

/// Rule C4.
fn mask_responder(text: &str, layout: &Layout) -> String {
    let mut s = text.to_string();
    for &(name, ..) in &layout.members {
        for prefix in ["\"member_id\":", "\"MemberID\" : ", "member_id: "] {
            s = s.replace(
                &format!("{prefix}<ID-{name}>"),
                &format!("{prefix}<ANY-ID>"),
            );
        }
    }
    s
}

/// Rule C5 (rule 9 for anything but a member list).
fn render_protobuf(bytes: &[u8], step: &Step) -> String {
    if !step.args.iter().any(|a| a == "member") {
        return compat::normalise_protobuf(bytes);
    }
    match MemberListResponse::decode(bytes) {
        Ok(msg) => {
            let text = compat::mask_after(
                &format!("{msg:#?}\n"),
                "raft_term: ",
                Token::NonZeroNumber,
                "<TERM>",
            );
            if msg.encode_to_vec() == bytes {
                text
            } else {
                format!(
                    "protobuf NOT in canonical encoding:\n{}decoded as:\n{text}",
                    compat::hex_lines(bytes)
                )
            }
        }
        Err(e) => format!(
            "protobuf that is not a MemberListResponse ({e}):\n{}",
            compat::hex_lines(bytes)
        ),
    }
}

/// The cluster rules themselves (no servers).
#[test]
fn cluster_normaliser_rules() {
    let layout = Layout {
        members: vec![
            ("m1", 0x9ee84a03018fe0da, 40001, 40011),
            ("m2", 0xc143ccf5034701f6, 40002, 40012),
        ],
        cluster_id: 691680973887316180,
        dir: "/tmp/x".into(),
    };
    // C1: whole tokens only.
    assert_eq!(
        member_identity(
            "127.0.0.1:40001 127.0.0.1:400011 http://127.0.0.1:40012 9ee84a03018fe0da \
             a9ee84a03018fe0da 11450483429361049818 691680973887316180 /tmp/x/m1.etcd\n",
            &layout
        ),
        "<EP-m1> 127.0.0.1:400011 http://<PEER-m2> <ID-m1> a9ee84a03018fe0da <ID-m1> \
         <CLUSTER-ID> <DIR>/m1.etcd\n"
    );
    // C2.
    assert_eq!(
        status_line("http://<EP-m2>, <ID-m2>, 3.5.1, 20 kB, false, false, 2, 8, 8, \n"),
        "http://<EP-m2>, <ID-m2>, 3.5.1, <SIZE>, false, false, <TERM>, <INDEX>, <INDEX>, \n"
    );
    assert_eq!(
        status_line("https://<EP-m1>, <ID-m1>, 3.5.1, 25 kB, true, false, 3, 9, 9, \n"),
        "https://<EP-m1>, <ID-m1>, 3.5.1, <SIZE>, true, false, <TERM>, <INDEX>, <INDEX>, \n"
    );
    // C1 with the https scheme (TLS clusters).
    assert_eq!(
        member_identity(
            "https://127.0.0.1:40001, https://127.0.0.1:40011\n",
            &layout
        ),
        "https://<EP-m1>, https://<PEER-m1>\n"
    );
    // C3.
    assert_eq!(
        sort_health("[{\"endpoint\":\"b\"},{\"endpoint\":\"a,}\"}]\n", "json"),
        "[{\"endpoint\":\"a,}\"},{\"endpoint\":\"b\"}]\n"
    );
    assert_eq!(sort_health("b\na\n", "simple"), "a\nb\n");
    assert_eq!(
        sort_health("\"E\" : b\n\n\"E\" : a\n\n", "fields"),
        "\"E\" : a\n\n\"E\" : b\n\n"
    );
    assert_eq!(
        sort_health("+-+\n|H|\n+-+\n|b|\n|a|\n+-+\n", "table"),
        "+-+\n|H|\n+-+\n|a|\n|b|\n+-+\n"
    );
    // C4.
    assert_eq!(
        mask_responder("{\"member_id\":<ID-m2>,\"ID\":<ID-m1>}", &layout),
        "{\"member_id\":<ANY-ID>,\"ID\":<ID-m1>}"
    );
    // etcd's member ID derivation, as seen from a real etcd 3.5.1 cluster.
    assert_eq!(
        etcd_format::member::member_id(&["http://127.0.0.1:23801".into()], "T"),
        0x9ee84a03018fe0da
    );
}
