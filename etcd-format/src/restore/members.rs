//! The members a restore writes: `--initial-cluster`,
//! `--initial-advertise-peer-urls` and `--name` checked like etcd's
//! `VerifyBootstrap`, with etcd's error texts, and their IDs.

use super::{RestoreConfig, RestoreError};
use crate::member::{self, Member};

/// The cluster described by a config, checked like etcd's
/// `VerifyBootstrap` (URLs compared literally, without DNS resolution).
pub fn plan_members(cfg: &RestoreConfig) -> Result<(Vec<Member>, u64), RestoreError> {
    if (cfg.bump_revision == 0 && cfg.mark_compacted)
        || (cfg.bump_revision > 0 && !cfg.mark_compacted)
    {
        return Err(RestoreError::BumpNeedsMarkCompacted);
    }
    let ap: Vec<&str> = cfg.initial_advertise_peer_urls.split(',').collect();
    let apurls = member::parse_urls(&ap).map_err(RestoreError::InvalidUrl)?;
    let ics =
        member::parse_initial_cluster(&cfg.initial_cluster).map_err(RestoreError::InvalidUrl)?;
    let Some(local) = ics.get(&cfg.name) else {
        return Err(RestoreError::LocalNameMissing {
            name: cfg.name.clone(),
        });
    };
    if *local != apurls {
        return Err(RestoreError::AdvertiseMismatch(advertise_mismatch(
            &cfg.name, local, &apurls,
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if ics.values().flatten().any(|u| !seen.insert(u.clone())) {
        // Go's URLsMap.String(): sorted `name=url` pairs.
        let mut pairs: Vec<String> = ics
            .iter()
            .flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}")))
            .collect();
        pairs.sort();
        return Err(RestoreError::DuplicateUrl(pairs.join(",")));
    }
    let mut members: Vec<Member> = Vec::with_capacity(ics.len());
    for (name, urls) in &ics {
        let m = Member::new(name, urls.clone(), &cfg.initial_cluster_token);
        if members.iter().any(|o| o.id == m.id) {
            return Err(RestoreError::BadMembership(format!(
                "member exists with identical ID {}",
                m.id_hex()
            )));
        }
        if m.id == 0 {
            return Err(RestoreError::BadMembership(
                "cannot use 0 as member id".into(),
            ));
        }
        members.push(m);
    }
    members.sort_by_key(|m| m.id);
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    Ok((members, member::cluster_id(&ids)))
}

fn advertise_mismatch(name: &str, local: &[String], ap: &[String]) -> String {
    let q = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", items.join(" "))
    };
    let why = if local.len() != ap.len() {
        format!("len({}) != len({})", q(ap), q(local))
    } else {
        let (a, b) = ap
            .iter()
            .zip(local)
            .find(|(a, b)| a != b)
            .expect("lists differ");
        format!("{a:?}(resolved from {a:?}) != {b:?}(resolved from {b:?})")
    };
    let missing: Vec<String> = local
        .iter()
        .filter(|u| !ap.contains(u))
        .map(|u| format!("{name}={u}"))
        .collect();
    if !missing.is_empty() {
        return format!(
            "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} ({why})",
            missing.join(","),
            ap.join(",")
        );
    }
    let extra: Vec<&str> = ap
        .iter()
        .filter(|u| !local.contains(u))
        .map(String::as_str)
        .collect();
    let umap: Vec<String> = ap.iter().map(|u| format!("{name}={u}")).collect();
    format!(
        "--initial-advertise-peer-urls has {} but missing from --initial-cluster={}",
        extra.join(","),
        umap.join(",")
    )
}
