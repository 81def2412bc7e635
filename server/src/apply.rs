//! The state machine: requests as logged in the WAL, and their application to
//! the MVCC store, leases and alarms, in log order.

use crate::error::{EtcdError, Result};
use crate::lease::Lessor;
use crate::mvcc::backend::{u64_bytes, META_COMPACT_REV};
use crate::mvcc::{KvTable, Store, WriteCtx};
use oxcd_proto::etcdserverpb::{
    compare, range_request, request_op, response_op, AlarmMember, AlarmRequest, AlarmResponse,
    CompactionRequest, CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, Member,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp,
    TxnRequest, TxnResponse,
};
use oxcd_proto::mvccpb::KeyValue;
use redb::{ReadableTable, Table};
use std::collections::BTreeSet;

/// One logged request. Field numbers are part of our WAL format: never reuse.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternalRequest {
    #[prost(oneof = "Op", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9")]
    pub op: Option<Op>,
    /// names the proposer's waiter (0: nobody waits)
    #[prost(uint64, tag = "100")]
    pub id: u64,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Op {
    #[prost(message, tag = "1")]
    Put(PutRequest),
    #[prost(message, tag = "2")]
    DeleteRange(DeleteRangeRequest),
    #[prost(message, tag = "3")]
    Txn(TxnRequest),
    #[prost(message, tag = "4")]
    Compaction(CompactionRequest),
    #[prost(message, tag = "5")]
    LeaseGrant(LeaseGrantRequest),
    #[prost(message, tag = "6")]
    LeaseRevoke(LeaseRevokeRequest),
    #[prost(message, tag = "7")]
    Alarm(AlarmRequest),
    /// a member publishes its name and client URLs
    #[prost(message, tag = "8")]
    MemberAttrs(Member),
    /// new peer URLs for a member
    #[prost(message, tag = "9")]
    MemberUpdate(Member),
}

#[derive(Debug)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    Alarm(AlarmResponse),
    /// a membership change: the members after it
    Members(Vec<Member>),
}

/// The tables one batch of applies writes to.
pub struct Tables<'t> {
    pub kv: KvTable<'t>,
    pub lease: Table<'t, i64, i64>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub alarm: Table<'t, (u64, i32), ()>,
}

/// Everything the log's entries change.
#[derive(Debug, Default)]
pub struct State {
    pub store: Store,
    pub lessor: Lessor,
    pub alarms: BTreeSet<(u64, i32)>,
}

fn rev_header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

impl State {
    pub fn apply(&mut self, t: &mut Tables<'_>, op: Op) -> Result<Applied> {
        let mut ctx = WriteCtx::new(self.store.current_rev);
        let out = match op {
            Op::Put(r) => {
                self.check_put(&t.kv, &r, ctx.read_rev())?;
                Applied::Put(self.put(t, &mut ctx, r)?)
            }
            Op::DeleteRange(r) => Applied::DeleteRange(self.delete(t, &mut ctx, r)?),
            Op::Txn(r) => {
                // like etcd, every compare (nested ones too) is decided on
                // the state before the txn's first write
                let mut path = Vec::new();
                self.txn_path(&t.kv, &r, ctx.read_rev(), &mut path)?;
                self.check_txn(&t.kv, &r, ctx.read_rev(), &mut path.iter().copied())?;
                Applied::Txn(self.txn(t, &mut ctx, r, &mut path.into_iter())?)
            }
            Op::Compaction(r) => Applied::Compaction(self.compact(t, r)?),
            Op::LeaseGrant(r) => Applied::LeaseGrant(self.lease_grant(t, r)?),
            Op::LeaseRevoke(r) => Applied::LeaseRevoke(self.lease_revoke(t, &mut ctx, r)?),
            Op::Alarm(r) => Applied::Alarm(self.alarm(t, r)?),
            // membership lives beside the state: the node applies these
            Op::MemberAttrs(_) | Op::MemberUpdate(_) => {
                return Err(EtcdError::Storage("membership op reached the store".into()))
            }
        };
        if ctx.changed() {
            self.store.current_rev = ctx.main();
        }
        Ok(out)
    }

