use super::*;

fn problems(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.problems(),
    }
}

fn has(problems: &[String], key: &str, words: &str) -> bool {
    problems
        .iter()
        .any(|p| p.starts_with(&format!("{key}:")) && p.contains(words))
}

#[test]
fn full_config_parses() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[agent]
source = "linux"
log_level = "debug"
shutdown_timeout = "2s"
memory_limit = "96MiB"

[tiers.fast]
interval = "250ms"
[tiers.slow]
enabled = false

[filter]
exclude_states = ["TIME_WAIT", "listen"]
local_ports = [443]
remote_ports = [5432, 6379]

[[output]]
format = "json"
dir = "{d}"
tiers = ["fast", "aggregate"]
rotate_size = "512KiB"
rotate_age = "5m"
keep = 3
file_mode = "0600"

[[output]]
format = "csv"
dir = "{d}/new/sub"
prefix = "edge"
rotate_size = "off"
"#,
        d = dir.path().display()
    );
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.agent.source, SourceKind::Linux);
    assert_eq!(c.agent.shutdown_timeout, Duration::from_secs(2));
    assert_eq!(c.agent.memory_limit, Some(96 << 20));
    assert_eq!(c.tiers.get(Tier::Fast).interval, Duration::from_millis(250));
    assert!(!c.tiers.get(Tier::Slow).enabled);
    assert_eq!(
        c.tiers.get(Tier::Aggregate).interval,
        Duration::from_secs(300)
    );
    assert_eq!(
        c.filter.exclude_states,
        vec![TcpState::TimeWait, TcpState::Listen]
    );
    assert_eq!(c.filter.remote_ports, vec![5432, 6379]);
    assert_eq!(c.outputs.len(), 2);
    assert_eq!(c.outputs[0].tiers, vec![Tier::Fast, Tier::Aggregate]);
    assert_eq!(c.outputs[0].rotate_size, Some(512 * 1024));
    assert_eq!(c.outputs[0].keep, 3);
    assert_eq!(c.outputs[0].file_mode, 0o600);
    assert_eq!(c.outputs[1].format, Format::Csv);
    assert_eq!(c.outputs[1].prefix, "edge");
    assert_eq!(c.outputs[1].rotate_size, None);
    assert_eq!(c.outputs[1].tiers, Tier::ALL.to_vec());
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(
        r#"
bogus_top = 1
[agent]
source = "solaris"
log_level = "loud"
shutdown_timeout = "0s"
colour = "blue"

[tiers.fast]
interval = "5"
[tiers.medium]
interval = "1s"
[tiers.slow]
interval = "0ms"

[filter]
exclude_states = ["TIME_WAIT", "HALF_OPEN"]
local_ports = [70000]

[[output]]
format = "xml"
dir = "/dev/null/netpulse"
tiers = ["fast", "sometimes"]
rotate_size = "64MB"
keep = -3
file_mode = "0666"
size = 5

[[output]]
format = "csv"
dir = "-"
"#,
    );
    for (key, words) in [
        ("bogus_top", "unknown key"),
        ("agent.source", "solaris"),
        ("agent.log_level", "loud"),
        ("agent.shutdown_timeout", "out of range"),
        ("agent.colour", "unknown key"),
        ("tiers.fast.interval", "no unit"),
        ("tiers.medium", "unknown key"),
        ("tiers.slow.interval", "out of range"),
        ("filter.exclude_states[1]", "HALF_OPEN"),
        ("filter.local_ports[0]", "70000"),
        ("output[0].format", "xml"),
        ("output[0].dir", "not a directory"),
        ("output[0].tiers[1]", "sometimes"),
        ("output[0].rotate_size", "64MiB"),
        ("output[0].keep", "from 1 to"),
        ("output[0].file_mode", "world-write"),
        ("output[0].size", "unknown key"),
        ("output[1].format", "json only"),
    ] {
        assert!(has(&p, key, words), "missing `{key}` ~ `{words}` in {p:#?}");
    }
    assert_eq!(p.len(), 18, "{p:#?}");
}

