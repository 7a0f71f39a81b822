//! Walk the TOML tree, collecting every problem instead of stopping at the
//! first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::{Table, Value};

use super::units::{format_duration, parse_duration, parse_size};
use super::{
    AgentConfig, Config, ConfigError, EndpointConfig, FilterConfig, Format, OutputConfig,
    TierConfig, TiersConfig,
};
use crate::platform::SourceKind;
use crate::record::{TcpState, Tier};

const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
const MIN_SHUTDOWN: Duration = Duration::from_millis(100);
const MAX_SHUTDOWN: Duration = Duration::from_secs(600);
const MIN_ROTATE_SIZE: u64 = 1 << 10;
const MAX_ROTATE_SIZE: u64 = 1 << 40;
/// Below this the agent could not hold its own code and runtime.
const MIN_MEMORY_LIMIT: u64 = 8 << 20;
const MAX_MEMORY_LIMIT: u64 = 1 << 40;
const MIN_ROTATE_AGE: Duration = Duration::from_secs(1);
const MAX_KEEP: i64 = 100_000;
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Problems found so far.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("{key}: {msg}"));
    }

    /// Report every key of `t` not in `known` as unknown.
    fn unknown_keys(&mut self, t: &Table, prefix: &str, known: &[&str]) {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                self.add(
                    &format!("{prefix}{k}"),
                    format!("unknown key; remove it or use one of: {}", known.join(", ")),
                );
            }
        }
    }

    fn table<'a>(&mut self, parent: &'a Table, key: &str, full: &str) -> Option<&'a Table> {
        match parent.get(key)? {
            Value::Table(t) => Some(t),
            other => {
                let what = other.type_str();
                self.add(full, format!("must be a table `[{full}]`, not a {what}"));
                None
            }
        }
    }

    fn string<'a>(&mut self, t: &'a Table, key: &str, full: &str, eg: &str) -> Option<&'a str> {
        match t.get(key)? {
            Value::String(s) => Some(s),
            other => {
                let what = other.type_str();
                self.add(full, format!("must be a string like {eg}, not a {what}"));
                None
            }
        }
    }

    fn boolean(&mut self, t: &Table, key: &str, full: &str) -> Option<bool> {
        match t.get(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                let what = other.type_str();
                self.add(full, format!("must be true or false, not a {what}"));
                None
            }
        }
    }

    fn duration(
        &mut self,
        t: &Table,
        key: &str,
        full: &str,
        lo: Duration,
        hi: Duration,
    ) -> Option<Duration> {
        let s = self.string(t, key, full, "\"1s\" or \"250ms\"")?;
        match parse_duration(s) {
            Ok(d) if d < lo || d > hi => {
                self.add(
                    full,
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
                self.add(full, e);
                None
            }
        }
    }

    fn list<'a>(&mut self, t: &'a Table, key: &str, full: &str) -> Option<&'a [Value]> {
        match t.get(key)? {
            Value::Array(a) => Some(a),
            other => {
                let what = other.type_str();
                self.add(full, format!("must be a list like [...], not a {what}"));
                None
            }
        }
    }
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    let root: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            origin: String::new(),
            message: e.to_string().trim_end().to_string(),
        })?;
    let mut p = Problems::default();
    let cfg = parse_root(&root, &mut p);
    if p.0.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid {
            origin: String::new(),
            problems: p.0,
        })
    }
}

