//! etcd cluster membership as `snapshot restore` bootstraps it: peer URL
//! lists, the `--initial-cluster` map, member and cluster IDs, the member
//! JSON stored in the backend and in ConfChange contexts, and the v2 store
//! image saved in the `.snap` file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha1::{Digest, Sha1};

/// A member of the bootstrapped cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    /// Sorted.
    pub peer_urls: Vec<String>,
}

/// Parses a comma-separated URL list like etcd's `types.NewURLs`: each
/// URL trimmed, scheme http/https/unix/unixs, a `host:port`, no path; the
/// result sorted.
pub fn parse_urls(list: &[&str]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("no valid URLs given".into());
    }
    let mut out = Vec::with_capacity(list.len());
    for raw in list {
        let s = raw.trim();
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {s}"
            ));
        };
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {s}"
            ));
        }
        let (host, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !has_port(host) {
            return Err(format!(
                "URL address does not have the form \"host:port\": {s}"
            ));
        }
        if path.starts_with('/') {
            return Err(format!("URL must not contain a path: {s}"));
        }
        out.push(s.to_string());
    }
    out.sort();
    Ok(out)
}

/// Go's `net.SplitHostPort` succeeding: `host:port` or `[v6]:port`, with
/// exactly one unbracketed colon.
fn has_port(host: &str) -> bool {
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((_, tail)) => tail.starts_with(':') && !tail[1..].contains([':', '[', ']']),
            None => false,
        };
    }
    host.matches(':').count() == 1 && !host.contains(['[', ']'])
}

/// Parses `--initial-cluster` (`name=url,name=url,…`) like etcd's
/// `types.NewURLsMap`: a name may repeat to list several URLs; empty
/// items are skipped.
pub fn parse_initial_cluster(s: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for item in s.split(',') {
        if item.is_empty() {
            continue;
        }
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        raw.entry(k.to_string()).or_default().push(v);
    }
    raw.into_iter()
        .map(|(k, v)| parse_urls(&v).map(|u| (k, u)))
        .collect()
}

/// Member ID: the first 8 bytes (big-endian) of SHA-1 over the sorted
/// peer URLs concatenated, followed by the cluster token.
pub fn member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut h = Sha1::new();
    for u in urls {
        h.update(u.as_bytes());
    }
    h.update(token.as_bytes());
    first_u64(&h.finalize())
}

/// Cluster ID: the first 8 bytes of SHA-1 over the sorted member IDs,
/// each 8 bytes big-endian.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    first_u64(&h.finalize())
}

fn first_u64(d: &[u8]) -> u64 {
    u64::from_be_bytes(d[..8].try_into().expect("sha1 has 20 bytes"))
}

/// Appends `s` as a JSON string the way Go's encoding/json does (HTML
/// characters and U+2028/U+2029 escaped, lowercase hex).
pub fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_str_list(out: &mut String, list: &[String]) {
    out.push('[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, s);
    }
    out.push(']');
}

impl Member {
    /// A voting member with its ID derived from URLs and token.
    pub fn new(name: &str, peer_urls: Vec<String>, token: &str) -> Member {
        let mut peer_urls = peer_urls;
        peer_urls.sort();
        Member {
            id: member_id(&peer_urls, token),
            name: name.to_string(),
            peer_urls,
        }
    }

    /// Hex ID as etcd prints it (no zero padding), also the backend key.
    pub fn id_hex(&self) -> String {
        format!("{:x}", self.id)
    }

    /// `{"peerURLs":[…]}` (membership.RaftAttributes of a voter).
    pub fn raft_attributes_json(&self) -> String {
        let mut s = String::from("{\"peerURLs\":");
        json_str_list(&mut s, &self.peer_urls);
        s.push('}');
        s
    }

    /// membership.Member as JSON: `{"id":N,"peerURLs":[…],"name":"…"}`
    /// (name omitted when empty; no client URLs before publishing).
    pub fn json(&self) -> String {
        let mut s = format!("{{\"id\":{},\"peerURLs\":", self.id);
        json_str_list(&mut s, &self.peer_urls);
        if !self.name.is_empty() {
            s.push_str(",\"name\":");
            go_json_string(&mut s, &self.name);
        }
        s.push('}');
        s
    }
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// Capacity of the v2 store's event history.
const EVENT_HISTORY: usize = 1000;

fn v2_node(out: &mut String, path: &str, index: usize, value: &str, children: Option<&str>) {
    out.push_str("{\"Path\":");
    go_json_string(out, path);
    let _ = write!(
        out,
        ",\"CreatedIndex\":{index},\"ModifiedIndex\":{index},\"ExpireTime\":\"{ZERO_TIME}\",\"Value\":"
    );
    go_json_string(out, value);
    out.push_str(",\"Children\":");
    out.push_str(children.unwrap_or("null"));
    out.push('}');
}

/// The v2 store image (`store.Save()`) after adding `members` in order:
/// `/0/members/<id>/raftAttributes` for each (store index 1..=n), the
/// empty `/1` namespace, the create events in the history, and the
/// create counter in the stats. Go sorts map keys as strings, so the
/// member directories appear in hex-string order.
pub fn v2_store_json(members: &[Member]) -> Vec<u8> {
    let n = members.len();
    let mut dirs: BTreeMap<String, String> = BTreeMap::new();
    let mut events = Vec::with_capacity(n);
    for (i, m) in members.iter().enumerate() {
        let index = i + 1;
        let dir_path = format!("/0/members/{}", m.id_hex());
        let key = format!("{dir_path}/raftAttributes");
        let value = m.raft_attributes_json();
        let mut kv = String::from("{\"raftAttributes\":");
        v2_node(&mut kv, &key, index, &value, None);
        kv.push('}');
        let mut dir = String::new();
        v2_node(&mut dir, &dir_path, index, "", Some(&kv));
        dirs.insert(m.id_hex(), dir);
        let mut ev = String::from("{\"action\":\"create\",\"node\":{\"key\":");
        go_json_string(&mut ev, &key);
        ev.push_str(",\"value\":");
        go_json_string(&mut ev, &value);
        let _ = write!(
            ev,
            ",\"modifiedIndex\":{index},\"createdIndex\":{index}}}}}"
        );
        events.push(ev);
    }
    let mut zero = String::from("{");
    if n > 0 {
        let mut list = String::from("{");
        for (i, (k, v)) in dirs.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            go_json_string(&mut list, k);
            list.push(':');
            list.push_str(v);
        }
        list.push('}');
        zero.push_str("\"members\":");
        // "/0/members" is created along with the first member.
        v2_node(&mut zero, "/0/members", 1, "", Some(&list));
    }
    zero.push('}');
    let mut root_children = String::from("{\"0\":");
    v2_node(&mut root_children, "/0", 0, "", Some(&zero));
    root_children.push_str(",\"1\":");
    v2_node(&mut root_children, "/1", 0, "", Some("{}"));
    root_children.push('}');

