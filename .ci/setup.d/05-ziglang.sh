# FreeBSD headers and a C compiler for them (zig bundles both).
python3 -c 'import ziglang' 2>/dev/null || pip install -q ziglang
