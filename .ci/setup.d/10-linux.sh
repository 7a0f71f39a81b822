# Linux source (issue 2): `cc` and the kernel UAPI headers for the tcp_info
# layout test, `ss` (iproute2) as the benchmark's reference, and the reno
# congestion control the integration test switches a socket to.
ci_apt gcc libc6-dev linux-libc-dev iproute2
grep -qw reno /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null \
    || modprobe tcp_reno 2>/dev/null || true
