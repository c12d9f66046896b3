#!/usr/bin/env bash
# 0040-valgrind: the programs' main loops under valgrind (memcheck) on the
# plain build (valgrind cannot run the sanitizer build the rest of the suite
# uses).  No definite or indirect leak and no memory error is allowed in:
#   - imislink produce (JSON lines -> Avro -> real broker, delivery reports),
#   - imislink consume -e (real broker -> decoded JSON lines),
#   - imislink-mockbroker serving /metrics and /healthz, reloading its
#     configuration on each of five SIGHUPs, then stopped by SIGTERM.
# "Possibly lost" blocks are librdkafka's and glibc's thread-local caches at
# exit and are not counted.
# Needs: kafka, registry, valgrind, the plain build ($IL_PLAIN_BUILD).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_TEST_TMP

plain=${IL_PLAIN_BUILD:-}
if [ -z "$plain" ] || [ ! -x "$plain/bin/imislink" ] || [ ! -x "$plain/bin/imislink-mockbroker" ]; then
	FAIL valgrind "the plain build is missing (IL_PLAIN_BUILD=\"$plain\"): run make test"
	finish
fi
if ! command -v valgrind >/dev/null; then
	FAIL valgrind "valgrind is not installed: run make deps"
	finish
fi
tmp=$IL_TEST_TMP/0040-valgrind
mkdir -p "$tmp"
fixtures=$(cd "$IL_HELPERS_DIR/../data/openspp" && pwd)
unset IMISLINK_CONFIG
vg=(valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --error-exitcode=99)

topic=$(make_topic_name it-valgrind)
if ! create_topic "$topic" 3; then
	FAIL valgrind-topic "could not create the test topic"
	finish
fi

# produce: exit 2 is the expected "some lines refused" (the fixture has one
# invalid line); 99 would be valgrind's verdict.
"${vg[@]}" "$plain/bin/imislink" produce -t "$topic" -f "$fixtures/demo-individuals.jsonl" \
	>"$tmp/produce.out" 2>"$tmp/produce.err"
rc=$?
if [ "$rc" -eq 2 ] && [ "$(grep -c '"status":"published"' "$tmp/produce.out")" -eq 20 ]; then
	PASS valgrind-produce
else
	FAIL valgrind-produce "exit $rc; $(grep -v '^{' "$tmp/produce.err" | head -20)"
fi

"${vg[@]}" "$plain/bin/imislink" consume -t "$topic" -o beginning -e \
	>"$tmp/consume.out" 2>"$tmp/consume.err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/consume.out")" -eq 20 ]; then
	PASS valgrind-consume
else
	FAIL valgrind-consume "exit $rc, $(wc -l <"$tmp/consume.out") lines; $(grep -v '^{' "$tmp/consume.err" | head -20)"
fi

# Natively first: a signal to the mock broker must only ever reach its main
# thread (one that reached librdkafka's mock cluster thread ended the
# cluster, and the process then hung on SIGTERM).
IMISLINK_CONFIG=/dev/null IMISLINK_HTTP_PORT=0 SCHEMA_REGISTRY_URL= "$plain/bin/imislink-mockbroker" -n 1 -p 2 \
	>/dev/null 2>"$tmp/native.err" &
native=$!
if wait_until 30 grep -q '"msg":"mock cluster ready"' "$tmp/native.err"; then
	signals_main_only mockbroker-signals-main-thread "$native"
else
	FAIL mockbroker-signals-main-thread "no ready line: $(tail -3 "$tmp/native.err")"
fi
daemon_stop "$native" 30 "$tmp/native.err" mockbroker-native-exit

# The mock broker: a daemon with an HTTP endpoint, run until SIGTERM.
: >"$tmp/mock.properties"
IMISLINK_CONFIG=$tmp/mock.properties IMISLINK_HTTP_PORT=0 SCHEMA_REGISTRY_URL= "${vg[@]}" "$plain/bin/imislink-mockbroker" -n 1 -p 2 \
	--bootstrap-file "$tmp/bootstrap" >"$tmp/mock.out" 2>"$tmp/mock.err" &
mock=$!
if wait_until 120 grep -q '"http_port"' "$tmp/mock.err"; then
	port=$(sed -n 's/.*"msg":"mock cluster ready".*"http_port":\([0-9]*\).*/\1/p' "$tmp/mock.err")
	for i in 1 2 3; do
		curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics.$i" || true
		curl -sS "http://127.0.0.1:$port/healthz" >"$tmp/healthz.$i" || true
	done
	check valgrind-mockbroker-metrics grep -q '^# TYPE' "$tmp/metrics.3"
	check valgrind-mockbroker-healthz grep -q '"status":"ok"' "$tmp/healthz.3"
	# SIGHUP re-reads the configuration (IMISLINK_CONFIG names the file).
	# Valgrind schedules the threads itself, so a signal could land on
	# librdkafka's mock cluster thread (whose poll() must never see EINTR)
	# unless every thread but the main one blocks it: five in a row, each
	# taken by the main thread.
	echo "log.level = debug" >"$tmp/mock.properties"
	reloaded() {
		[ "$(grep -c '"msg":"configuration reloaded","log_level":"debug"' "$tmp/mock.err")" -ge "$1" ]
	}
	reloads=0
	for i in 1 2 3 4 5; do
		kill -HUP "$mock"
		wait_until 60 reloaded "$i" || break
		reloads=$i
	done
	if [ "$reloads" -eq 5 ] && ! grep -q 'Mock cluster failed to poll' "$tmp/mock.err"; then
		PASS mockbroker-sighup-reload
	else
		FAIL mockbroker-sighup-reload "$reloads of 5 SIGHUPs taken: $(grep -m 3 -e 'failed' "$tmp/mock.err" | cut -c 1-300)"
	fi
	curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics.4" || true
	check mockbroker-serves-after-reloads grep -q '^kafka_partition_latest_offset' "$tmp/metrics.4"
else
	FAIL valgrind-mockbroker-start "no ready line: $(tail -5 "$tmp/mock.err")"
fi
daemon_stop "$mock" 120 "$tmp/mock.err" valgrind-mockbroker-exit
if vg_clean "$tmp/mock.err"; then
	PASS valgrind-mockbroker
else
	FAIL valgrind-mockbroker "$(grep '^==[0-9]*==' "$tmp/mock.err" | head -n 20 | tr '\n' ' ')"
fi
finish
