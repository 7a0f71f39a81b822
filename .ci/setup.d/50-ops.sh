# Tools for the operations checks: rc.d script lint and test,
# manual page lint, flake syntax. dash is the POSIX shell the rc.d test
# runs the script under (FreeBSD's /bin/sh is also a plain POSIX sh).
ci_apt shellcheck mandoc nix-bin dash
