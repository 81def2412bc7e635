//! The `fields` writer quotes keys and values byte for byte as etcdctl
//! 3.5.1 does (Go 1.16's `%q`): all 256 single bytes, and multi-byte
//! cases (valid UTF-8 of every length, runes Go does not print, runes
//! unassigned in Unicode 13 or added after it, invalid sequences), each as
//! a key and as a value, read back by both clients from the same etcd
//! 3.5.1 and compared whole. The simple and json writers are compared too.
//!
//! Run: `cargo test -p oxctl --test fields_quoting`.

#[path = "common/mod.rs"]
mod common;

use common::{ClientKind, Server, ServerKind};
use oxcd_proto::etcdserverpb::kv_client::KvClient;
use oxcd_proto::etcdserverpb::PutRequest;

/// The multi-byte cases: valid UTF-8, unprintable and unassigned runes,
/// invalid sequences, and mixes with quotes and escapes.
fn multi_byte() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "é",
        "€",
        "😀",
        "\u{2028}",
        "\u{feff}",
        "\u{a0}",
        "\u{fffd}",
        "\u{10ffff}",
        "\u{85}",
        "\u{200b}",
        "\u{e000}",
        "\u{fffe}",
        "\u{378}",
        "\u{870}",
        "\u{1fad7}",
        "\u{31350}",
        "\u{e0001}",
        "a\"b\\c",
        "\u{7}\u{8}\u{c}\n\r\t\u{b}\u{7f}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.extend(
        [
            &b"\x80"[..],
            b"\xe2\x82",
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xff",
            b"ok\xffok\xe2\x82\xacok",
        ]
        .iter()
        .map(|b| b.to_vec()),
    );
    v
}

#[test]
fn every_byte_quoted_as_etcdctl() {
    if !testkit::bins::etcd_available("every_byte_quoted_as_etcdctl") {
        return;
    }
    let srv = Server::start(ServerKind::Etcd, &[]);
    let endpoint = format!("http://{}", srv.endpoint());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let kv = KvClient::connect(endpoint).await.expect("connect");
        let put = |key: Vec<u8>, value: Vec<u8>| {
            let req = PutRequest {
                key,
                value,
                ..Default::default()
            };
            let mut kv = kv.clone();
            async move { kv.put(req).await.expect("put") }
        };
        for b in 0..=255u8 {
            put(vec![b'k', b'1', b], vec![b]).await;
        }
        for (i, m) in multi_byte().into_iter().enumerate() {
            put([&b"k2"[..], format!("{i:02}").as_bytes(), &m].concat(), m).await;
        }
    });
    for w in ["fields", "simple", "json"] {
        let args = ["get", "--prefix", "k", "-w", w];
        let want = srv.ctl(ClientKind::RealEtcdctl, &args);
        let got = srv.ctl(ClientKind::Oxctl, &args);
        assert_eq!(want.code, 0, "etcdctl -w {w}");
        if want.stdout != got.stdout {
            // the first differing line, to say what went wrong
            let (a, b) = (
                want.stdout.split(|c| *c == b'\n'),
                got.stdout.split(|c| *c == b'\n'),
            );
            let diff = a.zip(b).find(|(x, y)| x != y);
            panic!(
                "-w {w} differs from etcdctl; first differing line: {:?}",
                diff.map(|(x, y)| (
                    String::from_utf8_lossy(x).into_owned(),
                    String::from_utf8_lossy(y).into_owned()
                ))
            );
        }
        assert_eq!(got.code, 0);
    }
    // the header has every quoted value: 256 + the multi-byte cases
    let fields = srv.ctl(ClientKind::Oxctl, &["get", "--prefix", "k", "-w", "fields"]);
    let count = String::from_utf8_lossy(&fields.stdout)
        .lines()
        .filter(|l| l.starts_with("\"Key\" : "))
        .count();
    assert_eq!(count, 256 + multi_byte().len());
}
