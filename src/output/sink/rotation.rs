//! Rotated-file names and the bounded set of kept files.
//!
//! The active file of a stream keeps its name (`netpulse.jsonl`). Rotation
//! renames it to `<active>.<UTC time of rotation>`, e.g.
//! `netpulse.jsonl.20261126T040300.123Z` (ISO 8601 basic format, millisecond
//! precision), then a fresh active file is created. Rotated files are never
//! renamed again, so a shipper that already read one never sees it under a
//! new name, and plain lexicographic order is chronological order. Stamps
//! are strictly increasing per stream even if the clock steps back or two
//! rotations fall in one millisecond (the next stamp is at least the newest
//! existing one plus 1 ms). A rotated file may later be compressed to
//! `<active>.<stamp>.zst` or `.gz` (see [`super::compress`]); the plain and
//! the compressed form of one stamp are one rotated file, counted once by
//! `keep` and pruned together. Pruning only ever deletes those names: an
//! operator's copy (`<active>.old`) is left alone.

use std::io;
use std::path::{Path, PathBuf};

/// Length of a stamp: `YYYYMMDDTHHMMSS.mmmZ`.
pub const STAMP_LEN: usize = 20;

/// `20261126T040300.123Z` for milliseconds since the Unix epoch.
pub fn format_stamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms % 1000
    )
}

/// Inverse of [`format_stamp`]; `None` unless `s` is exactly a stamp.
pub fn parse_stamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != STAMP_LEN || b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, sec, milli) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let days = u64::try_from(days).ok()?;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + milli)
}

/// The rotated name of `active` for a rotation at `ms`.
pub fn rotated_name(active: &str, ms: u64) -> String {
    format!("{active}.{}", format_stamp(ms))
}

/// Suffixes a compressed rotated file may carry.
pub const COMPRESSED_EXTENSIONS: [&str; 2] = ["zst", "gz"];

/// One rotated file (one stamp) and the forms of it that exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotatedForms {
    /// `<active>.<stamp>`, as renamed at rotation.
    pub plain: Option<PathBuf>,
    /// `<active>.<stamp>.zst` or `.gz`: only ever renamed into place once
    /// complete and synced.
    pub compressed: Vec<PathBuf>,
}

impl RotatedForms {
    /// The path a reader should use: a compressed form when one exists.
    pub fn best(&self) -> Option<&PathBuf> {
        self.compressed.first().or(self.plain.as_ref())
    }
}

/// The stamp and the compression suffix (`""` for a plain file) of a name
/// of the form `<active>.<stamp>[.zst|.gz]`.
fn parse_rotated<'a>(name: &'a str, active: &str) -> Option<(u64, &'a str)> {
    let rest = name.strip_prefix(active)?.strip_prefix('.')?;
    let stamp = rest.get(..STAMP_LEN)?;
    let ms = parse_stamp(stamp)?;
    match rest.get(STAMP_LEN..)? {
        "" => Some((ms, "")),
        ext => {
            let ext = ext.strip_prefix('.')?;
            COMPRESSED_EXTENSIONS.contains(&ext).then_some((ms, ext))
        }
    }
}

/// Rotated files of `active` in `dir` (regular files only), oldest first,
/// each stamp once with every form of it that exists.
pub fn list_rotated_forms(dir: &Path, active: &str) -> io::Result<Vec<(u64, RotatedForms)>> {
    let mut by_stamp = std::collections::BTreeMap::<u64, RotatedForms>::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((ms, ext)) = parse_rotated(name, active) else {
            continue;
        };
        // Only regular files are ours to count and delete: a directory or
        // link that happens to carry such a name is left alone (and never
        // stops pruning).
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let forms = by_stamp.entry(ms).or_default();
        if ext.is_empty() {
            forms.plain = Some(entry.path());
        } else {
            forms.compressed.push(entry.path());
        }
    }
    Ok(by_stamp.into_iter().collect())
}

/// Rotated files of `active` in `dir` (regular files only), oldest first,
/// with their stamps: one path per rotated file, the compressed form when
/// both exist.
pub fn list_rotated(dir: &Path, active: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    Ok(list_rotated_forms(dir, active)?
        .into_iter()
        .filter_map(|(ms, forms)| forms.best().map(|p| (ms, p.clone())))
        .collect())
}

/// Whether any form of the rotated name for `ms` exists (of any type).
fn rotated_name_taken(dir: &Path, active: &str, ms: u64) -> bool {
    let plain = rotated_name(active, ms);
    std::iter::once(plain.clone())
        .chain(COMPRESSED_EXTENSIONS.iter().map(|e| format!("{plain}.{e}")))
        .any(|n| dir.join(n).symlink_metadata().is_ok())
}

/// Rename `dir/active` to its rotated name, then delete the oldest rotated
/// files beyond `keep`. Returns the rotated path.
pub fn rotate(dir: &Path, active: &str, keep: usize, now_ms: u64) -> io::Result<PathBuf> {
    let existing = list_rotated(dir, active)?;
    let mut ms = match existing.last() {
        Some(&(newest, _)) => now_ms.max(newest + 1),
        None => now_ms,
    };
    // `rename` replaces its target: never let it replace a kept file that
    // appeared since the listing.
    while rotated_name_taken(dir, active, ms) {
        ms += 1;
    }
    let target = dir.join(rotated_name(active, ms));
    std::fs::rename(dir.join(active), &target)?;
    prune(dir, active, keep)?;
    Ok(target)
}

