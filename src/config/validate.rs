//! The one validation pass: raw sections in, the typed `Config` out, or
//! every problem found, each naming its key and what to do.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::lenient::{Given, field_names, from_written};
use super::raw::{RawAgent, RawConfig, RawFilter, RawOutput, RawTiers};
use super::units::{format_duration, parse_duration, parse_size};
use super::{
    AgentConfig, Compression, Config, ConfigError, EndpointConfig, FilterConfig, Format,
    MAX_HEARTBEAT, OutputConfig, SocketLines, TierConfig, TiersConfig,
};
use crate::platform::SourceKind;
use crate::record::{TcpState, Tier};

const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
const MIN_SHUTDOWN: Duration = Duration::from_millis(100);
const MAX_SHUTDOWN: Duration = Duration::from_secs(600);
const MIN_ROTATE_SIZE: u64 = 1 << 10;
const MAX_ROTATE_SIZE: u64 = 1 << 40;
const MIN_ROTATE_AGE: Duration = Duration::from_secs(1);
const MAX_ROTATE_AGE: Duration = Duration::from_secs(366 * 86_400);
const MAX_KEEP: i64 = 100_000;
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

pub(super) fn not_a_table(key: &str, v: &Value) -> String {
    format!("must be a table `[{key}]`, not a {}", v.type_str())
}

/// Parse `text` and validate it: the typed config, or every problem.
pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    let root: Given<RawConfig> = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        origin: String::new(),
        message: e.to_string().trim_end().to_string(),
    })?;
    // A TOML document is always a table, so this only guards the contract.
    let Some(raw) = &root.typed else {
        return Err(ConfigError::Syntax {
            origin: String::new(),
            message: "the file is not a table of sections".into(),
        });
    };
    let mut c = Check::default();
    c.unknown_keys(&root, "");
    let cfg = config(raw, &mut c);
    if c.problems.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid {
            origin: String::new(),
            problems: c.problems,
        })
    }
}

/// Problems found so far, and the checks every section shares.
#[derive(Default)]
pub(super) struct Check {
    pub(super) problems: Vec<String>,
}

impl Check {
    pub(super) fn add(&mut self, key: &str, msg: impl Display) {
        self.problems.push(format!("{key}: {msg}"));
    }

    /// Report every key written in the table `section` that `T` lacks.
    pub(super) fn unknown_keys<T: DeserializeOwned>(&mut self, section: &Given<T>, prefix: &str) {
        let known = field_names::<T>();
        for k in section.written.as_table().into_iter().flat_map(Table::keys) {
            if !known.contains(&k.as_str()) {
                self.add(
                    &format!("{prefix}{k}"),
                    format!("unknown key; remove it or use one of: {}", known.join(", ")),
                );
            }
        }
    }

