//! The checked-in shell completions and man pages must match what the clap
//! tree generates. `UPDATE_GENERATED=1 cargo test --test generated`
//! rewrites them.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file that should exist, with its expected content.
fn expected() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for (shell, file) in [
        ("bash", "completions/oxctl.bash"),
        ("zsh", "completions/_oxctl"),
        ("fish", "completions/oxctl.fish"),
    ] {
        let script = oxctl::command::completion::script(shell).expect("known shell");
        out.push((root().join(file), script));
    }
    let cmd = oxctl::cli();
    man_pages(&cmd, "oxctl", &mut out);
    out
}

/// One page for the root and one per subcommand (`oxctl-endpoint-status.1`).
fn man_pages(cmd: &clap::Command, name: &str, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    // clap wants a static name; leaking a few strings in a test is fine.
    let static_name: &'static str = name.to_string().leak();
    let page = cmd
        .clone()
        .name(static_name)
        .bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .expect("render man page");
    out.push((root().join("man").join(format!("{name}.1")), buf));
    for sub in cmd.get_subcommands() {
        man_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

#[test]
fn generated_files_are_current() {
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for (path, content) in expected() {
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(content.as_slice()) {
            continue;
        }
        if update {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("create dir");
            }
            std::fs::write(&path, &content).expect("write generated file");
        } else {
            stale.push(
                path.strip_prefix(root())
                    .unwrap_or(Path::new("?"))
                    .display()
                    .to_string(),
            );
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run UPDATE_GENERATED=1 cargo test --test generated): {stale:?}"
    );
}
