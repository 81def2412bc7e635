//! `snapshot save <filename>`: streams `Maintenance.Snapshot` of exactly
//! one endpoint into `<filename>.part` (0600), checks etcd's SHA-256
//! trailer while writing, fsyncs, renames onto `<filename>` and fsyncs the
//! directory. Every failure exits 5 (etcdctl's `ExitInterrupted`) and
//! removes the `.part` file; `<filename>` is only ever replaced by a
//! complete, verified snapshot.
//!
//! As in etcdctl, `--command-timeout` bounds the whole download only when
//! it is set explicitly (flag or `ETCDCTL_COMMAND_TIMEOUT`); otherwise an
//! unreachable endpoint is waited for. stderr gets etcdctl's zap info
//! lines, and a progress bar when it is a terminal.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oxcd_proto::etcdserverpb::SnapshotRequest;
use sha2::{Digest, Sha256};

use super::snapshot::path_error;
use super::Ctx;
use crate::client::{Client, DEADLINE};
use crate::error::{status_text, CtlError, Result};
use crate::global::{zap_str, zap_ts, ClientConfig};
use crate::printer::Streams;

const TRAILER: usize = etcd_format::snapshot::TRAILER_LEN;

/// Every error of `snapshot save` exits 5 with its message.
fn interrupted(e: CtlError) -> CtlError {
    match e {
        CtlError::Interrupted(_) => e,
        other => CtlError::Interrupted(other.to_string()),
    }
}

/// One zap production JSON info line, as etcdctl's logger writes it.
fn zap_info(
    w: &mut Streams,
    logger: Option<&str>,
    caller: &str,
    msg: &str,
    fields: &[(&str, &str)],
) {
    let mut line = format!("{{\"level\":\"info\",\"ts\":{}", zap_ts());
    if let Some(l) = logger {
        line.push_str(&format!(",\"logger\":{}", zap_str(l)));
    }
    line.push_str(&format!(
        ",\"caller\":{},\"msg\":{}",
        zap_str(caller),
        zap_str(msg)
    ));
    for (k, v) in fields {
        line.push_str(&format!(",{}:{}", zap_str(k), zap_str(v)));
    }
    line.push_str("}\n");
    w.eprint(&line);
}

/// go-humanize's `Time` of a past instant (`now`, `3 seconds ago`, …).
pub fn humanize_ago(d: Duration) -> String {
    let s = d.as_secs();
    let unit = |n: u64, one: &str, many: &str| match n {
        1 => format!("1 {one} ago"),
        n => format!("{n} {many} ago"),
    };
    match s {
        0 => "now".to_string(),
        1..=59 => unit(s, "second", "seconds"),
        60..=3599 => unit(s / 60, "minute", "minutes"),
        3600..=86_399 => unit(s / 3600, "hour", "hours"),
        _ => unit(s / 86_400, "day", "days"),
    }
}

/// The `.part` file being written. Dropping it without [`PartFile::commit`]
/// removes it, so every error path (and a panic) cleans up.
struct PartFile {
    path: String,
    file: Option<File>,
    size: u64,
    hasher: Sha256,
    /// The last (at most 32) bytes seen, not hashed yet: the trailer
    /// candidate.
    tail: Vec<u8>,
    committed: bool,
}

