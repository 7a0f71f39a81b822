//! `netpulse check-config` and `netpulse run` refusing a bad config, with
//! the real binary.

use std::process::Command;

fn netpulse(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_names_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[agent]\nsource = \"solaris\"\nshutdown_timeout = \"forever\"\n[tiers.fast]\ninterval = \"0ms\"\n[[output]]\nformat = \"json\"\ndir = \"/dev/null/x\"\nkeep = -1\n",
    )
    .unwrap();
    let (code, _, err) = netpulse(&["check-config", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    for key in [
        "agent.source:",
        "agent.shutdown_timeout:",
        "tiers.fast.interval:",
        "output[0].dir:",
        "output[0].keep:",
    ] {
        assert!(err.contains(key), "`{key}` not named in:\n{err}");
    }
    assert!(err.contains("5 problem(s)"), "{err}");

    // `run` refuses the same file before sampling anything.
    let (code, _, err) = netpulse(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("agent.source:") && err.contains("check-config"),
        "{err}"
    );
}

#[test]
fn check_config_accepts_a_good_file_and_reports_unreadable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("good.toml");
    std::fs::write(
        &cfg,
        format!(
            "[tiers.fast]\ninterval = \"250ms\"\n[[output]]\ndir = \"{}/out\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (code, out, err) = netpulse(&["check-config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK"), "{out}");
    assert!(
        !dir.path().join("out").exists(),
        "check-config must not create directories"
    );

    let (code, _, err) = netpulse(&["check-config", "/nonexistent/netpulse.toml"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read config"), "{err}");

    std::fs::write(&cfg, "[agent\n").unwrap();
    let (code, _, err) = netpulse(&["check-config", cfg.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not valid TOML"), "{err}");
}
