//! `--logger`, `--log-level`, `--log-outputs`, `--enable-log-rotation`
//! and `--log-rotation-config-json`, checked with etcd 3.5's rules and
//! messages.

use super::Flags;
use crate::log::{Level, LogConfig, Rotation};

pub(super) fn log_config(f: &Flags) -> Result<LogConfig, String> {
    match f.logger.as_str() {
        "zap" => {}
        "capnslog" => return Err("--logger=capnslog is removed in v3.5".into()),
        other => return Err(format!("unknown logger option {other:?}")),
    }
    let level = Level::parse(&f.log_level)
        .ok_or_else(|| format!("unrecognized level: {:?}", f.log_level))?;
    let mut outputs: Vec<String> = f
        .log_outputs
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if outputs.is_empty() {
        outputs.push("default".into());
    }
    if outputs.len() > 1 && outputs.iter().any(|o| o == "default") {
        return Err("multi logoutput for \"default\" is not supported yet".into());
    }
    if outputs.iter().any(|o| o == "systemd/journal") {
        return Err(
            "--log-outputs=systemd/journal is not supported by oxcd; use stderr (journald collects it under systemd)"
                .into(),
        );
    }
    let rotation = if f.enable_log_rotation == Some(true) {
        let files = outputs
            .iter()
            .filter(|o| !matches!(o.as_str(), "default" | "stderr" | "stdout"))
            .count();
        if files != 1 {
            return Err(
                "--log-outputs requires a single file path when --log-rotate-config-json is defined"
                    .into(),
            );
        }
        Some(Rotation::parse(&f.log_rotation_config_json)?)
    } else {
        None
    };
    Ok(LogConfig {
        level,
        outputs,
        rotation,
    })
}
