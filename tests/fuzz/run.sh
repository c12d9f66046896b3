#!/usr/bin/env bash
# tests/fuzz/run.sh - runs the libFuzzer targets that `make fuzz` built.
#
#   run.sh --check            is clang with libFuzzer here? (says what to
#                             install when it is not)
#   run.sh [TARGET...]        runs each target (default: every
#                             $BUILD/fuzz/fuzz_*) for FUZZ_SECONDS on its corpus
#   run.sh --merge [TARGET...] minimises tests/data/fuzz/TARGET/ with
#                             -merge=1 over itself and the work corpus
#
# A run starts from tests/data/fuzz/TARGET/ (the committed seeds, read
# only) and $BUILD/fuzz/corpus/TARGET/ (the work corpus, where libFuzzer adds
# what it finds and which later runs continue from).  A crash, a leak, a
# sanitizer report or an input slower than FUZZ_TIMEOUT seconds stops the
# target and leaves the input in $BUILD/fuzz/artifacts/TARGET/; minimise it
# with `$BUILD/fuzz/TARGET -minimize_crash=1 -runs=10000 FILE`, fix the
# product code and add the minimised input to tests/data/fuzz/TARGET/ (the
# unit test test_fuzz_corpus replays every file there).  Logs go to
# $BUILD/fuzz/logs/.  The exit status is 1 when a target failed.
#
# Environment: BUILD (default build), FUZZ_SECONDS (60 per target),
# FUZZ_TIMEOUT (1 s per input), FUZZ_JOBS (targets run at once, 1),
# FUZZ_CC (clang).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-1}
FUZZ_JOBS=${FUZZ_JOBS:-1}
FUZZ_CC=${FUZZ_CC:-clang}
SEEDS=$ROOT/tests/data/fuzz

usage() {
	sed -n '2,24s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# check: can $FUZZ_CC link a libFuzzer program with ASan and UBSan?
check() {
	local dir rc

	if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
		echo "make fuzz: no \"$FUZZ_CC\" found; install clang with libFuzzer" \
			"(Debian: apt-get install clang, which brings libclang-rt-14-dev)" >&2
		return 1
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/imislink-fuzzcheck.XXXXXX") || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$dir/check.c"
	"$FUZZ_CC" -fsanitize=fuzzer,address,undefined -o "$dir/check" "$dir/check.c" \
		>"$dir/log" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		echo "make fuzz: \"$FUZZ_CC\" cannot link a libFuzzer program:" >&2
		sed 's/^/    /' "$dir/log" | tail -n 5 >&2
		echo "install libFuzzer (Debian bookworm: apt-get install libclang-rt-14-dev," \
			"or libclang-rt-N-dev for clang N)" >&2
	fi
	rm -rf "$dir"
	return "$rc"
}

# stat NAME LOG: a -print_final_stats=1 figure, or "?".
stat() {
	local v
	v=$(grep -a "^stat::$1:" "$2" | tail -n 1 | awk '{ print $2 }')
	echo "${v:-?}"
}

# run_one TARGET: fuzz TARGET for FUZZ_SECONDS; prints one summary line.
run_one() {
	local t=$1 bin=$BUILD/fuzz/$1 work=$BUILD/fuzz/corpus/$1
	local art=$BUILD/fuzz/artifacts/$1 log=$BUILD/fuzz/logs/$1.log
	local rc t0=$SECONDS verdict found

	mkdir -p "$work" "$art" "$SEEDS/$t" || return 1
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 \
		-artifact_prefix="$art/" -print_final_stats=1 "$work" "$SEEDS/$t" \
		>"$log" 2>&1 </dev/null
	rc=$?
	verdict=ok
	if [ "$rc" != 0 ]; then
		found=$(grep -ao "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/.* to //')
		verdict="FAILED (exit status $rc${found:+, input $found}; see $log)"
	fi
	printf '%-22s %9s runs in %3d s, %6s exec/s, corpus %s + %s seeds: %s\n' "$t" \
		"$(stat number_of_executed_units "$log")" $((SECONDS - t0)) \
		"$(stat average_exec_per_sec "$log")" \
		"$(find "$work" -type f | wc -l)" "$(find "$SEEDS/$t" -type f | wc -l)" "$verdict"
	[ "$rc" = 0 ]
}

# merge_one TARGET: tests/data/fuzz/TARGET/ becomes its named inputs
# (seed-*, and crash-*, leak-*, timeout-* of fixed bugs) plus the smallest
# set of other inputs that adds what it and the work corpus cover.
merge_one() {
	local t=$1 tmp f
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/imislink-merge.XXXXXX") || return 1
	mkdir -p "$BUILD/fuzz/corpus/$t" "$BUILD/fuzz/logs"
	for f in "$SEEDS/$t"/seed-* "$SEEDS/$t"/crash-* "$SEEDS/$t"/leak-* "$SEEDS/$t"/timeout-*; do
		[ -f "$f" ] && cp "$f" "$tmp/"
	done
	# -use_counters=0: an input is kept for an edge it covers first, not
	# for a new hit count of one, which keeps the committed corpus small
	if ! "$BUILD/fuzz/$t" -merge=1 -use_counters=0 -timeout="$FUZZ_TIMEOUT" "$tmp" "$SEEDS/$t" \
		"$BUILD/fuzz/corpus/$t" >"$BUILD/fuzz/logs/$t.merge.log" 2>&1; then
		echo "$t: merge failed, see $BUILD/fuzz/logs/$t.merge.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	find "$SEEDS/$t" -type f -delete
	cp "$tmp"/* "$SEEDS/$t/" 2>/dev/null
	rm -rf "$tmp"
	printf '%-22s %4d files, %6d bytes\n' "$t" "$(find "$SEEDS/$t" -type f | wc -l)" \
		"$(cat "$SEEDS/$t"/* 2>/dev/null | wc -c)"
}

mode=run
case "${1:-}" in
--check) check; exit $? ;;
--merge) mode=merge; shift ;;
-h|--help) usage ;;
-*) usage ;;
esac

targets=("$@")
if [ "${#targets[@]}" = 0 ]; then
	for bin in "$BUILD"/fuzz/fuzz_*; do
		[ -f "$bin" ] && [ -x "$bin" ] && targets+=("$(basename "$bin")")
	done
fi
if [ "${#targets[@]}" = 0 ]; then
	echo "no fuzz targets in $BUILD/fuzz/: run make fuzz" >&2
	exit 1
fi
for t in "${targets[@]}"; do
	if [ ! -x "$BUILD/fuzz/$t" ]; then
		echo "no fuzz target $BUILD/fuzz/$t: run make fuzz" >&2
		exit 1
	fi
done
mkdir -p "$BUILD/fuzz/logs" || exit 1

failed=0
if [ "$mode" = merge ]; then
	for t in "${targets[@]}"; do
		merge_one "$t" || failed=1
	done
	exit "$failed"
fi

# FUZZ_JOBS targets at a time; each one is a single process.
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$FUZZ_JOBS" ]; then
		wait -n || failed=1
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=1
	running=$((running - 1))
done
if [ "$failed" != 0 ]; then
	echo "fuzz: a target failed; its input is in $BUILD/fuzz/artifacts/" >&2
fi
exit "$failed"
