#!/usr/bin/env bash
# tests/run.sh [--unit-only]: the one test runner behind `make test` and
# `make quick`.
#
# 1. Unit tests: every $BUILD/tests/test_* binary (cmocka).  Its test cases
#    count from cmocka's "[  PASSED  ] N test(s)." and "[  FAILED  ] N
#    test(s)" lines; a binary that crashes or exits non-zero without a
#    failure count counts as one failure.
# 2. Unless --unit-only: starts a real Kafka broker, PostgreSQL and the
#    Schema Registry (tests/harness/) in a temporary state directory, exports
#    their addresses (see tests/integration/helpers.sh) and runs every
#    tests/integration/[0-9]*.sh in order.  A script prints one "PASS <name>"
#    or "FAIL <name>: <reason>" line per check; one that exits non-zero
#    without a FAIL line counts as one failure, and so does one that prints
#    neither line (it checked nothing).
# The services are stopped and the state directory removed on every exit,
# including Ctrl-C and SIGTERM.  Logs go to $BUILD/test-logs/ (and, when
# something failed, the services' logs to $BUILD/test-logs/services/).
# The last line is exactly "N passed, N failed"; the exit status is 1 when
# anything failed or no test ran.
#
# Environment: BUILD (default build), IL_UNIT_TIMEOUT (300 s per binary),
# IL_IT_TIMEOUT (600 s per script, unless a script's header says
# "# timeout: N").
set -uo pipefail

usage() {
	echo "usage: $0 [--unit-only]" >&2
	exit 2
}

unit_only=0
for arg in "$@"; do
	case "$arg" in
	--unit-only) unit_only=1 ;;
	-h|--help) sed -n '2,24s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) usage ;;
	esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
mkdir -p "$BUILD/test-logs" || exit 1
BUILD=$(cd "$BUILD" && pwd)
LOGDIR=$BUILD/test-logs
HARNESS=$ROOT/tests/harness
UNIT_TIMEOUT=${IL_UNIT_TIMEOUT:-300}
IT_TIMEOUT=${IL_IT_TIMEOUT:-600}

passed=0
failed=0
started=$SECONDS
STATE=		# temporary state directory of the services, once made
CHILD=		# the test (or timeout) process we are waiting for
STARTERS=()	# service start scripts still running
cleaned=0

# tally NAME PASSED FAILED NOTE T0: adds one test file's counts to the totals
# and prints its progress line.
tally() {
	passed=$((passed + $2))
	failed=$((failed + $3))
	printf '%-44s %3d passed, %d failed%s (%d s)\n' "$1" "$2" "$3" "$4" $((SECONDS - $5))
}

