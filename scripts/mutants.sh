#!/bin/sh
# Mutation check of the code that turns kernel bytes into numbers: run by
# hand, not in CI (it builds and tests once per mutant, so it takes long).
# Needs cargo-mutants: `cargo install --locked cargo-mutants`.
#
#   scripts/mutants.sh [SCOPE...]     SCOPE: delta linux freebsd fields encode
#                                      (default: delta linux)
#   MUTANTS_RE='apply_tcp_info' scripts/mutants.sh linux
#                                      only mutants whose name matches
#
# Each scope mutates its files and runs only the tests that speak for
# them, so a mutant counts as missed only if those tests pass. Results
# land in mutants.out/<scope>/ (caught.txt, missed.txt, timeout.txt,
# unviable.txt); docs/TESTING.md records the last run and explains every
# missed mutant that cannot be caught.
set -eu
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null ||
	{ echo "cargo-mutants missing: cargo install --locked cargo-mutants" >&2; exit 2; }

[ $# -gt 0 ] || set -- delta linux

for scope in "$@"; do
	case $scope in
	delta)
		files="-f src/pipeline/delta.rs"
		tests="--lib pipeline::delta" ;;
	linux)
		files="-f src/platform/linux/sock_diag.rs"
		tests="--test linux_sock_diag_from_c --test linux_tcp_info_layout --test linux_kernel_oracle --lib" ;;
	freebsd)
		files="-f src/platform/freebsd/*.rs"
		tests="--lib --test freebsd_fixtures --test freebsd_replay" ;;
	fields)
		files="-f src/record/socket_fields.rs -f src/record/socket.rs"
		tests="--lib --test golden_output" ;;
	encode)
		files="-f src/output/encode/*.rs -f src/output/encode/*/*.rs"
		tests="--lib --test golden_output --test proto_stream --test output_csv" ;;
	*)
		echo "unknown scope $scope (delta linux freebsd fields encode)" >&2
		exit 2 ;;
	esac
	mkdir -p "mutants.out/$scope"
	start=$(date +%s)
	# shellcheck disable=SC2086 # word splitting of the lists is intended
	cargo mutants --no-shuffle -j 1 --copy-target=true --output "mutants.out/$scope" \
		${MUTANTS_RE:+--re "$MUTANTS_RE"} $files -- $tests || true
	echo "$scope: $(($(date +%s) - start)) s"
	for f in caught missed timeout unviable; do
		printf '  %s: %s\n' "$f" "$(cat "mutants.out/$scope/mutants.out/$f.txt" 2>/dev/null | wc -l)"
	done
done
