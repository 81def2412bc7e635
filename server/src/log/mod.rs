//! oxcd's logs: one JSON object a line, shaped like etcd's zap logger
//! (`level`, `ts`, `logger`, `caller`, `msg`, then the event's fields), so
//! that log pipelines and scripts written for etcd's logs read oxcd's.
//!
//! oxcd's own events are `tracing` events, written by [`zap::ZapLayer`];
//! raft-rs logs through `slog`, and [`raft::drain`] writes its records
//! through the same sink with `"logger":"raft"`. The line format is our
//! own code rather than tracing-subscriber's JSON formatter because zap's
//! shape (flat fields, lower-case levels, `caller`, millisecond UTC
//! timestamps) is what etcd operators' tooling parses.
//!
//! `--log-outputs` picks the sinks (`default`/`stderr`, `stdout`, file
//! paths); `--enable-log-rotation` rotates a single file output by size
//! as etcd's lumberjack does ([`output`]).

mod output;
mod raft;
mod zap;

pub use output::Rotation;
pub use raft::drain as raft_logger;

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// zap's levels, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Panic,
    Fatal,
}

impl Level {
    /// `--log-level`'s value (etcd accepts zap's names only).
    pub fn parse(s: &str) -> Option<Level> {
        // zap takes a level in lower or upper case, not mixed
        let lower = s.to_ascii_lowercase();
        if s != lower && s != s.to_ascii_uppercase() {
            return None;
        }
        Some(match lower.as_str() {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "panic" | "dpanic" => Level::Panic,
            "fatal" => Level::Fatal,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Panic => "panic",
            Level::Fatal => "fatal",
        }
    }

    fn of(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::TRACE | tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

/// Where and what to log (`--log-level`, `--log-outputs`, rotation).
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: Level,
    /// `default`, `stderr`, `stdout` or file paths
    pub outputs: Vec<String>,
    /// `--enable-log-rotation`: the single file output is rotated
    pub rotation: Option<Rotation>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: Level::Info,
            outputs: vec!["default".into()],
            rotation: None,
        }
    }
}

struct Sink {
    min: Level,
    outputs: Mutex<Vec<output::Output>>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Opens the outputs and routes `tracing` events to them. Only the first
/// call in a process takes effect (a library user may have set up its own
/// subscriber; then oxcd's events go there).
pub fn init(cfg: &LogConfig) -> Result<(), String> {
    let outputs = output::open(&cfg.outputs, cfg.rotation.as_ref())?;
    let _ = SINK.set(Sink {
        min: cfg.level,
        outputs: Mutex::new(outputs),
    });
    zap::install(cfg.level);
    Ok(())
}

/// Whether a line at `level` would be written.
fn enabled(level: Level) -> bool {
    SINK.get().is_some_and(|s| level >= s.min)
}

/// Writes one line: `fields` is the JSON members after `msg` (each
/// starting with a comma), already encoded.
fn write(level: Level, logger: Option<&str>, caller: &str, msg: &str, fields: &str) {
    let Some(sink) = SINK.get() else { return };
    if level < sink.min {
        return;
    }
    let line = format_line(
        level,
        std::time::SystemTime::now(),
        logger,
        caller,
        msg,
        fields,
    );
    let mut outs = sink.outputs.lock().unwrap_or_else(|p| p.into_inner());
    for o in outs.iter_mut() {
        o.write_line(line.as_bytes());
    }
}

/// One zap line, newline included.
fn format_line(
    level: Level,
    ts: std::time::SystemTime,
    logger: Option<&str>,
    caller: &str,
    msg: &str,
    fields: &str,
) -> String {
    let mut line = String::with_capacity(96 + msg.len() + fields.len());
    line.push_str("{\"level\":\"");
    line.push_str(level.name());
    line.push_str("\",\"ts\":\"");
    let _ = write!(line, "{}", humantime::format_rfc3339_millis(ts));
    line.push('"');
    if let Some(l) = logger {
        line.push_str(",\"logger\":");
        push_json_str(&mut line, l);
    }
    line.push_str(",\"caller\":");
    push_json_str(&mut line, caller);
    line.push_str(",\"msg\":");
    push_json_str(&mut line, msg);
    line.push_str(fields);
    line.push_str("}\n");
    line
}

/// Logs a fatal error (the member cannot start or go on), as etcd's
/// `lg.Fatal(msg, zap.Error(err))`; the caller exits afterwards.
#[track_caller]
pub fn fatal(msg: &str, error: &str) {
    let at = std::panic::Location::caller();
    let mut fields = String::from(",\"error\":");
    push_json_str(&mut fields, error);
    write(
        Level::Fatal,
        None,
        &zap::caller(at.file(), at.line()),
        msg,
        &fields,
    );
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's string escaping is JSON's; it cannot fail for a &str
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// A value logged as JSON rather than as a string (lists of URLs, the
/// request of a slow apply): `info!(urls = ?log::Json(&list), …)`.
pub struct Json<T: serde::Serialize>(pub T);

/// Marks a `Json` value's Debug text so that the layer embeds it raw.
const JSON_MARK: char = '\u{1}';

impl<T: serde::Serialize> std::fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_string(&self.0).map_err(|_| std::fmt::Error)?;
        write!(f, "{JSON_MARK}{s}")
    }
}

/// A member or cluster ID as etcd prints it (hex, no padding).
pub struct Id(pub u64);

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

#[cfg(test)]
mod tests;
