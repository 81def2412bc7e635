//! Bootstrapping from DNS SRV records (`--discovery-srv`), as etcd 3.5:
//! `_etcd-server-ssl[-<name>]._tcp.<domain>` gives https peers,
//! `_etcd-server[-<name>]._tcp.<domain>` http ones; the record whose
//! target resolves to one of this member's advertised peer addresses is
//! this member, the others get placeholder names (member IDs come from
//! the URLs, not the names). The result is an `--initial-cluster` value.
//!
//! Names are resolved with the system's configuration (`/etc/resolv.conf`)
//! unless `OXCD_DISCOVERY_DNS=<ip:port>` names another server (oxcd's own
//! variable; the tests run a DNS responder on loopback).

use crate::config::Config;
use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::TokioAsyncResolver;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// The variable naming the DNS server to ask instead of the system's.
pub const DNS_SERVER_VAR: &str = "OXCD_DISCOVERY_DNS";

fn resolver() -> Result<TokioAsyncResolver, String> {
    match std::env::var(DNS_SERVER_VAR) {
        Ok(addr) => {
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| format!("{DNS_SERVER_VAR}={addr}: {e}"))?;
            let mut c = ResolverConfig::new();
            c.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            Ok(TokioAsyncResolver::tokio(c, ResolverOpts::default()))
        }
        Err(_) => TokioAsyncResolver::tokio_from_system_conf()
            .map_err(|e| format!("reading the system's DNS configuration: {e}")),
    }
}

/// `host:port` resolved: an IP literal as is, a name by its A/AAAA records.
async fn resolve(r: &TokioAsyncResolver, host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = host.trim_end_matches('.');
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let ips = r
        .lookup_ip(format!("{host}."))
        .await
        .map_err(|e| format!("lookup {host}: {e}"))?;
    // IPv4 first, as Go's resolver orders them
    let mut ips: Vec<IpAddr> = ips.iter().collect();
    ips.sort_by_key(|ip| !ip.is_ipv4());
    ips.first()
        .map(|ip| SocketAddr::new(*ip, port))
        .ok_or_else(|| format!("lookup {host}: no addresses"))
}

/// Finds the initial cluster in `domain`'s SRV records and sets it on
/// `cfg` (which must then name this member).
pub async fn bootstrap(cfg: &mut Config) -> Result<(), String> {
    let Some((domain, name)) = cfg.discovery_srv.clone() else {
        return Ok(());
    };
    let suffix = if name.is_empty() {
        String::new()
    } else {
        format!("-{name}")
    };
    let r = resolver()?;
    // this member's advertised peer addresses, resolved
    let mut own: HashMap<SocketAddr, String> = HashMap::new();
    for u in &cfg.advertise_peer_urls {
        let url = url::Url::parse(u).map_err(|e| format!("{u}: {e}"))?;
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            continue;
        };
        own.insert(resolve(&r, host, port).await?, url.scheme().to_string());
    }
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    let mut temp = 0;
    for (scheme, service) in [
        ("https", format!("etcd-server-ssl{suffix}")),
        ("http", format!("etcd-server{suffix}")),
    ] {
        let found = cluster_of(&r, scheme, &service, &domain, cfg, &own, &mut temp).await;
        tracing::info!(
            "service-scheme" = scheme,
            "service-name" = %service,
            "server-name" = %cfg.name,
            "discovery-srv" = %domain,
            "found-cluster" = ?crate::log::Json(found.as_ref().ok()),
            error = ?found.as_ref().err(),
            "get cluster for {service} SRV"
        );
        match found {
            Ok(p) => parts.extend(p),
            Err(e) => errors.push(e),
        }
    }
    if parts.is_empty() {
        return Err(errors.join("; "));
    }
    for p in &parts {
        tracing::info!(node = %p, "got bootstrap from DNS for etcd-server");
    }
    cfg.set_initial_cluster(&parts.join(","))?;
    if !cfg.initial_members.iter().any(|m| m.name == cfg.name) {
        return Err(format!(
            "cannot find local etcd member {:?} in SRV records",
            cfg.name
        ));
    }
    Ok(())
}

/// One service's records as `name=scheme://target:port` items.
async fn cluster_of(
    r: &TokioAsyncResolver,
    scheme: &str,
    service: &str,
    domain: &str,
    cfg: &Config,
    own: &HashMap<SocketAddr, String>,
    temp: &mut usize,
) -> Result<Vec<String>, String> {
    let fail = |e: String| format!("error querying DNS SRV records for _{service} {e}");
    let query = format!("_{service}._tcp.{}.", domain.trim_end_matches('.'));
    let records = r
        .srv_lookup(query.as_str())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut parts = Vec::new();
    let mut last_error = None;
    for srv in records.iter() {
        let target = srv.target().to_utf8();
        let host = target.trim_end_matches('.').to_string();
        let addr = match resolve(r, &host, srv.port()).await {
            Ok(a) => a,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let url_host = if host.contains(':') {
            format!("[{host}]:{}", srv.port())
        } else {
            format!("{host}:{}", srv.port())
        };
        let name = match own.get(&addr) {
            Some(own_scheme) if own_scheme != scheme => {
                last_error = Some(format!(
                    "bootstrap at {scheme}://{url_host} from DNS for {service} has scheme mismatch with expected peer {own_scheme}://{url_host}"
                ));
                continue;
            }
            Some(_) => cfg.name.clone(),
            None => {
                *temp += 1;
                (*temp - 1).to_string()
            }
        };
        parts.push(format!("{name}={scheme}://{url_host}"));
    }
    if parts.is_empty() {
        return Err(fail(last_error.unwrap_or_else(|| "no records".into())));
    }
    Ok(parts)
}
