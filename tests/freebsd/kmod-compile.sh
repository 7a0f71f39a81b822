#!/bin/sh
# Type-check kmod/tcpstats against FreeBSD's real kernel headers (zig's
# FreeBSD 15 headers) with the kernel flag set and
# -Werror, for amd64 and arm64. This compiles; it does not link against a
# kernel or load the module: nothing here can.
#
# Private include dir: stub opt_*.h plus Concurrency Kit headers copied from
# libck-dev (only ck_*.h and gcc/; the host's /usr/include is never on the
# path).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$root/kmod/tcpstats
out=$root/target/kmod-check
zcc=$root/tests/freebsd/zig-cc
inc=$out/include
rm -rf "$out"
mkdir -p "$inc"

if ! ls /usr/include/ck_*.h >/dev/null 2>&1 || [ ! -d /usr/include/gcc ]; then
    echo "kmod-compile: Concurrency Kit headers missing: apt-get install libck-dev" >&2
    exit 1
fi
cp /usr/include/ck_*.h "$inc/"
cp -R /usr/include/gcc "$inc/gcc"
printf '#define INET 1\n' >"$inc/opt_inet.h"
printf '#define INET6 1\n' >"$inc/opt_inet6.h"
printf '#define VIMAGE 1\n' >"$inc/opt_global.h"

kflags="-D_KERNEL -DKLD_MODULE -DHAVE_KERNEL_OPTION_HEADERS -include $inc/opt_global.h
 -nostdinc -ffreestanding -fno-common -fno-asynchronous-unwind-tables -fwrapv
 -std=gnu17 -O2 -Wall -Wredundant-decls -Wnested-externs -Wstrict-prototypes
 -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef -Wno-pointer-sign
 -Wswitch -Wno-unused-command-line-argument -Werror"

for arch in x86_64 aarch64; do
    case $arch in
    x86_64) aflags="-mcmodel=kernel -mno-red-zone -mno-mmx -mno-sse -msoft-float" ;;
    aarch64) aflags="-mcpu=generic+reserve_x18 -mgeneral-regs-only" ;;
    esac
    for f in tcpstats.c tcpstats_subr.c; do
        # shellcheck disable=SC2086 # flag lists are meant to split
        "$zcc" -target "$arch-freebsd" $kflags $aflags -I"$inc" -I"$src" \
            -c "$src/$f" -o "$out/${f%.c}.$arch.o"
    done
    echo "kmod-compile: $arch-freebsd: tcpstats.c tcpstats_subr.c compile with -Werror"
done
