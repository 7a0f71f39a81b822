//! IPv6 addresses as FreeBSD's protocol control blocks hold them.
//!
//! Inside the kernel a scoped address (link-local unicast, interface- and
//! link-local multicast) carries its zone, the interface index, embedded
//! in bytes 2–3 in network order: `fe80::1` on interface 2 is stored as
//! `fe80:2::1`. pcblist records and `/dev/tcpstats` records copy that
//! internal form out. Like netstat, the zone is taken from those bytes
//! (unless the record names a zone of its own), the bytes are cleared, and
//! the address is shown as `fe80::1%2`.

use std::net::{Ipv6Addr, SocketAddrV6};

/// Whether the kernel embeds a zone in this address.
fn scoped(b: &[u8; 16]) -> bool {
    let link_local_unicast = b[0] == 0xfe && b[1] & 0xc0 == 0x80;
    // Multicast with interface-local (1) or link-local (2) scope.
    let scoped_multicast = b[0] == 0xff && matches!(b[1] & 0x0f, 0x01 | 0x02);
    link_local_unicast || scoped_multicast
}

/// The address and port as a user names them. `zone` is the record's own
/// zone id (0 when it has none).
pub fn kernel_v6(mut b: [u8; 16], zone: u32, port: u16) -> SocketAddrV6 {
    if !scoped(&b) {
        return SocketAddrV6::new(Ipv6Addr::from(b), port, 0, 0);
    }
    let embedded = u16::from_be_bytes([b[2], b[3]]) as u32;
    b[2] = 0;
    b[3] = 0;
    let zone = if zone != 0 { zone } else { embedded };
    SocketAddrV6::new(Ipv6Addr::from(b), port, 0, zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(b: [u8; 16], zone: u32) -> String {
        kernel_v6(b, zone, 22).to_string()
    }

    #[test]
    fn embedded_zone_moves_to_the_scope_id() {
        let kame = [0xfe, 0x80, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(show(kame, 0), "[fe80::1%2]:22");
        // A zone id in the record wins; the embedded bytes are still cleared.
        assert_eq!(show(kame, 7), "[fe80::1%7]:22");
        // Interface 0x0102: both bytes count, high byte first.
        let wide = [0xfe, 0x80, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        assert_eq!(show(wide, 0), "[fe80::5%258]:22");
        let mcast = [0xff, 0x02, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(show(mcast, 0), "[ff02::1%3]:22");
    }

    #[test]
    fn unscoped_addresses_are_untouched() {
        let global = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(show(global, 0), "[2001:db8::1]:22");
        // A zone id means nothing for a global address.
        assert_eq!(show(global, 4), "[2001:db8::1]:22");
        let site_mcast = [0xff, 0x05, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(show(site_mcast, 0), "[ff05:3::1]:22");
        assert_eq!(show([0; 16], 0), "[::]:22");
        // Only the top byte fe with the next two bits 10 is link-local:
        // site-local fec0::/10 and a global 2a80:: keep their bytes.
        let site_local = [0xfe, 0xc0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(show(site_local, 0), "[fec0:3::1]:22");
        let global_80 = [0x2a, 0x80, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(show(global_80, 0), "[2a80:3::1]:22");
    }
}
