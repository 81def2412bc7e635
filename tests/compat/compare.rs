//! Comparing one step's outcome with the reference run's: a short line
//! diff (LCS) or the first differing byte, the exit codes, and the exact
//! outputs some steps expect (acceptance cases from the etcdctl 3.5.1
//! reference notes) checked against the reference run.

use super::*;

/// A minimal line diff (LCS), `-` expected / `+` actual, limited in length.
pub(crate) fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let show = |l: &str| match l.strip_suffix('\n') {
        Some(line) => format!("{line:?}"),
        None => format!("{l:?} (no newline at end)"),
    };
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("      {}", show(a[i])));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("    - {}", show(a[i])));
            i += 1;
        } else {
            out.push(format!("    + {}", show(b[j])));
            j += 1;
        }
    }
    // Keep changed lines with 3 lines of context, at most 40 lines.
    const CONTEXT: usize = 3;
    const MAX: usize = 40;
    let changed: Vec<usize> = (0..out.len())
        .filter(|&k| !out[k].starts_with("      "))
        .collect();
    let keep = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
    let mut shown = Vec::new();
    let mut skipped = false;
    for (k, l) in out.iter().enumerate() {
        if keep(k) {
            if skipped {
                shown.push("      …".to_string());
                skipped = false;
            }
            shown.push(l.clone());
        } else {
            skipped = true;
        }
    }
    if skipped {
        shown.push("      …".to_string());
    }
    let total = shown.len();
    let mut s: String = shown.into_iter().take(MAX).map(|l| l + "\n").collect();
    if total > MAX {
        let _ = writeln!(s, "    … ({} more diff lines)", total - MAX);
    }
    s
}

/// Where two texts first differ: line, column and a short excerpt of each
/// (long JSON lines are hard to compare in a line diff).
pub(crate) fn first_difference(expected: &str, actual: &str) -> String {
    let e: Vec<char> = expected.chars().collect();
    let a: Vec<char> = actual.chars().collect();
    let pos = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let line = e[..pos].iter().filter(|&&c| c == '\n').count() + 1;
    let col = pos
        - e[..pos]
            .iter()
            .rposition(|&c| c == '\n')
            .map_or(0, |p| p + 1)
        + 1;
    let excerpt = |v: &[char]| -> String {
        let start = pos.saturating_sub(20);
        let end = (pos + 40).min(v.len());
        v[start.min(end)..end].iter().collect()
    };
    format!(
        "    first difference at line {line}, column {col}:\n      expected …{:?}…\n      actual   …{:?}…\n",
        excerpt(&e),
        excerpt(&a)
    )
}

/// Describes how `actual` differs from `expected`, or None if equal.
pub(crate) fn compare(step: &Step, expected: &Outcome, actual: &Outcome) -> Option<String> {
    let mut s = String::new();
    if step.skip_stdout.is_none() && expected.stdout != actual.stdout {
        let _ = write!(
            s,
            "  stdout differs (- expected, + actual):\n{}{}",
            line_diff(&expected.stdout, &actual.stdout),
            first_difference(&expected.stdout, &actual.stdout)
        );
    }
    if expected.stderr != actual.stderr {
        let _ = write!(
            s,
            "  stderr (without zap log lines) differs (- expected, + actual):\n{}{}",
            line_diff(&expected.stderr, &actual.stderr),
            first_difference(&expected.stderr, &actual.stderr)
        );
    }
    if step.compare_zap && expected.zap != actual.zap {
        let _ = write!(
            s,
            "  zap log summary differs (- expected, + actual):\n{}",
            line_diff(&expected.zap, &actual.zap)
        );
    }
    if expected.code != actual.code {
        let _ = writeln!(
            s,
            "  exit code differs: expected {}, got {}",
            expected.code, actual.code
        );
    }
    (!s.is_empty()).then_some(s)
}

/// Checks the reference run against the expectations written from the doc.
pub(crate) fn check_doc_expectations(step: &Step, reference: &Outcome) -> Option<String> {
    let mut s = String::new();
    if let Some(want) = &step.expect_stdout {
        if *want != reference.stdout {
            let _ = write!(
                s,
                "  stdout (- doc, + etcdctl → etcd):\n{}",
                line_diff(want, &reference.stdout)
            );
        }
    }
    if let Some(needle) = &step.expect_stdout_contains {
        if !reference.stdout.contains(needle.as_str()) {
            let _ = writeln!(
                s,
                "  stdout {:?} does not contain {:?}",
                reference.stdout, needle
            );
        }
    }
    if let Some(want) = &step.expect_stderr {
        if *want != reference.stderr {
            let _ = write!(
                s,
                "  stderr (- doc, + etcdctl → etcd):\n{}",
                line_diff(want, &reference.stderr)
            );
        }
    }
    if let Some(want) = step.expect_code {
        if want != reference.code {
            let _ = writeln!(s, "  exit code: doc says {want}, got {}", reference.code);
        }
    }
    (!s.is_empty()).then_some(s)
}
