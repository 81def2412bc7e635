//! The long tier of the fault runs: `ROBUSTNESS_OXCD` (default 100)
//! iterations against oxcd and `ROBUSTNESS_ETCD` (default 20) against etcd
//! 3.5.1, cycling through every fault kind, alternating the two servers; a
//! table per fault kind at the end (also written to `ROBUSTNESS_OUT` when
//! set). Run by `scripts/robustness.sh`.

use crate::faults::{self, Fault, Report};
use crate::harness::Kind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Totals of one (fault, server) cell.
#[derive(Default)]
struct Cell {
    runs: usize,
    ops: usize,
    unknown: usize,
    violations: BTreeMap<&'static str, usize>,
    converge: Vec<Duration>,
    errors: usize,
    top_errors: BTreeMap<String, usize>,
    reconnects: usize,
}

impl Cell {
    fn add(&mut self, r: &Report) {
        self.runs += 1;
        self.ops += r.ops;
        self.unknown += r.unknown;
        for (what, _) in &r.violations {
            *self.violations.entry(what).or_default() += 1;
        }
        self.converge.push(r.converge);
        for (e, n) in &r.errors {
            self.errors += n;
            *self.top_errors.entry(e.clone()).or_default() += n;
        }
        self.reconnects += r.watch_reconnects;
    }

    fn violations(&self, what: &str) -> usize {
        self.violations.get(what).copied().unwrap_or(0)
    }
}

fn table(cells: &BTreeMap<(Fault, String), Cell>) -> String {
    let mut out = String::new();
    let mut faults: Vec<Fault> = cells.keys().map(|k| k.0).collect();
    faults.dedup();
    for f in faults {
        let _ = writeln!(out, "\n### {f:?}\n");
        let _ = writeln!(
            out,
            "| server | runs | operations | unknown | linearizability | lost writes | watch | monotonic | convergence | caught up after heal (median / max) | watch reconnects | client errors (most common) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for ((_, kind), c) in cells
            .range((f, String::new())..)
            .take_while(|(k, _)| k.0 == f)
        {
            let mut conv = c.converge.clone();
            conv.sort();
            let median = conv.get(conv.len() / 2).copied().unwrap_or_default();
            let max = conv.last().copied().unwrap_or_default();
            let top = c
                .top_errors
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(e, n)| format!("{n}× {e}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2?} / {:.2?} | {} | {} ({}) |",
                c.runs,
                c.ops,
                c.unknown,
                c.violations("linearizability"),
                c.violations("lost write"),
                c.violations("watch"),
                c.violations("monotonic"),
                c.violations("convergence"),
                median,
                max,
                c.reconnects,
                c.errors,
                top.replace('|', "/")
            );
        }
    }
    out
}

pub fn robustness_long() {
    let n_oxcd = env_count("ROBUSTNESS_OXCD", 100);
    let n_etcd = env_count("ROBUSTNESS_ETCD", 20);
    let with_etcd = Kind::Etcd.available("robustness_long (etcd part)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut cells: BTreeMap<(Fault, String), Cell> = BTreeMap::new();
    let mut failures = Vec::new();
    for i in 0..n_oxcd.max(n_etcd) {
        let fault = faults::ALL[i % faults::ALL.len()];
        let mut kinds = Vec::new();
        if i < n_oxcd {
            kinds.push(Kind::Oxcd);
        }
        if i < n_etcd && with_etcd {
            kinds.push(Kind::Etcd);
        }
        for kind in kinds {
            let r = rt.block_on(faults::run(kind, fault));
            if !r.violations.is_empty() {
                failures.push(format!("{kind:?} {fault:?} (iteration {i}): {r}"));
            }
            cells
                .entry((fault, format!("{kind:?}").to_lowercase()))
                .or_default()
                .add(&r);
        }
    }
    let t = table(&cells);
    eprintln!("{t}");
    if let Ok(path) = std::env::var("ROBUSTNESS_OUT") {
        if let Err(e) = std::fs::write(&path, &t) {
            eprintln!("writing {path}: {e}");
        }
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
}
