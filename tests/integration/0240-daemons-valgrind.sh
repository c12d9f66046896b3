#!/usr/bin/env bash
# 0240-daemons-valgrind: the main loops of imislink-deadletter and
# imislink-lagmon under valgrind (memcheck) on the plain build (valgrind
# cannot run the sanitizer build the rest of the suite uses), both at once
# against the real broker and the real PostgreSQL:
#   - imislink-deadletter stores a few hundred dead letters, results and
#     unreadable messages (it_dlq_gen) in a database of its own; PostgreSQL
#     is stopped while more arrive (the worker pauses, /healthz degraded, its
#     writes fail and are retried) and started again; every message ends up
#     as one row;
#   - imislink-lagmon watches a group whose consumer (it_lag_consumer)
#     commits every second while messages arrive, for several rounds;
#     /metrics, /healthz and Burrow's /v3 status and lag are scraped a few
#     times;
#   - both reload log.level on SIGHUP and exit 0 on SIGTERM: no memory error
#     and no definite or indirect leak ("possibly lost" blocks are
#     librdkafka's and glibc's thread caches at exit and are not counted);
#   - a bad configuration (unknown key, malformed value, malformed
#     audit.db.url) stops each at start, exit 1, the key named, no memory
#     error either.
# Needs: kafka, pg, valgrind, the plain build ($IL_PLAIN_BUILD).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS IL_TEST_TMP BUILD PGHOST PGPORT PGUSER IL_TEST_STATE

plain=${IL_PLAIN_BUILD:-}
DL=$plain/bin/imislink-deadletter
LAGMON=$plain/bin/imislink-lagmon
vg_require daemons-valgrind "$DL" "$LAGMON"
any_build GEN tests/it_dlq_gen daemons-valgrind-binaries
any_build LC tests/it_lag_consumer daemons-valgrind-binaries

tmp=$IL_TEST_TMP/0240-daemons-valgrind
rm -rf "$tmp"
mkdir -p "$tmp"
unset IMISLINK_CONFIG
db=it_daemons_vg_${IL_RUN_ID}_$$
dburl="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db"
CLUSTER=f-vg-cluster
PIDS=()                 # background processes, for the exit trap

cleanup() {
	kill_all "${PIDS[@]}"
	db_drop "$db"
}
trap cleanup EXIT

metric_at_least() {
	local v
	v=$(metric "$1" "$2")
	[ "${v%.*}" -ge "$3" ]
}

# health_is PORT STATUS: /healthz answers with "status":STATUS.
health_is() {
	curl -sS --max-time 10 "http://127.0.0.1:$1/healthz" 2>/dev/null | grep -q "\"status\":\"$2\""
}

# sighup PID NAME LOG PROPERTIES: log.level = debug in the file, then SIGHUP.
sighup() {
	echo "log.level = debug" >"$4"
	kill -HUP "$1"
	if wait_until 60 grep -q '"msg":"configuration reloaded","log_level":"debug"' "$3"; then
		PASS "$2-sighup-reload"
	else
		FAIL "$2-sighup-reload" "no reload line: $(tail -n 3 "$3" | cut -c 1-300 | tr '\n' ' ')"
	fi
}

# ---- set-up: a database and the topics, up front ----
db_create "$db" daemons-valgrind-createdb || finish
DLQ=$(make_topic_name f-vg-dlq)
RES=$(make_topic_name f-vg-results)
LTOPIC=$(make_topic_name f-vg-lag)
LGROUP=$(make_topic_name f-vg-lag-group)
if ! create_topic "$DLQ" 3 || ! create_topic "$RES" 3 || ! create_topic "$LTOPIC" 2; then
	FAIL daemons-valgrind-topics "could not create the test topics"
	finish
fi

generate() {
	"$GEN" --dlq "$DLQ" --results "$RES" --source f-vg-source --seed 240 "$@" 2>>"$tmp/gen.log"
}

if ! generate --first 0 --dead-letters 200 --results-count 100 --unreadable 20 --out "$tmp/sent1.jsonl"; then
	FAIL deadletter-valgrind-produce "$(tail -n 2 "$tmp/gen.log" | tr '\n' ' ')"
	finish
fi

# ---- both daemons under valgrind, and the lag monitor's group at work ----
dlog=$tmp/deadletter.log
: >"$tmp/deadletter.properties"
daemon_start "$dlog" env IMISLINK_CONFIG="$tmp/deadletter.properties" IMISLINK_TOPIC_DLQ="$DLQ" \
	IMISLINK_TOPIC_RESULTS="$RES" IMISLINK_DEADLETTER_GROUP_ID="$(make_topic_name f-vg-dl-group)" \
	IMISLINK_AUDIT_DB_URL="$dburl" IMISLINK_HTTP_PORT=0 IMISLINK_DEADLETTER_BATCH_SIZE=50 \
	IMISLINK_DEADLETTER_BATCH_MS=100 "${IL_VALGRIND[@]}" "$DL" -X session.timeout.ms=10000 -X heartbeat.interval.ms=1000
