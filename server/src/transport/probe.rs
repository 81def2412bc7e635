//! A prober per peer, as etcd's: every few seconds a small request (the
//! `Members` call) measures the round trip for
//! `etcd_network_peer_round_trip_time_seconds`, and a change between
//! answering and not answering is logged as the peer becoming active or
//! inactive.

use super::client::{ask_members, PeerCtx};
use std::time::{Duration, Instant};

/// etcd probes every 4 s (its connection read timeout less a second).
const INTERVAL: Duration = Duration::from_secs(4);
const TIMEOUT: Duration = Duration::from_secs(2);

/// Probes until the task is aborted; never returns otherwise.
pub(super) async fn run(ctx: &PeerCtx) {
    let label = crate::metrics::peer_label(ctx.to);
    let rtt = crate::metrics::M.peer_rtt.with_label_values(&[&label]);
    let mut active: Option<bool> = None;
    loop {
        let started = Instant::now();
        let answered = ask_members(
            &ctx.url,
            ctx.cluster_id,
            TIMEOUT,
            &ctx.host.shared.cfg.peer_tls,
        )
        .await;
        let now_active = match answered {
            Ok(_) => {
                rtt.observe(started.elapsed().as_secs_f64());
                true
            }
            Err(_) => false,
        };
        match (active, now_active) {
            (Some(true), true) | (Some(false) | None, false) => {}
            (_, true) => tracing::info!(
                "peer-id" = %crate::log::Id(ctx.to),
                "local-member-id" = %crate::log::Id(ctx.from),
                "peer became active"
            ),
            (Some(true), false) => tracing::warn!(
                "peer-id" = %crate::log::Id(ctx.to),
                "local-member-id" = %crate::log::Id(ctx.from),
                "peer became inactive (message send to peer failed)"
            ),
        }
        active = Some(now_active);
        tokio::time::sleep(INTERVAL).await;
    }
}
