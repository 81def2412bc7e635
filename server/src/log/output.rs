//! The log outputs, and size-based rotation of a log file.
//!
//! Rotation follows etcd's (lumberjack's) rules so that logrotate-free
//! deployments and the tools that collect old logs keep working: the file
//! is renamed to `<name>-<UTC time>.<ext>` (`2006-01-02T15-04-05.000`)
//! when a line would take it past `maxsize` MB, then backups beyond
//! `maxbackups` or older than `maxage` days are removed and, with
//! `compress`, the rest gzipped. It is our own code because the crates
//! that rotate by size name backups differently and panic on I/O errors.

use serde::Deserialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// `--log-rotation-config-json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Rotation {
    /// MB before a file is rotated (0: 100, as lumberjack)
    pub maxsize: u64,
    /// days to keep backups (0: no limit)
    pub maxage: u64,
    /// backups to keep (0: no limit)
    pub maxbackups: usize,
    /// name backups in local time (oxcd always uses UTC: it has no
    /// time-zone database; the flag is accepted)
    pub localtime: bool,
    pub compress: bool,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            maxsize: 100,
            maxage: 0,
            maxbackups: 0,
            localtime: false,
            compress: false,
        }
    }
}

impl Rotation {
    /// Parses the flag's JSON (unknown keys ignored, as Go's decoder).
    pub fn parse(json: &str) -> Result<Rotation, String> {
        serde_json::from_str(json)
            .map_err(|e| format!("improperly formatted log rotation config: {e}"))
    }

    fn max_bytes(&self) -> u64 {
        let mb = if self.maxsize == 0 { 100 } else { self.maxsize };
        mb.saturating_mul(1024 * 1024)
    }
}

pub(super) enum Output {
    Stderr,
    Stdout,
    File(File),
    Rotating(Rotating),
}

/// Opens each of `--log-outputs`; a file is created (and its directory)
/// if missing and appended to.
pub(super) fn open(names: &[String], rotation: Option<&Rotation>) -> Result<Vec<Output>, String> {
    let mut out = Vec::new();
    for name in names {
        out.push(match name.as_str() {
            "default" | "stderr" => Output::Stderr,
            "stdout" => Output::Stdout,
            path => {
                let path = PathBuf::from(path);
                match rotation {
                    Some(r) => Output::Rotating(Rotating::open(path, r.clone())?),
                    None => Output::File(append(&path)?),
                }
            }
        });
    }
    Ok(out)
}

fn append(path: &Path) -> Result<File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the log directory {}: {e}", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))
}

impl Output {
    /// Writes a whole line; a failing output loses the line (there is
    /// nowhere to report it).
    pub(super) fn write_line(&mut self, line: &[u8]) {
        let _ = match self {
            Output::Stderr => std::io::stderr().lock().write_all(line),
            Output::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(line).and_then(|_| o.flush())
            }
            Output::File(f) => f.write_all(line),
            Output::Rotating(r) => r.write_line(line),
        };
    }
}

pub(super) struct Rotating {
    path: PathBuf,
    cfg: Rotation,
    file: File,
    size: u64,
}

impl Rotating {
    fn open(path: PathBuf, cfg: Rotation) -> Result<Rotating, String> {
        let file = append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Rotating {
            path,
            cfg,
            file,
            size,
        })
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.cfg.max_bytes() {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let backup = backup_name(&self.path, SystemTime::now());
        std::fs::rename(&self.path, &backup)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.mill();
        Ok(())
    }

    /// Removes the backups beyond the limits and compresses the rest.
    fn mill(&self) {
        let mut backups = self.backups();
        // newest first
        backups.sort_by_key(|b| std::cmp::Reverse(b.1));
        let cutoff = (self.cfg.maxage > 0).then(|| {
            SystemTime::now()
                .checked_sub(Duration::from_secs(self.cfg.maxage * 86_400))
                .unwrap_or(SystemTime::UNIX_EPOCH)
        });
        for (i, (path, modified)) in backups.iter().enumerate() {
            let too_many = self.cfg.maxbackups > 0 && i >= self.cfg.maxbackups;
            let too_old = cutoff.is_some_and(|c| *modified < c);
            if too_many || too_old {
                let _ = std::fs::remove_file(path);
            } else if self.cfg.compress && path.extension().is_none_or(|x| x != "gz") {
                let _ = gzip(path);
            }
        }
    }

    /// This file's backups, with their modification times.
    fn backups(&self) -> Vec<(PathBuf, SystemTime)> {
        let (stem, ext) = stem_ext(&self.path);
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let prefix = format!("{stem}-");
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let rest = name.strip_prefix(&prefix)?;
                let rest = rest.strip_suffix(".gz").unwrap_or(rest);
                rest.strip_suffix(&ext)?;
                let modified = e.metadata().ok()?.modified().ok()?;
                Some((e.path(), modified))
            })
            .collect()
    }
}

/// `etcd.log` → (`etcd`, `.log`).
fn stem_ext(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rfind('.') {
        Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
        _ => (name, String::new()),
    }
}

/// lumberjack's backup name: `<stem>-2006-01-02T15-04-05.000<ext>`.
pub(super) fn backup_name(path: &Path, at: SystemTime) -> PathBuf {
    let (stem, ext) = stem_ext(path);
    let ts = humantime::format_rfc3339_millis(at)
        .to_string()
        .trim_end_matches('Z')
        .replace(':', "-");
    path.with_file_name(format!("{stem}-{ts}{ext}"))
}

fn gzip(path: &Path) -> std::io::Result<()> {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let mut src = File::open(path)?;
    let dst = File::create(&gz_name)?;
    let mut enc = flate2::write::GzEncoder::new(dst, flate2::Compression::default());
    std::io::copy(&mut src, &mut enc)?;
    enc.finish()?.sync_all()?;
    std::fs::remove_file(path)
}
