//! A DNS responder on loopback for the `--discovery-srv` tests: answers
//! SRV and A questions from a fixed table over UDP (the one question a
//! resolver sends), NXDOMAIN for names it has nothing for. Stops when
//! dropped.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A record the responder serves (names without the trailing dot).
#[derive(Clone, Debug)]
pub enum Record {
    Srv {
        name: String,
        port: u16,
        target: String,
    },
    A {
        name: String,
        ip: Ipv4Addr,
    },
}

impl Record {
    fn name(&self) -> &str {
        match self {
            Record::Srv { name, .. } | Record::A { name, .. } => name,
        }
    }

    fn qtype(&self) -> u16 {
        match self {
            Record::Srv { .. } => 33,
            Record::A { .. } => 1,
        }
    }
}

pub struct Dns {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dns {
    pub fn start(records: Vec<Record>) -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the DNS responder");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let addr = sock.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !halt.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(answer) = answer(&buf[..n], &records) {
                    let _ = sock.send_to(&answer, from);
                }
            }
        });
        Dns {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The question's name (lower case, no trailing dot) and the offset after
/// it.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).to_lowercase());
        at += len;
    }
    Some((labels.join("."), at))
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn answer(query: &[u8], records: &[Record]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let (qname, end) = read_name(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = query.get(12..end + 4)?;
    let known = records
        .iter()
        .any(|r| r.name().eq_ignore_ascii_case(&qname));
    let matching: Vec<&Record> = records
        .iter()
        .filter(|r| r.name().eq_ignore_ascii_case(&qname) && r.qtype() == qtype)
        .collect();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[0..2]);
    // a response, recursion desired and available; NXDOMAIN if unknown
    let rcode = if known { 0 } else { 3 };
    out.extend_from_slice(&[0x81, 0x80 | rcode]);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(matching.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for r in matching {
        // the name: a pointer to the question's
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&r.qtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        let mut data = Vec::new();
        match r {
            Record::Srv { port, target, .. } => {
                data.extend_from_slice(&[0, 10, 0, 10]);
                data.extend_from_slice(&port.to_be_bytes());
                write_name(&mut data, target);
            }
            Record::A { ip, .. } => data.extend_from_slice(&ip.octets()),
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}
