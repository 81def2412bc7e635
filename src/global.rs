//! Global flags, the `ETCDCTL_*` environment rules (pkg/flags) and the
//! client configuration derived from them (command/global.go). The command
//! tree is not needed here: the caller hands in the flags a command
//! inherits ([`Globals`]), which are those `ETCDCTL_*` applies to.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::error::{CtlError, Result};
use crate::flags::{Bool, Dur, Flags, GoValue, List, Text};
use crate::parse;
use crate::printer::{self, Printer};
pub use crate::tls_files::{load_tls, secure_cfg, SecureCfg, TlsFiles};

/// The writers `-w` documents (any other name fails after the request).
const WRITERS: &[&str] = &["simple", "json", "fields", "protobuf", "table"];

// etcdctl's persistent root flags, in its order.
#[derive(Args, Debug)]
pub struct GlobalFlags {
    /// gRPC endpoints
    #[arg(long, global = true, default_value = "127.0.0.1:2379")]
    pub endpoints: Vec<List>,
    /// enable client-side debug logging
    #[arg(long, global = true, default_value = "false")]
    pub debug: Bool,
    /// set the output format (fields, json, protobuf, simple, table)
    #[arg(
        short = 'w',
        long = "write-out",
        id = "write-out",
        global = true,
        default_value = "simple",
        value_parser = GoValue::<Text>::of(WRITERS)
    )]
    pub write_out: Text,
    /// print byte strings as hex encoded strings
    #[arg(long, global = true, default_value = "false")]
    pub hex: Bool,
    /// dial timeout for client connections
    #[arg(long, id = "dial-timeout", global = true, default_value = "2s")]
    pub dial_timeout: Dur,
    /// timeout for short running command (excluding dial timeout)
    #[arg(long, id = "command-timeout", global = true, default_value = "5s")]
    pub command_timeout: Dur,
    /// keepalive time for client connections
    #[arg(long, id = "keepalive-time", global = true, default_value = "2s")]
    pub keepalive_time: Dur,
    /// keepalive timeout for client connections
    #[arg(long, id = "keepalive-timeout", global = true, default_value = "6s")]
    pub keepalive_timeout: Dur,
    /// disable transport security for client connections
    #[arg(long, id = "insecure-transport", global = true, default_value = "true")]
    pub insecure_transport: Bool,
    /// accept insecure SRV records describing cluster endpoints
    #[arg(long, id = "insecure-discovery", global = true, default_value = "true")]
    pub insecure_discovery: Bool,
    /// skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)
    #[arg(
        long,
        id = "insecure-skip-tls-verify",
        global = true,
        default_value = "false"
    )]
    pub insecure_skip_tls_verify: Bool,
    /// identify secure client using this TLS certificate file
    #[arg(long, global = true, default_value = "")]
    pub cert: Text,
    /// identify secure client using this TLS key file
    #[arg(long, global = true, default_value = "")]
    pub key: Text,
    /// verify certificates of TLS-enabled secure servers using this CA bundle
    #[arg(long, global = true, default_value = "")]
    pub cacert: Text,
    // Not a doc comment: rustdoc would read `[:password]` as a link.
    #[arg(
        long,
        global = true,
        default_value = "",
        help = "username[:password] for authentication (prompt if password is not supplied)"
    )]
    pub user: Text,
    /// password for authentication (if this option is used, --user option shouldn't include password)
    #[arg(long, global = true, default_value = "")]
    pub password: Text,
    /// domain name to query for SRV records describing cluster endpoints
    #[arg(
        short = 'd',
        long = "discovery-srv",
        id = "discovery-srv",
        global = true,
        default_value = ""
    )]
    pub discovery_srv: Text,
    /// service name to query when using DNS discovery
    #[arg(long, id = "discovery-srv-name", global = true, default_value = "")]
    pub discovery_srv_name: Text,
}

/// Everything a client-building command needs to connect.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub endpoints: Vec<String>,
    /// Nanoseconds; 0 or less means no dial timeout.
    pub dial_timeout: i64,
    pub command_timeout: i64,
    pub keepalive_time: i64,
    pub keepalive_timeout: i64,
    pub tls: Option<TlsFiles>,
    pub auth: Option<Auth>,
}

#[derive(Clone, Debug)]
pub struct Auth {
    pub user: String,
    pub password: String,
}

/// `ETCDCTL_` + upper-cased flag name with `-` → `_`.
pub fn flag_to_env(name: &str) -> String {
    format!("ETCDCTL_{}", name.to_uppercase().replace('-', "_"))
}

pub(crate) fn zap_ts() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", d.as_nanos() as f64 / 1e9)
}

