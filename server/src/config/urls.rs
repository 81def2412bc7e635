//! The URL flags and `--initial-cluster`, parsed by oxcd's rules.

use super::{cluster_id, member_id, InitialMember};
use etcd_format::member::{group_by_name, initial_cluster_items};

/// A comma-separated URL flag, by oxcd's rules rather than etcd's
/// (`etcd_format::member::parse_urls`, which `snapshot restore` uses):
/// blank items skipped, each URL parsed (and normalised) by the `url`
/// crate, `http` and `https` accepted (no unix sockets), an explicit
/// non-default port required, and errors that name the flag.
pub(super) fn parse_urls(flag: &str, s: &str) -> Result<Vec<url::Url>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let u =
            url::Url::parse(part).map_err(|e| format!("invalid URL {part:?} in --{flag}: {e}"))?;
        match u.scheme() {
            "http" | "https" => {}
            "unix" | "unixs" => {
                return Err(format!(
                    "--{flag}: unix sockets ({part}) are not supported by oxcd"
                ))
            }
            other => {
                return Err(format!(
                    "--{flag}: URL scheme must be http, https, unix or unixs: {other}"
                ))
            }
        }
        if u.port().is_none() || u.host_str().is_none() {
            return Err(format!(
                "--{flag}: URL address does not have the form \"host:port\": {part}"
            ));
        }
        out.push(u);
    }
    if out.is_empty() {
        return Err(format!("--{flag} must not be empty"));
    }
    Ok(out)
}

/// Go's `url.String()` for the URLs etcd hashes and reports: no trailing `/`.
pub(super) fn url_string(u: &url::Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

/// `--initial-cluster`, split by etcd-format's tokenizer of etcd's grammar,
/// with oxcd's stricter rules on top: items trimmed and blank ones skipped,
/// '=' required, each URL checked by [`parse_urls`] in the order written;
/// members in the order their names first appear.
pub(super) fn parse_initial_cluster(s: &str, token: &str) -> Result<Vec<InitialMember>, String> {
    let mut items = Vec::new();
    for (name, url) in initial_cluster_items(s) {
        let name = name.trim_start();
        let Some(u) = url else {
            let part = name.trim_end();
            if part.is_empty() {
                continue;
            }
            return Err(format!(
                "--initial-cluster: {part:?} is not of the form name=url"
            ));
        };
        let url = parse_urls("initial-cluster", u)?;
        items.push((name, url_string(&url[0])));
    }
    let members: Vec<InitialMember> = group_by_name(items)
        .into_iter()
        .map(|(name, mut peer_urls)| {
            peer_urls.sort();
            InitialMember {
                id: member_id(&peer_urls, token),
                name,
                peer_urls,
            }
        })
        .collect();
    if members.is_empty() {
        return Err("--initial-cluster must not be empty".into());
    }
    Ok(members)
}

/// The members an `--initial-cluster` value describes, and this member's
/// place among them.
pub(super) struct Bootstrap {
    pub members: Vec<InitialMember>,
    pub member_id: u64,
    pub cluster_id: u64,
    /// why this member could not bootstrap from it (an error only when
    /// there is no data dir to restart from)
    pub error: Option<String>,
}

pub(super) fn bootstrap_members(
    name: &str,
    ic: &str,
    token: &str,
    adv_peer: &[String],
) -> Result<Bootstrap, String> {
    let members = parse_initial_cluster(ic, token)?;
    // etcd checks this member's place in --initial-cluster only when it
    // bootstraps: a member restarting on its data dir ignores the flag
    let me = members.iter().find(|m| m.name == name);
    let error = match me {
        None => Some(format!(
            "couldn't find local name {name:?} in the initial cluster configuration"
        )),
        Some(me) if me.peer_urls != adv_peer => Some(format!(
            "--initial-cluster has {name}={} but missing from --initial-advertise-peer-urls={}",
            me.peer_urls.join(","),
            adv_peer.join(",")
        )),
        Some(_) => None,
    };
    let member_id = me.map(|m| m.id).unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    for m in &members {
        for u in &m.peer_urls {
            if !seen.insert(u.clone()) {
                return Err(format!(
                    "--initial-cluster: peer URL {u} is used by more than one member"
                ));
            }
        }
    }
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    Ok(Bootstrap {
        cluster_id: cluster_id(&ids),
        members,
        member_id,
        error,
    })
}
