//! The reads: Range and write-free txns, served from a read view of the
//! applied state (never through the log).

use super::kv::nested;
use super::*;

/// A Range as etcd answers it: limit, sort, revision filters, count and
/// `more` all follow etcd's apply layer, quirks included.
pub fn range<T: ReadableTable<&'static [u8], &'static [u8]>>(
    store: &Store,
    kv: &T,
    r: &RangeRequest,
    current: i64,
) -> Result<RangeResponse> {
    use range_request::{SortOrder, SortTarget};
    let rev = store.check_rev(r.revision, current)?;
    let filtered = r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    // etcd fetches everything when it must sort or filter, and one extra
    // key otherwise, to know whether there is `more`
    let fetch = if r.sort_order() != SortOrder::None || filtered || r.limit <= 0 {
        0
    } else {
        r.limit as usize + 1
    };
    let keys = store.range_keys(&r.key, &r.range_end, rev, fetch);
    let mut resp = RangeResponse {
        // etcd answers with the store's current revision, even for a historic read
        header: rev_header(current),
        count: keys.count as i64,
        ..Default::default()
    };
    if r.count_only {
        return Ok(resp);
    }
    let mut kvs = Vec::with_capacity(keys.revs.len());
    for rv in keys.revs {
        kvs.push(store.read_kv(kv, rv)?);
    }
    if r.max_mod_revision != 0 {
        kvs.retain(|k| k.mod_revision <= r.max_mod_revision);
    }
    if r.min_mod_revision != 0 {
        kvs.retain(|k| k.mod_revision >= r.min_mod_revision);
    }
    if r.max_create_revision != 0 {
        kvs.retain(|k| k.create_revision <= r.max_create_revision);
    }
    if r.min_create_revision != 0 {
        kvs.retain(|k| k.create_revision >= r.min_create_revision);
    }
    let mut order = r.sort_order();
    if r.sort_target() != SortTarget::Key && order == SortOrder::None {
        order = SortOrder::Ascend;
    } else if r.sort_target() == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    if order != SortOrder::None {
        let target = r.sort_target();
        kvs.sort_by(|a, b| {
            let o = match target {
                SortTarget::Key => a.key.cmp(&b.key),
                SortTarget::Version => a.version.cmp(&b.version),
                SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                SortTarget::Value => a.value.cmp(&b.value),
            };
            if order == SortOrder::Descend {
                o.reverse()
            } else {
                o
            }
        });
    }
    if r.limit > 0 && kvs.len() > r.limit as usize {
        kvs.truncate(r.limit as usize);
        resp.more = true;
    }
    if r.keys_only {
        for k in &mut kvs {
            k.value.clear();
        }
    }
    resp.kvs = kvs;
    Ok(resp)
}

/// Is this txn free of writes (so it can be served without the log)?
pub fn txn_is_read_only(r: &TxnRequest) -> bool {
    r.success
        .iter()
        .chain(r.failure.iter())
        .all(op_is_read_only)
}

fn op_is_read_only(op: &RequestOp) -> bool {
    match &op.request {
        Some(request_op::Request::RequestRange(_)) | None => true,
        Some(request_op::Request::RequestTxn(t)) => txn_is_read_only(t),
        _ => false,
    }
}

/// Serves a write-free txn from a read view.
pub fn read_only_txn<T: ReadableTable<&'static [u8], &'static [u8]>>(
    st: &State,
    kv: &T,
    r: &TxnRequest,
) -> Result<TxnResponse> {
    let rev = st.store.current_rev;
    let succeeded = st.compare_all(kv, &r.compare, rev)?;
    let ops = if succeeded { &r.success } else { &r.failure };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let resp = match &op.request {
            Some(request_op::Request::RequestRange(rr)) => {
                response_op::Response::ResponseRange(range(&st.store, kv, rr, rev)?)
            }
            Some(request_op::Request::RequestTxn(n)) => {
                response_op::Response::ResponseTxn(nested(read_only_txn(st, kv, n)?))
            }
            _ => continue,
        };
        responses.push(ResponseOp {
            response: Some(resp),
        });
    }
    Ok(TxnResponse {
        header: rev_header(rev),
        succeeded,
        responses,
    })
}
