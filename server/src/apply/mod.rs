//! The state machine: requests as logged in the WAL, and their application
//! in log order — keys (`kv.rs`), leases and alarms (here), the member
//! table (`membership.rs`) — plus the reads (`reads.rs`: Range, write-free
//! txns) and loading the applied state from the store (`load.rs`). The
//! node loop hands it committed entries. Only two other writers touch the
//! tables: seeding a fresh data dir (`consensus/open.rs`) and installing a
//! leader's snapshot (`import::install_stream`), which replaces them.

mod auth;
mod kv;
pub mod load;
pub mod membership;
mod reads;

pub use auth::{check_txn, Authenticate, ChangePassword, UserAdd};
pub use reads::{range, read_only_txn, txn_is_read_only};

use membership::{apply_member_change, write_applied, write_members, AppliedAt, MemberChange};

use crate::auth::{AuthHeader, AuthStore};
use crate::backend::{u64_bytes, META_SCHEDULED_COMPACT_REV};
use crate::backend::{ALARM, ETCD_AUTH, KEY, LEASE, META};
use crate::error::{EtcdError, Result};
use crate::lease::Lessor;
use crate::mvcc::{KvTable, Store, WriteCtx};
use oxcd_proto::etcdserverpb::{
    compare, range_request, request_op, response_op, AlarmMember, AlarmRequest, AlarmResponse,
    AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest, AuthRoleDeleteRequest,
    AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest, AuthUserDeleteRequest,
    AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest, CompactionRequest, CompactionResponse,
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseGrantRequest, LeaseGrantResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, Member, PutRequest, PutResponse, RangeRequest,
    RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use oxcd_proto::mvccpb::KeyValue;
use redb::{ReadableTable, Table, WriteTransaction};
use std::collections::BTreeSet;

/// One logged request. Field numbers are part of our WAL format: never reuse.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternalRequest {
    #[prost(
        oneof = "Op",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21"
    )]
    pub op: Option<Op>,
    /// names the proposer's waiter (0: nobody waits)
    #[prost(uint64, tag = "100")]
    pub id: u64,
    /// who sent it, for a client's request (checked when applied); none
    /// for what the members propose themselves (lease expiry, attributes)
    #[prost(message, optional, tag = "101")]
    pub auth: Option<AuthHeader>,
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
    #[prost(message, tag = "10")]
    AuthEnable(AuthEnableRequest),
    #[prost(message, tag = "11")]
    AuthDisable(AuthDisableRequest),
    #[prost(message, tag = "12")]
    UserAdd(UserAdd),
    #[prost(message, tag = "13")]
    UserDelete(AuthUserDeleteRequest),
    #[prost(message, tag = "14")]
    UserChangePassword(ChangePassword),
    #[prost(message, tag = "15")]
    UserGrantRole(AuthUserGrantRoleRequest),
    #[prost(message, tag = "16")]
    UserRevokeRole(AuthUserRevokeRoleRequest),
    #[prost(message, tag = "17")]
    RoleAdd(AuthRoleAddRequest),
    #[prost(message, tag = "18")]
    RoleDelete(AuthRoleDeleteRequest),
    #[prost(message, tag = "19")]
    RoleGrantPermission(AuthRoleGrantPermissionRequest),
    #[prost(message, tag = "20")]
    RoleRevokePermission(AuthRoleRevokePermissionRequest),
    #[prost(message, tag = "21")]
    Authenticate(Authenticate),
}

impl Op {
    /// The request's name in etcd's `InternalRaftRequest` (for logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Put(_) => "put",
            Op::DeleteRange(_) => "delete_range",
            Op::Txn(_) => "txn",
            Op::Compaction(_) => "compaction",
            Op::LeaseGrant(_) => "lease_grant",
            Op::LeaseRevoke(_) => "lease_revoke",
            Op::Alarm(_) => "alarm",
            Op::MemberAttrs(_) => "cluster_member_attr_set",
            Op::MemberUpdate(_) => "member_update",
            Op::AuthEnable(_) => "auth_enable",
            Op::AuthDisable(_) => "auth_disable",
            Op::UserAdd(_) => "auth_user_add",
            Op::UserDelete(_) => "auth_user_delete",
            Op::UserChangePassword(_) => "auth_user_change_password",
            Op::UserGrantRole(_) => "auth_user_grant_role",
            Op::UserRevokeRole(_) => "auth_user_revoke_role",
            Op::RoleAdd(_) => "auth_role_add",
            Op::RoleDelete(_) => "auth_role_delete",
            Op::RoleGrantPermission(_) => "auth_role_grant_permission",
            Op::RoleRevokePermission(_) => "auth_role_revoke_permission",
            Op::Authenticate(_) => "authenticate",
        }
    }
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
    /// an auth change
    Auth,
    /// a log-in: the token issued
    Token(String),
}

