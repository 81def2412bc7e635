//! Scenarios: txn semantics, nested txns, put and delete options.

use super::*;

/// Txn compares on every target, both branches, reads of the txn's own
/// writes, and nested txns.
pub(super) async fn txn_semantics(r: &mut Run) {
    let who = r.who;
    r.grant(0x77, 100).await;
    r.put_ok("a", "1", 2).await;
    let p = r
        .put(
            "put b with lease",
            PutRequest {
                lease: 0x77,
                ..put_req("b", "x")
            },
        )
        .await
        .expect("put b");
    assert_eq!(rev_of(&p.header), 3);

    use CompareResult::*;
    use CompareTarget::*;
    let cases: Vec<(&str, Compare, bool)> = vec![
        (
            "value a = 1",
            cmp("a", Value, Equal, TargetUnion::Value(b"1".to_vec())),
            true,
        ),
        (
            "value a > 0",
            cmp("a", Value, Greater, TargetUnion::Value(b"0".to_vec())),
            true,
        ),
        (
            "value a < 1",
            cmp("a", Value, Less, TargetUnion::Value(b"1".to_vec())),
            false,
        ),
        (
            "value a != 2",
            cmp("a", Value, NotEqual, TargetUnion::Value(b"2".to_vec())),
            true,
        ),
        (
            "version a = 1",
            cmp("a", Version, Equal, TargetUnion::Version(1)),
            true,
        ),
        (
            "version a > 1",
            cmp("a", Version, Greater, TargetUnion::Version(1)),
            false,
        ),
        (
            "create a = 2",
            cmp("a", Create, Equal, TargetUnion::CreateRevision(2)),
            true,
        ),
        (
            "mod a < 3",
            cmp("a", Mod, Less, TargetUnion::ModRevision(3)),
            true,
        ),
        (
            "mod a = 3",
            cmp("a", Mod, Equal, TargetUnion::ModRevision(3)),
            false,
        ),
        (
            "lease b = 0x77",
            cmp("b", Lease, Equal, TargetUnion::Lease(0x77)),
            true,
        ),
        (
            "lease a = 0",
            cmp("a", Lease, Equal, TargetUnion::Lease(0)),
            true,
        ),
        (
            "missing: version = 0",
            cmp("zz", Version, Equal, TargetUnion::Version(0)),
            true,
        ),
        (
            "missing: create = 0",
            cmp("zz", Create, Equal, TargetUnion::CreateRevision(0)),
            true,
        ),
        (
            "missing: mod = 0",
            cmp("zz", Mod, Equal, TargetUnion::ModRevision(0)),
            true,
        ),
        (
            "missing: value = empty",
            cmp("zz", Value, Equal, TargetUnion::Value(Vec::new())),
            false,
        ),
        (
            "missing: value != x",
            cmp("zz", Value, NotEqual, TargetUnion::Value(b"x".to_vec())),
            false,
        ),
        (
            "range a..c: version > 0",
            Compare {
                range_end: b"c".to_vec(),
                ..cmp("a", Version, Greater, TargetUnion::Version(0))
            },
            true,
        ),
        (
            "range a..c: lease = 0x77",
            Compare {
                range_end: b"c".to_vec(),
                ..cmp("a", Lease, Equal, TargetUnion::Lease(0x77))
            },
            false,
        ),
    ];
    for (what, c, want) in cases {
        let t = r
            .txn_ok(
                &format!("compare {what}"),
                TxnRequest {
                    compare: vec![c],
                    success: vec![op_get(get("a"))],
                    failure: vec![op_get(get("b"))],
                },
            )
            .await;
        assert_eq!(t.succeeded, want, "{who}: compare {what}");
        let g = range_resp(resp(&t, 0));
        assert_eq!(
            keys(&g.kvs),
            vec![if want { "a" } else { "b" }],
            "{who}: branch taken for {what}"
        );
        assert_eq!(rev_of(&t.header), 3, "{who}: read-only txn header");
    }

    // success branch: writes then reads its own writes; responses in order
    let t = r
        .txn_ok(
            "write then read",
            TxnRequest {
                compare: vec![cmp("a", Value, Equal, TargetUnion::Value(b"1".to_vec()))],
                success: vec![
                    op_put("a", "2"),
                    op_get(get("a")),
                    op_put("c", "1"),
                    op_get(get_range("a", "d")),
                ],
                failure: vec![],
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(rev_of(&t.header), 4, "{who}: write txn");
    assert_eq!(t.responses.len(), 4);
    let g = range_resp(resp(&t, 1));
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("a", "2", 2, 4, 2, 0)],
        "{who}: a txn reads its own put"
    );
    assert_eq!(keys(&range_resp(resp(&t, 3)).kvs), vec!["a", "b", "c"]);

    // failure branch with a put and a delete
    let t = r
        .txn_ok(
            "failure branch",
            TxnRequest {
                compare: vec![cmp("a", Version, Equal, TargetUnion::Version(1))],
                success: vec![op_put("never", "x")],
                failure: vec![
                    op_put("f", "1"),
                    op_del(DeleteRangeRequest {
                        prev_kv: true,
                        ..del("c", "")
                    }),
                ],
            },
        )
        .await;
    assert!(!t.succeeded, "{who}: a has version 2");
    assert_eq!(rev_of(&t.header), 5);
    let d = del_resp(resp(&t, 1));
    assert_eq!(d.deleted, 1);
    assert_eq!(
        d.prev_kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("c", "1", 4, 4, 1, 0)],
        "{who}: prev_kv of a delete in a txn"
    );
    let g = r.range_ok("never", get("never")).await;
    assert_eq!(g.count, 0, "{who}: the success branch did not run");

    // nested txns: the inner compare, the inner branch's writes, one revision
    let inner = TxnRequest {
        compare: vec![cmp("a", Value, Equal, TargetUnion::Value(b"2".to_vec()))],
        success: vec![op_put("n2", "inner-success"), op_get(get("n1"))],
        failure: vec![op_put("n2-failure", "inner-failure")],
    };
    let t = r
        .txn_ok(
            "nested",
            TxnRequest {
                compare: vec![cmp("f", Version, Equal, TargetUnion::Version(1))],
                success: vec![op_put("n1", "outer"), op_txn(inner)],
                failure: vec![],
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(
        rev_of(&t.header),
        6,
        "{who}: a nested txn is part of one revision"
    );
    let n = txn_resp(resp(&t, 1));
    assert!(n.succeeded, "{who}: inner compare");
    assert_eq!(
        keys(&range_resp(resp(n, 1)).kvs),
        vec!["n1"],
        "{who}: the inner txn sees the outer put"
    );
    let g = r.range_ok("n1..n3", get_range("n1", "n3")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![
            s("n1", "outer", 6, 6, 1, 0),
            s("n2", "inner-success", 6, 6, 1, 0)
        ],
        "{who}: writes of a nested txn"
    );

    // a failing put inside a txn fails the whole txn, writing nothing
    let e = r
        .txn(
            "txn with an unknown lease",
            TxnRequest {
                success: vec![
                    op_put("g", "1"),
                    RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            lease: 0x999,
                            ..put_req("h", "1")
                        })),
                    },
                ],
                ..Default::default()
            },
        )
        .await;
    expect_status(
        who,
        "txn with an unknown lease",
        e,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    let g = r.range_ok("g", get("g")).await;
    assert_eq!(g.count, 0, "{who}: a failed txn wrote g");
    assert_eq!(r.rev().await, 6, "{who}: a failed txn changed the revision");

    // the inner compare is evaluated against the state before the txn
    let inner = TxnRequest {
        compare: vec![cmp("n3", Version, Equal, TargetUnion::Version(0))],
        success: vec![op_put("n4", "saw-n3-missing")],
        failure: vec![op_put("n5", "saw-n3-present")],
    };
    r.txn_ok(
        "nested compare after an outer put",
        TxnRequest {
            compare: vec![],
            success: vec![op_put("n3", "x"), op_txn(inner)],
            failure: vec![],
        },
    )
    .await;
    let g = r.range_ok("n4..n6", get_range("n4", "n6")).await;
    assert_eq!(
        values(&g.kvs),
        vec!["saw-n3-missing"],
        "{who}: a nested compare does not see the outer txn's writes"
    );
}

