//! Global flags, the `ETCDCTL_*` environment rules (pkg/flags) and the
//! client configuration derived from them (command/global.go).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{CtlError, Result};
use crate::flags::FlagSet;
use crate::printer::{self, Printer};
use crate::spec;

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

/// The client TLS settings, with the files already read and checked.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Checked against the server certificate instead of the endpoint's
    /// host when not empty (`--discovery-srv`).
    pub server_name: String,
    pub skip_verify: bool,
    pub config: crate::tls::Config,
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
    fs: &mut FlagSet,
    inherited: &[&'static spec::FlagSpec],
    env: &[(String, String)],
    extra_known: &[&str],
    stderr: &mut dyn Write,
) -> Result<()> {
    let mut names: Vec<&'static str> = inherited.iter().map(|f| f.name).collect();
    names.sort_unstable();
    names.dedup();
    let mut already_set: Vec<String> = Vec::new();
    let mut used: Vec<String> = extra_known.iter().map(|s| s.to_string()).collect();
    for name in names {
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
            let _ = fs.set(name, val);
        }
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
    pub path: &'a [&'static str],
    pub flags: &'a mut FlagSet,
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
    let inherited = spec::inherited_flags(g.path);
    // `watch` reads these two itself.
    let extra: &[&str] = if g.path == ["watch"] {
        &["ETCDCTL_WATCH_KEY", "ETCDCTL_WATCH_RANGE_END"]
    } else {
        &[]
    };
    apply_env(g.flags, &inherited, g.env, extra, stderr)?;
    let fs = &*g.flags;
    if fs.bool("debug") {
        let mut names: Vec<&str> = inherited.iter().map(|f| f.name).collect();
        names.sort_unstable();
        for n in names {
            let _ = writeln!(stderr, "{}={}", flag_to_env(n), fs.display(n));
        }
    }
    let endpoints = endpoints(fs)?;
    let cfg_tls = secure_cfg(fs)?;
    let auth = auth_cfg(fs)?;
    let printer = match with_printer {
        true => Some(printer_from(fs)?),
        false => None,
    };
    let cfg = ClientConfig {
        endpoints,
        dial_timeout: fs.duration("dial-timeout"),
        command_timeout: fs.duration("command-timeout"),
        keepalive_time: fs.duration("keepalive-time"),
        keepalive_timeout: fs.duration("keepalive-timeout"),
        tls: load_tls(&cfg_tls)?,
        auth,
    };
    Ok((cfg, printer))
}

/// The writer chosen by `-w` / `--hex` (`initDisplayFromCmd`).
pub fn printer_from(fs: &FlagSet) -> Result<Box<dyn Printer>> {
    printer::new(&fs.string("write-out"), fs.bool("hex"))
        .ok_or_else(|| CtlError::BadFeature("unsupported output format".into()))
}

fn endpoints(fs: &FlagSet) -> Result<Vec<String>> {
    let domain = fs.string("discovery-srv");
    if !domain.is_empty() {
        // DNS SRV discovery needs a resolver oxctl does not ship.
        return Err(CtlError::General(format!(
            "lookup _etcd-client._tcp.{domain}: DNS SRV discovery is not supported by oxctl"
        )));
    }
    Ok(fs
        .strings("endpoints")
        .iter()
        .map(|e| e.trim().to_string())
        .collect())
}

/// The TLS-related flag values before the files are read.
#[derive(Debug, Default)]
pub struct SecureCfg {
    pub cert: String,
    pub key: String,
    pub cacert: String,
    pub server_name: String,
    pub insecure_transport: bool,
    pub skip_verify: bool,
}

pub fn secure_cfg(fs: &FlagSet) -> Result<SecureCfg> {
    let mut c = SecureCfg::default();
    for (name, slot) in [
        ("cert", &mut c.cert),
        ("key", &mut c.key),
        ("cacert", &mut c.cacert),
    ] {
        *slot = fs.string(name);
        if slot.is_empty() && fs.changed(name) {
            return Err(CtlError::BadArgs(format!(
                "empty string is passed to --{name} option"
            )));
        }
    }
    c.insecure_transport = fs.bool("insecure-transport");
    c.skip_verify = fs.bool("insecure-skip-tls-verify");
    if !fs.bool("insecure-discovery") {
        c.server_name = fs.string("discovery-srv");
    }
    Ok(c)
}

/// Go's `os.Open`/`ReadFile` error text for a path.
fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ if std::path::Path::new(path).is_dir() => {
                return CtlError::BadArgs(format!("read {path}: is a directory"));
            }
            _ => e.to_string(),
        };
        CtlError::BadArgs(format!("open {path}: {what}"))
    })
}

