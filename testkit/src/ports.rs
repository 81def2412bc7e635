//! Free loopback ports.
//!
//! Every port comes from binding `127.0.0.1:0`. All listeners of one call are
//! held until every port is picked (the kernel cannot hand one out twice), and
//! a process-wide set remembers every port handed out, so two tests running in
//! parallel threads never get the same port. Another process can still take a
//! port between picking and binding: [`crate::wait::start_retrying`] restarts
//! on new ports when a server reports "address already in use".

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// `n` distinct loopback ports, free a moment ago and new to this process.
pub fn free_ports(n: usize) -> Vec<u16> {
    free_ports_from(n, 0)
}

/// The same, each port at least `min` (for instance 10000: five digits, so
/// that endpoint columns keep their width).
pub fn free_ports_from(n: usize, min: u16) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    let mut g = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let seen = g.get_or_insert_with(HashSet::new);
    for _ in 0..n * 100 {
        if ports.len() == n {
            break;
        }
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to pick a free port");
        let port = l
            .local_addr()
            .expect("local_addr of a port-picking listener")
            .port();
        if port >= min && seen.insert(port) {
            ports.push(port);
        }
        held.push(l);
    }
    assert_eq!(ports.len(), n, "could not find {n} free loopback ports");
    drop(held);
    ports
}

/// One free loopback port (see [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `N` free ports as an array (see [`free_ports`]).
pub fn free_port_array<const N: usize>() -> [u16; N] {
    let p = free_ports(N);
    std::array::from_fn(|i| p[i])
}
