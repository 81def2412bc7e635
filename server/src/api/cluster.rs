//! The Cluster service: membership changes go through raft as conf
//! changes (one at a time), with etcd's safety checks; a follower hands
//! a promotion to the leader, which alone knows how far a learner is.

use super::Api;
use crate::apply::{Applied, Op};
use crate::error::EtcdError;
use oxcd_proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd_proto::etcdserverpb::cluster_server::Cluster;
use oxcd_proto::etcdserverpb::*;
use raft::eraftpb::{ConfChange, ConfChangeType};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::{Request, Response, Status};

/// etcd allows one learner at a time.
const MAX_LEARNERS: usize = 1;
/// A learner may be promoted once it has 90 % of the leader's log.
const LEARNER_READY: f64 = 0.9;
/// etcd's HealthInterval: how long every voter must have been connected
/// before the membership may change.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

fn voters(ms: &[Member]) -> Vec<&Member> {
    ms.iter().filter(|m| !m.is_learner).collect()
}

/// A member that has published its attributes has started.
fn started(m: &Member) -> bool {
    !m.name.is_empty()
}

/// etcd's strict reconfiguration checks (`mayAddMember`): a new voter
/// must not make the started members a minority, and every voter must
/// have been connected for a while.
fn may_add(srv: &crate::node::Server, ms: &[Member], learner: bool) -> Result<(), EtcdError> {
    let v = voters(ms);
    if !learner {
        let nstarted = v.iter().filter(|m| started(m)).count();
        // the voters after the addition, and their majority
        let after = v.len() + 1;
        let quorum = after / 2 + 1;
        // a lone started member may take a second (etcd's exception)
        if !(nstarted == 1 && after == 2) && nstarted < quorum {
            return Err(EtcdError::NotEnoughStarted);
        }
    }
    let ids: Vec<u64> = v.iter().map(|m| m.id).collect();
    if srv.connected_since(&ids, HEALTH_INTERVAL) < ids.len() {
        return Err(EtcdError::Unhealthy);
    }
    Ok(())
}

/// etcd's `mayRemoveMember`: removing a voter must leave a started
/// quorum, and an active quorum unless the member is down anyway.
fn may_remove(srv: &crate::node::Server, ms: &[Member], id: u64) -> Result<(), EtcdError> {
    if ms.iter().any(|m| m.id == id && m.is_learner) {
        return Ok(());
    }
    let rest: Vec<&Member> = voters(ms).into_iter().filter(|m| m.id != id).collect();
    let nstarted = rest.iter().filter(|m| started(m)).count();
    if nstarted < rest.len() / 2 + 1 {
        return Err(EtcdError::NotEnoughStarted);
    }
    let down = id != srv.member_id && srv.connected_since(&[id], Duration::ZERO) == 0;
    if down {
        return Ok(());
    }
    let v: Vec<u64> = voters(ms).iter().map(|m| m.id).collect();
    let active = srv.connected_since(&v, HEALTH_INTERVAL);
    if active.saturating_sub(1) < 1 + (v.len() - 1) / 2 {
        return Err(EtcdError::Unhealthy);
    }
    Ok(())
}

fn members_of(a: Applied) -> Result<Vec<Member>, EtcdError> {
    match a {
        Applied::Members(ms) => Ok(ms),
        other => Err(EtcdError::Storage(format!(
            "unexpected apply result {other:?}"
        ))),
    }
}

/// The peer URLs of an add or update: etcd answers any it cannot parse
/// (or none at all) with `given member URLs are invalid`. (etcd 3.5
/// applies an update's URLs unchecked and can crash on them: oxcd checks
/// them for updates too.)
fn check_urls(urls: &[String]) -> Result<Vec<String>, EtcdError> {
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    etcd_format::member::parse_urls(&refs).map_err(|_| EtcdError::MemberBadUrls)
}

impl Api {
    async fn change(
        &self,
        ty: ConfChangeType,
        id: u64,
        ctx: Vec<u8>,
    ) -> Result<Vec<Member>, Status> {
        let mut cc = ConfChange::default();
        cc.set_change_type(ty);
        cc.node_id = id;
        cc.context = ctx.into();
        Ok(members_of(self.srv.conf_change(cc).await?)?)
    }

