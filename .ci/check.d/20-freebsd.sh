#!/usr/bin/env bash
# FreeBSD, proven on Linux:
#  1. layout.rs equals what FreeBSD's headers give for amd64 AND arm64;
#  2. the byte-exact fixtures equal what their C sources compile to;
#  3. the code builds for FreeBSD: check + clippy (x86_64), a linked
#     release binary (zig as linker), and a type-check for aarch64.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 tests/freebsd/gen_layout.py --check
tests/freebsd/gen_fixtures.sh --check

# A separate target dir, so the host build is not invalidated.
T=target/freebsd
export CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_LINKER="$PWD/tests/freebsd/zig-link"
# Build scripts that compile C (zstd-sys) use zig's clang with FreeBSD's
# headers.
export CC_x86_64_unknown_freebsd="$PWD/tests/cross/zig-cc" AR_x86_64_unknown_freebsd="$PWD/tests/cross/zig-ar"
export CC_aarch64_unknown_freebsd="$PWD/tests/cross/zig-cc" AR_aarch64_unknown_freebsd="$PWD/tests/cross/zig-ar"
export ZIG_CC_TARGET=x86_64-freebsd
cargo check --target x86_64-unknown-freebsd --target-dir "$T" --lib --bins
cargo clippy --target x86_64-unknown-freebsd --target-dir "$T" --lib --bins -- -D warnings
cargo build --release --target x86_64-unknown-freebsd --target-dir "$T"
bin="$T/x86_64-unknown-freebsd/release/netpulse"
# A FreeBSD executable: FreeBSD's dynamic linker and ABI note.
python3 - "$bin" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
assert b[:4] == b"\x7fELF" and b[4] == 2, "not a 64-bit ELF"
assert b"/libexec/ld-elf.so.1" in b, "interpreter is not FreeBSD's ld-elf.so.1"
assert b"FreeBSD\x00" in b, "no FreeBSD ABI note"
print(f"freebsd: linked {sys.argv[1]} ({len(b)} bytes), a FreeBSD amd64 executable")
PY

ZIG_CC_TARGET=aarch64-freebsd RUSTC_BOOTSTRAP=1 cargo check -Zbuild-std=core,std --target aarch64-unknown-freebsd \
    --target-dir "$T" --lib --bins
echo "freebsd: layout, fixtures, x86_64 check/clippy/link and aarch64 check all passed"
