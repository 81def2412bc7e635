//! Scenarios: put and delete options (prev_kv, ignore_value, ignore_lease,
//! lease errors) and delete prev_kv.

use super::*;

/// Put prev_kv / ignore_value / ignore_lease, lease errors, delete prev_kv.
pub(super) async fn put_and_delete_options(r: &mut Run) {
    let who = r.who;
    let p = r
        .put(
            "put k prev_kv (new)",
            PutRequest {
                prev_kv: true,
                ..put_req("k", "v1")
            },
        )
        .await
        .expect("put");
    assert_eq!(
        (rev_of(&p.header), p.prev_kv.is_none()),
        (2, true),
        "{who}: prev_kv of a new key"
    );
    let p = r
        .put(
            "put k prev_kv",
            PutRequest {
                prev_kv: true,
                ..put_req("k", "v2")
            },
        )
        .await
        .expect("put");
    assert_eq!(
        p.prev_kv.as_ref().map(kv_summary),
        Some(s("k", "v1", 2, 2, 1, 0)),
        "{who}: prev_kv"
    );
    let p = r
        .put("put k no prev_kv", put_req("k", "v3"))
        .await
        .expect("put");
    assert!(p.prev_kv.is_none(), "{who}: prev_kv not asked for");

    r.grant(0x99, 100).await;
    let p = r
        .put(
            "put k with lease",
            PutRequest {
                lease: 0x99,
                ..put_req("k", "v4")
            },
        )
        .await
        .expect("put");
    assert_eq!(rev_of(&p.header), 5);
    // ignore_lease keeps the lease, takes the new value
    let p = r
        .put(
            "put k ignore_lease",
            PutRequest {
                ignore_lease: true,
                prev_kv: true,
                ..put_req("k", "v5")
            },
        )
        .await
        .expect("put ignore_lease");
    assert_eq!(rev_of(&p.header), 6);
    let g = r.range_ok("k", get("k")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 6, 5, 0x99)],
        "{who}: after ignore_lease"
    );
    // ignore_value keeps the value; the lease follows the request (none here)
    let p = r
        .put(
            "put k ignore_value",
            PutRequest {
                ignore_value: true,
                ..put_req("k", "")
            },
        )
        .await
        .expect("put ignore_value");
    assert_eq!(rev_of(&p.header), 7);
    let g = r.range_ok("k", get("k")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 7, 6, 0)],
        "{who}: after ignore_value without a lease"
    );
    // both: a pure version bump
    let p = r
        .put(
            "put k ignore both",
            PutRequest {
                ignore_value: true,
                ignore_lease: true,
                ..put_req("k", "")
            },
        )
        .await
        .expect("put ignore both");
    assert_eq!(rev_of(&p.header), 8);

    let rev = 8;
    let missing = "etcdserver: key not found";
    let e = r
        .put(
            "ignore_value on a missing key",
            PutRequest {
                ignore_value: true,
                ..put_req("missing", "")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_value on a missing key",
        e,
        Code::InvalidArgument,
        missing,
    );
    let e = r
        .put(
            "ignore_lease on a missing key",
            PutRequest {
                ignore_lease: true,
                ..put_req("missing", "v")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_lease on a missing key",
        e,
        Code::InvalidArgument,
        missing,
    );
    let e = r
        .put(
            "ignore_value with a value",
            PutRequest {
                ignore_value: true,
                ..put_req("k", "v")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_value with a value",
        e,
        Code::InvalidArgument,
        "etcdserver: value is provided",
    );
    let e = r
        .put(
            "ignore_lease with a lease",
            PutRequest {
                ignore_lease: true,
                lease: 0x99,
                ..put_req("k", "v")
            },
        )
        .await;
    expect_status(
        who,
        "ignore_lease with a lease",
        e,
        Code::InvalidArgument,
        "etcdserver: lease is provided",
    );
    let e = r
        .put(
            "unknown lease",
            PutRequest {
                lease: 0x12345,
                ..put_req("k", "v")
            },
        )
        .await;
    expect_status(
        who,
        "put with an unknown lease",
        e,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    assert_eq!(
        r.rev().await,
        rev,
        "{who}: refused puts changed the revision"
    );

    // delete with and without prev_kv
    r.put_ok("m1", "1", 9).await;
    r.put_ok("m2", "2", 10).await;
    r.put_ok("m3", "3", 11).await;
    let d = r
        .delete(
            "delete m1..m3 prev_kv",
            DeleteRangeRequest {
                prev_kv: true,
                ..del("m1", "m3")
            },
        )
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (2, 12),
        "{who}: delete m1..m3"
    );
    assert_eq!(
        d.prev_kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("m1", "1", 9, 9, 1, 0), s("m2", "2", 10, 10, 1, 0)],
        "{who}: prev_kvs of the delete"
    );
    let d = r.delete("delete m3", del("m3", "")).await.expect("delete");
    assert_eq!(
        (d.deleted, d.prev_kvs.len()),
        (1, 0),
        "{who}: delete without prev_kv"
    );
    let d = r
        .delete(
            "delete everything prev_kv",
            DeleteRangeRequest {
                prev_kv: true,
                ..del("\0", "\0")
            },
        )
        .await
        .expect("delete all");
    assert_eq!(keys(&d.prev_kvs), vec!["k"], "{who}: delete from \\0");
    assert_eq!(rev_of(&d.header), 14);
    // a deleted key comes back at version 1 with a new create revision
    r.put_ok("k", "again", 15).await;
    let g = r.range_ok("k", get("k")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "again", 15, 15, 1, 0)],
        "{who}: recreated key"
    );
    let g = r
        .range_ok(
            "k at 13",
            RangeRequest {
                revision: 13,
                ..get("k")
            },
        )
        .await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 8, 7, 0)],
        "{who}: k before the delete"
    );
}
