#!/usr/bin/env bash
# 0115-enroll-start-term: a SIGTERM at any moment of the enrollment worker's
# start-up ends it in order, soon, every time (a worker once ran on for ten
# minutes after a SIGTERM sent just after "http listening": start-up looked
# every village, officer and product of the mapping up, over a hundred calls
# at the client-side rate limit, and only then looked at the stop).
#   - 24 starts, the SIGTERM sent in turn: as soon as the process runs the
#     worker (maybe before its handlers: exit 0, or the default action's
#     status 143); just after "http listening"; just after "started"; just
#     after "logged in to openIMIS", while the look-ups wait on an emulator
#     that answers each call after 1 s; just after "logged in" with a limit
#     of one call per second, while they wait on the rate limiter; just
#     after "consuming";
#   - each exits within 15 s (the start-up it cuts short would take minutes),
#     with exit status 0 and "stopped" logged (or the first moment's 143);
#   - a SIGTERM before "consuming" ends the start-up: the worker never
#     subscribes ("consuming" absent) and says why it stops.
# Start-up's moments come from its log lines, so the script polls the log
# closely; it asserts only an upper bound far below the cut start-up.
# Needs: kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS IL_TEST_TMP BUILD
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

enroll_init 0115-enroll-start-term
tmp=$ENR_TMP
group=$(make_topic_name it-enroll-term)
ELIG=$(make_topic_name it-enroll-term-elig)
if ! create_topic "$ELIG" 2; then
	FAIL enroll-term-topic "could not create the test topic"
	finish
fi
RESULTS=$ELIG-results
DLQ=$ELIG-dlq

# Two emulators: one that answers every call after 1 s (start-up then takes
# over two minutes), one at full speed (start-up in a moment).
emu_start --latency-ms 1000
slow_url=$EMU_URL
emu_start
fast_url=$EMU_URL

# start_worker URL CALLS_PER_SECOND LOG: a worker in the background (WPID).
start_worker() {
	daemon_start "$3" env KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
		${SCHEMA_REGISTRY_URL:+SCHEMA_REGISTRY_URL="$SCHEMA_REGISTRY_URL"} \
		IMISLINK_CONFIG=/dev/null OPENIMIS_API_URL="$1" OPENIMIS_USERNAME=Admin OPENIMIS_PASSWORD=admin123 \
		IMISLINK_ENROLL_MAPPING_FILE="$ENR_DATA/mapping.properties" \
		IMISLINK_TOPIC_ELIGIBILITY="$ELIG" IMISLINK_TOPIC_RESULTS="$RESULTS" IMISLINK_TOPIC_DLQ="$DLQ" \
		IMISLINK_GROUP_ID="$group" IMISLINK_HTTP_PORT=0 \
		OPENIMIS_CALLS_PER_SECOND="$2" OPENIMIS_TIMEOUT_MS=30000 \
		"$WORKER" -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000
	WPID=$DAEMON_PID
	ENR_PIDS+=("$WPID")
}

# wait_line LOG PID MSG: polls LOG closely (a SIGTERM "just after" the line)
# until a line of message MSG; returns 1 when the process ended or after 60 s.
wait_line() {
	local deadline=$((SECONDS + 60))
	until grep -qs "\"msg\":\"$3" "$1"; do
		kill -0 "$2" 2>/dev/null || return 1
		((SECONDS < deadline)) || return 1
		sleep 0.005
	done
}

# term_and_wait PID: SIGTERM, then sets TERM_RC to its exit status (137:
# still running after 15 s, killed).  Polled, not watched by a background
# sleep: nothing of this shell outlives the check.
term_and_wait() {
	local pid=$1 deadline=$((SECONDS + 15))
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z ] &&
		((SECONDS < deadline)); do
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	TERM_RC=$?
}

# wait_exec PID: until PID runs the worker (a forked shell that has not run
# it yet would run this script's exit trap on SIGTERM); 1 if it ended first.
wait_exec() {
	local deadline=$((SECONDS + 20))
	until [ "$(cat "/proc/$1/comm" 2>/dev/null)" = imislink-enroll ]; do
		kill -0 "$1" 2>/dev/null || return 1
		((SECONDS < deadline)) || return 1
		sleep 0.001
	done
}

moments=(spawn http-listening started logged-in rate-limited consuming)
for run in $(seq 0 23); do
	moment=${moments[run % ${#moments[@]}]}
	name=enroll-term-$moment-$((run / ${#moments[@]} + 1))
	log=$tmp/$name.log
	case $moment in
	spawn | http-listening | started | logged-in) url=$slow_url calls=100000 ;;
	rate-limited) url=$fast_url calls=1 ;;
	consuming) url=$fast_url calls=100000 ;;
	esac
	start_worker "$url" "$calls" "$log"
	case $moment in
	spawn) line= ;;
	http-listening) line="http listening" ;;
	started) line=started ;;
	logged-in | rate-limited) line="logged in to openIMIS" ;;
	consuming) line=consuming ;;
	esac
	if ! wait_exec "$WPID" || { [ -n "$line" ] && ! wait_line "$log" "$WPID" "$line"; }; then
		FAIL "$name" "no \"${line:-exec}\" before the SIGTERM: $(tail -n 3 "$log" | cut -c 1-300 | tr '\n' ' ')"
		kill_all "$WPID"
		continue
	fi
	term_and_wait "$WPID"
	rc=$TERM_RC
	tail=$(tail -n 3 "$log" | cut -c 1-300 | tr '\n' ' ')
	if [ "$rc" = 137 ]; then
		FAIL "$name" "still running 15 s after SIGTERM (killed): $tail"
	elif [ "$moment" = spawn ] && { [ "$rc" = 0 ] || [ "$rc" = 143 ]; }; then
		PASS "$name"
	elif [ "$rc" != 0 ]; then
		FAIL "$name" "exit status $rc after SIGTERM: $tail"
	elif ! grep -q '"msg":"stopped"' "$log"; then
		FAIL "$name" "exit 0 without a \"stopped\" line: $tail"
	elif [ "$moment" != consuming ] && grep -q '"msg":"consuming"' "$log"; then
		FAIL "$name" "the start-up went on to consume after the SIGTERM: $tail"
	elif [ "$moment" != consuming ] && ! grep -q '"reason":"stopped before openIMIS was ready"' "$log"; then
		FAIL "$name" "no \"stopped before openIMIS was ready\": $tail"
	else
		PASS "$name"
	fi
done
finish