#[test]
fn structural_problems() {
    let p = problems("[output]\nformat = \"json\"\n");
    assert!(has(&p, "output", "[[output]]"), "{p:?}");
    let p = problems(
        "[tiers.fast]\nenabled = false\n[tiers.standard]\nenabled = false\n[tiers.slow]\nenabled = false\n[tiers.aggregate]\nenabled = \"no\"\n",
    );
    assert!(has(&p, "tiers.aggregate.enabled", "true or false"), "{p:?}");
    assert!(has(&p, "output", "no [[output]]"), "{p:?}");
    let p = problems("[[output]]\nformat = \"json\"\n");
    assert!(has(&p, "output[0].dir", "missing"), "{p:?}");
    let e = Config::parse("[agent\n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
}

#[test]
fn tiers_all_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for t in Tier::ALL {
        text += &format!("[tiers.{}]\nenabled = false\n", t.name());
    }
    text += &format!("[[output]]\ndir = \"{}\"\n", dir.path().display());
    assert!(has(&problems(&text), "tiers", "enable at least one"));
}

#[test]
fn duplicate_files_and_unwritable_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let text = format!(
        "[[output]]\ndir = \"{d}\"\n[[output]]\ndir = \"{d}/\"\n[[output]]\ndir = \"{d}\"\nprefix = \"other\"\n[[output]]\ndir = \"{d}\"\nformat = \"csv\"\n[[output]]\ndir = \"{f}\"\n[[output]]\ndir = \"{f}/below\"\n",
        f = file.display()
    );
    let p = problems(&text);
    assert!(has(&p, "output[1]", "like output[0]"), "{p:#?}");
    assert!(has(&p, "output[4].dir", "not a directory"), "{p:#?}");
    assert!(has(&p, "output[5].dir", "not a directory"), "{p:#?}");
    assert_eq!(p.len(), 3, "{p:#?}");
}

#[test]
fn read_only_filesystem_is_not_writable() {
    // /proc/sys is mounted read-only in most containers and never writable
    // as a directory for new files.
    let p = problems("[[output]]\ndir = \"/proc/1\"\n");
    assert!(has(&p, "output[0].dir", "not writable"), "{p:#?}");
}

#[test]
fn all_keys_cover_the_parser() {
    // Every key in ALL_KEYS is accepted, and a key outside it is refused.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[agent]
source = "auto"
log_level = "info"
shutdown_timeout = "5s"
memory_limit = "off"
[tiers.fast]
enabled = true
interval = "1s"
[tiers.standard]
enabled = true
interval = "30s"
[tiers.slow]
enabled = true
interval = "60s"
[tiers.aggregate]
enabled = true
interval = "300s"
[filter]
exclude_states = []
local_ports = []
remote_ports = []
[[output]]
format = "json"
dir = "{}"
prefix = "netpulse"
tiers = ["fast"]
rotate_size = "64MiB"
rotate_age = "1h"
keep = 24
file_mode = "0640"
sockets = "changed"
heartbeat = "5m"
closes = true
compress = "zstd"
[endpoint]
unix_socket = ""
unix_socket_mode = "0660"
unix_socket_group = ""
unix_socket_world_readable = false
unix_max_clients = 16
unix_client_queue = 8
unix_write_timeout = "5s"
http_listen = ""
http_max_connections = 64
http_header_timeout = "5s"
http_connection_timeout = "60s"
http_max_request_bytes = 16384
snapshot_sockets = 1000
metrics_ports = []
per_socket_metrics = false
per_socket_metrics_limit = 200
[[nats]]
url = "nats://127.0.0.1:4222"
subject = "netpulse"
encoding = "proto"
tiers = ["fast"]
sockets = "changed"
credentials = ""
tls_ca = ""
spool_dir = "{}"
spool_max = "1GiB"
"#,
        dir.path().display(),
        dir.path().display()
    );
    let root: toml::Table = text.parse().unwrap();
    let mut keys = Vec::new();
    for (k, v) in &root {
        let tables: Vec<&toml::Table> = match v {
            toml::Value::Table(t) => vec![t],
            toml::Value::Array(a) => a.iter().filter_map(|x| x.as_table()).collect(),
            _ => vec![],
        };
        for t in tables {
            for (k2, v2) in t {
                match v2 {
                    toml::Value::Table(t3) => {
                        keys.extend(t3.keys().map(|k3| format!("{k}.{k2}.{k3}")))
                    }
                    _ => keys.push(format!("{k}.{k2}")),
                }
            }
        }
    }
    keys.sort();
    let mut all: Vec<String> = ALL_KEYS.iter().map(|s| s.to_string()).collect();
    all.sort();
    assert_eq!(keys, all);
    Config::parse(&text).unwrap();
}