/// `newClientCfg`'s TLS part: validates and reads the files and builds the
/// rustls configuration (exit 128 on errors). `None` means plaintext.
pub fn load_tls(s: &SecureCfg) -> Result<Option<TlsFiles>> {
    let any = !s.cert.is_empty()
        || !s.key.is_empty()
        || !s.cacert.is_empty()
        || !s.server_name.is_empty();
    let mut identity = None;
    if !s.cert.is_empty() || !s.key.is_empty() {
        if s.cert.is_empty() || s.key.is_empty() {
            return Err(CtlError::BadArgs(format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                s.key, s.cert
            )));
        }
        let cert = read_file(&s.cert)?;
        let key = read_file(&s.key)?;
        identity = Some(crate::tls::parse_identity(&cert, &key).map_err(CtlError::BadArgs)?);
    }
    let mut roots = None;
    if !s.cacert.is_empty() {
        let ca = read_file(&s.cacert)?;
        roots = Some(crate::tls::parse_ca(&s.cacert, &ca).map_err(CtlError::BadArgs)?);
    }
    if !any && s.insecure_transport {
        return Ok(None);
    }
    let config =
        crate::tls::client_config(roots, identity, s.skip_verify).map_err(CtlError::BadArgs)?;
    Ok(Some(TlsFiles {
        server_name: s.server_name.clone(),
        skip_verify: s.skip_verify,
        config,
    }))
}

/// `--user name[:password]` / `--password`.
pub fn auth_cfg(fs: &FlagSet) -> Result<Option<Auth>> {
    let user = fs.string("user");
    if user.is_empty() {
        return Ok(None);
    }
    let password = fs.string("password");
    if !password.is_empty() {
        return Ok(Some(Auth { user, password }));
    }
    match user.split_once(':') {
        Some((u, p)) => Ok(Some(Auth {
            user: u.to_string(),
            password: p.to_string(),
        })),
        None => {
            let password = prompt_password("Password: ").map_err(CtlError::General)?;
            Ok(Some(Auth { user, password }))
        }
    }
}

/// Reads a password from the terminal without echo (speakeasy's role).
fn prompt_password(prompt: &str) -> std::result::Result<String, String> {
    use std::io::BufRead;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("open /dev/tty: {e}"))?;
    let mut w = &tty;
    let _ = w.write_all(prompt.as_bytes());
    let stty = |arg: &str| {
        if let Ok(f) = tty.try_clone() {
            let _ = std::process::Command::new("stty")
                .arg(arg)
                .stdin(f)
                .status();
        }
    };
    stty("-echo");
    let mut line = String::new();
    let res = std::io::BufReader::new(&tty).read_line(&mut line);
    stty("echo");
    let _ = w.write_all(b"\n");
    res.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn globals() -> FlagSet {
        FlagSet::new(spec::GLOBAL_FLAGS.iter().collect())
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
        apply_env(&mut fs, &spec::inherited_flags(&["get"]), &e, &[], &mut err).unwrap();
        assert!(fs.bool("hex"));
        assert_eq!(fs.duration("dial-timeout"), 2_000_000_000);
        assert_eq!(fs.strings("endpoints"), vec!["a:1", "b:2"]);
        assert!(err.is_empty());
    }

    #[test]
    fn env_conflict_is_fatal_and_unknown_warns() {
        let mut fs = globals();
        fs.parse(&["--endpoints=x".to_string()]).unwrap();
        let mut err = Vec::new();
        let e = env(&[("ETCDCTL_BOGUS", "1"), ("ETCDCTL_ENDPOINTS", "y")]);
        let r = apply_env(&mut fs, &spec::inherited_flags(&["get"]), &e, &[], &mut err);
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
        apply_env(&mut fs, &spec::inherited_flags(&["get"]), &e, &[], &mut err).unwrap();
        assert!(!fs.bool("hex"));
        assert!(String::from_utf8(err).unwrap().contains("ETCDCTL_HEX="));
    }

    #[test]
    fn tls_flag_checks() {
        let mut fs = globals();
        fs.parse(&["--cacert=".to_string()]).unwrap();
        assert_eq!(
            secure_cfg(&fs).unwrap_err().to_string(),
            "empty string is passed to --cacert option"
        );
        let s = SecureCfg {
            cert: "/etc/ssl/etcd/client.crt".into(),
            insecure_transport: true,
            ..SecureCfg::default()
        };
        assert_eq!(
            load_tls(&s).unwrap_err().to_string(),
            "KeyFile and CertFile must both be present[key: , cert: /etc/ssl/etcd/client.crt]"
        );
        let s = SecureCfg {
            cacert: "/nonexistent/ca.crt".into(),
            insecure_transport: true,
            ..SecureCfg::default()
        };
        let e = load_tls(&s).unwrap_err();
        assert_eq!(
            e.to_string(),
            "open /nonexistent/ca.crt: no such file or directory"
        );
        assert_eq!(e.exit_code(), 128);
    }
}
