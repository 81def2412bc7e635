//! Scenarios: endpoint, lease, alarm, move-leader and snapshot commands,
//! unreachable endpoints, CLI and environment errors.

use super::*;

#[test]
fn endpoint_status() {
    run_scenarios(
        "endpoint_status",
        vec![scenario(
            "endpoint_status",
            vec![
                step(&["put", "a", "1"]),
                // #29
                step(&["endpoint", "status"])
                    .expect_out("<EP>, 8e9e05c52164694d, 3.5.1, <SIZE>, true, false, <TERM>, <INDEX>, <INDEX>, \n"),
                step(&["endpoint", "status", "-w", "json"]).expect_out(
                    "[{\"Endpoint\":\"<EP>\",\"Status\":{\"header\":{\"cluster_id\":14841639068965178418,\
                     \"member_id\":10276657743932975437,\"revision\":2,\"raft_term\":<TERM>},\
                     \"version\":\"3.5.1\",\"dbSize\":<SIZE>,\"leader\":10276657743932975437,\
                     \"raftIndex\":<INDEX>,\"raftTerm\":<TERM>,\"raftAppliedIndex\":<INDEX>,\
                     \"dbSizeInUse\":<SIZE>}}]\n",
                ),
                step(&["endpoint", "status", "-w", "fields"]).expect_out(&format!(
                    "{}\"Version\" : \"3.5.1\"\n\"DBSize\" : <SIZE>\n\
                     \"Leader\" : 10276657743932975437\n\"IsLearner\" : false\n\
                     \"RaftIndex\" : <INDEX>\n\"RaftTerm\" : <TERM>\n\"RaftAppliedIndex\" : <INDEX>\n\
                     \"Errors\" : []\n\"Endpoint\" : \"<EP>\"\n\n",
                    fields_header(2)
                )),
                step(&["endpoint", "status", "-w", "table"]),
                step(&["endpoint", "status", "-w", "protobuf"])
                    .expect("", "Error: protobuf not supported as output format\n", 4),
                step(&["endpoint", "status", "--cluster"]),
                step(&["endpoint", "status", "--cluster", "-w", "table"]),
            ],
        )],
    );
}

#[test]
fn endpoint_health() {
    run_scenarios(
        "endpoint_health",
        vec![scenario(
            "endpoint_health",
            vec![
                // #30 (stdout in 3.5)
                step(&["endpoint", "health"])
                    .expect_out("<EP> is healthy: successfully committed proposal: took = <DUR>\n"),
                step(&["endpoint", "health", "-w", "json"])
                    .expect_out("[{\"endpoint\":\"<EP>\",\"health\":true,\"took\":\"<DUR>\"}]\n"),
                step(&["endpoint", "health", "-w", "table"]).expect_out(
                    "+-----------------+--------+-------+-------+\n\
                     |    ENDPOINT     | HEALTH |  TOOK | ERROR |\n\
                     +-----------------+--------+-------+-------+\n\
                     | <EP> |   true | <DUR> |       |\n\
                     +-----------------+--------+-------+-------+\n",
                ),
                step(&["endpoint", "health", "-w", "fields"]).expect_out(
                    "\"Endpoint\" : \"<EP>\"\n\"Health\" : true\n\"Took\" : <DUR>\n\"Error\" : \n\n",
                ),
                step(&["endpoint", "health", "-w", "protobuf"])
                    .expect("", "Error: protobuf not supported as output format\n", 4),
                step(&["endpoint", "health", "--cluster"]),
            ],
        )],
    );
}

#[test]
fn unreachable_endpoint() {
    // No server is needed, but the scenario still gets a fresh one: the
    // endpoints are spelled out (`raw`).
    run_scenarios(
        "unreachable_endpoint",
        vec![scenario(
            "unreachable_endpoint",
            vec![
                // #45 (after the 5s command timeout)
                step(&["--endpoints=127.0.0.1:1", "--dial-timeout=1s", "get", "foo"])
                    .raw()
                    .expect("", "Error: context deadline exceeded\n", 1),
                // One reachable and one unreachable endpoint: the healthy
                // line goes to stdout, the unhealthy one to stderr.
                step(&[
                    "--endpoints={EP},127.0.0.1:1",
                    "--command-timeout=2s",
                    "endpoint",
                    "status",
                ])
                .raw()
                .expect_code(1),
                step(&[
                    "--endpoints={EP},127.0.0.1:1",
                    "--command-timeout=2s",
                    "endpoint",
                    "health",
                ])
                .raw()
                .expect_code(1),
                // #31
                step(&["--endpoints=127.0.0.1:1", "endpoint", "health"])
                    .raw()
                    .expect(
                        "",
                        "127.0.0.1:1 is unhealthy: failed to commit proposal: context deadline \
                     exceeded\nError: unhealthy cluster\n",
                        1,
                    ),
            ],
        )],
    );
}