impl PartFile {
    fn create(target: &str) -> Result<PartFile> {
        let path = format!("{target}.part");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                CtlError::Interrupted(format!(
                    "could not open {path} ({})",
                    path_error("open", &path, &e)
                ))
            })?;
        let part = PartFile {
            path,
            file: Some(file),
            size: 0,
            hasher: Sha256::new(),
            tail: Vec::with_capacity(2 * TRAILER),
            committed: false,
        };
        // A stale `.part` of someone else keeps its mode when truncated.
        let private = std::fs::Permissions::from_mode(0o600);
        if let Some(f) = &part.file {
            f.set_permissions(private)
                .map_err(|e| CtlError::Interrupted(path_error("chmod", &part.path, &e)))?;
        }
        Ok(part)
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let f = self.file.as_mut().expect("open until commit");
        f.write_all(chunk)
            .map_err(|e| CtlError::Interrupted(path_error("write", &self.path, &e)))?;
        self.size += chunk.len() as u64;
        // Hash everything but the last 32 bytes seen so far.
        if chunk.len() >= TRAILER {
            self.hasher.update(&self.tail);
            let (body, last) = chunk.split_at(chunk.len() - TRAILER);
            self.hasher.update(body);
            self.tail.clear();
            self.tail.extend_from_slice(last);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > TRAILER {
                let extra = self.tail.len() - TRAILER;
                self.hasher.update(&self.tail[..extra]);
                self.tail.drain(..extra);
            }
        }
        Ok(())
    }

    /// etcdctl's size rule, then the trailer itself.
    fn verify(&self) -> Result<()> {
        let len = self.size as usize;
        if !etcd_format::snapshot::has_trailer(len) {
            let e = etcd_format::Error::NoChecksum { len };
            return Err(CtlError::Interrupted(e.to_string()));
        }
        let actual = self.hasher.clone().finalize();
        if actual.as_slice() != self.tail.as_slice() {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let e = etcd_format::Error::ChecksumMismatch {
                expected: hex(&self.tail),
                actual: hex(&actual),
            };
            return Err(CtlError::Interrupted(e.to_string()));
        }
        Ok(())
    }

    /// fsync, close, rename onto `target`, fsync the directory.
    fn commit(mut self, target: &str) -> Result<()> {
        let f = self.file.take().expect("open until commit");
        f.sync_all()
            .map_err(|e| CtlError::Interrupted(path_error("sync", &self.path, &e)))?;
        drop(f);
        std::fs::rename(&self.path, target).map_err(|e| {
            CtlError::Interrupted(format!(
                "could not rename {} to {target} (rename {} {target}: {})",
                self.path,
                self.path,
                super::snapshot::errno_text(&e)
            ))
        })?;
        self.committed = true;
        let dir = match Path::new(target).parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Best effort: some file systems cannot fsync a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            self.file.take();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A byte progress bar on stderr, only when stderr is a terminal.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} fetching snapshot: {bytes} ({binary_bytes_per_sec}, {elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Once the first message tells the total size (etcd sends the db size in
/// `remaining_bytes`, then the 32-byte trailer), the bar shows it.
fn set_total(bar: &ProgressBar, total: u64) {
    bar.set_length(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} fetching snapshot [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
}

/// Connects (unless already connected), opens the stream and copies it
/// into `part`.
async fn fetch(
    w: &mut Streams,
    cfg: &ClientConfig,
    early: Option<Client>,
    part: &mut PartFile,
) -> Result<()> {
    let c = match early {
        Some(c) => c,
        None => Client::connect_wait(cfg).await?,
    };
    let mut mc = c.maintenance();
    let mut stream = c
        .call_untimed(mc.snapshot(c.req_untimed(SnapshotRequest {})))
        .await?;
    zap_info(
        w,
        Some("client"),
        "v3/maintenance.go:211",
        "opened snapshot stream; downloading",
        &[],
    );
    zap_info(
        w,
        None,
        "snapshot/v3_snapshot.go:76",
        "fetching snapshot",
        &[("endpoint", &cfg.endpoints[0])],
    );
    let bar = progress_bar();
    let mut first = true;
    let res = loop {
        match stream.message().await {
            Ok(Some(m)) => {
                if let Err(e) = part.write(&m.blob) {
                    break Err(e);
                }
                if let Some(b) = &bar {
                    if first && m.remaining_bytes > 0 {
                        let total = m.blob.len() as u64 + m.remaining_bytes + TRAILER as u64;
                        set_total(b, total);
                    }
                    b.set_position(part.size);
                }
                first = false;
            }
            Ok(None) => break Ok(()),
            Err(s) => break Err(CtlError::Rpc(stream_error(&s))),
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    res?;
    zap_info(
        w,
        Some("client"),
        "v3/maintenance.go:219",
        "completed snapshot read; closing",
        &[],
    );
    Ok(())
}

/// A broken stream's status, with the transport's reason when it has one
/// (a bare `transport error` says little).
fn stream_error(s: &tonic::Status) -> String {
    let mut m = status_text(s);
    let mut src = std::error::Error::source(s);
    while let Some(e) = src {
        let t = e.to_string();
        if !m.contains(&t) {
            m.push_str(&format!(": {t}"));
        }
        src = e.source();
    }
    m
}

pub async fn save(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() != 1 {
        return Err(CtlError::BadArgs(
            "snapshot save expects one argument".into(),
        ));
    }
    let mut cfg = ctx.client_config_only()?;
    if cfg.endpoints.len() > 1 {
        let (ep, why) = super::snapshot_pick::pick(&cfg).await?;
        zap_info(
            &mut ctx.w,
            None,
            "command/snapshot_pick.rs",
            "chose the endpoint to save from",
            &[("endpoint", &ep), ("reason", why)],
        );
        cfg.endpoints = vec![ep];
    }
    // etcdctl: no deadline unless --command-timeout was given (pflag's
    // `Changed`, which ETCDCTL_COMMAND_TIMEOUT also sets).
    let deadline = ctx.flags.changed("command-timeout").then(|| {
        tokio::time::Instant::now() + Duration::from_nanos(cfg.command_timeout.max(0) as u64)
    });
    let target = ctx.args[0].clone();
    let work = async {
        // With --user, etcdctl's client creation authenticates before the
        // file is created.
        let early = match cfg.auth {
            Some(_) => Some(Client::connect(&cfg).await?),
            None => None,
        };
        let mut part = PartFile::create(&target)?;
        zap_info(
            &mut ctx.w,
            None,
            "snapshot/v3_snapshot.go:68",
            "created temporary db file",
            &[("path", &part.path)],
        );
        let started = Instant::now();
        fetch(&mut ctx.w, &cfg, early, &mut part).await?;
        part.verify()?;
        let size = crate::gofmt::humanize_bytes(part.size);
        zap_info(
            &mut ctx.w,
            None,
            "snapshot/v3_snapshot.go:91",
            "fetched snapshot",
            &[
                ("endpoint", &cfg.endpoints[0]),
                ("size", &size),
                ("took", &humanize_ago(started.elapsed())),
            ],
        );
        part.commit(&target)?;
        zap_info(
            &mut ctx.w,
            None,
            "snapshot/v3_snapshot.go:100",
            "saved",
            &[("path", &target)],
        );
        Ok(())
    };
    let bounded = async {
        match deadline {
            Some(d) => tokio::time::timeout_at(d, work)
                .await
                .unwrap_or_else(|_| Err(CtlError::Rpc(DEADLINE.into()))),
            None => work.await,
        }
    };
    let mut sig = super::child::Interrupts::catch();
    let res = tokio::select! {
        biased;
        r = bounded => r,
        _ = sig.recv() => Err(CtlError::Interrupted(
            "interrupted by a signal; snapshot not saved".into(),
        )),
    };
    res.map_err(interrupted)?;
    ctx.w.print(&format!("Snapshot saved at {target}\n"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_go_humanize() {
        assert_eq!(humanize_ago(Duration::from_millis(900)), "now");
        assert_eq!(humanize_ago(Duration::from_secs(1)), "1 second ago");
        assert_eq!(humanize_ago(Duration::from_secs(42)), "42 seconds ago");
        assert_eq!(humanize_ago(Duration::from_secs(150)), "2 minutes ago");
    }

    #[test]
    fn trailer_is_checked_across_chunk_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("s.db");
        let target = target.to_str().expect("utf-8 path");
        let db = vec![7u8; 1024];
        let file = etcd_format::snapshot::append_trailer(db);
        // Odd chunk sizes: the trailer straddles several writes.
        let mut part = PartFile::create(target).expect("create");
        for chunk in file.chunks(13) {
            part.write(chunk).expect("write");
        }
        part.verify().expect("valid trailer");
        // A flipped byte in the body is caught; dropping removes the file.
        let mut bad = file.clone();
        bad[100] ^= 1;
        let mut part = PartFile::create(target).expect("create");
        for chunk in bad.chunks(700) {
            part.write(chunk).expect("write");
        }
        let e = part.verify().expect_err("mismatch");
        assert!(e.to_string().starts_with("sha256 trailer mismatch"), "{e}");
        assert_eq!(e.exit_code(), 5);
        drop(part);
        assert!(!Path::new(&format!("{target}.part")).exists());
        let mut part = PartFile::create(target).expect("create");
        part.write(&file[..1000]).expect("write");
        assert_eq!(
            part.verify().expect_err("short").to_string(),
            "sha256 checksum not found [bytes: 1000]"
        );
    }
}
