//! The Auth service: log-in, auth on/off, users and roles.
//!
//! Changes go through the log (their sender's admin rights are checked
//! here first, and again where they apply); passwords are hashed with
//! bcrypt before they are logged, and checked outside any lock, as etcd
//! does. Reads (status, get, list) answer after a linearizable barrier.
//! A user may read its own user record and the roles it holds.

use super::Api;
use crate::apply::{Applied, Authenticate, ChangePassword, Op, UserAdd};
use crate::auth::{self, AuthHeader};
use crate::error::EtcdError;
use oxcd_proto::etcdserverpb::auth_server::Auth;
use oxcd_proto::etcdserverpb::*;
use tonic::{Request, Response, Status};

type Answer<T> = Result<Response<T>, Status>;

impl Api {
    fn auth_header(&self) -> Option<ResponseHeader> {
        Some(self.srv.header(self.srv.current_rev()))
    }

    /// Logs an auth change by `sender` (pre-checked as an admin).
    async fn change_auth(&self, op: Op, sender: AuthHeader) -> Result<(), Status> {
        match self.srv.propose_by(op, sender).await? {
            Applied::Auth => Ok(()),
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }

    async fn barrier(&self) -> Result<(), Status> {
        if !self.srv.sole_voter() {
            self.srv.linearize().await?;
        }
        Ok(())
    }

    fn auth_state<R>(&self, f: impl FnOnce(&auth::AuthStore) -> R) -> Result<R, EtcdError> {
        let st = self
            .srv
            .state
            .read()
            .map_err(|_| EtcdError::Storage("state lock poisoned".into()))?;
        Ok(f(&st.auth))
    }

    async fn hash(&self, password: String) -> Result<Vec<u8>, Status> {
        let cost = self.srv.cfg.bcrypt_cost;
        tokio::task::spawn_blocking(move || auth::hash_password(&password, cost))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(Status::from)
    }
}

/// A simple token: 16 random letters, a dot and a number unique here.
fn new_token(seq: u64) -> Result<String, EtcdError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| EtcdError::Storage("no randomness for a token".into()))?;
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let s: String = b
        .iter()
        .map(|x| LETTERS[*x as usize % LETTERS.len()] as char)
        .collect();
    Ok(format!("{s}.{seq}"))
}

#[tonic::async_trait]
impl Auth for Api {
    async fn auth_status(&self, req: Request<AuthStatusRequest>) -> Answer<AuthStatusResponse> {
        self.admin(&req)?;
        self.barrier().await?;
        let (enabled, auth_revision) = self.auth_state(|a| (a.enabled, a.revision))?;
        Ok(Response::new(AuthStatusResponse {
            header: self.auth_header(),
            enabled,
            auth_revision,
        }))
    }

    async fn authenticate(
        &self,
        req: Request<AuthenticateRequest>,
    ) -> Answer<AuthenticateResponse> {
        let r = req.into_inner();
        // as etcd: the log-in sees everything committed before it (a user
        // just added through another member, auth just turned on)
        self.barrier().await?;
        let hash = self.auth_state(|a| {
            if !a.enabled {
                return Err(EtcdError::AuthNotEnabled);
            }
            a.password_hash(&r.name)
        })??;
        let password = r.password;
        let ok = tokio::task::spawn_blocking(move || auth::password_matches(&password, &hash))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        if !ok {
            return Err(EtcdError::AuthFailed.into());
        }
        let op = Op::Authenticate(Authenticate {
            name: r.name,
            token: new_token(self.srv.next_req_id())?,
        });
        match self.srv.propose(op).await? {
            Applied::Token(token) => Ok(Response::new(AuthenticateResponse {
                header: self.auth_header(),
                token,
            })),
            other => Err(Status::internal(format!(
                "unexpected apply result {other:?}"
            ))),
        }
    }

