//! `check datascale`'s memory reading: `GET <endpoint>/metrics` (HTTP/1.1,
//! TLS with the client's settings for `https://`, or for an endpoint
//! without a scheme when TLS flags are given, where etcdctl would try
//! plain HTTP and fail) and its `process_resident_memory_bytes`. Failures
//! print etcdctl's lines and give `None`.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::global::ClientConfig;
use crate::printer::Streams;

const KEY: &str = "process_resident_memory_bytes";

pub async fn resident_bytes(w: &mut Streams, cfg: &ClientConfig, ep: &str) -> Option<f64> {
    let url = if ep.starts_with("http://") || ep.starts_with("https://") {
        ep.to_string()
    } else if cfg.tls.is_some() {
        format!("https://{ep}")
    } else {
        format!("http://{ep}")
    };
    let url = format!("{}/metrics", url.trim_end_matches('/'));
    let body = match fetch(cfg, &url).await {
        Ok(b) => b,
        Err(e) => {
            w.print(&format!("fetch error: Get \"{url}\": {e}\n"));
            return None;
        }
    };
    let Some(line) = body.lines().find(|l| l.starts_with(KEY)) else {
        w.print(&format!("could not find: {KEY}\n"));
        return None;
    };
    let value = line[KEY.len()..].trim();
    match value.parse::<f64>() {
        Ok(v) => Some(v),
        Err(_) => {
            w.print(&format!(
                "parse error: strconv.ParseFloat: parsing {}: invalid syntax\n",
                crate::gofmt::quote(value.as_bytes())
            ));
            None
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn fetch(cfg: &ClientConfig, url: &str) -> Result<String, BoxError> {
    let uri: hyper::Uri = url.parse()?;
    let host = uri.host().unwrap_or_default().to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tcp = TcpStream::connect((bare.as_str(), port)).await?;
    let req = hyper::Request::get(uri.path())
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())?;
    let resp = if https {
        let files = cfg.tls.as_ref();
        let mut tls = match files {
            Some(f) => (*f.config).clone(),
            None => (*crate::tls::default_config()?).clone(),
        };
        tls.alpn_protocols.clear();
        let name = files
            .map(|f| f.server_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or(bare);
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(name)?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
            .connect(name, tcp)
            .await?;
        send(TokioIo::new(stream), req).await?
    } else {
        send(TokioIo::new(tcp), req).await?
    };
    Ok(String::from_utf8_lossy(&resp).into_owned())
}

async fn send<I>(io: I, req: hyper::Request<Empty<Bytes>>) -> Result<Bytes, BoxError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    Ok(resp.into_body().collect().await?.to_bytes())
}
