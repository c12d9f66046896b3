#!/usr/bin/env bash
# 0200-deadletter: imislink-deadletter against the real broker and the real
# PostgreSQL (issue 5, "Must show"):
#   - 5,000 dead letters of mixed classes (undecodable, mapping, permanent,
#     transient; with imislink-enroll's headers), results, and unreadable
#     messages without headers (garbage, tombstones, events lacking headers,
#     garbage on the results topic), written by it_dlq_gen;
#   - PostgreSQL stopped while the worker writes, messages arriving during the
#     outage, then started again: /healthz says degraded ("audit_store":
#     "down") meanwhile and ok after; exactly one row per produced message
#     (the produced set of topic, partition and offset, each with its class,
#     source offset and event id), 5,000 dead letters with source offsets
#     0..4999 once each; undecodable messages stored with their bytes; the
#     group's committed offsets equal the log end offsets; the metrics agree
#     with the table;
#   - SIGTERM: the worker exits 0;
#   - a second group from scratch reads everything again and adds no row;
#   - a malformed audit.db.url stops the worker at start naming the key (and
#     never showing the value: it may hold a password); an
#     unreachable store at start is retried (logged), and SIGTERM still exits 0;
#   - common/audit.c on its own (it_audit): migrations, writes, failures;
#   - bad input never blocks a partition: among good results, one with a
#     processed_at past the year 9999 and one PostgreSQL refuses (a CHECK
#     constraint added for the test) are stored as undecodable dead letters
#     with their bytes and reasons, the good ones as results, the worker
#     keeps running and commits everything; a message refused even as a dead
#     letter (a bug) stops the worker with status 1, uncommitted.
# Each run has a database of its own (createdb), dropped at the end.
# Needs: kafka, pg.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS IL_TEST_TMP BUILD PGHOST PGPORT PGUSER IL_TEST_STATE

WORKER=$BUILD/bin/imislink-deadletter
GEN=$BUILD/tests/it_dlq_gen
RAW=$BUILD/tests/it_produce_raw
tmp=$IL_TEST_TMP/0200-deadletter
rm -rf "$tmp"
mkdir -p "$tmp"
unset IMISLINK_CONFIG
for exe in "$WORKER" "$GEN" "$RAW"; do
	if [ ! -x "$exe" ]; then
		FAIL deadletter-binaries "\"$exe\" is not built (make all)"
		finish
	fi
done

ndl=5000                # dead letters, half before the outage and half during it
nres=300                # results
nun=60                  # unreadable messages
half=$((ndl / 2))
db=it_deadletter_${IL_RUN_ID}_$$
dburl="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db"
PIDS=()                 # workers started, for the exit trap
STARTS=0

cleanup() {
	kill_all "${PIDS[@]}"
	db_drop "$db"
}
trap cleanup EXIT

# worker_start NAME GROUP [VAR=VALUE...]: a worker in the background; sets
# WPID, WLOG and WPORT.  Returns 1 when it did not come up.
worker_start() {
	local name=$1 group=$2
	shift 2
	STARTS=$((STARTS + 1))
	WLOG=$tmp/$name.$STARTS.log
	daemon_start "$WLOG" env IMISLINK_TOPIC_DLQ="$DLQ" IMISLINK_TOPIC_RESULTS="$RES" \
		IMISLINK_DEADLETTER_GROUP_ID="$group" IMISLINK_AUDIT_DB_URL="$dburl" IMISLINK_HTTP_PORT=0 \
		IMISLINK_DEADLETTER_BATCH_SIZE=250 IMISLINK_DEADLETTER_BATCH_MS=100 "$@" \
		"$WORKER" -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000
	WPID=$DAEMON_PID
	PIDS+=("$WPID")
	WPORT=
	daemon_port 60 "$WLOG" "deadletter-start-$name" || return 1
	signals_main_only "deadletter-signals-main-thread-$name-$STARTS" "$WPID"
	WPORT=$DAEMON_PORT
}

# worker_stop PID NAME LOG: SIGTERM; the worker must exit 0 within 60 s.
worker_stop() {
	daemon_stop "$1" 60 "$3" "deadletter-graceful-exit-$2"
}

# health_is PORT STATUS STORE: /healthz says STATUS with "audit_store":STORE
# (every answer is kept in $tmp/healthz.log).
health_is() {
	local body
	body=$(curl -sS --max-time 5 "http://127.0.0.1:$1/healthz" 2>/dev/null) || return 1
	echo "$body" >>"$tmp/healthz.log"
	grep -q "\"status\":\"$2\"" <<<"$body" && grep -q "\"audit_store\":\"$3\"" <<<"$body"
}

