//! The default `simple` writer: plain lines, keys and values verbatim (or
//! `\x66`-style with `--hex`).

use std::fmt::Write as _;

use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::{
    AlarmResponse, AuthRoleGetResponse, AuthRoleListResponse, AuthStatusResponse,
    AuthUserGetResponse, AuthUserListResponse, DeleteRangeResponse, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse,
    MemberAddResponse, MemberListResponse, MemberPromoteResponse, MemberRemoveResponse,
    MemberUpdateResponse, MoveLeaderResponse, PutResponse, RangeResponse, ResponseHeader,
    TxnResponse, WatchResponse,
};
use oxcd_proto::mvccpb::KeyValue;

use super::{
    alarm_text, lease_hex, EpHashKv, EpHealth, EpStatus, Printer, SnapshotStatus, Streams,
};
use crate::error::Result;
use crate::flags::unescape_arg;
use crate::gofmt::quote;

pub struct SimplePrinter {
    pub hex: bool,
    pub value_only: bool,
}

/// `\x66\x6f\x6f` form of `--hex`.
pub fn hex_escape(b: &[u8]) -> Vec<u8> {
    let mut s = String::with_capacity(b.len() * 4);
    for byte in b {
        let _ = write!(s, "\\x{byte:02x}");
    }
    s.into_bytes()
}

impl SimplePrinter {
    fn kv(&self, out: &mut Vec<u8>, kv: &KeyValue) {
        let (k, v) = if self.hex {
            (hex_escape(&kv.key), hex_escape(&kv.value))
        } else {
            (kv.key.clone(), kv.value.clone())
        };
        if !self.value_only {
            out.extend_from_slice(&k);
            out.push(b'\n');
        }
        out.extend_from_slice(&v);
        out.push(b'\n');
    }

    pub fn put_bytes(&self, out: &mut Vec<u8>, r: &PutResponse) {
        out.extend_from_slice(b"OK\n");
        if let Some(kv) = &r.prev_kv {
            self.kv(out, kv);
        }
    }

    pub fn get_bytes(&self, out: &mut Vec<u8>, r: &RangeResponse) {
        for kv in &r.kvs {
            self.kv(out, kv);
        }
    }

    pub fn del_bytes(&self, out: &mut Vec<u8>, r: &DeleteRangeResponse) {
        out.extend_from_slice(format!("{}\n", r.deleted).as_bytes());
        for kv in &r.prev_kvs {
            self.kv(out, kv);
        }
    }

    pub fn txn_bytes(&self, out: &mut Vec<u8>, r: &TxnResponse) {
        out.extend_from_slice(if r.succeeded {
            b"SUCCESS\n"
        } else {
            b"FAILURE\n"
        });
        for op in &r.responses {
            out.push(b'\n');
            match &op.response {
                Some(Response::ResponseDeleteRange(d)) => self.del_bytes(out, d),
                Some(Response::ResponsePut(p)) => self.put_bytes(out, p),
                Some(Response::ResponseRange(g)) => self.get_bytes(out, g),
                // Nested txn results have no simple form in etcdctl either.
                other => {
                    out.extend_from_slice(format!("unexpected response {other:?}\n").as_bytes())
                }
            }
        }
    }
}

