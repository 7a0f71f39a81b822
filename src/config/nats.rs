//! `[[nats]]`: stream every batch to a NATS JetStream server, with an
//! on-disk spool for what the server has not acknowledged yet.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Value;

use super::lenient::Given;
use super::units::parse_size;
use super::validate::Check;
use super::{DEFAULT_HEARTBEAT, SocketLines};
use crate::record::Tier;

type Key<T> = Option<Given<T>>;

/// Default `spool_dir`.
pub const DEFAULT_SPOOL_DIR: &str = "/var/db/netpulse/spool";
/// Default `spool_max`: 1 GiB.
pub const DEFAULT_SPOOL_MAX: u64 = 1 << 30;
const MIN_SPOOL_MAX: u64 = 1 << 10;
const MAX_SPOOL_MAX: u64 = 1 << 40;
/// Credentials and CA files are small; a larger one is not what was meant.
pub const MAX_SECRET_FILE_BYTES: u64 = 1 << 20;

/// What one NATS message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatsEncoding {
    /// One `netpulse.v1.Batch` protobuf message (no length prefix).
    Proto,
    /// The JSON lines of one poll.
    Json,
}

/// One `[[nats]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URLs as written (`nats://` or `tls://`), comma-separated.
    pub url: String,
    /// Subject prefix; messages go to `<subject>.<host>.<tier>`.
    pub subject: String,
    pub encoding: NatsEncoding,
    pub tiers: Vec<Tier>,
    pub sockets: SocketLines,
    /// `changed`: the longest silence of an unchanged socket.
    pub heartbeat: std::time::Duration,
    /// A `.creds` file (JWT and NKey seed).
    pub credentials: Option<PathBuf>,
    /// A CA bundle the server's certificate must chain to; turns TLS on.
    pub tls_ca: Option<PathBuf>,
    /// Where batches wait until the server acknowledged them.
    pub spool_dir: PathBuf,
    /// Most bytes the spool holds; past it the oldest batches are dropped.
    pub spool_max: u64,
}

impl NatsConfig {
    /// The spool file of this output: one per subject and directory, so a
    /// reload that changes the URL or credentials keeps what was spooled.
    pub fn spool_file(&self) -> PathBuf {
        self.spool_dir.join(format!("{}.spool", self.subject))
    }

    /// The URLs, one per server.
    pub fn urls(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// TLS is on when asked for by a `tls://` URL or a CA file.
    pub fn wants_tls(&self) -> bool {
        self.tls_ca.is_some() || self.urls().iter().any(|u| u.starts_with("tls://"))
    }
}

/// One `[[nats]]` as written.
#[derive(Debug, Deserialize)]
pub(super) struct RawNats {
    pub url: Key<String>,
    pub subject: Key<String>,
    pub encoding: Key<String>,
    pub tiers: Key<Vec<Given<String>>>,
    pub sockets: Key<String>,
    pub credentials: Key<String>,
    pub tls_ca: Key<String>,
    pub spool_dir: Key<String>,
    pub spool_max: Key<String>,
}

/// Validate every `[[nats]]`; two outputs may not share a spool file.
pub(super) fn section(raw: &Key<Vec<Given<RawNats>>>, c: &mut Check) -> Vec<NatsConfig> {
    let not_a_list =
        |_: &Value| "must be written [[nats]] (an array of tables), not [nats]".to_string();
    let Some(items) = c.typed("nats", raw, not_a_list) else {
        return Vec::new();
    };
    let mut out: Vec<NatsConfig> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let full = format!("nats[{i}]");
        let not_a_table = |_: &Value| "must be a table; write each as [[nats]]".into();
        if let Some(n) = c.written(&full, item, not_a_table) {
            c.unknown_keys(item, &format!("{full}."));
            let cfg = one(n, &full, c);
            if let Some(j) = out.iter().position(|o| o.spool_file() == cfg.spool_file()) {
                c.add(
                    &full,
                    format!(
                        "spools to {} like nats[{j}]; give one a different subject or spool_dir",
                        cfg.spool_file().display()
                    ),
                );
            }
            out.push(cfg);
        }
    }
    out
}

