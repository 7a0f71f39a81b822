//! Reading `net.inet.tcp.pcblist` live: one table per scan, read again when
//! its generation changed during the copy, with the idle-time wrap applied
//! over successive scans. Generic over the read itself, so that it is
//! tested on every platform; `live.rs` passes the sysctl.

use std::io;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::idle_wrap::IdleWrap;
use super::pcblist;
use super::warn_interval::WarnInterval;
use crate::platform::{ScanStats, SourceError};
use crate::record::SocketRecord;

/// A table whose generation changed while it was copied out is read once
/// more, then used as it is. The kernel already leaves out pcbs born after
/// the header's generation, so a changed table is at worst missing a few
/// that closed meanwhile; on a busy host something changes during nearly
/// every read, and each further attempt would cost a whole table again.
const GENERATION_RETRIES: usize = 1;

/// Warnings about changed tables: at most one per this interval.
const INCONSISTENT_WARN_EVERY: Duration = Duration::from_secs(300);

pub struct PcblistReader {
    buf: Vec<u8>,
    changed: WarnInterval,
    idle: IdleWrap,
}

impl PcblistReader {
    /// For a kernel whose clock runs at `hz` (`kern.hz`).
    pub fn new(hz: u32) -> PcblistReader {
        PcblistReader {
            buf: Vec::new(),
            changed: WarnInterval::new(INCONSISTENT_WARN_EVERY),
            idle: IdleWrap::new(hz),
        }
    }

    /// One table into `out`, stamped with `ts` (nanoseconds since the
    /// epoch), with the TCP generation it was read at. `read` fills the
    /// buffer with the sysctl's bytes.
    pub fn read(
        &mut self,
        ts: u64,
        out: &mut Vec<SocketRecord>,
        read: impl FnMut(&mut Vec<u8>) -> io::Result<()>,
    ) -> Result<(ScanStats, u64), SourceError> {
        let start = out.len();
        let (stats, generation) = read_consistent(&mut self.buf, &mut self.changed, ts, out, read)?;
        self.idle
            .apply(ts / 1_000_000, generation, &mut out[start..]);
        Ok((stats, generation))
    }

    /// Forget what earlier reads showed (the probe read at open, which is
    /// not a scan).
    pub fn forget_history(&mut self) {
        self.idle = IdleWrap::new(self.idle.hz());
    }
}

