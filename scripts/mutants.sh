#!/bin/sh
# Mutation check of the code that turns kernel bytes into numbers: run by
# hand, not in CI (it builds and tests once per mutant, so it takes long).
# Needs cargo-mutants: `cargo install --locked cargo-mutants`.
#
#   scripts/mutants.sh [SCOPE...]     SCOPE: delta linux freebsd fields encode
#                                      (default: delta linux)
#   MUTANTS_RE='apply_tcp_info' scripts/mutants.sh linux
#                                      only mutants whose name matches
#   MUTANTS_FILES='src/output/encode/csv.rs' scripts/mutants.sh encode
#                                      only these files of the scope
#
# Each scope mutates its files and runs only the tests that speak for
# them, so a mutant counts as missed only if those tests pass. Results
# land in mutants.out/<scope>/ (caught.txt, missed.txt, timeout.txt,
# unviable.txt); docs/TESTING.md records the last run and explains every
# missed mutant that cannot be caught.
# No globbing by the shell: cargo-mutants expands the `-f` patterns.
set -euf
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null ||
	{ echo "cargo-mutants missing: cargo install --locked cargo-mutants" >&2; exit 2; }

[ $# -gt 0 ] || set -- delta linux

# The integration tests are one binary (`it`); name filters pick the
# groups that speak for a scope. Unit tests match by module path
# (`output::encode::csv::tests::...`), integration tests by their group
# (`output::csv::...`), so one filter list serves both.
output_tests="output::golden_output output::protoc_fields output::csv::
	output::proto_stream"

for scope in "$@"; do
	case $scope in
	delta)
		files="-f src/pipeline/delta.rs"
		tests="--lib -- pipeline::delta" ;;
	linux)
		files="-f src/platform/linux/sock_diag.rs"
		tests="--lib --test it --test linux_kernel_oracle -- linux::
			every_field_the_linux_source_fills ss_times_are_read_as_ranges" ;;
	freebsd)
		files="-f src/platform/freebsd/*.rs"
		tests="--lib --test it -- freebsd::" ;;
	fields)
		files="-f src/record/socket_fields.rs -f src/record/state_fingerprint.rs
			-f src/record/socket.rs"
		tests="--lib --test it -- record:: pipeline:: output::encode::
			platform:: $output_tests" ;;
	encode)
		files="-f src/output/encode/*.rs -f src/output/encode/*/*.rs"
		tests="--lib --test it -- output::encode:: $output_tests" ;;
	*)
		echo "unknown scope $scope (delta linux freebsd fields encode)" >&2
		exit 2 ;;
	esac
	if [ -n "${MUTANTS_FILES:-}" ]; then
		files=
		for f in $MUTANTS_FILES; do files="$files -f $f"; done
	fi
	mkdir -p "mutants.out/$scope"
	start=$(date +%s)
	# shellcheck disable=SC2086 # word splitting of the lists is intended
	cargo mutants --no-shuffle -j 1 --copy-target=true --output "mutants.out/$scope" \
		${MUTANTS_RE:+--re "$MUTANTS_RE"} $files -- $tests || true
	echo "$scope: $(($(date +%s) - start)) s"
	for f in caught missed timeout unviable; do
		list="mutants.out/$scope/mutants.out/$f.txt"
		n=0
		[ ! -f "$list" ] || n=$(wc -l <"$list")
		printf '  %s: %s\n' "$f" "$n"
	done
done