#[test]
fn builtin_defaults() {
    let c = Config::builtin();
    assert_eq!(c.outputs[0].dir, Path::new(DEFAULT_DATA_DIR));
    assert_eq!(c.outputs[0].file_mode, 0o640);
    assert_eq!(
        c.tiers.get(Tier::Standard).interval,
        Duration::from_secs(30)
    );
}

#[test]
fn all_keys_match_the_raw_structs() {
    // ALL_KEYS documents the keys; the raw structs are what the parser
    // accepts. A key added to one and not the other fails here.
    use super::lenient::field_names;
    use super::raw::{RawAgent, RawFilter, RawOutput, RawTier};
    let mut fields: Vec<String> = Vec::new();
    let prefixed = |prefix: &str, names: &[&str]| -> Vec<String> {
        names.iter().map(|n| format!("{prefix}.{n}")).collect()
    };
    fields.extend(prefixed("agent", field_names::<RawAgent>()));
    for t in Tier::ALL {
        let prefix = format!("tiers.{}", t.name());
        fields.extend(prefixed(&prefix, field_names::<RawTier>()));
    }
    fields.extend(prefixed("filter", field_names::<RawFilter>()));
    fields.extend(prefixed("output", field_names::<RawOutput>()));
    fields.extend(prefixed("endpoint", field_names::<EndpointConfig>()));
    fields.extend(prefixed("nats", field_names::<super::nats::RawNats>()));
    fields.sort();
    let mut all: Vec<String> = ALL_KEYS.iter().map(|s| s.to_string()).collect();
    all.sort();
    assert_eq!(fields, all);
    assert_eq!(
        field_names::<super::raw::RawTiers>(),
        Tier::ALL.map(|t| t.name())
    );
}

