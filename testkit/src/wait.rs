//! Waiting with a deadline, and the start retry after a lost port race.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `f` every `every` until it returns `Ok`; after `limit`,
/// `Err("<what>: not within <limit>; last: <error>")`.
pub fn poll<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{what}: not within {limit:?}; last: {e}"))
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// [`poll`] for async checks.
pub async fn poll_async<T, F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{what}: not within {limit:?}; last: {e}"))
            }
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

/// Did a server's log say that another process took its port?
pub fn is_port_race(log: &str) -> bool {
    log.to_lowercase().contains("address already in use")
}

/// How many times a start that lost a port race is tried.
pub const START_ATTEMPTS: usize = 3;

/// A start that failed: why, and the logs of what was started.
pub struct StartFailure {
    pub msg: String,
    pub logs: String,
}

/// The one retry rule for a start that failed at `attempt` (counting from
/// 1): when its logs show a lost port race and attempts remain, prints a
/// notice and returns (the caller starts again on new ports); otherwise
/// panics with the message and logs.
pub fn retry_or_panic(what: &str, attempt: usize, f: StartFailure) {
    if is_port_race(&f.logs) && attempt < START_ATTEMPTS {
        eprintln!("{what} lost a port race, retrying on new ports: {}", f.msg);
        return;
    }
    panic!("{what} did not come up: {}\n{}", f.msg, f.logs);
}

/// Runs `start(attempt)` until it succeeds, under [`retry_or_panic`]'s rule
/// (new ports on each attempt are `start`'s job). Async starts write the
/// same loop: `for attempt in 1.. { match start().await { Ok(v) => return
/// v, Err(f) => retry_or_panic(what, attempt, f) } }`.
pub fn start_retrying<T>(what: &str, mut start: impl FnMut(usize) -> Result<T, StartFailure>) -> T {
    let mut attempt = 1;
    loop {
        match start(attempt) {
            Ok(v) => return v,
            Err(f) => retry_or_panic(what, attempt, f),
        }
        attempt += 1;
    }
}
