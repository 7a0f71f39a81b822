//! The checks an output must pass before anything is created or written.
//!
//! `check-config`, `run` and a SIGHUP reload all go through [`check`] (the
//! config loader calls it for every `[[output]]`), so a config that
//! `check-config` accepts does not fail when the agent starts writing, and
//! a refused reload leaves no directory or file behind.

use std::path::Path;

use super::OutputConfig;
use crate::file_kind::describe_non_regular;

/// Name of the lock file each agent holds in every output directory it
/// writes (see `output::sink::dir_lock`).
pub const LOCK_FILE: &str = ".netpulse.lock";

/// Every problem that would stop `cfg` from being opened, each a sentence
/// naming the path. Standard output has nothing to check here.
pub fn check(cfg: &OutputConfig) -> Vec<String> {
    if cfg.is_stdout() || cfg.dir.as_os_str().is_empty() {
        return Vec::new();
    }
    let dir = &cfg.dir;
    if dir.as_os_str().as_encoded_bytes().contains(&0) {
        return vec![format!(
            "`{}` contains a NUL byte, which no path may hold; fix the directory name",
            dir.display()
        )];
    }
    if let Err(e) = check_dir(dir) {
        return vec![e];
    }
    let mut problems = Vec::new();
    let mut names = vec![dir.join(LOCK_FILE)];
    names.extend(
        cfg.format
            .active_file_names(&cfg.prefix)
            .iter()
            .map(|n| dir.join(n)),
    );
    for path in names {
        if let Ok(meta) = path.symlink_metadata() {
            if let Some(what) = describe_non_regular(&meta) {
                problems.push(format!(
                    "`{}` is {what}, not a regular file netpulse may write; remove it",
                    path.display()
                ));
            }
        }
    }
    problems
}

/// The directory exists and is writable, or can be created. A symbolic
/// link to a directory is the operator's choice and fine; a link to
/// nothing is not.
pub(super) fn check_dir(dir: &Path) -> Result<(), String> {
    use nix::unistd::{AccessFlags, access};
    let shown = dir.display();
    let mut probe = dir;
    loop {
        let link = probe
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        match std::fs::metadata(probe) {
            Ok(m) if !m.is_dir() => {
                return Err(if probe == dir {
                    format!(
                        "`{shown}` exists but is not a directory; remove it or pick another dir"
                    )
                } else {
                    format!(
                        "`{shown}` cannot be created: `{}` is not a directory",
                        probe.display()
                    )
                });
            }
            Ok(_) => {
                return match access(probe, AccessFlags::W_OK | AccessFlags::X_OK) {
                    Ok(()) => Ok(()),
                    Err(e) if probe == dir => Err(format!(
                        "`{shown}` is not writable by this user ({e}); fix its owner/mode or pick another dir"
                    )),
                    Err(e) => Err(format!(
                        "`{shown}` does not exist and cannot be created: `{}` is not writable ({e}); create it or pick another dir",
                        probe.display()
                    )),
                };
            }
            Err(_) if link => {
                return Err(format!(
                    "`{shown}` cannot be used: `{}` is a symbolic link to a missing target; fix or remove the link",
                    probe.display()
                ));
            }
            Err(_) => match probe.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => probe = parent,
                // A relative path with no existing ancestor: the working directory.
                _ => probe = Path::new("."),
            },
        }
    }
}
