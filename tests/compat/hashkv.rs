//! Scenarios: `endpoint hashkv` after a fixed history. The hash is never
//! normalised: oxcd must hash its history exactly as etcd does, so all four
//! combinations print the same numbers.

use super::*;

/// The hash of the history below (put k1, k2, k3; del k2) at revision 5.
const HASH_ALL: &str = "1471606496";
/// The hash of the same history up to revision 2 (only k1 written).
const HASH_REV2: &str = "2827864405";

fn history() -> Vec<Step> {
    vec![
        step(&["put", "k1", "v1"]),
        step(&["put", "k2", "v2"]),
        step(&["put", "k3", "v3"]),
        step(&["del", "k2"]),
    ]
}

#[test]
fn endpoint_hashkv() {
    let mut steps = history();
    steps.extend([
        step(&["endpoint", "hashkv"]).expect_out(&format!("<EP>, {HASH_ALL}\n")),
        step(&["endpoint", "hashkv", "-w", "json"]).expect_out(&format!(
            "[{{\"Endpoint\":\"<EP>\",\"HashKV\":{},\"hash\":{HASH_ALL},\
             \"compact_revision\":-1}}}}]\n",
            json_header(5)
        )),
        step(&["endpoint", "hashkv", "-w", "fields"]).expect_out(&format!(
            "{}\"Endpoint\" : \"<EP>\"\n\"Hash\" : {HASH_ALL}\n\n",
            fields_header(5)
        )),
        step(&["endpoint", "hashkv", "-w", "table"]),
        step(&["endpoint", "hashkv", "-w", "protobuf"])
            .expect("", "Error: protobuf not supported as output format\n", 4),
        step(&["endpoint", "hashkv", "--cluster"]),
        step(&["endpoint", "hashkv", "--rev=2"]).expect_out(&format!("<EP>, {HASH_REV2}\n")),
        step(&["endpoint", "hashkv", "--rev", "5", "-w", "json"]),
        step(&["endpoint", "hashkv", "--rev=99"]).expect(
            "",
            "Failed to get the hash of endpoint <EP> (etcdserver: mvcc: required revision is a future revision)\n\
             Error: etcdserver: mvcc: required revision is a future revision\n",
            1,
        ),
        step(&["compaction", "3"]),
        step(&["endpoint", "hashkv"]),
        step(&["endpoint", "hashkv", "-w", "json"]),
        step(&["endpoint", "hashkv", "--rev=2"]).expect_code(1),
    ]);
    run_scenarios("endpoint_hashkv", vec![scenario("endpoint_hashkv", steps)]);
}
