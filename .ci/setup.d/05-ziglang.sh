# FreeBSD headers and a C compiler for them (FREEBSD.md section 1).
python3 -c 'import ziglang' 2>/dev/null || pip install -q ziglang
