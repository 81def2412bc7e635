//! Listening sockets, shared by the client and peer servers.

/// Binds a listener for `u` (a `--listen-*-urls` entry).
pub async fn bind(u: &url::Url) -> std::io::Result<tokio::net::TcpListener> {
    let host = u
        .host_str()
        .unwrap_or("localhost")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = u.port().unwrap_or(0);
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("listen tcp {host}:{port}: {e}")))
}

/// The listener's connections, with Nagle's algorithm off: small gRPC
/// frames must not wait for it.
pub fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            if let Ok(c) = &conn {
                let _ = c.set_nodelay(true);
            }
            conn
        },
    )
}
