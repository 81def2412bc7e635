//! What the peer port refuses, through oxcd's own peer client
//! (`oxcdpeerpb::peer_client::PeerClient`, as `transport/client.rs` uses it)
//! against a plain-http single member: raft batches and snapshot streams
//! from an ID that is not a member (PermissionDenied), from another cluster
//! (FailedPrecondition), and raft messages made of 100,000 nested protobuf
//! group tags (InvalidArgument, checked before protobuf 2.28 would recurse
//! into them: RUSTSEC-2024-0437), and a member's snapshot stream whose
//! head is not an etcd snapshot or which ends early (Internal, the store
//! kept). After each refusal the member still serves clients, and its log
//! shows no panic.

mod common;

use common::*;
use oxcd_proto::etcdserverpb::{RangeRequest, StatusRequest};
use oxcd_proto::oxcdpeerpb::peer_client::PeerClient;
use oxcd_proto::oxcdpeerpb::{RaftBatch, SnapshotChunk};
use std::time::Duration;
use tonic::transport::Channel;
use tonic::Code;

/// An ID no member has.
const STRANGER: u64 = 0x1234_5678_9abc_def0;

/// Field 20, wire type 3 (start group), nested 100,000 times.
fn nested_groups() -> Vec<u8> {
    [0xa3u8, 0x01].repeat(100_000)
}

/// A member on a fresh data dir, with its (cluster, member) IDs.
async fn member(dir: &tempfile::TempDir) -> (Oxcd, u64, u64) {
    let srv = Oxcd::start(&dir.path().join("data"), &[]).await;
    let mut c = srv.clients().await;
    let h = c
        .maint
        .status(StatusRequest {})
        .await
        .expect("status")
        .into_inner()
        .header
        .expect("a header");
    assert_ne!(h.member_id, STRANGER);
    (srv, h.cluster_id, h.member_id)
}

async fn peer_client(srv: &Oxcd) -> PeerClient<Channel> {
    PeerClient::connect(format!("http://127.0.0.1:{}", srv.peer_port))
        .await
        .expect("connect to the peer port")
        .max_encoding_message_size(64 << 20)
}

async fn send_batch(srv: &Oxcd, batch: RaftBatch) -> tonic::Status {
    let mut p = peer_client(srv).await;
    let r = tokio::time::timeout(RPC_TIMEOUT, p.raft(tokio_stream::iter(vec![batch]))).await;
    match r.expect("the raft stream was not answered in time") {
        Ok(ack) => panic!("the batch was accepted: {ack:?}"),
        Err(status) => status,
    }
}

async fn send_snapshot(srv: &Oxcd, chunks: Vec<SnapshotChunk>) -> tonic::Status {
    let mut p = peer_client(srv).await;
    let r = tokio::time::timeout(RPC_TIMEOUT, p.snapshot_stream(tokio_stream::iter(chunks))).await;
    match r.expect("the snapshot stream was not answered in time") {
        Ok(ack) => panic!("the snapshot was accepted: {ack:?}"),
        Err(status) => status,
    }
}

fn expect(what: &str, s: &tonic::Status, code: Code, msg: &str) {
    assert_eq!(
        (s.code(), s.message()),
        (code, msg),
        "{what}: wrong gRPC status"
    );
}

/// A put and a get through the client port, and no panic in the log.
async fn still_serves(srv: &mut Oxcd, key: &str) {
    assert!(srv.is_running(), "the member stopped:\n{}", srv.stderr());
    let mut c = srv.clients().await;
    put(&mut c, key, "still-here").await;
    let r =
        c.kv.range(RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .expect("get after the refused peer input")
        .into_inner();
    assert_eq!(r.kvs.len(), 1, "{key}: not found");
    assert_eq!(r.kvs[0].value, b"still-here");
    srv.assert_no_panic();
}

#[tokio::test]
async fn raft_batches_from_strangers_are_refused() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut srv, cluster_id, member_id) = member(&dir).await;
        let batch = RaftBatch {
            cluster_id,
            from: STRANGER,
            to: member_id,
            msgs: vec![],
        };
        let s = send_batch(&srv, batch.clone()).await;
        let msg = format!("{STRANGER:x} is not a member of this cluster");
        expect("non-member sender", &s, Code::PermissionDenied, &msg);
        // the same, carrying a message
        let with_msg = RaftBatch {
            msgs: vec![vec![0x08, 0x01]],
            ..batch.clone()
        };
        let s = send_batch(&srv, with_msg).await;
        expect(
            "non-member with a message",
            &s,
            Code::PermissionDenied,
            &msg,
        );
        // a member's ID, but another cluster
        let other = RaftBatch {
            cluster_id: cluster_id ^ 1,
            from: member_id,
            ..batch
        };
        let s = send_batch(&srv, other).await;
        expect(
            "another cluster",
            &s,
            Code::FailedPrecondition,
            "cluster ID mismatch",
        );
        still_serves(&mut srv, "after-strangers").await;
    })
    .await;
}

