//! Listening sockets, shared by the client and peer servers: binding, and
//! the accepted connections, plain or TLS ([`incoming`]).

use crate::tls::ServerTls;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::server::TlsStream;

/// Binds a listener for `u` (a `--listen-*-urls` entry), with
/// SO_REUSEADDR / SO_REUSEPORT when `--socket-reuse-address` /
/// `--socket-reuse-port` ask for them.
pub async fn bind(
    u: &url::Url,
    (reuse_address, reuse_port): (bool, bool),
) -> std::io::Result<tokio::net::TcpListener> {
    let host = u
        .host_str()
        .unwrap_or("localhost")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = u.port().unwrap_or(0);
    let fail =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("listen tcp {host}:{port}: {e}"));
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await.map_err(fail)? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(fail)?;
        // as Go's listeners (and std's): SO_REUSEADDR on unix unless told
        socket.set_reuseaddr(true).map_err(fail)?;
        if reuse_port {
            socket.set_reuseport(true).map_err(fail)?;
        }
        let _ = reuse_address;
        match socket.bind(addr).and_then(|_| socket.listen(1024)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(fail(e)),
        }
    }
    Err(last.unwrap_or_else(|| fail(std::io::Error::other("no address"))))
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// What a request learns of its connection (in its extensions).
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    /// the verified client certificate chain, leaf first (TLS with client
    /// certificate auth only)
    pub certs: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// a TLS connection (etcd's Host check applies to plain ones only)
    pub tls: bool,
}

/// An accepted connection.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        match self {
            Conn::Plain(s) => ConnInfo {
                remote: s.peer_addr().ok(),
                certs: None,
                tls: false,
            },
            Conn::Tls(s) => {
                let (tcp, session) = s.get_ref();
                ConnInfo {
                    remote: tcp.peer_addr().ok(),
                    certs: session
                        .peer_certificates()
                        .map(|c| Arc::new(c.iter().map(|c| c.clone().into_owned()).collect())),
                    tls: true,
                }
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    /// Reported as not vectored, on purpose: h2 then copies DATA payloads
    /// under 1 KiB into its write buffer (rather than chaining any of 256 B
    /// or more, which forces a flush before the next frame). A unary
    /// response (HEADERS, DATA, trailers) and the responses ready together
    /// on a connection go out in one write instead of two per response:
    /// serializable ranges of 256-byte values, 16 clients, 1.5x as many per
    /// second on 2 cores (one syscall and one loopback segment fewer each).
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How a listener's connections are secured.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// TLS; `peer_san`: check a client certificate's SAN against the
    /// remote address (the peer port, unless etcd's skip flag is set)
    Tls {
        tls: Arc<ServerTls>,
        peer_san: bool,
    },
}

/// The listener's connections, with Nagle's algorithm off (small gRPC
/// frames must not wait for it) and, for TLS, handshaken: each handshake
/// runs in a task of its own, so a slow or silent client holds up no
/// other. A refused handshake is logged, as etcd does. The listener is
/// closed once the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    security: Security,
) -> impl tokio_stream::Stream<Item = io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Conn>>(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(x) => x,
                // out of descriptors and the like: not fatal for the server
                Err(e) => {
                    tracing::warn!(error = %e, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            match &security {
                Security::Plain => {
                    if tx.send(Ok(Conn::Plain(tcp))).await.is_err() {
                        return;
                    }
                }
                Security::Tls { tls, peer_san } => {
                    let (tls, peer_san, tx) = (tls.clone(), *peer_san, tx.clone());
                    tokio::spawn(async move {
                        match handshake(tcp, remote, &tls, peer_san).await {
                            Ok(c) => {
                                let _ = tx.send(Ok(c)).await;
                            }
                            Err(e) => {
                                tracing::warn!("remote-addr" = %remote, error = %e, "rejected connection")
                            }
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

async fn handshake(
    tcp: TcpStream,
    remote: SocketAddr,
    tls: &ServerTls,
    peer_san: bool,
) -> Result<Conn, String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    let s = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("TLS handshake timed out".into()),
    };
    if peer_san {
        if let Some(leaf) = s.get_ref().1.peer_certificates().and_then(|c| c.first()) {
            crate::tls::check_peer_san(leaf.as_ref(), remote.ip()).await?;
        }
    }
    Ok(Conn::Tls(Box::new(s)))
}
