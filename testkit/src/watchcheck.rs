//! Checkers for what a fault run recorded besides the key-value history:
//! watch streams against etcd's documented watch guarantees, acknowledged
//! writes against the final history, and per-client monotonic revisions.
//!
//! The final history (`reference`) is what a fresh watch from revision 1
//! returns once the cluster has converged; the run never compacts, so it
//! holds every revision. The guarantees checked
//! (<https://etcd.io/docs/v3.5/learning/api_guarantees/#watch-apis>):
//! ordered by revision, no duplicate, no gap against the final history,
//! atomic (a revision's events in one response), events equal to the writes
//! (same key, type and value), and resumable: a watcher that reconnects from
//! its last revision + 1 continues the same sequence.

use std::collections::{HashMap, HashSet};

/// One watch event (`value` empty for a delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub rev: i64,
    pub key: String,
    pub put: bool,
    pub value: String,
}

/// What one watcher received: from which revision it first asked, and
/// every response's events in arrival order (across reconnects).
#[derive(Clone, Debug, Default)]
pub struct WatchLog {
    pub start_rev: i64,
    pub responses: Vec<Vec<WatchEvent>>,
}

impl WatchLog {
    /// The highest revision received (start - 1 if none).
    pub fn last_rev(&self) -> i64 {
        self.responses
            .iter()
            .flatten()
            .map(|e| e.rev)
            .max()
            .unwrap_or(self.start_rev - 1)
    }
}

/// A write a client was answered for: the key, the value it wrote (None:
/// a delete that deleted something) and the header revision of the answer.
#[derive(Clone, Debug)]
pub struct AckedWrite {
    pub key: String,
    pub value: Option<String>,
    pub rev: i64,
}

/// The final history itself: revisions from 2 (1 is the empty store) up to
/// its end with none missing, each revision's events consecutive.
pub fn check_reference(reference: &[WatchEvent]) -> Result<(), String> {
    let mut expect = 2;
    let mut prev = 1;
    for e in reference {
        if e.rev == prev {
            continue; // another event of a multi-key revision
        }
        if e.rev != expect {
            return Err(format!(
                "final history: revision {} follows {prev} (expected {expect})",
                e.rev
            ));
        }
        prev = e.rev;
        expect = e.rev + 1;
    }
    Ok(())
}

/// One watcher against the final history: its events, flattened, must be
/// exactly the final history's events from its start revision up to the
/// last revision it received, and no revision may be split over responses.
pub fn check_watcher(w: &WatchLog, reference: &[WatchEvent]) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut prev = 0;
    for (i, resp) in w.responses.iter().enumerate() {
        for e in resp {
            if e.rev < prev {
                return Err(format!(
                    "out of order: revision {} after {prev} (response {i})",
                    e.rev
                ));
            }
            if !seen.insert((e.rev, e.key.clone())) {
                return Err(format!("duplicate event: {} at revision {}", e.key, e.rev));
            }
            prev = e.rev;
        }
    }
    // atomic: every revision a response holds is complete in that response
    let mut per_rev: HashMap<i64, usize> = HashMap::new();
    for e in reference {
        *per_rev.entry(e.rev).or_default() += 1;
    }
    for (i, resp) in w.responses.iter().enumerate() {
        let mut here: HashMap<i64, usize> = HashMap::new();
        for e in resp {
            *here.entry(e.rev).or_default() += 1;
        }
        for (rev, n) in here {
            let want = per_rev.get(&rev).copied().unwrap_or(0);
            if n != want {
                return Err(format!(
                    "revision {rev} split or altered: {n} of its {want} event(s) in response {i}"
                ));
            }
        }
    }
    let got: Vec<&WatchEvent> = w.responses.iter().flatten().collect();
    let last = w.last_rev();
    let want: Vec<&WatchEvent> = reference
        .iter()
        .filter(|e| e.rev >= w.start_rev && e.rev <= last)
        .collect();
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        return Err(format!(
            "differs from the final history at event {i}: got {:?}, the history has {:?}",
            got.get(i),
            want.get(i)
        ));
    }
    Ok(())
}

/// Every acknowledged write is in the final history at its revision, and
/// every put in the final history wrote a value some client sent to that
/// key (`sent`: key and value of every write attempted, answered or not).
pub fn check_writes(
    reference: &[WatchEvent],
    acked: &[AckedWrite],
    sent: &HashSet<(String, String)>,
) -> Result<(), String> {
    let at: HashMap<(i64, &str), &WatchEvent> = reference
        .iter()
        .map(|e| ((e.rev, e.key.as_str()), e))
        .collect();
    for w in acked {
        let found = at.get(&(w.rev, w.key.as_str()));
        let ok = match (&w.value, found) {
            (Some(v), Some(e)) => e.put && e.value == *v,
            (None, Some(e)) => !e.put,
            (_, None) => false,
        };
        if !ok {
            return Err(format!(
                "acknowledged write lost: {} = {:?} at revision {} (history: {:?})",
                w.key, w.value, w.rev, found
            ));
        }
    }
    for e in reference.iter().filter(|e| e.put) {
        if !sent.contains(&(e.key.clone(), e.value.clone())) {
            return Err(format!(
                "revision {} put {} = {:?}, which no client wrote",
                e.rev, e.key, e.value
            ));
        }
    }
    Ok(())
}

