//! A TCP fault-injection proxy for the peer (raft) traffic of a cluster on
//! loopback, with etcd and oxcd as black boxes. Member `i` listens on its
//! peer port `targets[i]` but advertises [`PeerProxy::port`]`(i)`, so every
//! connection to member `i` passes through the proxy's listener `i`.
//!
//! Faults act per directed link, so the proxy must know which member opened
//! each connection: the servers listen on 127.0.0.1 only, so it finds the
//! client socket in `/proc/net/tcp{,6}` and its inode among the open files
//! of the registered member pids (Linux only). A client it cannot identify
//! is not a member: forwarded without faults, only counted.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::rng::Rng;

/// Faults on one directed link: bytes travelling from member `from` to
/// member `to` (on connections either of them opened). Each chunk read is
/// judged by the link's state at that moment, so existing connections are
/// affected too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Discard the bytes silently, the connection staying open: a
    /// partitioned peer sees timeouts, not resets.
    pub cut: bool,
    /// Deliver each chunk this long after it was read...
    pub delay: Duration,
    /// ...plus a uniform `0..jitter`, never before an earlier chunk.
    pub jitter: Duration,
    /// The chance, in 1000, that a chunk closes its whole connection (a
    /// flaky link).
    pub reset_per_mille: u32,
}

/// Counters, enough for a test to prove that its faults acted. `None` as a
/// member is a client that is not one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted, per (member that opened it, member dialled).
    pub accepted: BTreeMap<(Option<usize>, usize), u64>,
    /// Bytes handed to the receiving socket, per direction (from, to).
    pub forwarded: BTreeMap<(Option<usize>, Option<usize>), u64>,
    /// Bytes discarded by a cut, per directed link (from, to).
    pub dropped: BTreeMap<(usize, usize), u64>,
    /// Connections closed by `reset_per_mille`.
    pub resets: u64,
    /// Connections closed by [`PeerProxy::heal`] because they had lost bytes.
    pub healed: u64,
}

pub struct PeerProxy {
    shared: Arc<Shared>,
    accepts: Vec<JoinHandle<()>>,
}

struct Shared {
    targets: Vec<u16>,
    ports: Vec<u16>,
    pids: Mutex<Vec<Option<u32>>>,
    /// n × n, `from * n + to`.
    links: Mutex<Vec<Link>>,
    /// Whether the proxy was dropped, and the open connections by id.
    conns: Mutex<(bool, HashMap<u64, Arc<Conn>>)>,
    stats: Mutex<Stats>,
    next_id: AtomicU64,
    seed: u64,
}

/// One proxied connection, as `heal` and `Drop` see it.
struct Conn {
    lost: AtomicBool,
    close: watch::Sender<bool>,
}

/// A panic elsewhere must not hide the counters from the test.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PeerProxy {
    /// One listener per member, each with an accept loop on the current
    /// tokio runtime. Its ports come from [`crate::free_ports`], so that no
    /// other test of this process is given them (an error in the rare case
    /// that another process took one meanwhile).
    pub async fn start(targets: &[u16]) -> std::io::Result<PeerProxy> {
        let n = targets.len();
        let ports = crate::free_ports(n);
        let mut listeners = Vec::new();
        for &p in &ports {
            listeners.push(TcpListener::bind(("127.0.0.1", p)).await?);
        }
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let shared = Arc::new(Shared {
            targets: targets.to_vec(),
            ports,
            pids: Mutex::new(vec![None; n]),
            links: Mutex::new(vec![Link::default(); n * n]),
            conns: Mutex::new((false, HashMap::new())),
            stats: Mutex::new(Stats::default()),
            next_id: AtomicU64::new(0),
            seed,
        });
        let accepts = listeners
            .into_iter()
            .enumerate()
            .map(|(to, l)| tokio::spawn(accept_loop(shared.clone(), to, l)))
            .collect();
        Ok(PeerProxy { shared, accepts })
    }

    /// The port to advertise as member `i`'s peer URL.
    pub fn port(&self, i: usize) -> u16 {
        self.shared.ports[i]
    }

    /// Member `i`'s process (`None`: not running); to call after every
    /// (re)spawn, as connections are told apart by pid.
    pub fn set_pid(&self, i: usize, pid: Option<u32>) {
        lock(&self.shared.pids)[i] = pid;
    }

    /// Replace the faults of the link `from` → `to`.
    pub fn set_link(&self, from: usize, to: usize, link: Link) {
        let n = self.shared.targets.len();
        assert!(from < n && to < n, "link {from}→{to} of {n} members");
        lock(&self.shared.links)[from * n + to] = link;
    }

    fn update(&self, pick: impl Fn(usize, usize) -> bool, change: impl Fn(&mut Link)) {
        let n = self.shared.targets.len();
        let mut links = lock(&self.shared.links);
        for (k, link) in links.iter_mut().enumerate() {
            if k / n != k % n && pick(k / n, k % n) {
                change(link);
            }
        }
    }

    /// Cut both directions between `a` and `b`.
    pub fn cut_both(&self, a: usize, b: usize) {
        self.update(|f, t| [(a, b), (b, a)].contains(&(f, t)), |l| l.cut = true);
    }

    /// Cut every link to and from `i`.
    pub fn isolate(&self, i: usize) {
        self.update(|f, t| f == i || t == i, |l| l.cut = true);
    }

    pub fn cut_one_way(&self, from: usize, to: usize) {
        self.update(|f, t| (f, t) == (from, to), |l| l.cut = true);
    }

    /// The same delay and jitter on every link between two members.
    pub fn delay_all(&self, delay: Duration, jitter: Duration) {
        self.update(|_, _| true, |l| (l.delay, l.jitter) = (delay, jitter));
    }

    /// Every link back to no fault, then every connection that lost bytes
    /// closed: its byte stream is broken, so the members reconnect cleanly.
    /// Connections that lost nothing stay.
    pub fn heal(&self) {
        lock(&self.shared.links).fill(Link::default());
        let conns = lock(&self.shared.conns);
        let mut closed = 0;
        for c in conns.1.values() {
            if c.lost.load(Ordering::Relaxed) && !c.close.send_replace(true) {
                closed += 1;
            }
        }
        lock(&self.shared.stats).healed += closed;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }
}

