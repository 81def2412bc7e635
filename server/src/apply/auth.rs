//! Applying auth changes (users, roles, auth on/off, issued tokens), and
//! the permission checks made when a client's write is applied.
//!
//! Every change is written to the `etcd_auth` table in etcd's bucket
//! encoding and bumps the auth revision, as etcd's store does; turning
//! auth on or off does not.

use super::{Applied, Op, State};
use crate::auth::{name_of, AuthHeader, AuthStore, ROOT};
use crate::backend::u64_bytes;
use crate::error::{EtcdError, Result};
use etcd_format::schema::{AUTH_ENABLED, AUTH_REVISION};
use oxcd_proto::authpb::{permission::Type as PermType, Role, User, UserAddOptions};
use oxcd_proto::etcdserverpb::{request_op, RequestOp, TxnRequest};
use prost::Message as _;
use redb::Table;

/// `user add` as logged: the password already hashed by the proposer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserAdd {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub hashed_password: Vec<u8>,
    #[prost(bool, tag = "3")]
    pub no_password: bool,
}

/// `user passwd` as logged.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChangePassword {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub hashed_password: Vec<u8>,
}

/// A log-in whose password the proposer checked: every member learns the
/// simple token it chose.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Authenticate {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub token: String,
}

pub type AuthTable<'t> = Table<'t, (&'static str, &'static [u8]), &'static [u8]>;

fn put_user(t: &mut AuthTable<'_>, u: &User) -> Result<()> {
    t.insert(
        ("authUsers", u.name.as_slice()),
        u.encode_to_vec().as_slice(),
    )?;
    Ok(())
}

fn put_role(t: &mut AuthTable<'_>, r: &Role) -> Result<()> {
    t.insert(
        ("authRoles", r.name.as_slice()),
        r.encode_to_vec().as_slice(),
    )?;
    Ok(())
}

impl AuthStore {
    fn bump(&mut self, t: &mut AuthTable<'_>) -> Result<()> {
        self.revision += 1;
        t.insert(("auth", AUTH_REVISION), u64_bytes(self.revision).as_slice())?;
        Ok(())
    }

