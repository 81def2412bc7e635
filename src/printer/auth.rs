//! What every writer prints for the auth, user and role commands, shared
//! by the writers' `Printer` methods (the texts are etcdctl 3.5's).
//!
//! Changes (user add, role grant-permission, …) print a message with the
//! simple writer and the header-only response otherwise; `auth status`,
//! `user get` and `user list` have no fields output (etcdctl refuses),
//! `role get` and `role list` have; the table writer has none of them.

use std::fmt::Write as _;

use oxcd_proto::authpb::{permission::Type as PermType, Permission};
use oxcd_proto::etcdserverpb::{
    AuthRoleGetResponse, AuthRoleListResponse, AuthStatusResponse, AuthUserGetResponse,
    AuthUserListResponse,
};

use super::json_obj::{header, Obj};
use crate::gofmt::quote;
use crate::keys::prefix_end;

fn perm_type(p: &Permission) -> PermType {
    PermType::try_from(p.perm_type).unwrap_or(PermType::Read)
}

/// One permission line of `role get`: the key, or its range, raw bytes.
fn perm_line(o: &mut Vec<u8>, p: &Permission) {
    o.push(b'\t');
    if p.range_end.is_empty() {
        o.extend_from_slice(&p.key);
    } else {
        o.push(b'[');
        o.extend_from_slice(&p.key);
        o.extend_from_slice(b", ");
        if p.range_end == [0] {
            o.extend_from_slice(b"<open ended>");
        } else {
            o.extend_from_slice(&p.range_end);
            o.push(b')');
        }
        if prefix_end(&p.key) == p.range_end {
            o.extend_from_slice(b" (prefix ");
            o.extend_from_slice(&p.key);
            o.push(b')');
        }
    }
    o.push(b'\n');
}

pub fn simple_role_get(name: &str, r: &AuthRoleGetResponse) -> Vec<u8> {
    let mut o = format!("Role {name}\nKV Read:\n").into_bytes();
    for p in r.perm.iter().filter(|p| perm_type(p) != PermType::Write) {
        perm_line(&mut o, p);
    }
    o.extend_from_slice(b"KV Write:\n");
    for p in r.perm.iter().filter(|p| perm_type(p) != PermType::Read) {
        perm_line(&mut o, p);
    }
    o
}

pub fn simple_user_get(name: &str, r: &AuthUserGetResponse) -> String {
    let mut o = format!("User: {name}\nRoles:");
    for role in &r.roles {
        o.push(' ');
        o.push_str(role);
    }
    o.push('\n');
    o
}

pub fn simple_status(r: &AuthStatusResponse) -> String {
    format!(
        "Authentication Status: {}\nAuthRevision: {}\n",
        r.enabled, r.auth_revision
    )
}

pub fn simple_list(names: &[String]) -> String {
    names.iter().map(|n| format!("{n}\n")).collect()
}

pub fn json_header_only(h: &Option<oxcd_proto::etcdserverpb::ResponseHeader>) -> String {
    Obj::new().obj("header", header(h)).finish()
}

pub fn json_status(r: &AuthStatusResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .boolean("enabled", r.enabled)
        .num("authRevision", r.auth_revision)
        .finish()
}

pub fn json_user_get(r: &AuthUserGetResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .strings("roles", &r.roles)
        .finish()
}

pub fn json_user_list(r: &AuthUserListResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .strings("users", &r.users)
        .finish()
}

pub fn json_role_get(r: &AuthRoleGetResponse) -> String {
    let perms = r
        .perm
        .iter()
        .map(|p| {
            Obj::new()
                .num("permType", p.perm_type)
                .bytes("key", &p.key)
                .bytes("range_end", &p.range_end)
                .finish()
        })
        .collect();
    Obj::new()
        .obj("header", header(&r.header))
        .list("perm", perms)
        .finish()
}

pub fn json_role_list(r: &AuthRoleListResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .strings("roles", &r.roles)
        .finish()
}

/// The fields of `role get` after the header.
pub fn fields_perms(o: &mut String, r: &AuthRoleGetResponse) {
    for p in &r.perm {
        let name = perm_type(p).as_str_name();
        // Go's Println of two operands: a second space
        let _ = writeln!(o, "\"PermType\" :  {name}");
        let _ = writeln!(o, "\"Key\" : {}", quote(&p.key));
        let _ = writeln!(o, "\"RangeEnd\" : {}", quote(&p.range_end));
    }
}

/// The fields of `role list` after the header.
pub fn fields_roles(o: &mut String, r: &AuthRoleListResponse) {
    o.push_str("\"Roles\" :");
    for role in &r.roles {
        o.push(' ');
        o.push_str(&quote(role.as_bytes()));
    }
    o.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: PermType, key: &[u8], end: &[u8]) -> Permission {
        Permission {
            perm_type: t as i32,
            key: key.to_vec(),
            range_end: end.to_vec(),
        }
    }

    #[test]
    fn role_get_lines_as_etcdctl() {
        let r = AuthRoleGetResponse {
            header: None,
            perm: vec![
                p(PermType::Read, b"\0", b""),
                p(PermType::Read, b"\0", b"\0"),
                p(PermType::Read, b"a", b"b"),
                p(PermType::Readwrite, b"fk", b"\0"),
                p(PermType::Write, b"pre", b"prf"),
                p(PermType::Read, b"z", b"a"),
                p(PermType::Read, b"\xff", b"\0"),
            ],
        };
        let out = simple_role_get("p1", &r);
        assert_eq!(
            out,
            b"Role p1\nKV Read:\n\t\0\n\t[\0, <open ended>\n\t[a, b) (prefix a)\n\t[fk, <open ended>\n\t[z, a)\n\t[\xff, <open ended> (prefix \xff)\nKV Write:\n\t[fk, <open ended>\n\t[pre, prf) (prefix pre)\n"
                .to_vec()
        );
        let mut f = String::new();
        fields_perms(&mut f, &r);
        assert!(f.starts_with("\"PermType\" :  READ\n\"Key\" : \"\\x00\"\n\"RangeEnd\" : \"\"\n"));
        assert!(json_role_get(&r).contains(r#"{"permType":2,"key":"Zms=","range_end":"AA=="}"#));
    }

    #[test]
    fn user_get_and_status() {
        let r = AuthUserGetResponse {
            header: None,
            roles: vec![],
        };
        assert_eq!(simple_user_get("noperm", &r), "User: noperm\nRoles:\n");
        let s = AuthStatusResponse {
            header: None,
            enabled: false,
            auth_revision: 1,
        };
        assert_eq!(json_status(&s), r#"{"authRevision":1}"#);
        assert_eq!(
            simple_status(&s),
            "Authentication Status: false\nAuthRevision: 1\n"
        );
    }
}
