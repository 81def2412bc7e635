//! The KV service: request validation as etcd does it, then reads from the
//! applied state and writes through the log.

use super::{check_size, no_space, over_quota, Api};
use crate::apply::{self, Applied, Op};
use crate::error::EtcdError;
use oxcd_proto::authpb::permission::Type as PermType;
use oxcd_proto::etcdserverpb::kv_server::Kv;
use oxcd_proto::etcdserverpb::{
    request_op, CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse,
};
use std::collections::HashSet;
use tonic::{Request, Response, Status};

fn check_put(r: &PutRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    Ok(())
}

/// etcd's checkTxnRequest: the branches and compares within the op budget
/// (a nested txn gets what its parent's widest list left), every key
/// given, every op set. The interval check comes after, as in etcd.
fn check_txn(r: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len());
    if opc > max_ops {
        return Err(EtcdError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(EtcdError::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(q)) if q.key.is_empty() => {
                return Err(EtcdError::EmptyKey)
            }
            Some(request_op::Request::RequestPut(p)) => check_put(p)?,
            Some(request_op::Request::RequestDeleteRange(d)) if d.key.is_empty() => {
                return Err(EtcdError::EmptyKey)
            }
            Some(request_op::Request::RequestTxn(t)) => check_txn(t, max_ops - opc)?,
            Some(_) => {}
            // an op with nothing in it: etcd's answer
            None => return Err(EtcdError::KeyNotFound),
        }
    }
    Ok(())
}

/// Everything etcd checks of a txn before proposing it, in its order: the
/// requests, then the intervals of each branch.
fn validate_txn(r: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    check_txn(r, max_ops)?;
    check_intervals(&r.success)?;
    check_intervals(&r.failure)?;
    Ok(())
}

type Intervals = (HashSet<Vec<u8>>, Vec<(Vec<u8>, Vec<u8>)>);

/// etcd's interval check of one branch: no key may be put twice, nor put
/// and deleted. The two branches of a nested txn exclude each other, so a
/// key both of them put is fine. Returns the branch's puts and deletes.
fn check_intervals(ops: &[RequestOp]) -> Result<Intervals, EtcdError> {
    let mut dels: Vec<(Vec<u8>, Vec<u8>)> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(request_op::Request::RequestDeleteRange(d)) => {
                Some((d.key.clone(), d.range_end.clone()))
            }
            _ => None,
        })
        .collect();
    let deleted =
        |dels: &[(Vec<u8>, Vec<u8>)], k: &[u8]| dels.iter().any(|(s, e)| in_range(k, s, e));
    let mut puts = HashSet::new();
    for op in ops {
        let Some(request_op::Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (then_puts, then_dels) = check_intervals(&t.success)?;
        let (else_puts, else_dels) = check_intervals(&t.failure)?;
        for k in &then_puts {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in else_puts {
            if (puts.contains(&k) && !then_puts.contains(&k)) || deleted(&dels, &k) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k);
        }
        dels.extend(then_dels);
        dels.extend(else_dels);
    }
    for op in ops {
        if let Some(request_op::Request::RequestPut(p)) = &op.request {
            if puts.contains(&p.key) || deleted(&dels, &p.key) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(p.key.clone());
        }
    }
    Ok((puts, dels))
}

use crate::mvcc::in_range;

#[tonic::async_trait]
impl Kv for Api {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        if r.key.is_empty() {
            return Err(EtcdError::EmptyKey.into());
        }
        if !r.serializable && !self.srv.sole_voter() {
            self.srv.linearize().await?;
        }
        crate::metrics::M.range_total.inc();
        // checked on the state the read sees
        let mut resp = self.srv.read(|st, kv| {
            st.auth
                .check(&sender, &r.key, &r.range_end, PermType::Read)?;
            apply::range(&st.store, kv, &r, st.store.current_rev)
        })?;
        self.srv.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        // the fields first, the size when proposing: etcd's order
        check_put(&r)?;
        check_size(&self.srv, &r)?;
        no_space(&self.srv).await?;
        crate::metrics::M.put_total.inc();
        match self.srv.propose_by(Op::Put(r), sender).await? {
            Applied::Put(mut p) => {
                self.srv.fill(&mut p.header);
                Ok(Response::new(p))
            }
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }

