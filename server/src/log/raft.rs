//! raft-rs logs through `slog`: its records go to the same outputs as
//! oxcd's own events, as `"logger":"raft"` lines with raft-rs's key-value
//! pairs as fields (etcd logs its raft library the same way).

use super::{push_json_str, Level};
use std::fmt::Write as _;

/// The slog logger handed to raft-rs.
pub fn drain() -> slog::Logger {
    slog::Logger::root(slog::Fuse(RaftDrain), slog::o!())
}

struct RaftDrain;

impl slog::Drain for RaftDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, r: &slog::Record<'_>, kv: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let level = match r.level() {
            slog::Level::Critical | slog::Level::Error => Level::Error,
            slog::Level::Warning => Level::Warn,
            slog::Level::Info => Level::Info,
            slog::Level::Debug | slog::Level::Trace => Level::Debug,
        };
        if !super::enabled(level) {
            return Ok(());
        }
        let mut fields = Fields(String::new(), None);
        use slog::KV;
        // the record's own pairs, then the logger's (raft_id)
        let _ = r.kv().serialize(r, &mut fields);
        let _ = kv.serialize(r, &mut fields);
        let caller = super::zap::caller(r.file(), r.line());
        // etcd's raft names the member first: "8e9e05c52164694d became
        // leader at term 2"
        let msg = match fields.1 {
            Some(id) => format!("{id:x} {}", r.msg()),
            None => r.msg().to_string(),
        };
        super::write(level, Some("raft"), &caller, &msg, &fields.0);
        Ok(())
    }
}

/// The encoded fields, and raft-rs's `raft_id` when it has one.
struct Fields(String, Option<u64>);

impl Fields {
    fn key(&mut self, key: slog::Key) {
        self.0.push(',');
        push_json_str(&mut self.0, key);
        self.0.push(':');
    }
}

impl slog::Serializer for Fields {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        self.key(key);
        push_json_str(&mut self.0, &val.to_string());
        Ok(())
    }

    fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
        if key == "raft_id" {
            self.1 = Some(val);
        }
        self.key(key);
        let _ = write!(self.0, "{val}");
        Ok(())
    }

    fn emit_i64(&mut self, key: slog::Key, val: i64) -> slog::Result {
        self.key(key);
        let _ = write!(self.0, "{val}");
        Ok(())
    }

    fn emit_bool(&mut self, key: slog::Key, val: bool) -> slog::Result {
        self.key(key);
        let _ = write!(self.0, "{val}");
        Ok(())
    }

    fn emit_str(&mut self, key: slog::Key, val: &str) -> slog::Result {
        self.key(key);
        push_json_str(&mut self.0, val);
        Ok(())
    }
}
