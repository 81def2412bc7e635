//! The default `simple` writer: plain lines, keys and values verbatim (or
//! `\x66`-style with `--hex`).

use std::fmt::Write as _;

use oxcd_proto::etcdserverpb::response_op::Response;
use oxcd_proto::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberListResponse,
    MoveLeaderResponse, PutResponse, RangeResponse, TxnResponse, WatchResponse,
};
use oxcd_proto::mvccpb::KeyValue;

use super::{
    alarm_text, lease_hex, EpHashKv, EpHealth, EpStatus, Printer, SnapshotStatus, Streams,
};
use crate::error::Result;

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
