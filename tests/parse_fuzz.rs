//! The argument parser under random command lines: words drawn from the
//! real command tree (every subcommand and flag name) mixed with edge-case
//! values (empty, `--`, `=`, huge numbers, NUL, non-ASCII, 10 KiB words).
//! Resolving the subcommand and parsing its flags must never panic; a
//! refusal is a message. Only the parser runs: nothing dials or writes.

use oxctl::{cli, resolve};
use testkit::rng::Rng;

/// Every subcommand name and flag spelling in the tree.
fn words(cmd: &clap::Command, out: &mut Vec<String>) {
    out.push(cmd.get_name().to_string());
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            out.push(format!("--{l}"));
            out.push(format!("--{l}="));
            out.push(format!("--{l}=1"));
        }
        if let Some(s) = a.get_short() {
            out.push(format!("-{s}"));
        }
    }
    for sub in cmd.get_subcommands() {
        words(sub, out);
    }
}

#[test]
fn random_command_lines_never_panic() {
    let root = cli::tree();
    let mut vocab = Vec::new();
    words(&root, &mut vocab);
    let odd: Vec<String> = [
        "",
        "-",
        "--",
        "=",
        "-=",
        "--=",
        "x=y",
        "1s",
        "-1",
        "0x10",
        "1e9",
        "99999999999999999999",
        "-9223372036854775809",
        "\u{0}",
        "ü",
        "%",
        "%zz",
        "\\xff",
        "--prefix=true=false",
        "-wjson",
        "--endpoints=",
        "--endpoints=,,",
        "http://[::1",
        "127.0.0.1:99999",
        "' '",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once("y".repeat(10 * 1024)))
    .collect();
    let mut rng = Rng::new(0x5eed_c0de_a59b);
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..1500 {
        let n = rng.below(8);
        let argv: Vec<String> = (0..n)
            .map(|_| {
                if rng.next_u64() % 3 == 0 {
                    odd[rng.below(odd.len())].clone()
                } else {
                    vocab[rng.below(vocab.len())].clone()
                }
            })
            .collect();
        let Ok(r) = resolve::resolve(&root, &argv) else {
            refused += 1;
            continue;
        };
        let path: Vec<&str> = r.path.iter().map(String::as_str).collect();
        match resolve::parse(&root, &path, &r.args) {
            Ok(_) => parsed += 1,
            Err(m) => {
                assert!(!m.is_empty(), "an empty refusal for {argv:?}");
                refused += 1;
            }
        }
    }
    assert!(
        parsed > 0 && refused > 0,
        "parsed {parsed}, refused {refused}"
    );
}
