"""Shared machinery of the layout generators (tests/freebsd/gen_layout.py,
tests/macos/gen_layout.py).

A generator describes a platform as a `Platform`: the C headers to include,
the targets that must agree, and a list of sections naming every size,
member offset and constant by its C name. This module asks zig's C compiler
for each value (`sizeof`, `offsetof`, or the constant) on every target,
refuses to go on when the targets disagree, and prints, writes or checks the
Rust constants file. No number is typed by hand: they come from the headers.

    python3 tests/<platform>/gen_layout.py            # print the Rust file
    python3 tests/<platform>/gen_layout.py --write    # rewrite layout.rs
    python3 tests/<platform>/gen_layout.py --check    # CI: fail if layout.rs differs
"""

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ZIG_CC = os.path.join(ROOT, "tests", "freebsd", "zig-cc")


@dataclass
class Platform:
    name: str  # for messages: "FreeBSD", "macOS"
    out: str  # the Rust file, relative to the repository root
    script: str  # the generator, relative to the repository root
    targets: list  # zig target triples that must agree
    includes: str  # C prelude
    # (section comment, [(RUST_NAME, "size"|"field"|"value", struct, member or C expression)])
    sections: list
    # `struct <tcpstat_struct>` members read, as (TcpCounters name in
    # src/record/counters.rs, member without `tcps_`).
    tcpstat_struct: str
    tcpstat_counters: list
    header: list  # the Rust file's leading lines (doc comment, `Field`)
    cflags: list = field(default_factory=list)


def exprs(p):
    """(key, C expression) for every number the platform needs."""
    out = []
    for _, items in p.sections:
        for name, kind, struct, member in items:
            if kind == "size":
                out.append((name, f"sizeof(struct {struct})"))
            elif kind == "field":
                out.append((name + ".offset", f"offsetof(struct {struct}, {member})"))
                out.append((name + ".size", f"sizeof(((struct {struct} *)0)->{member})"))
            else:
                out.append((name, f"({member})"))
    s = p.tcpstat_struct
    for _, c in p.tcpstat_counters:
        out.append((f"tcps_{c}.offset", f"offsetof(struct {s}, tcps_{c})"))
        out.append((f"tcps_{c}.size", f"sizeof(((struct {s} *)0)->tcps_{c})"))
    return out


def compute(p, target, items):
    """Every value of `items` as the compiler sees it for `target`."""
    src = p.includes + "".join(
        f"const unsigned long long v_{i} = {e};\n" for i, (_, e) in enumerate(items)
    )
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "layout.c")
        s = os.path.join(d, "layout.s")
        with open(c, "w") as f:
            f.write(src)
        r = subprocess.run(
            [ZIG_CC, "-target", target, "-S", "-O0", "-g0", *p.cflags,
             "-Wno-unused-command-line-argument", "-o", s, c],
            capture_output=True, text=True,
        )
        if r.returncode != 0:
            sys.exit(f"gen_layout: compiling for {target} failed:\n{r.stderr}")
        asm = open(s).read()
    # `v_N:` (Mach-O: `_v_N:`) followed by `.quad V` (x86_64) or `.xword V` (aarch64).
    vals = {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"^_?v_(\d+):\s*\n\s*\.(?:quad|xword)\s+(\d+)", asm, re.M)}
    if len(vals) != len(items):
        sys.exit(f"gen_layout: {target}: read {len(vals)} of {len(items)} values from the assembly")
    return {items[i][0]: vals[i] for i in range(len(items))}


def render(p, v):
    lines = list(p.header)
    for title, items in p.sections:
        lines += ["", f"// {title}"]
        for name, kind, struct, member in items:
            if kind == "size":
                lines.append(f"/// `sizeof(struct {struct})`")
                lines.append(f"pub const {name}: usize = {v[name]};")
            elif kind == "field":
                lines.append(f"/// `struct {struct}`: `{member}`")
                lines.append(
                    f"pub const {name}: Field = Field::new({v[name + '.offset']}, "
                    f"{v[name + '.size']});")
            else:
                lines.append(f"/// `{member}`")
                lines.append(f"pub const {name}: u64 = {v[name]};")
    lines += ["", "/// `struct tcpstat` members by `TcpCounters` name (the member is `tcps_`",
              "/// and the name where the two agree; the script lists the others).",
              "pub const TCPSTAT_FIELDS: &[(&str, Field)] = &["]
    for name, c in p.tcpstat_counters:
        lines.append(
            f"    (\"{name}\", Field::new({v[f'tcps_{c}.offset']}, {v[f'tcps_{c}.size']})),")
    lines.append("];")
    return "\n".join(lines) + "\n"


def rustfmt(path):
    # Keep the file rustfmt-clean so `cargo fmt --check` and --check agree.
    subprocess.run(["rustfmt", "--edition", "2024",
                    "--config-path", os.path.join(ROOT, "rustfmt.toml"), path], check=True)


def main(p):
    items = exprs(p)
    per_target = {t: compute(p, t, items) for t in p.targets}
    bad = [(k, {t: per_target[t][k] for t in p.targets})
           for k, _ in items if len({per_target[t][k] for t in p.targets}) != 1]
    if bad:
        for k, vals in bad:
            print(f"gen_layout: {k} differs between targets: {vals}", file=sys.stderr)
        sys.exit(f"gen_layout: the {p.name} targets' layouts differ; the parsers assume one layout")
    text = render(p, per_target[p.targets[0]])
    out = os.path.join(ROOT, p.out)
    targets = " and ".join(p.targets)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "--write":
        with open(out, "w") as f:
            f.write(text)
        rustfmt(out)
    elif mode == "--check":
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "layout.rs")
            with open(tmp, "w") as f:
                f.write(text)
            rustfmt(tmp)
            fresh = open(tmp).read()
        if fresh != open(out).read():
            sys.exit(f"gen_layout: {p.out} does not match the {p.name} headers for {targets}; "
                     f"run `python3 {p.script} --write` and review the diff")
        print(f"gen_layout: {len(items)} {p.name} values agree for {targets} and match layout.rs")
    else:
        sys.stdout.write(text)
