//! `--op put` and `--op range`.

use crate::conn::{request, Token};
use crate::opts::Opts;
use crate::stats::{join, Limit, Report};
use oxcd_proto::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use std::time::Instant;
use tonic::transport::Channel;

/// Each client puts `bench/<client>/<i>` as fast as it can, or with
/// `--key-space N` overwrites `bench/<n>`, n counting round the N keys
/// from a different start in each client (etcd's `benchmark put
/// --key-space-size`).
pub async fn put(o: &Opts, chans: &[Channel], token: &Token) -> Result<Report, String> {
    let limit = Limit::new(o);
    let value = vec![b'x'; o.value_size];
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let mut kv = KvClient::new(chans[c % chans.len()].clone());
        let value = value.clone();
        let limit = limit.clone();
        let token = token.clone();
        let space = o.key_space;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while limit.next().is_some() {
                let t = Instant::now();
                let key = if space == 0 {
                    format!("bench/{c}/{i}")
                } else {
                    format!("bench/{}", (c as u64 + i) % space)
                };
                let req = PutRequest {
                    key: key.into_bytes(),
                    value: value.clone(),
                    ..Default::default()
                };
                kv.put(request(req, &token))
                    .await
                    .map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
                i += 1;
            }
            Ok(lat)
        }));
    }
    let lat = join(tasks, "put").await?;
    Ok(Report::from_latencies(lat, start.elapsed().as_secs_f64()))
}

pub const RANGE_KEY: &[u8] = b"bench-range-key";

/// Each client reads the one key `bench-range-key` (put once, before the
/// clock starts), linearizable or serializable, as etcd's `benchmark range`.
pub async fn range(o: &Opts, chans: &[Channel], token: &Token) -> Result<Report, String> {
    let put = PutRequest {
        key: RANGE_KEY.to_vec(),
        value: vec![b'x'; o.value_size],
        ..Default::default()
    };
    KvClient::new(chans[0].clone())
        .put(request(put, token))
        .await
        .map_err(|e| format!("put {}: {e}", String::from_utf8_lossy(RANGE_KEY)))?;
    let limit = Limit::new(o);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let mut kv = KvClient::new(chans[c % chans.len()].clone());
        let limit = limit.clone();
        let token = token.clone();
        let serializable = o.serializable;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while limit.next().is_some() {
                let t = Instant::now();
                let req = RangeRequest {
                    key: RANGE_KEY.to_vec(),
                    serializable,
                    ..Default::default()
                };
                let resp = kv
                    .range(request(req, &token))
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                if resp.kvs.len() != 1 {
                    return Err(format!("{} keys in the answer, not 1", resp.kvs.len()));
                }
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let lat = join(tasks, "range").await?;
    Ok(Report::from_latencies(lat, start.elapsed().as_secs_f64()))
}