/// Read and parse until header and trailer agree, at most
/// `GENERATION_RETRIES` times more; a table still changed is used as read,
/// marked inconsistent, with a rate-limited warning.
fn read_consistent(
    buf: &mut Vec<u8>,
    changed: &mut WarnInterval,
    ts: u64,
    out: &mut Vec<SocketRecord>,
    mut read: impl FnMut(&mut Vec<u8>) -> io::Result<()>,
) -> Result<(ScanStats, u64), SourceError> {
    let start = out.len();
    let mut attempt = 0;
    loop {
        read(buf).map_err(|e| SourceError::io(pcblist::SYSCTL, e))?;
        out.truncate(start);
        let s = pcblist::parse(buf, pcblist::SYSCTL, ts, out)?;
        let stats = ScanStats {
            skipped: s.skipped,
            inconsistent: !s.consistent(),
        };
        if s.consistent() {
            return Ok((stats, s.header_gen));
        }
        debug!(
            "{}: generation {} → {} during read {attempt}",
            pcblist::SYSCTL,
            s.header_gen,
            s.trailer_gen
        );
        if attempt == GENERATION_RETRIES {
            if let Some(n) = changed.occurred(Instant::now()) {
                warn!(
                    "{}: the socket table changed while it was read, twice in a row, {n} \
                     time(s) since the last such warning; used as read (sockets that closed \
                     meanwhile may be missing)",
                    pcblist::SYSCTL
                );
            }
            return Ok((stats, s.header_gen));
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::platform::freebsd::layout::{XIG_COUNT, XIG_GEN, XINPGEN_SIZE, XT_T_STATE};

    /// The byte-exact pcblist fixture: 6 records, header and trailer at
    /// generation 1000.
    fn fixture() -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/freebsd/fixtures/pcblist.bin");
        std::fs::read(path).unwrap()
    }

    /// The fixture with its header and trailer at these generations.
    fn table(header_gen: u64, trailer_gen: u64) -> Vec<u8> {
        let mut b = fixture();
        let trailer = b.len() - XINPGEN_SIZE;
        b[XIG_GEN.offset..XIG_GEN.end()].copy_from_slice(&header_gen.to_le_bytes());
        b[trailer + XIG_GEN.offset..trailer + XIG_GEN.end()]
            .copy_from_slice(&trailer_gen.to_le_bytes());
        b
    }

    /// Test double of the sysctl read: hands out one table per call, in
    /// order, or an error at a chosen call, and counts the calls.
    struct TablesDouble {
        tables: Vec<Vec<u8>>,
        fail_at: Option<usize>,
        reads: usize,
    }

    impl TablesDouble {
        fn new(tables: Vec<Vec<u8>>) -> TablesDouble {
            TablesDouble {
                tables,
                fail_at: None,
                reads: 0,
            }
        }

        fn read(&mut self) -> impl FnMut(&mut Vec<u8>) -> io::Result<()> + '_ {
            |buf| {
                let i = self.reads;
                self.reads += 1;
                if self.fail_at == Some(i) {
                    return Err(io::Error::from_raw_os_error(libc::EPERM));
                }
                let t = self
                    .tables
                    .get(i)
                    .expect("the reader asked for more tables than the test gave");
                buf.clear();
                buf.extend_from_slice(t);
                Ok(())
            }
        }
    }

    fn consistent_read(
        tables: &mut TablesDouble,
        changed: &mut WarnInterval,
        out: &mut Vec<SocketRecord>,
    ) -> Result<(ScanStats, u64), SourceError> {
        read_consistent(&mut Vec::new(), changed, 77, out, tables.read())
    }

    #[test]
    fn a_consistent_table_is_read_once() {
        let mut tables = TablesDouble::new(vec![table(1000, 1000)]);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        let mut out = Vec::new();
        let (stats, generation) = consistent_read(&mut tables, &mut changed, &mut out).unwrap();
        assert_eq!(tables.reads, 1);
        assert_eq!(generation, 1000);
        assert_eq!(stats, ScanStats::default());
        assert_eq!(out.len(), 6);
        assert!(out.iter().all(|r| r.ts == 77));
        assert_eq!(
            changed.occurred(Instant::now()),
            Some(1),
            "no warning was counted"
        );
    }

    #[test]
    fn a_changed_table_is_read_again_and_the_second_used() {
        let mut tables = TablesDouble::new(vec![table(1000, 1001), table(1002, 1002)]);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        let mut out = Vec::new();
        let (stats, generation) = consistent_read(&mut tables, &mut changed, &mut out).unwrap();
        assert_eq!(tables.reads, 2);
        assert_eq!(generation, 1002, "the second read's generation");
        assert!(!stats.inconsistent);
        assert_eq!(out.len(), 6, "the first read's records are dropped");
        assert_eq!(changed.occurred(Instant::now()), Some(1), "no warning");
    }

    #[test]
    fn a_table_changed_at_every_retry_is_used_as_read_with_one_warning_per_interval() {
        assert_eq!(GENERATION_RETRIES, 1);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        for (round, (h, t)) in [(1000, 1001), (2000, 2001)].into_iter().enumerate() {
            // A third table would be consistent: it must not be asked for.
            let mut tables =
                TablesDouble::new(vec![table(h, t), table(h + 2, t + 2), table(h + 4, h + 4)]);
            let mut out = Vec::new();
            let (stats, generation) = consistent_read(&mut tables, &mut changed, &mut out).unwrap();
            assert_eq!(tables.reads, GENERATION_RETRIES + 1, "round {round}");
            assert_eq!(generation, h + 2, "the last read's header generation");
            assert!(stats.inconsistent);
            assert_eq!(out.len(), 6, "only the last read's records");
        }
        // The first round warned at once; the second was held back. An
        // occurrence now is too soon as well; one after the interval
        // stands for all three.
        assert_eq!(changed.occurred(Instant::now()), None, "too soon");
        let later = Instant::now() + 2 * INCONSISTENT_WARN_EVERY;
        assert_eq!(changed.occurred(later), Some(3));
    }

    #[test]
    fn read_errors_name_the_sysctl_at_every_attempt() {
        for fail_at in [0, 1] {
            let mut tables = TablesDouble::new(vec![table(1000, 1001), table(1002, 1002)]);
            tables.fail_at = Some(fail_at);
            let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
            let e = consistent_read(&mut tables, &mut changed, &mut Vec::new()).unwrap_err();
            assert_eq!(tables.reads, fail_at + 1);
            let SourceError::Io { what, cause } = &e else {
                panic!("{e:?}");
            };
            assert_eq!(what, pcblist::SYSCTL);
            assert_eq!(cause.raw_os_error(), Some(libc::EPERM));
        }
    }

    #[test]
    fn a_malformed_table_is_an_error_and_earlier_records_stay() {
        let mut short = table(1000, 1000);
        short.truncate(short.len() - 1);
        let mut tables = TablesDouble::new(vec![short]);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        // A record appended before this read (another part of the scan).
        let mut out = Vec::new();
        read_consistent(&mut Vec::new(), &mut changed, 5, &mut out, |b| {
            b.clear();
            b.extend_from_slice(&table(1000, 1000));
            Ok(())
        })
        .unwrap();
        let ids =
            |out: &[SocketRecord]| -> Vec<_> { out.iter().map(|r| (r.ts, r.sock_id())).collect() };
        let before = ids(&out);
        assert_eq!(before.len(), 6);
        let e = consistent_read(&mut tables, &mut changed, &mut out).unwrap_err();
        assert!(matches!(e, SourceError::Malformed { .. }), "{e:?}");
        assert_eq!(ids(&out), before);
    }

    #[test]
    fn records_already_in_the_output_are_kept() {
        let mut tables = TablesDouble::new(vec![table(1000, 1001), table(1000, 1000)]);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        let mut out = Vec::new();
        consistent_read(
            &mut TablesDouble::new(vec![table(1, 1)]),
            &mut changed,
            &mut out,
        )
        .unwrap();
        consistent_read(&mut tables, &mut changed, &mut out).unwrap();
        assert_eq!(out.len(), 12, "6 kept, 6 read (not 6 more from the retry)");
    }

    #[test]
    fn skipped_records_are_counted() {
        let mut b = table(1000, 1000);
        let state = XINPGEN_SIZE + XT_T_STATE.offset;
        b[state..state + 4].copy_from_slice(&99i32.to_le_bytes());
        let mut tables = TablesDouble::new(vec![b]);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        let mut out = Vec::new();
        let (stats, _) = consistent_read(&mut tables, &mut changed, &mut out).unwrap();
        assert_eq!(
            (stats.skipped, stats.inconsistent, out.len()),
            (1, false, 5)
        );
    }

    #[test]
    fn more_records_than_the_header_announced_is_read_again() {
        let mut b = table(1000, 1000);
        b[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&2u32.to_le_bytes());
        let mut tables = TablesDouble::new(vec![b, table(1000, 1000)]);
        let mut changed = WarnInterval::new(INCONSISTENT_WARN_EVERY);
        let (stats, _) = consistent_read(&mut tables, &mut changed, &mut Vec::new()).unwrap();
        assert_eq!(tables.reads, 2);
        assert!(!stats.inconsistent);
    }

    /// The idle times the fixture holds for records with an identity.
    fn fixture_idle() -> Vec<Option<u32>> {
        let mut out = Vec::new();
        pcblist::parse(&fixture(), "fixture", 0, &mut out).unwrap();
        out.iter()
            .filter(|r| r.sock_id().is_some())
            .map(|r| r.idle_ms())
            .collect()
    }

    /// One scan through the reader at `ts_ns`; the idle times of records
    /// with an identity.
    fn scan(reader: &mut PcblistReader, ts_ns: u64) -> Vec<Option<u32>> {
        let mut tables = TablesDouble::new(vec![table(1000, 1000)]);
        let mut out = Vec::new();
        let (_, generation) = reader.read(ts_ns, &mut out, tables.read()).unwrap();
        assert_eq!(generation, 1000);
        out.iter()
            .filter(|r| r.sock_id().is_some())
            .map(|r| r.idle_ms())
            .collect()
    }

    #[test]
    fn idle_times_are_judged_over_scans_in_milliseconds() {
        let exact = fixture_idle();
        assert!(exact.len() > 2 && exact.iter().all(Option::is_some));
        let unknown = vec![None; exact.len()];
        let second = 1_000_000_000;
        let mut reader = PcblistReader::new(1000);
        // First scan: no history, every value may have wrapped.
        assert_eq!(scan(&mut reader, second), unknown);
        // 100 ms later the same values cannot show a segment arriving
        // (within the slack); a second later they can: trusted. Both
        // gaps are told apart only when the timestamp is read as
        // nanoseconds.
        assert_eq!(scan(&mut reader, second + 100_000_000), unknown);
        assert_eq!(scan(&mut reader, 2 * second + 100_000_000), exact);
    }

    #[test]
    fn forgetting_history_starts_over_at_the_same_rate() {
        let second = 1_000_000_000;
        let mut reader = PcblistReader::new(100);
        scan(&mut reader, second);
        reader.forget_history();
        assert_eq!(reader.idle.hz(), 100);
        let unknown = vec![None; fixture_idle().len()];
        assert_eq!(scan(&mut reader, 2 * second), unknown, "no history");
        assert_eq!(scan(&mut reader, 3 * second), fixture_idle());
    }
}
