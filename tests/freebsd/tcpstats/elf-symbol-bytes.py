#!/usr/bin/env python3
"""Write the initialised bytes of named data symbols of
a relocatable ELF64 little-endian object (as zig-cc emits for the FreeBSD
targets) to files. Usage: elf-symbol-bytes.py OBJ SYMBOL=OUTFILE...

Used to turn C structs compiled against real headers into fixture bytes,
so no fixture is written by hand. Refuses symbols with relocations against
their section (a pointer would not be plain bytes)."""
import struct
import sys


def sections(data):
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    out = []
    for i in range(shnum):
        off = shoff + i * shentsize
        name, typ, _flags, _addr, offset, size, link, info, _align, entsize = (
            struct.unpack_from("<IIQQQQIIQQ", data, off))
        out.append(dict(name=name, type=typ, offset=offset, size=size,
                        link=link, info=info, entsize=entsize))
    strtab = out[shstrndx]
    for s in out:
        s["sname"] = cstr(data, strtab["offset"] + s["name"])
    return out


def cstr(data, off):
    end = data.index(b"\0", off)
    return data[off:end].decode()


def main():
    obj = sys.argv[1]
    want = dict(a.split("=", 1) for a in sys.argv[2:])
    data = open(obj, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{obj}: not a little-endian ELF64 object")
    secs = sections(data)
    relocated = {s["info"] for s in secs if s["type"] in (4, 9)}  # RELA, REL
    found = {}
    for symtab in (s for s in secs if s["type"] == 2):  # SYMTAB
        strtab = secs[symtab["link"]]
        for i in range(symtab["size"] // symtab["entsize"]):
            off = symtab["offset"] + i * symtab["entsize"]
            name, _info, _other, shndx, value, size = struct.unpack_from(
                "<IBBHQQ", data, off)
            sym = cstr(data, strtab["offset"] + name)
            if sym not in want:
                continue
            if shndx in relocated:
                sys.exit(f"{sym}: its section has relocations; fixtures must be plain data")
            sec = secs[shndx]
            if sec["type"] == 8:  # NOBITS (.bss): all zero
                sys.exit(f"{sym}: in .bss; give it a non-zero initialiser")
            start = sec["offset"] + value
            found[sym] = data[start:start + size]
    for sym, path in want.items():
        if sym not in found:
            sys.exit(f"{obj}: symbol {sym} not found")
        with open(path, "wb") as f:
            f.write(found[sym])


if __name__ == "__main__":
    main()
