//! The Maintenance service: status, alarms, leader moves on one member.

use super::Api;
use crate::apply::{Applied, Op};
use crate::auth::AuthHeader;
use crate::error::EtcdError;
use oxcd_proto::etcdserverpb::downgrade_request::DowngradeAction;
use oxcd_proto::etcdserverpb::maintenance_server::Maintenance;
use oxcd_proto::etcdserverpb::*;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The etcd release whose API and behaviour oxcd answers for.
pub const ETCD_VERSION: &str = "3.5.1";
/// Snapshot stream chunk size (etcd sends 32 KiB pieces).
const SNAPSHOT_CHUNK: usize = 32 * 1024;

#[tonic::async_trait]
impl Maintenance for Api {
    async fn alarm(&self, req: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        // listing is open to anyone (as etcd); raising or disarming an
        // alarm is for admins (etcd does not check: oxcd is stricter)
        let get = req.get_ref().action() == alarm_request::AlarmAction::Get;
        let sender = if get {
            AuthHeader::default()
        } else {
            self.admin(&req)?
        };
        let r = req.into_inner();
        let mut resp = if r.action() == alarm_request::AlarmAction::Get {
            let st = self
                .srv
                .state
                .read()
                .map_err(|_| Status::internal("state lock poisoned"))?;
            AlarmResponse {
                header: None,
                alarms: st
                    .alarms
                    .iter()
                    .map(|&(member_id, alarm)| AlarmMember { member_id, alarm })
                    .collect(),
            }
        } else {
            match self.srv.propose_by(Op::Alarm(r), sender).await? {
                Applied::Alarm(a) => a,
                other => {
                    return Err(Status::internal(format!(
                        "unexpected apply result {other:?}"
                    )))
                }
            }
        };
        resp.header = Some(self.srv.header(self.srv.current_rev()));
        Ok(Response::new(resp))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let srv = &self.srv;
        let db = srv.db_size() as i64;
        // etcd lists a missing leader first, then the alarms
        let no_leader = (srv.leader() == 0).then(|| EtcdError::NoLeader.to_string());
        let alarms: Vec<String> = srv
            .state
            .read()
            .map(|s| {
                s.alarms
                    .iter()
                    .map(|&(m, a)| {
                        let name = AlarmType::try_from(a)
                            .map(|t| t.as_str_name())
                            .unwrap_or("NONE");
                        format!("memberID:{m} alarm:{name} ")
                    })
                    .collect()
            })
            .unwrap_or_default();
        let errors = no_leader.into_iter().chain(alarms).collect();
        Ok(Response::new(StatusResponse {
            header: Some(srv.header(srv.current_rev())),
            version: ETCD_VERSION.to_string(),
            db_size: db,
            leader: srv.leader(),
            raft_index: srv.raft_index(),
            raft_term: srv.term(),
            raft_applied_index: srv.applied_index(),
            errors,
            db_size_in_use: srv.db_in_use() as i64,
            is_learner: srv.is_learner(),
        }))
    }

    async fn defragment(
        &self,
        req: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.maintenance_admin(&req)?;
        self.srv.defragment().await?;
        // etcd's answer carries no header
        Ok(Response::new(DefragmentResponse { header: None }))
    }