/// zap's JSON string escaping (no HTML escaping, unlike encoding/json).
pub(crate) fn zap_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Applies `ETCDCTL_*` variables to the inherited flags like
/// `flags.SetPflagsFromEnv`: unset flags take non-empty env values (invalid
/// ones are silently ignored), a variable shadowed by a command-line flag
/// is fatal, an unknown `ETCDCTL_*` variable only warns.
pub fn apply_env(
    fs: &mut Flags,
    inherited: &[clap::Arg],
    env: &[(String, String)],
    extra_known: &[&str],
    stderr: &mut dyn Write,
) -> Result<()> {
    let mut args: Vec<&clap::Arg> = inherited.iter().collect();
    args.sort_by_key(|a| a.get_id().as_str());
    args.dedup_by_key(|a| a.get_id().as_str());
    let mut already_set: Vec<String> = Vec::new();
    let mut used: Vec<String> = extra_known.iter().map(|s| s.to_string()).collect();
    let mut from_env: Vec<String> = Vec::new();
    for arg in args {
        let name = arg.get_id().as_str();
        let key = flag_to_env(name);
        if fs.changed(name) {
            already_set.push(key);
            continue;
        }
        let val = env
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !val.is_empty() {
            used.push(key);
            // pflag ignores a value it cannot parse.
            let word = format!("--{name}={val}");
            let probe = clap::Command::new("env")
                .no_binary_name(true)
                .arg(arg.clone().global(false));
            if probe.try_get_matches_from([&word]).is_ok() {
                from_env.push(word);
            }
        }
    }
    if !from_env.is_empty() {
        parse::set_from_env(fs, from_env).map_err(CtlError::General)?;
    }
    for (k, v) in env {
        if used.contains(k) {
            continue;
        }
        if already_set.contains(k) {
            return Err(CtlError::Fatal(format!(
                "{{\"level\":\"fatal\",\"ts\":{},\"caller\":\"flags/flag.go:85\",\"msg\":\"conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag))\",\"environment-variable\":{},\"stacktrace\":\"oxctl::global::apply_env\"}}",
                zap_ts(),
                zap_str(k)
            )));
        }
        if k.starts_with("ETCDCTL_") {
            let _ = writeln!(
                stderr,
                "{{\"level\":\"warn\",\"ts\":{},\"caller\":\"flags/flag.go:93\",\"msg\":\"unrecognized environment variable\",\"environment-variable\":{}}}",
                zap_ts(),
                zap_str(&format!("{k}={v}"))
            );
        }
    }
    Ok(())
}

/// Inputs shared by all client-building commands.
pub struct Globals<'a> {
    pub path: &'a [String],
    pub flags: &'a mut Flags,
    /// The flags the command inherits (cobra's persistent flags of its
    /// ancestors, [`crate::cli::inherited`]): those `ETCDCTL_*` may set.
    pub inherited: &'a [clap::Arg],
    pub env: &'a [(String, String)],
}

/// `clientConfigFromCmd`: env, `--debug`, endpoints, TLS/auth checks and
/// the writer. Returns the config and the printer.
pub fn client_config(
    g: Globals<'_>,
    stderr: &mut dyn Write,
) -> Result<(ClientConfig, Box<dyn Printer>)> {
    let (cfg, printer) = build_config(g, stderr, true)?;
    Ok((cfg, printer.expect("writer requested")))
}

/// [`client_config`] without the writer, for commands that never print a
/// response (`snapshot save` accepts any `-w`).
pub fn client_config_only(g: Globals<'_>, stderr: &mut dyn Write) -> Result<ClientConfig> {
    Ok(build_config(g, stderr, false)?.0)
}

fn build_config(
    g: Globals<'_>,
    stderr: &mut dyn Write,
    with_printer: bool,
) -> Result<(ClientConfig, Option<Box<dyn Printer>>)> {
    let inherited = g.inherited;
    // `watch` reads these two itself.
    let extra: &[&str] = if g.path == ["watch"] {
        &["ETCDCTL_WATCH_KEY", "ETCDCTL_WATCH_RANGE_END"]
    } else {
        &[]
    };
    apply_env(g.flags, inherited, g.env, extra, stderr)?;
    let fs = &*g.flags;
    if fs.bool("debug") {
        let mut names: Vec<&str> = inherited.iter().map(|a| a.get_id().as_str()).collect();
        names.sort_unstable();
        for n in names {
            let _ = writeln!(stderr, "{}={}", flag_to_env(n), fs.display(n));
        }
    }
    let gf: GlobalFlags = fs.get();
    let endpoints = endpoints(&gf, stderr)?;
    let cfg_tls = secure_cfg(fs)?;
    let auth = auth_cfg(&gf)?;
    let printer = match with_printer {
        true => Some(printer_from(&gf)?),
        false => None,
    };
    let cfg = ClientConfig {
        endpoints,
        dial_timeout: *gf.dial_timeout,
        command_timeout: *gf.command_timeout,
        keepalive_time: *gf.keepalive_time,
        keepalive_timeout: *gf.keepalive_timeout,
        tls: load_tls(&cfg_tls)?,
        auth,
    };
    Ok((cfg, printer))
}