# retried_twice LOG: the worker logged two failed attempts to reach the store at start.
retried_twice() {
	[ "$(grep -c '"msg":"audit store unavailable at start; trying again"' "$1")" -ge 2 ]
}

generate() {
	"$GEN" --dlq "$DLQ" --results "$RES" --source it-deadletter-source --seed 200 "$@" 2>>"$tmp/gen.log"
}

db_create "$db" deadletter-createdb || finish
DLQ=$(make_topic_name it-dl-dlq)
RES=$(make_topic_name it-dl-results)
DLQ3=$(make_topic_name it-dl-dlq3)
RES3=$(make_topic_name it-dl-results3)
if ! create_topic "$DLQ" 6 || ! create_topic "$RES" 6 || ! create_topic "$DLQ3" 1 || ! create_topic "$RES3" 1; then
	FAIL deadletter-topics "could not create the test topics"
	finish
fi

# ---- the audit store's module on its own (it_audit prints its PASS/FAIL lines) ----
if [ -x "$BUILD/tests/it_audit" ]; then
	out=$("$BUILD/tests/it_audit" 2>"$tmp/it_audit.log")
	rc=$?
	echo "$out"
	if [ "$rc" != 0 ] && ! grep -q '^FAIL' <<<"$out"; then
		FAIL deadletter-audit-store "it_audit exit status $rc: $(tail -n 3 "$tmp/it_audit.log" | tr '\n' ' ')"
	fi
else
	FAIL deadletter-audit-store "\"$BUILD/tests/it_audit\" is not built (make all)"
fi

# ---- configuration errors first: they need no data ----
out=$(IMISLINK_AUDIT_DB_URL="host=$PGHOST port" IMISLINK_HTTP_PORT=0 "$WORKER" 2>&1 </dev/null)
rc=$?
if [ "$rc" = 1 ] && grep -q 'audit.db.url' <<<"$out"; then
	PASS deadletter-bad-conninfo-exit-1
else
	FAIL deadletter-bad-conninfo-exit-1 "exit status $rc: $(tail -n 2 <<<"$out" | cut -c 1-300 | tr '\n' ' ')"
fi
# libpq's reason would quote a malformed URI whole, password included.
out=$(IMISLINK_AUDIT_DB_URL="postgresql://it:s3cretpw@[::1/x" IMISLINK_HTTP_PORT=0 "$WORKER" 2>&1 </dev/null)
rc=$?
if [ "$rc" = 1 ] && grep -q 'audit.db.url' <<<"$out" && ! grep -q 's3cretpw' <<<"$out"; then
	PASS deadletter-bad-conninfo-hides-value
else
	FAIL deadletter-bad-conninfo-hides-value "exit status $rc: $(tail -n 2 <<<"$out" | sed 's/s3cretpw/<the password>/g' | cut -c 1-300 | tr '\n' ' ')"
fi

# An unreachable store at start: retried while logging, /healthz down, SIGTERM ends it cleanly.
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if worker_start unreachable "it-dl-unreachable-$IL_RUN_ID" \
	IMISLINK_AUDIT_DB_URL="host=127.0.0.1 port=$closed_port user=$PGUSER dbname=$db connect_timeout=2"; then
	if wait_until 60 retried_twice "$WLOG"; then
		PASS deadletter-unreachable-store-retried
	else
		FAIL deadletter-unreachable-store-retried "no retries logged: $(tail -n 2 "$WLOG" | cut -c 1-300 | tr '\n' ' ')"
	fi
	if health_is "$WPORT" down down; then
		PASS deadletter-unreachable-store-health-down
	else
		FAIL deadletter-unreachable-store-health-down "$(tail -n 1 "$tmp/healthz.log")"
	fi
	if grep -q "dbname=" "$WLOG"; then
		FAIL deadletter-unreachable-no-conninfo-logged "the log shows the connection string"
	fi
	worker_stop "$WPID" unreachable "$WLOG"
fi

# ---- the run: half the dead letters, then an outage while the rest arrives ----
if ! generate --first 0 --dead-letters "$half" --results-count $((nres / 2)) \
	--unreadable $((nun / 2)) --out "$tmp/sent1.jsonl"; then
	FAIL deadletter-produce "$(tail -n 2 "$tmp/gen.log" | tr '\n' ' ')"
	finish
