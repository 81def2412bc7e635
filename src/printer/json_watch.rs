//! The `json` writer's forms of watch responses and `endpoint hashkv`
//! results (see `json.rs` for the encoding rules).

use oxcd_proto::etcdserverpb::WatchResponse;

use super::json_obj::{go_string, header, kv, Obj};
use super::EpHashKv;

/// clientv3's `WatchResponse`: untagged fields, the header by value, the
/// events list allocated (`[]` when empty) for what the server sent; the
/// response clientv3 makes itself when the server refuses a watch has no
/// header and no list (`null`).
pub fn watch(r: &WatchResponse) -> String {
    let events: Vec<String> = r
        .events
        .iter()
        .map(|e| {
            Obj::new()
                .num("type", e.r#type)
                .obj("kv", e.kv.as_ref().map(kv))
                .obj("prev_kv", e.prev_kv.as_ref().map(kv))
                .finish()
        })
        .collect();
    let events = if r.header.is_none() && r.canceled && r.events.is_empty() {
        "null".to_string()
    } else {
        format!("[{}]", events.join(","))
    };
    Obj::new()
        .obj("Header", header(&Some(super::header(&r.header))))
        .raw("Events", &events)
        .raw("CompactRevision", &r.compact_revision.to_string())
        .raw("Canceled", &r.canceled.to_string())
        .raw("Created", &r.created.to_string())
        .finish()
}

pub fn endpoint_hashkv(list: &[EpHashKv]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|h| {
            let r = Obj::new()
                .obj("header", header(&h.resp.header))
                .num("hash", h.resp.hash)
                .num("compact_revision", h.resp.compact_revision)
                .finish();
            Obj::new()
                .raw("Endpoint", &go_string(h.ep.as_bytes()))
                .raw("HashKV", &r)
                .finish()
        })
        .collect();
    format!("[{}]", items.join(","))
}