/// The two branches of a nested txn may write the same key (only one runs),
/// also a key the other branch of the outer txn writes.
pub(super) async fn nested_txn_branches(r: &mut Run) {
    let who = r.who;
    r.put_ok("a", "1", 2).await;
    let inner = TxnRequest {
        compare: vec![cmp(
            "a",
            CompareTarget::Value,
            CompareResult::Equal,
            TargetUnion::Value(b"1".to_vec()),
        )],
        success: vec![op_put("x", "inner-success")],
        failure: vec![op_put("x", "inner-failure")],
    };
    let t = r
        .txn_ok(
            "same key in both inner branches",
            TxnRequest {
                compare: vec![],
                success: vec![op_put("y", "outer"), op_txn(inner)],
                failure: vec![op_put("x", "outer-failure")],
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(rev_of(&t.header), 3, "{who}: nested txn revision");
    let g = r.range_ok("x", get("x")).await;
    assert_eq!(
        values(&g.kvs),
        vec!["inner-success"],
        "{who}: inner success branch ran"
    );
    // but an inner write clashing with an outer write of the same branch is refused
    let inner = TxnRequest {
        compare: vec![],
        success: vec![op_put("y", "inner")],
        failure: vec![],
    };
    let e = r
        .txn(
            "inner put of an outer key",
            TxnRequest {
                compare: vec![],
                success: vec![op_put("y", "outer"), op_txn(inner)],
                failure: vec![],
            },
        )
        .await;
    expect_status(
        who,
        "inner put of an outer key",
        e,
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    );
    assert_eq!(r.rev().await, 3, "{who}: refused txn changed the revision");
}

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
