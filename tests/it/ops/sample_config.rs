//! `etc/netpulse.toml.sample` documents exactly the keys the config parser
//! accepts (`netpulse::config::ALL_KEYS`), `man/netpulse.toml.5` describes
//! each of them, and the sample passes the real `netpulse check-config`.
//!
//! A key added to the code without a line in the sample (or a line left in
//! the sample after its key is gone) fails here, naming the key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let path = repo_file(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Dotted names of the keys set in `table`: `agent.source`,
/// `tiers.fast.interval`, and `output.format` for a key of any
/// `[[output]]` (the same spelling as `ALL_KEYS`).
fn dotted_keys(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => dotted_keys(&name, t, out),
            toml::Value::Array(items)
                if !items.is_empty() && items.iter().all(|i| i.is_table()) =>
            {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        dotted_keys(&name, t, out);
                    }
                }
            }
            _ => {
                out.insert(name);
            }
        }
    }
}

fn sample_keys() -> BTreeSet<String> {
    let text = read("etc/netpulse.toml.sample");
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("etc/netpulse.toml.sample is not valid TOML: {e}"));
    let mut keys = BTreeSet::new();
    dotted_keys("", &table, &mut keys);
    let commented: toml::Table = commented_sections(&text)
        .parse()
        .unwrap_or_else(|e| panic!("the commented sections of the sample are not valid TOML: {e}"));
    dotted_keys("", &commented, &mut keys);
    keys
}

/// The sections the sample shows commented out (off by default, such as
/// `[[nats]]`), uncommented: from a `# [[name]]` line, every following
/// `# key = value` line up to the first line that is not a comment.
/// Description lines (`#   text`) are left out.
fn commented_sections(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            inside = false;
            continue;
        };
        if rest.starts_with("[[") && rest.trim_end().ends_with("]]") {
            inside = true;
            out.push_str(rest);
            out.push('\n');
        } else if inside
            && rest.starts_with(|c: char| c.is_ascii_lowercase())
            && rest.contains(" = ")
        {
            out.push_str(rest);
            out.push('\n');
        }
    }
    out
}

/// The commented `[[nats]]` section, uncommented, is valid and shows the
/// defaults.
#[test]
fn commented_nats_section_is_valid_and_default() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = read("etc/netpulse.toml.sample");
    let nats = commented_sections(&text);
    assert!(
        nats.contains("[[nats]]"),
        "no commented [[nats]] in the sample"
    );
    let spool = tmp.path().join("spool");
    let edited = nats.replace(
        "spool_dir = \"/var/db/netpulse/spool\"",
        &format!("spool_dir = \"{}\"", spool.display()),
    );
    assert_ne!(edited, nats, "the sample's spool_dir line changed");
    let doc = format!("[[output]]\ndir = \"-\"\n{edited}");
    let parsed = netpulse::config::Config::parse(&doc)
        .unwrap_or_else(|e| panic!("the sample's [[nats]] does not parse: {e}"));
    let n = &parsed.nats[0];
    assert_eq!(n.url, "nats://127.0.0.1:4222");
    assert_eq!(n.subject, "netpulse");
    assert_eq!(n.encoding, netpulse::config::NatsEncoding::Proto);
    assert_eq!(n.tiers, netpulse::record::Tier::ALL.to_vec());
    assert_eq!(n.credentials, None);
    assert_eq!(n.tls_ca, None);
    assert_eq!(n.spool_max, netpulse::config::nats::DEFAULT_SPOOL_MAX);
    assert_eq!(
        Path::new(netpulse::config::nats::DEFAULT_SPOOL_DIR),
        Path::new("/var/db/netpulse/spool")
    );
}

fn code_keys() -> BTreeSet<String> {
    netpulse::config::ALL_KEYS
        .iter()
        .map(|k| k.to_string())
        .collect()
}

#[test]
fn sample_documents_exactly_the_keys_the_code_accepts() {
    let sample = sample_keys();
    let code = code_keys();
    let undocumented: Vec<_> = code.difference(&sample).collect();
    let stale: Vec<_> = sample.difference(&code).collect();
    assert!(
        undocumented.is_empty(),
        "keys the config parser accepts but etc/netpulse.toml.sample does not set \
         (add each with its default and a comment, and to man/netpulse.toml.5): {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "keys in etc/netpulse.toml.sample that are not in netpulse::config::ALL_KEYS \
         (remove them, or add them to the parser): {stale:?}"
    );
    // The comparison is only meaningful if both sides are substantial.
    assert!(code.len() >= 20, "ALL_KEYS has only {} keys", code.len());
}