impl Drop for PeerProxy {
    fn drop(&mut self) {
        for a in &self.accepts {
            a.abort();
        }
        // The flag stops an accept already under way from adding one more.
        let mut conns = lock(&self.shared.conns);
        conns.0 = true;
        for c in conns.1.values() {
            c.close.send_replace(true);
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, to: usize, listener: TcpListener) {
    loop {
        let Ok((client, peer)) = listener.accept().await else {
            // For instance out of file descriptors: may pass.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = watch::channel(false);
        let lost = AtomicBool::new(false);
        let conn = Arc::new(Conn { lost, close });
        {
            let mut conns = lock(&shared.conns);
            if conns.0 {
                return;
            }
            conns.1.insert(id, conn.clone());
        }
        let sh = shared.clone();
        tokio::spawn(async move {
            let mut closed = closed;
            tokio::select! {
                _ = serve(&sh, id, &conn, client, peer.port(), to) => {}
                _ = closed.wait_for(|c| *c) => {}
            }
            lock(&sh.conns).1.remove(&id);
        });
    }
}

async fn serve(shared: &Shared, id: u64, conn: &Conn, client: TcpStream, sport: u16, to: usize) {
    let from = identify(shared, sport, shared.ports[to]).await;
    *lock(&shared.stats).accepted.entry((from, to)).or_default() += 1;
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", shared.targets[to])).await else {
        return; // member down: the client sees its connection closed
    };
    // Raft messages are small; Nagle would add its own delays.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let seed = shared.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // Either side closing or failing ends both.
    tokio::select! {
        _ = pipe(shared, conn, (from, Some(to)), cr, uw, Rng::new(seed)) => {}
        _ = pipe(shared, conn, (Some(to), from), ur, cw, Rng::new(!seed)) => {}
    }
}

/// One direction of a connection: reads chunks, judges each by its link at
/// that moment, delivers the others in order once due. A bounded channel
/// keeps a slow receiver's backpressure. Ends when all read is delivered or
/// a write failed.
async fn pipe(
    shared: &Shared,
    conn: &Conn,
    (from, to): (Option<usize>, Option<usize>),
    mut rd: OwnedReadHalf,
    mut wr: OwnedWriteHalf,
    mut rng: Rng,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let n = shared.targets.len();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let k = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => k,
            };
            let (link, ends) = match (from, to) {
                (Some(f), Some(t)) => (lock(&shared.links)[f * n + t], (f, t)),
                _ => (Link::default(), (0, 0)),
            };
            if link.cut {
                conn.lost.store(true, Ordering::Relaxed);
                *lock(&shared.stats).dropped.entry(ends).or_default() += k as u64;
                continue;
            }
            if link.reset_per_mille > 0 && (rng.below(1000) as u32) < link.reset_per_mille {
                lock(&shared.stats).resets += 1;
                conn.close.send_replace(true);
                return;
            }
            let jitter = match link.jitter.as_nanos() as u64 {
                0 => Duration::ZERO,
                j => Duration::from_nanos(rng.next_u64() % j),
            };
            let due = Instant::now() + link.delay + jitter;
            if tx.send((due, buf[..k].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let writer = async move {
        // FIFO: a chunk waits for the ones before it, so order is kept.
        while let Some((due, data)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            *lock(&shared.stats).forwarded.entry((from, to)).or_default() += data.len() as u64;
            if wr.write_all(&data).await.is_err() {
                return;
            }
        }
    };
    tokio::pin!(writer);
    // The reader's end drops its sender: the writer then drains and ends.
    tokio::select! {
        _ = reader => {}
        _ = &mut writer => return,
    }
    writer.await
}

/// Which member opened the connection from 127.0.0.1:`sport` to the
/// listener on `lport`. Retried briefly: the harness may register a pid
/// just after the member's first connection.
async fn identify(shared: &Shared, sport: u16, lport: u16) -> Option<usize> {
    for attempt in 0..20 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pids = lock(&shared.pids).clone();
        if let Some(i) = find_opener(&pids, sport, lport) {
            return Some(i);
        }
    }
    None
}

fn find_opener(pids: &[Option<u32>], sport: u16, lport: u16) -> Option<usize> {
    // The client end: local port `sport`, remote port `lport` (tcp6 for
    // sockets with v4-mapped addresses).
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|table| matching_inodes(&table, sport, lport))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    pids.iter().position(|pid| {
        let Some(dir) = pid.and_then(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok()) else {
            return false;
        };
        dir.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|t| t.to_str().and_then(socket_inode))
                .is_some_and(|i| inodes.contains(&i))
        })
    })
}

