//! The tracing layer that writes oxcd's events as zap-shaped lines.

use super::{push_json_str, Level, JSON_MARK};
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Sets the global subscriber: the registry with [`ZapLayer`], filtered
/// at `min` so that disabled events cost a level comparison.
pub(super) fn install(min: Level) {
    let max = match min {
        Level::Debug => tracing::level_filters::LevelFilter::DEBUG,
        Level::Info => tracing::level_filters::LevelFilter::INFO,
        Level::Warn => tracing::level_filters::LevelFilter::WARN,
        Level::Error | Level::Panic | Level::Fatal => tracing::level_filters::LevelFilter::ERROR,
    };
    let subscriber = tracing_subscriber::registry().with(ZapLayer.with_filter(max));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

pub(super) struct ZapLayer;

impl<S: tracing::Subscriber> Layer<S> for ZapLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = Level::of(meta.level());
        if !super::enabled(level) {
            return;
        }
        let mut v = Fields::default();
        event.record(&mut v);
        let logger = (meta.target() == "raft").then_some("raft");
        let caller = caller(meta.file().unwrap_or("?"), meta.line().unwrap_or(0));
        super::write(level, logger, &caller, &v.msg, &v.json);
    }
}

/// zap's short caller: the path below `src/`, and the line
/// (`consensus/ready.rs:181`, as etcd's `etcdserver/server.go:843`).
pub(super) fn caller(file: &str, line: u32) -> String {
    let short = match file.rfind("src/") {
        Some(i) => &file[i + 4..],
        None => file,
    };
    format!("{short}:{line}")
}

#[derive(Default)]
struct Fields {
    msg: String,
    /// `,"key":value` for each field but the message
    json: String,
}

impl Fields {
    fn key(&mut self, f: &Field) {
        self.json.push(',');
        push_json_str(&mut self.json, f.name());
        self.json.push(':');
    }
}

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, value: &str) {
        if f.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.key(f);
            push_json_str(&mut self.json, value);
        }
    }

    fn record_debug(&mut self, f: &Field, value: &dyn std::fmt::Debug) {
        let s = format!("{value:?}");
        if f.name() == "message" {
            self.msg = s;
        } else if let Some(raw) = s.strip_prefix(JSON_MARK) {
            self.key(f);
            self.json.push_str(raw);
        } else {
            self.key(f);
            push_json_str(&mut self.json, &s);
        }
    }

    fn record_i64(&mut self, f: &Field, value: i64) {
        self.key(f);
        let _ = write!(self.json, "{value}");
    }

    fn record_u64(&mut self, f: &Field, value: u64) {
        self.key(f);
        let _ = write!(self.json, "{value}");
    }

    fn record_bool(&mut self, f: &Field, value: bool) {
        self.key(f);
        let _ = write!(self.json, "{value}");
    }

    fn record_f64(&mut self, f: &Field, value: f64) {
        self.key(f);
        if value.is_finite() {
            let _ = write!(self.json, "{value}");
        } else {
            push_json_str(&mut self.json, &value.to_string());
        }
    }

    fn record_error(&mut self, f: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(f);
        push_json_str(&mut self.json, &value.to_string());
    }
}
