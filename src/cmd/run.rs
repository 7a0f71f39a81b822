//! `netpulse run`. PLACEHOLDER: not built yet.

use std::process::ExitCode;

pub fn main(_args: crate::RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`netpulse run` is not available in this build yet")
}