    let mut s = String::from("{\"Root\":");
    v2_node(&mut s, "/", 0, "", Some(&root_children));
    s.push_str(",\"WatcherHub\":{\"EventHistory\":{\"Queue\":{\"Events\":[");
    for i in 0..EVENT_HISTORY {
        if i > 0 {
            s.push(',');
        }
        s.push_str(events.get(i).map_or("null", String::as_str));
    }
    let kept = n.min(EVENT_HISTORY);
    let _ = write!(
        s,
        "],\"Size\":{kept},\"Front\":{front},\"Back\":{back},\"Capacity\":{EVENT_HISTORY}}},\
         \"StartIndex\":{start},\"LastIndex\":{n}}}}},\"CurrentIndex\":{n},",
        front = n.saturating_sub(EVENT_HISTORY) % EVENT_HISTORY,
        back = n % EVENT_HISTORY,
        start = if n == 0 {
            0
        } else {
            n.saturating_sub(EVENT_HISTORY) + 1
        },
    );
    s.push_str("\"Stats\":{\"getsSuccess\":0,\"getsFail\":0,\"setsSuccess\":0,\"setsFail\":0,");
    s.push_str("\"deleteSuccess\":0,\"deleteFail\":0,\"updateSuccess\":0,\"updateFail\":0,");
    let _ = write!(s, "\"createSuccess\":{n},\"createFail\":0,");
    s.push_str("\"compareAndSwapSuccess\":0,\"compareAndSwapFail\":0,");
    s.push_str("\"compareAndDeleteSuccess\":0,\"compareAndDeleteFail\":0,");
    s.push_str("\"expireCount\":0,\"watchers\":0},\"CurrentVersion\":2}");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_etcd() {
        let m = Member::new(
            "default",
            vec!["http://localhost:2380".into()],
            "etcd-cluster",
        );
        assert_eq!(m.id_hex(), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[m.id])), "cdf818194e3a8c32");
        let m1 = Member::new("m1", vec!["http://127.0.0.1:42380".into()], "tok1");
        assert_eq!(m1.id_hex(), "32689cdaa5c21add");
        assert_eq!(format!("{:x}", cluster_id(&[m1.id])), "c1fbc22789d8c638");
    }

    #[test]
    fn parsing() {
        let m = parse_initial_cluster("a=http://h:1,b=http://h:2,a=https://x:3,,").expect("ok");
        assert_eq!(m["a"], ["http://h:1", "https://x:3"]);
        assert_eq!(m["b"], ["http://h:2"]);
        assert!(parse_initial_cluster("a=ftp://h:1").is_err());
        assert!(parse_initial_cluster("a=http://h").is_err());
        assert!(parse_initial_cluster("a=http://h:1/p").is_err());
        assert!(parse_initial_cluster("a").is_err());
        assert!(parse_urls(&["http://[::1]:2380"]).is_ok());
        assert!(parse_urls(&[]).is_err());
    }

    #[test]
    fn json_escapes_like_go() {
        let mut s = String::new();
        go_json_string(&mut s, "a<b>&\"\\\n\u{1}é");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"\\\n\u0001é""#);
        let m = Member::new("n", vec!["http://a:1".into()], "t");
        assert_eq!(
            m.json(),
            format!(
                "{{\"id\":{},\"peerURLs\":[\"http://a:1\"],\"name\":\"n\"}}",
                m.id
            )
        );
    }

    #[test]
    fn v2_store_is_valid_json() {
        let ms = [
            Member::new("a", vec!["http://a:1".into()], "t"),
            Member::new("b", vec!["http://b:1".into()], "t"),
        ];
        let v: serde_json::Value = serde_json::from_slice(&v2_store_json(&ms)).expect("json");
        assert_eq!(v["CurrentIndex"], 2);
        let evs = v["WatcherHub"]["EventHistory"]["Queue"]["Events"]
            .as_array()
            .expect("events");
        assert_eq!(evs.len(), 1000);
        assert_eq!(evs[1]["node"]["createdIndex"], 2);
    }
}
