//! Scenarios: revisions, compaction, range options.

use super::*;

/// One revision per modifying request; none for requests that change nothing.
pub(super) async fn revisions(r: &mut Run) {
    let who = r.who;
    assert_eq!(r.rev().await, 1, "{who}: a fresh store is at revision 1");
    r.put_ok("a", "1", 2).await;
    r.put_ok("b", "1", 3).await;
    r.put_ok("a", "2", 4).await;

    let d = r
        .delete("delete missing key", del("nothing", ""))
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (0, 4),
        "{who}: deleting nothing"
    );
    let d = r
        .delete("delete empty range", del("x", "y"))
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (0, 4),
        "{who}: deleting an empty range"
    );

    let t = r
        .txn_ok(
            "txn with three puts",
            TxnRequest {
                success: vec![op_put("c", "1"), op_put("d", "1"), op_put("e", "1")],
                ..Default::default()
            },
        )
        .await;
    assert!(t.succeeded);
    assert_eq!(
        rev_of(&t.header),
        5,
        "{who}: a txn of three puts is one revision"
    );
    let g = r.range_ok("c..f", get_range("c", "f")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![
            s("c", "1", 5, 5, 1, 0),
            s("d", "1", 5, 5, 1, 0),
            s("e", "1", 5, 5, 1, 0)
        ],
        "{who}: keys written by one txn"
    );

    let t = r
        .txn_ok(
            "txn put + delete",
            TxnRequest {
                success: vec![op_put("c", "2"), op_del(del("d", ""))],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(rev_of(&t.header), 6, "{who}: put + delete in one txn");
    let t = r
        .txn_ok(
            "read-only txn",
            TxnRequest {
                success: vec![op_get(get("a"))],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(rev_of(&t.header), 6, "{who}: read-only txn");
    let t = r
        .txn_ok(
            "failed compare, no failure ops",
            TxnRequest {
                compare: vec![cmp(
                    "a",
                    CompareTarget::Value,
                    CompareResult::Equal,
                    TargetUnion::Value(b"zzz".to_vec()),
                )],
                success: vec![op_put("a", "never")],
                ..Default::default()
            },
        )
        .await;
    assert!(!t.succeeded, "{who}: compare a == zzz");
    assert_eq!(rev_of(&t.header), 6, "{who}: a txn that writes nothing");
    let t = r
        .txn_ok(
            "txn deleting nothing",
            TxnRequest {
                success: vec![op_del(del("nothing", ""))],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(rev_of(&t.header), 6, "{who}: a txn that deletes nothing");

    let d = r
        .delete("delete a..c", del("a", "c"))
        .await
        .expect("delete");
    assert_eq!(
        (d.deleted, rev_of(&d.header)),
        (2, 7),
        "{who}: delete of a and b"
    );

    // historic reads: the header carries the current revision
    for (at, want) in [
        (3, Some(s("a", "1", 2, 2, 1, 0))),
        (4, Some(s("a", "2", 2, 4, 2, 0))),
        (6, Some(s("a", "2", 2, 4, 2, 0))),
        (7, None),
    ] {
        let g = r
            .range_ok(
                &format!("a at {at}"),
                RangeRequest {
                    revision: at,
                    ..get("a")
                },
            )
            .await;
        assert_eq!(
            g.kvs.first().map(kv_summary),
            want,
            "{who}: a at revision {at}"
        );
        assert_eq!(
            rev_of(&g.header),
            7,
            "{who}: header of a read at revision {at}"
        );
    }
    let g = r
        .range_ok(
            "everything at 1",
            RangeRequest {
                revision: 1,
                ..get_range("\0", "\0")
            },
        )
        .await;
    assert_eq!(
        (g.count, g.kvs.len()),
        (0, 0),
        "{who}: the store at revision 1"
    );
    let e = r
        .range(
            "future",
            RangeRequest {
                revision: 8,
                ..get("a")
            },
        )
        .await;
    expect_status(
        who,
        "read at a future revision",
        e,
        Code::OutOfRange,
        FUTURE,
    );

    // leases: grant and revoking an empty lease change nothing; revoking a
    // lease with keys deletes them in one revision
    r.grant(0x1234, 100).await;
    assert_eq!(r.rev().await, 7, "{who}: lease grant");
    let p = r
        .put(
            "put with lease",
            PutRequest {
                lease: 0x1234,
                ..put_req("l1", "v")
            },
        )
        .await
        .expect("put with lease");
    assert_eq!(rev_of(&p.header), 8);
    let p = r
        .put(
            "put with lease",
            PutRequest {
                lease: 0x1234,
                ..put_req("l2", "v")
            },
        )
        .await
        .expect("put with lease");
    assert_eq!(rev_of(&p.header), 9);
    assert_eq!(
        r.revoke(0x1234).await,
        10,
        "{who}: revoking a lease with two keys"
    );
    let g = r.range_ok("l1..l3", get_range("l1", "l3")).await;
    assert_eq!(g.count, 0, "{who}: keys of a revoked lease");
    let g = r
        .range_ok(
            "l1 at 9",
            RangeRequest {
                revision: 9,
                ..get_range("l1", "l3")
            },
        )
        .await;
    assert_eq!(g.count, 2, "{who}: keys of the lease before its revocation");
    r.grant(0x1235, 100).await;
    assert_eq!(
        r.revoke(0x1235).await,
        10,
        "{who}: revoking a lease without keys"
    );
    assert_eq!(r.rev().await, 10);
}

/// Compaction: what stays readable, and the two errors.
pub(super) async fn compaction(r: &mut Run) {
    let who = r.who;
    for i in 1..=5 {
        r.put_ok("k", &format!("v{i}"), i + 1).await;
    }
    let c = r.compact("compact 4", 4).await.expect("compact 4");
    assert_eq!(rev_of(&c.header), 6, "{who}: compaction header");
    let e = r
        .range(
            "k at 3",
            RangeRequest {
                revision: 3,
                ..get("k")
            },
        )
        .await;
    expect_status(
        who,
        "read below the compaction",
        e,
        Code::OutOfRange,
        COMPACTED,
    );
    let g = r
        .range_ok(
            "k at 4",
            RangeRequest {
                revision: 4,
                ..get("k")
            },
        )
        .await;
    assert_eq!(
        values(&g.kvs),
        vec!["v3"],
        "{who}: read at the compaction revision"
    );
    let e = r.compact("compact 4 again", 4).await;
    expect_status(who, "compact 4 again", e, Code::OutOfRange, COMPACTED);
    let e = r.compact("compact 3", 3).await;
    expect_status(who, "compact below", e, Code::OutOfRange, COMPACTED);
    let e = r.compact("compact 7", 7).await;
    expect_status(who, "compact in the future", e, Code::OutOfRange, FUTURE);
    // a read inside a txn is checked the same way
    let e = r
        .txn(
            "txn reading at 3",
            TxnRequest {
                success: vec![op_get(RangeRequest {
                    revision: 3,
                    ..get("k")
                })],
                ..Default::default()
            },
        )
        .await;
    expect_status(
        who,
        "txn read below the compaction",
        e,
        Code::OutOfRange,
        COMPACTED,
    );
    r.compact("compact 6", 6)
        .await
        .expect("compact at the current revision");
    let e = r
        .range(
            "k at 5",
            RangeRequest {
                revision: 5,
                ..get("k")
            },
        )
        .await;
    expect_status(
        who,
        "read below the second compaction",
        e,
        Code::OutOfRange,
        COMPACTED,
    );
    let g = r
        .range_ok(
            "k at 6",
            RangeRequest {
                revision: 6,
                ..get("k")
            },
        )
        .await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("k", "v5", 2, 6, 5, 0)],
        "{who}: k after compaction keeps its create revision and version"
    );
    // a key deleted before the compaction point is gone; writes go on
    r.put_ok("gone", "x", 7).await;
    let d = r
        .delete("delete gone", del("gone", ""))
        .await
        .expect("delete");
    assert_eq!(rev_of(&d.header), 8);
    r.compact("compact 8", 8).await.expect("compact 8");
    let g = r
        .range_ok(
            "gone at 8",
            RangeRequest {
                revision: 8,
                ..get("gone")
            },
        )
        .await;
    assert_eq!(g.count, 0, "{who}: deleted key after compaction");
    r.put_ok("gone", "y", 9).await;
    let g = r.range_ok("gone", get("gone")).await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![s("gone", "y", 9, 9, 1, 0)],
        "{who}: a key recreated after compaction starts at version 1"
    );
}

/// Range options: limit, count, more, sort, filters, keys/count only, from-key.
pub(super) async fn range_options(r: &mut Run) {
    let who = r.who;
    // k1..k5 at revisions 2..6 with values e..a; k2 again at 7; l1 at 8; j at 9
    for (i, v) in ["e", "d", "c", "b", "a"].iter().enumerate() {
        r.put_ok(&format!("k{}", i + 1), v, i as i64 + 2).await;
    }
    r.put_ok("k2", "dd", 7).await;
    r.put_ok("l1", "x", 8).await;
    r.put_ok("j", "x", 9).await;

    let g = r.range_ok("prefix k", get_range("k", "l")).await;
    assert_eq!(
        keys(&g.kvs),
        vec!["k1", "k2", "k3", "k4", "k5"],
        "{who}: prefix k"
    );
    assert_eq!((g.count, g.more), (5, false));
    assert_eq!(rev_of(&g.header), 9);

    for (limit, n, more) in [
        (1, 1, true),
        (2, 2, true),
        (4, 4, true),
        (5, 5, false),
        (6, 5, false),
    ] {
        let g = r
            .range_ok(
                &format!("limit {limit}"),
                RangeRequest {
                    limit,
                    ..get_range("k", "l")
                },
            )
            .await;
        assert_eq!(
            (g.kvs.len(), g.count, g.more),
            (n, 5, more),
            "{who}: (returned, count, more) with limit {limit}"
        );
    }

    let sorted = |target: SortTarget, order: SortOrder, limit: i64| RangeRequest {
        sort_target: target as i32,
        sort_order: order as i32,
        limit,
        ..get_range("k", "l")
    };
    let cases: Vec<(&str, RangeRequest, Vec<&str>)> = vec![
        (
            "value ascend",
            sorted(SortTarget::Value, SortOrder::Ascend, 0),
            vec!["k5", "k4", "k3", "k2", "k1"],
        ),
        (
            "value descend limit 2",
            sorted(SortTarget::Value, SortOrder::Descend, 2),
            vec!["k1", "k2"],
        ),
        (
            "key descend",
            sorted(SortTarget::Key, SortOrder::Descend, 0),
            vec!["k5", "k4", "k3", "k2", "k1"],
        ),
        (
            "key ascend limit 3",
            sorted(SortTarget::Key, SortOrder::Ascend, 3),
            vec!["k1", "k2", "k3"],
        ),
        (
            "mod descend",
            sorted(SortTarget::Mod, SortOrder::Descend, 0),
            vec!["k2", "k5", "k4", "k3", "k1"],
        ),
        (
            "mod ascend limit 2",
            sorted(SortTarget::Mod, SortOrder::Ascend, 2),
            vec!["k1", "k3"],
        ),
        (
            "create descend",
            sorted(SortTarget::Create, SortOrder::Descend, 0),
            vec!["k5", "k4", "k3", "k2", "k1"],
        ),
        // a sort target with order NONE sorts ascending
        (
            "mod none",
            sorted(SortTarget::Mod, SortOrder::None, 0),
            vec!["k1", "k3", "k4", "k5", "k2"],
        ),
    ];
    for (what, req, want) in cases {
        let g = r.range_ok(what, req).await;
        assert_eq!(keys(&g.kvs), want, "{who}: sort {what}");
        assert_eq!(g.count, 5, "{who}: count with sort {what}");
    }
    let g = r
        .range_ok(
            "value descend limit 2: more",
            sorted(SortTarget::Value, SortOrder::Descend, 2),
        )
        .await;
    assert!(g.more, "{who}: more with sort and limit");

    // versions 3, 1, 2: distinct, so the order is defined
    r.put_ok("v/a", "1", 10).await;
    r.put_ok("v/a", "2", 11).await;
    r.put_ok("v/a", "3", 12).await;
    r.put_ok("v/b", "1", 13).await;
    r.put_ok("v/c", "1", 14).await;
    r.put_ok("v/c", "2", 15).await;
    let g = r
        .range_ok(
            "version descend",
            RangeRequest {
                sort_target: SortTarget::Version as i32,
                sort_order: SortOrder::Descend as i32,
                ..get_range("v/", "v0")
            },
        )
        .await;
    assert_eq!(
        keys(&g.kvs),
        vec!["v/a", "v/c", "v/b"],
        "{who}: sort by version"
    );

    let g = r
        .range_ok(
            "count only",
            RangeRequest {
                count_only: true,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(
        (g.count, g.kvs.len(), g.more),
        (5, 0, false),
        "{who}: count_only"
    );
    let g = r
        .range_ok(
            "count only limit 2",
            RangeRequest {
                count_only: true,
                limit: 2,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(
        (g.count, g.kvs.len()),
        (5, 0),
        "{who}: count_only with limit"
    );
    let g = r
        .range_ok(
            "keys only",
            RangeRequest {
                keys_only: true,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(keys(&g.kvs), vec!["k1", "k2", "k3", "k4", "k5"]);
    assert!(
        g.kvs.iter().all(|kv| kv.value.is_empty()),
        "{who}: keys_only returns no values"
    );
    assert_eq!(
        g.kvs[1].mod_revision, 7,
        "{who}: keys_only keeps the metadata"
    );

    // revision filters (applied after the fetch; count is before them)
    let filtered = |min_mod, max_mod, min_create, max_create, limit| RangeRequest {
        min_mod_revision: min_mod,
        max_mod_revision: max_mod,
        min_create_revision: min_create,
        max_create_revision: max_create,
        limit,
        ..get_range("k", "l")
    };
    let cases: Vec<(&str, RangeRequest, Vec<&str>)> = vec![
        (
            "min mod 4",
            filtered(4, 0, 0, 0, 0),
            vec!["k2", "k3", "k4", "k5"],
        ),
        ("max mod 5", filtered(0, 5, 0, 0, 0), vec!["k1", "k3", "k4"]),
        ("mod 4..=6", filtered(4, 6, 0, 0, 0), vec!["k3", "k4", "k5"]),
        (
            "min create 3",
            filtered(0, 0, 3, 0, 0),
            vec!["k2", "k3", "k4", "k5"],
        ),
        (
            "create 3..=5",
            filtered(0, 0, 3, 5, 0),
            vec!["k2", "k3", "k4"],
        ),
        (
            "min mod 4 limit 2",
            filtered(4, 0, 0, 0, 2),
            vec!["k2", "k3"],
        ),
    ];
    for (what, req, want) in cases {
        let g = r.range_ok(what, req).await;
        assert_eq!(keys(&g.kvs), want, "{who}: filter {what}");
    }

    // from-key ranges: range_end "\0" means "to the end"
    let g = r.range_ok("from k3", get_range("k3", "\0")).await;
    assert_eq!(
        keys(&g.kvs),
        vec!["k3", "k4", "k5", "l1", "v/a", "v/b", "v/c"],
        "{who}: from k3"
    );
    let g = r.range_ok("all", get_range("\0", "\0")).await;
    assert_eq!(g.count, 10, "{who}: every key");
    assert_eq!(keys(&g.kvs)[0], "j");
    let g = r
        .range_ok("range_end before key", get_range("k5", "k1"))
        .await;
    assert_eq!(g.count, 0, "{who}: an inverted range is empty");
    let g = r.range_ok("missing key", get("k9")).await;
    assert_eq!((g.count, g.kvs.len()), (0, 0), "{who}: a missing key");
    let g = r
        .range_ok(
            "prefix k at 4",
            RangeRequest {
                revision: 4,
                ..get_range("k", "l")
            },
        )
        .await;
    assert_eq!(
        g.kvs.iter().map(kv_summary).collect::<Vec<_>>(),
        vec![
            s("k1", "e", 2, 2, 1, 0),
            s("k2", "d", 3, 3, 1, 0),
            s("k3", "c", 4, 4, 1, 0)
        ],
        "{who}: prefix k at revision 4"
    );
    assert_eq!(g.count, 3, "{who}: count at revision 4");
}