/// Revisions a client saw in order (one client, one kind of read): they
/// never go back.
pub fn check_monotonic(what: &str, revs: &[i64]) -> Result<(), String> {
    match revs.windows(2).find(|w| w[1] < w[0]) {
        Some(w) => Err(format!(
            "{what}: revision went back from {} to {}",
            w[0], w[1]
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(rev: i64, key: &str, value: &str) -> WatchEvent {
        WatchEvent {
            rev,
            key: key.into(),
            put: true,
            value: value.into(),
        }
    }
    fn del(rev: i64, key: &str) -> WatchEvent {
        WatchEvent {
            rev,
            key: key.into(),
            put: false,
            value: String::new(),
        }
    }
    fn history() -> Vec<WatchEvent> {
        vec![
            put(2, "a", "1"),
            put(3, "b", "2"),
            put(4, "a", "3"),
            del(4, "b"),
            put(5, "a", "4"),
        ]
    }
    fn log(start_rev: i64, responses: Vec<Vec<WatchEvent>>) -> WatchLog {
        WatchLog {
            start_rev,
            responses,
        }
    }

    #[test]
    fn a_faithful_watcher_passes_even_across_reconnects() {
        let h = history();
        assert_eq!(check_reference(&h), Ok(()));
        let w = log(2, vec![h[..2].to_vec(), h[2..4].to_vec(), h[4..].to_vec()]);
        assert_eq!(check_watcher(&w, &h), Ok(()));
        // started later and has not seen the end yet
        let w = log(3, vec![vec![h[1].clone()], h[2..4].to_vec()]);
        assert_eq!(check_watcher(&w, &h), Ok(()));
    }

    #[test]
    fn gaps_duplicates_disorder_splits_and_wrong_events_fail() {
        let h = history();
        let gap = log(2, vec![vec![h[0].clone()], h[2..].to_vec()]);
        assert!(check_watcher(&gap, &h).unwrap_err().contains("differs"));
        let dup = log(2, vec![h[..2].to_vec(), h[1..].to_vec()]);
        assert!(check_watcher(&dup, &h).unwrap_err().contains("duplicate"));
        let back = log(2, vec![vec![h[1].clone()], vec![h[0].clone()]]);
        assert!(check_watcher(&back, &h)
            .unwrap_err()
            .contains("out of order"));
        let split = log(2, vec![h[..3].to_vec(), h[3..].to_vec()]);
        assert!(check_watcher(&split, &h).unwrap_err().contains("split"));
        let mut wrong = h.clone();
        wrong[2].value = "x".into();
        let w = log(2, vec![wrong]);
        assert!(check_watcher(&w, &h).unwrap_err().contains("differs"));
        // a watcher missing the start of its range
        let late = log(2, vec![h[1..].to_vec()]);
        assert!(check_watcher(&late, &h).is_err());
    }

    #[test]
    fn a_history_with_a_missing_revision_fails() {
        let mut h = history();
        h.remove(1);
        assert!(check_reference(&h)
            .unwrap_err()
            .contains("revision 4 follows 2"));
        assert!(check_reference(&[put(3, "a", "1")]).is_err());
    }

    #[test]
    fn lost_and_invented_writes_fail() {
        let h = history();
        let sent: HashSet<(String, String)> = [("a", "1"), ("b", "2"), ("a", "3"), ("a", "4")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ok = [
            AckedWrite {
                key: "a".into(),
                value: Some("3".into()),
                rev: 4,
            },
            AckedWrite {
                key: "b".into(),
                value: None,
                rev: 4,
            },
        ];
        assert_eq!(check_writes(&h, &ok, &sent), Ok(()));
        let lost = [AckedWrite {
            key: "a".into(),
            value: Some("9".into()),
            rev: 6,
        }];
        assert!(check_writes(&h, &lost, &sent).unwrap_err().contains("lost"));
        let mut fewer = sent.clone();
        fewer.remove(&("a".to_string(), "4".to_string()));
        assert!(check_writes(&h, &[], &fewer)
            .unwrap_err()
            .contains("no client wrote"));
    }

    #[test]
    fn a_read_that_goes_back_fails() {
        assert_eq!(check_monotonic("c1", &[2, 2, 5, 9]), Ok(()));
        assert!(check_monotonic("c1", &[2, 5, 4]).is_err());
    }
}
