//! The Cluster service. Membership changes arrive with raft replication;
//! a single member answers MemberList.

use super::Api;
use crate::error::EtcdError;
use oxcd_proto::etcdserverpb::cluster_server::Cluster;
use oxcd_proto::etcdserverpb::*;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl Cluster for Api {
    async fn member_add(
        &self,
        _: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        Err(EtcdError::Unsupported("member add").into())
    }

    async fn member_remove(
        &self,
        _: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(EtcdError::Unsupported("member remove").into())
    }

    async fn member_update(
        &self,
        _: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(EtcdError::Unsupported("member update").into())
    }

    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let mut members = self
            .srv
            .members
            .read()
            .map_err(|_| Status::internal("members lock poisoned"))?
            .clone();
        members.sort_by_key(|m| m.id);
        // etcd leaves the revision out of membership answers
        Ok(Response::new(MemberListResponse {
            header: Some(self.srv.header(0)),
            members,
        }))
    }

    async fn member_promote(
        &self,
        _: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(EtcdError::Unsupported("member promote").into())
    }
}