/// The writer chosen by `-w` / `--hex` (`initDisplayFromCmd`).
pub fn printer_from(g: &GlobalFlags) -> Result<Box<dyn Printer>> {
    printer::new(&g.write_out, *g.hex)
        .ok_or_else(|| CtlError::BadFeature("unsupported output format".into()))
}

/// `--endpoints`, unless `-d/--discovery-srv` finds some (etcdctl's
/// `endpointsFromCmd`).
fn endpoints(g: &GlobalFlags, stderr: &mut dyn Write) -> Result<Vec<String>> {
    let domain = &g.discovery_srv.0;
    if !domain.is_empty() {
        let found = discover(
            domain,
            &g.discovery_srv_name.0,
            *g.insecure_discovery,
            stderr,
        )?;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(g.endpoints
        .iter()
        .flat_map(|l| l.iter())
        .map(|e| e.trim().to_string())
        .collect())
}

/// [`crate::discovery::endpoints`] from synchronous code: on a thread of
/// its own with a runtime of its own, whatever runtime the caller is on.
fn discover(
    domain: &str,
    name: &str,
    insecure: bool,
    stderr: &mut dyn Write,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let found = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CtlError::General(e.to_string()))?;
            rt.block_on(crate::discovery::endpoints(
                domain, name, insecure, &mut notes,
            ))
        })
        .join()
        .unwrap_or_else(|_| Err(CtlError::General("DNS SRV discovery failed".into())))
    });
    let _ = stderr.write_all(&notes);
    found
}

/// `--user name[:password]` / `--password`: with `--password` the whole
/// `--user` value is the name; otherwise the first `:` splits it, and a
/// name alone prompts for the password. As clientv3, nobody logs in
/// unless both a name and a password are left.
pub fn auth_cfg(g: &GlobalFlags) -> Result<Option<Auth>> {
    let user = g.user.0.clone();
    if user.is_empty() {
        return Ok(None);
    }
    let password = g.password.0.clone();
    let auth = if !password.is_empty() {
        Auth { user, password }
    } else {
        match user.split_once(':') {
            Some((u, p)) => Auth {
                user: u.to_string(),
                password: p.to_string(),
            },
            None => {
                let password = crate::password::ask("Password: ");
                Auth { user, password }
            }
        }
    };
    if auth.user.is_empty() || auth.password.is_empty() {
        return Ok(None);
    }
    Ok(Some(auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// The global flags as a command inherits them.
    fn inherited() -> Vec<clap::Arg> {
        let c = parse::finish(GlobalFlags::augment_args(clap::Command::new("get")), false);
        c.get_arguments()
            .filter(|a| a.get_id() != "args")
            .cloned()
            .collect()
    }

    fn parsed(args: &[&str]) -> Flags {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse::parse_with(parse::own_flags::<GlobalFlags>("get"), args).unwrap()
    }

    fn globals() -> Flags {
        parsed(&[])
    }

    fn apply(fs: &mut Flags, e: &[(String, String)], err: &mut Vec<u8>) -> Result<()> {
        apply_env(fs, &inherited(), e, &[], err)
    }

    #[test]
    fn env_fills_unset_flags_and_ignores_invalid() {
        let mut fs = globals();
        let mut err = Vec::new();
        let e = env(&[
            ("ETCDCTL_HEX", "true"),
            ("ETCDCTL_DIAL_TIMEOUT", "abc"),
            ("ETCDCTL_ENDPOINTS", "a:1,b:2"),
            ("PATH", "/bin"),
        ]);
        apply(&mut fs, &e, &mut err).unwrap();
        assert!(fs.bool("hex"));
        assert_eq!(*fs.get::<GlobalFlags>().dial_timeout, 2_000_000_000);
        assert_eq!(fs.strings("endpoints"), vec!["a:1", "b:2"]);
        assert!(err.is_empty());
    }

    #[test]
    fn env_conflict_is_fatal_and_unknown_warns() {
        let mut fs = parsed(&["--endpoints=x"]);
        let mut err = Vec::new();
        let e = env(&[("ETCDCTL_BOGUS", "1"), ("ETCDCTL_ENDPOINTS", "y")]);
        let r = apply(&mut fs, &e, &mut err);
        let warn = String::from_utf8(err).unwrap();
        assert!(warn.contains("\"msg\":\"unrecognized environment variable\",\"environment-variable\":\"ETCDCTL_BOGUS=1\"}"));
        match r {
            Err(CtlError::Fatal(line)) => {
                assert!(line.contains("\"environment-variable\":\"ETCDCTL_ENDPOINTS\""));
                assert!(line.starts_with("{\"level\":\"fatal\",\"ts\":"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_env_value_warns_as_unknown() {
        let mut fs = globals();
        let mut err = Vec::new();
        let e = env(&[("ETCDCTL_HEX", "")]);
        apply(&mut fs, &e, &mut err).unwrap();
        assert!(!fs.bool("hex"));
        assert!(String::from_utf8(err).unwrap().contains("ETCDCTL_HEX="));
    }
}