#[test]
fn cli_errors() {
    run_scenarios(
        "cli_errors",
        vec![scenario(
            "cli_errors",
            vec![
                // #46. stdout holds the cobra usage text of `get`; oxctl's
                // usage text may legitimately differ, so only stderr and the
                // exit code are compared.
                step(&["get", "--bogus", "foo"])
                    .skip_stdout("usage text on stdout may differ")
                    .expect_err("Error: unknown flag: --bogus\n\nError: unknown flag: --bogus\n", 1),
                step(&["get"]).expect(
                    "",
                    "Error: get command needs one argument as key and an optional argument as \
                     range_end\n",
                    128,
                ),
                step(&["get", "foo", "-w", "bogus"]).expect("", "Error: unsupported output format\n", 4),
                step(&["get", "--order=UP", "foo"]).expect("", "Error: bad sort order UP\n", 4),
                step(&["get", "--prefix", "--from-key", "foo"]).expect(
                    "",
                    "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one\n",
                    128,
                ),
                step(&["put", "k", "v", "--lease=zz"]).expect(
                    "",
                    "Error: bad lease ID (strconv.ParseInt: parsing \"zz\": invalid syntax), \
                     expecting ID in Hex\n",
                    128,
                ),
                step(&["compaction", "abc"]).expect(
                    "",
                    "Error: strconv.ParseInt: parsing \"abc\": invalid syntax\n",
                    1,
                ),
                step(&["del", "a", "b", "c"]).expect(
                    "",
                    "Error: del command needs one argument as key and an optional argument as \
                     range_end\n",
                    128,
                ),
                // stdout holds the usage text (see above).
                step(&["--dial-timeout=abc", "get", "foo"])
                    .skip_stdout("usage text on stdout may differ")
                    .expect_err(
                        "Error: invalid argument \"abc\" for \"--dial-timeout\" flag: time: invalid \
                         duration \"abc\"\n\nError: invalid argument \"abc\" for \"--dial-timeout\" \
                         flag: time: invalid duration \"abc\"\n",
                        1,
                    ),
                step(&["bogus"]).expect(
                    "",
                    "Error: unknown command \"bogus\" for \"etcdctl\"\nRun 'etcdctl --help' for \
                     usage.\nError: unknown command \"bogus\" for \"etcdctl\"\n",
                    1,
                ),
                // Nothing above may have written anything.
                step(&["get", "", "--prefix", "-w", "json"]).expect_out(&format!("{}}}\n", json_header(1))),
            ],
        )],
    );
}

#[test]
fn env_vars() {
    run_scenarios(
        "env_vars",
        vec![scenario(
            "env_vars",
            vec![
                step(&["put", "k", "v"])
                    .raw()
                    .env("ETCDCTL_ENDPOINTS", EP)
                    .expect_out("OK\n"),
                // #43: flag and env both set → fatal zap line, exit 1.
                step(&["--endpoints", EP, "get", "k"])
                    .raw()
                    .env("ETCDCTL_ENDPOINTS", EP)
                    .zap()
                    .expect("", "", 1),
                // Unknown ETCDCTL_* variable: a warning, the command works.
                step(&["get", "k"])
                    .raw()
                    .env("ETCDCTL_ENDPOINTS", EP)
                    .env("ETCDCTL_BOGUS", "1")
                    .zap()
                    .expect("k\nv\n", "", 0),
                step(&["get", "k"])
                    .env("ETCDCTL_BOGUS", "1")
                    .zap()
                    .expect("k\nv\n", "", 0),
                step(&["get", "k"]).env("ETCDCTL_WRITE_OUT", "json").zap(),
                step(&["get", "k"])
                    .env("ETCDCTL_HEX", "true")
                    .zap()
                    .expect_out("\\x6b\n\\x76\n"),
                // Invalid values are silently ignored.
                step(&["get", "k"])
                    .env("ETCDCTL_DIAL_TIMEOUT", "abc")
                    .zap()
                    .expect_out("k\nv\n"),
                // Not an inherited flag of `get`: only a warning, not applied.
                step(&["get", "k"])
                    .env("ETCDCTL_PREFIX", "true")
                    .zap()
                    .expect_out("k\nv\n"),
                // Observed: an empty ETCDCTL_ENDPOINTS still conflicts with
                // the flag (fatal, exit 1), although the doc says empty
                // values are ignored.
                step(&["get", "k"])
                    .env("ETCDCTL_ENDPOINTS", "")
                    .zap()
                    .expect("", "", 1),
                step(&["get", "k"])
                    .env("ETCDCTL_API", "4")
                    .zap()
                    .expect_code(1),
            ],
        )],
    );
}

