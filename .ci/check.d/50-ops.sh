#!/usr/bin/env bash
# Operations checks: the rc.d script and its test doubles lint as
# POSIX sh, every manual page is mandoc-lint clean, flake.nix parses, and
# the newsyslog line has the fields newsyslog.conf(5) expects. The rc.d
# script's behaviour is tested by `cargo test --test it ops::rcd`.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "shellcheck -s sh rc.d/netpulse tests/rcd/*"
shellcheck -s sh rc.d/netpulse tests/rcd/rc.subr-test-double tests/rcd/daemon-test-double

shopt -s nullglob
# Every page the project installs: ours under man/, tcpstats(4) next to
# the module.
pages=(man/*.[1-9] kmod/*/*.[1-9])
if [ ${#pages[@]} -eq 0 ]; then
    echo "no manual pages under man/" >&2
    exit 1
fi
for page in "${pages[@]}"; do
    echo "mandoc -T lint -W warning $page"
    # mandoc exits non-zero on any message at warning level or above.
    mandoc -T lint -W warning "$page"
done

echo "nix-instantiate --parse flake.nix"
# No nix daemon or nixbld group on CI: parsing needs neither.
nix-instantiate --option build-users-group '' --parse flake.nix >/dev/null
echo "nix-instantiate --eval --strict tests/nix/flake-eval.nix (inputs are test doubles)"
nix-instantiate --option build-users-group '' --eval --strict tests/nix/flake-eval.nix >/dev/null

echo "newsyslog line: logfile owner mode count size when flags pidfile signal"
awk '!/^#/ && NF { if (NF != 9) { print FILENAME ": " NR ": expected 9 fields, got " NF; bad = 1 } n++ }
     END { if (n == 0) { print "no entries"; bad = 1 } exit bad }' etc/newsyslog.conf.d/netpulse.conf
