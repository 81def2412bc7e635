//! What the member commands share: the hex member ID argument and the
//! client-side peer URL check.

use crate::client::Client;
use crate::error::{CtlError, Result};
use crate::global::ClientConfig;
use crate::{gofmt, gourl};

/// The one `<memberID>` argument, in hex (`member remove|update|promote`).
pub(crate) fn id_arg(args: &[String]) -> Result<u64> {
    if args.len() != 1 {
        return Err(CtlError::BadArgs("member ID is not provided".into()));
    }
    gofmt::parse_uint(&args[0], 16)
        .map_err(|e| CtlError::BadArgs(format!("bad member ID arg ({e}), expecting ID in Hex")))
}

/// `--peer-urls` split at commas; the items are sent as given.
pub(crate) fn peer_urls(flag: &str) -> Vec<String> {
    flag.split(',').map(str::to_string).collect()
}

/// The client for `member add|update`. etcdctl creates its client first
/// (with `--user`, that authenticates); clientv3 then checks the peer URLs
/// before sending the request (a bad one fails with exit 1).
pub(crate) async fn connect_checked(cfg: &ClientConfig, urls: &[String]) -> Result<Client> {
    let client = match cfg.auth {
        Some(_) => Some(Client::connect(cfg).await?),
        None => None,
    };
    let items: Vec<&str> = urls.iter().map(String::as_str).collect();
    gourl::new_urls(&items).map_err(CtlError::General)?;
    match client {
        Some(c) => Ok(c),
        None => Client::connect(cfg).await,
    }
}