    async fn hash(&self, req: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.maintenance_admin(&req)?;
        let (hash, current) = self.srv.read(|st, kv| st.store.hash_all(kv))?;
        Ok(Response::new(HashResponse {
            header: Some(self.srv.header(current)),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        req: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        self.maintenance_admin(&req)?;
        let rev = req.into_inner().revision;
        let (hash, current, compact_revision) =
            self.srv.read(|st, kv| st.store.hash_kv(kv, rev))?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.srv.header(current)),
            hash,
            compact_revision,
        }))
    }

    type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

    async fn snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.maintenance_admin(&req)?;
        let srv = self.srv.clone();
        let mut file = tokio::task::spawn_blocking(move || srv.export_database())
            .await
            .map_err(|e| Status::internal(format!("snapshot task: {e}")))??;
        // the database goes in chunks counting down to 0, then etcd's
        // SHA-256 trailer alone, and no message carries a header — as etcd
        // 3.5 sends it; the trailer is hashed here as the chunks are read
        // (not by reading the file back before the first chunk can go)
        let total = file
            .metadata()
            .map_err(|e| Status::internal(format!("snapshot file: {e}")))?
            .len();
        // read the file in chunks on a blocking thread, a few chunks ahead
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
            let mut sent = 0u64;
            while sent < total {
                let want = (total - sent).min(SNAPSHOT_CHUNK as u64);
                let mut buf = vec![0u8; want as usize];
                if let Err(e) = file.read_exact(&mut buf) {
                    let _ = tx.blocking_send(Err(Status::internal(format!("snapshot read: {e}"))));
                    return;
                }
                sha.update(&buf);
                sent += want;
                let chunk = SnapshotResponse {
                    header: None,
                    remaining_bytes: total - sent,
                    blob: buf,
                };
                if tx.blocking_send(Ok(chunk)).is_err() {
                    return;
                }
            }
            let trailer = SnapshotResponse {
                header: None,
                remaining_bytes: 0,
                blob: sha.finish().as_ref().to_vec(),
            };
            let _ = tx.blocking_send(Ok(trailer));
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn move_leader(
        &self,
        req: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let target = req.get_ref().target_id;
        let srv = &self.srv;
        if !srv.is_leader() {
            return Err(EtcdError::NotLeader.into());
        }
        let voter = srv
            .members_sorted()
            .iter()
            .any(|m| m.id == target && !m.is_learner);
        if !voter {
            return Err(EtcdError::BadLeaderTransferee.into());
        }
        if target != srv.member_id {
            // as etcd, the checks above come first and a move to the
            // leader itself is a no-op for anyone; a real move is for
            // admins (etcd does not check: oxcd is stricter)
            self.maintenance_admin(&req)?;
            srv.transfer_leader(target)?;
            // etcd waits for the transfer, up to its request timeout
            let deadline = tokio::time::Instant::now() + crate::shared::request_timeout(&srv.cfg);
            while srv.leader() != target {
                if tokio::time::Instant::now() >= deadline {
                    return Err(EtcdError::TransferTimeout.into());
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        // etcd answers a leader move with an empty response (no header)
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    /// etcd's answers to VALIDATE (the one target allowed is 3.4) and
    /// CANCEL (there is never a downgrade in flight). ENABLE is refused
    /// after the same checks: oxcd cannot run at 3.4's version.
    async fn downgrade(
        &self,
        req: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        self.sender(&req)?;
        let r = req.into_inner();
        match DowngradeAction::try_from(r.action) {
            Ok(DowngradeAction::Cancel) => Err(EtcdError::NoInflightDowngrade.into()),
            Ok(action) => {
                let (major, minor) =
                    semver_minor(&r.version).ok_or(EtcdError::WrongDowngradeVersionFormat)?;
                if !self.srv.sole_voter() {
                    self.srv.linearize().await?;
                }
                if (major, minor) != (3, 4) {
                    return Err(EtcdError::InvalidDowngradeTarget.into());
                }
                if action == DowngradeAction::Enable {
                    return Err(EtcdError::Unsupported("downgrade").into());
                }
                Ok(Response::new(DowngradeResponse {
                    header: Some(self.srv.header(self.srv.current_rev())),
                    version: "3.5.0".into(),
                }))
            }
            Err(_) => Err(EtcdError::BadRequest("unknown method".into()).into()),
        }
    }
}

/// The major and minor of a version `X.Y[.Z][-pre][+build]`, as etcd
/// reads a downgrade target.
fn semver_minor(v: &str) -> Option<(u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let parts: Vec<&str> = core.split('.').collect();
    let num = |p: &str| {
        let ok = !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        ok.then(|| p.parse::<u64>().ok()).flatten()
    };
    // etcd takes `3.4` as well as `3.4.0`
    match parts.as_slice() {
        [a, b, c] => {
            num(c)?;
            Some((num(a)?, num(b)?))
        }
        [a, b] => Some((num(a)?, num(b)?)),
        _ => None,
    }
}

#[cfg(test)]
mod downgrade_tests {
    use super::semver_minor;

    #[test]
    fn targets_parse_as_semver() {
        assert_eq!(semver_minor("3.4.0"), Some((3, 4)));
        assert_eq!(semver_minor("3.4.7-rc.1"), Some((3, 4)));
        assert_eq!(semver_minor("3.4"), Some((3, 4)));
        assert_eq!(semver_minor("3"), None);
        assert_eq!(semver_minor("abc"), None);
        assert_eq!(semver_minor("03.4.0"), None);
    }
}
