//! `src/config/` depends on nothing of the agent's own above it: outputs,
//! the pipeline, the endpoint and the assembly read the config, never the
//! other way round (see docs/ARCHITECTURE.md).

use std::path::Path;

/// Modules the config must not reach, however the path is written
/// (`use crate::output::...`, `crate::output::x::f()`, `use crate::{output, ...}`).
const ABOVE: [&str; 4] = ["output", "pipeline", "endpoint", "agent"];

fn reaches_above(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for m in ABOVE {
            let direct = code.contains(&format!("crate::{m}"));
            let grouped = code.contains("crate::{")
                && code.split("crate::{").nth(1).is_some_and(|g| {
                    g.split([',', '}', ' '])
                        .any(|w| w == m || w.starts_with(&format!("{m}::")))
                });
            if direct || grouped {
                found.push(format!("line {}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn config_imports_nothing_from_outputs_pipeline_endpoint_or_agent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
    let mut bad = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files += 1;
            for hit in reaches_above(&std::fs::read_to_string(&path).unwrap()) {
                bad.push(format!("{}: {hit}", path.display()));
            }
        }
    }
    assert!(files > 5, "read {files} files under {}", dir.display());
    assert!(
        bad.is_empty(),
        "config reaches above itself:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_every_way_of_writing_the_path() {
    assert_eq!(reaches_above("use crate::output::stream::x;").len(), 1);
    assert_eq!(
        reaches_above("    match crate::output::stream::credentials::load(p) {").len(),
        1
    );
    assert_eq!(
        reaches_above("use crate::{bounded_read, pipeline::Health};").len(),
        1
    );
    assert!(reaches_above("use crate::record::Tier; // crate::output is above").is_empty());
    assert!(reaches_above("use crate::{record, units};").is_empty());
}
