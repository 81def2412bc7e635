//! clientv3's key helpers that several commands and writers share.

/// The end of the range covering every key with prefix `key`
/// (clientv3 `GetPrefixRangeEnd`): `\0`, no upper bound, when there is
/// none (an empty key, or only `0xff` bytes).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"foo"), b"fop");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\x00");
        assert_eq!(prefix_end(b""), b"\x00");
    }
}
