//! How many file descriptors a config can need, compared at start with
//! `RLIMIT_NOFILE`: the soft limit is raised toward the hard one, or the
//! agent refuses with the numbers, instead of failing later with EMFILE in
//! an accept loop, a rotation or the process scan.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::config::{Config, Format};

/// Runtime, signals, logs, config reads, sources of every tier.
const BASE: u64 = 64;
/// The process scan holds the proc root and a few per-process directories.
const PROCESS_SCAN: u64 = 8;

/// What a config needs, part by part, for the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdBudget {
    pub outputs: u64,
    pub unix_clients: u64,
    pub http_connections: u64,
    pub process_scan: u64,
    pub margin: u64,
}

impl FdBudget {
    pub fn of(cfg: &Config) -> FdBudget {
        // Each stream's active file, one more while it rotates, and the
        // output's directory lock; doubled because a reload opens the new
        // outputs before the old ones close.
        let outputs = cfg
            .outputs
            .iter()
            .filter(|o| !o.is_stdout())
            .map(|o| {
                let streams = match o.format {
                    Format::Csv => 2,
                    Format::Json | Format::Proto => 1,
                };
                2 * (2 * streams + 1)
            })
            .sum();
        let ep = &cfg.endpoint;
        let unix_clients = if ep.unix_socket.trim().is_empty() {
            0
        } else {
            // Clients, the listener, its lock file, the private directory.
            ep.unix_max_clients as u64 + 3
        };
        let http_connections = if ep.http_listen.trim().is_empty() {
            0
        } else {
            // One over the cap is accepted to be answered 503, plus the listener.
            ep.http_max_connections as u64 + 2
        };
        FdBudget {
            outputs,
            unix_clients,
            http_connections,
            process_scan: PROCESS_SCAN,
            margin: BASE,
        }
    }

    pub fn total(&self) -> u64 {
        self.outputs + self.unix_clients + self.http_connections + self.process_scan + self.margin
    }
}

/// The limit could not be made large enough.
#[derive(Debug, thiserror::Error)]
#[error(
    "this config can need {needed} file descriptors (outputs {}, unix_max_clients {}, http_max_connections {}, process scan {}, margin {}) but RLIMIT_NOFILE allows {hard} (hard limit); raise it (`ulimit -n`, login class or service manager) or lower unix_max_clients/http_max_connections",
    budget.outputs, budget.unix_clients, budget.http_connections, budget.process_scan, budget.margin
)]
pub struct FdLimitError {
    pub needed: u64,
    pub hard: u64,
    pub budget: FdBudget,
}

/// What `ensure` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdLimit {
    /// The soft limit already sufficed.
    Enough { soft: u64 },
    /// The soft limit was raised from `from` to `to`.
    Raised { from: u64, to: u64 },
}

/// The soft and hard `RLIMIT_NOFILE`, unlimited when unknown. `rlim_t` is
/// unsigned on Linux and signed on FreeBSD (where infinity is its maximum).
fn nofile_limits() -> (u64, u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((RLIM_MAX, RLIM_MAX));
    (from_rlim(soft), from_rlim(hard))
}

const RLIM_MAX: libc::rlim_t = libc::rlim_t::MAX;

#[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)] // rlim_t is u64 on Linux
fn from_rlim(v: libc::rlim_t) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)] // rlim_t is u64 on Linux
fn to_rlim(v: u64) -> libc::rlim_t {
    libc::rlim_t::try_from(v).unwrap_or(RLIM_MAX)
}

/// Make the soft `RLIMIT_NOFILE` at least what `cfg` can need, up to the
/// hard limit; refuse when even the hard limit is lower.
pub fn ensure(cfg: &Config) -> Result<FdLimit, FdLimitError> {
    let budget = FdBudget::of(cfg);
    let needed = budget.total();
    let (soft, hard) = nofile_limits();
    if soft >= needed {
        return Ok(FdLimit::Enough { soft });
    }
    if hard < needed {
        return Err(FdLimitError {
            needed,
            hard,
            budget,
        });
    }
    match setrlimit(Resource::RLIMIT_NOFILE, to_rlim(needed), to_rlim(hard)) {
        Ok(()) => Ok(FdLimit::Raised {
            from: soft,
            to: needed,
        }),
        Err(_) => Err(FdLimitError {
            needed,
            hard: soft,
            budget,
        }),
    }
}

/// What `ensure` would say, without changing anything (check-config).
pub fn check(cfg: &Config) -> Result<(), FdLimitError> {
    let budget = FdBudget::of(cfg);
    let needed = budget.total();
    let (_, hard) = nofile_limits();
    if hard < needed {
        return Err(FdLimitError {
            needed,
            hard,
            budget,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_grows_with_outputs_and_client_caps() {
        let mut cfg = Config::builtin();
        let base = FdBudget::of(&cfg).total();
        cfg.endpoint.http_listen = "127.0.0.1:0".into();
        cfg.endpoint.http_max_connections = 1000;
        cfg.endpoint.unix_socket = "/run/netpulse/netpulse.sock".into();
        cfg.endpoint.unix_max_clients = 100;
        let b = FdBudget::of(&cfg);
        assert_eq!(b.total(), base + 1002 + 103);
        let mut csv = cfg.outputs[0].clone();
        csv.format = Format::Csv;
        cfg.outputs.push(csv);
        assert_eq!(FdBudget::of(&cfg).outputs, b.outputs + 10);
    }
}
