#!/usr/bin/env bash
# 0140-enroll-valgrind: the enrollment worker's main loop under valgrind
# (memcheck) on the plain build (valgrind cannot run the sanitizer build).
#   - a worker enrolls 150 generated households (every outcome, dead letters
#     included), reloads its configuration on SIGHUP and stops on SIGTERM:
#     every event accounted for, no definite or indirect leak, no memory error;
#   - a bad configuration stops it at start with exit 1 and the key named.
# Needs: kafka, registry, valgrind, the plain build ($IL_PLAIN_BUILD).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD
# shellcheck source=../data/enroll/lib.sh
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

plain=${IL_PLAIN_BUILD:-}
if [ -z "$plain" ] || [ ! -x "$plain/bin/imislink-enroll" ]; then
	FAIL enroll-valgrind "the plain build is missing (IL_PLAIN_BUILD=\"$plain\"): run make test"
	finish
fi
if ! command -v valgrind >/dev/null; then
	FAIL enroll-valgrind "valgrind is not installed: run make deps"
	finish
fi
enroll_init 0140-enroll-valgrind
enroll_topics it-enroll-vg
ENR_POLL_GROUP=$(make_topic_name it-enroll-vg-poll)
emu_start

"$GEN" --seed 14 --households 150 --out-events "$ENR_TMP/events.jsonl" \
	--out-expect "$ENR_TMP/expect.json" 2>"$ENR_TMP/gen.log" ||
	{ FAIL enroll-valgrind-generate "$(tail -n 2 "$ENR_TMP/gen.log")"; finish; }
produce_events "$ENR_TMP/events.jsonl" "$ELIG" "$ENR_TMP/receipts.jsonl"

# worker_start runs $WORKER: here valgrind around the plain binary (exec keeps the pid).
cat >"$ENR_TMP/vg-worker" <<WRAP
#!/bin/sh
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --error-exitcode=99 "$plain/bin/imislink-enroll" "\$@"
WRAP
chmod +x "$ENR_TMP/vg-worker"
: >"$ENR_TMP/worker.properties"
if WORKER=$ENR_TMP/vg-worker worker_start vg "$(make_topic_name it-enroll-vg-group)" \
	IMISLINK_CONFIG="$ENR_TMP/worker.properties"; then
	if wait_accounted "$ENR_TMP/expect.json" 300; then
		PASS enroll-valgrind-accounted
	else
		FAIL enroll-valgrind-accounted "not every event has a result or a dead letter after 300 s"
	fi
	check_duplicates enroll-valgrind
	echo "log.level = debug" >"$ENR_TMP/worker.properties"
	kill -HUP "$WPID"
	if wait_until 60 grep -q '"msg":"configuration reloaded","log_level":"debug"' "$WLOG"; then
		PASS enroll-sighup-reload
	else
		FAIL enroll-sighup-reload "no reload line: $(tail -n 3 "$WLOG" | tr '\n' ' ')"
	fi
	worker_stop "$WPID" vg "$WLOG"
	if grep -q '^==[0-9]*==' "$WLOG"; then
		FAIL enroll-valgrind-report "$(grep '^==[0-9]*==' "$WLOG" | head -n 20 | tr '\n' ' ')"
	else
		PASS enroll-valgrind-report
	fi
fi

# A bad configuration: exit 1 at start, the key named, nothing consumed.
IMISLINK_CONFIG=/dev/null IMISLINK_ENROLL_MAPPING_FILE= "$plain/bin/imislink-enroll" \
	>"$ENR_TMP/nomap.out" 2>"$ENR_TMP/nomap.err" </dev/null
check enroll-config-no-mapping test "$?" = 1 -a -n "$(grep 'enroll.mapping.file' "$ENR_TMP/nomap.err")"
IMISLINK_CONFIG=/dev/null IMISLINK_ENROLL_MAPPING_FILE="$ENR_DATA/mapping.properties" \
	"$plain/bin/imislink-enroll" --set openimis.timeout.ms=soon \
	>"$ENR_TMP/badint.out" 2>"$ENR_TMP/badint.err" </dev/null
check enroll-config-bad-value test "$?" = 1 -a -n "$(grep 'openimis.timeout.ms' "$ENR_TMP/badint.err")"
printf 'programme.7.target = insurence\n' >"$ENR_TMP/bad-mapping.properties"
IMISLINK_CONFIG=/dev/null IMISLINK_ENROLL_MAPPING_FILE="$ENR_TMP/bad-mapping.properties" \
	"$plain/bin/imislink-enroll" >"$ENR_TMP/badmap.out" 2>"$ENR_TMP/badmap.err" </dev/null
check enroll-config-bad-mapping test "$?" = 1 -a -n "$(grep 'programme.7.target' "$ENR_TMP/badmap.err")"
finish
