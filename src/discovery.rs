//! `-d/--discovery-srv <domain>`: the endpoints from DNS SRV records, as
//! etcdctl 3.5 finds them: `_etcd-client-ssl[-<name>]._tcp.<domain>` gives
//! `https://target:port`, then `_etcd-client[-<name>]._tcp.<domain>`
//! gives `http://` ones. Without `--insecure-discovery` the http ones are dropped, each
//! with a note on stderr. Only when both lookups fail is it an error.
//! Unlike etcdctl, the target's trailing dot is dropped (`host:2379`, not
//! `host.:2379`), so targets named in `/etc/hosts` resolve too.
//!
//! Names are resolved with the system's configuration (`/etc/resolv.conf`)
//! unless `OXCD_DISCOVERY_DNS=<ip:port>` names another server (the tests
//! run a DNS responder on loopback).

use std::io::Write;
use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::TokioAsyncResolver;

use crate::error::{CtlError, Result};

/// The variable naming the DNS server to ask instead of the system's.
pub const DNS_SERVER_VAR: &str = "OXCD_DISCOVERY_DNS";

/// The resolver, and the server named in Go's error texts.
fn resolver() -> std::result::Result<(TokioAsyncResolver, String), String> {
    let (config, opts) = match std::env::var(DNS_SERVER_VAR) {
        Ok(addr) => {
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| format!("{DNS_SERVER_VAR}={addr}: {e}"))?;
            let mut c = ResolverConfig::new();
            c.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            (c, ResolverOpts::default())
        }
        Err(_) => hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading the system's DNS configuration: {e}"))?,
    };
    let server = config
        .name_servers()
        .first()
        .map_or_else(String::new, |n| n.socket_addr.to_string());
    Ok((TokioAsyncResolver::tokio(config, opts), server))
}

/// `srv.GetSRVService`: the service name, `-ssl` for https, `-<name>`.
fn service(scheme: &str, name: &str) -> String {
    let mut s = "etcd-client".to_string();
    if scheme == "https" {
        s.push_str("-ssl");
    }
    if !name.is_empty() {
        s.push('-');
        s.push_str(name);
    }
    s
}

/// One lookup's endpoints, or Go's error text for it.
async fn lookup(
    r: &TokioAsyncResolver,
    server: &str,
    scheme: &str,
    service: &str,
    domain: &str,
) -> std::result::Result<Vec<String>, String> {
    let name = format!("_{service}._tcp.{domain}");
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let records = r.srv_lookup(fqdn.as_str()).await.map_err(|e| {
        let why = match e.kind() {
            ResolveErrorKind::NoRecordsFound { .. } => "no such host".to_string(),
            _ => e.to_string(),
        };
        format!("lookup {name} on {server}: {why}")
    })?;
    // Go orders by priority, then (randomly) by weight: heavier first here
    let mut srvs: Vec<_> = records.iter().collect();
    srvs.sort_by_key(|s| (s.priority(), std::cmp::Reverse(s.weight())));
    Ok(srvs
        .iter()
        .map(|s| {
            let target = s.target().to_utf8().trim_end_matches('.').to_string();
            let host = if target.contains(':') {
                format!("[{target}]")
            } else {
                target
            };
            format!("{scheme}://{host}:{}", s.port())
        })
        .collect())
}

/// The endpoints of `domain` (see the module doc).
pub async fn endpoints(
    domain: &str,
    name: &str,
    insecure: bool,
    stderr: &mut dyn Write,
) -> Result<Vec<String>> {
    let (r, server) = resolver().map_err(CtlError::General)?;
    let https = lookup(&r, &server, "https", &service("https", name), domain).await;
    let http = lookup(&r, &server, "http", &service("http", name), domain).await;
    let eps = match (https, http) {
        (Err(a), Err(b)) => {
            return Err(CtlError::General(format!("dns lookup errors: {a} and {b}")))
        }
        (a, b) => [a.unwrap_or_default(), b.unwrap_or_default()].concat(),
    };
    if insecure {
        return Ok(eps);
    }
    Ok(eps
        .into_iter()
        .filter(|ep| {
            let plain = ep.starts_with("http://");
            if plain {
                let _ = writeln!(
                    stderr,
                    "ignoring discovered insecure endpoint {}",
                    crate::gofmt::quote(ep.as_bytes())
                );
            }
            !plain
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_as_etcd() {
        assert_eq!(service("https", ""), "etcd-client-ssl");
        assert_eq!(service("http", ""), "etcd-client");
        assert_eq!(service("https", "prod"), "etcd-client-ssl-prod");
        assert_eq!(service("http", "prod"), "etcd-client-prod");
    }
}
