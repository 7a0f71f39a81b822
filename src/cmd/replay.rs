//! `netpulse replay`. PLACEHOLDER: not built yet.

use std::process::ExitCode;

pub fn main(_args: crate::ReplayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`netpulse replay` is not available in this build yet")
}
