# tcpstats kernel module checks (.ci/check.d/30-kmod.sh): Concurrency Kit
# headers for the kernel compile, gcc and clang with their sanitizer
# runtimes for the userland tests (both compilers must run them: each
# instruments differently), shellcheck, mandoc for tcpstats.4.
# (Debian keeps clang's sanitizer runtimes in libclang-rt-dev, which
# clang only recommends.)
ci_apt libck-dev gcc libc6-dev clang libclang-rt-dev shellcheck mandoc