    /// The value of `key` if it has the right type; otherwise a problem
    /// built from what was written.
    pub(super) fn typed<'a, T>(
        &mut self,
        key: &str,
        given: &'a Option<Given<T>>,
        must_be: impl FnOnce(&Value) -> String,
    ) -> Option<&'a T> {
        self.written(key, given.as_ref()?, must_be)
    }

    /// Like `typed`, for a value that is always written (a list item).
    pub(super) fn written<'a, T>(
        &mut self,
        key: &str,
        given: &'a Given<T>,
        must_be: impl FnOnce(&Value) -> String,
    ) -> Option<&'a T> {
        if given.typed.is_none() {
            self.add(key, must_be(&given.written));
        }
        given.typed.as_ref()
    }

    /// A section table, its unknown keys reported.
    pub(super) fn section<'a, T: DeserializeOwned>(
        &mut self,
        key: &str,
        given: &'a Option<Given<T>>,
    ) -> Option<&'a T> {
        let typed = self.typed(key, given, |v| not_a_table(key, v))?;
        self.unknown_keys(given.as_ref()?, &format!("{key}."));
        Some(typed)
    }

    pub(super) fn string<'a>(
        &mut self,
        key: &str,
        given: &'a Option<Given<String>>,
        eg: &str,
    ) -> Option<&'a str> {
        let what = |v: &Value| format!("must be a string like {eg}, not a {}", v.type_str());
        self.typed(key, given, what).map(String::as_str)
    }

    pub(super) fn boolean(&mut self, key: &str, given: &Option<Given<bool>>) -> Option<bool> {
        let what = |v: &Value| format!("must be true or false, not a {}", v.type_str());
        self.typed(key, given, what).copied()
    }

    pub(super) fn list<'a, T>(
        &mut self,
        key: &str,
        given: &'a Option<Given<Vec<T>>>,
    ) -> Option<&'a [T]> {
        let what = |v: &Value| format!("must be a list like [...], not a {}", v.type_str());
        self.typed(key, given, what).map(Vec::as_slice)
    }

    /// The tiers listed under `{full}.tiers` into `out` (each once, in the
    /// order written); `empty` is the advice for an empty list.
    pub(super) fn tiers(
        &mut self,
        full: &str,
        given: &Option<Given<Vec<Given<String>>>>,
        out: &mut Vec<Tier>,
        empty: &str,
    ) {
        let Some(items) = self.list(&format!("{full}.tiers"), given) else {
            return;
        };
        out.clear();
        for (i, v) in items.iter().enumerate() {
            match v.typed.as_deref().map(Tier::from_name) {
                Some(Some(tier)) if !out.contains(&tier) => out.push(tier),
                Some(Some(_)) => {}
                _ => self.add(
                    &format!("{full}.tiers[{i}]"),
                    format!(
                        "`{}` is not a tier; use fast, standard, slow or aggregate",
                        v.written
                    ),
                ),
            }
        }
        if items.is_empty() {
            self.add(&format!("{full}.tiers"), empty);
        }
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        given: &Option<Given<String>>,
        lo: Duration,
        hi: Duration,
    ) -> Option<Duration> {
        let s = self.string(key, given, "\"1s\" or \"250ms\"")?;
        match parse_duration(s) {
            Ok(d) if d < lo || d > hi => {
                self.add(
                    key,
                    format!(
                        "`{s}` is out of range; use between {} and {}",
                        format_duration(lo),
                        format_duration(hi)
                    ),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.add(key, e);
                None
            }
        }
    }
}

fn config(raw: &RawConfig, c: &mut Check) -> Config {
    let mut cfg = Config {
        outputs: Vec::new(),
        ..Config::builtin()
    };
    if let Some(t) = c.typed("endpoint", &raw.endpoint, |v| not_a_table("endpoint", v)) {
        cfg.endpoint = endpoint(t, c);
    }
    if let Some(a) = c.section("agent", &raw.agent) {
        cfg.agent = agent(a, c);
    }
    if let Some(t) = c.section("tiers", &raw.tiers) {
        cfg.tiers = tiers(t, c);
    }
    if Tier::ALL.iter().all(|&t| !cfg.tiers.get(t).enabled) {
        c.add(
            "tiers",
            "every tier is disabled; enable at least one (e.g. [tiers.fast] enabled = true)",
        );
    }
    if let Some(f) = c.section("filter", &raw.filter) {
        cfg.filter = filter(f, c);
    }
    let not_a_list =
        |_: &Value| "must be written [[output]] (an array of tables), not [output]".to_string();
    match c.typed("output", &raw.output, not_a_list) {
        None if raw.output.is_none() => c.add(
            "output",
            "no [[output]] section; add at least one, e.g. [[output]] format = \"json\" dir = \"/var/log/netpulse\"",
        ),
        None => {}
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                let full = format!("output[{i}]");
                let not_a_table = |_: &Value| "must be a table; write each output as [[output]]".into();
                if let Some(o) = c.written(&full, item, not_a_table) {
                    c.unknown_keys(item, &format!("{full}."));
                    cfg.outputs.push(output(o, &full, c));
                }
            }
            output_collisions(&cfg.outputs, c);
            heartbeats(&cfg, c);
        }
    }
    cfg.nats = super::nats::section(&raw.nats, c);
    cfg
}

