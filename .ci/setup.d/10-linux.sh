# Linux source: `cc` and the kernel UAPI headers for the tcp_info
# layout test (tests/it/linux/tcp_info_layout.rs), and `ss` (iproute2), the
# reference of benches/linux_snapshot.sh. The integration test switches a
# socket to `reno`, which every Linux kernel has built in.
ci_apt gcc libc6-dev linux-libc-dev iproute2
