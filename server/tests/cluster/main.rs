//! Multi-member integration tests: every scenario
//! runs against a 3-member cluster of real etcd 3.5.1 (`etcd_<scenario>`,
//! proving the expectations) and of oxcd (`oxcd_<scenario>`, the same
//! expectations). The cluster harness is `harness.rs` (over `testkit`);
//! the scenarios: `basic.rs` (writes and reads on every member, leader
//! transfer), `failover.rs`, `membership.rs`, `bootstrap.rs`, `leases.rs`,
//! `watch.rs`, `member_update.rs`, `maintenance.rs`, `logs.rs`, `health.rs`, `leaderless.rs`, `strict.rs`, `force.rs`, and `corrupt.rs` and `diskfull.rs` (oxcd only) (`rpc.rs`: their
//! gRPC helpers). `faults.rs` runs the recorded workload of `workload.rs`
//! under each fault kind through the checkers (short tier: one run each,
//! below; long tier: `longtier.rs`, ignored unless asked for).
//!
//! The tests take one global lock, so clusters never run in parallel (on a
//! 2-core machine parallel clusters cause spurious elections). Without real
//! etcd installed, the `etcd_` tests print SKIPPED and pass, unless `CI` is
//! set, where they fail.

mod basic;
mod bootstrap;
mod corrupt;
mod diskfull;
mod failover;
mod faults;
mod force;
mod harness;
mod health;
mod leader_change;
mod leaderless;
mod leases;
mod logs;
mod longtier;
mod maintenance;
mod member_update;
mod membership;
mod rpc;
mod strict;
mod watch;
mod workload;

use harness::Kind;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on one scenario, start to teardown.
const SCENARIO_LIMIT: Duration = Duration::from_secs(300);

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs one scenario on its own runtime, serialised with every other test of
/// this binary.
fn run<F, Fut>(kind: Kind, name: &str, scenario: F)
where
    F: FnOnce(Kind) -> Fut,
    Fut: Future<Output = ()>,
{
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !kind.available(name) {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    rt.block_on(async {
        let mut fut = Box::pin(tokio::time::timeout(SCENARIO_LIMIT, scenario(kind)));
        if (&mut fut).await.is_err() {
            // Panics with the cluster still alive, so its logs are printed.
            panic!("{name} exceeded {SCENARIO_LIMIT:?}");
        }
    });
    eprintln!("{name}: passed in {:.1?}", started.elapsed());
}

macro_rules! scenario {
    ($etcd:ident, $oxcd:ident, $f:path) => {
        #[test]
        fn $etcd() {
            run(Kind::Etcd, stringify!($etcd), $f);
        }
        #[test]
        fn $oxcd() {
            run(Kind::Oxcd, stringify!($oxcd), $f);
        }
    };
}

scenario!(
    etcd_write_anywhere_read_everywhere,
    oxcd_write_anywhere_read_everywhere,
    basic::write_anywhere_read_everywhere
);
scenario!(
    etcd_kill_leader_under_puts,
    oxcd_kill_leader_under_puts,
    failover::kill_leader_under_puts
);
scenario!(
    etcd_catch_up_by_snapshot,
    oxcd_catch_up_by_snapshot,
    failover::catch_up_by_snapshot
);
scenario!(
    etcd_add_learner_and_promote,
    oxcd_add_learner_and_promote,
    membership::add_learner_and_promote
);
scenario!(
    etcd_member_remove,
    oxcd_member_remove,
    membership::member_remove
);
scenario!(
    etcd_move_leader,
    oxcd_move_leader,
    basic::move_leader_scenario
);
scenario!(
    etcd_other_token_refused,
    oxcd_other_token_refused,
    bootstrap::other_token_refused
);
scenario!(
    etcd_misconfiguration_rejected,
    oxcd_misconfiguration_rejected,
    bootstrap::misconfiguration_rejected
);
scenario!(
    etcd_lease_via_followers,
    oxcd_lease_via_followers,
    leases::lease_via_followers
);
scenario!(
    etcd_lease_survives_leader_change,
    oxcd_lease_survives_leader_change,
    leases::lease_survives_leader_change
);
scenario!(
    etcd_watch_on_follower,
    oxcd_watch_on_follower,
    watch::watch_on_follower
);
scenario!(
    etcd_member_update,
    oxcd_member_update,
    member_update::member_update_scenario
);
scenario!(
    etcd_defrag_and_status,
    oxcd_defrag_and_status,
    maintenance::defrag_and_status
);
scenario!(
    etcd_logs_after_leader_kill,
    oxcd_logs_after_leader_kill,
    logs::logs_after_leader_kill
);
scenario!(
    etcd_force_new_cluster,
    oxcd_force_new_cluster,
    force::force_new_cluster
);
scenario!(
    etcd_health_without_quorum,
    oxcd_health_without_quorum,
    health::health_without_quorum
);
scenario!(
    etcd_strict_reconfig_check,
    oxcd_strict_reconfig_check,
    strict::strict_reconfig_check
);
scenario!(
    etcd_leaderless_member,
    oxcd_leaderless_member,
    leaderless::leaderless_member
);
scenario!(
    etcd_restart_without_quorum,
    oxcd_restart_without_quorum,
    leaderless::restart_without_quorum
);
#[test]
fn etcd_disk_full_exits() {
    run(
        Kind::Etcd,
        "etcd_disk_full_exits",
        diskfull::disk_full_exits,
    );
}
#[test]
fn oxcd_disk_full_stays_up() {
    run(
        Kind::Oxcd,
        "oxcd_disk_full_stays_up",
        diskfull::disk_full_stays_up,
    );
}
#[test]
fn oxcd_corrupt_follower_is_found() {
    run(
        Kind::Oxcd,
        "oxcd_corrupt_follower_is_found",
        corrupt::corrupt_follower_is_found,
    );
}

scenario!(
    etcd_fault_kill_leader,
    oxcd_fault_kill_leader,
    faults::kill_leader
);
scenario!(
    etcd_fault_kill_follower,
    oxcd_fault_kill_follower,
    faults::kill_follower
);
scenario!(
    etcd_fault_pause_leader,
    oxcd_fault_pause_leader,
    faults::pause_leader
);
scenario!(
    etcd_fault_pause_follower,
    oxcd_fault_pause_follower,
    faults::pause_follower
);
scenario!(
    etcd_fault_isolate_leader,
    oxcd_fault_isolate_leader,
    faults::isolate_leader
);
scenario!(
    etcd_fault_isolate_follower,
    oxcd_fault_isolate_follower,
    faults::isolate_follower
);
scenario!(
    etcd_fault_leader_one_way,
    oxcd_fault_leader_one_way,
    faults::leader_one_way
);
scenario!(etcd_fault_delay, oxcd_fault_delay, faults::delay);
scenario!(etcd_fault_lossy, oxcd_fault_lossy, faults::lossy);

/// The long tier (`scripts/robustness.sh`): many runs of every fault kind.
#[test]
#[ignore]
fn robustness_long() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    longtier::robustness_long();
}
scenario!(
    etcd_leader_changed_mid_request,
    oxcd_leader_changed_mid_request,
    leader_change::leader_changed_mid_request
);