fn one(raw: &RawNats, full: &str, c: &mut Check) -> NatsConfig {
    let key = |k: &str| format!("{full}.{k}");
    let mut n = NatsConfig {
        url: "nats://127.0.0.1:4222".into(),
        subject: "netpulse".into(),
        encoding: NatsEncoding::Proto,
        tiers: Tier::ALL.to_vec(),
        sockets: SocketLines::Changed,
        heartbeat: DEFAULT_HEARTBEAT,
        credentials: None,
        tls_ca: None,
        spool_dir: PathBuf::from(DEFAULT_SPOOL_DIR),
        spool_max: DEFAULT_SPOOL_MAX,
    };
    if let Some(s) = c.string(&key("url"), &raw.url, "\"nats://127.0.0.1:4222\"") {
        match url_problem(s) {
            None => n.url = s.to_string(),
            Some(p) => c.add(&key("url"), p),
        }
    }
    if let Some(s) = c.string(&key("subject"), &raw.subject, "\"netpulse\"") {
        if usable_subject(s) {
            n.subject = s.to_string();
        } else {
            c.add(
                &key("subject"),
                format!("`{s}` is not a usable subject prefix; use dot-separated tokens of letters, digits, '-' and '_' (no wildcards)"),
            );
        }
    }
    if let Some(s) = c.string(&key("encoding"), &raw.encoding, "\"proto\"") {
        match s {
            "proto" => n.encoding = NatsEncoding::Proto,
            "json" => n.encoding = NatsEncoding::Json,
            _ => c.add(
                &key("encoding"),
                format!("unknown encoding `{s}`; use proto or json"),
            ),
        }
    }
    c.tiers(
        full,
        &raw.tiers,
        &mut n.tiers,
        "is empty; list the tiers to stream, or remove the section",
    );
    if let Some(s) = c.string(&key("sockets"), &raw.sockets, "\"changed\"") {
        match SocketLines::from_name(s) {
            Some(m) => n.sockets = m,
            None => c.add(
                &key("sockets"),
                format!("unknown value `{s}`; use \"changed\" or \"all\""),
            ),
        }
    }
    n.credentials = credentials_file(&key("credentials"), &raw.credentials, c);
    n.tls_ca = readable_file(&key("tls_ca"), &raw.tls_ca, c);
    match c.string(
        &key("spool_dir"),
        &raw.spool_dir,
        "\"/var/db/netpulse/spool\"",
    ) {
        Some("") => c.add(&key("spool_dir"), "is empty; give a directory"),
        Some(s) => n.spool_dir = PathBuf::from(s),
        None => {}
    }
    if let Some(s) = c.string(&key("spool_max"), &raw.spool_max, "\"1GiB\"") {
        match parse_size(s) {
            Ok(v) if (MIN_SPOOL_MAX..=MAX_SPOOL_MAX).contains(&v) => n.spool_max = v,
            Ok(_) => c.add(
                &key("spool_max"),
                format!("`{s}` is out of range; use 1KiB to 1TiB"),
            ),
            Err(e) => c.add(&key("spool_max"), e),
        }
    }
    for problem in spool_problems(&n) {
        c.add(&key("spool_dir"), problem);
    }
    n
}

/// Every problem that would keep the spool of `cfg` from being opened.
pub fn spool_problems(cfg: &NatsConfig) -> Vec<String> {
    if let Err(e) = super::preflight::check_dir(&cfg.spool_dir) {
        return vec![e];
    }
    let spool = cfg.spool_file();
    let mut head = spool.clone().into_os_string();
    head.push(".head");
    let mut problems = Vec::new();
    for file in [spool, PathBuf::from(head)] {
        if let Ok(meta) = file.symlink_metadata() {
            if let Some(what) = crate::file_kind::describe_non_regular(&meta) {
                problems.push(format!(
                    "`{}` is {what}, not a spool file netpulse may write; remove it",
                    file.display()
                ));
            }
        }
    }
    problems
}

/// Why `s` is not a list of usable server URLs, if it is not.
fn url_problem(s: &str) -> Option<String> {
    let urls: Vec<&str> = s.split(',').map(str::trim).collect();
    if urls.iter().all(|u| u.is_empty()) {
        return Some("is empty; give a server URL like \"nats://127.0.0.1:4222\"".into());
    }
    for u in urls {
        if !(u.starts_with("nats://") || u.starts_with("tls://")) {
            return Some(format!(
                "`{u}` is not a NATS URL; write nats://HOST:PORT or tls://HOST:PORT (comma-separated for a cluster)"
            ));
        }
        if let Err(e) = async_nats::ServerAddr::from_str(u) {
            return Some(format!("`{u}` is not a usable server URL: {e}"));
        }
    }
    None
}

fn usable_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `""` means none; anything else must be a NATS `.creds` file.
fn credentials_file(key: &str, given: &Key<String>, c: &mut Check) -> Option<PathBuf> {
    let s = c.string(key, given, "\"/usr/local/etc/netpulse/nats.creds\"")?;
    if s.is_empty() {
        return None;
    }
    match super::nats_credentials::load(Path::new(s)) {
        Ok(_) => Some(PathBuf::from(s)),
        Err(e) => {
            c.add(
                key,
                format!("`{s}` is not a usable NATS credentials file: {e}"),
            );
            None
        }
    }
}

