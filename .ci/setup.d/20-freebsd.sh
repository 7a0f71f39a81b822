# Rust for FreeBSD: the x86_64 std, and std sources
# to build the aarch64 one. zig (the C compiler, linker and FreeBSD
# headers) comes from 05-ziglang.sh.
rustup target add x86_64-unknown-freebsd >/dev/null 2>&1
rustup component add rust-src >/dev/null 2>&1
