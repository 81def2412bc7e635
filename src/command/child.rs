//! What the commands that run a program or wait for Ctrl-C share (`lock`,
//! `elect`, `watch -- cmd`, `snapshot save`): SIGINT/SIGTERM caught,
//! and a finished child described as Go's `exec` package describes it.

use crate::gofmt::quote;

/// SIGINT and SIGTERM caught from now on (so that one arriving between
/// two waits is not lost).
pub struct Interrupts(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Interrupts {
    pub fn catch() -> Interrupts {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => Interrupts(Some((i, t))),
            _ => Interrupts(None),
        }
    }

    /// Resolves when one has arrived; never if none can be caught.
    pub async fn recv(&mut self) {
        let Some((int, term)) = &mut self.0 else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

/// How a child run by `prog` failed, in Go's words, with the exit code
/// etcdctl passes on (the child's own, 255 for a signal as Go's -1, else
/// 1); `None` when it succeeded.
pub fn failure(
    prog: &str,
    status: std::io::Result<std::process::ExitStatus>,
) -> Option<(String, i32)> {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) if s.success() => None,
        Ok(s) => Some(match (s.code(), s.signal()) {
            (Some(c), _) => (format!("exit status {c}"), c),
            (None, Some(sig)) => (format!("signal: {}", signal_name(sig)), 255),
            _ => ("unknown exit".to_string(), 1),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !prog.contains('/') => Some((
            format!(
                "exec: {}: executable file not found in $PATH",
                quote(prog.as_bytes())
            ),
            1,
        )),
        Err(e) => Some((format!("fork/exec {prog}: {}", io_text(&e)), 1)),
    }
}

/// Go's errno text (Rust adds " (os error N)").
fn io_text(e: &std::io::Error) -> String {
    let t = e.to_string();
    match t.find(" (os error") {
        Some(i) => t[..i].to_lowercase(),
        None => t,
    }
}

/// Go's `syscall.Signal.String()` for the usual signals.
fn signal_name(sig: i32) -> String {
    match sig {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        3 => "quit".into(),
        6 => "aborted".into(),
        9 => "killed".into(),
        13 => "broken pipe".into(),
        14 => "alarm clock".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_go_words() {
        let st = |c: &str| std::process::Command::new("sh").args(["-c", c]).status();
        assert_eq!(failure("sh", st("exit 0")), None);
        assert_eq!(
            failure("sh", st("exit 3")),
            Some(("exit status 3".into(), 3))
        );
        assert_eq!(
            failure("sh", st("kill -TERM $$")),
            Some(("signal: terminated".into(), 255))
        );
        let missing = std::process::Command::new("/nonexistent/cmd").status();
        assert_eq!(
            failure("/nonexistent/cmd", missing),
            Some((
                "fork/exec /nonexistent/cmd: no such file or directory".into(),
                1
            ))
        );
        let unknown = std::process::Command::new("no-such-program-here").status();
        assert_eq!(
            failure("no-such-program-here", unknown).map(|f| f.0),
            Some("exec: \"no-such-program-here\": executable file not found in $PATH".into())
        );
    }
}