/// One row of `/proc/net/tcp{,6}`: (local port, remote port, inode).
/// Columns: sl, local_address, rem_address, st, tx_queue:rx_queue,
/// tr:tm->when, retrnsmt, uid, timeout, inode; addresses are `HEXIP:HEXPORT`.
fn parse_tcp_row(line: &str) -> Option<(u16, u16, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let port = |a: &str| u16::from_str_radix(a.rsplit_once(':')?.1, 16).ok();
    Some((port(f.get(1)?)?, port(f.get(2)?)?, f.get(9)?.parse().ok()?))
}

/// The inodes of the sockets from local port `local` to remote port
/// `remote` (0, a socket without one, as in TIME_WAIT, left out).
fn matching_inodes(table: &str, local: u16, remote: u16) -> Vec<u64> {
    table
        .lines()
        .filter_map(parse_tcp_row)
        .filter(|&(l, r, i)| l == local && r == remote && i != 0)
        .map(|(_, _, i)| i)
        .collect()
}

/// The inode in an fd link `socket:[12345]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::timeout;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D432 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:D433 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 888 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn proc_net_tcp_rows_parse() {
        assert_eq!(parse_tcp_row(TCP.lines().next().unwrap()), None);
        assert_eq!(
            parse_tcp_row(TCP.lines().nth(1).unwrap()),
            Some((8080, 0, 123456))
        );
        assert_eq!(matching_inodes(TCP, 0xD431, 8080), vec![777]);
        assert_eq!(matching_inodes(TCP, 0xD432, 8080), Vec::<u64>::new()); // TIME_WAIT
        assert_eq!(matching_inodes(TCP, 8080, 0xD431), Vec::<u64>::new()); // wrong way round
        assert_eq!(matching_inodes(TCP6, 0xD433, 8080), vec![888]);
        assert_eq!(socket_inode("socket:[777]"), Some(777));
        assert_eq!(socket_inode("pipe:[777]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    /// An echo server (the "member" dialled) that records what it received.
    async fn echo() -> (u16, Arc<Mutex<Vec<u8>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(k @ 1..) = s.read(&mut buf).await {
                        seen.lock().unwrap().extend_from_slice(&buf[..k]);
                        if s.write_all(&buf[..k]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, got)
    }

    /// A proxy for members 0 (this process) and 1 (the echo server).
    async fn setup(register: bool) -> (PeerProxy, Arc<Mutex<Vec<u8>>>) {
        let (port, got) = echo().await;
        let p = PeerProxy::start(&[port, port]).await.unwrap();
        if register {
            p.set_pid(0, Some(std::process::id()));
        }
        (p, got)
    }

    async fn connect(p: &PeerProxy) -> TcpStream {
        TcpStream::connect(("127.0.0.1", p.port(1))).await.unwrap()
    }

    /// What `s` receives within `ms` (empty: nothing; None: closed).
    async fn recv(s: &mut TcpStream, ms: u64) -> Option<Vec<u8>> {
        let mut buf = [0u8; 1024];
        match timeout(Duration::from_millis(ms), s.read(&mut buf)).await {
            Err(_) => Some(Vec::new()),
            Ok(Ok(0) | Err(_)) => None,
            Ok(Ok(k)) => Some(buf[..k].to_vec()),
        }
    }

    fn got(g: &Mutex<Vec<u8>>) -> Vec<u8> {
        g.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn identifies_the_member_and_forwards_both_ways() {
        let (p, target) = setup(true).await;
        let mut c = connect(&p).await;
        c.write_all(b"hello").await.unwrap();
        assert_eq!(recv(&mut c, 2000).await.unwrap(), b"hello");
        assert_eq!(got(&target), b"hello");
        let s = p.stats();
        assert_eq!(s.accepted, BTreeMap::from([((Some(0), 1), 1)]));
        assert_eq!(
            s.forwarded,
            BTreeMap::from([((Some(0), Some(1)), 5), ((Some(1), Some(0)), 5)])
        );
        assert!(s.dropped.is_empty());
    }

    #[tokio::test]
    async fn a_cut_loses_bytes_silently_and_heal_closes_that_connection() {
        let (p, target) = setup(true).await;
        let mut c = connect(&p).await;
        c.write_all(b"a").await.unwrap();
        assert_eq!(recv(&mut c, 2000).await.unwrap(), b"a");
        p.cut_one_way(0, 1);
        c.write_all(b"lost").await.unwrap();
        // Silence, not a reset: the connection stays open.
        assert_eq!(recv(&mut c, 300).await, Some(Vec::new()));
        assert_eq!(got(&target), b"a");
        assert_eq!(p.stats().dropped, BTreeMap::from([((0, 1), 4)]));
        p.heal();
        assert_eq!(recv(&mut c, 2000).await, None, "heal closes it");
        assert_eq!(p.stats().healed, 1);
        let mut c = connect(&p).await;
        c.write_all(b"b").await.unwrap();
        assert_eq!(recv(&mut c, 2000).await.unwrap(), b"b");
        assert_eq!(got(&target), b"ab");
    }

    #[tokio::test]
    async fn a_one_way_cut_back_loses_only_the_reply() {
        let (p, target) = setup(true).await;
        let mut lossy = connect(&p).await;
        let mut quiet = connect(&p).await;
        p.cut_one_way(1, 0);
        lossy.write_all(b"x").await.unwrap();
        assert_eq!(recv(&mut lossy, 300).await, Some(Vec::new()));
        assert_eq!(got(&target), b"x", "the request went through");
        assert_eq!(p.stats().dropped, BTreeMap::from([((1, 0), 1)]));
        p.heal();
        assert_eq!(recv(&mut lossy, 2000).await, None);
        // A connection that lost nothing is kept.
        quiet.write_all(b"y").await.unwrap();
        assert_eq!(recv(&mut quiet, 2000).await.unwrap(), b"y");
        assert_eq!(p.stats().healed, 1);
    }

    #[tokio::test]
    async fn delay_and_jitter_keep_the_order() {
        let (p, _) = setup(true).await;
        let mut c = connect(&p).await;
        c.set_nodelay(true).unwrap();
        p.delay_all(Duration::from_millis(75), Duration::from_millis(30));
        let start = Instant::now();
        for b in b"0123456789" {
            c.write_all(&[*b]).await.unwrap(); // separate chunks, mostly
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut back = Vec::new();
        while back.len() < 10 {
            back.extend(recv(&mut c, 2000).await.unwrap());
        }
        let rtt = start.elapsed();
        assert_eq!(back, b"0123456789");
        assert!(rtt >= Duration::from_millis(150), "round trip {rtt:?}");
        assert!(rtt < Duration::from_millis(1000), "round trip {rtt:?}");
    }

    #[tokio::test]
    async fn a_reset_closes_the_connection() {
        let (p, target) = setup(true).await;
        let mut c = connect(&p).await;
        p.set_link(
            0,
            1,
            Link {
                reset_per_mille: 1000,
                ..Link::default()
            },
        );
        c.write_all(b"z").await.unwrap();
        assert_eq!(recv(&mut c, 2000).await, None);
        assert_eq!(got(&target), b"");
        assert_eq!(p.stats().resets, 1);
    }

    #[tokio::test]
    async fn an_unknown_client_is_forwarded_without_faults() {
        let (p, _) = setup(false).await;
        p.isolate(1);
        let mut c = connect(&p).await;
        c.write_all(b"hi").await.unwrap();
        assert_eq!(recv(&mut c, 2000).await.unwrap(), b"hi");
        let s = p.stats();
        assert_eq!(s.accepted, BTreeMap::from([((None, 1), 1)]));
        assert_eq!(s.forwarded[&(None, Some(1))], 2);
        assert_eq!(s.forwarded[&(Some(1), None)], 2);
    }
}