#[tokio::test]
async fn nested_group_tags_are_refused() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut srv, cluster_id, member_id) = member(&dir).await;
        // from a member (itself), so that the message is decoded at all
        let batch = RaftBatch {
            cluster_id,
            from: member_id,
            to: member_id,
            msgs: vec![nested_groups()],
        };
        let s = send_batch(&srv, batch).await;
        expect(
            "nested groups",
            &s,
            Code::InvalidArgument,
            "bad raft message: wire type 3 (groups are not in raft's schema)",
        );
        still_serves(&mut srv, "after-groups").await;
        // the same in a snapshot's raft message
        let chunk = SnapshotChunk {
            cluster_id,
            from: member_id,
            to: member_id,
            msg: nested_groups(),
            data: vec![],
            done: true,
        };
        let s = send_snapshot(&srv, vec![chunk]).await;
        expect(
            "nested groups in a snapshot",
            &s,
            Code::InvalidArgument,
            "bad raft message: wire type 3 (groups are not in raft's schema)",
        );
        still_serves(&mut srv, "after-snapshot-groups").await;
    })
    .await;
}

#[tokio::test]
async fn snapshots_from_strangers_are_refused() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut srv, cluster_id, member_id) = member(&dir).await;
        let chunks = vec![
            SnapshotChunk {
                cluster_id,
                from: STRANGER,
                to: member_id,
                msg: vec![],
                data: vec![0u8; 4096],
                done: false,
            },
            SnapshotChunk {
                cluster_id,
                from: STRANGER,
                to: member_id,
                msg: vec![],
                data: vec![1u8; 4096],
                done: true,
            },
        ];
        let s = send_snapshot(&srv, chunks).await;
        let msg = format!("{STRANGER:x} is not a member of this cluster");
        expect("non-member snapshot", &s, Code::PermissionDenied, &msg);
        still_serves(&mut srv, "after-snapshot").await;
    })
    .await;
}

/// A raft snapshot message from `from` to `to` at `index`.
fn snapshot_msg(from: u64, to: u64, index: u64) -> Vec<u8> {
    use protobuf::Message as _;
    let mut m = raft::eraftpb::Message::default();
    m.set_msg_type(raft::eraftpb::MessageType::MsgSnapshot);
    m.from = from;
    m.to = to;
    m.term = 1;
    let md = m.mut_snapshot().mut_metadata();
    md.index = index;
    md.term = 1;
    m.write_to_bytes().expect("encode a raft message")
}

/// A snapshot stream's head: an etcd snapshot of `index` without records.
fn head(index: u64) -> Vec<u8> {
    use etcd_format::schema::{MetaInfo, META};
    let mut w = etcd_format::snapshot::SnapshotWriter::new(std::io::Cursor::new(Vec::new()))
        .expect("a snapshot writer");
    let meta = MetaInfo {
        consistent_index: index,
        term: 1,
        ..Default::default()
    };
    let rows = meta.entries();
    let rows = rows
        .iter()
        .map(|(k, v)| Ok((k.as_slice().into(), v.as_slice().into())));
    w.bucket(META, rows).expect("the meta bucket");
    w.finish().expect("a snapshot").0.into_inner()
}

#[tokio::test]
async fn a_member_snapshot_with_a_bad_database_is_refused() {
    bounded(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut srv, cluster_id, member_id) = member(&dir).await;
        put(&mut srv.clients().await, "before", "kept").await;
        let chunk = |msg: Vec<u8>, data: Vec<u8>, done: bool| SnapshotChunk {
            cluster_id,
            from: member_id,
            to: member_id,
            msg,
            data,
            done,
        };
        // far ahead of what the member applied, so that it tries to install it
        let msg = snapshot_msg(member_id, member_id, 1 << 40);
        let s = send_snapshot(
            &srv,
            vec![
                chunk(msg.clone(), vec![0x5a; 8192], false),
                chunk(vec![], vec![1, 2, 3, 4], true),
            ],
        )
        .await;
        assert_eq!(s.code(), Code::Internal, "{s:?}");
        assert!(s.message().contains("head is not usable"), "{s:?}");
        // a good head, then the stream ends before its last piece
        let s = send_snapshot(&srv, vec![chunk(msg, head(1 << 40), false)]).await;
        assert_eq!(s.code(), Code::Internal, "{s:?}");
        assert!(s.message().contains("ended early"), "{s:?}");
        still_serves(&mut srv, "after-bad-snapshot").await;
        let r = srv
            .clients()
            .await
            .kv
            .range(RangeRequest {
                key: b"before".to_vec(),
                ..Default::default()
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(r.kvs.len(), 1, "the store lost what it held");
    })
    .await;
}
