#!/bin/sh
# Compile the byte-exact fixtures (tests/freebsd/fixtures/*.c: real FreeBSD
# structs, initialised) for x86_64-freebsd and aarch64-freebsd with zig's
# clang and FreeBSD's headers, and take each object's .data section as the
# dump bytes. Both targets must give the same bytes.
#   tests/freebsd/gen_fixtures.sh          # rewrite fixtures/*.bin
#   tests/freebsd/gen_fixtures.sh --check  # CI: fail if they differ
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc="$here/zig-cc"
mode=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for src in "$here"/fixtures/*.c; do
    name=$(basename "$src" .c)
    for t in x86_64-freebsd aarch64-freebsd; do
        "$cc" -target "$t" -std=c11 -O0 -g0 -Wall -Werror -Wno-unused-command-line-argument \
            -fno-common -c -o "$tmp/$name-$t.o" "$src"
        python3 -m ziglang objcopy -O binary --only-section=.data \
            "$tmp/$name-$t.o" "$tmp/$name-$t.bin"
    done
    if ! cmp -s "$tmp/$name-x86_64-freebsd.bin" "$tmp/$name-aarch64-freebsd.bin"; then
        echo "gen_fixtures: $name: amd64 and arm64 bytes differ" >&2
        exit 1
    fi
    if [ ! -s "$tmp/$name-x86_64-freebsd.bin" ]; then
        echo "gen_fixtures: $name: no .data bytes (is \`fixture\` non-const and initialised?)" >&2
        exit 1
    fi
    out="$here/fixtures/$name.bin"
    if [ "$mode" = --check ]; then
        if ! cmp -s "$tmp/$name-x86_64-freebsd.bin" "$out"; then
            echo "gen_fixtures: $out differs from what $name.c compiles to;" \
                "run tests/freebsd/gen_fixtures.sh and review" >&2
            status=1
        fi
    else
        cp "$tmp/$name-x86_64-freebsd.bin" "$out"
    fi
done
[ "$status" -eq 0 ] && [ "$mode" = --check ] && echo "gen_fixtures: every fixture matches its C source (amd64 = arm64)"
exit "$status"
