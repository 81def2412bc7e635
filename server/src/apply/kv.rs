//! Keys: put, delete, txn (compares decided before any write, nested
//! txns, etcd's interval and duplicate-key checks) and compaction.

use super::*;

impl State {
    /// The checks etcd makes before a put touches anything.
    pub(super) fn check_put<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        r: &PutRequest,
        rev: i64,
    ) -> Result<()> {
        if r.ignore_value || r.ignore_lease {
            let prev = self.store.get(kv, &r.key, rev)?;
            let Some(prev) = prev else {
                return Err(EtcdError::KeyNotFound);
            };
            let lease = if r.ignore_lease { prev.lease } else { r.lease };
            if lease != 0 && !self.lessor.contains(lease) {
                return Err(EtcdError::LeaseNotFound);
            }
        } else if r.lease != 0 && !self.lessor.contains(r.lease) {
            return Err(EtcdError::LeaseNotFound);
        }
        Ok(())
    }

    /// The branch every txn level takes, in the order the txn meets them:
    /// the txn's own compare result, then those of its nested txns.
    pub(super) fn txn_path<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        r: &TxnRequest,
        rev: i64,
        path: &mut Vec<bool>,
    ) -> Result<()> {
        let ok = self.compare_all(kv, &r.compare, rev)?;
        path.push(ok);
        for op in if ok { &r.success } else { &r.failure } {
            if let Some(request_op::Request::RequestTxn(n)) = &op.request {
                self.txn_path(kv, n, rev, path)?;
            }
        }
        Ok(())
    }

    /// Checks every put of the branches a txn will take, so that a failing
    /// txn changes nothing.
    pub(super) fn check_txn<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        r: &TxnRequest,
        rev: i64,
        path: &mut impl Iterator<Item = bool>,
    ) -> Result<()> {
        let ok = path.next().unwrap_or(false);
        for op in if ok { &r.success } else { &r.failure } {
            match &op.request {
                Some(request_op::Request::RequestPut(p)) => self.check_put(kv, p, rev)?,
                Some(request_op::Request::RequestTxn(n)) => self.check_txn(kv, n, rev, path)?,
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn put(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: PutRequest,
    ) -> Result<PutResponse> {
        // the previous record is read from the store only when something
        // needs it: the caller (prev_kv, ignore_*), or the lease it may be
        // attached to — and with no lease at all, it has none
        let need_prev =
            r.prev_kv || r.ignore_value || r.ignore_lease || !self.lessor.leases.is_empty();
        let prev = if need_prev {
            self.store.get(&t.kv, &r.key, ctx.read_rev())?
        } else {
            None
        };
        let (value, lease) = match &prev {
            Some(p) => (
                if r.ignore_value {
                    p.value.clone()
                } else {
                    r.value
                },
                if r.ignore_lease { p.lease } else { r.lease },
            ),
            None => (r.value, r.lease),
        };
        self.store.put(&mut t.kv, ctx, &r.key, value, lease)?;
        if let Some(p) = &prev {
            if p.lease != 0 && p.lease != lease {
                self.lessor.detach(p.lease, &r.key);
            }
        }
        if lease != 0 {
            self.lessor.attach(lease, &r.key);
        }
        Ok(PutResponse {
            header: rev_header(ctx.main()),
            prev_kv: if r.prev_kv { prev } else { None },
        })
    }

    pub(super) fn delete(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse> {
        let prev = self
            .store
            .delete_range(&mut t.kv, ctx, &r.key, &r.range_end)?;
        for kv in &prev {
            if kv.lease != 0 {
                self.lessor.detach(kv.lease, &kv.key);
            }
        }
        Ok(DeleteRangeResponse {
            header: rev_header(ctx.read_rev()),
            deleted: prev.len() as i64,
            prev_kvs: if r.prev_kv { prev } else { Vec::new() },
        })
    }

    pub(super) fn txn(
        &mut self,
        t: &mut Tables<'_>,
        ctx: &mut WriteCtx,
        r: TxnRequest,
        path: &mut impl Iterator<Item = bool>,
    ) -> Result<TxnResponse> {
        let succeeded = path.next().unwrap_or(false);
        let ops = if succeeded { r.success } else { r.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let resp = match op.request {
                Some(request_op::Request::RequestRange(rr)) => {
                    response_op::Response::ResponseRange(range(
                        &self.store,
                        &t.kv,
                        &rr,
                        ctx.read_rev(),
                    )?)
                }
                Some(request_op::Request::RequestPut(p)) => {
                    response_op::Response::ResponsePut(self.put(t, ctx, p)?)
                }
                Some(request_op::Request::RequestDeleteRange(d)) => {
                    response_op::Response::ResponseDeleteRange(self.delete(t, ctx, d)?)
                }
                Some(request_op::Request::RequestTxn(n)) => {
                    response_op::Response::ResponseTxn(nested(self.txn(t, ctx, n, path)?))
                }
                None => continue,
            };
            responses.push(ResponseOp {
                response: Some(resp),
            });
        }
        Ok(TxnResponse {
            header: rev_header(ctx.read_rev()),
            succeeded,
            responses,
        })
    }

    pub fn compare_all<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        cmps: &[Compare],
        rev: i64,
    ) -> Result<bool> {
        for c in cmps {
            if !self.compare(kv, c, rev)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn compare<T: ReadableTable<&'static [u8], &'static [u8]>>(
        &self,
        kv: &T,
        c: &Compare,
        rev: i64,
    ) -> Result<bool> {
        let found = self.store.range_keys(&c.key, &c.range_end, rev, 0);
        if found.revs.is_empty() {
            if c.target() == compare::CompareTarget::Value {
                return Ok(false);
            }
            return Ok(compare_kv(c, &KeyValue::default()));
        }
        for r in found.revs {
            if !compare_kv(c, &self.store.read_kv(kv, r)?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) fn compact(
        &mut self,
        t: &mut Tables<'_>,
        r: CompactionRequest,
    ) -> Result<CompactionResponse> {
        if r.revision <= self.store.compact_rev {
            return Err(EtcdError::Compacted);
        }
        if r.revision > self.store.current_rev {
            return Err(EtcdError::FutureRev);
        }
        let started = std::time::Instant::now();
        self.store.compact(r.revision);
        // the records themselves are deleted after (the node loop's sweep)
        t.meta.insert(
            META_SCHEDULED_COMPACT_REV,
            u64_bytes(r.revision as u64).as_slice(),
        )?;
        tracing::info!(
            revision = r.revision,
            took = ?started.elapsed(),
            "compact tree index"
        );
        Ok(CompactionResponse {
            header: rev_header(self.store.current_rev),
        })
    }
}

/// etcd fills in only the outermost txn's header revision; nested txn
/// answers carry an empty header.
pub(super) fn nested(mut t: TxnResponse) -> TxnResponse {
    t.header = rev_header(0);
    t
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let ord = match c.target() {
        CompareTarget::Value => {
            let want: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(want)
        }
        target => {
            let (have, want) = match (target, &c.target_union) {
                (CompareTarget::Version, Some(TargetUnion::Version(v))) => (kv.version, *v),
                (CompareTarget::Version, _) => (kv.version, 0),
                (CompareTarget::Create, Some(TargetUnion::CreateRevision(v))) => {
                    (kv.create_revision, *v)
                }
                (CompareTarget::Create, _) => (kv.create_revision, 0),
                (CompareTarget::Mod, Some(TargetUnion::ModRevision(v))) => (kv.mod_revision, *v),
                (CompareTarget::Mod, _) => (kv.mod_revision, 0),
                (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => (kv.lease, *v),
                (_, _) => (kv.lease, 0),
            };
            have.cmp(&want)
        }
    };
    match c.result() {
        CompareResult::Equal => ord.is_eq(),
        CompareResult::NotEqual => ord.is_ne(),
        CompareResult::Greater => ord.is_gt(),
        CompareResult::Less => ord.is_lt(),
    }
}
