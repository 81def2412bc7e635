//! Prometheus metrics with etcd's names, labels, help texts and histogram
//! buckets, for the dashboards and alerts written for etcd. One process is
//! one member, so they live in the process's default registry, as etcd's
//! do. Counters and histograms are updated where things happen; the gauges
//! that describe the member's state are set when `/metrics` is scraped.

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, TextEncoder,
};
use std::sync::LazyLock;

pub struct Metrics {
    pub has_leader: IntGauge,
    pub is_leader: IntGauge,
    pub is_learner: IntGauge,
    pub leader_changes: IntCounter,
    pub server_id: IntGaugeVec,
    pub server_version: IntGaugeVec,
    pub cluster_version: IntGaugeVec,
    pub quota_backend_bytes: IntGauge,
    pub proposals_committed: IntGauge,
    pub proposals_applied: IntGauge,
    pub proposals_pending: IntGauge,
    pub proposals_failed: IntCounter,
    pub db_total_size: IntGauge,
    pub db_total_size_in_use: IntGauge,
    pub keys_total: IntGauge,
    pub put_total: IntCounter,
    pub delete_total: IntCounter,
    pub range_total: IntCounter,
    pub txn_total: IntCounter,
    pub wal_fsync: Histogram,
    pub backend_commit: Histogram,
    pub slow_apply: IntCounter,
    pub heartbeat_send_failures: IntCounter,
    /// by peer (`To`, the member ID in hex)
    pub peer_sent_failures: IntCounterVec,
    pub peer_rtt: HistogramVec,
}

/// The `To` label of the peer metrics: a member ID as etcd prints it.
pub fn peer_label(id: u64) -> String {
    format!("{id:x}")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid metric name");
    let _ = prometheus::register(Box::new(g.clone()));
    g
}

fn gauge_vec(name: &str, help: &str, label: &str) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("a valid metric name");
    let _ = prometheus::register(Box::new(g.clone()));
    g
}

fn counter_vec(name: &str, help: &str, label: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric name");
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

fn counter(name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid metric name");
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

/// etcd's disk histograms: 1 ms doubling up to about 8 s.
fn disk_histogram(name: &str, help: &str) -> Histogram {
    let buckets = exponential_buckets(0.001, 2.0, 14).expect("valid buckets");
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("a valid metric name");
    let _ = prometheus::register(Box::new(h.clone()));
    h
}

pub static M: LazyLock<Metrics> = LazyLock::new(|| {
    let _ = prometheus::register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ));
    Metrics {
        has_leader: gauge(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
        ),
        is_leader: gauge(
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        ),
        is_learner: gauge(
            "etcd_server_is_learner",
            "Whether or not this member is a learner. 1 if is, 0 otherwise.",
        ),
        leader_changes: counter(
            "etcd_server_leader_changes_seen_total",
            "The number of leader changes seen.",
        ),
        server_id: gauge_vec(
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "server_id",
        ),
        server_version: gauge_vec(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "server_version",
        ),
        cluster_version: gauge_vec(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "cluster_version",
        ),
        quota_backend_bytes: gauge(
            "etcd_server_quota_backend_bytes",
            "Current backend storage quota size in bytes.",
        ),
        proposals_committed: gauge(
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
        ),
        proposals_applied: gauge(
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
        ),
        proposals_pending: gauge(
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
        ),
        proposals_failed: counter(
            "etcd_server_proposals_failed_total",
            "The total number of failed proposals seen.",
        ),
        db_total_size: gauge(
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the underlying database physically allocated in bytes.",
        ),
        db_total_size_in_use: gauge(
            "etcd_mvcc_db_total_size_in_use_in_bytes",
            "Total size of the underlying database logically in use in bytes.",
        ),
        keys_total: gauge(
            "etcd_debugging_mvcc_keys_total",
            "Total number of keys.",
        ),
        put_total: counter("etcd_mvcc_put_total", "Total number of puts seen by this member."),
        delete_total: counter(
            "etcd_mvcc_delete_total",
            "Total number of deletes seen by this member.",
        ),
        range_total: counter(
            "etcd_mvcc_range_total",
            "Total number of ranges seen by this member.",
        ),
        txn_total: counter("etcd_mvcc_txn_total", "Total number of txns seen by this member."),
        wal_fsync: disk_histogram(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
        ),
        backend_commit: disk_histogram(
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend.",
        ),
        slow_apply: counter(
            "etcd_server_slow_apply_total",
            "The total number of slow apply requests (likely overloaded from slow disk).",
        ),
        heartbeat_send_failures: counter(
            "etcd_server_heartbeat_send_failures_total",
            "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
        ),
        peer_sent_failures: counter_vec(
            "etcd_network_peer_sent_failures_total",
            "The total number of send failures from peers.",
            "To",
        ),
        peer_rtt: {
            // etcd's: 0.1 ms doubling, 16 buckets
            let buckets = exponential_buckets(0.0001, 2.0, 16).expect("valid buckets");
            let h = HistogramVec::new(
                HistogramOpts::new(
                    "etcd_network_peer_round_trip_time_seconds",
                    "Round-Trip-Time histogram between peers",
                )
                .buckets(buckets),
                &["To"],
            )
            .expect("a valid metric name");
            let _ = prometheus::register(Box::new(h.clone()));
            h
        },
    }
});

/// Everything registered, in Prometheus' text format.
pub fn render() -> Result<String, String> {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&prometheus::gather(), &mut buf)
        .map_err(|e| e.to_string())?;
    String::from_utf8(buf).map_err(|e| e.to_string())
}
