//! The socket line written field by field, without serde's per-field
//! dispatch: the fast tier writes tens of thousands of these a second.
//!
//! The output is byte-for-byte what `json::write_line("socket", ..)` (the
//! serde path) writes; the tests hold the two to that.

use std::io::Write;
use std::net::SocketAddr;

use crate::record::SocketRecord;

/// Append `{"type":"socket",...}\n` for one socket.
pub fn write_socket_line(r: &SocketRecord, out: &mut Vec<u8>) {
    let mut ints = itoa::Buffer::new();
    out.extend_from_slice(b"{\"type\":\"socket\",\"ts\":");
    out.extend_from_slice(ints.format(r.ts).as_bytes());
    if let Some(t) = r.tier {
        out.extend_from_slice(b",\"tier\":\"");
        out.extend_from_slice(t.name().as_bytes());
        out.push(b'"');
    }
    num(out, &mut ints, ",\"sock_id\":", r.sock_id);
    out.extend_from_slice(b",\"local\":\"");
    addr(out, &mut ints, &r.local);
    out.extend_from_slice(b"\",\"remote\":\"");
    addr(out, &mut ints, &r.remote);
    out.push(b'"');
    num(out, &mut ints, ",\"uid\":", r.uid);
    num(out, &mut ints, ",\"inode\":", r.inode);
    out.extend_from_slice(b",\"state\":\"");
    out.extend_from_slice(r.state.name().as_bytes());
    out.push(b'"');

    num(out, &mut ints, ",\"cwnd\":", r.cwnd);
    num(out, &mut ints, ",\"ssthresh\":", r.ssthresh);
    num(out, &mut ints, ",\"mss\":", r.mss);
    num(out, &mut ints, ",\"rcv_wnd\":", r.rcv_wnd);
    num(out, &mut ints, ",\"snd_wnd\":", r.snd_wnd);
    num(out, &mut ints, ",\"snd_wscale\":", r.snd_wscale);
    num(out, &mut ints, ",\"rcv_wscale\":", r.rcv_wscale);
    string(out, ",\"cc\":", r.cc.as_ref().map(|n| n.as_str()));
    string(out, ",\"stack\":", r.stack.as_ref().map(|n| n.as_str()));

    num(out, &mut ints, ",\"rtt_us\":", r.rtt_us);
    num(out, &mut ints, ",\"rttvar_us\":", r.rttvar_us);
    num(out, &mut ints, ",\"rto_us\":", r.rto_us);
    num(out, &mut ints, ",\"rtt_min_us\":", r.rtt_min_us);
    num(out, &mut ints, ",\"snd_una\":", r.snd_una);
    num(out, &mut ints, ",\"snd_nxt\":", r.snd_nxt);
    num(out, &mut ints, ",\"snd_max\":", r.snd_max);
    num(out, &mut ints, ",\"rcv_nxt\":", r.rcv_nxt);
    num(out, &mut ints, ",\"rcv_adv\":", r.rcv_adv);

    num(out, &mut ints, ",\"rexmit\":", r.rexmit);
    num(out, &mut ints, ",\"ooo\":", r.ooo);
    num(out, &mut ints, ",\"zerowin\":", r.zerowin);
    num(out, &mut ints, ",\"dsack_bytes\":", r.dsack_bytes);
    num(out, &mut ints, ",\"dsack_pack\":", r.dsack_pack);
    num(out, &mut ints, ",\"bytes_sent\":", r.bytes_sent);
    num(out, &mut ints, ",\"bytes_acked\":", r.bytes_acked);
    num(out, &mut ints, ",\"bytes_received\":", r.bytes_received);
    num(out, &mut ints, ",\"bytes_retrans\":", r.bytes_retrans);
    num(out, &mut ints, ",\"segs_out\":", r.segs_out);
    num(out, &mut ints, ",\"segs_in\":", r.segs_in);
    num(out, &mut ints, ",\"unacked\":", r.unacked);
    num(out, &mut ints, ",\"lost\":", r.lost);
    num(out, &mut ints, ",\"retrans_out\":", r.retrans_out);
    num(out, &mut ints, ",\"delivery_rate\":", r.delivery_rate);
    num(out, &mut ints, ",\"pacing_rate\":", r.pacing_rate);

    num(out, &mut ints, ",\"rexmit_delta\":", r.rexmit_delta);
    num(out, &mut ints, ",\"ooo_delta\":", r.ooo_delta);
    num(out, &mut ints, ",\"zerowin_delta\":", r.zerowin_delta);
    num(
        out,
        &mut ints,
        ",\"bytes_acked_delta\":",
        r.bytes_acked_delta,
    );
    num(
        out,
        &mut ints,
        ",\"bytes_received_delta\":",
        r.bytes_received_delta,
    );
    num(out, &mut ints, ",\"segs_out_delta\":", r.segs_out_delta);
    num(out, &mut ints, ",\"segs_in_delta\":", r.segs_in_delta);
    num(out, &mut ints, ",\"age_ms\":", r.age_ms);

    num(out, &mut ints, ",\"timer_rexmt_ms\":", r.timer_rexmt_ms);
    num(out, &mut ints, ",\"timer_persist_ms\":", r.timer_persist_ms);
    num(out, &mut ints, ",\"timer_keep_ms\":", r.timer_keep_ms);
    num(out, &mut ints, ",\"timer_2msl_ms\":", r.timer_2msl_ms);
    num(out, &mut ints, ",\"timer_delack_ms\":", r.timer_delack_ms);
    num(out, &mut ints, ",\"idle_ms\":", r.idle_ms);

    num(out, &mut ints, ",\"snd_buf_used\":", r.snd_buf_used);
    num(out, &mut ints, ",\"snd_buf_hiwat\":", r.snd_buf_hiwat);
    num(out, &mut ints, ",\"rcv_buf_used\":", r.rcv_buf_used);
    num(out, &mut ints, ",\"rcv_buf_hiwat\":", r.rcv_buf_hiwat);
    float(out, ",\"snd_buf_pct\":", r.snd_buf_pct);
    float(out, ",\"rcv_buf_pct\":", r.rcv_buf_pct);
    num(out, &mut ints, ",\"snd_queue\":", r.snd_queue);
    num(out, &mut ints, ",\"rcv_queue\":", r.rcv_queue);

    num(out, &mut ints, ",\"pid\":", r.pid);
    num(out, &mut ints, ",\"fd\":", r.fd);
    string(out, ",\"command\":", r.command.as_deref());
    out.extend_from_slice(b"}\n");
}

