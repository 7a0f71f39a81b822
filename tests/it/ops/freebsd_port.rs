//! The FreeBSD port under `packaging/freebsd/net-mgmt/netpulse` agrees with
//! the tree: its crate list is `Cargo.lock`'s, every file it installs is in
//! `pkg-plist` (and nothing else is), and its rc.d script is `rc.d/netpulse`
//! with the install prefix as a placeholder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn port() -> PathBuf {
    root().join("packaging/freebsd/net-mgmt/netpulse")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The values of a Makefile variable, continuation lines joined.
fn make_var(makefile: &str, name: &str) -> Vec<String> {
    let mut lines = makefile.lines();
    let prefix = format!("{name}=");
    let Some(first) = lines.by_ref().find(|l| l.starts_with(&prefix)) else {
        return Vec::new();
    };
    let mut text = first[prefix.len()..].to_string();
    let mut last = first;
    while last.trim_end().ends_with('\\') {
        text = text.trim_end().trim_end_matches('\\').to_string();
        last = lines.next().unwrap_or("");
        text.push(' ');
        text.push_str(last);
    }
    text.split_whitespace().map(str::to_string).collect()
}

/// `name-version` of every crates.io package in Cargo.lock, in order.
fn lock_crates() -> Vec<String> {
    let lock: toml::Table =
        toml::from_str(&read(&root().join("Cargo.lock"))).expect("Cargo.lock is TOML");
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+"))
        })
        .map(|p| {
            format!(
                "{}-{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn cargo_crates_is_the_lock_files_crate_list() {
    let makefile = read(&port().join("Makefile"));
    let got = make_var(&makefile, "CARGO_CRATES");
    let want = lock_crates();
    assert!(want.len() > 10, "Cargo.lock has crates.io packages");
    if got != want {
        let block: Vec<String> = want.iter().map(|c| format!("\t\t{c} \\")).collect();
        panic!(
            "CARGO_CRATES in {} differs from Cargo.lock; replace it with:\n{}",
            port().join("Makefile").display(),
            block.join("\n")
        );
    }
    assert_eq!(make_var(&makefile, "USES"), ["cargo"]);
    assert_eq!(make_var(&makefile, "USE_RC_SUBR"), ["netpulse"]);
    assert_eq!(make_var(&makefile, "USERS"), ["netpulse"]);
    assert_eq!(make_var(&makefile, "GROUPS"), ["netpulse"]);
    assert_eq!(make_var(&makefile, "LICENSE"), ["BSD2CLAUSE"]);
    assert!(root().join("LICENSE").is_file(), "LICENSE_FILE exists");
}

#[test]
fn every_installed_file_is_in_the_plist_and_the_other_way_round() {
    let makefile = read(&port().join("Makefile"));
    // Destinations of the install commands in do-install.
    let installed: BTreeSet<String> = makefile
        .lines()
        .filter(|l| l.starts_with('\t') && l.contains("${INSTALL_"))
        .map(|l| {
            let dest = l.split_whitespace().last().unwrap();
            let rel = dest
                .strip_prefix("${STAGEDIR}${PREFIX}/")
                .unwrap_or_else(|| panic!("installs outside ${{PREFIX}}: {l}"));
            // Manual pages are compressed by the ports framework.
            if rel.starts_with("share/man/") {
                format!("{rel}.gz")
            } else {
                rel.to_string()
            }
        })
        .collect();
    // Sources of the install commands exist in the tree.
    for l in makefile.lines().filter(|l| l.contains("${INSTALL_")) {
        if let Some(src) = l
            .split_whitespace()
            .find_map(|w| w.strip_prefix("${WRKSRC}/"))
        {
            assert!(root().join(src).is_file(), "{src} is not in the tree");
        }
    }
    let plist: BTreeSet<String> = read(&port().join("pkg-plist"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.strip_prefix("@sample ") {
            Some(sample) => sample.to_string(),
            None => {
                assert!(!l.starts_with('@'), "unexpected keyword: {l}");
                l.to_string()
            }
        })
        .collect();
    assert_eq!(installed, plist);
    assert!(plist.contains("etc/netpulse.toml.sample"));
    assert!(read(&port().join("pkg-plist")).contains("@sample etc/netpulse.toml.sample"));
}

#[test]
fn the_rc_script_is_the_ports_template_with_the_prefix_filled_in() {
    let template = read(&port().join("files/netpulse.in"));
    assert!(
        template.contains("%%PREFIX%%"),
        "the template uses %%PREFIX%%"
    );
    assert!(
        !template.contains("/usr/local"),
        "no hard-coded prefix left"
    );
    let rcd = read(&root().join("rc.d/netpulse"));
    assert!(
        template.replace("%%PREFIX%%", "/usr/local") == rcd,
        "rc.d/netpulse and files/netpulse.in differ; regenerate the template with\n  \
         sed 's#/usr/local#%%PREFIX%%#g' rc.d/netpulse > {}",
        port().join("files/netpulse.in").display()
    );
}

#[test]
fn the_kmod_port_builds_the_module_from_the_tree() {
    let dir = root().join("packaging/freebsd/net-mgmt/netpulse-kmod");
    let makefile = read(&dir.join("Makefile"));
    assert_eq!(make_var(&makefile, "USES"), ["kmod", "uidfix"]);
    let sub = make_var(&makefile, "WRKSRC_SUBDIR");
    assert_eq!(sub, ["kmod/tcpstats"]);
    assert!(root().join(&sub[0]).join("Makefile").is_file());
    assert!(root().join(&sub[0]).join("tcpstats.4").is_file());
    assert!(dir.join("pkg-descr").is_file());
}
