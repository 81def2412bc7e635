//! The `json` writer's forms of the member responses (see `json.rs` for
//! the encoding rules): Go's `encoding/json` of the pb messages, and
//! etcdctl 3.5's hand-built `member list --hex` form.

use oxcd_proto::etcdserverpb::{
    Member, MemberAddResponse, MemberListResponse, MemberRemoveResponse, MemberUpdateResponse,
};

use super::json_obj::{go_string, header, Obj};

pub fn member(m: &Member) -> String {
    Obj::new()
        .num("ID", m.id)
        .string("name", &m.name)
        .strings("peerURLs", &m.peer_ur_ls)
        .strings("clientURLs", &m.client_ur_ls)
        .boolean("isLearner", m.is_learner)
        .finish()
}

pub fn member_list(r: &MemberListResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .list("members", r.members.iter().map(member).collect())
        .finish()
}

/// etcdctl 3.5's hand-built `--hex` member list: IDs as quoted hex,
/// `raft_term` as unquoted hex, names unescaped and `clientURLS`.
pub fn member_list_hex(r: &MemberListResponse) -> String {
    let h = crate::printer::header(&r.header);
    let mut s = format!(
        "{{\"header\":{{\"cluster_id\":\"{:x}\",\"member_id\":\"{:x}\",\"raft_term\":{:x}}}",
        h.cluster_id, h.member_id, h.raft_term
    );
    for (i, m) in r.members.iter().enumerate() {
        s.push_str(if i == 0 {
            ",\"members\":[{\"ID\":\""
        } else {
            ",{\"ID\":\""
        });
        let urls = |v: &[String]| -> String {
            if v.is_empty() {
                // encoding/json of a nil slice
                "null".to_string()
            } else {
                format!(
                    "[{}]",
                    v.iter()
                        .map(|u| go_string(u.as_bytes()))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        };
        s.push_str(&format!(
            "{:x}\",\"name\":\"{}\",\"peerURLs\":{},\"clientURLS\":{}}}",
            m.id,
            m.name,
            urls(&m.peer_ur_ls),
            urls(&m.client_ur_ls)
        ));
        if i + 1 == r.members.len() {
            s.push(']');
        }
    }
    s.push('}');
    s
}

/// `member add`: the header, the new member (no name or client URLs yet),
/// then every member.
pub fn member_add(r: &MemberAddResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .obj("member", r.member.as_ref().map(member))
        .list("members", r.members.iter().map(member).collect())
        .finish()
}

pub fn member_remove(r: &MemberRemoveResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .list("members", r.members.iter().map(member).collect())
        .finish()
}

pub fn member_update(r: &MemberUpdateResponse) -> String {
    Obj::new()
        .obj("header", header(&r.header))
        .list("members", r.members.iter().map(member).collect())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_proto::etcdserverpb::ResponseHeader;

    #[test]
    fn member_list_forms() {
        let r = MemberListResponse {
            header: Some(ResponseHeader {
                cluster_id: 0xcdf818194e3a8c32,
                member_id: 0x8e9e05c52164694d,
                revision: 0,
                raft_term: 2,
            }),
            members: vec![Member {
                id: 0x8e9e05c52164694d,
                name: "default".into(),
                peer_ur_ls: vec!["http://localhost:2380".into()],
                client_ur_ls: vec!["http://127.0.0.1:42379".into()],
                is_learner: false,
            }],
        };
        assert_eq!(member_list(&r), "{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\"raft_term\":2},\"members\":[{\"ID\":10276657743932975437,\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\"clientURLs\":[\"http://127.0.0.1:42379\"]}]}");
        assert_eq!(member_list_hex(&r), "{\"header\":{\"cluster_id\":\"cdf818194e3a8c32\",\"member_id\":\"8e9e05c52164694d\",\"raft_term\":2},\"members\":[{\"ID\":\"8e9e05c52164694d\",\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\"clientURLS\":[\"http://127.0.0.1:42379\"]}]}");
    }

    /// As real etcdctl 3.5.1 printed `member add --learner -w json`.
    #[test]
    fn member_add_form() {
        let h = Some(ResponseHeader {
            cluster_id: 14841639068965178418,
            member_id: 10276657743932975437,
            revision: 0,
            raft_term: 2,
        });
        let new = Member {
            id: 1100623861508681717,
            peer_ur_ls: vec!["http://127.0.0.1:52383".into()],
            is_learner: true,
            ..Member::default()
        };
        let old = Member {
            id: 10276657743932975437,
            name: "default".into(),
            peer_ur_ls: vec!["http://localhost:2380".into()],
            client_ur_ls: vec!["http://127.0.0.1:24379".into()],
            is_learner: false,
        };
        let r = MemberAddResponse {
            header: h,
            member: Some(new.clone()),
            members: vec![new, old.clone()],
        };
        assert_eq!(member_add(&r), "{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\"raft_term\":2},\"member\":{\"ID\":1100623861508681717,\"peerURLs\":[\"http://127.0.0.1:52383\"],\"isLearner\":true},\"members\":[{\"ID\":1100623861508681717,\"peerURLs\":[\"http://127.0.0.1:52383\"],\"isLearner\":true},{\"ID\":10276657743932975437,\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\"clientURLs\":[\"http://127.0.0.1:24379\"]}]}");
        let r = MemberRemoveResponse {
            header: h,
            members: vec![old],
        };
        assert_eq!(member_remove(&r), "{\"header\":{\"cluster_id\":14841639068965178418,\"member_id\":10276657743932975437,\"raft_term\":2},\"members\":[{\"ID\":10276657743932975437,\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\"clientURLs\":[\"http://127.0.0.1:24379\"]}]}");
    }
}
