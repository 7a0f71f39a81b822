//! `netpulse check-config`. PLACEHOLDER: not built yet.

use std::process::ExitCode;

pub fn main(_args: crate::CheckConfigArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`netpulse check-config` is not available in this build yet")
}
