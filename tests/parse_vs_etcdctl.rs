//! Command lines that fail or stop before any request — help, usage and
//! flag errors, unknown commands, flags around command words — run through
//! real etcdctl 3.5.1 and oxctl; stdout, stderr and exit code must be the
//! same bytes. No server: the endpoint is a closed port.
//!
//! The one difference allowed: etcdctl marks `snapshot status` and
//! `snapshot restore` `[deprecated]` in its command list (it moved them to
//! etcdutl); oxctl still does both, so it does not.
//!
//! Run: `cargo build --workspace --bins && cargo test --test parse_vs_etcdctl`.

use testkit::bins;

/// Each line is split on spaces into the arguments.
const LINES: &[&str] = &[
    "--help",
    "-h",
    "--help get",
    "-h member list",
    "member --help list",
    "member -h",
    "lease -h grant",
    "--endpoints x --help memb",
    "-w json --help",
    "-w fields help",
    "--write-out=json --debug help member",
    "--dial-timeout=1s help lease",
    "help",
    "help get",
    "help member",
    "help member list",
    "help nope",
    "help -h",
    "help --bogus",
    "get --help",
    "get -h foo",
    "member list --help",
    "snapshot -h",
    "lease grant --help",
    "txn -h",
    "alarm list -h",
    "endpoint status --help",
    "defrag -h",
    "move-leader -h",
    "compaction -h",
    "version --help",
    "--version",
    "--version get",
    "bogus",
    "member bogus",
    "memb bogus --x",
    "comp",
    "ge --bogus x",
    "get --bogus=1",
    "get -x",
    "get --dial-timeout",
    "get --dial-timeout=abc foo",
    "get --hex=maybe foo",
    "get --limit x foo",
    "put --lease",
    "watch --rev",
    "member list --bogus=1",
    "--endpoints",
    "-w",
    "check",
    "user",
    // Go's %#q of help topics, and byte-wise lengths and distances
    "help a`b",
    "help x\u{1}",
    "help \u{feff}z",
    "ge€",
    "gett",
];

fn normalise(s: &[u8]) -> String {
    String::from_utf8_lossy(s).replace("[deprecated] ", "")
}

#[test]
fn parse_only_lines_match_etcdctl() {
    if !bins::etcd_available("parse_only_lines_match_etcdctl") {
        return;
    }
    let closed = format!("127.0.0.1:{}", testkit::free_port());
    let mut differ = Vec::new();
    for line in LINES {
        let mut args: Vec<&str> = vec!["--endpoints", &closed, "--dial-timeout", "300ms"];
        // lines that are about the global flags themselves run without these
        if line.contains("--endpoints") || line.contains("-w") || line.contains("dial-timeout") {
            args.clear();
        }
        args.extend(line.split(' '));
        let e = testkit::run(&bins::etcdctl(), &args, None, &[]);
        let o = testkit::run(&bins::oxctl(), &args, None, &[]);
        let (eo, ee) = (normalise(&e.stdout), normalise(&e.stderr));
        let (oo, oe) = (normalise(&o.stdout), normalise(&o.stderr));
        if eo != oo || ee != oe || e.code != o.code {
            differ.push(format!(
                "`{line}`:\n--- etcdctl (exit {:?})\n{eo}{ee}\n--- oxctl (exit {:?})\n{oo}{oe}",
                e.code, o.code
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}
