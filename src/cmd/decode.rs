//! `netpulse decode`. PLACEHOLDER: not built yet.

use std::process::ExitCode;

pub fn main(_args: crate::DecodeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`netpulse decode` is not available in this build yet")
}
