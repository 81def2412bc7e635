//! Authentication and authorisation as etcd 3.5 has them: users with bcrypt
//! passwords and roles, roles with key-range permissions, the `root` user
//! and role, an auth revision bumped by every change, and tokens.
//!
//! [`AuthStore`] is the replicated part of the state machine's state: it
//! lives in `apply::State`, changes only by applied log entries
//! (`apply/auth.rs`), and is stored in the `etcd_auth` table in etcd's own
//! bucket encoding (`auth`, `authUsers`, `authRoles`), so that snapshots
//! carry it both ways with real etcd. Checks run in two places, as etcd's:
//! reads in the API layer against the current state, writes when applied
//! (in log order, so that no grant or revoke can race a request).

pub mod perm;
pub mod token;

use crate::backend::ETCD_AUTH;
use crate::error::{EtcdError, Result};
use etcd_format::schema::{AUTH_ENABLED, AUTH_REVISION};
use oxcd_proto::authpb::{permission::Type as PermType, Role, User};
use prost::Message as _;
use redb::ReadableTable;
use std::collections::BTreeMap;

pub use token::{TokenConfig, Tokens};

pub const ROOT: &str = "root";

/// Who sent a request, as the API layer found out: logged with every
/// client write so that its permissions are checked when it is applied.
/// An empty name is a request without credentials.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthHeader {
    #[prost(string, tag = "1")]
    pub username: String,
    /// the auth revision the credentials were checked at
    #[prost(uint64, tag = "2")]
    pub revision: u64,
}

/// Users, roles and whether auth is on.
#[derive(Debug, Default)]
pub struct AuthStore {
    pub enabled: bool,
    pub revision: u64,
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    /// issued tokens (memory only, as etcd's)
    pub tokens: Tokens,
}

/// `user`'s name as etcd stores it (bytes).
pub fn name_of(user: &User) -> String {
    String::from_utf8_lossy(&user.name).into_owned()
}

impl AuthStore {
    /// Reads the `etcd_auth` table.
    pub fn load(txn: &redb::ReadTransaction, tokens: Tokens) -> Result<AuthStore> {
        let mut s = AuthStore {
            revision: 1,
            tokens,
            ..Default::default()
        };
        let table = match txn.open_table(ETCD_AUTH) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(s),
            Err(e) => return Err(e.into()),
        };
        for item in table.iter()? {
            let (k, v) = item?;
            let (bucket, key) = k.value();
            let v = v.value();
            match bucket {
                "auth" if key == AUTH_ENABLED => s.enabled = v == [1],
                "auth" if key == AUTH_REVISION => {
                    s.revision = crate::backend::bytes_u64(v).unwrap_or(1);
                }
                "authUsers" => {
                    let u = User::decode(v)?;
                    s.users.insert(name_of(&u), u);
                }
                "authRoles" => {
                    let r = Role::decode(v)?;
                    s.roles
                        .insert(String::from_utf8_lossy(&r.name).into_owned(), r);
                }
                _ => {}
            }
        }
        Ok(s)
    }

    fn has_root_role(&self, user: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.roles.iter().any(|r| r == ROOT))
    }

    /// etcd's check of the sender's credentials before anything else:
    /// none sent, an old revision, an unknown user.
    fn user_of<'a>(&'a self, h: &AuthHeader) -> Result<&'a User> {
        if h.username.is_empty() && h.revision == 0 {
            return Err(EtcdError::UserEmpty);
        }
        if h.revision != 0 && h.revision < self.revision {
            return Err(EtcdError::AuthOldRevision);
        }
        self.users
            .get(&h.username)
            .ok_or(EtcdError::PermissionDenied)
    }

    /// May `h` access `[key, range_end)` (one key when `range_end` is
    /// empty) for `want`?
    pub fn check(
        &self,
        h: &AuthHeader,
        key: &[u8],
        range_end: &[u8],
        want: PermType,
    ) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let user = self.user_of(h)?;
        if self.has_root_role(&h.username) {
            return Ok(());
        }
        let perms = user
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| r.key_permission.iter());
        if perm::covers(perms, key, range_end, want) {
            Ok(())
        } else {
            Err(EtcdError::PermissionDenied)
        }
    }

    /// May `h` administer (membership, maintenance, users and roles)?
    pub fn check_admin(&self, h: &AuthHeader) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.user_of(h)?;
        if self.has_root_role(&h.username) {
            Ok(())
        } else {
            Err(EtcdError::PermissionDenied)
        }
    }

    /// The stored hash to check `name`'s password against (outside any
    /// lock: bcrypt is slow on purpose).
    pub fn password_hash(&self, name: &str) -> Result<Vec<u8>> {
        let u = self.users.get(name).ok_or(EtcdError::AuthFailed)?;
        if u.options.as_ref().is_some_and(|o| o.no_password) {
            return Err(EtcdError::AuthUnmapped(
                "authentication failed, password was given for no password user",
            ));
        }
        Ok(u.password.clone())
    }
}

/// Checks `password` against a bcrypt `hash`.
pub fn password_matches(password: &str, hash: &[u8]) -> bool {
    std::str::from_utf8(hash)
        .ok()
        .and_then(|h| bcrypt::verify(password, h).ok())
        .unwrap_or(false)
}

/// etcd's `--bcrypt-cost` bounds.
pub fn hash_password(password: &str, cost: u32) -> Result<Vec<u8>> {
    bcrypt::hash(password, cost)
        .map(String::into_bytes)
        .map_err(|e| EtcdError::BadRequest(format!("hashing the password: {e}")))
}

#[cfg(test)]
mod tests;