/// The tables one batch of applies writes to.
pub struct Tables<'t> {
    pub kv: KvTable<'t>,
    pub lease: Table<'t, i64, i64>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub alarm: Table<'t, (u64, i32), ()>,
    pub auth: auth::AuthTable<'t>,
}

/// Everything the log's entries change.
#[derive(Debug, Default)]
pub struct State {
    pub store: Store,
    pub lessor: Lessor,
    pub alarms: BTreeSet<(u64, i32)>,
    pub auth: AuthStore,
}

fn rev_header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

/// What one batch of applied requests produced: each request's answer,
/// and the member table if the batch changed it.
pub struct Batch {
    pub results: Vec<Result<Applied>>,
    pub members: Option<Vec<Member>>,
}

impl State {
    /// Applies logged requests in log order into `txn` and records the
    /// applied point `at` with them: keys, leases, alarms and auth change
    /// this state, member changes the member table (`members` gives the
    /// current one). `None` is an entry with no request; a client's request
    /// comes with its sender, whose permissions are checked first. The
    /// outer `Err` is a storage failure; the inner ones are the requests'
    /// own answers.
    pub fn apply_batch(
        &mut self,
        txn: &WriteTransaction,
        ops: Vec<Option<(Op, Option<AuthHeader>)>>,
        members: impl Fn() -> Vec<Member>,
        at: AppliedAt,
    ) -> Result<Batch> {
        let mut results = Vec::with_capacity(ops.len());
        let mut changed: Option<Vec<Member>> = None;
        let mut t = Tables {
            kv: txn.open_table(KEY)?,
            lease: txn.open_table(LEASE)?,
            meta: txn.open_table(META)?,
            alarm: txn.open_table(ALARM)?,
            auth: txn.open_table(ETCD_AUTH)?,
        };
        for op in ops {
            let change = match op {
                Some((Op::MemberAttrs(m), _)) => MemberChange::Attributes(m),
                Some((Op::MemberUpdate(m), _)) => MemberChange::PeerUrls(m),
                Some((op, sender)) => {
                    let (kind, size) = (op.kind(), op.encoded_len());
                    let started = std::time::Instant::now();
                    let r = match sender.map(|h| self.check_permitted(&op, &h)) {
                        Some(Err(e)) => Err(e),
                        _ => self.apply(&mut t, op),
                    };
                    warn_if_slow(started.elapsed(), kind, size);
                    if let Err(EtcdError::Storage(e)) = &r {
                        return Err(EtcdError::Storage(e.clone()));
                    }
                    results.push(r);
                    continue;
                }
                None => {
                    results.push(Err(EtcdError::Unsupported("empty entry")));
                    continue;
                }
            };
            let mut ms = changed.take().unwrap_or_else(&members);
            let r = apply_member_change(&mut ms, change);
            results.push(r.map(|_| Applied::Members(ms.clone())));
            changed = Some(ms);
        }
        write_applied(&mut t.meta, at)?;
        drop(t);
        if let Some(ms) = &changed {
            write_members(txn, ms)?;
        }
        Ok(Batch {
            results,
            members: changed,
        })
    }

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
            op => self.auth.apply(&mut t.auth, op)?,
        };
        if ctx.changed() {
            self.store.current_rev = ctx.main();
        }
        Ok(out)
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
            // raising NONE does nothing (etcd)
            AlarmAction::Activate
                if r.alarm == oxcd_proto::etcdserverpb::AlarmType::None as i32 => {}
            AlarmAction::Activate => {
                if self.alarms.insert(key) {
                    t.alarm.insert(key, ())?;
                    tracing::warn!(
                        alarm = r.alarm().as_str_name(),
                        from = %crate::log::Id(r.member_id),
                        "alarm raised"
                    );
                }
                changed.push(key);
            }
            AlarmAction::Deactivate => {
                if self.alarms.remove(&key) {
                    t.alarm.remove(key)?;
                    changed.push(key);
                    tracing::warn!(
                        alarm = r.alarm().as_str_name(),
                        from = %crate::log::Id(r.member_id),
                        "alarm disarmed"
                    );
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

/// `--experimental-warning-apply-duration` in nanoseconds (etcd's
/// default: 100 ms); set once at start.
static WARN_APPLY_NANOS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(100_000_000);

pub fn set_warning_apply_duration(d: std::time::Duration) {
    WARN_APPLY_NANOS.store(
        d.as_nanos().min(u64::MAX as u128) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// etcd's "apply request took too long" warning and its counter.
fn warn_if_slow(took: std::time::Duration, kind: &'static str, size: usize) {
    let limit = std::time::Duration::from_nanos(
        WARN_APPLY_NANOS.load(std::sync::atomic::Ordering::Relaxed),
    );
    if took > limit {
        crate::metrics::M.slow_apply.inc();
        tracing::warn!(
            took = ?took,
            "expected-duration" = ?limit,
            prefix = "",
            request = %format_args!("{kind} size:{size}"),
            "apply request took too long"
        );
    }
}