#[test]
fn lease() {
    const NOT_FOUND: &str =
        "Error: failed to revoke lease (etcdserver: requested lease not found)\n";
    run_scenarios(
        "lease",
        vec![scenario(
            "lease",
            vec![
                // #20
                step(&["lease", "grant", "100"])
                    .expect_out("lease <LEASE> granted with TTL(100s)\n"),
                step(&["put", "lk", "v", "--lease", LEASE]).expect_out("OK\n"),
                // One key only: etcd lists a lease's keys in Go map order.
                step(&["put", "lk", "v2", &format!("--lease={LEASE}")]).expect_out("OK\n"),
                // Renewing right before each timetolive keeps `remaining`
                // at TTL-1 (it is truncated to whole seconds).
                step(&["lease", "keep-alive", "--once", LEASE])
                    .expect_out("lease <LEASE> keepalived with TTL(100)\n"),
                // #21
                step(&["lease", "timetolive", LEASE, "--keys"]).expect_out(
                    "lease <LEASE> granted with TTL(100s), remaining(99s), attached keys([lk])\n",
                ),
                step(&["lease", "keep-alive", "--once", LEASE, "-w", "json"]),
                step(&["lease", "timetolive", LEASE, "-w", "json"]),
                step(&["lease", "keep-alive", "--once", LEASE, "-w", "fields"]),
                step(&["lease", "timetolive", LEASE, "--keys", "-w", "fields"]),
                step(&["lease", "keep-alive", "--once", LEASE, "-w", "protobuf"]),
                step(&["lease", "timetolive", LEASE, "--keys", "-w", "json"]),
                step(&["lease", "timetolive", LEASE, "-w", "protobuf"]),
                step(&["lease", "timetolive", LEASE, "-w", "table"]).expect(
                    "",
                    "Error: table not supported as output format\n",
                    4,
                ),
                step(&["lease", "keep-alive", "--once", LEASE, "-w", "table"]).expect(
                    "",
                    "Error: table not supported as output format\n",
                    4,
                ),
                step(&["lease", "list"]).expect_out("found 1 leases\n<LEASE>\n"),
                step(&["lease", "list", "-w", "json"]),
                step(&["lease", "list", "-w", "fields"]),
                step(&["lease", "list", "-w", "protobuf"]),
                step(&["lease", "list", "-w", "table"]).expect_code(4),
                step(&["get", "lk", "-w", "json"]),
                // #22
                step(&["lease", "revoke", LEASE]).expect_out("lease <LEASE> revoked\n"),
                step(&["lease", "timetolive", LEASE]).expect_out("lease <LEASE> already expired\n"),
                step(&["lease", "revoke", LEASE]).expect("", NOT_FOUND, 1),
                step(&["lease", "timetolive", LEASE, "--keys", "-w", "json"]),
                step(&["get", "", "--prefix"]).expect_out(""),
                step(&["lease", "keep-alive", "--once", LEASE]).expect(
                    "",
                    "Error: etcdserver: requested lease not found\n",
                    2,
                ),
                // The stream ends at the first answer for a revoked lease.
                step(&["lease", "keep-alive", LEASE])
                    .expect_out("lease <LEASE> expired or revoked.\n"),
                step(&["lease", "keep-alive", LEASE, "-w", "json"]).expect_out(""),
                step(&["lease", "list"]).expect_out("found 0 leases\n"),
                step(&["lease", "list", "-w", "json"]),
                // Other writers of grant and revoke.
                step(&["lease", "grant", "50", "-w", "json"]),
                step(&["lease", "revoke", LEASE, "-w", "json"]),
                step(&["lease", "grant", "50", "-w", "fields"]),
                step(&["lease", "revoke", LEASE, "-w", "fields"]),
                step(&["lease", "grant", "50"]),
                // Refused after the revoke ran (exit 4).
                step(&["lease", "revoke", LEASE, "-w", "protobuf"]).expect_code(4),
                step(&["lease", "revoke", LEASE, "-w", "table"]).expect("", NOT_FOUND, 1),
                // Arguments.
                step(&["lease", "grant"]).expect(
                    "",
                    "Error: lease grant command needs TTL argument\n",
                    128,
                ),
                step(&["lease", "grant", "abc"]).expect(
                    "",
                    "Error: bad TTL (strconv.ParseInt: parsing \"abc\": invalid syntax)\n",
                    128,
                ),
                step(&["lease", "revoke", "zz"]).expect(
                    "",
                    "Error: bad lease ID arg (strconv.ParseInt: parsing \"zz\": invalid syntax), \
                     expecting ID in Hex\n",
                    128,
                ),
                step(&["lease", "revoke"]).expect_code(128),
                step(&["lease", "timetolive"]).expect_code(128),
                step(&["lease", "timetolive", "zz", "-w", "yaml"]).expect(
                    "",
                    "Error: unsupported output format\n",
                    4,
                ),
                step(&["lease", "keep-alive", "1", "2"]).expect_code(128),
                step(&["lease", "timetolive", "1234"])
                    .expect_out("lease 0000000000001234 already expired\n"),
                step(&["lease", "keep-alive", "--once", "1234"]).expect_code(2),
                step(&["lease", "list", "-w", "json"]),
                // Leases granted without a printed ID come last: later
                // outputs could not mask them.
                step(&["lease", "grant", "50", "-w", "protobuf"]),
                step(&["lease", "grant", "50", "-w", "table"]).expect(
                    "",
                    "Error: table not supported as output format\n",
                    4,
                ),
            ],
        )],
    );
}