dpid=$DAEMON_PID
PIDS+=("$dpid")

ctl=$tmp/control
echo run >"$ctl"
"$LC" produce -t "$LTOPIC" -r 20 >"$tmp/lc.produce" 2>>"$tmp/lc.log" &
PIDS+=("$!")
prod_pid=$!
"$LC" consume -t "$LTOPIC" -G "$LGROUP" -c "$ctl" -i 1000 >"$tmp/lc.consume" 2>>"$tmp/lc.log" &
cons_pid=$!
PIDS+=("$cons_pid")

mlog=$tmp/lagmon.log
: >"$tmp/lagmon.properties"
daemon_start "$mlog" env IMISLINK_CONFIG="$tmp/lagmon.properties" IMISLINK_HTTP_PORT=0 \
	IMISLINK_LAG_INTERVAL_MS=500 IMISLINK_LAG_WINDOW_SIZE=3 IMISLINK_LAG_CLUSTER_NAME="$CLUSTER" \
	IMISLINK_LAG_GROUPS="$LGROUP" "${IL_VALGRIND[@]}" "$LAGMON"
mpid=$DAEMON_PID
PIDS+=("$mpid")

daemon_port 120 "$dlog" deadletter-valgrind-start dport
daemon_port 120 "$mlog" lagmon-valgrind-start mport
info "imislink-deadletter on port ${dport:-?}, imislink-lagmon on port ${mport:-?}"

