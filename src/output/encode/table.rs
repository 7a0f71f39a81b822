//! A table for people at a terminal (`netpulse once --format table`), in
//! the spirit of `ss`: one socket per line, columns aligned, sizes in
//! human units. Not a data format: columns and units may change, scripts
//! should read JSON or CSV.

use std::io::{self, Write};

use crate::record::SocketRecord;

/// Column headers; numbers are right-aligned, text left-aligned.
const HEADERS: [&str; COLUMNS] = [
    "State", "Local", "Remote", "Cwnd", "RTT-ms", "Rexmit", "Send-Q", "Recv-Q", "Process",
];
const RIGHT_ALIGNED: [bool; COLUMNS] = [false, false, false, true, true, true, true, true, false];
const COLUMNS: usize = 9;

/// Write a header and one aligned line per socket. The widths come from a
/// first pass over the sockets, so nothing but one line is held at a time.
pub fn write_table<'a, I>(sockets: I, out: &mut dyn Write) -> io::Result<()>
where
    I: IntoIterator<Item = &'a SocketRecord>,
    I::IntoIter: Clone,
{
    let rows = sockets.into_iter();
    let mut widths = HEADERS.map(str::len);
    for r in rows.clone() {
        for (w, cell) in widths.iter_mut().zip(cells(r)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    write_line(&HEADERS.map(String::from), &widths, out)?;
    for r in rows {
        write_line(&cells(r), &widths, out)?;
    }
    Ok(())
}

fn write_line(
    cells: &[String; COLUMNS],
    widths: &[usize; COLUMNS],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut line = String::with_capacity(128);
    for (i, cell) in cells.iter().enumerate() {
        let w = widths[i];
        let last = i + 1 == COLUMNS;
        if RIGHT_ALIGNED[i] {
            line.push_str(&format!("{cell:>w$}"));
        } else if last {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<w$}"));
        }
        if !last {
            line.push_str("  ");
        }
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

fn cells(r: &SocketRecord) -> [String; COLUMNS] {
    [
        r.state.name().to_string(),
        r.local.to_string(),
        r.remote.to_string(),
        cwnd(r),
        r.rtt_us()
            .map_or_else(dash, |us| format!("{:.1}", f64::from(us) / 1000.0)),
        r.rexmit().map_or_else(dash, |n| n.to_string()),
        queue(r.snd_queue(), r.accept_backlog()),
        queue(r.rcv_queue(), r.accept_queue()),
        process(r),
    ]
}

/// Bytes queued, or for a listener (as `ss` shows it) connections: the
/// accept queue under Recv-Q and its backlog under Send-Q.
fn queue(bytes: Option<u32>, connections: Option<u32>) -> String {
    match (bytes, connections) {
        (Some(b), _) => human_bytes(b.into()),
        (None, Some(c)) => c.to_string(),
        (None, None) => dash(),
    }
}

fn dash() -> String {
    "-".to_string()
}

/// `10/14.1K`: the window in segments (when the segment size is known)
/// and in bytes.
fn cwnd(r: &SocketRecord) -> String {
    match (r.cwnd(), r.mss()) {
        (Some(bytes), Some(mss)) if mss > 0 => {
            format!("{}/{}", bytes / u64::from(mss), human_bytes(bytes))
        }
        (Some(bytes), _) => human_bytes(bytes),
        _ => dash(),
    }
}

fn process(r: &SocketRecord) -> String {
    match (r.pid(), r.command().as_deref()) {
        (Some(pid), Some(cmd)) => format!("{pid}/{cmd}"),
        (Some(pid), None) => pid.to_string(),
        (None, Some(cmd)) => cmd.to_string(),
        (None, None) => dash(),
    }
}

/// Bytes below 1024 as they are, larger in K/M/G/T (powers of 1024) with
/// one decimal.
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64 / 1024.0;
    for unit in ["K", "M", "G"] {
        if v < 1024.0 {
            return format!("{v:.1}{unit}");
        }
        v /= 1024.0;
    }
    format!("{v:.1}T")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpState;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0");
        assert_eq!(human_bytes(1023), "1023");
        assert_eq!(human_bytes(14_480), "14.1K");
        assert_eq!(human_bytes(3 << 20), "3.0M");
        assert_eq!(human_bytes(5 << 30), "5.0G");
        assert_eq!(human_bytes(2 << 40), "2.0T");
    }

    #[test]
    fn columns_line_up_and_absent_values_show_a_dash() {
        let mut a = SocketRecord::new(
            0,
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:22".parse().unwrap(),
            TcpState::Established,
        );
        a.set().cwnd(Some(14_480));
        a.set().mss(Some(1448));
        a.set().rtt_us(Some(1300));
        a.set().rexmit(Some(3));
        a.set().snd_queue(Some(0));
        a.set().rcv_queue(Some(2048));
        a.set().pid(Some(812));
        a.set().command(Some("sshd".into()));
        let b = SocketRecord::new(
            0,
            "[::]:22".parse().unwrap(),
            "[::]:0".parse().unwrap(),
            TcpState::Listen,
        );
        let mut c = b.clone();
        c.set().accept_queue(Some(5));
        c.set().accept_backlog(Some(4096));
        let mut out = Vec::new();
        write_table([&a, &b, &c], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("State "), "{text}");
        let fields: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            fields,
            [
                "ESTABLISHED",
                "127.0.0.1:40000",
                "127.0.0.1:22",
                "10/14.1K",
                "1.3",
                "3",
                "0",
                "2.0K",
                "812/sshd"
            ]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["LISTEN", "[::]:22", "[::]:0", "-", "-", "-", "-", "-", "-"]
        );
        // A listener's queues count connections: backlog and accept queue.
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            [
                "LISTEN", "[::]:22", "[::]:0", "-", "-", "-", "4096", "5", "-"
            ]
        );
        // Every column starts at the same offset on every line.
        let col = |l: &str, word: &str| l.find(word).unwrap();
        assert_eq!(col(lines[0], "Remote"), col(lines[1], "127.0.0.1:22"));
        assert_eq!(col(lines[1], "127.0.0.1:22"), col(lines[2], "[::]:0"));
        assert_eq!(
            col(lines[0], "Process"),
            col(lines[1], "812/sshd"),
            "{text}"
        );
    }

    /// The edges the first test does not reach: 1024 is the first "K"
    /// and each next unit starts at exactly 1024 of the one before; a
    /// window without an MSS, or with an MSS of 0, is shown in bytes
    /// only (no division); the last column is not padded.
    #[test]
    fn unit_edges_windows_without_mss_and_no_trailing_blanks() {
        assert_eq!(human_bytes(1024), "1.0K");
        assert_eq!(human_bytes(1 << 20), "1.0M");
        assert_eq!(human_bytes(1 << 30), "1.0G");
        let mut a = SocketRecord::new(
            0,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            TcpState::Established,
        );
        a.set().cwnd(Some(2048));
        let mut b = a.clone();
        b.set().mss(Some(0));
        b.set().command(Some("nc".into()));
        let mut out = Vec::new();
        write_table([&a, &b], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for l in &lines[1..] {
            assert_eq!(l.split_whitespace().nth(3), Some("2.0K"), "{text}");
        }
        assert_eq!(lines[2].split_whitespace().last(), Some("nc"));
        for l in &lines {
            assert_eq!(l.trim_end(), *l, "trailing blanks: {text:?}");
        }
    }
}