/// `--quota-backend-bytes=1`: the first write raises NOSPACE on etcd and
/// oxcd alike, so the whole scenario is deterministic. (`alarm disarm -w
/// fields` is a Go nil-pointer panic with a stack trace on stderr; it is
/// covered by `tests/oxctl_alarm.rs`.)
#[test]
fn alarm() {
    const NOSPACE: &str = "memberID:10276657743932975437 alarm:NOSPACE \n";
    const EXCEEDED: &str = "Error: etcdserver: mvcc: database space exceeded\n";
    run_scenarios(
        "alarm",
        vec![Scenario {
            name: "alarm",
            server_flags: vec!["--quota-backend-bytes=1"],
            steps: vec![
                step(&["alarm", "list"]).expect_out(""),
                step(&["alarm", "list", "-w", "json"])
                    .expect_out(&format!("{}}}\n", json_header(1))),
                step(&["alarm", "list", "-w", "fields"]).expect_out(&fields_header(1)),
                step(&["alarm", "disarm"]).expect_out(""),
                // clientv3 builds the disarm response itself, without header.
                step(&["alarm", "disarm", "-w", "json"]).expect_out("{}\n"),
                step(&["alarm", "disarm", "-w", "protobuf"]).expect_out(""),
                step(&["put", "a", "b"]).expect("", EXCEEDED, 1),
                // #32
                step(&["alarm", "list"]).expect_out(NOSPACE),
                step(&["alarm", "list", "-w", "json"]),
                step(&["alarm", "list", "-w", "fields"]),
                step(&["alarm", "list", "-w", "protobuf"]),
                step(&["alarm", "list", "-w", "table"]).expect(
                    "",
                    "Error: table not supported as output format\n",
                    4,
                ),
                step(&["endpoint", "health"]).expect(
                    "",
                    "<EP> is unhealthy: failed to commit proposal: Active Alarm(s): NOSPACE \n\
                     Error: unhealthy cluster\n",
                    1,
                ),
                step(&["endpoint", "status"]),
                step(&["lease", "grant", "10"]).expect(
                    "",
                    "Error: failed to grant lease (etcdserver: mvcc: database space exceeded)\n",
                    1,
                ),
                step(&["alarm", "disarm"]).expect_out(NOSPACE),
                step(&["alarm", "list"]).expect_out(""),
                step(&["put", "a", "b"]).expect("", EXCEEDED, 1),
                step(&["alarm", "disarm", "-w", "json"])
                    .expect_out("{\"alarms\":[{\"memberID\":10276657743932975437,\"alarm\":1}]}\n"),
                step(&["put", "a", "b"]).expect("", EXCEEDED, 1),
                step(&["alarm", "disarm", "-w", "protobuf"]),
                step(&["put", "a", "b"]).expect("", EXCEEDED, 1),
                // Refused after the alarms were disarmed.
                step(&["alarm", "disarm", "-w", "table"]).expect_code(4),
                step(&["alarm", "list"]).expect_out(""),
                step(&["alarm", "list", "x"]).expect(
                    "",
                    "Error: alarm list command accepts no arguments\n",
                    128,
                ),
                step(&["alarm", "disarm", "x"]).expect(
                    "",
                    "Error: alarm disarm command accepts no arguments\n",
                    128,
                ),
                step(&["get", "", "--prefix", "-w", "json"])
                    .expect_out(&format!("{}}}\n", json_header(1))),
            ],
        }],
    );
}

