//! Waiting for another process to do something: poll a condition, bounded,
//! never a fixed sleep (the machine may be busy with other builds).

use std::time::{Duration, Instant};

/// Poll `cond` every 20 ms until it holds; panic after `timeout` naming
/// `what` and whatever `context` says then (e.g. the agent's log).
pub fn until_or(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `until_or` with nothing more to say on a timeout.
pub fn until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    until_or(what, timeout, cond, String::new);
}

/// Poll `f` every 20 ms until it gives a value; panic after `timeout`
/// naming `what`.
pub fn for_value<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