# ---- the dead-letter worker: some rows, an outage with messages arriving, the rest ----
if [ -n "$dport" ]; then
	wait_until 120 audit_rows_positive "$db" || FAIL deadletter-valgrind-first-rows "no row after 120 s"
	info "PostgreSQL stopped with $(audit_rows "$db") rows stored"
	pg_stop
	if ! generate --first 200 --dead-letters 100 --results-count 50 --unreadable 10 \
		--out "$tmp/sent2.jsonl"; then
		FAIL deadletter-valgrind-produce "$(tail -n 2 "$tmp/gen.log" | tr '\n' ' ')"
	fi
	# The worker must have tried to write and failed before the store comes back.
	if wait_until 90 health_is "$dport" degraded; then
		PASS deadletter-valgrind-store-down-seen
	else
		FAIL deadletter-valgrind-store-down-seen "/healthz never said degraded while PostgreSQL was down"
	fi
	pg_start
	cat "$tmp/sent1.jsonl" "$tmp/sent2.jsonl" >"$tmp/sent.jsonl" 2>/dev/null
	total=$(grep -c . "$tmp/sent.jsonl")
	if wait_until 180 audit_rows_are "$db" "$total"; then
		PASS deadletter-valgrind-all-stored
	else
		FAIL deadletter-valgrind-all-stored "$(audit_rows "$db") rows of $total after 180 s"
	fi
	if wait_until 60 health_is "$dport" ok; then
		PASS deadletter-valgrind-health-ok-again
	else
		FAIL deadletter-valgrind-health-ok-again "/healthz not ok after the restart"
	fi
	for i in 1 2 3; do
		curl -fsS --max-time 10 "http://127.0.0.1:$dport/metrics" >"$tmp/dl-metrics.$i" 2>/dev/null
		curl -sS --max-time 10 "http://127.0.0.1:$dport/healthz" >"$tmp/dl-healthz.$i" 2>/dev/null
	done
	json_check deadletter-valgrind-retried "$tmp/dl-metrics.3" "$total" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def sample(name, labels=""):
    m = re.search(r'^%s%s (\S+)$' % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None
assert (sample("imislink_deadletter_write_failures_total") or 0) >= 1, "no failed write counted: the retry path did not run"
assert sample("imislink_deadletter_store_up") == 1, "store_up is not 1 at the end"
written = (sample("imislink_deadletter_rows_total", '{kind="dead_letter"}') or 0) + \
    (sample("imislink_deadletter_rows_total", '{kind="result"}') or 0)
dups = sample("imislink_deadletter_duplicates_total") or 0
assert written - dups == int(sys.argv[2]), "rows %g - duplicates %g, %s produced" % (written, dups, sys.argv[2])
PY
	sighup "$dpid" deadletter "$dlog" "$tmp/deadletter.properties"
fi

# ---- the lag monitor: several rounds over a group that commits ----
if [ -n "$mport" ]; then
	mbase=http://127.0.0.1:$mport
	# group_seen: Burrow's status of the group has both partitions, judged.
	group_seen() {
		curl -sS --max-time 10 "$mbase/v3/kafka/$CLUSTER/consumer/$LGROUP/status" 2>/dev/null |
			python3 -c '
import json, sys
st = json.load(sys.stdin)["status"]
sys.exit(0 if st["status"] in ("OK", "WARN", "ERR") and st["partition_count"] == 2 else 1)' 2>/dev/null
	}
	if wait_until 120 group_seen; then
		PASS lagmon-valgrind-group-judged
	else
		FAIL lagmon-valgrind-group-judged "no status for the group after 120 s: $(curl -sS --max-time 10 "$mbase/v3/kafka/$CLUSTER/consumer/$LGROUP/status" 2>&1 | cut -c 1-300)"
	fi
	rounds0=$(metric "$mport" imislink_lagmon_rounds_total)
	for i in 1 2 3; do
		# a few more rounds between scrapes
		wait_until 60 metric_at_least "$mport" imislink_lagmon_rounds_total $((${rounds0%.*} + 3 * i))
		curl -fsS --max-time 10 "$mbase/metrics" >"$tmp/lag-metrics.$i" 2>/dev/null
		curl -sS --max-time 10 "$mbase/healthz" >"$tmp/lag-healthz.$i" 2>/dev/null
		curl -sS --max-time 10 "$mbase/v3/kafka/$CLUSTER/consumer/$LGROUP/status" >"$tmp/lag-status.$i" 2>/dev/null
		curl -sS --max-time 10 "$mbase/v3/kafka/$CLUSTER/consumer/$LGROUP/lag" >"$tmp/lag-lag.$i" 2>/dev/null
		curl -sS --max-time 10 "$mbase/v3/kafka/$CLUSTER/consumer" >"$tmp/lag-list.$i" 2>/dev/null
	done
	json_check lagmon-valgrind-served "$tmp" "$LGROUP" "$LTOPIC" <<'PY'
import json, sys
d, group, topic = sys.argv[1:4]
rounds = []
for i in (1, 2, 3):
    text = open("%s/lag-metrics.%d" % (d, i)).read()
    r = [float(l.split()[-1]) for l in text.splitlines() if l.startswith("imislink_lagmon_rounds_total")]
    assert r, "scrape %d: no imislink_lagmon_rounds_total" % i
    rounds.append(r[0])
    assert any(l.startswith("kafka_consumergroup_group_lag{") and 'group="%s"' % group in l
               and 'topic="%s"' % topic in l for l in text.splitlines()), "scrape %d: no lag series" % i
    for name in ("status", "lag"):
        s = json.load(open("%s/lag-%s.%d" % (d, name, i)))
        assert s["error"] is False and s["status"]["group"] == group, "%s %d: %s" % (name, i, s)
    assert group in json.load(open("%s/lag-list.%d" % (d, i)))["consumers"], "list %d" % i
    assert '"ok"' in open("%s/lag-healthz.%d" % (d, i)).read(), "healthz %d" % i
assert rounds[0] < rounds[1] < rounds[2], "rounds did not advance: %s" % rounds
PY
	sighup "$mpid" lagmon "$mlog" "$tmp/lagmon.properties"
fi

# ---- SIGTERM: exit 0, nothing reported by valgrind ----
[ -n "$dport" ] && vg_stop "$dpid" deadletter "$dlog"
[ -n "$mport" ] && vg_stop "$mpid" lagmon "$mlog"
echo exit >"$ctl"
kill -TERM "$prod_pid" 2>/dev/null
wait "$cons_pid" 2>/dev/null
wait "$prod_pid" 2>/dev/null

# ---- a bad configuration: exit 1 at start, the key named (under valgrind too) ----
# bad_conf NAME BINARY KEY ARGS...: vg_bad_conf with the audit store's URL.
bad_conf() {
	IMISLINK_AUDIT_DB_URL=$dburl vg_bad_conf "$@"
}
bad_conf deadletter-config-unknown-key "$DL" nosuch.key --set nosuch.key=1
bad_conf deadletter-config-bad-batch-size "$DL" deadletter.batch.size --set deadletter.batch.size=0
bad_conf deadletter-config-bad-conninfo "$DL" audit.db.url --set "audit.db.url=host=x port"
bad_conf deadletter-config-bad-uri "$DL" audit.db.url --set "audit.db.url=postgresql://[bad"
bad_conf lagmon-config-unknown-key "$LAGMON" nosuch.key --set nosuch.key=1
bad_conf lagmon-config-bad-interval "$LAGMON" lag.interval.ms --set lag.interval.ms=abc
bad_conf lagmon-config-bad-window "$LAGMON" lag.window.size --set lag.window.size=1
finish