/// Delete the oldest rotated files of `active` so that at most `keep`
/// remain, every form of each. Returns how many were deleted.
pub fn prune(dir: &Path, active: &str, keep: usize) -> io::Result<usize> {
    let files = list_rotated_forms(dir, active)?;
    let excess = files.len().saturating_sub(keep);
    for (ms, _) in &files[..excess] {
        // Compressed forms first, then the plain one, whatever the listing
        // saw: a compression finishing meanwhile removes its output when it
        // finds the plain file gone (see `compress`), so no form survives.
        let plain = rotated_name(active, *ms);
        for ext in COMPRESSED_EXTENSIONS {
            remove_if_present(&dir.join(format!("{plain}.{ext}")))?;
        }
        remove_if_present(&dir.join(plain))?;
    }
    Ok(excess)
}

/// Remove a regular file (or nothing) at `path`; a directory or link a
/// listing saw there is not ours.
fn remove_if_present(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        // Someone (a shipper, an operator, the compressor) removed it
        // first: fine.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_known_values_and_round_trip() {
        assert_eq!(format_stamp(0), "19700101T000000.000Z");
        // 2026-11-26T04:03:00.123Z
        let ms = 1_795_665_780_123;
        assert_eq!(format_stamp(ms), "20261126T040300.123Z");
        assert_eq!(parse_stamp("20261126T040300.123Z"), Some(ms));
        // 2000-02-29 (leap day) and the end of a year.
        for ms in [951_782_400_000u64, 978_307_199_999, 4_102_444_800_000] {
            assert_eq!(parse_stamp(&format_stamp(ms)), Some(ms));
        }
        for bad in [
            "",
            "20261126T040300Z",
            "20261126T040300.123Z.gz",
            "2026112xT040300.123Z",
            "20261326T040300.123Z",
            "+0261126T040300.123Z",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn stamps_sort_like_time() {
        let mut prev = String::new();
        for ms in (0..200u64).map(|i| 1_700_000_000_000 + i * 7_777_777) {
            let s = format_stamp(ms);
            assert!(s > prev, "{s} <= {prev}");
            prev = s;
        }
    }

    #[test]
    fn rotate_keeps_increasing_names_and_prunes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.jsonl.old"), "x").unwrap();
        std::fs::write(d.join("a.jsonl.20261126T040300.123Z.xz"), "x").unwrap();
        std::fs::write(d.join("ab.jsonl.20261126T040300.123Z"), "x").unwrap();
        let mut names = Vec::new();
        for i in 0..5 {
            std::fs::write(d.join("a.jsonl"), format!("{i}")).unwrap();
            // Same (and even earlier) clock each time: names still increase.
            let p = rotate(d, "a.jsonl", 3, 1_000 - i).unwrap();
            names.push(p);
        }
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        let kept = list_rotated(d, "a.jsonl").unwrap();
        assert_eq!(kept.len(), 3);
        let contents: Vec<String> = kept
            .iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(contents, ["2", "3", "4"]);
        for other in [
            "a.jsonl.20261126T040300.123Z.xz",
            "a.jsonl.old",
            "ab.jsonl.20261126T040300.123Z",
        ] {
            assert!(d.join(other).exists(), "{other} was deleted");
        }
        assert!(!d.join("a.jsonl").exists());
    }

    #[test]
    fn plain_and_compressed_forms_of_a_stamp_are_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let old = rotated_name("a.jsonl", 1_000);
        let mid = rotated_name("a.jsonl", 2_000);
        let new = rotated_name("a.jsonl", 3_000);
        for name in [
            old.clone(),
            format!("{old}.zst"),
            format!("{mid}.gz"),
            new.clone(),
            format!("{new}.xz"),
        ] {
            std::fs::write(d.join(name), "x").unwrap();
        }
        let listed = list_rotated(d, "a.jsonl").unwrap();
        assert_eq!(
            listed,
            [
                (1_000, d.join(format!("{old}.zst"))),
                (2_000, d.join(format!("{mid}.gz"))),
                (3_000, d.join(&new)),
            ]
        );
        assert_eq!(prune(d, "a.jsonl", 2).unwrap(), 1);
        assert!(!d.join(&old).exists() && !d.join(format!("{old}.zst")).exists());
        assert_eq!(list_rotated(d, "a.jsonl").unwrap().len(), 2);
        // A new rotation never reuses a stamp that has any form.
        std::fs::write(d.join("a.jsonl"), "y").unwrap();
        let p = rotate(d, "a.jsonl", 10, 0).unwrap();
        assert_eq!(p, d.join(rotated_name("a.jsonl", 3_001)));
        assert!(d.join(format!("{new}.xz")).exists(), "not ours: kept");
    }

    #[test]
    fn pruning_skips_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let old_dir = d.join("a.jsonl.20200101T000000.000Z");
        std::fs::create_dir(&old_dir).unwrap();
        let old_link = d.join("a.jsonl.20200101T000000.001Z");
        std::os::unix::fs::symlink("/nonexistent", &old_link).unwrap();
        for i in 0..4 {
            std::fs::write(d.join("a.jsonl"), format!("{i}")).unwrap();
            rotate(d, "a.jsonl", 2, 1_000 + i).unwrap();
        }
        assert_eq!(list_rotated(d, "a.jsonl").unwrap().len(), 2);
        assert!(old_dir.is_dir());
        assert!(old_link.symlink_metadata().is_ok());
    }
}