/// `[endpoint]`: each key deserialised alone into the public
/// `EndpointConfig`, so a wrong type in one key does not hide the problems
/// of the others; its values are then checked by `EndpointConfig::validate`.
fn endpoint(t: &Table, c: &mut Check) -> EndpointConfig {
    let known = field_names::<EndpointConfig>();
    let mut good = Table::new();
    for (k, v) in t {
        if !known.contains(&k.as_str()) {
            c.add(
                &format!("endpoint.{k}"),
                format!("unknown key; remove it or use one of: {}", known.join(", ")),
            );
            continue;
        }
        let one = Table::from_iter([(k.clone(), v.clone())]);
        match endpoint_from(one) {
            Ok(_) => {
                good.insert(k.clone(), v.clone());
            }
            Err(e) => c.add(
                &format!("endpoint.{k}"),
                format!("{e}; see `[endpoint]` in netpulse.toml(5)"),
            ),
        }
    }
    let cfg = endpoint_from(good).unwrap_or_default();
    if let Err(problems) = cfg.validate() {
        c.problems.extend(problems);
    }
    cfg
}

fn endpoint_from(t: Table) -> Result<EndpointConfig, String> {
    from_written(&Value::Table(t))
}

fn agent(raw: &RawAgent, c: &mut Check) -> AgentConfig {
    let mut a = AgentConfig::default();
    if let Some(s) = c.string("agent.source", &raw.source, "\"auto\"") {
        match SourceKind::from_name(s) {
            Some(k) => a.source = k,
            None => c.add(
                "agent.source",
                format!(
                    "unknown source `{s}`; use one of {}",
                    SourceKind::NAMES.join(", ")
                ),
            ),
        }
    }
    if let Some(s) = c.string("agent.log_level", &raw.log_level, "\"info\"") {
        if LOG_LEVELS.contains(&s) {
            a.log_level = s.to_string();
        } else {
            c.add(
                "agent.log_level",
                format!("unknown level `{s}`; use one of {}", LOG_LEVELS.join(", ")),
            );
        }
    }
    let key = "agent.shutdown_timeout";
    if let Some(d) = c.duration(key, &raw.shutdown_timeout, MIN_SHUTDOWN, MAX_SHUTDOWN) {
        a.shutdown_timeout = d;
    }
    let key = "agent.memory_limit";
    let size_like = |v: &Value| format!("`{v}` must be a string like \"64MiB\" or \"off\"");
    match c.typed(key, &raw.memory_limit, size_like) {
        Some(s) if s == "off" => a.memory_limit = None,
        Some(s) => match parse_size(s) {
            Ok(n) if (MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&n) => a.memory_limit = Some(n),
            Ok(_) => c.add(
                key,
                format!("`{s}` is out of range; use 8MiB to 1TiB, or \"off\""),
            ),
            Err(e) => c.add(key, e),
        },
        None => {}
    }
    a
}

/// Below this the agent could not hold its own code and runtime.
const MIN_MEMORY_LIMIT: u64 = 8 << 20;
const MAX_MEMORY_LIMIT: u64 = 1 << 40;

fn tiers(raw: &RawTiers, c: &mut Check) -> TiersConfig {
    let mut tiers = TiersConfig::default();
    for tier in Tier::ALL {
        let full = format!("tiers.{}", tier.name());
        let Some(t) = c.section(&full, raw.get(tier)) else {
            continue;
        };
        let mut cfg = tiers.get(tier);
        if let Some(b) = c.boolean(&format!("{full}.enabled"), &t.enabled) {
            cfg.enabled = b;
        }
        let key = format!("{full}.interval");
        if let Some(d) = c.duration(&key, &t.interval, MIN_INTERVAL, MAX_INTERVAL) {
            if d.subsec_nanos() % 1_000_000 != 0 {
                c.add(&key, "must be a whole number of milliseconds");
            } else {
                cfg.interval = d;
            }
        }
        tiers.set(tier, TierConfig { ..cfg });
    }
    tiers
}

