//! etcd 3.5's server flags that oxcd accepts without acting on them (yet),
//! so that an etcd command line, environment file or unit starts oxcd —
//! and says so: a flag set to anything but etcd's default gets a warning
//! naming what oxcd does instead, or, where going on would mislead the
//! operator (bootstrapping through discovery, a proxy, forcing a new
//! cluster), an error. Each flag also reads its `ETCD_*` variable.

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};

/// What oxcd does with a flag set to a value other than etcd's default.
#[derive(Clone, Copy)]
enum Verdict {
    Warn(&'static str),
    Refuse(&'static str),
}
use Verdict::*;

/// (flag, etcd's default, is boolean, verdict)
#[rustfmt::skip]
const FLAGS: &[(&str, &str, bool, Verdict)] = &[
    ("backend-bbolt-freelist-type", "map", false, Warn("oxcd's store is not bbolt")),
    ("discovery", "", false, Refuse("bootstrapping through a discovery service is not supported; use --initial-cluster")),
    ("discovery-fallback", "proxy", false, Warn("discovery is not supported")),
    ("discovery-proxy", "", false, Refuse("bootstrapping through a discovery service is not supported; use --initial-cluster")),
    ("enable-pprof", "false", true, Warn("there is no Go profiler in oxcd")),
    ("enable-v2", "false", true, Warn("the v2 API is not served")),
    ("experimental-bootstrap-defrag-threshold-megabytes", "0", false, Warn("no defragmentation at start")),
    ("experimental-compaction-batch-limit", "1000", false, Warn("oxcd compacts in one pass")),
    ("experimental-distributed-tracing-address", "localhost:4317", false, Warn("no distributed tracing")),
    ("experimental-distributed-tracing-instance-id", "", false, Warn("no distributed tracing")),
    ("experimental-distributed-tracing-service-name", "etcd", false, Warn("no distributed tracing")),
    ("experimental-enable-distributed-tracing", "false", true, Warn("no distributed tracing")),
    ("experimental-enable-lease-checkpoint", "false", true, Warn("a new leader renews every lease instead")),
    ("experimental-enable-v2v3", "", false, Warn("the v2 API is not served")),
    ("experimental-txn-mode-write-with-shared-buffer", "true", true, Warn("not applicable to oxcd's store")),
    ("grpc-keepalive-min-time", "5s", false, Warn("client pings are not rate-limited")),
    ("proxy", "off", false, Refuse("proxy mode is not supported")),
    ("proxy-dial-timeout", "1000", false, Warn("proxy mode is not supported")),
    ("proxy-failure-wait", "5000", false, Warn("proxy mode is not supported")),
    ("proxy-read-timeout", "0", false, Warn("proxy mode is not supported")),
    ("proxy-refresh-interval", "30000", false, Warn("proxy mode is not supported")),
    ("proxy-write-timeout", "5000", false, Warn("proxy mode is not supported")),
    ("v2-deprecation", "not-yet", false, Warn("the v2 store does not exist in oxcd")),
];

/// `ETCD_<FLAG>`; clap keeps it for the program's life (parsed once).
fn env_name(flag: &str) -> &'static str {
    Box::leak(format!("ETCD_{}", flag.replace('-', "_").to_uppercase()).into_boxed_str())
}

/// The flags, added to oxcd's command line.
pub(super) fn args() -> Vec<Arg> {
    FLAGS
        .iter()
        .map(|&(name, default, boolean, _)| {
            let a = Arg::new(name)
                .long(name)
                .env(env_name(name))
                .hide(true)
                .default_value(default);
            if boolean {
                // Go's boolean forms: --flag, --flag=false
                a.num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_parser(|s: &str| super::tls::go_bool(s).map(|b| b.to_string()))
            } else {
                a
            }
        })
        .collect()
}

/// Warnings for the flags given, or the error of one oxcd will not start
/// with.
pub(super) fn check(m: &ArgMatches) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    for &(name, default, _, verdict) in FLAGS {
        if m.value_source(name) == Some(ValueSource::DefaultValue) {
            continue;
        }
        let Some(value) = m.get_one::<String>(name) else {
            continue;
        };
        if value == default || same_duration(value, default) {
            continue;
        }
        match verdict {
            Warn(why) => warnings.push(format!(
                "--{name}={value} is accepted for compatibility with etcd and has no effect: {why}"
            )),
            Refuse(why) => return Err(format!("--{name}={value}: {why}")),
        }
    }
    Ok(warnings)
}

/// `2h` and `7200000000000ns` (a config file's nanoseconds) are one value.
fn same_duration(a: &str, b: &str) -> bool {
    use crate::auth::token::parse_go_duration as d;
    matches!((d(a), d(b)), (Some(x), Some(y)) if x == y)
}

/// `cmd` with the flags added.
pub(super) fn with_args(cmd: Command) -> Command {
    cmd.args(args())
}
