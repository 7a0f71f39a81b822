#!/usr/bin/env python3
"""Compile the byte-exact macOS fixtures (tests/macos/fixtures/*.c: SDK and
XNU structures, initialised) for x86_64-macos and aarch64-macos with zig's
clang, and take each Mach-O object's __DATA,__data section as the dump
bytes. Both targets must give the same bytes.

    python3 tests/macos/gen_fixtures.py          # rewrite fixtures/*.bin
    python3 tests/macos/gen_fixtures.py --check  # CI: fail if they differ
"""

import glob
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CC = os.path.join(ROOT, "tests", "freebsd", "zig-cc")
TARGETS = ["x86_64-macos", "aarch64-macos"]
LC_SEGMENT_64 = 0x19


def data_section(path):
    """The bytes of __DATA,__data in a 64-bit little-endian Mach-O object."""
    b = open(path, "rb").read()
    magic, _, _, _, ncmds, _, _, _ = struct.unpack_from("<IiiIIIII", b, 0)
    if magic != 0xFEEDFACF:
        sys.exit(f"gen_fixtures: {path}: not a 64-bit Mach-O object")
    off = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", b, off)
        if cmd == LC_SEGMENT_64:
            nsects = struct.unpack_from("<I", b, off + 64)[0]
            s = off + 72
            for _ in range(nsects):
                sect = b[s:s + 16].rstrip(b"\0")
                seg = b[s + 16:s + 32].rstrip(b"\0")
                size_, = struct.unpack_from("<Q", b, s + 40)
                fileoff, = struct.unpack_from("<I", b, s + 48)
                if (seg, sect) == (b"__DATA", b"__data"):
                    return b[fileoff:fileoff + size_]
                s += 80
        off += size
    sys.exit(f"gen_fixtures: {path}: no __DATA,__data section")


def main():
    check = len(sys.argv) > 1 and sys.argv[1] == "--check"
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(glob.glob(os.path.join(HERE, "fixtures", "*.c"))):
            name = os.path.splitext(os.path.basename(src))[0]
            outs = []
            for t in TARGETS:
                obj = os.path.join(tmp, f"{name}-{t}.o")
                subprocess.run(
                    [CC, "-target", t, "-std=c11", "-O0", "-g0", "-Wall", "-Werror",
                     "-Wno-unused-command-line-argument", "-fno-common", "-I", HERE,
                     "-c", "-o", obj, src],
                    check=True)
                outs.append(data_section(obj))
            if outs[0] != outs[1]:
                sys.exit(f"gen_fixtures: {name}: x86_64 and arm64 bytes differ")
            if not outs[0]:
                sys.exit(f"gen_fixtures: {name}: no data bytes (is `fixture` initialised?)")
            dst = os.path.join(HERE, "fixtures", name + ".bin")
            if check:
                if not os.path.exists(dst) or open(dst, "rb").read() != outs[0]:
                    print(f"gen_fixtures: {dst} differs from what {name}.c compiles to; run "
                          "python3 tests/macos/gen_fixtures.py and review", file=sys.stderr)
                    status = 1
            else:
                with open(dst, "wb") as f:
                    f.write(outs[0])
    if check and status == 0:
        print("gen_fixtures: every macOS fixture matches its C source (x86_64 = arm64)")
    sys.exit(status)


if __name__ == "__main__":
    main()
