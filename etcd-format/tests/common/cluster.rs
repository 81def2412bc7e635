//! Running real etcd 3.5.1 processes and reading what they serve, for
//! the restore tests.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use testkit::{url, Flags, Proc};

use etcd_format::bolt::Reader;
use etcd_format::restore::RestoreConfig;
use etcd_format::schema::{KeyValue, RevisionKey, KEY};

/// A real etcd we started (`testkit`): SIGKILLed when dropped, its log
/// tail printed if the test fails.
pub struct Running(pub Proc);

pub fn run_ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn etcdctl(bin: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--command-timeout", "5s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}

pub fn json(out: Output, what: &str) -> serde_json::Value {
    serde_json::from_str(&run_ok(out, what)).expect("etcdctl json")
}

/// One etcd member's addresses.
#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub client: String,
    pub peer: String,
}

impl Node {
    pub fn new(name: &str) -> Node {
        let [client, peer] = testkit::ports::free_port_array::<2>();
        Node {
            name: name.into(),
            client: url(client),
            peer: url(peer),
        }
    }

    fn port(u: &str) -> u16 {
        let port = u.rsplit(':').next().expect("a URL with a port");
        port.parse().expect("a numeric port")
    }
}

pub fn cluster_flag(nodes: &[Node]) -> String {
    let pairs: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n.name.as_str(), n.peer.as_str()))
        .collect();
    RestoreConfig::initial_cluster_of(&pairs)
}

pub fn config_for(node: &Node, cluster: &str, token: &str, dir: &Path) -> RestoreConfig {
    RestoreConfig {
        name: node.name.clone(),
        data_dir: Some(dir.to_path_buf()),
        initial_cluster: cluster.into(),
        initial_cluster_token: token.into(),
        initial_advertise_peer_urls: node.peer.clone(),
        ..Default::default()
    }
}

/// Starts `etcd` as `node` on `dir` (restored by the caller) with the
/// cluster's `--initial-cluster`.
pub fn start_etcd(etcd: &Path, node: &Node, cluster: &str, dir: &Path) -> Running {
    let flags = Flags {
        initial_cluster: Some(cluster.to_string()),
        ..Flags::new(
            &node.name,
            dir,
            Node::port(&node.client),
            Node::port(&node.peer),
        )
    };
    let mut p = Proc::new(&node.name, etcd, flags.args(), None);
    p.spawn();
    Running(p)
}

/// Waits until the endpoint answers a linearizable read.
pub fn wait_up(etcdctl_bin: &Path, node: &Node, running: &Running) {
    let up = testkit::wait::poll(
        "etcd",
        Duration::from_secs(40),
        Duration::from_millis(200),
        || {
            etcdctl(etcdctl_bin, &node.client, &["get", "health-probe"])
                .status
                .success()
                .then_some(())
                .ok_or_else(|| "no answer".to_string())
        },
    );
    if up.is_err() {
        panic!(
            "etcd {} did not come up; log:\n{}",
            node.name,
            running.0.log()
        );
    }
}

pub fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The live keys of a snapshot as etcdctl's JSON shows them:
/// base64 key -> (base64 value, create, mod, version, lease).
pub type Live = BTreeMap<String, (String, i64, i64, i64, i64)>;

pub fn live_keys(db: &[u8]) -> (Live, i64) {
    let r = Reader::new(db).expect("open");
    let mut live = Live::new();
    let mut rev = 0;
    for e in r.bucket(KEY).expect("key").expect("bucket").iter() {
        let e = e.expect("entry");
        let rk = RevisionKey::decode(e.key).expect("revision key");
        rev = rk.rev.main;
        let kv = KeyValue::decode_value(e.value).expect("kv");
        if rk.tombstone {
            live.remove(&b64(&kv.key));
        } else {
            live.insert(
                b64(&kv.key),
                (
                    b64(&kv.value),
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.lease,
                ),
            );
        }
    }
    (live, rev)
}

pub fn served_keys(etcdctl_bin: &Path, endpoint: &str) -> (Live, i64) {
    let v = json(
        etcdctl(
            etcdctl_bin,
            endpoint,
            &["get", "", "--prefix", "-w", "json"],
        ),
        "get",
    );
    let mut live = Live::new();
    for kv in v["kvs"].as_array().cloned().unwrap_or_default() {
        let n = |k: &str| kv[k].as_i64().unwrap_or(0);
        live.insert(
            kv["key"].as_str().expect("key").into(),
            (
                kv["value"].as_str().unwrap_or("").into(),
                n("create_revision"),
                n("mod_revision"),
                n("version"),
                n("lease"),
            ),
        );
    }
    (live, v["header"]["revision"].as_i64().expect("revision"))
}

/// Every file under `dir`: relative path -> (mode, size).
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let md = e.metadata().expect("metadata");
            let rel = e.path().strip_prefix(dir).expect("prefix").to_path_buf();
            out.insert(rel, (md.permissions().mode() & 0o777, md.len()));
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// All buckets and their entries.
pub type Buckets = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

pub fn buckets(path: &Path) -> Buckets {
    buckets_of(&fs::read(path).expect("db"))
}

pub fn buckets_of(data: &[u8]) -> Buckets {
    let r = Reader::new(data).expect("open db");
    r.check().expect("db check");
    let mut out = BTreeMap::new();
    for name in r.bucket_names().expect("names") {
        let b = r.bucket(&name).expect("bucket").expect("present");
        let entries = b
            .iter()
            .map(|e| e.map(|e| (e.key.to_vec(), e.value.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .expect("entries");
        out.insert(name, entries);
    }
    out
}

pub fn etcdutl_restore(etcdutl: &Path, snap: &Path, cfg: &RestoreConfig) {
    let mut cmd = Command::new(etcdutl);
    cmd.args(["snapshot", "restore"])
        .arg(snap)
        .args(["--name", &cfg.name])
        .args(["--initial-cluster", &cfg.initial_cluster])
        .args(["--initial-cluster-token", &cfg.initial_cluster_token])
        .args([
            "--initial-advertise-peer-urls",
            &cfg.initial_advertise_peer_urls,
        ])
        .arg("--data-dir")
        .arg(cfg.data_dir());
    if let Some(w) = &cfg.wal_dir {
        cmd.arg("--wal-dir").arg(w);
    }
    if cfg.skip_hash_check {
        cmd.arg("--skip-hash-check");
    }
    run_ok(cmd.output().expect("etcdutl"), "etcdutl restore");
}
