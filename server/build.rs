//! Records the git revision the server is built from, for `--version`'s
//! `Git SHA:` line (etcd prints its own there). Outside a git checkout
//! (a source tarball, `cargo install` from a registry) it is "unknown".

use std::process::Command;

fn main() {
    let sha = Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=OXCD_GIT_SHA={sha}");
    // a new commit or checkout changes HEAD or the ref it names
    if let Ok(top) = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
    {
        let dir = String::from_utf8_lossy(&top.stdout).trim().to_string();
        if !dir.is_empty() {
            println!("cargo:rerun-if-changed={dir}/HEAD");
            println!("cargo:rerun-if-changed={dir}/refs/heads");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
