//! `--help` and `--version` in etcd's shape: the usage lines, then each
//! flag as `--flag 'default'` over its description; the version as etcd's
//! four lines (scripts read `etcd Version:`), then oxcd's own.

/// etcd's help: the usage lines (etcd writes them to stderr), then every
/// flag with its default (to stdout).
pub fn usage() -> &'static str {
    "Usage:\n\n  oxcd [flags]\n    Start an oxcd server (the etcd v3 API).\n\n  oxcd --version\n    Show the version of oxcd.\n\n  oxcd -h | --help\n    Show the help information about oxcd.\n\n  oxcd --config-file\n    Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.\n\n\n"
}

pub fn help() -> String {
    let mut out = String::from("Flags:\n");
    let cmd = super::command();
    for a in cmd.get_arguments() {
        let Some(long) = a.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let default = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&format!("  --{long} '{default}'\n"));
        let mut help = a
            .get_help()
            .map(|h| h.to_string())
            .unwrap_or_else(|| "Accepted for compatibility with etcd.".into());
        // clap drops a doc comment's final period; etcd's texts have it
        if !help.ends_with('.') {
            help.push('.');
        }
        out.push_str(&format!("    {help}\n"));
    }
    out
}

/// etcd's `--version` lines, and oxcd's.
pub fn version() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "etcd Version: {}\nGit SHA: {}\nGo Version: not applicable\nGo OS/Arch: {}/{arch}\noxcd Version: {}\n",
        crate::api::ETCD_VERSION,
        env!("OXCD_GIT_SHA"),
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION"),
    )
}

/// What the command line asks for besides running: etcd looks for these
/// anywhere in it.
pub enum Asked {
    Help,
    Version,
}

pub fn asked(args: &[String]) -> Option<Asked> {
    let flags = || {
        args.iter()
            .skip(1)
            .map(|a| a.split('=').next().unwrap_or(a))
    };
    if flags().any(|a| a == "--version") {
        return Some(Asked::Version);
    }
    if flags().any(|a| a == "-h" || a == "--help") {
        return Some(Asked::Help);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_reads_as_etcds() {
        let v = version();
        assert!(v.starts_with("etcd Version: 3.5.1\nGit SHA: "), "{v}");
        assert!(
            v.lines().any(|l| l.starts_with("Go OS/Arch: linux/")),
            "{v}"
        );
    }

    #[test]
    fn help_lists_flags_with_defaults() {
        let h = help();
        assert!(usage().starts_with("Usage:\n\n  oxcd [flags]\n"));
        assert!(h.starts_with("Flags:\n"));
        assert!(
            h.contains("  --name 'default'\n    Human-readable name for this member.\n"),
            "{h}"
        );
        assert!(h.contains("  --listen-client-urls 'http://localhost:2379'\n"));
        // etcd's flags oxcd only accepts are listed too
        assert!(h.contains("  --enable-v2 'false'\n"));
    }

    #[test]
    fn asked_anywhere_on_the_line() {
        let a = |v: &[&str]| asked(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(matches!(
            a(&["oxcd", "--name", "x", "--version"]),
            Some(Asked::Version)
        ));
        assert!(matches!(a(&["oxcd", "-h"]), Some(Asked::Help)));
        assert!(matches!(a(&["oxcd", "--help"]), Some(Asked::Help)));
        assert!(a(&["oxcd", "--name", "--helpful"]).is_none());
    }
}
