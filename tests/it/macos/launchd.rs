//! The launchd property list, read by a real plist parser (Python's
//! `plistlib`, which implements Apple's XML format), and its settings
//! checked against what the agent needs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const PLIST: &str = "etc/launchd/org.netpulse.agent.plist";

fn plist() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(PLIST);
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, plistlib, sys\n\
             with open(sys.argv[1], 'rb') as f:\n    d = plistlib.load(f, fmt=plistlib.FMT_XML)\n\
             print(json.dumps(d))",
        ])
        .arg(&path)
        .output()
        .expect("running python3 (installed by .ci/setup.d)");
    assert!(
        out.status.success(),
        "{PLIST} is not a valid XML property list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn launchd_plist_runs_the_agent_with_its_config_and_keeps_it_alive() {
    let p = plist();
    let label = p["Label"].as_str().unwrap();
    assert!(
        PLIST.ends_with(&format!("/{label}.plist")),
        "the file is named after its Label"
    );
    let args: Vec<&str> = p["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        [
            "/usr/local/bin/netpulse",
            "run",
            "--config",
            "/usr/local/etc/netpulse.toml"
        ]
    );
    assert_eq!(p["KeepAlive"], Value::Bool(true));
    assert_eq!(p["RunAtLoad"], Value::Bool(true));
    for key in ["StandardOutPath", "StandardErrorPath"] {
        let path = p[key].as_str().unwrap();
        assert!(
            path.starts_with("/usr/local/var/log/netpulse/"),
            "{key}: {path}"
        );
    }
    // SIGKILL must come after the agent's default 5 s drain deadline.
    assert!(p["ExitTimeOut"].as_u64().unwrap() > 5);
    assert!(p["ThrottleInterval"].as_u64().unwrap() >= 1);
}

#[test]
fn launchd_plist_arguments_are_accepted_by_the_binary() {
    // The plist's arguments with the config path swapped for a missing
    // file: the command line parses, and the agent refuses to start naming
    // that file (not an unknown argument).
    let p = plist();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("netpulse.toml");
    let mut args: Vec<String> = p["ProgramArguments"].as_array().unwrap()[1..]
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    *args.last_mut().unwrap() = missing.to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read config"), "{err}");
    assert!(err.contains(&*missing.to_string_lossy()), "{err}");
}
