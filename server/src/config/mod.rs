//! oxcd's command line: etcd's flags, each also read from its `ETCD_*`
//! variable, validated the way etcd validates them, and the member and
//! cluster IDs derived exactly as etcd derives them.

mod compaction;
mod compat;
mod file;
pub mod help;
mod logging;
mod tls;
mod urls;

pub use compaction::AutoCompaction;

use crate::auth::TokenConfig;
use crate::tls::TlsInfo;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use std::path::PathBuf;
use tls::{go_bool, tls_sides};

#[derive(Debug, Parser)]
#[command(
    name = "oxcd",
    version,
    about = "An etcd-compatible key-value server (etcd v3 API)"
)]
pub struct Flags {
    /// Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.
    #[arg(long, env = "ETCD_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Human-readable name for this member.
    #[arg(long, env = "ETCD_NAME", default_value = "default")]
    pub name: String,
    /// Path to the data directory (default: ${name}.etcd).
    #[arg(long, env = "ETCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Path to the dedicated WAL directory.
    #[arg(long, env = "ETCD_WAL_DIR")]
    pub wal_dir: Option<PathBuf>,
    /// List of URLs to listen on for client traffic.
    #[arg(
        long,
        env = "ETCD_LISTEN_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub listen_client_urls: String,
    /// List of this member's client URLs to advertise to the public.
    #[arg(
        long,
        env = "ETCD_ADVERTISE_CLIENT_URLS",
        default_value = "http://localhost:2379"
    )]
    pub advertise_client_urls: String,
    /// List of URLs to listen on for peer traffic.
    #[arg(
        long,
        env = "ETCD_LISTEN_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub listen_peer_urls: String,
    /// List of URLs to listen on for the metrics and health endpoints.
    #[arg(long, env = "ETCD_LISTEN_METRICS_URLS", default_value = "")]
    pub listen_metrics_urls: String,
    /// Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics.
    #[arg(long, env = "ETCD_METRICS", default_value = "basic")]
    pub metrics: String,
    /// List of this member's peer URLs to advertise to the rest of the cluster.
    #[arg(
        long,
        env = "ETCD_INITIAL_ADVERTISE_PEER_URLS",
        default_value = "http://localhost:2380"
    )]
    pub initial_advertise_peer_urls: String,
    /// Initial cluster configuration for bootstrapping (name=url,...).
    #[arg(long, env = "ETCD_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,
    /// Initial cluster token for the cluster during bootstrap.
    #[arg(
        long,
        env = "ETCD_INITIAL_CLUSTER_TOKEN",
        default_value = "etcd-cluster"
    )]
    pub initial_cluster_token: String,
    /// Initial cluster state ('new' or 'existing').
    #[arg(long, env = "ETCD_INITIAL_CLUSTER_STATE", default_value = "new")]
    pub initial_cluster_state: String,
    /// Raise alarms when the backend size exceeds the given quota (0 defaults to 2 GiB).
    #[arg(long, env = "ETCD_QUOTA_BACKEND_BYTES", default_value_t = 0)]
    pub quota_backend_bytes: i64,
    /// Maximum client request size in bytes the server will accept.
    #[arg(long, env = "ETCD_MAX_REQUEST_BYTES", default_value_t = 1572864)]
    pub max_request_bytes: u32,
    /// Maximum number of operations permitted in a transaction.
    #[arg(long, env = "ETCD_MAX_TXN_OPS", default_value_t = 128)]
    pub max_txn_ops: u32,
    /// Number of committed transactions to trigger a snapshot to disk.
    #[arg(long, env = "ETCD_SNAPSHOT_COUNT", default_value_t = 10000)]
    pub snapshot_count: u64,
    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, env = "ETCD_HEARTBEAT_INTERVAL", default_value_t = 100)]
    pub heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to timeout.
    #[arg(long, env = "ETCD_ELECTION_TIMEOUT", default_value_t = 1000)]
    pub election_timeout: u64,
    /// Number of entries for a slow follower to catch-up after compacting the raft storage entries.
    #[arg(
        long,
        env = "ETCD_EXPERIMENTAL_SNAPSHOT_CATCHUP_ENTRIES",
        default_value_t = 5000
    )]
    pub experimental_snapshot_catchup_entries: u64,
    /// Maximum number of snapshot files to retain (0 is unlimited).
    #[arg(long, env = "ETCD_MAX_SNAPSHOTS", default_value_t = 5)]
    pub max_snapshots: u32,
    /// Maximum number of wal files to retain (0 is unlimited).
    #[arg(long, env = "ETCD_MAX_WALS", default_value_t = 5)]
    pub max_wals: u32,
    /// Path to the client server TLS cert file.
    #[arg(long, env = "ETCD_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// Path to the client server TLS key file.
    #[arg(long, env = "ETCD_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Path to the client server TLS trusted CA cert file.
    #[arg(long, env = "ETCD_TRUSTED_CA_FILE")]
    pub trusted_ca_file: Option<PathBuf>,
    /// Enable client cert authentication.
    #[arg(long, env = "ETCD_CLIENT_CERT_AUTH", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub client_cert_auth: Option<bool>,
    /// Path to the client certificate revocation list file.
    #[arg(long, env = "ETCD_CLIENT_CRL_FILE")]
    pub client_crl_file: Option<PathBuf>,
    /// Allowed TLS hostname for client cert authentication.
    #[arg(long, env = "ETCD_CLIENT_CERT_ALLOWED_HOSTNAME")]
    pub client_cert_allowed_hostname: Option<String>,
    /// Client TLS using generated certificates.
    #[arg(long, env = "ETCD_AUTO_TLS", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub auto_tls: Option<bool>,
    /// The validity period of the client and peer certificates that are automatically generated by etcd when you specify ClientAutoTLS and PeerAutoTLS, the unit is year, and the default is 1.
    #[arg(long, env = "ETCD_SELF_SIGNED_CERT_VALIDITY", default_value_t = 1)]
    pub self_signed_cert_validity: u32,
    /// Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).
    #[arg(long, env = "ETCD_CIPHER_SUITES", default_value = "")]
    pub cipher_suites: String,
    /// Path to the peer server TLS cert file.
    #[arg(long, env = "ETCD_PEER_CERT_FILE")]
    pub peer_cert_file: Option<PathBuf>,
    /// Path to the peer server TLS key file.
    #[arg(long, env = "ETCD_PEER_KEY_FILE")]
    pub peer_key_file: Option<PathBuf>,
    /// Path to the peer server TLS trusted CA file.
    #[arg(long, env = "ETCD_PEER_TRUSTED_CA_FILE")]
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// Enable peer client cert authentication.
    #[arg(long, env = "ETCD_PEER_CLIENT_CERT_AUTH", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub peer_client_cert_auth: Option<bool>,
    /// Peer TLS using generated certificates.
    #[arg(long, env = "ETCD_PEER_AUTO_TLS", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub peer_auto_tls: Option<bool>,
    /// Path to the peer certificate revocation list file.
    #[arg(long, env = "ETCD_PEER_CRL_FILE")]
    pub peer_crl_file: Option<PathBuf>,
    /// Allowed CN for inter peer authentication.
    #[arg(long, env = "ETCD_PEER_CERT_ALLOWED_CN")]
    pub peer_cert_allowed_cn: Option<String>,
    /// Allowed TLS hostname for inter peer authentication.
    #[arg(long, env = "ETCD_PEER_CERT_ALLOWED_HOSTNAME")]
    pub peer_cert_allowed_hostname: Option<String>,
    /// Skip verification of SAN field in client certificate for peer connections.
    #[arg(long, env = "ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub experimental_peer_skip_client_san_verification: Option<bool>,
    /// Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention.
    #[arg(long, env = "ETCD_AUTO_COMPACTION_MODE", default_value = "periodic")]
    pub auto_compaction_mode: String,
    /// Auto compaction retention for mvcc key value store. 0 means disable auto compaction.
    #[arg(long, env = "ETCD_AUTO_COMPACTION_RETENTION", default_value = "0")]
    pub auto_compaction_retention: String,
    /// Specify auth token specific options ('simple' or 'jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…').
    #[arg(long, env = "ETCD_AUTH_TOKEN", default_value = "simple")]
    pub auth_token: String,
    /// The lifetime in seconds of the auth token.
    #[arg(long, env = "ETCD_AUTH_TOKEN_TTL", default_value_t = 300)]
    pub auth_token_ttl: u64,
    /// Specify bcrypt algorithm cost factor for auth password hashing.
    #[arg(long, env = "ETCD_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,
    /// Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).
    #[arg(long, env = "ETCD_GRPC_KEEPALIVE_INTERVAL", default_value = "2h")]
    pub grpc_keepalive_interval: String,
    /// Additional duration of wait before closing a non-responsive connection (0 to disable).
    #[arg(long, env = "ETCD_GRPC_KEEPALIVE_TIMEOUT", default_value = "20s")]
    pub grpc_keepalive_timeout: String,
    /// Enable to check data corruption before serving any client/peer traffic.
    #[arg(long, env = "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub experimental_initial_corrupt_check: Option<bool>,
    /// Duration of time between cluster corruption check passes.
    #[arg(
        long,
        env = "ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME",
        default_value = "0s"
    )]
    pub experimental_corrupt_check_time: String,
    /// Comma-separated white list of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).
    #[arg(long, env = "ETCD_CORS", default_value = "*")]
    pub cors: String,
    /// Comma-separated acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all).
    #[arg(long, env = "ETCD_HOST_WHITELIST", default_value = "*")]
    pub host_whitelist: String,
    /// BackendBatchInterval is the maximum time before commit the backend transaction.
    #[arg(long, env = "ETCD_BACKEND_BATCH_INTERVAL", default_value = "0s")]
    pub backend_batch_interval: String,
    /// BackendBatchLimit is the maximum operations before commit the backend transaction.
    #[arg(long, env = "ETCD_BACKEND_BATCH_LIMIT", default_value_t = 0)]
    pub backend_batch_limit: u64,
    /// Duration of periodic watch progress notifications.
    #[arg(
        long,
        env = "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL",
        default_value = "10m"
    )]
    pub experimental_watch_progress_notify_interval: String,
    /// Whether to fast-forward initial election ticks on boot for faster election.
    #[arg(long, env = "ETCD_INITIAL_ELECTION_TICK_ADVANCE", require_equals = true, num_args = 0..=1, default_missing_value = "true", default_value = "true", value_parser = go_bool)]
    pub initial_election_tick_advance: bool,
    /// Reject reconfiguration requests that would cause quorum loss.
    #[arg(long, env = "ETCD_STRICT_RECONFIG_CHECK", require_equals = true, num_args = 0..=1, default_missing_value = "true", default_value = "true", value_parser = go_bool)]
    pub strict_reconfig_check: bool,
    /// Enable to run an additional Raft election phase.
    #[arg(long, env = "ETCD_PRE_VOTE", require_equals = true, num_args = 0..=1, default_missing_value = "true", default_value = "true", value_parser = go_bool)]
    pub pre_vote: bool,
    /// Disables fsync, unsafe, will cause data loss.
    #[arg(long, env = "ETCD_UNSAFE_NO_FSYNC", require_equals = true, num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub unsafe_no_fsync: bool,
    /// Enable to set socket option SO_REUSEPORT on listeners allowing rebinding of a port already in use.
    #[arg(long, env = "ETCD_SOCKET_REUSE_PORT", require_equals = true, num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub socket_reuse_port: bool,
    /// Enable to set socket option SO_REUSEADDR on listeners allowing binding to an address in TIME_WAIT state.
    #[arg(long, env = "ETCD_SOCKET_REUSE_ADDRESS", require_equals = true, num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub socket_reuse_address: bool,
    /// DNS domain used to bootstrap initial cluster.
    #[arg(long, env = "ETCD_DISCOVERY_SRV", default_value = "")]
    pub discovery_srv: String,
    /// Suffix to the dns srv name queried when bootstrapping.
    #[arg(long, env = "ETCD_DISCOVERY_SRV_NAME", default_value = "")]
    pub discovery_srv_name: String,
    /// Force to create a new one member cluster.
    #[arg(long, env = "ETCD_FORCE_NEW_CLUSTER", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub force_new_cluster: Option<bool>,
    /// Time duration after which a warning is generated if request takes more time.
    #[arg(
        long,
        env = "ETCD_EXPERIMENTAL_WARNING_APPLY_DURATION",
        default_value = "100ms"
    )]
    pub experimental_warning_apply_duration: String,
    /// Currently only supports 'zap' for structured logging.
    #[arg(long, env = "ETCD_LOGGER", default_value = "zap")]
    pub logger: String,
    /// Configures log level. Only supports debug, info, warn, error, panic, or fatal.
    #[arg(long, env = "ETCD_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets.
    #[arg(long, env = "ETCD_LOG_OUTPUTS", default_value = "default")]
    pub log_outputs: String,
    /// Enable log rotation of a single log-outputs file target.
    #[arg(long, env = "ETCD_ENABLE_LOG_ROTATION", require_equals = true, num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub enable_log_rotation: Option<bool>,
    /// Configures log rotation if enabled with a JSON logger config.
    #[arg(
        long,
        env = "ETCD_LOG_ROTATION_CONFIG_JSON",
        default_value = r#"{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}"#
    )]
    pub log_rotation_config_json: String,
}

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