/// `""` means none; anything else must be a file this user can read.
fn readable_file(key: &str, given: &Key<String>, c: &mut Check) -> Option<PathBuf> {
    let s = c.string(key, given, "\"/usr/local/etc/netpulse/nats-ca.pem\"")?;
    if s.is_empty() {
        return None;
    }
    let path = Path::new(s);
    match crate::bounded_read::read_at_most(path, MAX_SECRET_FILE_BYTES) {
        Ok(_) => Some(path.to_path_buf()),
        Err(e) => {
            c.add(
                key,
                format!("cannot read `{s}`: {e}; fix the path or its permissions"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use crate::config::nats_credentials::tests::creds_text;

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems(),
        }
    }

    fn base(spool: &Path) -> String {
        format!(
            "[[output]]\ndir = \"{}\"\n[[nats]]\nspool_dir = \"{}\"\n",
            spool.join("files").display(),
            spool.display()
        )
    }

    #[test]
    fn defaults_and_derived_names() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::parse(&base(dir.path())).unwrap();
        let n = &cfg.nats[0];
        assert_eq!(n.urls(), vec!["nats://127.0.0.1:4222".to_string()]);
        assert_eq!(n.encoding, NatsEncoding::Proto);
        assert_eq!(n.tiers, Tier::ALL.to_vec());
        assert_eq!(n.spool_max, DEFAULT_SPOOL_MAX);
        assert_eq!(n.spool_file(), dir.path().join("netpulse.spool"));
        assert!(!n.wants_tls());
        assert!(
            Config::parse("[[output]]\ndir = \"-\"\n")
                .unwrap()
                .nats
                .is_empty()
        );
    }

    #[test]
    fn every_bad_key_is_named_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}url = \"http://x:4222\"\nsubject = \"a.*\"\nencoding = \"xml\"\ncredentials = \"{}\"\ntls_ca = \"{}\"\nspool_max = \"1\"\ntiers = [\"quick\"]\n",
            base(dir.path()),
            dir.path().join("missing.creds").display(),
            dir.path().join("missing-ca.pem").display(),
        );
        let p = problems(&text);
        for key in [
            "nats[0].url",
            "nats[0].subject",
            "nats[0].encoding",
            "nats[0].credentials",
            "nats[0].tls_ca",
            "nats[0].spool_max",
            "nats[0].tiers[0]",
        ] {
            assert!(
                p.iter().any(|l| l.starts_with(&format!("{key}:"))),
                "{key} not named in {p:#?}"
            );
        }
        assert!(p.iter().any(|l| l.contains("missing.creds")), "{p:#?}");
    }

    #[test]
    fn credentials_must_be_a_creds_file() {
        let dir = tempfile::tempdir().unwrap();
        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        let good = dir.path().join("good.creds");
        std::fs::write(&good, creds_text(&seed)).unwrap();
        let text = format!("{}credentials = \"{}\"\n", base(dir.path()), good.display());
        let cfg = Config::parse(&text).unwrap();
        assert_eq!(cfg.nats[0].credentials.as_deref(), Some(good.as_path()));

        let fifo = dir.path().join("fifo.creds");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let bad = [
            ("empty.creds", Some(String::new()), "is empty"),
            (
                "no-seed.creds",
                Some(creds_text(&seed).split("\n\n").next().unwrap().to_string()),
                "no NKey seed section",
            ),
            (
                "password.creds",
                Some("s3cret\n".into()),
                "no user JWT section",
            ),
            ("fifo.creds", None, "is empty"),
        ];
        for (name, content, expected) in bad {
            let path = dir.path().join(name);
            if let Some(c) = content {
                std::fs::write(&path, c).unwrap();
            }
            let text = format!("{}credentials = \"{}\"\n", base(dir.path()), path.display());
            let p = problems(&text);
            assert!(
                p.iter().any(|l| l.starts_with("nats[0].credentials:")
                    && l.contains(name)
                    && l.contains("not a usable NATS credentials file")
                    && l.contains(expected)),
                "{name}: {p:#?}"
            );
        }
    }

    #[test]
    fn spool_dir_must_be_writable() {
        let text = "[[output]]\ndir = \"-\"\n[[nats]]\nspool_dir = \"/proc/1\"\n";
        let p = problems(text);
        assert!(
            p.iter()
                .any(|l| l.starts_with("nats[0].spool_dir:") && l.contains("not writable")),
            "{p:#?}"
        );
    }

    #[test]
    fn a_planted_link_in_place_of_the_spool_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("netpulse.spool.head")).unwrap();
        let p = problems(&base(dir.path()));
        assert!(
            p.iter().any(|l| l.starts_with("nats[0].spool_dir:")
                && l.contains("netpulse.spool.head")
                && l.contains("symbolic link")),
            "{p:#?}"
        );
    }

    #[test]
    fn a_cluster_url_list_and_tls_are_understood() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        let text = format!(
            "{}url = \"tls://a:4222, nats://user:pw@b:4223\"\ntls_ca = \"{}\"\n",
            base(dir.path()),
            ca.display()
        );
        let cfg = Config::parse(&text).unwrap();
        let n = &cfg.nats[0];
        assert_eq!(n.urls().len(), 2);
        assert!(n.wants_tls());
        assert_eq!(n.tls_ca.as_deref(), Some(ca.as_path()));
    }

    #[test]
    fn two_outputs_may_not_share_a_spool() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}[[nats]]\nspool_dir = \"{}\"\nurl = \"nats://other:4222\"\n",
            base(dir.path()),
            dir.path().display()
        );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|l| l.starts_with("nats[1]:") && l.contains("like nats[0]")),
            "{p:#?}"
        );
    }
}
