//! oxcd's command line: etcd's flags, each also read from its `ETCD_*`
//! variable, validated the way etcd validates them, and the member and
//! cluster IDs derived exactly as etcd derives them.

mod compaction;
mod compat;
mod file;
mod flags;
pub mod help;
mod logging;
mod tls;
mod urls;

pub use compaction::AutoCompaction;

use crate::auth::TokenConfig;
use crate::tls::TlsInfo;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
pub use flags::Flags;
use std::path::PathBuf;
use tls::tls_sides;

#[derive(Debug, Clone, PartialEq)]
pub struct InitialMember {
    pub name: String,
    pub id: u64,
    pub peer_urls: Vec<String>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub data_dir: PathBuf,
    pub wal_dir: Option<PathBuf>,
    pub listen_client_urls: Vec<url::Url>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer_urls: Vec<url::Url>,
    /// `--listen-metrics-urls`: `/metrics` and `/health` only
    pub listen_metrics_urls: Vec<url::Url>,
    pub initial_members: Vec<InitialMember>,
    /// `--initial-cluster-token`
    pub initial_cluster_token: String,
    /// `--initial-advertise-peer-urls`, sorted, as etcd compares them
    pub advertise_peer_urls: Vec<String>,
    /// `--discovery-srv` and `--discovery-srv-name`: the members come from
    /// DNS SRV records at the first start
    pub discovery_srv: Option<(String, String)>,
    pub member_id: u64,
    pub cluster_id: u64,
    pub quota_backend_bytes: u64,
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    pub max_wals: usize,
    pub max_snapshots: usize,
    /// `--initial-cluster-state existing`: join a running cluster
    pub join_existing: bool,
    /// why this member could not bootstrap from `--initial-cluster`; only
    /// an error when there is no data dir to restart from
    pub bootstrap_error: Option<String>,
    pub snapshot_count: u64,
    pub snapshot_catchup_entries: u64,
    pub heartbeat_ms: u64,
    pub election_ms: u64,
    /// client port TLS (used on `https` client URLs)
    pub client_tls: TlsInfo,
    /// peer port TLS (used on `https` peer URLs and to dial them)
    pub peer_tls: TlsInfo,
    /// `--auto-tls` / `--peer-auto-tls` asked for and no certificate given
    pub auto_tls: bool,
    pub peer_auto_tls: bool,
    pub self_signed_cert_validity: u32,
    /// what the start-up should warn about (etcd flags without effect)
    pub warnings: Vec<String>,
    /// `--auto-compaction-*`: none when the retention is 0
    pub auto_compaction: Option<AutoCompaction>,
    /// `--config-file`: where the configuration came from (the command
    /// line and `ETCD_*` variables were ignored)
    pub config_file: Option<PathBuf>,
    /// `--grpc-keepalive-interval` / `--grpc-keepalive-timeout` (None: off)
    pub grpc_keepalive_interval: Option<std::time::Duration>,
    pub grpc_keepalive_timeout: Option<std::time::Duration>,
    /// `--experimental-initial-corrupt-check`
    pub initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time` (None: off)
    pub corrupt_check_time: Option<std::time::Duration>,
    /// `--cors` origins and `--host-whitelist` hosts (`*`: any)
    pub cors: Vec<String>,
    pub host_whitelist: Vec<String>,
    pub pre_vote: bool,
    /// `--backend-batch-interval` / `--backend-batch-limit`: how often
    /// (time, applied entries) the store is committed to disk; None: 1 s
    /// and 20000
    pub backend_batch_interval: Option<std::time::Duration>,
    pub backend_batch_limit: Option<u64>,
    /// `--initial-election-tick-advance`
    pub initial_election_tick_advance: bool,
    /// `--experimental-watch-progress-notify-interval` (None: off)
    pub watch_progress_notify_interval: Option<std::time::Duration>,
    /// `--strict-reconfig-check`: membership changes that could lose the
    /// quorum are refused
    pub strict_reconfig_check: bool,
    /// `--unsafe-no-fsync`: the WAL is written but not synced
    pub unsafe_no_fsync: bool,
    /// `--socket-reuse-address`, `--socket-reuse-port`
    pub socket_reuse: (bool, bool),
    /// `--force-new-cluster`: restart as the only member, keeping the data
    pub force_new_cluster: bool,
    /// `--experimental-warning-apply-duration`
    pub warning_apply_duration: std::time::Duration,
    /// `--logger`, `--log-level`, `--log-outputs`, rotation
    pub log: crate::log::LogConfig,
    /// how tokens are issued (`--auth-token`, `--auth-token-ttl`)
    pub auth_token: TokenConfig,
    pub bcrypt_cost: u32,
}

const DEFAULT_QUOTA: u64 = 2 * 1024 * 1024 * 1024;

pub use etcd_format::member::{cluster_id, member_id};
use urls::{bootstrap_members, parse_urls, url_string};

/// etcd refuses a flag and its `ETCD_*` variable set together.
fn check_env_conflicts(m: &ArgMatches) -> Result<(), String> {
    for arg in command().get_arguments() {
        let id = arg.get_id().as_str();
        if m.value_source(id) == Some(ValueSource::CommandLine) {
            if let Some(env) = arg.get_env() {
                if std::env::var_os(env).is_some_and(|v| !v.is_empty()) {
                    return Err(format!(
                        "conflicting environment variable {:?} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)",
                        env.to_string_lossy()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A comma-separated list where empty means `*` (any).
fn any_list(s: &str) -> Vec<String> {
    let v: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    if v.is_empty() {
        vec!["*".into()]
    } else {
        v
    }
}

/// The first line of clap's error, without its `error: ` prefix.
fn clap_line(e: &clap::Error) -> String {
    let s = e.to_string();
    let line = s.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// oxcd's command line: its flags and etcd's others (`compat.rs`).
pub fn command() -> clap::Command {
    compat::with_args(Flags::command())
}

/// Go's flag package takes `-name` as well as `--name`: accept both.
pub fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.enumerate()
        .map(|(i, a)| {
            if i > 0 && a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
                format!("-{a}")
            } else {
                a
            }
        })
        .collect()
}

impl Config {
    /// Sets the initial members from an `--initial-cluster` value (found
    /// through DNS SRV records), with the checks the flag gets.
    pub fn set_initial_cluster(&mut self, ic: &str) -> Result<(), String> {
        let boot = bootstrap_members(
            &self.name,
            ic,
            &self.initial_cluster_token,
            &self.advertise_peer_urls,
        )?;
        self.initial_members = boot.members;
        self.member_id = boot.member_id;
        self.cluster_id = boot.cluster_id;
        self.bootstrap_error = boot.error;
        Ok(())
    }

    /// Parses and validates; clap's own errors (and `--help`) come back as
    /// `Err(Ok(clap::Error))`, configuration errors as `Err(Err(message))`.
    pub fn from_args(args: Vec<String>) -> Result<Config, Result<clap::Error, String>> {
        // the command line is parsed (and refused) even when a config file
        // then replaces it, as etcd
        let m = command().try_get_matches_from(args).map_err(Ok)?;
        let f = Flags::from_arg_matches(&m).map_err(Ok)?;
        let Some(path) = f.config_file else {
            check_env_conflicts(&m).map_err(Err)?;
            return Config::from_flags(f, &m).map_err(Err);
        };
        let args = file::args(&path).map_err(Err)?;
        // the file's values alone: no ETCD_* variable fills a gap
        let m = command()
            .mut_args(|a| a.env(None))
            .try_get_matches_from(args)
            .map_err(|e| Err(clap_line(&e)))?;
        let f = Flags::from_arg_matches(&m).map_err(|e| Err(e.to_string()))?;
        let mut cfg = Config::from_flags(f, &m).map_err(Err)?;
        cfg.config_file = Some(path);
        Ok(cfg)
    }

    fn from_flags(f: Flags, m: &ArgMatches) -> Result<Config, String> {
        let log = logging::log_config(&f)?;
        let duration = |flag: &str, v: &str| {
            crate::auth::token::parse_go_duration(v)
                .map(|d| (!d.is_zero()).then_some(d))
                .ok_or_else(|| format!("invalid value {v:?} for flag -{flag}: parse error"))
        };
        let grpc_keepalive_interval =
            duration("grpc-keepalive-interval", &f.grpc_keepalive_interval)?;
        let grpc_keepalive_timeout = duration("grpc-keepalive-timeout", &f.grpc_keepalive_timeout)?;
        let cors = any_list(&f.cors);
        for c in cors.iter().filter(|c| *c != "*") {
            // etcd's check: a URL with a host (a default port may be left out)
            let u = url::Url::parse(c)
                .map_err(|e| format!("invalid value {c:?} for flag -cors: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(format!(
                    "invalid value {c:?} for flag -cors: URL scheme must be http, https, unix, or unixs: {c}"
                ));
            }
        }
        let host_whitelist = any_list(&f.host_whitelist);
        let corrupt_check_time = duration(
            "experimental-corrupt-check-time",
            &f.experimental_corrupt_check_time,
        )?;
        let warning_apply_duration =
            crate::auth::token::parse_go_duration(&f.experimental_warning_apply_duration)
                .ok_or_else(|| {
                    format!(
                "invalid value {:?} for flag -experimental-warning-apply-duration: parse error",
                f.experimental_warning_apply_duration
            )
                })?;
        let warnings = compat::check(m)?;
        if f.initial_cluster_state != "new" && f.initial_cluster_state != "existing" {
            return Err(format!(
                "invalid value {:?} for flag -initial-cluster-state: valid values are \"new\", \"existing\"",
                f.initial_cluster_state
            ));
        }
        if m.value_source("listen_client_urls") != Some(ValueSource::DefaultValue)
            && m.value_source("advertise_client_urls") == Some(ValueSource::DefaultValue)
        {
            return Err(
                "--advertise-client-urls is required when --listen-client-urls is set explicitly"
                    .into(),
            );
        }
        let listen_client_urls = parse_urls("listen-client-urls", &f.listen_client_urls)?;
        let advertise_client_urls: Vec<String> =
            parse_urls("advertise-client-urls", &f.advertise_client_urls)?
                .iter()
                .map(url_string)
                .collect();
        let listen_peer_urls = parse_urls("listen-peer-urls", &f.listen_peer_urls)?;
        let listen_metrics_urls = if f.listen_metrics_urls.trim().is_empty() {
            Vec::new()
        } else {
            parse_urls("listen-metrics-urls", &f.listen_metrics_urls)?
        };
        if f.metrics != "basic" && f.metrics != "extensive" {
            return Err(format!(
                "unknown metrics {:?} (expected \"basic\" or \"extensive\")",
                f.metrics
            ));
        }
        let mut adv_peer: Vec<String> = parse_urls(
            "initial-advertise-peer-urls",
            &f.initial_advertise_peer_urls,
        )?
        .iter()
        .map(url_string)
        .collect();
        adv_peer.sort();
        // etcd treats its own default value like an unset flag
        let given = f
            .initial_cluster
            .clone()
            .filter(|c| c != "default=http://localhost:2380");
        let ic = given.clone().unwrap_or_else(|| {
            adv_peer
                .iter()
                .map(|u| format!("{}={u}", f.name))
                .collect::<Vec<_>>()
                .join(",")
        });
        let discovery_srv = (!f.discovery_srv.is_empty())
            .then(|| (f.discovery_srv.clone(), f.discovery_srv_name.clone()));
        if discovery_srv.is_some() && given.is_some() {
            return Err("multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\"".into());
        }
        // with --discovery-srv the members are known once DNS answers
        // (`crate::discovery`); until then, this member alone
        let boot = bootstrap_members(&f.name, &ic, &f.initial_cluster_token, &adv_peer)?;
        if f.heartbeat_interval == 0 || f.election_timeout == 0 {
            return Err("--heartbeat-interval and --election-timeout must be positive".into());
        }
        if f.election_timeout < 5 * f.heartbeat_interval {
            return Err(format!(
                "--election-timeout[{}ms] should be at least as 5 times as --heartbeat-interval[{}ms]",
                f.election_timeout, f.heartbeat_interval
            ));
        }
        if f.election_timeout > 50_000 {
            return Err(format!(
                "--election-timeout[{}ms] is too long, and should be set less than 50000ms",
                f.election_timeout
            ));
        }
        if f.snapshot_count == 0 {
            return Err("--snapshot-count must be positive".into());
        }
        if f.quota_backend_bytes < 0 {
            return Err("--quota-backend-bytes must not be negative".into());
        }
        let (client_tls, peer_tls, auto_tls, peer_auto_tls) =
            tls_sides(&f, &listen_client_urls, &listen_peer_urls)?;
        if !(4..=31).contains(&f.bcrypt_cost) {
            return Err(format!(
                "invalid bcrypt-cost: {} (must be between 4 and 31)",
                f.bcrypt_cost
            ));
        }
        let auth_token = TokenConfig::parse(&f.auth_token, f.auth_token_ttl)?;
        let auto_compaction =
            AutoCompaction::parse(&f.auto_compaction_mode, &f.auto_compaction_retention)?;
        Ok(Config {
            data_dir: f
                .data_dir
                .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", f.name))),
            wal_dir: f.wal_dir,
            listen_client_urls,
            advertise_client_urls,
            listen_peer_urls,
            listen_metrics_urls,
            member_id: boot.member_id,
            bootstrap_error: boot.error,
            cluster_id: boot.cluster_id,
            initial_members: boot.members,
            initial_cluster_token: f.initial_cluster_token.clone(),
            advertise_peer_urls: adv_peer,
            discovery_srv,
            quota_backend_bytes: if f.quota_backend_bytes == 0 {
                DEFAULT_QUOTA
            } else {
                f.quota_backend_bytes as u64
            },
            max_request_bytes: f.max_request_bytes as usize,
            max_txn_ops: f.max_txn_ops as usize,
            max_wals: f.max_wals as usize,
            max_snapshots: f.max_snapshots as usize,
            join_existing: f.initial_cluster_state == "existing",
            snapshot_count: f.snapshot_count,
            snapshot_catchup_entries: f.experimental_snapshot_catchup_entries,
            heartbeat_ms: f.heartbeat_interval,
            election_ms: f.election_timeout,
            client_tls,
            peer_tls,
            auto_tls,
            peer_auto_tls,
            self_signed_cert_validity: f.self_signed_cert_validity,
            auth_token,
            log,
            config_file: None,
            force_new_cluster: f.force_new_cluster == Some(true),
            grpc_keepalive_interval,
            grpc_keepalive_timeout,
            initial_corrupt_check: f.experimental_initial_corrupt_check == Some(true),
            cors,
            host_whitelist,
            pre_vote: f.pre_vote,
            strict_reconfig_check: f.strict_reconfig_check,
            initial_election_tick_advance: f.initial_election_tick_advance,
            watch_progress_notify_interval: duration(
                "experimental-watch-progress-notify-interval",
                &f.experimental_watch_progress_notify_interval,
            )?,
            backend_batch_interval: duration("backend-batch-interval", &f.backend_batch_interval)?,
            backend_batch_limit: (f.backend_batch_limit > 0).then_some(f.backend_batch_limit),
            unsafe_no_fsync: f.unsafe_no_fsync,
            socket_reuse: (f.socket_reuse_address, f.socket_reuse_port),
            corrupt_check_time,
            warning_apply_duration,
            warnings,
            auto_compaction,
            bcrypt_cost: f.bcrypt_cost,
            name: f.name,
        })
    }
}

#[cfg(test)]
mod tests;