#[test]
fn a_wrong_type_hides_no_other_problem() {
    // Each key of the wrong type is named with what to write, and the
    // problems of the keys around it are still reported.
    let p = problems(
        r#"
[agent]
source = 5
log_level = "loud"
shutdown_timeout = true

[tiers.fast]
enabled = "yes"
interval = "5"
[tiers.slow]
interval = 10

[filter]
exclude_states = "TIME_WAIT"
local_ports = [443, "ssh", 1.5, 0]
remote_ports = { port = 1 }

[[output]]
format = ["json"]
dir = 7
prefix = ".hidden"
tiers = ["fast", 2]
rotate_size = 64
rotate_age = 60
keep = "24"
file_mode = 640
colour = "blue"

[endpoint]
unix_max_clients = "x"
http_listen = "somewhere"
"#,
    );
    for (key, words) in [
        (
            "agent.source",
            "must be a string like \"auto\", not a integer",
        ),
        ("agent.log_level", "loud"),
        ("agent.shutdown_timeout", "must be a string like \"1s\""),
        ("tiers.fast.enabled", "must be true or false, not a string"),
        ("tiers.fast.interval", "no unit"),
        ("tiers.slow.interval", "not a integer"),
        (
            "filter.exclude_states",
            "must be a list like [...], not a string",
        ),
        ("filter.local_ports[1]", "`\"ssh\"` is not a port"),
        ("filter.local_ports[2]", "`1.5` is not a port"),
        ("filter.local_ports[3]", "`0` is not a port"),
        (
            "filter.remote_ports",
            "must be a list like [...], not a table",
        ),
        (
            "output[0].format",
            "must be a string like \"json\", not a array",
        ),
        (
            "output[0].dir",
            "must be a string like \"/var/log/netpulse\"",
        ),
        ("output[0].prefix", "not a usable file-name prefix"),
        ("output[0].tiers[1]", "`2` is not a tier"),
        (
            "output[0].rotate_size",
            "`64` must be a string like \"64MiB\"",
        ),
        ("output[0].rotate_age", "must be a string like \"1s\""),
        ("output[0].keep", "`\"24\"` must be a whole number"),
        ("output[0].file_mode", "must be a string like \"0640\""),
        ("output[0].colour", "unknown key"),
        ("endpoint.unix_max_clients", "see `[endpoint]`"),
        ("endpoint.http_listen", "is not an address"),
    ] {
        assert!(has(&p, key, words), "missing `{key}` ~ `{words}` in {p:#?}");
    }
    assert_eq!(p.len(), 22, "{p:#?}");
}

#[test]
fn a_section_must_be_a_table() {
    // serde would build a struct from a list (fields by position); the
    // config refuses it instead of reading `agent = ["linux"]` as a source.
    let p = problems("agent = [\"linux\", \"debug\"]\ntiers = 5\nfilter = []\nendpoint = \"on\"\n");
    assert!(
        has(&p, "agent", "must be a table `[agent]`, not a array"),
        "{p:#?}"
    );
    assert!(
        has(&p, "tiers", "must be a table `[tiers]`, not a integer"),
        "{p:#?}"
    );
    assert!(
        has(&p, "filter", "must be a table `[filter]`, not a array"),
        "{p:#?}"
    );
    assert!(
        has(&p, "endpoint", "must be a table `[endpoint]`, not a string"),
        "{p:#?}"
    );
    let p = problems("[tiers]\nfast = [true, \"1s\"]\n[[output]]\ndir = \"-\"\n");
    assert!(
        has(&p, "tiers.fast", "must be a table `[tiers.fast]`"),
        "{p:#?}"
    );
    let p = problems("[[output]]\ndir = 1979-05-27\n");
    assert!(has(&p, "output[0].dir", "not a datetime"), "{p:#?}");
    let p = problems("[[output]]\ndir = \"-\"\n[endpoint]\nunix_socket = 1979-05-27\n");
    assert!(
        has(&p, "endpoint.unix_socket", "expected a string"),
        "{p:#?}"
    );
    let p = problems("output = [[\"json\", \"-\"]]\n");
    assert!(
        has(&p, "output[0]", "write each output as [[output]]"),
        "{p:#?}"
    );
}

#[test]
fn nesting_the_parser_accepts_is_read_as_written() {
    // Reading values back must not nest them deeper than the file did, or
    // a value at the parser's depth limit would turn its section into
    // "not a table".
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let deepest = (1..1000)
        .take_while(|&d| {
            format!("[agent]\nsource = {}\n", nested(d))
                .parse::<toml::Table>()
                .is_ok()
        })
        .last()
        .unwrap();
    let p = problems(&format!(
        "x = {n}\n[agent]\nsource = {n}\n[[output]]\ndir = \"-\"\ntiers = {n}\n",
        n = nested(deepest)
    ));
    assert!(has(&p, "x", "unknown key"), "{p:#?}");
    assert!(has(&p, "agent.source", "must be a string like"), "{p:#?}");
    assert!(has(&p, "output[0].tiers[0]", "is not a tier"), "{p:#?}");
    assert_eq!(p.len(), 3, "{p:#?}");
}

