//! Property tests (bounded, run in CI) over every FreeBSD parser: arbitrary
//! bytes and corrupted real fixtures give a clear error or a counted skip,
//! never a panic, and never more records than the bytes can hold.

use netpulse::platform::freebsd::layout::{XINPGEN_SIZE, XTCPCB_SIZE};
use netpulse::platform::freebsd::{kern_file, kinfo_proc, pcblist, tcp_states, tcpstat};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    crate::support::fixtures::read("freebsd/fixtures", name)
}

fn all_parsers(b: &[u8]) {
    let mut out = Vec::new();
    match pcblist::parse(b, "fuzz", 0, &mut out) {
        Ok(s) => {
            assert_eq!(s.records, out.len());
            assert!(out.len() <= b.len().saturating_sub(2 * XINPGEN_SIZE) / XTCPCB_SIZE);
        }
        Err(e) => {
            assert!(out.is_empty());
            assert!(e.to_string().contains("at byte"), "{e}");
        }
    }
    if let Ok(files) = kern_file::parse(b, "fuzz") {
        assert!(files.len() <= b.len() / 128);
    }
    let _ = kinfo_proc::parse(b, "fuzz");
    let _ = tcpstat::parse(b, "fuzz");
    let _ = tcp_states::parse(b, "fuzz");
}

/// A corruption of a real dump: overwrite bytes, cut, or splice.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// Write a u64 (a length or generation) at an 8-aligned spot.
    Word(usize, u64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Edit::Insert(i, v)),
        (
            any::<usize>(),
            prop_oneof![
                Just(0u64),
                Just(64),
                Just(128),
                Just(744),
                Just(1088),
                any::<u64>()
            ]
        )
            .prop_map(|(i, v)| Edit::Word(i, v)),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        if b.is_empty() {
            break;
        }
        match e {
            Edit::Set(i, v) => {
                let n = b.len();
                b[i % n] = *v;
            }
            Edit::Truncate(i) => b.truncate(i % b.len()),
            Edit::Insert(i, v) => {
                let at = i % b.len();
                b.splice(at..at, v.iter().copied());
            }
            Edit::Word(i, v) => {
                let at = (i % b.len()) / 8 * 8;
                let end = (at + 8).min(b.len());
                b[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..3000)) {
        all_parsers(&b);
    }

    #[test]
    fn corrupted_fixtures_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let name = ["pcblist", "kern_file", "kern_proc", "tcp_stats", "tcp_states"][which];
        all_parsers(&apply(fixture(name), &edits));
    }

    /// Records recombined in any order and number (with wrong counts and
    /// generations) parse to exactly those records.
    #[test]
    fn any_sequence_of_valid_records_parses(
        picks in prop::collection::vec(0usize..6, 0..20),
        count in any::<u32>(),
        gens in (any::<u64>(), any::<u64>()),
    ) {
        let f = fixture("pcblist");
        let mut head = f[..XINPGEN_SIZE].to_vec();
        head[8..12].copy_from_slice(&count.to_le_bytes());
        head[16..24].copy_from_slice(&gens.0.to_le_bytes());
        let mut tail = head.clone();
        tail[16..24].copy_from_slice(&gens.1.to_le_bytes());
        let mut b = head;
        for p in &picks {
            let at = XINPGEN_SIZE + p * XTCPCB_SIZE;
            b.extend_from_slice(&f[at..at + XTCPCB_SIZE]);
        }
        b.extend_from_slice(&tail);
        let mut out = Vec::new();
        let s = pcblist::parse(&b, "fuzz", 0, &mut out).unwrap();
        prop_assert_eq!(out.len(), picks.len());
        prop_assert_eq!(s.consistent(), gens.0 == gens.1 && picks.len() <= count as usize);
        let ids: Vec<u64> = out.iter().map(|r| r.sock_id().unwrap()).collect();
        let want: Vec<u64> = picks.iter().map(|p| [901, 5, 902, 870, 903, 904][*p]).collect();
        prop_assert_eq!(ids, want);
    }
}