fn filter(raw: &RawFilter, c: &mut Check) -> FilterConfig {
    let mut f = FilterConfig::default();
    let key = "filter.exclude_states";
    for (i, v) in c
        .list(key, &raw.exclude_states)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key = format!("{key}[{i}]");
        match v.typed.as_deref().map(|s| (s, TcpState::from_name(s))) {
            Some((_, Some(st))) => f.exclude_states.push(st),
            Some((s, None)) => c.add(
                &key,
                format!(
                    "unknown TCP state `{s}`; use one of {}",
                    TcpState::ALL.map(|s| s.name()).join(", ")
                ),
            ),
            None => c.add(&key, "must be a state name string like \"TIME_WAIT\""),
        }
    }
    f.local_ports = ports("filter.local_ports", &raw.local_ports, c);
    f.remote_ports = ports("filter.remote_ports", &raw.remote_ports, c);
    f
}

fn ports(key: &str, raw: &Option<Given<Vec<Given<u16>>>>, c: &mut Check) -> Vec<u16> {
    let mut out = Vec::new();
    for (i, v) in c.list(key, raw).unwrap_or_default().iter().enumerate() {
        match v.typed {
            Some(port) if port > 0 => out.push(port),
            _ => c.add(
                &format!("{key}[{i}]"),
                format!("`{}` is not a port; use 1 to 65535", v.written),
            ),
        }
    }
    out
}

fn output(raw: &RawOutput, full: &str, c: &mut Check) -> OutputConfig {
    let key = |k: &str| format!("{full}.{k}");
    let mut o = OutputConfig::default_json(PathBuf::new());
    if let Some(s) = c.string(&key("format"), &raw.format, "\"json\"") {
        match Format::from_name(s) {
            Some(f) => o.format = f,
            None => c.add(
                &key("format"),
                format!("unknown format `{s}`; use json, csv or proto"),
            ),
        }
    }
    match c.string(&key("dir"), &raw.dir, "\"/var/log/netpulse\"") {
        Some("") => c.add(
            &key("dir"),
            "is empty; give a directory, or \"-\" for standard output",
        ),
        Some(s) => o.dir = PathBuf::from(s),
        None if raw.dir.is_none() => c.add(
            &key("dir"),
            "is missing; give the directory the files go to (e.g. \"/var/log/netpulse\")",
        ),
        None => {}
    }
    if let Some(s) = c.string(&key("prefix"), &raw.prefix, "\"netpulse\"") {
        if usable_prefix(s) {
            o.prefix = s.to_string();
        } else {
            c.add(
                &key("prefix"),
                format!("`{s}` is not a usable file-name prefix; use 1-64 letters, digits, '-', '_' or '.' (not first)"),
            );
        }
    }
    c.tiers(
        full,
        &raw.tiers,
        &mut o.tiers,
        "is empty; list the tiers to write, or remove the output",
    );
    let size_like = |v: &Value| format!("`{v}` must be a string like \"64MiB\" or \"off\"");
    match c.typed(&key("rotate_size"), &raw.rotate_size, size_like) {
        Some(s) if s == "off" => o.rotate_size = None,
        Some(s) => match parse_size(s) {
            Ok(n) if (MIN_ROTATE_SIZE..=MAX_ROTATE_SIZE).contains(&n) => o.rotate_size = Some(n),
            Ok(_) => c.add(
                &key("rotate_size"),
                format!("`{s}` is out of range; use 1KiB to 1TiB, or \"off\""),
            ),
            Err(e) => c.add(&key("rotate_size"), e),
        },
        None => {}
    }
    match raw.rotate_age.as_ref().and_then(|g| g.typed.as_deref()) {
        Some("off") => o.rotate_age = None,
        _ => {
            let age = c.duration(
                &key("rotate_age"),
                &raw.rotate_age,
                MIN_ROTATE_AGE,
                MAX_ROTATE_AGE,
            );
            if let Some(d) = age {
                o.rotate_age = Some(d);
            }
        }
    }
    let keep_range = |v: &Value| {
        format!("`{v}` must be a whole number from 1 to {MAX_KEEP} (rotated files kept per stream)")
    };
    match c.typed(&key("keep"), &raw.keep, keep_range) {
        Some(n) if (1..=MAX_KEEP).contains(n) => o.keep = *n as usize,
        Some(n) => c.add(&key("keep"), keep_range(&Value::Integer(*n))),
        None => {}
    }
    if let Some(s) = c.string(&key("file_mode"), &raw.file_mode, "\"0640\"") {
        match u32::from_str_radix(s, 8) {
            Ok(m) if m <= 0o777 && m & 0o002 == 0 && m & 0o200 != 0 => o.file_mode = m,
            Ok(m) if m <= 0o777 && m & 0o002 != 0 => c.add(
                &key("file_mode"),
                format!("`{s}` lets every user rewrite the records; drop the world-write bit (e.g. \"0640\")"),
            ),
            Ok(m) if m <= 0o777 => c.add(&key("file_mode"), format!("`{s}`: the owner must be able to write; e.g. \"0640\"")),
            _ => c.add(&key("file_mode"), format!("`{s}` is not an octal mode; write e.g. \"0640\"")),
        }
    }
    if let Some(s) = c.string(&key("sockets"), &raw.sockets, "\"changed\"") {
        match SocketLines::from_name(s) {
            Some(m) => o.sockets = m,
            None => c.add(
                &key("sockets"),
                format!("unknown value `{s}`; use \"changed\" (only sockets whose state changed, plus heartbeats) or \"all\" (every socket every poll)"),
            ),
        }
    }
    // The lower bound is the fast tier's interval, checked once the tiers
    // are known (`heartbeats`).
    if raw.heartbeat.is_some() {
        if let Some(d) = c.duration(
            &key("heartbeat"),
            &raw.heartbeat,
            Duration::from_millis(10),
            MAX_HEARTBEAT,
        ) {
            o.heartbeat = d;
        }
    }
    if let Some(b) = c.boolean(&key("closes"), &raw.closes) {
        o.closes = b;
    }
    if let Some(s) = c.string(&key("compress"), &raw.compress, "\"zstd\"") {
        match Compression::from_name(s) {
            Some(m) => o.compress = m,
            None => c.add(
                &key("compress"),
                format!("unknown value `{s}`; use \"zstd\", \"gzip\" or \"off\" (how rotated files are compressed)"),
            ),
        }
    }
    if o.is_stdout() {
        if o.format != Format::Json {
            c.add(
                &key("format"),
                "standard output (dir = \"-\") takes json only; pick json or a directory",
            );
        }
    } else {
        for problem in super::preflight::check(&o) {
            c.add(&key("dir"), problem);
        }
    }
    o
}