    /// The checks etcd makes before a put touches anything.
    fn check_put<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        r: &PutRequest,
        rev: i64,
    ) -> Result<()> {
        if r.ignore_value || r.ignore_lease {
            let prev = self.store.get(kv, &r.key, rev)?;
            let Some(prev) = prev else {
                return Err(EtcdError::KeyNotFound);
            };
            let lease = if r.ignore_lease { prev.lease } else { r.lease };
            if lease != 0 && !self.lessor.contains(lease) {
                return Err(EtcdError::LeaseNotFound);
            }
        } else if r.lease != 0 && !self.lessor.contains(r.lease) {
            return Err(EtcdError::LeaseNotFound);
        }
        Ok(())
    }

    /// The branch every txn level takes, in the order the txn meets them:
    /// the txn's own compare result, then those of its nested txns.
    fn txn_path<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        r: &TxnRequest,
        rev: i64,
        path: &mut Vec<bool>,
    ) -> Result<()> {
        let ok = self.compare_all(kv, &r.compare, rev)?;
        path.push(ok);
        for op in if ok { &r.success } else { &r.failure } {
            if let Some(request_op::Request::RequestTxn(n)) = &op.request {
                self.txn_path(kv, n, rev, path)?;
            }
        }
        Ok(())
    }

    /// Checks every put of the branches a txn will take, so that a failing
    /// txn changes nothing.
    fn check_txn<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        r: &TxnRequest,
        rev: i64,
        path: &mut impl Iterator<Item = bool>,
    ) -> Result<()> {
        let ok = path.next().unwrap_or(false);
        for op in if ok { &r.success } else { &r.failure } {
            match &op.request {
                Some(request_op::Request::RequestPut(p)) => self.check_put(kv, p, rev)?,
                Some(request_op::Request::RequestTxn(n)) => self.check_txn(kv, n, rev, path)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn put(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: PutRequest,
    ) -> Result<PutResponse> {
        let prev = self.store.get(&t.kv, &r.key, ctx.read_rev())?;
        let (value, lease) = match &prev {
            Some(p) => (
                if r.ignore_value {
                    p.value.clone()
                } else {
                    r.value
                },
                if r.ignore_lease { p.lease } else { r.lease },
            ),
            None => (r.value, r.lease),
        };
        self.store.put(&mut t.kv, ctx, &r.key, value, lease)?;
        if let Some(p) = &prev {
            if p.lease != 0 && p.lease != lease {
                self.lessor.detach(p.lease, &r.key);
            }
        }
        if lease != 0 {
            self.lessor.attach(lease, &r.key);
        }
        Ok(PutResponse {
            header: rev_header(ctx.main()),
            prev_kv: if r.prev_kv { prev } else { None },
        })
    }

    fn delete(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse> {
        let prev = self
            .store
            .delete_range(&mut t.kv, ctx, &r.key, &r.range_end)?;
        for kv in &prev {
            if kv.lease != 0 {
                self.lessor.detach(kv.lease, &kv.key);
            }
        }
        Ok(DeleteRangeResponse {
            header: rev_header(ctx.read_rev()),
            deleted: prev.len() as i64,
            prev_kvs: if r.prev_kv { prev } else { Vec::new() },
        })
    }

    fn txn(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: TxnRequest,
        path: &mut impl Iterator<Item = bool>,
    ) -> Result<TxnResponse> {
        let succeeded = path.next().unwrap_or(false);
        let ops = if succeeded { r.success } else { r.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let resp = match op.request {
                Some(request_op::Request::RequestRange(rr)) => {
                    response_op::Response::ResponseRange(range(
                        &self.store,
                        &t.kv,
                        &rr,
                        ctx.read_rev(),
                    )?)
                }
                Some(request_op::Request::RequestPut(p)) => {
                    response_op::Response::ResponsePut(self.put(t, ctx, p)?)
                }
                Some(request_op::Request::RequestDeleteRange(d)) => {
                    response_op::Response::ResponseDeleteRange(self.delete(t, ctx, d)?)
                }
                Some(request_op::Request::RequestTxn(n)) => {
                    response_op::Response::ResponseTxn(nested(self.txn(t, ctx, n, path)?))
                }
                None => continue,
            };
            responses.push(ResponseOp {
                response: Some(resp),
            });
        }
        Ok(TxnResponse {
            header: rev_header(ctx.read_rev()),
            succeeded,
            responses,
        })
    }

    pub fn compare_all<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        cmps: &[Compare],
        rev: i64,
    ) -> Result<bool> {
        for c in cmps {
            if !self.compare(kv, c, rev)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn compare<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        c: &Compare,
        rev: i64,
    ) -> Result<bool> {
        let found = self.store.range_keys(&c.key, &c.range_end, rev, 0);
        if found.revs.is_empty() {
            if c.target() == compare::CompareTarget::Value {
                return Ok(false);
            }
            return Ok(compare_kv(c, &KeyValue::default()));
        }
        for r in found.revs {
            if !compare_kv(c, &self.store.read_kv(kv, r)?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn compact(&mut self, t: &mut Tables<'_>, r: CompactionRequest) -> Result<CompactionResponse> {
        if r.revision <= self.store.compact_rev {
            return Err(EtcdError::Compacted);
        }
        if r.revision > self.store.current_rev {
            return Err(EtcdError::FutureRev);
        }
        self.store.compact(&mut t.kv, r.revision)?;
        t.meta
            .insert(META_COMPACT_REV, u64_bytes(r.revision as u64).as_slice())?;
        Ok(CompactionResponse {
            header: rev_header(self.store.current_rev),
        })
    }

    fn lease_grant(
        &mut self,
        t: &mut Tables<'_>,
        r: LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse> {
        if self.lessor.contains(r.id) {
            return Err(EtcdError::LeaseExist);
        }
        let ttl = self.lessor.grant(r.id, r.ttl).ttl;
        t.lease.insert(r.id, ttl)?;
        Ok(LeaseGrantResponse {
            header: rev_header(self.store.current_rev),
            id: r.id,
            ttl,
            error: String::new(),
        })
    }

    fn lease_revoke(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: LeaseRevokeRequest,
    ) -> Result<LeaseRevokeResponse> {
        let keys = self.lessor.revoke(r.id).ok_or(EtcdError::LeaseNotFound)?;
        for k in keys {
            self.store.delete_range(&mut t.kv, ctx, &k, &[])?;
        }
        t.lease.remove(r.id)?;
        Ok(LeaseRevokeResponse {
            header: rev_header(ctx.read_rev()),
        })
    }

    fn alarm(&mut self, t: &mut Tables<'_>, r: AlarmRequest) -> Result<AlarmResponse> {
        use oxcd_proto::etcdserverpb::alarm_request::AlarmAction;
        let key = (r.member_id, r.alarm);
        let mut changed = Vec::new();
        match r.action() {
            AlarmAction::Activate => {
                if self.alarms.insert(key) {
                    t.alarm.insert(key, ())?;
                }
                changed.push(key);
            }
            AlarmAction::Deactivate => {
                if self.alarms.remove(&key) {
                    t.alarm.remove(key)?;
                    changed.push(key);
                }
            }
            AlarmAction::Get => changed.extend(self.alarms.iter().copied()),
        }
        Ok(AlarmResponse {
            header: rev_header(self.store.current_rev),
            alarms: changed
                .into_iter()
                .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
                .collect(),
        })
    }
}

/// etcd fills in only the outermost txn's header revision; nested txn
/// answers carry an empty header.
fn nested(mut t: TxnResponse) -> TxnResponse {
    t.header = rev_header(0);
    t
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let ord = match c.target() {
        CompareTarget::Value => {
            let want: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(want)
        }
        target => {
            let (have, want) = match (target, &c.target_union) {
                (CompareTarget::Version, Some(TargetUnion::Version(v))) => (kv.version, *v),
                (CompareTarget::Version, _) => (kv.version, 0),
                (CompareTarget::Create, Some(TargetUnion::CreateRevision(v))) => {
                    (kv.create_revision, *v)
                }
                (CompareTarget::Create, _) => (kv.create_revision, 0),
                (CompareTarget::Mod, Some(TargetUnion::ModRevision(v))) => (kv.mod_revision, *v),
                (CompareTarget::Mod, _) => (kv.mod_revision, 0),
                (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => (kv.lease, *v),
                (_, _) => (kv.lease, 0),
            };
            have.cmp(&want)
        }
    };
    match c.result() {
        CompareResult::Equal => ord.is_eq(),
        CompareResult::NotEqual => ord.is_ne(),
        CompareResult::Greater => ord.is_gt(),
        CompareResult::Less => ord.is_lt(),
    }
}

/// A Range as etcd answers it: limit, sort, revision filters, count and
/// `more` all follow etcd's apply layer, quirks included.
pub fn range<T: ReadableTable<&'static [u8], &'static [u8]>>(
    store: &Store,
    kv: &T,
    r: &RangeRequest,
    current: i64,
) -> Result<RangeResponse> {
    use range_request::{SortOrder, SortTarget};
    let rev = store.check_rev(r.revision, current)?;
    let filtered = r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    // etcd fetches everything when it must sort or filter, and one extra
    // key otherwise, to know whether there is `more`
    let fetch = if r.sort_order() != SortOrder::None || filtered || r.limit <= 0 {
        0
    } else {
        r.limit as usize + 1
    };
    let keys = store.range_keys(&r.key, &r.range_end, rev, fetch);
    let mut resp = RangeResponse {
        // etcd answers with the store's current revision, even for a historic read
        header: rev_header(current),
        count: keys.count as i64,
        ..Default::default()
    };
    if r.count_only {
        return Ok(resp);
    }
    let mut kvs = Vec::with_capacity(keys.revs.len());
    for rv in keys.revs {
        kvs.push(store.read_kv(kv, rv)?);
    }
    if r.max_mod_revision != 0 {
        kvs.retain(|k| k.mod_revision <= r.max_mod_revision);
    }
    if r.min_mod_revision != 0 {
        kvs.retain(|k| k.mod_revision >= r.min_mod_revision);
    }
    if r.max_create_revision != 0 {
        kvs.retain(|k| k.create_revision <= r.max_create_revision);
    }
    if r.min_create_revision != 0 {
        kvs.retain(|k| k.create_revision >= r.min_create_revision);
    }
    let mut order = r.sort_order();
    if r.sort_target() != SortTarget::Key && order == SortOrder::None {
        order = SortOrder::Ascend;
    } else if r.sort_target() == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    if order != SortOrder::None {
        let target = r.sort_target();
        kvs.sort_by(|a, b| {
            let o = match target {
                SortTarget::Key => a.key.cmp(&b.key),
                SortTarget::Version => a.version.cmp(&b.version),
                SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                SortTarget::Value => a.value.cmp(&b.value),
            };
            if order == SortOrder::Descend {
                o.reverse()
            } else {
                o
            }
        });
    }
    if r.limit > 0 && kvs.len() > r.limit as usize {
        kvs.truncate(r.limit as usize);
        resp.more = true;
    }
    if r.keys_only {
        for k in &mut kvs {
            k.value.clear();
        }
    }
    resp.kvs = kvs;
    Ok(resp)
}

/// Is this txn free of writes (so it can be served without the log)?
pub fn txn_is_read_only(r: &TxnRequest) -> bool {
    r.success
        .iter()
        .chain(r.failure.iter())
        .all(op_is_read_only)
}

fn op_is_read_only(op: &RequestOp) -> bool {
    match &op.request {
        Some(request_op::Request::RequestRange(_)) | None => true,
        Some(request_op::Request::RequestTxn(t)) => txn_is_read_only(t),
        _ => false,
    }
}

/// Serves a write-free txn from a read view.
pub fn read_only_txn<T: ReadableTable<&'static [u8], &'static [u8]>>(
    st: &State,
    kv: &T,
    r: &TxnRequest,
) -> Result<TxnResponse> {
    let rev = st.store.current_rev;
    let succeeded = st.compare_all(kv, &r.compare, rev)?;
    let ops = if succeeded { &r.success } else { &r.failure };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let resp = match &op.request {
            Some(request_op::Request::RequestRange(rr)) => {
                response_op::Response::ResponseRange(range(&st.store, kv, rr, rev)?)
            }
            Some(request_op::Request::RequestTxn(n)) => {
                response_op::Response::ResponseTxn(nested(read_only_txn(st, kv, n)?))
            }
            _ => continue,
        };
        responses.push(ResponseOp {
            response: Some(resp),
        });
    }
    Ok(TxnResponse {
        header: rev_header(rev),
        succeeded,
        responses,
    })
}