impl Printer for SimplePrinter {
    fn name(&self) -> &'static str {
        "simple"
    }
    fn set_value_only(&mut self) {
        self.value_only = true;
    }
    fn put(&self, w: &mut Streams, r: &PutResponse) -> Result<()> {
        let mut out = Vec::new();
        self.put_bytes(&mut out, r);
        w.print_bytes(&out);
        Ok(())
    }
    fn get(&self, w: &mut Streams, r: &RangeResponse) -> Result<()> {
        let mut out = Vec::new();
        self.get_bytes(&mut out, r);
        w.print_bytes(&out);
        Ok(())
    }
    fn del(&self, w: &mut Streams, r: &DeleteRangeResponse) -> Result<()> {
        let mut out = Vec::new();
        self.del_bytes(&mut out, r);
        w.print_bytes(&out);
        Ok(())
    }
    fn txn(&self, w: &mut Streams, r: &TxnResponse) -> Result<()> {
        let mut out = Vec::new();
        self.txn_bytes(&mut out, r);
        w.print_bytes(&out);
        Ok(())
    }
    fn endpoint_status(&self, w: &mut Streams, s: &[EpStatus]) -> Result<()> {
        let (_, rows) = super::endpoint_status_rows(s);
        for row in rows {
            w.print(&format!("{}\n", row.join(", ")));
        }
        Ok(())
    }
    fn endpoint_health(&self, w: &mut Streams, hs: &[EpHealth]) -> Result<()> {
        for h in hs {
            if h.error.is_empty() {
                w.print(&format!(
                    "{} is healthy: successfully committed proposal: took = {}\n",
                    h.ep, h.took
                ));
            } else {
                w.eprint(&format!(
                    "{} is unhealthy: failed to commit proposal: {}\n",
                    h.ep, h.error
                ));
            }
        }
        Ok(())
    }
    fn endpoint_hashkv(&self, w: &mut Streams, hs: &[EpHashKv]) -> Result<()> {
        for h in hs {
            w.print(&format!("{}, {}\n", h.ep, h.resp.hash));
        }
        Ok(())
    }
    fn member_list(&self, w: &mut Streams, r: &MemberListResponse) -> Result<()> {
        let (_, rows) = super::member_list_rows(r);
        for row in rows {
            w.print(&format!("{}\n", row.join(", ")));
        }
        Ok(())
    }
    fn member_add(
        &self,
        w: &mut Streams,
        r: &MemberAddResponse,
        name: &str,
        peer_urls: &str,
    ) -> Result<()> {
        w.print_bytes(&member_add_bytes(r, name, peer_urls));
        Ok(())
    }
    fn member_remove(&self, w: &mut Streams, id: u64, r: &MemberRemoveResponse) -> Result<()> {
        let cluster = super::header(&r.header).cluster_id;
        w.print(&format!(
            "Member {id:16x} removed from cluster {cluster:16x}\n"
        ));
        Ok(())
    }
    fn member_update(&self, w: &mut Streams, id: u64, r: &MemberUpdateResponse) -> Result<()> {
        let cluster = super::header(&r.header).cluster_id;
        w.print(&format!(
            "Member {id:16x} updated in cluster {cluster:16x}\n"
        ));
        Ok(())
    }
    fn member_promote(&self, w: &mut Streams, id: u64, r: &MemberPromoteResponse) -> Result<()> {
        let cluster = super::header(&r.header).cluster_id;
        w.print(&format!(
            "Member {id:16x} promoted in cluster {cluster:16x}\n"
        ));
        Ok(())
    }
    fn lease_grant(&self, w: &mut Streams, r: &LeaseGrantResponse) -> Result<()> {
        w.print(&format!(
            "lease {} granted with TTL({}s)\n",
            lease_hex(r.id),
            r.ttl
        ));
        Ok(())
    }
    fn lease_revoke(&self, w: &mut Streams, id: i64, _r: &LeaseRevokeResponse) -> Result<()> {
        w.print(&format!("lease {} revoked\n", lease_hex(id)));
        Ok(())
    }
    fn lease_keep_alive(&self, w: &mut Streams, r: &LeaseKeepAliveResponse) -> Result<()> {
        w.print(&format!(
            "lease {} keepalived with TTL({})\n",
            lease_hex(r.id),
            r.ttl
        ));
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        w: &mut Streams,
        r: &LeaseTimeToLiveResponse,
        keys: bool,
    ) -> Result<()> {
        w.print_bytes(&time_to_live_bytes(r, keys));
        Ok(())
    }
    fn lease_list(&self, w: &mut Streams, r: &LeaseLeasesResponse) -> Result<()> {
        let mut o = format!("found {} leases\n", r.leases.len());
        for l in &r.leases {
            let _ = writeln!(o, "{}", lease_hex(l.id));
        }
        w.print(&o);
        Ok(())
    }
    fn alarm(&self, w: &mut Streams, r: &AlarmResponse) -> Result<()> {
        for a in &r.alarms {
            w.print(&format!("{}\n", alarm_text(a)));
        }
        Ok(())
    }
    fn move_leader(
        &self,
        w: &mut Streams,
        leader: u64,
        target: u64,
        _r: &MoveLeaderResponse,
    ) -> Result<()> {
        w.print(&format!(
            "Leadership transferred from {leader:x} to {target:x}\n"
        ));
        Ok(())
    }
    fn watch(&self, w: &mut Streams, r: &WatchResponse) -> Result<()> {
        let mut out = Vec::new();
        for e in &r.events {
            out.extend_from_slice(super::event_type_name(e.r#type).as_bytes());
            out.push(b'\n');
            if let Some(p) = &e.prev_kv {
                self.kv(&mut out, p);
            }
            self.kv(&mut out, &e.kv.clone().unwrap_or_default());
        }
        w.print_bytes(&out);
        Ok(())
    }
    fn snapshot_status(&self, w: &mut Streams, s: &SnapshotStatus) -> Result<()> {
        let (_, row) = super::snapshot_status_row(s);
        w.print(&format!("{}\n", row.join(", ")));
        Ok(())
    }
    fn auth_change(
        &self,
        w: &mut Streams,
        message: &str,
        _h: &Option<ResponseHeader>,
    ) -> Result<()> {
        w.print(&format!("{message}\n"));
        Ok(())
    }
    fn auth_status(&self, w: &mut Streams, r: &AuthStatusResponse) -> Result<()> {
        w.print(&super::auth::simple_status(r));
        Ok(())
    }
    fn user_get(&self, w: &mut Streams, name: &str, r: &AuthUserGetResponse) -> Result<()> {
        w.print(&super::auth::simple_user_get(name, r));
        Ok(())
    }
    fn user_list(&self, w: &mut Streams, r: &AuthUserListResponse) -> Result<()> {
        w.print(&super::auth::simple_list(&r.users));
        Ok(())
    }
    fn role_get(&self, w: &mut Streams, name: &str, r: &AuthRoleGetResponse) -> Result<()> {
        w.print_bytes(&super::auth::simple_role_get(name, r));
        Ok(())
    }
    fn role_list(&self, w: &mut Streams, r: &AuthRoleListResponse) -> Result<()> {
        w.print(&super::auth::simple_list(&r.roles));
        Ok(())
    }
}

/// `member add`: the line (`%16x`: space-padded IDs), then the settings
/// for the new member. `ETCD_INITIAL_CLUSTER` lists `name=peerURL` for every
/// peer URL of every member in the response's order, the new member under
/// `name` (members that never started have an empty name and are listed as
/// `=URL`); `ETCD_INITIAL_ADVERTISE_PEER_URLS` is `--peer-urls` as given.
pub fn member_add_bytes(r: &MemberAddResponse, name: &str, peer_urls: &str) -> Vec<u8> {
    let new_id = r.member.as_ref().map_or(0, |m| m.id);
    let cluster = super::header(&r.header).cluster_id;
    let name = unescape_arg(name);
    let mut conf: Vec<u8> = Vec::new();
    for m in &r.members {
        for u in &m.peer_ur_ls {
            if !conf.is_empty() {
                conf.push(b',');
            }
            if m.id == new_id {
                conf.extend_from_slice(&name);
            } else {
                conf.extend_from_slice(m.name.as_bytes());
            }
            conf.push(b'=');
            conf.extend_from_slice(u.as_bytes());
        }
    }
    let mut out = format!("Member {new_id:16x} added to cluster {cluster:16x}\n\n");
    let _ = writeln!(out, "ETCD_NAME={}", quote(&name));
    let _ = writeln!(out, "ETCD_INITIAL_CLUSTER={}", quote(&conf));
    let _ = writeln!(
        out,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS={}",
        quote(&unescape_arg(peer_urls))
    );
    out.push_str("ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
    out.into_bytes()
}

/// `lease timetolive`: an expired lease (granted TTL 0, TTL -1) is one
/// line; `--keys` appends the keys as Go's `%v` of a `[]string` (raw bytes).
pub fn time_to_live_bytes(r: &LeaseTimeToLiveResponse, keys: bool) -> Vec<u8> {
    if r.granted_ttl == 0 && r.ttl == -1 {
        return format!("lease {} already expired\n", lease_hex(r.id)).into_bytes();
    }
    let mut out = format!(
        "lease {} granted with TTL({}s), remaining({}s)",
        lease_hex(r.id),
        r.granted_ttl,
        r.ttl
    )
    .into_bytes();
    if keys {
        out.extend_from_slice(b", attached keys([");
        for (i, k) in r.keys.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(k);
        }
        out.extend_from_slice(b"])");
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v.into(),
            ..KeyValue::default()
        }
    }

    #[test]
    fn keys_only_prints_empty_value_lines() {
        let p = SimplePrinter {
            hex: false,
            value_only: false,
        };
        let r = RangeResponse {
            kvs: vec![kv("foo", ""), kv("foo1", "")],
            ..RangeResponse::default()
        };
        let mut out = Vec::new();
        p.get_bytes(&mut out, &r);
        assert_eq!(out, b"foo\n\nfoo1\n\n");
    }

    /// As real etcdctl 3.5.1 printed them: a space-padded ID, a name that
    /// needs quoting, and a member that never started (no name).
    #[test]
    fn member_add_lines() {
        use oxcd_proto::etcdserverpb::{Member, ResponseHeader};
        let member = |id: u64, name: &str, urls: &[&str]| Member {
            id,
            name: name.into(),
            peer_ur_ls: urls.iter().map(|u| u.to_string()).collect(),
            ..Member::default()
        };
        let new = member(
            0x3d0c77f13d10238,
            "",
            &["http://127.0.0.1:52381", "http://127.0.0.1:52382"],
        );
        let r = MemberAddResponse {
            header: Some(ResponseHeader {
                cluster_id: 0xcdf818194e3a8c32,
                ..ResponseHeader::default()
            }),
            member: Some(new.clone()),
            members: vec![
                new,
                member(0x8e9e05c52164694d, "default", &["http://localhost:2380"]),
            ],
        };
        let out = member_add_bytes(
            &r,
            "we\"ird \u{e9}",
            "http://127.0.0.1:52381, http://127.0.0.1:52382",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Member  3d0c77f13d10238 added to cluster cdf818194e3a8c32\n\n\
             ETCD_NAME=\"we\\\"ird \u{e9}\"\n\
             ETCD_INITIAL_CLUSTER=\"we\\\"ird \u{e9}=http://127.0.0.1:52381,we\\\"ird \u{e9}=http://127.0.0.1:52382,default=http://localhost:2380\"\n\
             ETCD_INITIAL_ADVERTISE_PEER_URLS=\"http://127.0.0.1:52381, http://127.0.0.1:52382\"\n\
             ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
        );
        let v = member(0xe8d5fca895180640, "", &["http://127.0.0.1:25386"]);
        let r = MemberAddResponse {
            header: Some(ResponseHeader {
                cluster_id: 0x20f657524b5b6bb1,
                ..ResponseHeader::default()
            }),
            member: Some(v.clone()),
            members: vec![
                member(0x64b12d5f778fc6f6, "", &["http://127.0.0.1:25384"]),
                member(0x82039f3eee02bfb3, "a", &["http://127.0.0.1:25380"]),
                member(0xd577d6d3d5cb459c, "b", &["http://127.0.0.1:25382"]),
                v,
            ],
        };
        let out = String::from_utf8(member_add_bytes(&r, "v", "http://127.0.0.1:25386")).unwrap();
        assert!(out.contains("\nETCD_INITIAL_CLUSTER=\"=http://127.0.0.1:25384,a=http://127.0.0.1:25380,b=http://127.0.0.1:25382,v=http://127.0.0.1:25386\"\n"), "{out}");
    }

    #[test]
    fn hex_form() {
        let p = SimplePrinter {
            hex: true,
            value_only: false,
        };
        let r = RangeResponse {
            kvs: vec![kv("foo", "bar4")],
            ..RangeResponse::default()
        };
        let mut out = Vec::new();
        p.get_bytes(&mut out, &r);
        assert_eq!(out, b"\\x66\\x6f\\x6f\n\\x62\\x61\\x72\\x34\n");
    }
}
