//! `--auto-compaction-mode` and `--auto-compaction-retention`, read as etcd
//! reads them (the compactor itself is `crate::compactor`).

use std::time::Duration;

/// How `--auto-compaction-*` asked to compact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AutoCompaction {
    Periodic(Duration),
    Revision(i64),
}

impl AutoCompaction {
    /// The flags as etcd reads them: a periodic retention is a Go duration
    /// or a whole number of hours; "0" turns auto-compaction off.
    pub fn parse(mode: &str, retention: &str) -> Result<Option<AutoCompaction>, String> {
        let retention = retention.trim();
        match mode {
            "periodic" => {
                let period = match retention.parse::<u64>() {
                    Ok(hours) => Duration::from_secs(hours * 3600),
                    Err(_) => {
                        crate::auth::token::parse_go_duration(retention).ok_or_else(|| {
                            format!("invalid auto-compaction-retention {retention:?}")
                        })?
                    }
                };
                Ok((!period.is_zero()).then_some(AutoCompaction::Periodic(period)))
            }
            "revision" => {
                let keep: i64 = retention
                    .parse()
                    .map_err(|_| format!("invalid auto-compaction-retention {retention:?}"))?;
                Ok((keep > 0).then_some(AutoCompaction::Revision(keep)))
            }
            other => Err(format!("unknown auto-compaction-mode {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_as_etcd_reads_it() {
        let p = |m, r| AutoCompaction::parse(m, r);
        assert_eq!(p("periodic", "0"), Ok(None));
        assert_eq!(
            p("periodic", "1"),
            Ok(Some(AutoCompaction::Periodic(Duration::from_secs(3600))))
        );
        assert_eq!(
            p("periodic", "30m"),
            Ok(Some(AutoCompaction::Periodic(Duration::from_secs(1800))))
        );
        assert_eq!(
            p("revision", "1000"),
            Ok(Some(AutoCompaction::Revision(1000)))
        );
        assert!(p("revision", "1h").is_err());
        assert!(p("periodic", "soon").is_err());
        assert!(p("hourly", "1").is_err());
    }
}
