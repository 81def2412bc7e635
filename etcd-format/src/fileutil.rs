//! File helpers shared by the writers of etcd's files and oxcd's own.

use std::fs::File;
use std::io;

/// Reserves `len` bytes and extends the file to them, like etcd's
/// `fileutil.Preallocate(f, len, true)`: fallocate where supported,
/// otherwise (`EOPNOTSUPP`, or not Linux) a (sparse) truncate.
pub fn preallocate(f: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fallocate on an open descriptor we own; no memory is
        // passed.
        let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len as libc::off_t) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(err);
        }
    }
    f.set_len(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn preallocate_extends_with_zeros() {
        let mut f = tempfile::tempfile().expect("tempfile");
        preallocate(&f, 4096).expect("preallocate");
        assert_eq!(f.metadata().expect("metadata").len(), 4096);
        let mut b = Vec::new();
        f.read_to_end(&mut b).expect("read");
        assert!(b.iter().all(|&x| x == 0));
    }
}
