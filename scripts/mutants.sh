#!/bin/sh
# Mutation check of the code that turns kernel bytes into numbers and
# numbers into output: run by hand, not in CI (it builds and tests once
# per mutant, so it takes long). Needs cargo-mutants:
# `cargo install --locked cargo-mutants`.
#
#   scripts/mutants.sh [SCOPE...]     SCOPE: delta linux freebsd fields encode
#                                      (default: delta linux)
#   MUTANTS_RE='apply_tcp_info' scripts/mutants.sh linux
#                                      only mutants whose name matches
#   MUTANTS_EXCLUDE_RE='apply_tcp_info' scripts/mutants.sh linux
#                                      all but the mutants whose name
#                                      matches
#   MUTANTS_FILES='src/output/encode/csv.rs' scripts/mutants.sh encode
#                                      only these files (instead of the
#                                      scopes' own)
#   MUTANTS_TARGETS='--lib' scripts/mutants.sh linux
#                                      build and run only these test
#                                      targets (--lib, it, ...) instead
#                                      of the scopes' own: a first pass
#                                      over many mutants with the unit
#                                      tests alone costs one build of the
#                                      crate per mutant instead of two;
#                                      re-run what it misses with every
#                                      target (MUTANTS_RE)
#   MUTANTS_FILTERS='freebsd::tcpstats' scripts/mutants.sh freebsd
#                                      run only the tests whose names
#                                      match (cargo test filters) instead
#                                      of the scopes' own groups
#   MUTANTS_IN_PLACE=1 scripts/mutants.sh freebsd
#                                      mutate this tree and build in its
#                                      target/: no 5-7 GB copy and no
#                                      rebuild of the copy, but leave the
#                                      sources alone until it ends
#
# The scopes given run as one cargo-mutants run: one baseline build (a
# few minutes: the copied target/ is rebuilt), then each mutant is built
# and tested against the tests of every scope given. A mutant counts as
# missed only if those tests pass. Results land in
# mutants.out/<scope+scope...>/ (caught.txt, missed.txt, timeout.txt,
# unviable.txt); docs/TESTING.md records the runs and explains every
# missed mutant that cannot be caught.
#
# Builds are made without debug information (CARGO_PROFILE_DEV_DEBUG=0,
# CARGO_PROFILE_TEST_DEBUG=0, unless set otherwise): linking the test
# binaries then takes a third of the time, so a mutant costs about 5 s of
# build instead of 13 s. The first build after a switch rebuilds every
# dependency once (3-4 minutes), and so does the next ordinary build.
# No globbing by the shell: cargo-mutants expands the `-f` patterns.
set -euf
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}"
export CARGO_PROFILE_TEST_DEBUG="${CARGO_PROFILE_TEST_DEBUG:-0}"
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null ||
	{ echo "cargo-mutants missing: cargo install --locked cargo-mutants" >&2; exit 2; }

[ $# -gt 0 ] || set -- delta linux

# The integration tests are one binary (`it`): name filters pick the
# groups that speak for a scope. Unit tests match by module path
# (`output::encode::csv::tests::...`), integration tests by their group
# (`output::csv::...`), so one filter list serves both binaries. Only the
# test targets named are built for each mutant.
output_tests="output::golden_output output::protoc_fields output::csv::
	output::proto_stream"

files='' targets='' filters='' name=''
add_target() {
	case " $targets " in *" $1 "*) ;; *) targets="$targets $1" ;; esac
}
for scope in "$@"; do
	case $scope in
	delta)
		files="$files src/pipeline/delta.rs"
		add_target --lib
		filters="$filters pipeline::delta" ;;
	linux)
		files="$files src/platform/linux/sock_diag.rs"
		add_target --lib
		add_target it
		add_target linux_kernel_oracle
		filters="$filters linux:: every_field_the_linux_source_fills
			ss_times_are_read_as_ranges" ;;
	freebsd)
		files="$files src/platform/freebsd/*.rs"
		add_target --lib
		add_target it
		filters="$filters freebsd::" ;;
	fields)
		files="$files src/record/socket_fields.rs src/record/state_fingerprint.rs
			src/record/socket.rs"
		add_target --lib
		add_target it
		filters="$filters record:: pipeline:: output::encode:: platform::
			$output_tests" ;;
	encode)
		files="$files src/output/encode/*.rs src/output/encode/*/*.rs"
		add_target --lib
		add_target it
		filters="$filters output::encode:: $output_tests" ;;
	*)
		echo "unknown scope $scope (delta linux freebsd fields encode)" >&2
		exit 2 ;;
	esac
	name="${name:+$name+}$scope"
done
files=${MUTANTS_FILES:-$files}
targets=${MUTANTS_TARGETS:-$targets}
filters=${MUTANTS_FILTERS:-$filters}

args="--no-shuffle --output mutants.out/$name"
if [ -n "${MUTANTS_IN_PLACE:-}" ]; then
	args="$args --in-place" # always one job
else
	args="$args -j 1 --copy-target=true"
fi
for f in $files; do args="$args -f $f"; done
for t in $targets; do
	case $t in
	--lib) args="$args --cargo-arg=--lib" ;;
	*) args="$args --cargo-arg=--test --cargo-arg=$t" ;;
	esac
done

mkdir -p "mutants.out/$name"
start=$(date +%s)
# shellcheck disable=SC2086 # word splitting of the lists is intended
cargo mutants $args ${MUTANTS_RE:+--re "$MUTANTS_RE"} \
	${MUTANTS_EXCLUDE_RE:+--exclude-re "$MUTANTS_EXCLUDE_RE"} -- -- $filters || true
echo "$name: $(($(date +%s) - start)) s"
for f in caught missed timeout unviable; do
	list="mutants.out/$name/mutants.out/$f.txt"
	n=0
	[ ! -f "$list" ] || n=$(wc -l <"$list")
	printf '  %s: %s\n' "$f" "$n"
done
