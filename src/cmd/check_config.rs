//! `netpulse check-config FILE`: exit 0, or 1 naming every problem.

use std::process::ExitCode;

use netpulse::config::{Config, ConfigError};

pub fn main(args: crate::CheckConfigArgs) -> anyhow::Result<ExitCode> {
    match Config::load(&args.file) {
        Ok(cfg) => {
            if let Err(e) = netpulse::fd_budget::check(&cfg) {
                eprintln!(
                    "{}: 1 problem(s); fix them and run check-config again:\n  {e}",
                    args.file.display()
                );
                return Ok(ExitCode::from(1));
            }
            println!(
                "{}: OK ({} output(s))",
                args.file.display(),
                cfg.outputs.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ConfigError::Invalid { .. }) => {
            let problems = e.problems();
            eprintln!(
                "{}: {} problem(s); fix them and run check-config again:",
                args.file.display(),
                problems.len()
            );
            for p in problems {
                eprintln!("  {p}");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}