fn num<I: itoa::Integer>(out: &mut Vec<u8>, ints: &mut itoa::Buffer, key: &str, v: Option<I>) {
    if let Some(v) = v {
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(ints.format(v).as_bytes());
    }
}

/// Floats and strings are rare (two percentages, three names), so they go
/// through serde_json itself: same number formatting, same escaping.
fn float(out: &mut Vec<u8>, key: &str, v: Option<f64>) {
    if let Some(v) = v {
        out.extend_from_slice(key.as_bytes());
        let _ = serde_json::to_writer(&mut *out, &v);
    }
}

fn string(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
    if let Some(v) = v {
        out.extend_from_slice(key.as_bytes());
        let _ = serde_json::to_writer(&mut *out, v);
    }
}

/// `ip:port`, IPv6 as `[addr]:port` — what `SocketAddr`'s Display writes.
/// IPv4, the common case, is formatted by hand.
fn addr(out: &mut Vec<u8>, ints: &mut itoa::Buffer, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            out.extend_from_slice(ints.format(a).as_bytes());
            for octet in [b, c, d] {
                out.push(b'.');
                out.extend_from_slice(ints.format(octet).as_bytes());
            }
            out.push(b':');
            out.extend_from_slice(ints.format(v4.port()).as_bytes());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::output::json::write_line;
    use crate::record::{ShortName, TcpState};

    fn serde_line(r: &SocketRecord) -> String {
        let mut v = Vec::new();
        write_line("socket", r, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn fast_line(r: &SocketRecord) -> String {
        let mut v = Vec::new();
        write_socket_line(r, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn full(seed: u64) -> SocketRecord {
        let mut r = SocketRecord::every_field_set(seed);
        // Awkward strings and a zero float, for escaping and number format.
        r.stack = Some(ShortName::new("rack\"\\"));
        r.command = Some(Arc::from("a,\"b\"\n\u{1}é"));
        r.rcv_buf_pct = Some(0.0);
        r
    }

    #[test]
    fn every_field_matches_serde() {
        for seed in [0, 1, u64::MAX / 3, u64::MAX] {
            let r = full(seed);
            assert_eq!(fast_line(&r), serde_line(&r));
        }
        let bare = SocketRecord::new(
            7,
            "0.0.0.0:0".parse().unwrap(),
            "255.255.255.255:65535".parse().unwrap(),
            TcpState::Listen,
        );
        assert_eq!(fast_line(&bare), serde_line(&bare));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any mix of present and absent fields, any addresses and
        /// strings: the same bytes as serde.
        #[test]
        fn any_record_matches_serde(
            seed in any::<u64>(),
            mask in any::<u64>(),
            v4 in any::<([u8; 4], u16)>(),
            v6 in any::<([u16; 8], u16)>(),
            cmd in ".{0,20}",
            pct in 0.0f64..100.0,
        ) {
            let mut r = full(seed);
            r.local = SocketAddr::from((v4.0, v4.1));
            r.remote = SocketAddr::from((std::net::Ipv6Addr::from(v6.0), v6.1));
            r.command = Some(Arc::from(cmd.as_str()));
            r.snd_buf_pct = Some(pct);
            // Knock out fields by the mask bits.
            let bit = |i: u32| mask & (1 << (i % 64)) != 0;
            if bit(0) { r.tier = None; }
            if bit(1) { r.sock_id = None; }
            if bit(2) { r.cc = None; }
            if bit(3) { r.command = None; }
            if bit(4) { r.snd_buf_pct = None; }
            if bit(5) { r.rtt_us = None; }
            if bit(6) { r.cwnd = None; }
            if bit(7) { r.fd = None; }
            if bit(8) { r.stack = None; }
            if bit(9) { r.uid = None; }
            if bit(10) { std::mem::swap(&mut r.local, &mut r.remote); }
            prop_assert_eq!(fast_line(&r), serde_line(&r));
        }
    }
}