    async fn delete_range(
        &self,
        req: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        if r.key.is_empty() {
            return Err(EtcdError::EmptyKey.into());
        }
        check_size(&self.srv, &r)?;
        crate::metrics::M.delete_total.inc();
        match self.srv.propose_by(Op::DeleteRange(r), sender).await? {
            Applied::DeleteRange(mut d) => {
                self.srv.fill(&mut d.header);
                Ok(Response::new(d))
            }
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        validate_txn(&r, self.srv.cfg.max_txn_ops)?;
        check_size(&self.srv, &r)?;
        crate::metrics::M.txn_total.inc();
        let mut resp = if apply::txn_is_read_only(&r) {
            over_quota(&self.srv).await?;
            if !self.srv.sole_voter() {
                self.srv.linearize().await?;
            }
            self.srv.read(|st, kv| {
                apply::check_txn(&st.auth, &sender, &r)?;
                apply::read_only_txn(st, kv, &r)
            })?
        } else {
            no_space(&self.srv).await?;
            match self.srv.propose_by(Op::Txn(r), sender).await? {
                Applied::Txn(t) => t,
                other => {
                    return Err(Status::internal(format!(
                        "unexpected apply result {other:?}"
                    )))
                }
            }
        };
        self.srv.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        req: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        let (rev, physical) = (r.revision, r.physical);
        let mut swept = self.srv.compacted.subscribe();
        match self.srv.propose_by(Op::Compaction(r), sender).await? {
            Applied::Compaction(mut c) => {
                if physical {
                    // etcd answers a physical compaction once its records
                    // are gone from this member's store
                    swept
                        .wait_for(|&done| done >= rev)
                        .await
                        .map_err(|_| Status::unavailable("member is stopping"))?;
                }
                self.srv.fill(&mut c.header);
                Ok(Response::new(c))
            }
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_proto::etcdserverpb::DeleteRangeRequest;

    fn put(k: &str) -> RequestOp {
        RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn txn_checks() {
        let dup = TxnRequest {
            success: vec![put("a"), put("a")],
            ..Default::default()
        };
        assert!(matches!(
            validate_txn(&dup, 128),
            Err(EtcdError::DuplicateKey)
        ));
        let del = RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(
                DeleteRangeRequest {
                    key: b"a".to_vec(),
                    range_end: b"c".to_vec(),
                    ..Default::default()
                },
            )),
        };
        let clash = TxnRequest {
            success: vec![put("b"), del],
            ..Default::default()
        };
        assert!(matches!(
            validate_txn(&clash, 128),
            Err(EtcdError::DuplicateKey)
        ));
        let ok = TxnRequest {
            success: vec![put("a")],
            failure: vec![put("a")],
            ..Default::default()
        };
        assert!(validate_txn(&ok, 128).is_ok());
        let nested = |a: &str, b: &str| RequestOp {
            request: Some(request_op::Request::RequestTxn(TxnRequest {
                success: vec![put(a)],
                failure: vec![put(b)],
                ..Default::default()
            })),
        };
        let both_branches = TxnRequest {
            success: vec![nested("x", "x")],
            ..Default::default()
        };
        assert!(validate_txn(&both_branches, 128).is_ok());
        let clash_outer = TxnRequest {
            success: vec![put("x"), nested("y", "x")],
            ..Default::default()
        };
        assert!(matches!(
            validate_txn(&clash_outer, 128),
            Err(EtcdError::DuplicateKey)
        ));
        let many = TxnRequest {
            success: (0..3).map(|i| put(&i.to_string())).collect(),
            ..Default::default()
        };
        assert!(matches!(validate_txn(&many, 2), Err(EtcdError::TooManyOps)));
    }

    #[test]
    fn nested_txns_share_the_op_budget_and_empty_ops_are_refused() {
        let inner = |n: usize| RequestOp {
            request: Some(request_op::Request::RequestTxn(TxnRequest {
                success: (0..n).map(|i| put(&format!("k{i}"))).collect(),
                ..Default::default()
            })),
        };
        // one op in the parent leaves 127 for the nested txn
        let full = TxnRequest {
            success: vec![inner(127)],
            ..Default::default()
        };
        assert!(validate_txn(&full, 128).is_ok());
        let over = TxnRequest {
            success: vec![inner(128)],
            ..Default::default()
        };
        assert!(matches!(
            validate_txn(&over, 128),
            Err(EtcdError::TooManyOps)
        ));
        let empty = TxnRequest {
            success: vec![RequestOp { request: None }],
            ..Default::default()
        };
        assert!(matches!(
            validate_txn(&empty, 128),
            Err(EtcdError::KeyNotFound)
        ));
        // every op is checked before the intervals: the empty key wins
        let both = TxnRequest {
            success: vec![put("a"), put("a")],
            failure: vec![put("")],
            ..Default::default()
        };
        assert!(matches!(validate_txn(&both, 128), Err(EtcdError::EmptyKey)));
    }
}