fi
group=$(make_topic_name it-dl-group)
worker_start w1 "$group" || finish
w1=$WPID
w1log=$WLOG
w1port=$WPORT
# PostgreSQL goes away as soon as the worker has written something: most
# likely in the middle of phase one, a batch in flight.
wait_until 60 audit_rows_positive "$db" || FAIL deadletter-first-rows "no row after 60 s"
n=$(audit_rows "$db")
pg_stop
info "PostgreSQL stopped with $n rows stored"
if ! generate --first "$half" --dead-letters $((ndl - half)) --results-count $((nres - nres / 2)) \
	--unreadable $((nun - nun / 2)) --out "$tmp/sent2.jsonl"; then
	pg_start
	FAIL deadletter-produce "$(tail -n 2 "$tmp/gen.log" | tr '\n' ' ')"
	finish
fi
if wait_until 60 health_is "$w1port" degraded down; then
	PASS deadletter-health-degraded-while-store-down
else
	FAIL deadletter-health-degraded-while-store-down "last answer: $(tail -n 1 "$tmp/healthz.log" 2>/dev/null)"
fi
if [ "$(metric "$w1port" imislink_deadletter_store_up)" = 0 ]; then
	PASS deadletter-metric-store-down
else
	FAIL deadletter-metric-store-down "imislink_deadletter_store_up is not 0 during the outage"
fi
pg_start
cat "$tmp/sent1.jsonl" "$tmp/sent2.jsonl" >"$tmp/sent.jsonl"
total=$(grep -c . "$tmp/sent.jsonl")
if wait_until 120 audit_rows_are "$db" "$total"; then
	PASS deadletter-all-stored-after-restart
else
	FAIL deadletter-all-stored-after-restart "$(audit_rows "$db") rows of $total after 120 s"
fi
if wait_until 30 health_is "$w1port" ok up; then
	PASS deadletter-health-ok-after-restart
else
	FAIL deadletter-health-ok-after-restart "last answer: $(tail -n 1 "$tmp/healthz.log" 2>/dev/null)"
fi
grep -q '"msg":"audit store unavailable: fetching paused' "$w1log" &&
	grep -q '"msg":"audit store writable again: fetching resumes"' "$w1log" ||
	FAIL deadletter-outage-logged "the log does not show the pause and the resumption"
curl -fsS --max-time 10 "http://127.0.0.1:$w1port/metrics" >"$tmp/metrics1.txt" 2>/dev/null
worker_stop "$w1" w1 "$w1log"

# ---- what the store holds ----
psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$db" -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -c "
	SELECT 'dead_letter', topic, kafka_partition, kafka_offset, error_class, source_offset, event_id,
	decoded IS NOT NULL, msg_value IS NULL, encode(msg_value, 'hex') FROM dead_letters
	UNION ALL SELECT 'result', topic, kafka_partition, kafka_offset, NULL, source_offset, event_id,
	true, false, NULL FROM results" >"$tmp/rows.tsv"
json_check deadletter-one-row-per-message "$tmp/sent.jsonl" "$tmp/rows.tsv" "$DLQ" "$ndl" <<'PY'
import collections, json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
dlq, ndl = sys.argv[3], int(sys.argv[4])
want = {(s["topic"], s["partition"], s["offset"]): s for s in sent}
assert len(want) == len(sent), "the producer acknowledged a position twice"
got = collections.Counter()
rows = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    pos = (f[1], int(f[2]), int(f[3]))
    got[pos] += 1
    rows[pos] = f
twice = [p for p, n in got.items() if n > 1]
assert not twice, "%d positions stored twice, e.g. %s" % (len(twice), twice[:3])
missing = [p for p in want if p not in rows]
extra = [p for p in rows if p not in want]
assert not missing, "%d produced messages not stored, e.g. %s" % (len(missing), missing[:3])
assert not extra, "%d rows of messages never produced, e.g. %s" % (len(extra), extra[:3])
bad = []
for pos, s in want.items():
    f = rows[pos]
    kind, cls, so, eid, decoded = f[0], f[4] or None, f[5], f[6] or None, f[7] == "t"
    if kind != s["kind"]:
        bad.append("%s: stored as %s, produced as %s" % (pos, kind, s["kind"]))
        continue
    if s["kind"] == "dead_letter" and cls != s["class"]:
        bad.append("%s: class %s, expected %s" % (pos, cls, s["class"]))
    if (int(so) if so else None) != s["source_offset"]:
        bad.append("%s: source offset %s, expected %s" % (pos, so, s["source_offset"]))
    if eid != s["event_id"]:
        bad.append("%s: event id %s, expected %s" % (pos, eid, s["event_id"]))
    if decoded != s["decodes"]:
        bad.append("%s: decoded %s, expected %s" % (pos, decoded, s["decodes"]))
