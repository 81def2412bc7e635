//! Revisions and their on-disk encoding: etcd's 17-byte `main_sub` key, with a
//! trailing `t` marking a tombstone, so the `key` table sorts by revision.

/// A store revision: `main` grows once per modifying request, `sub` counts the
/// changes inside it (a txn's puts and deletes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rev {
    pub main: i64,
    pub sub: i64,
}

pub const REV_BYTES: usize = 17;
pub const TOMBSTONE_MARK: u8 = b't';

impl Rev {
    pub fn new(main: i64, sub: i64) -> Self {
        Rev { main, sub }
    }

    pub fn to_bytes(self, tombstone: bool) -> Vec<u8> {
        let mut b = Vec::with_capacity(REV_BYTES + 1);
        b.extend_from_slice(&self.main.to_be_bytes());
        b.push(b'_');
        b.extend_from_slice(&self.sub.to_be_bytes());
        if tombstone {
            b.push(TOMBSTONE_MARK);
        }
        b
    }

    /// Decodes a `key` table key; `None` for anything that is not one.
    pub fn from_bytes(b: &[u8]) -> Option<(Rev, bool)> {
        if b.len() < REV_BYTES || b[8] != b'_' {
            return None;
        }
        let main = i64::from_be_bytes(b[0..8].try_into().ok()?);
        let sub = i64::from_be_bytes(b[9..17].try_into().ok()?);
        let tomb = match b.len() {
            REV_BYTES => false,
            18 if b[17] == TOMBSTONE_MARK => true,
            _ => return None,
        };
        Some((Rev { main, sub }, tomb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = Rev::new(2, 0).to_bytes(false);
        let b = Rev::new(2, 1).to_bytes(true);
        let c = Rev::new(10, 0).to_bytes(false);
        assert!(a < b && b < c);
        assert_eq!(Rev::from_bytes(&b), Some((Rev::new(2, 1), true)));
        assert_eq!(Rev::from_bytes(&a), Some((Rev::new(2, 0), false)));
        assert_eq!(Rev::from_bytes(b"short"), None);
    }
}
