# macOS, proven on Linux (README "macOS"): the Rust standard library for
# both Mac targets (clippy, and the linked arm64 binary), and
# cargo-zigbuild, which links with zig (05-ziglang.sh) and the macOS SDK
# stubs zig ships. cargo-zigbuild comes as a prebuilt wheel from PyPI
# (seconds); building it with `cargo install` took 11.5 minutes on the
# 2-core CI machine, so that is only the fallback. Both are kept for the
# next run.
rustup target add x86_64-apple-darwin aarch64-apple-darwin >/dev/null 2>&1
# pip puts the executable in Python's scripts directory, which may not be
# on PATH (pyenv): add it for the check scripts.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH
command -v cargo-zigbuild >/dev/null 2>&1 ||
    pip install -q cargo-zigbuild ||
    cargo install --locked --quiet cargo-zigbuild
ci_apt file shellcheck