fn parse_root(root: &Table, p: &mut Problems) -> Config {
    p.unknown_keys(
        root,
        "",
        &["agent", "tiers", "filter", "output", "endpoint"],
    );
    let mut cfg = Config {
        agent: AgentConfig::default(),
        tiers: TiersConfig::default(),
        filter: FilterConfig::default(),
        outputs: Vec::new(),
        endpoint: Default::default(),
    };
    if let Some(t) = p.table(root, "endpoint", "endpoint") {
        cfg.endpoint = parse_endpoint(t, p);
    }
    if let Some(t) = p.table(root, "agent", "agent") {
        cfg.agent = parse_agent(t, p);
    }
    if let Some(t) = p.table(root, "tiers", "tiers") {
        cfg.tiers = parse_tiers(t, p);
    }
    if Tier::ALL.iter().all(|&t| !cfg.tiers.get(t).enabled) {
        p.add(
            "tiers",
            "every tier is disabled; enable at least one (e.g. [tiers.fast] enabled = true)",
        );
    }
    if let Some(t) = p.table(root, "filter", "filter") {
        cfg.filter = parse_filter(t, p);
    }
    match root.get("output") {
        None => p.add(
            "output",
            "no [[output]] section; add at least one, e.g. [[output]] format = \"json\" dir = \"/var/log/netpulse\"",
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let full = format!("output[{i}]");
                match item {
                    Value::Table(t) => cfg.outputs.push(parse_output(t, &full, p)),
                    _ => p.add(&full, "must be a table; write each output as [[output]]"),
                }
            }
            check_output_collisions(&cfg.outputs, p);
        }
        Some(_) => p.add("output", "must be written [[output]] (an array of tables), not [output]"),
    }
    cfg
}

/// `[endpoint]`: unknown keys named here, types by serde, values by the
/// endpoint's own validation (every problem, each with what to do).
fn parse_endpoint(t: &Table, p: &mut Problems) -> EndpointConfig {
    use super::endpoint::ALL_KEYS as KEYS;
    p.unknown_keys(t, "endpoint.", KEYS);
    // One key at a time, so a wrong type in one key does not hide the
    // problems of the others.
    let mut good = Table::new();
    for (k, v) in t.iter().filter(|(k, _)| KEYS.contains(&k.as_str())) {
        let mut one = Table::new();
        one.insert(k.clone(), v.clone());
        let r: Result<EndpointConfig, toml::de::Error> =
            serde::Deserialize::deserialize(Value::Table(one));
        match r {
            Ok(_) => {
                good.insert(k.clone(), v.clone());
            }
            Err(e) => p.add(
                &format!("endpoint.{k}"),
                format!("{}; see `[endpoint]` in netpulse.toml(5)", e.message()),
            ),
        }
    }
    let r: Result<EndpointConfig, toml::de::Error> =
        serde::Deserialize::deserialize(Value::Table(good));
    let cfg = r.unwrap_or_default();
    if let Err(problems) = EndpointConfig::validate(&cfg) {
        p.0.extend(problems);
    }
    cfg
}

fn parse_agent(t: &Table, p: &mut Problems) -> AgentConfig {
    p.unknown_keys(
        t,
        "agent.",
        &["source", "log_level", "shutdown_timeout", "memory_limit"],
    );
    let mut a = AgentConfig::default();
    if let Some(s) = p.string(t, "source", "agent.source", "\"auto\"") {
        match SourceKind::from_name(s) {
            Some(k) => a.source = k,
            None => p.add(
                "agent.source",
                format!(
                    "unknown source `{s}`; use one of {}",
                    SourceKind::NAMES.join(", ")
                ),
            ),
        }
    }
    if let Some(s) = p.string(t, "log_level", "agent.log_level", "\"info\"") {
        if LOG_LEVELS.contains(&s) {
            a.log_level = s.to_string();
        } else {
            p.add(
                "agent.log_level",
                format!("unknown level `{s}`; use one of {}", LOG_LEVELS.join(", ")),
            );
        }
    }
    if let Some(d) = p.duration(
        t,
        "shutdown_timeout",
        "agent.shutdown_timeout",
        MIN_SHUTDOWN,
        MAX_SHUTDOWN,
    ) {
        a.shutdown_timeout = d;
    }
    match t.get("memory_limit") {
        Some(Value::String(s)) if s == "off" => a.memory_limit = None,
        Some(Value::String(s)) => match parse_size(s) {
            Ok(n) if (MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&n) => a.memory_limit = Some(n),
            Ok(_) => p.add(
                "agent.memory_limit",
                format!("`{s}` is out of range; use 8MiB to 1TiB, or \"off\""),
            ),
            Err(e) => p.add("agent.memory_limit", e),
        },
        Some(v) => p.add(
            "agent.memory_limit",
            format!("`{v}` must be a string like \"64MiB\" or \"off\""),
        ),
        None => {}
    }
    a
}

