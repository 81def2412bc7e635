//! The seed's env-file deployment: a member's command line written as
//! `ETCD_*` lines, and read back as systemd's `EnvironmentFile=` reads them.

use std::path::Path;

/// A command line as an environment file: `--flag value` and a bare
/// boolean `--flag` become `ETCD_FLAG=value` / `ETCD_FLAG=true` lines.
pub fn write(args: &[String]) -> String {
    let mut out = String::from("# written by the test harness, read back as a unit would\n");
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].trim_start_matches('-');
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None if args.get(i + 1).is_some_and(|v| !v.starts_with("--")) => {
                i += 1;
                (flag.to_string(), args[i].clone())
            }
            None => (flag.to_string(), "true".to_string()),
        };
        out.push_str(&format!(
            "ETCD_{}=\"{value}\"\n",
            name.replace('-', "_").to_uppercase()
        ));
        i += 1;
    }
    out
}

/// `KEY="value"` lines, as systemd's `EnvironmentFile=` reads them
/// (comments and blank lines skipped, double quotes removed).
pub fn read(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .expect("read the env file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}