    /// A member by ID; a removed one is not found either (etcd's gRPC
    /// layer answers its `ID removed` as `member not found`).
    fn find(&self, id: u64) -> Result<Member, EtcdError> {
        self.srv
            .members_sorted()
            .into_iter()
            .find(|m| m.id == id)
            .ok_or(EtcdError::MemberNotFound)
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn member_add(
        &self,
        req: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        // membership changes are for admins (a member forwarding a
        // promotion checked its client already)
        if !self.peer {
            self.admin(&req)?;
        }
        let r = req.into_inner();
        let urls = check_urls(&r.peer_ur_ls)?;
        let members = self.srv.members_sorted();
        if members
            .iter()
            .any(|m| m.peer_ur_ls.iter().any(|u| urls.contains(u)))
        {
            return Err(EtcdError::PeerUrlExist.into());
        }
        if r.is_learner && members.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS {
            return Err(EtcdError::TooManyLearners.into());
        }
        if self.srv.cfg.strict_reconfig_check {
            may_add(&self.srv, &members, r.is_learner)?;
        }
        // etcd: the ID hashes the peer URLs with the time of the request
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let id = etcd_format::member::member_id(&urls, &now.to_string());
        if members.iter().any(|m| m.id == id) {
            return Err(EtcdError::MemberExist.into());
        }
        let member = Member {
            id,
            peer_ur_ls: r.peer_ur_ls.clone(),
            is_learner: r.is_learner,
            ..Default::default()
        };
        let ty = if r.is_learner {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::AddNode
        };
        let members = self
            .change(ty, id, prost::Message::encode_to_vec(&member))
            .await?;
        Ok(Response::new(MemberAddResponse {
            header: Some(self.srv.header(0)),
            member: Some(member),
            members,
        }))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        // membership changes are for admins (a member forwarding a
        // promotion checked its client already)
        if !self.peer {
            self.admin(&req)?;
        }
        let id = req.into_inner().id;
        self.find(id)?;
        if self.srv.cfg.strict_reconfig_check {
            // etcd 3.5.1 answers this refusal with code Unknown (seen
            // through its gateway), not its mapped FailedPrecondition
            may_remove(&self.srv, &self.srv.members_sorted(), id).map_err(|e| match e {
                EtcdError::NotEnoughStarted => Status::unknown(e.to_string()),
                other => other.into(),
            })?;
        }
        let members = self
            .change(ConfChangeType::RemoveNode, id, Vec::new())
            .await?;
        Ok(Response::new(MemberRemoveResponse {
            header: Some(self.srv.header(0)),
            members,
        }))
    }

    async fn member_update(
        &self,
        req: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        // membership changes are for admins (a member forwarding a
        // promotion checked its client already)
        if !self.peer {
            self.admin(&req)?;
        }
        let r = req.into_inner();
        if r.peer_ur_ls.is_empty() {
            return Err(EtcdError::BadRequest("member update needs peer URLs".into()).into());
        }
        let urls = check_urls(&r.peer_ur_ls)?;
        self.find(r.id)?;
        if self
            .srv
            .members_sorted()
            .iter()
            .any(|m| m.id != r.id && m.peer_ur_ls.iter().any(|u| urls.contains(u)))
        {
            return Err(EtcdError::PeerUrlExist.into());
        }
        let m = Member {
            id: r.id,
            peer_ur_ls: r.peer_ur_ls,
            ..Default::default()
        };
        let members = members_of(self.srv.propose(Op::MemberUpdate(m)).await?)?;
        Ok(Response::new(MemberUpdateResponse {
            header: Some(self.srv.header(0)),
            members,
        }))
    }

    async fn member_list(
        &self,
        req: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        if req.into_inner().linearizable {
            self.srv.linearize().await?;
        }
        // etcd leaves the revision out of membership answers
        Ok(Response::new(MemberListResponse {
            header: Some(self.srv.header(0)),
            members: self.srv.members_sorted(),
        }))
    }

    async fn member_promote(
        &self,
        req: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        // membership changes are for admins (a member forwarding a
        // promotion checked its client already)
        if !self.peer {
            self.admin(&req)?;
        }
        let r = req.into_inner();
        let m = self.find(r.id)?;
        if !m.is_learner {
            return Err(EtcdError::NotLearner.into());
        }
        if !self.srv.is_leader() {
            // only the leader knows how far the learner has come
            if self.peer {
                return Err(EtcdError::NotLeader.into());
            }
            return ClusterClient::new(self.srv.leader_channel()?)
                .member_promote(r)
                .await;
        }
        let progress = self
            .srv
            .progress
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let leader_match = progress
            .get(&self.srv.member_id)
            .copied()
            .unwrap_or_else(|| self.srv.raft_index());
        let learner_match = progress.get(&r.id).copied().unwrap_or(0);
        if (learner_match as f64) < (leader_match as f64) * LEARNER_READY {
            return Err(EtcdError::LearnerNotReady.into());
        }
        let members = self
            .change(ConfChangeType::AddNode, r.id, Vec::new())
            .await?;
        Ok(Response::new(MemberPromoteResponse {
            header: Some(self.srv.header(0)),
            members,
        }))
    }
}