fn parse_tiers(t: &Table, p: &mut Problems) -> TiersConfig {
    let names: Vec<&str> = Tier::ALL.iter().map(|t| t.name()).collect();
    p.unknown_keys(t, "tiers.", &names);
    let mut tiers = TiersConfig::default();
    for tier in Tier::ALL {
        let full = format!("tiers.{}", tier.name());
        let Some(tt) = p.table(t, tier.name(), &full) else {
            continue;
        };
        p.unknown_keys(tt, &format!("{full}."), &["enabled", "interval"]);
        let mut c = tiers.get(tier);
        if let Some(b) = p.boolean(tt, "enabled", &format!("{full}.enabled")) {
            c.enabled = b;
        }
        let key = format!("{full}.interval");
        if let Some(d) = p.duration(tt, "interval", &key, MIN_INTERVAL, MAX_INTERVAL) {
            if d.subsec_nanos() % 1_000_000 != 0 {
                p.add(&key, "must be a whole number of milliseconds");
            } else {
                c.interval = d;
            }
        }
        tiers.set(tier, TierConfig { ..c });
    }
    tiers
}

fn parse_filter(t: &Table, p: &mut Problems) -> FilterConfig {
    p.unknown_keys(
        t,
        "filter.",
        &["exclude_states", "local_ports", "remote_ports"],
    );
    let mut f = FilterConfig::default();
    if let Some(items) = p.list(t, "exclude_states", "filter.exclude_states") {
        for (i, v) in items.iter().enumerate() {
            let key = format!("filter.exclude_states[{i}]");
            match v.as_str().map(|s| (s, TcpState::from_name(s))) {
                Some((_, Some(st))) => f.exclude_states.push(st),
                Some((s, None)) => p.add(
                    &key,
                    format!(
                        "unknown TCP state `{s}`; use one of {}",
                        TcpState::ALL.map(|s| s.name()).join(", ")
                    ),
                ),
                None => p.add(&key, "must be a state name string like \"TIME_WAIT\""),
            }
        }
    }
    f.local_ports = ports(t, "local_ports", p);
    f.remote_ports = ports(t, "remote_ports", p);
    f
}

fn ports(t: &Table, key: &str, p: &mut Problems) -> Vec<u16> {
    let mut out = Vec::new();
    let full = format!("filter.{key}");
    for (i, v) in p.list(t, key, &full).unwrap_or_default().iter().enumerate() {
        match v.as_integer().map(u16::try_from) {
            Some(Ok(port)) if port > 0 => out.push(port),
            _ => p.add(
                &format!("{full}[{i}]"),
                format!("`{v}` is not a port; use 1 to 65535"),
            ),
        }
    }
    out
}

