//! A linearizability checker for key-value histories, as porcupine checks
//! etcd's: each key is a register with compare-and-set, checked on its own
//! (linearizability is compositional), by the Wing–Gong/Lowe search — take
//! any operation that may come next (called before every pending one
//! returned), apply it to the model, go deeper; back up on a mismatch;
//! remember (done set, state) pairs already seen.
//!
//! An operation whose outcome the client never learnt (a timeout, a broken
//! connection) may have taken effect at any point after its call, or not
//! at all: it has no return time and matches any outcome. A search that
//! needs more than its step budget ends undecided, not passed.
//!
//! Leases fit the per-key model because the workload attaches each lease to
//! one put only: the register remembers the lease its value was written
//! with, and revoking that lease deletes the key only if it still holds it.

use std::collections::HashSet;

/// What a client asked of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(String),
    /// a put attached to a lease (the lease's only key)
    PutLease(String, i64),
    /// revoke a lease: deletes the key if its value still carries it
    Revoke(i64),
    Get,
    Delete,
    /// put `new` if the key's value is `expect` (None: the key is absent)
    Cas {
        expect: Option<String>,
        new: String,
    },
}

/// What it was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Done,
    Value(Option<String>),
    Swapped(bool),
    /// no answer: it may or may not have taken effect
    Unknown,
}

/// One operation on one key, with its call and return times (any unit,
/// one clock); `ret` is None when the outcome is unknown.
#[derive(Clone, Debug)]
pub struct Event {
    pub key: String,
    pub op: Op,
    pub out: Out,
    pub call: u64,
    pub ret: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// no order of the key's operations explains what clients saw
    Violation {
        key: String,
    },
    /// the search ran out of steps on this key
    Undecided {
        key: String,
    },
}

/// The register: the value and the lease it was written with (0: none).
type State = Option<(String, i64)>;

fn value(state: &State) -> Option<String> {
    state.as_ref().map(|(v, _)| v.clone())
}

/// The model's step: the state after `op`, if `out` is what it answers.
fn step(state: &State, op: &Op, out: &Out) -> Option<State> {
    let any = *out == Out::Unknown;
    let done = any || *out == Out::Done;
    match op {
        Op::Put(v) => done.then(|| Some((v.clone(), 0))),
        Op::PutLease(v, lease) => done.then(|| Some((v.clone(), *lease))),
        Op::Revoke(lease) => done.then(|| match state {
            Some((_, l)) if l == lease => None,
            _ => state.clone(),
        }),
        Op::Delete => done.then_some(None),
        Op::Get => (any || *out == Out::Value(value(state))).then(|| state.clone()),
        Op::Cas { expect, new } => {
            let hit = value(state) == *expect;
            if any || *out == Out::Swapped(hit) {
                Some(if hit {
                    Some((new.clone(), 0))
                } else {
                    state.clone()
                })
            } else {
                None
            }
        }
    }
}

/// Checks every key of `history`, at most `budget` search steps per key.
pub fn check(history: &[Event], budget: u64) -> Verdict {
    let mut keys: Vec<&str> = history.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let ops: Vec<&Event> = history.iter().filter(|e| e.key == key).collect();
        match check_key(&ops, budget) {
            Some(true) => {}
            Some(false) => return Verdict::Violation { key: key.into() },
            None => return Verdict::Undecided { key: key.into() },
        }
    }
    Verdict::Ok
}

/// Some(linearizable) or None when `budget` ran out. The key starts absent.
fn check_key(ops: &[&Event], budget: u64) -> Option<bool> {
    // by call time: the operations that may come next are a window after
    // the first one not placed yet
    let mut ops = ops.to_vec();
    ops.sort_by_key(|e| e.call);
    let n = ops.len();
    let ret = |i: usize| ops[i].ret.unwrap_or(u64::MAX);
    let known = ops.iter().filter(|e| e.ret.is_some()).count();
    let mut seen: HashSet<(Vec<u64>, State)> = HashSet::new();
    let is_done = |d: &[u64], i: usize| d[i / 64] & (1 << (i % 64)) != 0;
    // depth-first frames: done set, state, known ones placed, and the next
    // candidate to try at this level
    let mut stack = vec![Frame {
        done: vec![0; n.div_ceil(64)],
        state: None,
        placed: 0,
        from: 0,
    }];
    let mut steps = 0u64;
    while let Some(f) = stack.pop() {
        steps += 1;
        if steps > budget {
            return None;
        }
        // finished once every operation that returned is placed (the
        // unknown ones may never have happened)
        if f.placed == known {
            return Some(true);
        }
        let first = (0..n).find(|&i| !is_done(&f.done, i)).unwrap_or(n);
        // an operation may come next if it was called before every
        // pending one returned: scan while calls stay within that bound
        let mut horizon = u64::MAX;
        let mut window = Vec::new();
        for (i, e) in ops.iter().enumerate().skip(first) {
            if e.call > horizon {
                break;
            }
            if !is_done(&f.done, i) {
                horizon = horizon.min(ret(i));
                window.push(i);
            }
        }
        let next = window
            .into_iter()
            .filter(|&i| i >= f.from && ops[i].call <= horizon)
            .find_map(|i| step(&f.state, &ops[i].op, &ops[i].out).map(|s| (i, s)));
        if let Some((i, s)) = next {
            let mut d = f.done.clone();
            d[i / 64] |= 1 << (i % 64);
            let placed = f.placed + usize::from(ops[i].ret.is_some());
            // come back to this level for the candidates after `i`
            stack.push(Frame { from: i + 1, ..f });
            if seen.insert((d.clone(), s.clone())) {
                stack.push(Frame {
                    done: d,
                    state: s,
                    placed,
                    from: 0,
                });
            }
        }
    }
    Some(false)
}

