//! `/health` of a member that lost its quorum: 503 with etcd's reason,
//! and healthy again once the quorum is back.

use crate::harness::*;
use std::time::Duration;

/// `GET /health` over HTTP/1.0: the status and the body.
async fn health(port: u16) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut raw))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no body")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    Ok((code, body.to_string()))
}

pub async fn health_without_quorum(kind: Kind) {
    let mut c = Cluster::start(kind, 3, &[]).await;
    let port = c.members[0].client_port;
    assert_eq!(
        health(port).await,
        Ok((200, r#"{"health":"true","reason":""}"#.to_string())),
        "{kind:?}"
    );
    c.kill(1);
    c.kill(2);
    eventually(
        "503 without a leader",
        Duration::from_secs(30),
        || async move {
            match health(port).await? {
                (503, b) if b == "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}\n" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    c.restart(1);
    eventually("healthy again", Duration::from_secs(30), || async move {
        match health(port).await? {
            (200, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