rm -f "$LOGDIR"/*.log
rm -rf "$LOGDIR/services"

# stop_services: stop whatever was started, in parallel (the broker's
# shutdown takes a few seconds), keep the services' logs when something
# failed, and remove the state directory.
stop_services() {
	local pid f
	[ -n "$STATE" ] || return 0
	for pid in "${STARTERS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${STARTERS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	STARTERS=()
	"$HARNESS/registry.sh" stop "$STATE" >>"$LOGDIR/harness.log" 2>&1 &
	"$HARNESS/kafka.sh" stop "$STATE" >>"$LOGDIR/harness.log" 2>&1 &
	"$HARNESS/pg.sh" stop "$STATE" >>"$LOGDIR/harness.log" 2>&1 &
	wait
	if [ "$failed" != 0 ]; then
		mkdir -p "$LOGDIR/services"
		for f in kafka.log kafka.out pg.log registry.log; do
			[ -f "$STATE/$f" ] && cp "$STATE/$f" "$LOGDIR/services/"
		done
	fi
	rm -rf "$STATE"
	STATE=
}

cleanup() {
	[ "$cleaned" = 1 ] && return 0
	cleaned=1
	# A second Ctrl-C must not cut the cleanup short and leave a JVM or
	# a postmaster behind; every step below is bounded.
	trap '' INT TERM
	if [ -n "$CHILD" ]; then
		kill -TERM "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
		CHILD=
	fi
	stop_services
}

on_signal() {
	# fd 3 is the original stderr: the trap may fire inside run_bg's
	# wait, whose stderr goes to /dev/null.
	echo "run.sh: interrupted by SIG$1, stopping the test services" >&3
	cleanup
	trap - EXIT
	exit $((128 + $2))
}

exec 3>&2
trap cleanup EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM

# run_bg LOG TIMEOUT CMD...: run CMD under timeout in the background, output
# to LOG, and wait for it.  Waiting with `wait` (rather than running in the
# foreground) lets the signal traps fire at once.  Sets RC.
run_bg() {
	local log=$1 limit=$2
	shift 2
	timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null &
	CHILD=$!
	# The braces keep bash's "Segmentation fault" notice off the terminal:
	# the status says it, and the log holds the test's own output.
	{ wait "$CHILD"; } 2>/dev/null
	RC=$?
	CHILD=
}

# show_failure LOG: the end of a failed test's log, indented.
show_failure() {
	echo "    --- last lines of $1 ---"
	tail -n 40 "$1" | sed 's/^/    /'
}

# sum_cmocka WORD LOG: the sum of "[  WORD  ] N test(s)" counts in LOG.
sum_cmocka() {
	grep -aE "^\[  $1 *\] [0-9]+ test\(s\)" "$2" |
		sed -E 's/^[^]]*\] ([0-9]+).*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}

run_unit_tests() {
	local bin name log t0 p f note
	for bin in "$BUILD"/tests/test_*; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		name=$(basename "$bin")
		log=$LOGDIR/$name.log
		t0=$SECONDS
		CMOCKA_MESSAGE_OUTPUT=STDOUT run_bg "$log" "$UNIT_TIMEOUT" "$bin"
		p=$(sum_cmocka PASSED "$log")
		f=$(sum_cmocka FAILED "$log")
		note=
		if [ "$RC" != 0 ] && [ "$f" = 0 ]; then
			# A crash, a sanitizer report or a leak after the
			# tests passed: one failure for the binary.
			f=1
			note=" (exit status $RC$([ "$RC" = 124 ] && echo ", timed out"))"
		elif [ "$RC" = 0 ] && [ "$p" = 0 ] && [ "$f" = 0 ]; then
			f=1
			note=" (no cmocka summary in its output)"
		fi
		tally "unit/$name" "$p" "$f" "$note" "$t0"
		if [ "$f" != 0 ]; then
			show_failure "$log"
		fi
	done
}

# start_services: Kafka, PostgreSQL and the registry in parallel.  Returns
# non-zero (after counting one failure per service) when one did not start.
start_services() {
	local names=(kafka pg registry) i rc ok=0 t0=$SECONDS
	STATE=$(mktemp -d "${TMPDIR:-/tmp}/imislink-test.XXXXXX") || return 1
	mkdir -p "$STATE/tmp"
	for i in 0 1 2; do
		"$HARNESS/${names[$i]}.sh" start "$STATE" \
			>"$LOGDIR/harness-${names[$i]}.log" 2>&1 </dev/null &
		STARTERS[$i]=$!
	done
	for i in 0 1 2; do
		wait "${STARTERS[$i]}"
		rc=$?
		if [ "$rc" != 0 ]; then
			ok=1
			failed=$((failed + 1))
			echo "FAIL harness/${names[$i]}: could not start (exit status $rc)"
			show_failure "$LOGDIR/harness-${names[$i]}.log"
		fi
	done
	STARTERS=()
	[ "$ok" = 0 ] || return 1
	set -a
	# shellcheck disable=SC1091
	. "$STATE/kafka.env"
	# shellcheck disable=SC1091
	. "$STATE/pg.env"
	# shellcheck disable=SC1091
	. "$STATE/registry.env"
	set +a
	export IL_TEST_TMP=$STATE/tmp IL_TEST_STATE=$STATE IL_HARNESS_DIR=$HARNESS
	export IL_RUN_ID BUILD PATH="$BUILD/bin:$PATH"
	printf '%-44s kafka %s, postgresql %s:%s, registry %s (%d s)\n' "services" \
		"$KAFKA_BOOTSTRAP_SERVERS" "$PGHOST" "$PGPORT" "$SCHEMA_REGISTRY_URL" \
		$((SECONDS - t0))
}

run_integration_tests() {
	local script name log t0 p f note
	local scripts=()
	for script in tests/integration/[0-9]*.sh; do
		[ -f "$script" ] && scripts+=("$script")
	done
	[ "${#scripts[@]}" -gt 0 ] || return 0
	IL_RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	if ! start_services; then
		echo "integration: ${#scripts[@]} script(s) not run: the test services did not start"
		return 0
	fi
	for script in "${scripts[@]}"; do
		name=$(basename "$script" .sh)
		log=$LOGDIR/$name.log
		t0=$SECONDS
		# A script may ask for more time with a header line "# timeout: N"
		# (seconds); IL_IT_TIMEOUT, when set, still wins.
		limit=$(sed -n '1,30s/^# timeout: \([0-9][0-9]*\)$/\1/p' "$script" | head -n 1)
		limit=${IL_IT_TIMEOUT:-${limit:-$IT_TIMEOUT}}
		IL_TEST_NAME=$name IL_IT_LIMIT=$limit run_bg "$log" "$limit" bash "$script"
		p=$(grep -ac '^PASS ' "$log")
		f=$(grep -ac '^FAIL ' "$log")
		note=
		if [ "$RC" != 0 ] && [ "$f" = 0 ]; then
			f=1
			note=" (exit status $RC$([ "$RC" = 124 ] && echo ", timed out after ${limit} s"))"
		elif [ "$p" = 0 ] && [ "$f" = 0 ]; then
			# A script that checked nothing proves nothing.
			f=1
			note=" (no PASS or FAIL line: the script checked nothing)"
		fi
		tally "integration/$name" "$p" "$f" "$note" "$t0"
		if [ "$f" != 0 ]; then
			grep -a '^FAIL ' "$log" | sed 's/^/    /'
			show_failure "$log"
		fi
	done
}

run_unit_tests
if [ "$unit_only" = 0 ]; then
	run_integration_tests
fi
cleanup
trap - EXIT

echo "logs in $LOGDIR; total time $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
if [ "$failed" != 0 ] || [ $((passed + failed)) = 0 ]; then
	exit 1
fi
exit 0
