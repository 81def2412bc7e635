//! Leases: granted and revoked through the log (so they survive restarts),
//! kept alive and expired on this member's monotonic clock.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// etcd's floor for a granted TTL with default election settings.
pub const MIN_TTL: i64 = 2;
/// etcd's ceiling for a TTL, in seconds.
pub const MAX_TTL: i64 = 9_000_000_000;

#[derive(Debug, Clone)]
pub struct Lease {
    pub id: i64,
    pub ttl: i64,
    pub expiry: Instant,
    pub keys: BTreeSet<Vec<u8>>,
}

impl Lease {
    pub fn remaining(&self, now: Instant) -> i64 {
        // whole seconds, truncated, as etcd reports them
        self.expiry.saturating_duration_since(now).as_secs() as i64
    }
}

#[derive(Debug, Default)]
pub struct Lessor {
    pub leases: HashMap<i64, Lease>,
}

impl Lessor {
    pub fn grant(&mut self, id: i64, ttl: i64) -> &Lease {
        let ttl = ttl.max(MIN_TTL);
        let lease = Lease {
            id,
            ttl,
            expiry: Instant::now() + Duration::from_secs(ttl as u64),
            keys: BTreeSet::new(),
        };
        self.leases.entry(id).or_insert(lease)
    }

    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Removes the lease; returns the keys attached to it.
    pub fn revoke(&mut self, id: i64) -> Option<BTreeSet<Vec<u8>>> {
        self.leases.remove(&id).map(|l| l.keys)
    }

    /// The keys attached to a lease (none for an unknown one).
    pub fn keys(&self, id: i64) -> impl Iterator<Item = &Vec<u8>> {
        self.leases.get(&id).into_iter().flat_map(|l| l.keys.iter())
    }

    pub fn attach(&mut self, id: i64, key: &[u8]) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.insert(key.to_vec());
        }
    }

    pub fn detach(&mut self, id: i64, key: &[u8]) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.remove(key);
        }
    }

    /// Restarts a lease's countdown; returns its TTL.
    pub fn renew(&mut self, id: i64) -> Option<i64> {
        let l = self.leases.get_mut(&id)?;
        l.expiry = Instant::now() + Duration::from_secs(l.ttl as u64);
        Some(l.ttl)
    }

    pub fn expired(&self, now: Instant) -> Vec<i64> {
        self.leases
            .values()
            .filter(|l| l.expiry <= now)
            .map(|l| l.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_clamps_and_tracks_keys() {
        let mut l = Lessor::default();
        assert_eq!(l.grant(7, 0).ttl, MIN_TTL);
        l.attach(7, b"a");
        l.attach(7, b"b");
        l.detach(7, b"a");
        assert_eq!(l.renew(7), Some(MIN_TTL));
        assert!(l.expired(Instant::now()).is_empty());
        let keys = l.revoke(7).expect("granted");
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec![b"b".to_vec()]);
        assert!(!l.contains(7));
    }
}
