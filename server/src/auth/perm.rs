//! Key-range permission checks: does the union of a user's permissions of
//! the wanted kind cover the keys a request touches?
//!
//! As etcd's: a permission without a range end is the one key `[k, k\0)`,
//! a range end of `\0` means every key from `k` on, and a request range
//! must be covered as a whole (its parts may come from different
//! permissions and roles). READWRITE counts as READ and as WRITE.

use oxcd_proto::authpb::{permission::Type as PermType, Permission};

/// One half-open interval of keys; `end: None` is unbounded.
#[derive(Debug, Clone)]
struct Span {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

/// The keys `[key, range_end)` name: one key when `range_end` is empty,
/// everything from `key` when it is `\0`.
fn span(key: &[u8], range_end: &[u8]) -> Span {
    let end = match range_end {
        [] => {
            let mut e = key.to_vec();
            e.push(0);
            Some(e)
        }
        [0] => None,
        e => Some(e.to_vec()),
    };
    Span {
        start: key.to_vec(),
        end,
    }
}

fn grants(p: &Permission, want: PermType) -> bool {
    let have = PermType::try_from(p.perm_type).unwrap_or(PermType::Read);
    have == want || have == PermType::Readwrite
}

/// Do `perms` cover `[key, range_end)` for `want`?
pub fn covers<'a>(
    perms: impl Iterator<Item = &'a Permission>,
    key: &[u8],
    range_end: &[u8],
    want: PermType,
) -> bool {
    let req = span(key, range_end);
    // an empty request range (end at or before start) touches nothing
    if req.end.as_ref().is_some_and(|e| e.as_slice() <= key) {
        return true;
    }
    let mut have: Vec<Span> = perms
        .filter(|p| grants(p, want))
        .map(|p| span(&p.key, &p.range_end))
        .filter(|s| s.end.as_ref().is_none_or(|e| *e > s.start))
        .collect();
    have.sort_by(|a, b| a.start.cmp(&b.start));
    // sweep: `reached` is where continuous coverage from the request's
    // start has got to
    let mut reached = req.start.clone();
    for s in have {
        if s.start > reached {
            break;
        }
        match s.end {
            None => return true,
            Some(e) if e > reached => reached = e,
            Some(_) => {}
        }
        if req.end.as_ref().is_some_and(|re| reached >= *re) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: PermType, key: &str, end: &[u8]) -> Permission {
        Permission {
            perm_type: t as i32,
            key: key.as_bytes().to_vec(),
            range_end: end.to_vec(),
        }
    }

    #[test]
    fn single_keys_ranges_and_open_ends() {
        let perms = [
            p(PermType::Read, "foo", b""),
            p(PermType::Readwrite, "a", b"c"),
            p(PermType::Write, "c", b"e"),
            p(PermType::Read, "x", b"\0"),
        ];
        let c = |k: &str, e: &[u8], t| covers(perms.iter(), k.as_bytes(), e, t);
        assert!(c("foo", b"", PermType::Read));
        assert!(!c("foo", b"", PermType::Write));
        assert!(!c("foo1", b"", PermType::Read));
        // the one-key permission covers the one-key range
        assert!(c("foo", b"foo\0", PermType::Read));
        assert!(!c("foo", b"fop", PermType::Read));
        assert!(c("a", b"c", PermType::Read));
        assert!(c("b", b"", PermType::Write));
        // [a,c) rw + [c,e) w: continuous for write, not for read
        assert!(c("a", b"e", PermType::Write));
        assert!(!c("a", b"e", PermType::Read));
        assert!(!c("a", b"f", PermType::Write));
        // open end
        assert!(c("x", b"\0", PermType::Read));
        assert!(c("zzz", b"", PermType::Read));
        assert!(!c("w", b"\0", PermType::Read));
        assert!(!c("a", b"\0", PermType::Write));
        // everything needs an open-ended permission from ""
        assert!(!c("", b"\0", PermType::Read));
        let all = [p(PermType::Read, "", b"\0")];
        assert!(covers(all.iter(), b"", b"\0", PermType::Read));
    }

    #[test]
    fn no_permissions_cover_nothing() {
        assert!(!covers([].iter(), b"k", b"", PermType::Read));
    }
}
