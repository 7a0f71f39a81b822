# tcpstats kernel module checks (.ci/check.d/30-kmod.sh): Concurrency Kit
# headers for the kernel compile (FREEBSD.md section 2), a host C compiler
# with sanitizers for the userland tests, shellcheck, mandoc for tcpstats.4.
ci_apt libck-dev gcc libc6-dev shellcheck mandoc