fn usable_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !s.starts_with('.')
}

/// Two outputs writing the same files would interleave records: compare
/// the active file names each format uses.
fn output_collisions(outputs: &[OutputConfig], c: &mut Check) {
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    let mut stdout_seen = None;
    for (i, o) in outputs.iter().enumerate() {
        if o.dir.as_os_str().is_empty() {
            continue;
        }
        if o.is_stdout() {
            if let Some(j) = stdout_seen {
                c.add(
                    &format!("output[{i}].dir"),
                    format!("output[{j}] already writes to standard output; keep one"),
                );
            }
            stdout_seen = Some(i);
            continue;
        }
        let dir = std::fs::canonicalize(&o.dir).unwrap_or_else(|_| o.dir.components().collect());
        for name in o.format.active_file_names(&o.prefix) {
            let file = dir.join(name);
            if let Some(j) = seen.insert(file.clone(), i) {
                if j != i {
                    c.add(
                        &format!("output[{i}]"),
                        format!(
                            "writes {} like output[{j}]; give one a different prefix or dir",
                            file.display()
                        ),
                    );
                    break;
                }
            }
        }
    }
}

/// A heartbeat shorter than the fast tier's interval would write every
/// socket every poll: that is `sockets = "all"`, said plainly.
fn heartbeats(cfg: &Config, c: &mut Check) {
    let fast = cfg.tiers.get(Tier::Fast);
    if !fast.enabled {
        return;
    }
    for (i, o) in cfg.outputs.iter().enumerate() {
        if o.sockets == SocketLines::Changed && o.heartbeat < fast.interval {
            c.add(
                &format!("output[{i}].heartbeat"),
                format!(
                    "`{}` is shorter than the fast tier's interval ({}); use at least that, or sockets = \"all\"",
                    format_duration(o.heartbeat),
                    format_duration(fast.interval)
                ),
            );
        }
    }
}
