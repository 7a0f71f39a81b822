#!/bin/sh
# Regenerate the /dev/tcpstats fixture streams from fixtures.c: compile
# against kmod/tcpstats/tcpstats.h for x86_64-freebsd and aarch64-freebsd
# with zig-cc, require both targets to produce identical bytes (both are
# little-endian LP64), and write each stream symbol to <name>.bin.
#   gen.sh          write into tests/freebsd/tcpstats/
#   gen.sh DIR      write into DIR (the CI check compares DIR with the repo)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dest=${1:-$here}
work=$root/target/tcpstats-fixtures
rm -rf "$work"
mkdir -p "$work/x86_64" "$work/aarch64" "$dest"

streams="normal unprivileged link_local truncated timedout unknown_version future small_record corrupt_count corrupt_magic corrupt_header_size kern_file kern_proc"

for arch in x86_64 aarch64; do
    "$root/tests/freebsd/zig-cc" -target "$arch-freebsd" -std=gnu17 -O0 \
        -fdata-sections -Wall -Werror -Wno-unused-command-line-argument \
        -I"$root/kmod/tcpstats" -c "$here/fixtures.c" -o "$work/$arch/fixtures.o"
    args=
    for s in $streams; do
        args="$args $s=$work/$arch/$s.bin"
    done
    # shellcheck disable=SC2086 # one argument per stream
    python3 "$here/elf-symbol-bytes.py" "$work/$arch/fixtures.o" $args
done
for s in $streams; do
    if ! cmp -s "$work/x86_64/$s.bin" "$work/aarch64/$s.bin"; then
        echo "gen.sh: $s differs between x86_64 and aarch64" >&2
        exit 1
    fi
    cp "$work/x86_64/$s.bin" "$dest/$s.bin"
done
echo "gen.sh: wrote $(echo "$streams" | wc -w) streams to $dest"
