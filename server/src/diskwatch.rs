//! A full disk, handled before it is full: etcd 3.5 exits when a write to
//! its WAL or store fails for lack of space; oxcd watches the free space of
//! its data dir (and `--wal-dir`) and, below [`LOW_WATER`], raises this
//! member's NOSPACE alarm through raft, as a store over
//! `--quota-backend-bytes` does. Every member then refuses writes with
//! etcd's `etcdserver: mvcc: database space exceeded` (clients know it),
//! serves reads, and takes deletes and compactions. Once the free space is
//! back above [`HIGH_WATER`] the alarm this watcher raised is disarmed and
//! writes are taken again, without a restart. An alarm raised another way
//! (the quota, an operator) is left for the operator to disarm.
//!
//! The low-water mark leaves room for one more WAL segment (preallocated,
//! [`crate::wal::SEGMENT_BYTES`]) and the store's commits, so the member's
//! own writes never meet ENOSPC. Space taken by another process faster
//! than the watcher looks can still fail a write; the member then stops as
//! before, with everything it acknowledged in its WAL.

use crate::apply::Op;
use crate::node::Server;
use oxcd_proto::etcdserverpb::alarm_request::AlarmAction;
use oxcd_proto::etcdserverpb::{AlarmRequest, AlarmType};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Below this much free space the NOSPACE alarm is raised: a WAL segment
/// and 16 MiB for the store.
pub const LOW_WATER: u64 = crate::wal::SEGMENT_BYTES + (16 << 20);
/// At or above this much the alarm the watcher raised is disarmed.
pub const HIGH_WATER: u64 = LOW_WATER + (32 << 20);
/// How often the free space is read (one statvfs per directory).
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Bytes an unprivileged writer may still use on `path`'s filesystem.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid C string and a zeroed struct statvfs fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// What the watcher does after a reading.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Raise,
    Disarm,
    Nothing,
}

/// `free`: the least free space of the member's directories; `alarm_on`:
/// this member's NOSPACE alarm stands; `raised`: the watcher raised it.
fn decide(free: u64, alarm_on: bool, raised: bool) -> Step {
    if free < LOW_WATER && !alarm_on {
        Step::Raise
    } else if free >= HIGH_WATER && alarm_on && raised {
        Step::Disarm
    } else {
        Step::Nothing
    }
}

fn alarm_on(srv: &Server) -> bool {
    srv.state
        .read()
        .map(|s| {
            s.alarms
                .iter()
                .any(|(m, a)| *m == srv.member_id && *a == AlarmType::Nospace as i32)
        })
        .unwrap_or(false)
}

/// Runs until aborted.
pub async fn run(srv: Arc<Server>) {
    let mut dirs = vec![srv.cfg.data_dir.clone()];
    dirs.extend(srv.cfg.wal_dir.clone());
    let mut raised = false;
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(free) = dirs.iter().filter_map(|d| free_bytes(d).ok()).min() else {
            continue;
        };
        let on = alarm_on(&srv);
        if !on {
            // disarmed by an operator: raised again if still short
            raised = false;
        }
        let action = match decide(free, on, raised) {
            Step::Nothing => continue,
            Step::Raise => {
                tracing::warn!(
                    "free-bytes" = free,
                    "low-water-bytes" = LOW_WATER,
                    "disk space low: raising the NOSPACE alarm, writes are refused until space is freed"
                );
                AlarmAction::Activate
            }
            Step::Disarm => {
                tracing::info!(
                    "free-bytes" = free,
                    "disk space freed: disarming the NOSPACE alarm"
                );
                AlarmAction::Deactivate
            }
        };
        let req = AlarmRequest {
            action: action as i32,
            member_id: srv.member_id,
            alarm: AlarmType::Nospace as i32,
        };
        match srv.propose(Op::Alarm(req)).await {
            Ok(_) => raised = action == AlarmAction::Activate,
            Err(e) => tracing::warn!(error = %e, "failed to propose a NOSPACE alarm change"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_below_low_water_and_disarms_only_its_own_above_high_water() {
        assert_eq!(decide(LOW_WATER - 1, false, false), Step::Raise);
        assert_eq!(decide(LOW_WATER, false, false), Step::Nothing);
        // between the marks: nothing changes either way
        assert_eq!(decide(HIGH_WATER - 1, true, true), Step::Nothing);
        assert_eq!(decide(HIGH_WATER, true, true), Step::Disarm);
        // an alarm raised by the quota or an operator stays
        assert_eq!(decide(HIGH_WATER, true, false), Step::Nothing);
        assert_eq!(decide(LOW_WATER - 1, true, true), Step::Nothing);
    }

    #[test]
    fn free_bytes_reads_a_real_filesystem_and_refuses_a_bad_path() {
        let d = tempfile::tempdir().expect("temp dir");
        assert!(free_bytes(d.path()).expect("statvfs") > 0);
        assert!(free_bytes(&d.path().join("missing")).is_err());
    }
}
