//! The building blocks of the `json` writer, shared by `json.rs`,
//! `json_member.rs` and `json_watch.rs`: Go `encoding/json` strings, an
//! object builder with Go's field order and `omitempty`, and the header and
//! key-value objects every response embeds.

use base64::Engine as _;
use oxcd_proto::etcdserverpb::ResponseHeader;
use oxcd_proto::mvccpb::KeyValue;

/// Go `encoding/json` string encoding (Go 1.16: only `\n`, `\r`, `\t`
/// have short escapes; `<`, `>`, `&`, U+2028/9 and invalid UTF-8 are
/// escaped).
pub fn go_string(s: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    let mut rest = s;
    while !rest.is_empty() {
        let b = rest[0];
        if b < 0x80 {
            match b {
                b'"' => o.push_str("\\\""),
                b'\\' => o.push_str("\\\\"),
                b'\n' => o.push_str("\\n"),
                b'\r' => o.push_str("\\r"),
                b'\t' => o.push_str("\\t"),
                b'<' | b'>' | b'&' | 0..=0x1f => {
                    o.push_str("\\u00");
                    o.push(HEX[(b >> 4) as usize] as char);
                    o.push(HEX[(b & 0xf) as usize] as char);
                }
                _ => o.push(b as char),
            }
            rest = &rest[1..];
            continue;
        }
        let (c, w) = crate::gofmt::decode_rune(rest);
        match c {
            None => o.push_str("\\ufffd"),
            Some('\u{2028}') => o.push_str("\\u2028"),
            Some('\u{2029}') => o.push_str("\\u2029"),
            Some(c) => o.push(c),
        }
        rest = &rest[w..];
    }
    o.push('"');
    o
}

/// Builds one JSON object with Go's field order and `omitempty` rules.
#[derive(Default)]
pub struct Obj {
    s: String,
}

impl Obj {
    pub fn new() -> Obj {
        Obj::default()
    }
    fn key(&mut self, k: &str) {
        if !self.s.is_empty() {
            self.s.push(',');
        }
        self.s.push_str(&go_string(k.as_bytes()));
        self.s.push(':');
    }
    /// Always present (no omitempty).
    pub fn raw(mut self, k: &str, v: &str) -> Obj {
        self.key(k);
        self.s.push_str(v);
        self
    }
    pub fn num<T: std::fmt::Display + Default + PartialEq>(self, k: &str, v: T) -> Obj {
        if v == T::default() {
            return self;
        }
        let v = v.to_string();
        self.raw(k, &v)
    }
    pub fn boolean(self, k: &str, v: bool) -> Obj {
        if !v {
            return self;
        }
        self.raw(k, "true")
    }
    pub fn string(self, k: &str, v: &str) -> Obj {
        if v.is_empty() {
            return self;
        }
        self.raw(k, &go_string(v.as_bytes()))
    }
    pub fn bytes(self, k: &str, v: &[u8]) -> Obj {
        if v.is_empty() {
            return self;
        }
        let b = base64::engine::general_purpose::STANDARD.encode(v);
        self.raw(k, &format!("\"{b}\""))
    }
    pub fn obj(self, k: &str, v: Option<String>) -> Obj {
        match v {
            Some(v) => self.raw(k, &v),
            None => self,
        }
    }
    pub fn list(self, k: &str, items: Vec<String>) -> Obj {
        if items.is_empty() {
            return self;
        }
        self.raw(k, &format!("[{}]", items.join(",")))
    }
    pub fn strings(self, k: &str, v: &[String]) -> Obj {
        self.list(k, v.iter().map(|s| go_string(s.as_bytes())).collect())
    }
    pub fn finish(self) -> String {
        format!("{{{}}}", self.s)
    }
}

pub fn header(h: &Option<ResponseHeader>) -> Option<String> {
    h.as_ref().map(|h| {
        Obj::new()
            .num("cluster_id", h.cluster_id)
            .num("member_id", h.member_id)
            .num("revision", h.revision)
            .num("raft_term", h.raft_term)
            .finish()
    })
}

pub fn kv(kv: &KeyValue) -> String {
    Obj::new()
        .bytes("key", &kv.key)
        .num("create_revision", kv.create_revision)
        .num("mod_revision", kv.mod_revision)
        .num("version", kv.version)
        .bytes("value", &kv.value)
        .num("lease", kv.lease)
        .finish()
}