#[test]
fn manual_page_describes_every_key() {
    let page = read("man/netpulse.toml.5");
    let items: BTreeSet<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix(".It Cm "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let missing: Vec<_> = netpulse::config::ALL_KEYS
        .iter()
        .filter(|k| {
            let leaf = k.rsplit('.').next().unwrap_or(k);
            !items.contains(leaf)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "man/netpulse.toml.5 has no `.It Cm <key>` entry for: {missing:?}"
    );
    // Every table of the config has its own subsection.
    let tables: BTreeSet<&str> = netpulse::config::ALL_KEYS
        .iter()
        .filter_map(|k| k.split('.').next())
        .collect();
    for table in tables {
        let heading = if table == "output" {
            "[[output]]".to_string()
        } else if table == "tiers" {
            "[tiers.fast]".to_string()
        } else {
            format!("[{table}]")
        };
        assert!(
            page.lines()
                .any(|l| l.starts_with(".Ss") && l.contains(&heading)),
            "man/netpulse.toml.5 has no subsection for {heading}"
        );
    }
}

#[test]
fn sample_passes_check_config() {
    let sample = repo_file("etc/netpulse.toml.sample");
    // The sample writes under /var/log/netpulse, as installed. check-config
    // accepts a directory it could create; copy the sample with only `dir`
    // changed when this user cannot create it, so the test checks the
    // sample's values rather than this machine's /var/log.
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = read("etc/netpulse.toml.sample");
    let data = tmp.path().join("data");
    let checked = if writable_or_creatable(Path::new("/var/log/netpulse")) {
        sample.clone()
    } else {
        let edited = text.replace(
            "dir = \"/var/log/netpulse\"",
            &format!("dir = \"{}\"", data.display()),
        );
        assert_ne!(edited, text, "the sample's [[output]] dir line changed");
        let path = tmp.path().join("netpulse.toml");
        std::fs::write(&path, edited).expect("writing the edited sample");
        path
    };
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("check-config")
        .arg(&checked)
        .output()
        .expect("running netpulse check-config");
    assert!(
        out.status.success(),
        "netpulse check-config {} failed ({}):\nstdout: {}\nstderr: {}",
        checked.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And the checker is not a rubber stamp: a misspelt key in the sample is
    // refused, naming the key.
    let broken = tmp.path().join("broken.toml");
    let misspelt = text.replacen("log_level = ", "log_levle = ", 1);
    assert_ne!(misspelt, text, "the sample has no log_level line");
    std::fs::write(&broken, misspelt).expect("writing the broken sample");
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .arg("check-config")
        .arg(&broken)
        .output()
        .expect("running netpulse check-config");
    assert_eq!(out.status.code(), Some(1), "a misspelt key must be refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("agent.log_levle"),
        "the refusal names the key: {stderr}"
    );
}

/// Whether `dir` exists and is writable, or its nearest existing ancestor is.
fn writable_or_creatable(dir: &Path) -> bool {
    let mut probe = Some(dir);
    while let Some(p) = probe {
        if p.exists() {
            return nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
        }
        probe = p.parent();
    }
    false
}

/// Every value in the sample is the built-in default, as its header says
/// ("deleting a line changes nothing"): parsed, it equals the config the
/// agent builds from nothing, apart from the output directory.
#[test]
fn sample_values_are_the_defaults() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let text = read("etc/netpulse.toml.sample");
    let edited = text.replace(
        "dir = \"/var/log/netpulse\"",
        &format!("dir = \"{}\"", data.display()),
    );
    assert_ne!(edited, text, "the sample's [[output]] dir line changed");
    let parsed = netpulse::config::Config::parse(&edited)
        .unwrap_or_else(|e| panic!("the sample does not parse: {e}"));
    let mut defaults = netpulse::config::Config::builtin();
    for o in &mut defaults.outputs {
        o.dir = data.clone();
    }
    assert_eq!(
        parsed, defaults,
        "etc/netpulse.toml.sample must show the built-in defaults"
    );
}
