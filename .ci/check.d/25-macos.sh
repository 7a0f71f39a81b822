#!/usr/bin/env bash
# macOS, proven on Linux:
#  1. layout.rs equals what the macOS SDK headers and the XNU layout facts
#     give for x86_64 AND arm64;
#  2. the byte-exact fixtures equal what their C sources compile to, and
#     the on-host script passes shellcheck;
#  3. clippy is clean for both Mac targets, and a release binary for
#     aarch64-apple-darwin links (cargo-zigbuild, zig as the linker) and is
#     a Mach-O arm64 executable.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 tests/macos/gen_layout.py --check
python3 tests/macos/gen_fixtures.py --check
shellcheck -s sh docs/macos-onhost.sh

# Build scripts that compile C (zstd-sys) use zig's clang for the target;
# cargo-zigbuild below sets up its own.
export CC_x86_64_apple_darwin="$PWD/tests/cross/zig-cc" AR_x86_64_apple_darwin="$PWD/tests/cross/zig-ar"
export CC_aarch64_apple_darwin="$PWD/tests/cross/zig-cc" AR_aarch64_apple_darwin="$PWD/tests/cross/zig-ar"
for t in x86_64-apple-darwin aarch64-apple-darwin; do
    ZIG_CC_TARGET="${t%%-*}-macos" cargo clippy --target "$t" --lib --bins -- -D warnings
done
unset CC_x86_64_apple_darwin AR_x86_64_apple_darwin CC_aarch64_apple_darwin AR_aarch64_apple_darwin

# zig's cache inside the build tree, as for the FreeBSD build.
export ZIG_GLOBAL_CACHE_DIR="$PWD/target/zig-cache"
# The NATS client's TLS (rustls-native-certs) links Apple's Security and
# CoreFoundation frameworks, which zig does not ship. tests/cross/
# macos-frameworks holds TEST-DOUBLE text stubs (.tbd) naming the symbols
# the dependencies reference (llvm-nm -u of their aarch64-apple-darwin
# rlibs), so the link resolves every symbol; a Mac supplies the real ones.
CARGO_TARGET_AARCH64_APPLE_DARWIN_RUSTFLAGS="-C link-arg=-F$PWD/tests/cross/macos-frameworks" \
    cargo zigbuild --release --target aarch64-apple-darwin
bin=target/aarch64-apple-darwin/release/netpulse
desc=$(file -b "$bin")
case "$desc" in
*Mach-O*arm64*executable*) ;;
*) echo "macos: $bin is not a Mach-O arm64 executable: $desc" >&2; exit 1 ;;
esac
# The live source's libproc and sysctl calls are linked in, from libSystem.
for sym in _proc_listpids _proc_pidinfo _proc_pidfdinfo _sysctlbyname /usr/lib/libSystem.B.dylib \
    /System/Library/Frameworks/Security.framework/Versions/A/Security; do
    grep -qa "$sym" "$bin" || { echo "macos: $bin does not reference $sym" >&2; exit 1; }
done
echo "macos: layout, fixtures, clippy (x86_64, arm64) and a linked $bin ($desc) all passed"