/// `move-leader` to the (only) member itself. Not compared here: `-w json`
/// and `-w protobuf` print the MoveLeader response, which etcd sends
/// without a header but oxcd with one.
#[test]
fn move_leader() {
    const SELF: &str = "8e9e05c52164694d";
    const MOVED: &str = "Leadership transferred from 8e9e05c52164694d to 8e9e05c52164694d\n";
    run_scenarios(
        "move_leader",
        vec![scenario(
            "move_leader",
            vec![
                step(&["move-leader", SELF]).expect_out(MOVED),
                step(&["move-leader", SELF, "-w", "fields"]).expect(
                    "",
                    "Error: fields not supported as output format\n",
                    4,
                ),
                step(&["move-leader", SELF, "-w", "table"]).expect(
                    "",
                    "Error: table not supported as output format\n",
                    4,
                ),
                step(&["--endpoints={EP},{EP}", "move-leader", SELF])
                    .raw()
                    .expect_out(MOVED),
                step(&["move-leader", "12345"]).expect(
                    "",
                    "Error: etcdserver: bad leader transferee\n",
                    1,
                ),
                step(&["move-leader"]).expect(
                    "",
                    "Error: move-leader command needs 1 argument\n",
                    128,
                ),
                step(&["move-leader", "zz"]).expect(
                    "",
                    "Error: strconv.ParseUint: parsing \"zz\": invalid syntax\n",
                    128,
                ),
                step(&["move-leader", SELF, "-w", "yaml"]).expect(
                    "",
                    "Error: unsupported output format\n",
                    4,
                ),
                // The first endpoint fails: no other endpoint is tried.
                step(&[
                    "--endpoints=127.0.0.1:1,{EP}",
                    "--command-timeout=2s",
                    "move-leader",
                    SELF,
                ])
                .raw()
                .expect("", "Error: context deadline exceeded\n", 1),
                // etcdctl re-reads the environment for every endpoint, so a
                // variable it applied conflicts with itself the second time.
                step(&["move-leader", SELF])
                    .raw()
                    .env("ETCDCTL_ENDPOINTS", EP)
                    .zap()
                    .expect("", "", 1),
                step(&["move-leader", SELF])
                    .env("ETCDCTL_BOGUS", "1")
                    .zap()
                    .expect_out(MOVED),
            ],
        )],
    );
}

#[test]
fn snapshot() {
    // The same paths in every combination: `snapshot save` prints its path.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("compat.db");
    let file = file.to_str().expect("UTF-8 temp path");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/etcd-format/tests/fixtures/snapshot.db"
    );
    let status = |w: &str| step(&["snapshot", "status", fixture, "-w", w]);
    run_scenarios(
        "snapshot",
        vec![scenario(
            "snapshot",
            vec![
                step(&["put", "a", "1"]),
                step(&["snapshot", "save", file])
                    .zap()
                    .expect_out(&format!("Snapshot saved at {file}\n")),
                step(&["snapshot", "save"]).expect(
                    "",
                    "Error: snapshot save expects one argument\n",
                    128,
                ),
                // several endpoints: etcdctl 3.5 refuses them, oxctl picks
                // one (tests/snapshot_failures.rs)
                step(&["snapshot", "save", "/nonexistent/dir/snap.db"]).expect(
                    "",
                    "Error: could not open /nonexistent/dir/snap.db.part (open \
                     /nonexistent/dir/snap.db.part: no such file or directory)\n",
                    5,
                ),
                // §3.8, on a snapshot saved by real etcd (the fixture).
                status("simple").expect_out("ae7c0375, 68, 78, 53 kB\n"),
                status("json").expect_out(
                    "{\"hash\":2927362933,\"revision\":68,\"totalKey\":78,\"totalSize\":53248}\n",
                ),
                status("fields").expect_out(
                    "\"Hash\" : 2927362933\n\"Revision\" : 68\n\"Keys\" : 78\n\"Size\" : 53248\n",
                ),
                status("table"),
                status("protobuf").expect(
                    "",
                    "Error: protobuf not supported as output format\n",
                    4,
                ),
                status("yaml").expect_code(4),
                step(&["snapshot", "status"]).expect_code(128),
                step(&["snapshot", "status", "/nonexistent/snap.db"]).expect(
                    "",
                    "Error: stat /nonexistent/snap.db: no such file or directory\n",
                    1,
                ),
            ],
        )],
    );
}
