//! `man/netpulse.8` describes every subcommand and every option the real
//! binary accepts, as its `--help` lists them: a new option without a line
//! in the manual page fails here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(args)
        .arg("--help")
        .output()
        .expect("running netpulse --help");
    assert!(
        out.status.success(),
        "netpulse {args:?} --help: {}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Subcommand names from the `Commands:` block of the top-level help.
fn subcommands(top: &str) -> Vec<String> {
    top.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Long options (`--format`) named in a help text.
fn long_options(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '=')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

/// Whether `page` has `flag` as a whole word (not as the start of a longer
/// option name).
fn mentions(page: &str, flag: &str) -> bool {
    page.match_indices(flag).any(|(i, _)| {
        page[i + flag.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    })
}

#[test]
fn manual_page_covers_every_subcommand_and_option() {
    let page_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/netpulse.8");
    let page = std::fs::read_to_string(&page_path).expect("man/netpulse.8");
    let top = help(&[]);
    let subs = subcommands(&top);
    assert!(subs.len() >= 5, "subcommands found in --help: {subs:?}");
    let mut checked = 0;
    for opt in long_options(&top) {
        let flag = format!("Fl -{}", &opt[2..]);
        assert!(
            mentions(&page, &flag),
            "man/netpulse.8 does not mention `netpulse {opt}`"
        );
        checked += 1;
    }
    for sub in &subs {
        assert!(
            page.lines().any(|l| l == format!(".Cm {sub}")),
            "man/netpulse.8's SYNOPSIS has no `.Cm {sub}`"
        );
        assert!(
            page.lines()
                .any(|l| l.starts_with(&format!(".It Cm {sub}"))),
            "man/netpulse.8 does not describe `{sub}` (.It Cm {sub})"
        );
        for opt in long_options(&help(&[sub])) {
            // mdoc writes --format as `Fl -format`.
            let flag = format!("Fl -{}", &opt[2..]);
            assert!(
                mentions(&page, &flag),
                "man/netpulse.8 does not mention `netpulse {sub} {opt}` ({flag})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} options checked");
}