struct Frame {
    done: Vec<u64>,
    state: State,
    placed: usize,
    from: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, out: Out, call: u64, ret: Option<u64>) -> Event {
        Event {
            key: "k".into(),
            op,
            out,
            call,
            ret,
        }
    }
    fn put(v: &str, call: u64, ret: u64) -> Event {
        ev(Op::Put(v.into()), Out::Done, call, Some(ret))
    }
    fn get(v: Option<&str>, call: u64, ret: u64) -> Event {
        ev(Op::Get, Out::Value(v.map(String::from)), call, Some(ret))
    }
    fn cas(expect: Option<&str>, new: &str, ok: bool, call: u64, ret: u64) -> Event {
        let op = Op::Cas {
            expect: expect.map(String::from),
            new: new.into(),
        };
        ev(op, Out::Swapped(ok), call, Some(ret))
    }
    const B: u64 = 1_000_000;

    #[test]
    fn sequential_and_concurrent_histories_pass() {
        let h = [
            put("a", 0, 1),
            get(Some("a"), 2, 3),
            put("b", 4, 5),
            get(Some("b"), 6, 7),
        ];
        assert_eq!(check(&h, B), Verdict::Ok);
        // a read overlapping a write may see either value
        let h = [
            put("a", 0, 1),
            put("b", 2, 6),
            get(Some("a"), 3, 4),
            get(Some("b"), 5, 7),
        ];
        assert_eq!(check(&h, B), Verdict::Ok);
        let h = [
            get(None, 0, 1),
            cas(None, "x", true, 2, 3),
            cas(None, "y", false, 4, 5),
        ];
        assert_eq!(check(&h, B), Verdict::Ok);
    }

    #[test]
    fn stale_and_lost_reads_are_violations() {
        // a read after a finished write sees the old value
        let h = [put("a", 0, 1), put("b", 2, 3), get(Some("a"), 4, 5)];
        assert_eq!(check(&h, B), Verdict::Violation { key: "k".into() });
        // a value nobody wrote
        let h = [put("a", 0, 1), get(Some("z"), 2, 3)];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
        // a read goes back: b, then a again although a preceded b
        let h = [
            put("a", 0, 1),
            put("b", 2, 10),
            get(Some("b"), 3, 4),
            get(Some("a"), 5, 6),
        ];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
        // an acknowledged write lost
        let h = [put("a", 0, 1), get(None, 2, 3)];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
    }

    #[test]
    fn two_winning_compare_and_sets_are_a_violation() {
        let h = [
            put("a", 0, 1),
            cas(Some("a"), "x", true, 2, 5),
            cas(Some("a"), "y", true, 3, 6),
        ];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
    }

    #[test]
    fn unknown_outcomes_may_or_may_not_have_happened() {
        let lost = ev(Op::Put("u".into()), Out::Unknown, 2, None);
        // seen later: it happened
        let h = [put("a", 0, 1), lost.clone(), get(Some("u"), 5, 6)];
        assert_eq!(check(&h, B), Verdict::Ok);
        // never seen: it did not (or after every read)
        let h = [put("a", 0, 1), lost.clone(), get(Some("a"), 5, 6)];
        assert_eq!(check(&h, B), Verdict::Ok);
        // but it cannot take effect before it was called
        let h = [
            put("a", 0, 1),
            get(Some("u"), 1, 2),
            ev(Op::Put("u".into()), Out::Unknown, 3, None),
        ];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
    }

    #[test]
    fn a_revoked_lease_deletes_only_the_value_it_carries() {
        let put_l =
            |v: &str, l, call, ret| ev(Op::PutLease(v.into(), l), Out::Done, call, Some(ret));
        let revoke = |l, call, ret| ev(Op::Revoke(l), Out::Done, call, Some(ret));
        let h = [put_l("a", 7, 0, 1), revoke(7, 2, 3), get(None, 4, 5)];
        assert_eq!(check(&h, B), Verdict::Ok);
        // the key outlives its lease: a violation
        let h = [put_l("a", 7, 0, 1), revoke(7, 2, 3), get(Some("a"), 4, 5)];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
        // overwritten without the lease before the revoke: it stays
        let h = [
            put_l("a", 7, 0, 1),
            put("b", 2, 3),
            revoke(7, 4, 5),
            get(Some("b"), 6, 7),
        ];
        assert_eq!(check(&h, B), Verdict::Ok);
        let h = [
            put_l("a", 7, 0, 1),
            put("b", 2, 3),
            revoke(7, 4, 5),
            get(None, 6, 7),
        ];
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
    }

    #[test]
    fn keys_are_checked_apart_and_the_budget_bounds_the_search() {
        let mut h = vec![put("a", 0, 1), get(Some("a"), 2, 3)];
        let mut other = put("b", 0, 1);
        other.key = "j".into();
        h.push(other);
        let mut bad = get(Some("a"), 2, 3);
        bad.key = "j".into();
        h.push(bad);
        assert_eq!(check(&h, B), Verdict::Violation { key: "j".into() });
        // many overlapping writes and an impossible read: undecided at a tiny budget
        let mut h: Vec<Event> = (0..12).map(|i| put(&i.to_string(), 0, 100)).collect();
        h.push(get(Some("none"), 101, 102));
        assert_eq!(check(&h, 5), Verdict::Undecided { key: "k".into() });
        assert!(matches!(check(&h, B), Verdict::Violation { .. }));
    }
}
