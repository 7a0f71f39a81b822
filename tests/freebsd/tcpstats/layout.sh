#!/bin/sh
# Print the /dev/tcpstats ABI as the compiler sees it: every pinned field of
# kmod/tcpstats/tcpstats.h ("struct.field offset size"), each struct's size,
# and the constants a reader uses, for x86_64-freebsd and aarch64-freebsd
# (zig-cc, FreeBSD's headers). Both targets must agree, and every struct's
# fields must cover it byte for byte (so no field is left unpinned and no
# padding is implicit).
#   layout.sh            print the table (committed as layout.txt)
# The Rust reader's constants are tested against layout.txt, and CI checks
# that layout.txt is what this script prints.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
hdr=$root/kmod/tcpstats/tcpstats.h
work=$root/target/tcpstats-layout
rm -rf "$work"
mkdir -p "$work"

fields=$(sed -n 's/^TCPSTATS_PIN(\([a-z_]*\), \([a-z_0-9]*\), [0-9]*);$/\1 \2/p' "$hdr")
structs=$(echo "$fields" | awk '{print $1}' | uniq)
consts="TCPSTATS_MAGIC TCPSTATS_ABI_VERSION TCPSTATS_F_TRUNCATED TCPSTATS_F_KADDR
TCPSTATS_F_FILTERED TCPSTATS_F_TIMEDOUT TCPSTATS_F_ALL TCPSTATS_AF_INET TCPSTATS_AF_INET6
TCPSTATS_OPT_TIMESTAMPS TCPSTATS_OPT_SACK TCPSTATS_OPT_WSCALE TCPSTATS_OPT_ECN
TCPSTATS_OPT_TOE TCPSTATS_OPT_TFO TCPSTATS_OPT_ACE TCPSTATS_RF_HAVE_SOCKET
TCPSTATS_RF_LISTEN TCPSTATS_RF_RTT_VALID TCPSTATS_RF_KADDR TCPSTATS_RF_SEQ_HIDDEN
TCPSTATS_TIMER_OFF
TCPSTATS_CC_NAME_LEN TCPSTATS_STACK_NAME_LEN TCPSTATS_FILTER_VERSION
TCPSTATS_FILTER_MAX_PORTS TCPSTATS_GET_INFO TCPSTATS_SET_FILTER
TCPSTATS_GET_FILTER TCPSTATS_CLEAR_FILTER"

{
    echo '#include <stddef.h>'
    echo '#include "tcpstats.h"'
    echo 'const unsigned long long layout[][2] = {'
    echo "$fields" | while read -r s f; do
        echo "	{ offsetof(struct $s, $f), sizeof(((struct $s *)0)->$f) },"
    done
    for s in $structs; do
        echo "	{ sizeof(struct $s), 0 },"
    done
    for c in $consts; do
        echo "	{ (unsigned long long)($c), 0 },"
    done
    echo '};'
} >"$work/layout.c"

for arch in x86_64 aarch64; do
    "$root/tests/freebsd/zig-cc" -target "$arch-freebsd" -O0 -Wall -Werror \
        -Wno-unused-command-line-argument -I"$root/kmod/tcpstats" \
        -c "$work/layout.c" -o "$work/layout.$arch.o"
    python3 "$here/elf-symbol-bytes.py" "$work/layout.$arch.o" \
        "layout=$work/layout.$arch.bin"
done
cmp -s "$work/layout.x86_64.bin" "$work/layout.aarch64.bin" || {
    echo "layout.sh: x86_64 and aarch64 disagree on the tcpstats ABI" >&2
    exit 1
}

FIELDS=$fields STRUCTS=$structs CONSTS=$consts python3 - "$work/layout.x86_64.bin" <<'PY'
import os, struct, sys
data = open(sys.argv[1], "rb").read()
vals = [struct.unpack_from("<QQ", data, i) for i in range(0, len(data), 16)]
fields = [l.split() for l in os.environ["FIELDS"].splitlines()]
structs = os.environ["STRUCTS"].split()
consts = os.environ["CONSTS"].split()
assert len(vals) == len(fields) + len(structs) + len(consts)
sizes = {s: vals[len(fields) + i][0] for i, s in enumerate(structs)}
covered = {s: 0 for s in structs}
end = {s: 0 for s in structs}
for (s, f), (off, size) in zip(fields, vals):
    if off != end[s]:
        sys.exit(f"layout.sh: {s}.{f} at {off}, expected {end[s]}: a gap or an unpinned field")
    end[s] = off + size
    print(f"{s}.{f} {off} {size}")
for s in structs:
    if end[s] != sizes[s]:
        sys.exit(f"layout.sh: pinned fields of {s} end at {end[s]}, sizeof is {sizes[s]}")
    print(f"sizeof.{s} {sizes[s]}")
for i, c in enumerate(consts):
    print(f"const.{c} {vals[len(fields) + len(structs) + i][0]}")
PY