assert not bad, "%d rows wrong: %s" % (len(bad), "; ".join(bad[:5]))
# The 5,000 dead letters: one row per source offset 0..4999.
per = collections.Counter(int(rows[p][5]) for p in rows if p[0] == dlq and rows[p][0] == "dead_letter"
                          and rows[p][5])
assert sorted(per) == list(range(ndl)), "source offsets %d..%d (%d of them), expected 0..%d" % (
    min(per), max(per), len(per), ndl - 1)
assert set(per.values()) == {1}, "a source offset stored more than once"
classes = collections.Counter(rows[p][4] for p in rows if rows[p][5] and p[0] == dlq)
assert classes == {c: ndl // 4 for c in ("undecodable", "mapping", "permanent", "transient")}, classes
PY

json_check deadletter-undecodable-bytes "$tmp/rows.tsv" <<'PY'
import sys
n = 0
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] != "dead_letter" or f[4] != "undecodable" or f[7] == "t":
        continue
    n += 1
    if f[8] == "t":
        continue        # a tombstone: no bytes to keep
    assert f[9], "undecodable row %s without its bytes" % f[1:4]
    if f[5] and int(f[5]) % 12 == 0:
        # it_dlq_gen's text values: the exact bytes come back
        value = bytes.fromhex(f[9])
        assert value == b"not avro: dead letter %s" % f[5].encode(), "row %s holds %r" % (f[1:4], value[:60])
assert n > 0, "no undecodable row"
PY

