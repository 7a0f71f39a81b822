//! Property tests (bounded, run in CI) over every macOS parser: truncation
//! at every byte, absurd item lengths, corrupted real fixtures and
//! arbitrary bytes give a clear error or a counted skip, never a panic, and
//! never more records than the bytes can hold.

use netpulse::platform::macos::layout::{SOCKET_FDINFO_SIZE, XINPGEN_SIZE};
use netpulse::platform::macos::pcblist_n::ITEM_SET_SIZE;
use netpulse::platform::macos::{bsdinfo, fdinfo, pcblist_n, tcpstat};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    crate::support::fixtures::read("macos/fixtures", name)
}

/// Parse with the pcblist_n parser and check what any outcome must hold.
fn pcblist_n_holds(b: &[u8]) -> Result<usize, String> {
    let mut out = Vec::new();
    match pcblist_n::parse(b, "fuzz", 0, &mut out) {
        Ok(s) => {
            assert_eq!(s.records, out.len());
            assert!(out.len() <= b.len().saturating_sub(XINPGEN_SIZE) / ITEM_SET_SIZE);
            Ok(out.len())
        }
        Err(e) => {
            assert!(out.is_empty(), "an error leaves no records");
            let msg = e.to_string();
            assert!(msg.contains("fuzz") && msg.contains("at byte"), "{msg}");
            Err(msg)
        }
    }
}

fn all_parsers(b: &[u8]) {
    let _ = pcblist_n_holds(b);
    for chunk in b.chunks(SOCKET_FDINFO_SIZE) {
        let _ = fdinfo::decode(chunk, 0);
    }
    let _ = fdinfo::fd_list(b).count();
    let _ = bsdinfo::decode(b);
    let _ = tcpstat::parse(b, "fuzz");
}

#[test]
fn pcblist_n_truncated_at_every_byte_is_a_clear_error() {
    let b = fixture("pcblist_n");
    for cut in 0..b.len() {
        let err = pcblist_n_holds(&b[..cut])
            .expect_err(&format!("a dump cut at byte {cut} must not parse"));
        assert!(
            err.contains("truncated") || err.contains("header"),
            "cut at {cut}: {err}"
        );
    }
    assert_eq!(pcblist_n_holds(&b), Ok(5));
}

#[test]
fn other_fixtures_truncated_at_every_byte_do_not_panic() {
    let fd = fixture("socket_fdinfo");
    for cut in 0..SOCKET_FDINFO_SIZE {
        assert!(matches!(
            fdinfo::decode(&fd[..cut], 0),
            Err(fdinfo::NotTcp::Malformed(_))
        ));
    }
    let st = fixture("tcp_stats");
    for cut in 0..st.len() {
        let _ = tcpstat::parse(&st[..cut], "fuzz");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any item's length word set to any value, including absurd ones.
    #[test]
    fn pcblist_n_absurd_item_length(conn in 0usize..5, item in 0usize..6, len in prop_oneof![
        Just(0u32), Just(1), Just(7), Just(24), Just(u32::MAX), Just(i32::MAX as u32),
        any::<u32>()
    ]) {
        let mut b = fixture("pcblist_n");
        let pad = |n: usize| (n + 7) & !7;
        let sizes = [104usize, 104, 32, 32, 136, 204];
        let off = XINPGEN_SIZE + conn * ITEM_SET_SIZE + sizes[..item].iter().map(|s| pad(*s)).sum::<usize>();
        let orig = u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
        b[off..off + 4].copy_from_slice(&len.to_le_bytes());
        let r = pcblist_n_holds(&b);
        if len == orig {
            prop_assert_eq!(r, Ok(5));
        } else {
            // Only a length that reads as the trailer at the start of a
            // connection could be taken otherwise; it must still fail.
            prop_assert!(r.is_err(), "length {} at byte {} was accepted", len, off);
        }
    }

    /// Random overwrites, cuts and splices of the real dump.
    #[test]
    fn pcblist_n_corrupted(edits in prop::collection::vec(
        (any::<usize>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut b = fixture("pcblist_n");
        for (i, v, op) in edits {
            if b.is_empty() { break; }
            let at = i % b.len();
            match op {
                0 => b[at] = v,
                1 => b.truncate(at),
                _ => b.insert(at, v),
            }
        }
        let _ = pcblist_n_holds(&b);
    }

    #[test]
    fn arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..4096)) {
        all_parsers(&b);
    }

    /// Arbitrary bytes behind a valid header, so the item walk is reached.
    #[test]
    fn arbitrary_items_after_a_valid_header(tail in prop::collection::vec(any::<u8>(), 0..3000)) {
        let mut b = fixture("pcblist_n")[..XINPGEN_SIZE].to_vec();
        b.extend_from_slice(&tail);
        let _ = pcblist_n_holds(&b);
    }
}