    async fn auth_enable(&self, req: Request<AuthEnableRequest>) -> Answer<AuthEnableResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::AuthEnable(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthEnableResponse {
            header: self.auth_header(),
        }))
    }

    async fn auth_disable(&self, req: Request<AuthDisableRequest>) -> Answer<AuthDisableResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::AuthDisable(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthDisableResponse {
            header: self.auth_header(),
        }))
    }

    async fn user_add(&self, req: Request<AuthUserAddRequest>) -> Answer<AuthUserAddResponse> {
        let sender = self.admin(&req)?;
        let r = req.into_inner();
        if r.name.is_empty() {
            return Err(EtcdError::UserEmpty.into());
        }
        let no_password = r.options.is_some_and(|o| o.no_password);
        let hashed_password = if no_password {
            Vec::new()
        } else {
            self.hash(r.password).await?
        };
        let op = Op::UserAdd(UserAdd {
            name: r.name,
            hashed_password,
            no_password,
        });
        self.change_auth(op, sender).await?;
        Ok(Response::new(AuthUserAddResponse {
            header: self.auth_header(),
        }))
    }

    async fn user_get(&self, req: Request<AuthUserGetRequest>) -> Answer<AuthUserGetResponse> {
        // a user may look itself up
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        let own = !sender.username.is_empty() && sender.username == r.name;
        self.auth_state(|a| match a.check_admin(&sender) {
            Err(EtcdError::PermissionDenied) if own => Ok(()),
            other => other,
        })??;
        self.barrier().await?;
        let roles = self.auth_state(|a| {
            a.users
                .get(&r.name)
                .map(|u| u.roles.clone())
                .ok_or(EtcdError::UserNotFound)
        })??;
        Ok(Response::new(AuthUserGetResponse {
            header: self.auth_header(),
            roles,
        }))
    }

    async fn user_list(&self, req: Request<AuthUserListRequest>) -> Answer<AuthUserListResponse> {
        self.admin(&req)?;
        self.barrier().await?;
        let users = self.auth_state(|a| a.users.keys().cloned().collect())?;
        Ok(Response::new(AuthUserListResponse {
            header: self.auth_header(),
            users,
        }))
    }

    async fn user_delete(
        &self,
        req: Request<AuthUserDeleteRequest>,
    ) -> Answer<AuthUserDeleteResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::UserDelete(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthUserDeleteResponse {
            header: self.auth_header(),
        }))
    }

    async fn user_change_password(
        &self,
        req: Request<AuthUserChangePasswordRequest>,
    ) -> Answer<AuthUserChangePasswordResponse> {
        let sender = self.admin(&req)?;
        let r = req.into_inner();
        // an unknown user is refused before the (slow) hashing
        self.auth_state(|a| {
            a.users
                .contains_key(&r.name)
                .then_some(())
                .ok_or(EtcdError::UserNotFound)
        })??;
        let op = Op::UserChangePassword(ChangePassword {
            hashed_password: self.hash(r.password).await?,
            name: r.name,
        });
        self.change_auth(op, sender).await?;
        Ok(Response::new(AuthUserChangePasswordResponse {
            header: self.auth_header(),
        }))
    }

    async fn user_grant_role(
        &self,
        req: Request<AuthUserGrantRoleRequest>,
    ) -> Answer<AuthUserGrantRoleResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::UserGrantRole(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthUserGrantRoleResponse {
            header: self.auth_header(),
        }))
    }

    async fn user_revoke_role(
        &self,
        req: Request<AuthUserRevokeRoleRequest>,
    ) -> Answer<AuthUserRevokeRoleResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::UserRevokeRole(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthUserRevokeRoleResponse {
            header: self.auth_header(),
        }))
    }

    async fn role_add(&self, req: Request<AuthRoleAddRequest>) -> Answer<AuthRoleAddResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::RoleAdd(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthRoleAddResponse {
            header: self.auth_header(),
        }))
    }

    async fn role_get(&self, req: Request<AuthRoleGetRequest>) -> Answer<AuthRoleGetResponse> {
        // a user may read the roles it holds
        let sender = self.sender(&req)?;
        let r = req.into_inner();
        self.auth_state(|a| {
            let holds = a
                .users
                .get(&sender.username)
                .is_some_and(|u| u.roles.contains(&r.role));
            match a.check_admin(&sender) {
                Err(EtcdError::PermissionDenied) if holds => Ok(()),
                other => other,
            }
        })??;
        self.barrier().await?;
        let perm = self.auth_state(|a| {
            a.roles
                .get(&r.role)
                .map(|x| x.key_permission.clone())
                .ok_or(EtcdError::RoleNotFound)
        })??;
        Ok(Response::new(AuthRoleGetResponse {
            header: self.auth_header(),
            perm,
        }))
    }

    async fn role_list(&self, req: Request<AuthRoleListRequest>) -> Answer<AuthRoleListResponse> {
        self.admin(&req)?;
        self.barrier().await?;
        let roles = self.auth_state(|a| a.roles.keys().cloned().collect())?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.auth_header(),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        req: Request<AuthRoleDeleteRequest>,
    ) -> Answer<AuthRoleDeleteResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::RoleDelete(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthRoleDeleteResponse {
            header: self.auth_header(),
        }))
    }

    async fn role_grant_permission(
        &self,
        req: Request<AuthRoleGrantPermissionRequest>,
    ) -> Answer<AuthRoleGrantPermissionResponse> {
        let sender = self.admin(&req)?;
        if req.get_ref().perm.is_none() {
            return Err(EtcdError::PermissionNotGiven.into());
        }
        self.change_auth(Op::RoleGrantPermission(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse {
            header: self.auth_header(),
        }))
    }

    async fn role_revoke_permission(
        &self,
        req: Request<AuthRoleRevokePermissionRequest>,
    ) -> Answer<AuthRoleRevokePermissionResponse> {
        let sender = self.admin(&req)?;
        self.change_auth(Op::RoleRevokePermission(req.into_inner()), sender)
            .await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse {
            header: self.auth_header(),
        }))
    }
}