#[test]
fn socket_lines_heartbeat_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let c = Config::builtin();
    assert_eq!(c.outputs[0].sockets, SocketLines::Changed);
    assert_eq!(c.outputs[0].heartbeat, DEFAULT_HEARTBEAT);
    assert!(c.outputs[0].closes);
    let c = Config::parse(&format!(
        "[[output]]\ndir = \"{d}\"\nsockets = \"all\"\nheartbeat = \"1h\"\ncloses = false\n"
    ))
    .unwrap();
    let o = &c.outputs[0];
    assert_eq!(
        (o.sockets, o.heartbeat, o.closes),
        (SocketLines::All, Duration::from_secs(3600), false)
    );

    let p = problems(&format!(
        "[tiers.fast]\ninterval = \"2s\"\n[[output]]\ndir = \"{d}\"\nsockets = \"some\"\n\
         [[output]]\ndir = \"{d}\"\nprefix = \"b\"\nheartbeat = \"1s\"\n\
         [[output]]\ndir = \"{d}\"\nprefix = \"c\"\nheartbeat = \"2d\"\ncloses = \"yes\"\n"
    ));
    assert!(
        has(&p, "output[0].sockets", "unknown value `some`"),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "output[1].heartbeat",
            "shorter than the fast tier's interval"
        ),
        "{p:?}"
    );
    assert!(has(&p, "output[2].heartbeat", "out of range"), "{p:?}");
    assert!(has(&p, "output[2].closes", "true or false"), "{p:?}");
    assert_eq!(p.len(), 4, "{p:?}");
    // An `all` output has no heartbeat to check.
    Config::parse(&format!(
        "[tiers.fast]\ninterval = \"2s\"\n[[output]]\ndir = \"{d}\"\nsockets = \"all\"\nheartbeat = \"1s\"\n"
    ))
    .unwrap();
}

#[test]
fn compress_defaults_to_zstd_and_names_an_unknown_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    assert_eq!(Config::builtin().outputs[0].compress, Compression::Zstd);
    for (name, want) in [
        ("zstd", Compression::Zstd),
        ("gzip", Compression::Gzip),
        ("off", Compression::Off),
    ] {
        let c = Config::parse(&format!(
            "[[output]]\ndir = \"{d}\"\ncompress = \"{name}\"\n"
        ))
        .unwrap();
        assert_eq!(c.outputs[0].compress, want, "{name}");
    }
    let p = problems(&format!(
        "[[output]]\ndir = \"{d}\"\ncompress = \"xz\"\n[[output]]\ndir = \"{d}\"\nprefix = \"b\"\ncompress = true\n"
    ));
    assert!(has(&p, "output[0].compress", "unknown value `xz`"), "{p:?}");
    assert!(has(&p, "output[1].compress", "must be a string"), "{p:?}");
    assert_eq!(p.len(), 2, "{p:?}");
}

#[test]
fn memory_limit_is_off_by_default_and_bounded() {
    assert_eq!(Config::builtin().agent.memory_limit, None);
    let dir = tempfile::tempdir().unwrap();
    let output = format!(
        "[[output]]\nformat = \"json\"\ndir = \"{}\"\n",
        dir.path().display()
    );
    let off = Config::parse(&format!("[agent]\nmemory_limit = \"off\"\n{output}")).unwrap();
    assert_eq!(off.agent.memory_limit, None);
    let on = Config::parse(&format!("[agent]\nmemory_limit = \"48MiB\"\n{output}")).unwrap();
    assert_eq!(on.agent.memory_limit, Some(48 << 20));
    for (bad, words) in [
        ("\"1MiB\"", "out of range"),
        ("\"lots\"", ""),
        ("64", "must be a string"),
    ] {
        let p = problems(&format!("[agent]\nmemory_limit = {bad}\n"));
        assert!(has(&p, "agent.memory_limit", words), "{bad}: {p:?}");
    }
}
