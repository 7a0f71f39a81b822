#!/usr/bin/env bash
# kmod/tcpstats: compile the module against FreeBSD's real kernel headers
# (amd64 + arm64, -Werror), run the pure C parts under ASan+UBSan, check the
# committed ABI table and fixture streams are what the header produces,
# lint the on-host script and the manual page. The module is type-checked
# here, never linked against a kernel or loaded.
set -euo pipefail
cd "$(dirname "$0")/../.."
t=tests/freebsd/tcpstats
out=target/kmod-check-ci
rm -rf "$out"
mkdir -p "$out"

echo "--- kernel compile (x86_64-freebsd, aarch64-freebsd)"
tests/freebsd/kmod-compile.sh

echo "--- userland tests of tcpstats_subr.c under ASan+UBSan"
for cc in gcc clang; do
    # .ci/setup.d/30-kmod.sh installs both: a missing one is a broken
    # setup, not a reason to skip half the sanitizer pass.
    command -v "$cc" >/dev/null || {
        echo "$cc not found: the ASan/UBSan pass needs gcc and clang (see .ci/setup.d/30-kmod.sh)" >&2
        exit 1
    }
    echo "    $cc"
    "$cc" -std=c11 -g -O1 -Wall -Wextra -Werror \
        -fsanitize=address,undefined -fno-sanitize-recover=all \
        -Ikmod/tcpstats kmod/tcpstats/tests/test_subr.c kmod/tcpstats/tcpstats_subr.c \
        -o "$out/test_subr.$cc"
    ASAN_OPTIONS=detect_leaks=1 "$out/test_subr.$cc"
done

echo "--- ABI table (offsets the Rust reader is tested against)"
$t/layout.sh >"$out/layout.txt"
if ! diff -u $t/layout.txt "$out/layout.txt"; then
    echo "tests/freebsd/tcpstats/layout.txt is stale: run $t/layout.sh > $t/layout.txt" >&2
    echo "and update the constants in src/platform/freebsd/tcpstats_dev.rs" >&2
    exit 1
fi

echo "--- fixture streams regenerate byte for byte"
$t/gen.sh "$out/fixtures"
for f in "$out"/fixtures/*.bin; do
    if ! cmp "$f" "$t/$(basename "$f")"; then
        echo "$t/$(basename "$f") differs from what fixtures.c produces: run $t/gen.sh" >&2
        exit 1
    fi
done
committed=$(find $t -name '*.bin' | wc -l)
generated=$(find "$out/fixtures" -name '*.bin' | wc -l)
[ "$committed" -eq "$generated" ] || {
    echo "$t has $committed .bin files, gen.sh makes $generated: remove stale ones" >&2
    exit 1
}

echo "--- on-host script: sh -n, shellcheck, its decoder against a fixture"
for s in kmod/tcpstats/tests/onhost.sh tests/freebsd/kmod-compile.sh $t/gen.sh $t/layout.sh; do
    sh -n "$s"
    shellcheck -s sh "$s"
done
sh kmod/tcpstats/tests/onhost.sh --decode $t/normal.bin | diff -u $t/normal.decoded.txt -

echo "--- tcpstats.4"
mandoc -T lint -W warning kmod/tcpstats/tcpstats.4
echo "kmod checks passed (compile-only: the module was not loaded)"
