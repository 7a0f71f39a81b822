//! The operator's documents against the code: the README's field tables
//! name exactly the fields the outputs write, the README stays short, the
//! documents say nothing about how the work on them was organised, and
//! every example Unix socket path is the one for its platform.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netpulse::output::csv::system_columns;
use netpulse::record::{FIELDS, TcpCounterDeltas, TcpCounters};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every regular file under `rel` (or `rel` itself), sorted, skipping
/// names for which `skip` is true.
fn files_under(rel: &str, skip: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![repo().join(rel)];
    while let Some(p) = todo.pop() {
        if skip(&p) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p).unwrap() {
                todo.push(entry.unwrap().path());
            }
        } else if meta.is_file() {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The names in the first column of the table that follows `heading`:
/// every backquoted word of that cell.
fn table_names(text: &str, heading: &str) -> Vec<String> {
    let at = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no `{heading}` section"));
    let rows = text[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2); // header and separator
    let mut names = Vec::new();
    for row in rows {
        let first = row.split('|').nth(1).unwrap_or("");
        let mut parts = first.split('`');
        parts.next();
        while let Some(name) = parts.next() {
            names.push(name.to_string());
            parts.next(); // the text between two quoted names
        }
    }
    assert!(!names.is_empty(), "the table under `{heading}` is empty");
    names
}

fn set(names: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    names.into_iter().map(Into::into).collect()
}

/// Difference report: what the code has that the table lacks, and the
/// other way round.
fn compare(what: &str, code: &BTreeSet<String>, table: &BTreeSet<String>) {
    let missing: Vec<_> = code.difference(table).collect();
    let extra: Vec<_> = table.difference(code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md {what} table: missing {missing:?}, not fields of the code {extra:?}"
    );
}

#[test]
fn readme_socket_table_names_every_written_field_and_nothing_else() {
    let readme = read(&repo().join("README.md"));
    let table = table_names(&readme, "### Socket fields");
    let code = set(FIELDS.iter().filter(|f| f.is_written()).map(|f| f.name));
    let listed = set(table.iter().cloned());
    assert_eq!(
        listed.len(),
        table.len(),
        "a field is listed twice: {table:?}"
    );
    compare("socket field", &code, &listed);
}

#[test]
fn readme_system_table_names_every_system_column_and_nothing_else() {
    let readme = read(&repo().join("README.md"));
    let table = table_names(&readme, "### System fields");
    // The table writes `state_counts` once (CSV spreads it over one column
    // per state) and the counters' changes as one `*_delta` row.
    let mut expanded = BTreeSet::new();
    for name in &table {
        match name.as_str() {
            "state_counts" => {
                expanded.extend(
                    system_columns()
                        .into_iter()
                        .filter(|c| c.starts_with("state_counts_"))
                        .map(String::from),
                );
            }
            "*_delta" => expanded.extend(TcpCounterDeltas::NAMES.iter().map(|s| s.to_string())),
            other => {
                expanded.insert(other.to_string());
            }
        }
    }
    compare("system field", &set(system_columns()), &expanded);
    // Every counter has its own row (with its Linux and FreeBSD source).
    for c in TcpCounters::NAMES {
        assert!(table.iter().any(|n| n == c), "counter {c} has no row");
    }
}

#[test]
fn readme_fits_an_operator_s_screenful_budget() {
    let lines = read(&repo().join("README.md")).lines().count();
    assert!(lines <= 350, "README.md has {lines} lines; at most 350");
}

/// Literal, case-insensitive: `session`, `issue #`, `issue ` + digit.
fn organisation_words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    for (n, line) in lower.lines().enumerate() {
        let issue_ref = line.match_indices("issue ").any(|(i, m)| {
            line[i + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == '#' || c.is_ascii_digit())
        });
        if line.contains("session") || line.contains("issue #") || issue_ref {
            found.push(format!("line {}: {}", n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn documents_say_nothing_about_how_the_work_was_organised() {
    let mut files = vec![repo().join("README.md")];
    files.extend(files_under("docs", &|_| false));
    files.extend(files_under("man", &|_| false));
    let mut hits = Vec::new();
    for f in &files {
        for h in organisation_words(&read(f)) {
            hits.push(format!("{}: {h}", f.display()));
        }
    }
    assert!(hits.is_empty(), "rephrase these:\n{}", hits.join("\n"));
}

#[test]
fn organisation_word_finder_finds_what_it_should() {
    assert_eq!(organisation_words("see Issue 12\nfine\n").len(), 1);
    assert_eq!(organisation_words("issue #3").len(), 1);
    assert_eq!(organisation_words("a SESSION").len(), 1);
    assert!(organisation_words("an issue with names").is_empty());
}

/// The two example socket paths: FreeBSD has no /run, and its rc.d
/// service owns /var/run/netpulse; systemd's RuntimeDirectory is
/// /run/netpulse.
const SOCKET_PATHS: [&str; 2] = [
    "/var/run/netpulse/netpulse.sock",
    "/run/netpulse/netpulse.sock",
];

/// Every absolute path ending in `.sock` in `text` (letters, digits and
/// `/._-` before it).
fn socket_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (end, _) in text.match_indices(".sock") {
        let after = text[end + 5..].chars().next();
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `.socket`, `.sock_diag`
        }
        let start = text[..end]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c)))
            .map_or(0, |i| i + 1);
        let path = &text[start..end + 5];
        if path.starts_with('/') {
            out.push(path.to_string());
        }
    }
    out
}

#[test]
fn every_example_socket_path_is_the_one_for_its_platform() {
    let skip_build = |p: &Path| p.ends_with("target") || p.ends_with(".git");
    let mut files = vec![repo().join("README.md"), repo().join("CHANGELOG.md")];
    for dir in ["docs", "man", "etc", "rc.d", "packaging", "src"] {
        files.extend(files_under(dir, &skip_build));
    }
    let mut seen = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue; // binary
        };
        for p in socket_paths(&text) {
            seen += 1;
            if !SOCKET_PATHS.contains(&p.as_str()) {
                wrong.push(format!("{}: {p}", f.display()));
            }
        }
    }
    assert!(
        seen >= 6,
        "only {seen} example socket paths found: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "use {SOCKET_PATHS:?} as example socket paths:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn socket_path_finder_finds_what_it_should() {
    assert_eq!(
        socket_paths("a \"/var/run/netpulse.sock\" b /tmp/x.socket c.sock_diag"),
        vec!["/var/run/netpulse.sock".to_string()]
    );
}