fn parse_output(t: &Table, full: &str, p: &mut Problems) -> OutputConfig {
    let known = [
        "format",
        "dir",
        "prefix",
        "tiers",
        "rotate_size",
        "rotate_age",
        "keep",
        "file_mode",
    ];
    p.unknown_keys(t, &format!("{full}."), &known);
    let key = |k: &str| format!("{full}.{k}");
    let mut o = OutputConfig::default_json(PathBuf::new());
    if let Some(s) = p.string(t, "format", &key("format"), "\"json\"") {
        match Format::from_name(s) {
            Some(f) => o.format = f,
            None => p.add(
                &key("format"),
                format!("unknown format `{s}`; use json, csv or proto"),
            ),
        }
    }
    match p.string(t, "dir", &key("dir"), "\"/var/log/netpulse\"") {
        Some("") => p.add(
            &key("dir"),
            "is empty; give a directory, or \"-\" for standard output",
        ),
        Some(s) => o.dir = PathBuf::from(s),
        None if !t.contains_key("dir") => p.add(
            &key("dir"),
            "is missing; give the directory the files go to (e.g. \"/var/log/netpulse\")",
        ),
        None => {}
    }
    if let Some(s) = p.string(t, "prefix", &key("prefix"), "\"netpulse\"") {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !s.starts_with('.');
        if ok {
            o.prefix = s.to_string();
        } else {
            p.add(
                &key("prefix"),
                format!("`{s}` is not a usable file-name prefix; use 1-64 letters, digits, '-', '_' or '.' (not first)"),
            );
        }
    }
    if let Some(items) = p.list(t, "tiers", &key("tiers")) {
        o.tiers.clear();
        for (i, v) in items.iter().enumerate() {
            match v.as_str().map(|s| (s, Tier::from_name(s))) {
                Some((_, Some(tier))) if !o.tiers.contains(&tier) => o.tiers.push(tier),
                Some((_, Some(_))) => {}
                _ => p.add(
                    &format!("{full}.tiers[{i}]"),
                    format!("`{v}` is not a tier; use fast, standard, slow or aggregate"),
                ),
            }
        }
        if items.is_empty() {
            p.add(
                &key("tiers"),
                "is empty; list the tiers to write, or remove the output",
            );
        }
    }
    match t.get("rotate_size") {
        Some(Value::String(s)) if s == "off" => o.rotate_size = None,
        Some(Value::String(s)) => match parse_size(s) {
            Ok(n) if (MIN_ROTATE_SIZE..=MAX_ROTATE_SIZE).contains(&n) => o.rotate_size = Some(n),
            Ok(_) => p.add(
                &key("rotate_size"),
                format!("`{s}` is out of range; use 1KiB to 1TiB, or \"off\""),
            ),
            Err(e) => p.add(&key("rotate_size"), e),
        },
        Some(v) => p.add(
            &key("rotate_size"),
            format!("`{v}` must be a string like \"64MiB\" or \"off\""),
        ),
        None => {}
    }
    match t.get("rotate_age") {
        Some(Value::String(s)) if s == "off" => o.rotate_age = None,
        Some(_) => {
            if let Some(d) = p.duration(
                t,
                "rotate_age",
                &key("rotate_age"),
                MIN_ROTATE_AGE,
                Duration::from_secs(366 * 86_400),
            ) {
                o.rotate_age = Some(d);
            }
        }
        None => {}
    }
    match t.get("keep") {
        Some(Value::Integer(n)) if (1..=MAX_KEEP).contains(n) => o.keep = *n as usize,
        Some(v) => p.add(
            &key("keep"),
            format!(
                "`{v}` must be a whole number from 1 to {MAX_KEEP} (rotated files kept per stream)"
            ),
        ),
        None => {}
    }
    if let Some(s) = p.string(t, "file_mode", &key("file_mode"), "\"0640\"") {
        match u32::from_str_radix(s, 8) {
            Ok(m) if m <= 0o777 && m & 0o002 == 0 && m & 0o200 != 0 => o.file_mode = m,
            Ok(m) if m <= 0o777 && m & 0o002 != 0 => p.add(
                &key("file_mode"),
                format!("`{s}` lets every user rewrite the records; drop the world-write bit (e.g. \"0640\")"),
            ),
            Ok(m) if m <= 0o777 => p.add(&key("file_mode"), format!("`{s}`: the owner must be able to write; e.g. \"0640\"")),
            _ => p.add(&key("file_mode"), format!("`{s}` is not an octal mode; write e.g. \"0640\"")),
        }
    }
    if o.is_stdout() {
        if o.format != Format::Json {
            p.add(
                &key("format"),
                "standard output (dir = \"-\") takes json only; pick json or a directory",
            );
        }
    } else {
        for problem in super::preflight::check(&o) {
            p.add(&key("dir"), problem);
        }
    }
    o
}

/// Two outputs writing the same files would interleave records: compare
/// the active file names each format uses.
fn check_output_collisions(outputs: &[OutputConfig], p: &mut Problems) {
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    let mut stdout_seen = None;
    for (i, o) in outputs.iter().enumerate() {
        if o.dir.as_os_str().is_empty() {
            continue;
        }
        if o.is_stdout() {
            if let Some(j) = stdout_seen {
                p.add(
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
                    p.add(
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