    fn set_enabled(&mut self, t: &mut AuthTable<'_>, on: bool) -> Result<()> {
        self.enabled = on;
        t.insert(("auth", AUTH_ENABLED), [u8::from(on)].as_slice())?;
        Ok(())
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut User> {
        self.users.get_mut(name).ok_or(EtcdError::UserNotFound)
    }

    fn role_mut(&mut self, name: &str) -> Result<&mut Role> {
        self.roles.get_mut(name).ok_or(EtcdError::RoleNotFound)
    }

    /// Applies one auth change.
    pub(super) fn apply(&mut self, t: &mut AuthTable<'_>, op: Op) -> Result<Applied> {
        match op {
            Op::AuthEnable(_) => {
                if !self.enabled {
                    let root = self.users.get(ROOT).ok_or(EtcdError::RootUserNotExist)?;
                    if !root.roles.iter().any(|r| r == ROOT) {
                        return Err(EtcdError::RootRoleNotExist);
                    }
                    self.set_enabled(t, true)?;
                }
            }
            Op::AuthDisable(_) => {
                // as etcd, disabling bumps the revision; enabling does not
                if self.enabled {
                    self.set_enabled(t, false)?;
                    self.tokens.clear();
                    self.bump(t)?;
                }
            }
            Op::UserAdd(r) => {
                if r.name.is_empty() {
                    return Err(EtcdError::UserEmpty);
                }
                if self.users.contains_key(&r.name) {
                    return Err(EtcdError::UserAlreadyExist);
                }
                let u = User {
                    name: r.name.clone().into_bytes(),
                    password: r.hashed_password,
                    roles: Vec::new(),
                    options: Some(UserAddOptions {
                        no_password: r.no_password,
                    }),
                };
                put_user(t, &u)?;
                self.users.insert(r.name, u);
                self.bump(t)?;
            }
            Op::UserDelete(r) => {
                if self.enabled && r.name == ROOT {
                    return Err(EtcdError::InvalidAuthMgmt);
                }
                if self.users.remove(&r.name).is_none() {
                    return Err(EtcdError::UserNotFound);
                }
                t.remove(("authUsers", r.name.as_bytes()))?;
                self.tokens.invalidate_user(&r.name);
                self.bump(t)?;
            }
            Op::UserChangePassword(r) => {
                let u = self.user_mut(&r.name)?;
                u.password = r.hashed_password;
                let u = u.clone();
                put_user(t, &u)?;
                self.tokens.invalidate_user(&r.name);
                self.bump(t)?;
            }
            Op::UserGrantRole(r) => {
                if r.role != ROOT && !self.roles.contains_key(&r.role) {
                    // etcd looks the user up first
                    self.user_mut(&r.user)?;
                    return Err(EtcdError::RoleNotFound);
                }
                let u = self.user_mut(&r.user)?;
                if let Err(at) = u.roles.binary_search(&r.role) {
                    u.roles.insert(at, r.role);
                    let u = u.clone();
                    put_user(t, &u)?;
                    self.bump(t)?;
                }
            }
            Op::UserRevokeRole(r) => {
                if self.enabled && r.name == ROOT && r.role == ROOT {
                    return Err(EtcdError::InvalidAuthMgmt);
                }
                let u = self.user_mut(&r.name)?;
                let at = u
                    .roles
                    .iter()
                    .position(|x| *x == r.role)
                    .ok_or(EtcdError::RoleNotGranted)?;
                u.roles.remove(at);
                let u = u.clone();
                put_user(t, &u)?;
                self.bump(t)?;
            }
            Op::RoleAdd(r) => {
                if r.name.is_empty() {
                    return Err(EtcdError::RoleEmpty);
                }
                if self.roles.contains_key(&r.name) {
                    return Err(EtcdError::RoleAlreadyExist);
                }
                let role = Role {
                    name: r.name.clone().into_bytes(),
                    key_permission: Vec::new(),
                };
                put_role(t, &role)?;
                self.roles.insert(r.name, role);
                self.bump(t)?;
            }
            Op::RoleDelete(r) => {
                if self.enabled && r.role == ROOT {
                    return Err(EtcdError::InvalidAuthMgmt);
                }
                if self.roles.remove(&r.role).is_none() {
                    return Err(EtcdError::RoleNotFound);
                }
                t.remove(("authRoles", r.role.as_bytes()))?;
                // and from every user who had it
                let holders: Vec<String> = self
                    .users
                    .values()
                    .filter(|u| u.roles.contains(&r.role))
                    .map(name_of)
                    .collect();
                for name in holders {
                    let u = self.user_mut(&name)?;
                    u.roles.retain(|x| *x != r.role);
                    let u = u.clone();
                    put_user(t, &u)?;
                }
                self.bump(t)?;
            }
            Op::RoleGrantPermission(r) => {
                let perm = r.perm.unwrap_or_default();
                let role = self.role_mut(&r.name)?;
                // as etcd: only the first permission on the same key is
                // compared (an identical one further on is not found); a
                // new one is appended and the list sorted by key
                let first = role.key_permission.partition_point(|p| p.key < perm.key);
                match role.key_permission.get_mut(first) {
                    Some(p) if p.key == perm.key && p.range_end == perm.range_end => {
                        p.perm_type = perm.perm_type;
                    }
                    _ => {
                        role.key_permission.push(perm);
                        go_sort_by_key(&mut role.key_permission);
                    }
                }
                let role = role.clone();
                put_role(t, &role)?;
                self.bump(t)?;
            }
            Op::RoleRevokePermission(r) => {
                let role = self.role_mut(&r.role)?;
                let before = role.key_permission.len();
                role.key_permission
                    .retain(|p| !(p.key == r.key && p.range_end == r.range_end));
                if role.key_permission.len() == before {
                    return Err(EtcdError::PermissionNotGranted);
                }
                let role = role.clone();
                put_role(t, &role)?;
                self.bump(t)?;
            }
            Op::Authenticate(r) => {
                if !self.enabled {
                    return Err(EtcdError::AuthNotEnabled);
                }
                if !self.users.contains_key(&r.name) {
                    return Err(EtcdError::AuthFailed);
                }
                let token = self
                    .tokens
                    .assign(&r.token, &r.name, self.revision)
                    .map_err(EtcdError::BadRequest)?;
                return Ok(Applied::Token(token));
            }
            _ => return Err(EtcdError::Storage("not an auth op".into())),
        }
        Ok(Applied::Auth)
    }
}

/// Sorts permissions by key as etcd 3.5.1 does (Go 1.16's `sort.Sort`), so
/// that permissions on the same key are listed in etcd's order: up to 12
/// elements that is a shell pass with gap 6, then an insertion sort. Longer
/// lists are sorted stably (Go's quicksort may order equal keys otherwise).
fn go_sort_by_key(p: &mut [oxcd_proto::authpb::Permission]) {
    let n = p.len();
    if n > 12 {
        p.sort_by(|a, b| a.key.cmp(&b.key));
        return;
    }
    for i in 6..n {
        if p[i].key < p[i - 6].key {
            p.swap(i, i - 6);
        }
    }
    for i in 1..n {
        let mut j = i;
        while j > 0 && p[j].key < p[j - 1].key {
            p.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Is `op` an auth change (admin only)?
pub(super) fn is_auth_op(op: &Op) -> bool {
    matches!(
        op,
        Op::AuthEnable(_)
            | Op::AuthDisable(_)
            | Op::UserAdd(_)
            | Op::UserDelete(_)
            | Op::UserChangePassword(_)
            | Op::UserGrantRole(_)
            | Op::UserRevokeRole(_)
            | Op::RoleAdd(_)
            | Op::RoleDelete(_)
            | Op::RoleGrantPermission(_)
            | Op::RoleRevokePermission(_)
    )
}

impl State {
    /// The permission check of a client's logged request, at the point in
    /// the log where it applies: etcd's rules for each request kind.
    pub(super) fn check_permitted(&self, op: &Op, h: &AuthHeader) -> Result<()> {
        let a = &self.auth;
        if !a.enabled {
            return Ok(());
        }
        match op {
            Op::Put(r) => {
                a.check(h, &r.key, &[], PermType::Write)?;
                if r.prev_kv {
                    a.check(h, &r.key, &[], PermType::Read)?;
                }
            }
            Op::DeleteRange(r) => {
                a.check(h, &r.key, &r.range_end, PermType::Write)?;
                if r.prev_kv {
                    a.check(h, &r.key, &r.range_end, PermType::Read)?;
                }
            }
            Op::Txn(r) => check_txn(a, h, r)?,
            Op::LeaseRevoke(r) => {
                // every key the lease would delete
                for k in self.lessor.keys(r.id) {
                    a.check(h, k, &[], PermType::Write)?;
                }
            }
            op if is_auth_op(op) => a.check_admin(h)?,
            // as etcd: compaction, leases and alarms need no key permission;
            // a log-in was checked when proposed
            _ => {}
        }
        Ok(())
    }
}

/// Every compare and every operation of both branches, nested txns too.
pub fn check_txn(a: &AuthStore, h: &AuthHeader, r: &TxnRequest) -> Result<()> {
    for c in &r.compare {
        a.check(h, &c.key, &c.range_end, PermType::Read)?;
    }
    for op in r.success.iter().chain(r.failure.iter()) {
        check_request_op(a, h, op)?;
    }
    Ok(())
}

fn check_request_op(a: &AuthStore, h: &AuthHeader, op: &RequestOp) -> Result<()> {
    match &op.request {
        Some(request_op::Request::RequestRange(r)) => {
            a.check(h, &r.key, &r.range_end, PermType::Read)
        }
        Some(request_op::Request::RequestPut(r)) => {
            a.check(h, &r.key, &[], PermType::Write)?;
            if r.prev_kv {
                a.check(h, &r.key, &[], PermType::Read)?;
            }
            Ok(())
        }
        Some(request_op::Request::RequestDeleteRange(r)) => {
            a.check(h, &r.key, &r.range_end, PermType::Write)?;
            if r.prev_kv {
                a.check(h, &r.key, &r.range_end, PermType::Read)?;
            }
            Ok(())
        }
        Some(request_op::Request::RequestTxn(t)) => check_txn(a, h, t),
        None => Ok(()),
    }
}
