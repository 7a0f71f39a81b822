//! `etc/systemd/netpulse.service` passes `systemd-analyze verify` (with
//! the built binary in place of the installed one and this tree's manual
//! pages on MANPATH), and its hardening stays in place.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;

fn unit_text() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("etc/systemd/netpulse.service");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn settings(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_unit_verifies() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // systemd-analyze checks that ExecStart's program exists: use the
    // binary this test built.
    let text = unit_text().replace("/usr/local/bin/netpulse", env!("CARGO_BIN_EXE_netpulse"));
    let unit = dir.path().join("netpulse.service");
    std::fs::write(&unit, text).unwrap();
    // And that the Documentation= manual pages resolve.
    for (section, page) in [("man8", "netpulse.8"), ("man5", "netpulse.toml.5")] {
        let d = dir.path().join("man").join(section);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(root.join("man").join(page), d.join(page)).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", dir.path().join("man"))
        .output()
        .expect("systemd-analyze not found: install the Debian package `systemd` (.ci/setup.d/55-systemd.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about other units of the host are not ours.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("netpulse")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

#[test]
fn the_unit_is_hardened() {
    let text = unit_text();
    assert_eq!(settings(&text, "ProtectSystem"), ["strict"]);
    assert_eq!(settings(&text, "NoNewPrivileges"), ["yes"]);
    // Only what process attribution through /proc needs.
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        assert_eq!(
            settings(&text, key),
            ["CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"],
            "{key}"
        );
    }
    assert_eq!(
        settings(&text, "RestrictAddressFamilies"),
        ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    );
    assert_eq!(settings(&text, "LogsDirectory"), ["netpulse"]);
    assert!(settings(&text, "User").is_empty() && settings(&text, "DynamicUser") == ["yes"]);
}
