//! A NATS `.creds` file: the user's JWT, then the NKey seed that signs the
//! server's challenge for it, each between a `-----BEGIN ...-----` and a
//! `------END ...------` line (the layout `nsc` writes). It is read with a
//! ceiling and checked when the config is read, so a wrong file is named
//! by `check-config` and a reload instead of failing every connection.

use std::path::Path;

use crate::bounded_read::{BoundedReadError, read_at_most};

/// A credentials file is a few hundred bytes; far more is not one.
pub const MAX_CREDENTIALS_BYTES: u64 = 64 << 10;

/// Why a file is not usable NATS credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read it: {0}")]
    Read(BoundedReadError),
    #[error("it is empty")]
    Empty,
    #[error("it is not text")]
    NotText,
    #[error(
        "it has no user JWT section (-----BEGIN NATS USER JWT----- ... ------END NATS USER JWT------) before the seed"
    )]
    NoJwt,
    #[error("its user JWT is not a JWT (three base64url parts joined by dots)")]
    BadJwt,
    #[error(
        "it has no NKey seed section (-----BEGIN USER NKEY SEED----- ... ------END USER NKEY SEED------) after the JWT"
    )]
    NoSeed,
    #[error("its NKey seed is not a valid seed: {0}")]
    BadSeed(nkeys::error::Error),
    #[error("its NKey seed is a {0} seed, not a user seed (SU...)")]
    NotUserSeed(&'static str),
    #[error("the NATS client does not accept it: {0}")]
    Rejected(std::io::Error),
}

/// Read `path` (at most [`MAX_CREDENTIALS_BYTES`], never blocking on a
/// FIFO) and return its text once it is checked to be credentials.
pub fn load(path: &Path) -> Result<String, CredentialsError> {
    let bytes = read_at_most(path, MAX_CREDENTIALS_BYTES).map_err(CredentialsError::Read)?;
    let text = String::from_utf8(bytes).map_err(|_| CredentialsError::NotText)?;
    check(&text)?;
    Ok(text)
}

/// Check that `text` holds a user JWT and then a user NKey seed, in the
/// order the client takes them (the first two decorated sections).
pub fn check(text: &str) -> Result<(), CredentialsError> {
    if text.trim().is_empty() {
        return Err(CredentialsError::Empty);
    }
    let sections = sections(text);
    let jwt = match sections.first() {
        Some((label, body)) if label.contains("JWT") => body,
        _ => return Err(CredentialsError::NoJwt),
    };
    if !looks_like_jwt(jwt) {
        return Err(CredentialsError::BadJwt);
    }
    let seed = match sections.get(1) {
        Some((label, body)) if label.contains("SEED") => body,
        _ => return Err(CredentialsError::NoSeed),
    };
    let pair = nkeys::KeyPair::from_seed(seed).map_err(CredentialsError::BadSeed)?;
    match pair.key_pair_type() {
        nkeys::KeyPairType::User => {}
        other => return Err(CredentialsError::NotUserSeed(kind_name(&other))),
    }
    // The client parses the file its own way; it must agree.
    async_nats::ConnectOptions::with_credentials(text).map_err(CredentialsError::Rejected)?;
    Ok(())
}

/// Every `BEGIN`/`END` section in order: its label and its body (the
/// lines between, trimmed and joined).
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        let fence = line.starts_with("---") && line.ends_with("---");
        let inner = line.trim_matches('-').trim();
        match open.take() {
            None if fence && inner.starts_with("BEGIN ") => {
                open = Some((inner["BEGIN ".len()..].to_string(), String::new()));
            }
            None => {}
            Some(section) if fence && inner.starts_with("END") => out.push(section),
            Some((label, mut body)) => {
                body.push_str(line);
                open = Some((label, body));
            }
        }
    }
    out
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

fn kind_name(kind: &nkeys::KeyPairType) -> &'static str {
    use nkeys::KeyPairType::*;
    match kind {
        Server => "server",
        Cluster => "cluster",
        Operator => "operator",
        Account => "account",
        User => "user",
        Module => "module",
        Service => "service",
        Curve => "curve",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A credentials file as `nsc` lays it out, for a fresh user key; the
    /// JWT is a test double (only its shape is checked here).
    pub(crate) fn creds_text(seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUJDIn0.c2lnbmF0dXJl\n------END NATS USER JWT------\n\n\
************************* IMPORTANT *************************\n\
NKEY Seed printed below can be used to sign and prove identity.\n\n\
-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
*************************************************************\n"
        )
    }

    fn user_seed() -> String {
        nkeys::KeyPair::new_user().seed().unwrap()
    }

    #[test]
    fn a_creds_file_as_nsc_writes_it_passes() {
        check(&creds_text(&user_seed())).unwrap();
    }

    #[test]
    fn each_kind_of_wrong_file_is_told_apart() {
        let good = creds_text(&user_seed());
        let no_seed = good.split("*****").next().unwrap().to_string();
        let no_jwt = good.split_once("\n\n").unwrap().1.to_string();
        let swapped_jwt = good.replace(
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.",
            "not a jwt ",
        );
        let account = creds_text(&nkeys::KeyPair::new_account().seed().unwrap());
        let bad_checksum = {
            let seed = user_seed();
            let last = if seed.ends_with('A') { 'B' } else { 'A' };
            creds_text(&format!("{}{last}", &seed[..seed.len() - 1]))
        };
        let cases: [(&str, String, &str); 7] = [
            ("empty", String::new(), "empty"),
            ("blank", " \n\n".into(), "empty"),
            ("no seed", no_seed, "no NKey seed section"),
            ("no jwt", no_jwt, "no user JWT section"),
            ("jwt shape", swapped_jwt, "not a JWT"),
            ("account seed", account, "account seed, not a user seed"),
            ("checksum", bad_checksum, "not a valid seed"),
        ];
        for (what, text, expected) in cases {
            let e = check(&text).expect_err(what).to_string();
            assert!(e.contains(expected), "{what}: {e}");
        }
    }

    #[test]
    fn a_fifo_with_no_writer_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("nats.creds");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = load(&fifo).unwrap_err();
        assert!(matches!(e, CredentialsError::Empty), "{e}");
    }

    #[test]
    fn a_large_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.creds");
        std::fs::write(&big, vec![b'-'; MAX_CREDENTIALS_BYTES as usize + 1]).unwrap();
        let e = load(&big).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        let bin = dir.path().join("bin.creds");
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(load(&bin), Err(CredentialsError::NotText)));
    }
}
