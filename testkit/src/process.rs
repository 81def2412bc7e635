//! Processes: a long-running server ([`Proc`]), a client run to completion
//! with a timeout ([`run`]), and a server expected to exit by itself
//! ([`run_to_exit`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process that should exit on its own (or after SIGTERM) may take.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a client invocation may run before it is killed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of a log a failing test prints.
pub const LOG_TAIL: usize = 4000;

/// The last `n` bytes of `s` (on a char boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Removes every variable of the parent starting with `prefix` from `cmd`.
fn env_clear_prefix(cmd: &mut Command, prefix: &str) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with(prefix) {
            cmd.env_remove(&key);
        }
    }
}

/// A server process, started (and restarted) with the same command line.
/// Its stderr and stdout go to a new pair of files per run. The parent's
/// `ETCD*` variables never reach it (etcd reads each as a flag); only those
/// given with [`Proc::env`] do. Dropping it SIGKILLs and reaps the process;
/// if the test is failing the tail of its log is printed first.
pub struct Proc {
    pub label: String,
    pub bin: PathBuf,
    pub args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    log_dir: PathBuf,
    _own_log_dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    runs: usize,
    quiet: bool,
}

impl Proc {
    /// A process not started yet. Its logs go to `log_dir`, or to a
    /// temporary directory of its own.
    pub fn new(label: &str, bin: &Path, args: Vec<String>, log_dir: Option<&Path>) -> Proc {
        let own = match log_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("create a log dir")),
        };
        let log_dir = log_dir.map_or_else(
            || own.as_ref().unwrap().path().to_path_buf(),
            Path::to_path_buf,
        );
        Proc {
            label: label.to_string(),
            bin: bin.to_path_buf(),
            args,
            env: Vec::new(),
            cwd: None,
            log_dir,
            _own_log_dir: own,
            child: None,
            runs: 0,
            quiet: false,
        }
    }

    /// Sets a variable for every later run.
    pub fn env(mut self, key: &str, value: &str) -> Proc {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs the process in `dir`.
    pub fn current_dir(mut self, dir: &Path) -> Proc {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Does not print the log on a failing test (its owner prints it).
    pub fn quiet(mut self) -> Proc {
        self.quiet = true;
        self
    }

    /// Replaces the value of `flag` in the command line.
    pub fn set_flag(&mut self, flag: &str, value: &str) {
        let i = self
            .args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} is not among {:?}", self.args));
        self.args[i + 1] = value.to_string();
    }

    fn log_path(&self, run: usize, stream: &str) -> PathBuf {
        self.log_dir.join(format!("{}-{run}.{stream}", self.label))
    }

    /// Starts the process (new log files).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.label);
        self.runs += 1;
        let err = File::create(self.log_path(self.runs, "stderr")).expect("create a stderr log");
        let out = File::create(self.log_path(self.runs, "stdout")).expect("create a stdout log");
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        env_clear_prefix(&mut cmd, "ETCD");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} ({}): {e}", self.label, self.bin.display()));
        self.child = Some(child);
    }

    /// Started and not seen to exit.
    pub fn is_started(&self) -> bool {
        self.child.is_some()
    }

    /// The exit status if the process has exited (it is then reaped).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let st = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait on a child"));
        if st.is_some() {
            self.child = None;
        }
        st
    }

    /// Is the process running?
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_exit().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("process is running").id()
    }

    /// SIGKILL and reap. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `sig` (SIGSTOP, SIGCONT, ...) to the running process.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = self.pid();
        // SAFETY: kill(2) on our own, not yet reaped child.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill -{sig} {pid}");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.pid();
        // SAFETY: kill(2) on our own, not yet reaped child.
        let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_exit() {
                return Some(st);
            }
            if self.child.is_none() || Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`Proc::wait_exit`] without blocking the async runtime.
    pub async fn wait_exit_async(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_exit() {
                return Some(st);
            }
            if self.child.is_none() || Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop_failed(&mut self) -> ! {
        self.kill();
        panic!(
            "{} did not exit within {EXIT_TIMEOUT:?} of SIGTERM; stderr:\n{}",
            self.label,
            tail(&self.log(), LOG_TAIL)
        );
    }

    /// SIGTERM, then wait up to [`EXIT_TIMEOUT`] (SIGKILL and panic after).
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate();
        match self.wait_exit(EXIT_TIMEOUT) {
            Some(st) => st,
            None => self.stop_failed(),
        }
    }

    /// [`Proc::stop`] without blocking the async runtime (clients on it see
    /// the connection close).
    pub async fn stop_async(&mut self) -> ExitStatus {
        self.terminate();
        match self.wait_exit_async(EXIT_TIMEOUT).await {
            Some(st) => st,
            None => self.stop_failed(),
        }
    }

    /// How many times the process was started.
    pub fn runs(&self) -> usize {
        self.runs
    }

    fn read(&self, run: usize, stream: &str) -> String {
        std::fs::read(self.log_path(run, stream))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// stderr of the current (or last) run.
    pub fn log(&self) -> String {
        self.read(self.runs, "stderr")
    }

    /// stdout of the current (or last) run.
    pub fn stdout(&self) -> String {
        self.read(self.runs, "stdout")
    }

    /// stdout of the current (or last) run, as bytes.
    pub fn stdout_bytes(&self) -> Vec<u8> {
        std::fs::read(self.log_path(self.runs, "stdout")).unwrap_or_default()
    }

    /// stderr of every run so far, concatenated.
    pub fn all_logs(&self) -> String {
        (1..=self.runs)
            .map(|r| self.read(r, "stderr"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The current run's stdout and stderr, labelled.
    pub fn logs(&self) -> String {
        format!(
            "---- {} stdout ----\n{}\n---- {} stderr ----\n{}",
            self.label,
            self.stdout(),
            self.label,
            self.log()
        )
    }

    /// Did this run's log report a port taken by someone else?
    pub fn lost_port_race(&self) -> bool {
        crate::wait::is_port_race(&self.log()) || crate::wait::is_port_race(&self.stdout())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && !self.quiet && self.runs > 0 {
            eprintln!(
                "----- {} ({}), last of {} run(s):\n{}",
                self.label,
                self.bin.display(),
                self.runs,
                tail(&self.log(), LOG_TAIL)
            );
        }
    }
}

/// Runs a server expected to exit by itself (bad flags, damaged data dir):
/// its status and stderr. Fails if it still runs after [`EXIT_TIMEOUT`].
pub fn run_to_exit(bin: &Path, args: &[String]) -> (ExitStatus, String) {
    match try_run_to_exit(bin, args) {
        (Some(st), text) => (st, text),
        (None, text) => panic!(
            "{} {args:?} was still running after {EXIT_TIMEOUT:?}; stderr:\n{}",
            bin.display(),
            tail(&text, LOG_TAIL)
        ),
    }
}

/// The same, but `None` (after killing it) if it still ran after
/// [`EXIT_TIMEOUT`].
pub fn try_run_to_exit(bin: &Path, args: &[String]) -> (Option<ExitStatus>, String) {
    let mut p = Proc::new("probe", bin, args.to_vec(), None).quiet();
    p.spawn();
    let st = p.wait_exit(EXIT_TIMEOUT);
    p.kill();
    (st, p.log())
}

/// [`run_to_exit`] without blocking the async runtime.
pub async fn run_to_exit_async(bin: &Path, args: &[String]) -> (ExitStatus, String) {
    let mut p = Proc::new("probe", bin, args.to_vec(), None).quiet();
    p.spawn();
    match p.wait_exit_async(EXIT_TIMEOUT).await {
        Some(st) => (st, p.log()),
        None => {
            p.kill();
            panic!(
                "{} {args:?} still ran after {EXIT_TIMEOUT:?}; stderr:\n{}",
                bin.display(),
                tail(&p.log(), LOG_TAIL)
            );
        }
    }
}

/// The result of one client invocation.
#[derive(Clone, Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code; `-1` when killed by the timeout, `128 + signal` when
    /// killed by another signal.
    pub code: i32,
    pub timed_out: bool,
}

fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    use std::os::unix::process::ExitStatusExt;
    status.signal().map_or(-1, |sig| 128 + sig)
}

/// Runs a client `bin args…` with optional stdin bytes and extra
/// environment. The parent's `ETCDCTL*` variables are removed first, so only
/// `env` reaches the child. The child is killed after [`CLIENT_TIMEOUT`].
pub fn run<S: AsRef<OsStr>>(
    bin: &Path,
    args: &[S],
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    env_clear_prefix(&mut cmd, "ETCDCTL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {}: {e}", bin.display()));

    let stdin_thread = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("child stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // The child may exit without reading everything: ignore EPIPE.
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().expect("child stdout is piped");
    let mut err_pipe = child.stderr.take().expect("child stderr is piped");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });

    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait on the client") {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait on the killed client");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(t) = stdin_thread {
        let _ = t.join();
    }
    let stdout = out_thread.join().expect("stdout reader thread");
    let stderr = err_thread.join().expect("stderr reader thread");
    Output {
        stdout,
        stderr,
        code: if timed_out { -1 } else { exit_code(status) },
        timed_out,
    }
}

/// The `error` of the last zap line (etcd's, oxcd's) that has one,
/// unescaped: what a server that refused to start said last.
pub fn logged_error(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .rev()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["error"].as_str().map(str::to_string))
}
