//! The URL flags and `--initial-cluster`, parsed by oxcd's rules.

use super::{member_id, InitialMember};
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
