//! Scenarios: txn semantics (compares on every target, both branches, reads
//! of the txn's own writes) and nested txns.

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
