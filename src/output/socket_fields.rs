//! The one list of socket record fields in output order, for the
//! per-socket writers: the JSON line's keys (serde's order, which is the
//! struct's) and the CSV columns and header are all generated from it.
//!
//! A field missing here fails the JSON tests (its key would be missing
//! from the line) and the CSV column test (the header would lack it).

/// Calls `$then!(field, field, ...)` with every serialized `SocketRecord`
/// field, in `SocketRecord`'s (JSON) order.
#[rustfmt::skip]
macro_rules! socket_fields {
    ($then:ident) => {
        $then! {
            ts, tier, sock_id, local, remote, uid, inode, state,
            cwnd, ssthresh, mss, rcv_wnd, snd_wnd, snd_wscale, rcv_wscale,
            cc, stack,
            rtt_us, rttvar_us, rto_us, rtt_min_us,
            snd_una, snd_nxt, snd_max, rcv_nxt, rcv_adv,
            rexmit, ooo, zerowin, dsack_bytes, dsack_pack,
            bytes_sent, bytes_acked, bytes_received, bytes_retrans, segs_out, segs_in,
            unacked, lost, retrans_out, delivery_rate, pacing_rate,
            rexmit_delta, ooo_delta, zerowin_delta,
            bytes_acked_delta, bytes_received_delta, segs_out_delta, segs_in_delta, age_ms,
            timer_rexmt_ms, timer_persist_ms, timer_keep_ms, timer_2msl_ms, timer_delack_ms,
            idle_ms,
            snd_buf_used, snd_buf_hiwat, rcv_buf_used, rcv_buf_hiwat, snd_buf_pct, rcv_buf_pct,
            snd_queue, rcv_queue,
            pid, fd, command
        }
    };
}
pub(crate) use socket_fields;