undecodable_rows=$(db_sql "$db" "SELECT count(*) FROM dead_letters WHERE decoded IS NULL")
stored=$(audit_rows "$db")
json_check deadletter-metrics "$tmp/metrics1.txt" "$stored" "$undecodable_rows" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def sample(name, labels=""):
    m = re.search(r'^%s%s (\S+)$' % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None
written = (sample("imislink_deadletter_rows_total", '{kind="dead_letter"}') or 0) + \
    (sample("imislink_deadletter_rows_total", '{kind="result"}') or 0)
dups = sample("imislink_deadletter_duplicates_total") or 0
assert written - dups == int(sys.argv[2]), "rows %g - duplicates %g, the table holds %s" % (written, dups, sys.argv[2])
assert sample("imislink_deadletter_store_up") == 1, "store_up is not 1 at the end"
assert (sample("imislink_deadletter_write_failures_total") or 0) >= 1, "no failed write counted"
assert (sample("imislink_deadletter_batches_total") or 0) >= 1, "no batch counted"
assert sample("imislink_deadletter_undecodable_total") is not None
assert sample("imislink_deadletter_write_seconds_count") is not None, "no write histogram"
PY

# The group committed everything it stored (checked with the tool operators trust).
describe_group "$group" >"$tmp/group.txt" 2>"$tmp/group.err"
json_check deadletter-committed-is-log-end "$tmp/group.txt" "$DLQ" "$RES" <<'PY'
import sys
topics = set(sys.argv[2:])
seen, bad = 0, []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 6 or f[1] not in topics:
        continue
    seen += 1
    if f[3] != f[4]:
        bad.append("%s[%s] committed %s, log end %s" % (f[1], f[2], f[3], f[4]))
assert seen == 12, "%d partitions described, expected 12" % seen
assert not bad, "; ".join(bad)
PY

# ---- a second group from scratch: everything again, nothing new ----
before=$(audit_rows "$db")
group2=$(make_topic_name it-dl-group2)
worker_start w2 "$group2" || finish
w2=$WPID
w2log=$WLOG
w2port=$WPORT
seen_all() {
	local n
	n=$(curl -fsS --max-time 10 "http://127.0.0.1:$w2port/metrics" 2>/dev/null |
		awk '/^imislink_deadletter_rows_total/ { s += $2 } END { print s + 0 }')
	[ "$n" -ge "$total" ]
}
if wait_until 120 seen_all; then
	PASS deadletter-second-group-read-all
else
	FAIL deadletter-second-group-read-all "the second worker did not write every message within 120 s"
fi
after=$(audit_rows "$db")
dups=$(metric "$w2port" imislink_deadletter_duplicates_total)
if [ "$after" = "$before" ] && [ "${dups%.*}" -ge "$total" ]; then
	PASS deadletter-second-group-adds-nothing
else
	FAIL deadletter-second-group-adds-nothing "rows $before -> $after, duplicates $dups of $total"
fi
worker_stop "$w2" w2 "$w2log"

# ---- bad input never blocks a partition ----
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# result_schema_id: the id EnrollmentResult has for the worker's serde
# (registered under RES3's subject, or the offline id).
result_schema_id() {
	if [ -n "${SCHEMA_REGISTRY_URL:-}" ]; then
		python3 - "$SCHEMA_REGISTRY_URL" "$RES3-value" "$ROOT/schemas/EnrollmentResult.v1.avsc" <<'PY'
import json, sys, urllib.request
body = json.dumps({"schema": open(sys.argv[3]).read()}).encode()
req = urllib.request.Request(sys.argv[1].rstrip("/") + "/subjects/%s/versions" % sys.argv[2], data=body,
                             headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
print(json.load(urllib.request.urlopen(req, timeout=10))["id"])
PY
	else
		sed -n 's/^EnrollmentResult\.v1=//p' "$ROOT/schemas/offline-ids.properties"
	fi
}

# result_hex ID KEY PROCESSED_AT_MS: an EnrollmentResult in wire format, as hex.
result_hex() {
	python3 - "$@" <<'PY'
import struct, sys
sid, key, ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def zz(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b, n = n & 0x7f, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)
def s(t):
    b = t.encode()
    return zz(len(b)) + b
body = s("ev-" + key) + s(key) + zz(0)          # event_id, key, outcome ENROLLED
body += zz(0) + zz(1) + zz(3)                   # target null, programme_id 3
body += zz(0) * 6                               # openimis: all null
body += zz(1) + zz(10)                          # attempts, duration_ms
body += zz(0) * 5                               # error_class .. source_offset: null
body += s("it-0200") + zz(ms)                   # worker_id, processed_at
print((b"\0" + struct.pack(">I", sid) + body).hex())
PY
}

res3_rows() {
	db_sql "$db" "SELECT (SELECT count(*) FROM dead_letters WHERE topic = '$RES3') +
		(SELECT count(*) FROM results WHERE topic = '$RES3')" 2>/dev/null || echo -1
}

res3_rows_are() {
	[ "$(res3_rows)" = "$1" ]
}

worker_gone() {
	! kill -0 "$1" 2>/dev/null
}

sid=$(result_schema_id)
now_ms=$(($(date +%s) * 1000))
# Offsets 0..3: good, processed_at 10000-01-01, refused by PostgreSQL, good.
if [ -z "$sid" ] ||
	! hex_good1=$(result_hex "$sid" GOOD-1 "$now_ms") ||
	! hex_y10k=$(result_hex "$sid" YEAR-10000 253402300800000) ||
	! hex_poison=$(result_hex "$sid" POISON-RESULT "$now_ms") ||
	! hex_good2=$(result_hex "$sid" GOOD-2 "$now_ms") ||
	! db_sql "$db" "ALTER TABLE results ADD CONSTRAINT it_refuse_poison CHECK (event_key <> 'POISON-RESULT')" ||
	! "$RAW" "$KAFKA_BOOTSTRAP_SERVERS" "$RES3" 0 "$now_ms" - \
		"$hex_good1" "$hex_y10k" "$hex_poison" "$hex_good2" 2>>"$tmp/produce3.log"; then
	FAIL deadletter-bad-input-produce "schema id \"$sid\": $(tail -n 2 "$tmp/produce3.log" 2>/dev/null | tr '\n' ' ')"
	finish
fi
group3=$(make_topic_name it-dl-group3)
worker_start w3 "$group3" IMISLINK_TOPIC_DLQ="$DLQ3" IMISLINK_TOPIC_RESULTS="$RES3" || finish
w3=$WPID
w3log=$WLOG
w3port=$WPORT
if wait_until 60 res3_rows_are 4 && ! worker_gone "$w3" && health_is "$w3port" ok up; then
	PASS deadletter-bad-input-worker-keeps-running
else
	FAIL deadletter-bad-input-worker-keeps-running "$(res3_rows) rows of 4: $(tail -n 2 "$w3log" | cut -c 1-300 | tr '\n' ' ')"
fi
psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$db" -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -c "
	SELECT 'dead_letter', kafka_offset, error_class, coalesce(error_stage, ''), error_message,
	encode(msg_value, 'hex') FROM dead_letters WHERE topic = '$RES3'
	UNION ALL SELECT 'result', kafka_offset, event_key, '', '', '' FROM results WHERE topic = '$RES3'
	ORDER BY 2" >"$tmp/rows3.tsv"
json_check deadletter-bad-input-stored-as-undecodable "$tmp/rows3.tsv" "$hex_y10k" "$hex_poison" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
got = {int(r[1]): r for r in rows}
assert sorted(got) == [0, 1, 2, 3] and len(rows) == 4, "rows %s" % [r[:3] for r in rows]
for off, key in ((0, "GOOD-1"), (3, "GOOD-2")):
    assert got[off][0] == "result" and got[off][2] == key, "offset %d: %s" % (off, got[off][:3])
y, p = got[1], got[2]
assert y[0] == "dead_letter" and y[2] == "undecodable", "year 10000: %s" % y[:4]
assert "processed_at 253402300800000 ms lies outside the years" in y[4], "year 10000: reason %r" % y[4]
assert y[5] == sys.argv[2], "year 10000: the bytes differ"
assert p[0] == "dead_letter" and p[2] == "undecodable" and p[3] == "TASK_PUT", "refused: %s" % p[:4]
assert "the audit store refused the row" in p[4] and "it_refuse_poison" in p[4] and "23514" in p[4], \
    "refused: reason %r" % p[4]
assert p[5] == sys.argv[3], "refused: the bytes differ"
PY
if grep -q '"msg":"the audit store refused a batch: writing it one message at a time"' "$w3log" &&
	grep -q '"msg":"the audit store refused a message' "$w3log"; then
	PASS deadletter-bad-input-logged
else
	FAIL deadletter-bad-input-logged "no warning about the refused batch and message in the log"
fi

# Refused even as a dead letter: a bug of ours, the worker stops (status 1),
# the message uncommitted.
if ! db_sql "$db" "ALTER TABLE results ADD CONSTRAINT it_refuse_both CHECK (event_key <> 'POISON-BOTH');
	ALTER TABLE dead_letters ADD CONSTRAINT it_refuse_all CHECK (error_message NOT LIKE '%it_refuse_both%')" ||
	! hex_both=$(result_hex "$sid" POISON-BOTH "$now_ms") ||
	! "$RAW" "$KAFKA_BOOTSTRAP_SERVERS" "$RES3" 0 "$now_ms" - "$hex_both" 2>>"$tmp/produce3.log"; then
	FAIL deadletter-refused-twice-produce "$(tail -n 2 "$tmp/produce3.log" 2>/dev/null | tr '\n' ' ')"
else
	if wait_until 60 worker_gone "$w3"; then
		wait "$w3"
		rc=$?
		if [ "$rc" = 1 ] && grep -q '"msg":"stopping".*even as a dead letter' "$w3log" && res3_rows_are 4; then
			PASS deadletter-refused-twice-stops
		else
			FAIL deadletter-refused-twice-stops "exit status $rc, $(res3_rows) rows: $(tail -n 2 "$w3log" | cut -c 1-300 | tr '\n' ' ')"
		fi
	else
		FAIL deadletter-refused-twice-stops "the worker still runs after 60 s"
		worker_stop "$w3" w3 "$w3log"
	fi
	describe_group "$group3" >"$tmp/group3.txt" 2>"$tmp/group3.err"
	json_check deadletter-refused-twice-uncommitted "$tmp/group3.txt" "$RES3" <<'PY'
import sys
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 6 and f[1] == sys.argv[2]:
        assert (f[3], f[4]) == ("4", "5"), "committed %s, log end %s: expected 4 and 5" % (f[3], f[4])
        break
else:
    raise AssertionError("%s not described: %s" % (sys.argv[2], open(sys.argv[1]).read()[-300:]))
PY
fi

# No personal data in the logs: the keys and the decoded events never appear.
if grep -h -E 'DL200-[0-9]+|RS200-[0-9]+|DOE, JANE|1990-04-12' "$tmp"/w*.log "$tmp"/unreachable*.log >/dev/null 2>&1; then
	FAIL deadletter-no-personal-data-logged "$(grep -h -E 'DL200-[0-9]+|DOE, JANE' "$tmp"/w*.log | head -n 1 | cut -c 1-200)"
else
	PASS deadletter-no-personal-data-logged
fi
finish
