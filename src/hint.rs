//! One line of advice after etcdctl's error line, for a person at a
//! terminal: etcdctl's own line and exit code stay as they are, and nothing
//! is added when stderr is not a terminal, so scripts see exactly
//! etcdctl's output. etcdctl reports most connection failures as
//! `context deadline exceeded`; the dialing code notes what it actually
//! saw ([`note`]) so the hint can name it.

use std::sync::Mutex;

/// What a failed connection really met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// the server's certificate is not signed by a trusted CA
    UnknownAuthority,
    /// nothing listens on the port
    Refused,
    /// no answer within the dial timeout
    DialTimeout,
    /// a plain-text dial to a port that speaks TLS
    NotTls,
    /// the server ended the TLS connection: it refused our certificate
    CertRefused,
}

static CAUSE: Mutex<Option<Cause>> = Mutex::new(None);

/// Records what the last connection attempt met.
pub fn note(c: Cause) {
    if let Ok(mut g) = CAUSE.lock() {
        *g = Some(c);
    }
}

fn noted() -> Option<Cause> {
    CAUSE.lock().ok().and_then(|g| *g)
}

/// The cause a dial error's chain of sources shows, if one is known.
pub fn cause_of(e: &(dyn std::error::Error + 'static)) -> Option<Cause> {
    let mut text = String::new();
    let mut cur = Some(e);
    while let Some(e) = cur {
        text.push_str(&format!("{e} {e:?} "));
        cur = e.source();
    }
    if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        Some(Cause::UnknownAuthority)
    } else if text.contains("Connection refused") || text.contains("ConnectionRefused") {
        Some(Cause::Refused)
    } else {
        None
    }
}

/// The value of `--flag` / `--flag=v` on the command line, else of the
/// `ETCDCTL_*` variable.
fn setting(argv: &[String], env: &[(String, String)], flag: &str, var: &str) -> Option<String> {
    let long = format!("--{flag}");
    let eq = format!("--{flag}=");
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&eq) {
            return Some(v.to_string());
        }
        if *a == long {
            return it.next().cloned();
        }
    }
    env.iter()
        .rev()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v.clone())
}

/// The hint for an error `text` (etcdctl's message) of the command line
/// `argv` with `env`, if there is one to give.
pub fn hint(text: &str, argv: &[String], env: &[(String, String)]) -> Option<String> {
    let endpoints = setting(argv, env, "endpoints", "ETCDCTL_ENDPOINTS")
        .unwrap_or_else(|| "127.0.0.1:2379".to_string());
    let cacert = setting(argv, env, "cacert", "ETCDCTL_CACERT");
    if text.starts_with("data-dir \"") && text.ends_with("\" exists") {
        return Some(
            "hint: a restore never writes into an existing data dir: give a new --data-dir, \
             or move the old one away first"
                .into(),
        );
    }
    if text.contains("permission denied") {
        let user = setting(argv, env, "user", "ETCDCTL_USER")
            .map(|u| u.split(':').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        // the first word naming a key command (flag values come earlier)
        let need = argv
            .iter()
            .find_map(|a| match a.as_str() {
                "get" | "watch" => Some("read"),
                "put" | "del" | "lock" | "elect" => Some("write"),
                "txn" => Some("readwrite"),
                _ => None,
            })
            .unwrap_or("readwrite");
        return Some(format!(
            "hint: user {user:?} lacks {need} permission on this key: \
             oxctl role grant-permission <role> {need} <key>, then oxctl user grant-role {user} <role>"
        ));
    }
    if text != crate::error::DEADLINE {
        return None;
    }
    Some(match noted()? {
        Cause::UnknownAuthority => match cacert {
            None => format!(
                "hint: {endpoints} presents a certificate no CA of this machine signed: \
                 pass the cluster's CA with --cacert (or ETCDCTL_CACERT)"
            ),
            Some(ca) => format!(
                "hint: {endpoints} presents a certificate {ca} did not sign: is it the cluster's CA?"
            ),
        },
        Cause::NotTls => format!(
            "hint: {endpoints} speaks TLS: use https:// endpoints, with --cacert (and --cert, --key)"
        ),
        Cause::CertRefused => match setting(argv, env, "cert", "ETCDCTL_CERT") {
            None => "hint: the server wants a client certificate: \
                     pass --cert and --key signed by the cluster's CA"
                .to_string(),
            Some(cert) => format!(
                "hint: the server refused the client certificate {cert}: \
                 is it signed by the cluster's CA?"
            ),
        },
        Cause::Refused => format!(
            "hint: nothing listens at {endpoints}: is the member running, and is the port right?"
        ),
        Cause::DialTimeout => format!(
            "hint: no answer from {endpoints} within --dial-timeout: check the address and the \
             firewall"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn settings_come_from_flags_then_the_environment() {
        let env = vec![("ETCDCTL_CACERT".to_string(), "/env/ca.pem".to_string())];
        let a = args(&["--cacert=/a/ca.pem", "get", "k"]);
        assert_eq!(
            setting(&a, &env, "cacert", "ETCDCTL_CACERT").as_deref(),
            Some("/a/ca.pem")
        );
        let a = args(&["--cacert", "/b/ca.pem", "get"]);
        assert_eq!(
            setting(&a, &env, "cacert", "ETCDCTL_CACERT").as_deref(),
            Some("/b/ca.pem")
        );
        let a = args(&["get"]);
        assert_eq!(
            setting(&a, &env, "cacert", "ETCDCTL_CACERT").as_deref(),
            Some("/env/ca.pem")
        );
    }

    #[test]
    fn restore_and_permission_hints() {
        let h = hint("data-dir \"/var/lib/etcd\" exists", &[], &[]).expect("a hint");
        assert!(h.contains("new --data-dir"), "{h}");
        let a = args(&["--user", "alice:pw", "put", "k", "v"]);
        let h = hint("etcdserver: permission denied", &a, &[]).expect("a hint");
        assert!(h.contains("\"alice\" lacks write"), "{h}");
        assert!(hint("etcdserver: key not found", &a, &[]).is_none());
    }

    #[test]
    fn a_deadline_is_explained_by_what_the_dial_met() {
        let a = args(&["--endpoints=https://10.0.0.1:2379", "get", "k"]);
        note(Cause::UnknownAuthority);
        let h = hint(crate::error::DEADLINE, &a, &[]).expect("a hint");
        assert!(h.contains("--cacert"), "{h}");
        note(Cause::NotTls);
        let h = hint(crate::error::DEADLINE, &a, &[]).expect("a hint");
        assert!(h.contains("https://"), "{h}");
    }
}
