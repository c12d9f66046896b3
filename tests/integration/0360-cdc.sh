#!/usr/bin/env bash
# 0360-cdc: imislink-cdc (change capture, issue 3 section 1) against the real
# PostgreSQL 15 and the real Kafka broker, in a fresh database holding a
# generated registry of 300 households, g2p_program_membership with REPLICA
# IDENTITY FULL, streaming programme 1 only:
#   - the initial load publishes every membership of programme 1 once, from
#     the slot's exported snapshot, with registrant and household;
#   - the targeting scenario gives exactly one event per membership moved,
#     draft -> enrolled, and a change in programme 2 gives none;
#   - pause-exit gives the paused and the exited memberships, in commit order
#     per key;
#   - the producer killed with SIGKILL while transactions stream and started
#     again: every change reaches Kafka (repeats allowed, with the same id
#     and the same content).
# The slot, the publication and the database are dropped at the end.
# Needs: pg, kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER KAFKA_BOOTSTRAP_SERVERS

GEN=$BUILD/tests/it_openspp_gen
CDC=$BUILD/bin/imislink-cdc
TOOL=$BUILD/bin/imislink
SCHEMA=tests/data/openspp/schema.sql
DB=il_cdc_${IL_RUN_ID}_$$
SLOT=il_cdc_${IL_RUN_ID}_$$
TOPIC=il-cdc-${IL_RUN_ID}-$$
ROLE=il_cdc_norepl_${IL_RUN_ID}_$$
tmp=$IL_TEST_TMP/0360-cdc
rm -rf "$tmp"
mkdir -p "$tmp"
LOG=$tmp/cdc.log
CDC_PID=

cleanup() {
	[ -n "$CDC_PID" ] && kill -KILL "$CDC_PID" 2>/dev/null
	db_sql "$DB" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = '$DB'" >/dev/null 2>&1
	db_drop "$DB"
	db_sql "${PGDATABASE:-postgres}" "DROP ROLE IF EXISTS \"$ROLE\"" >/dev/null 2>&1
}
trap cleanup EXIT

for b in "$GEN" "$CDC" "$TOOL"; do
	if [ ! -x "$b" ]; then
		FAIL cdc "\"$b\" is not built (make all)"
		finish
	fi
done

db_create "$DB" cdc-createdb || finish
if ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -v ON_ERROR_STOP=1 -f "$SCHEMA" >/dev/null ||
   ! "$GEN" --households 300 --seed 11 |
	psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -v ON_ERROR_STOP=1 >/dev/null ||
   ! db_sql "$DB" "ALTER TABLE g2p_program_membership REPLICA IDENTITY FULL" >/dev/null; then
	FAIL cdc-registry "could not load the schema and the generated registry"
	finish
fi
PASS cdc-registry
# A role without REPLICATION: a clear refusal naming it, exit status 1.
db_sql "$DB" "CREATE ROLE \"$ROLE\" LOGIN NOREPLICATION" >/dev/null
PGUSER=$ROLE PGDATABASE=$DB "$CDC" --set http.port=0 --set cdc.slot.name="$SLOT" \
	--set kafka.bootstrap.servers="$KAFKA_BOOTSTRAP_SERVERS" >"$tmp/norepl.log" 2>&1 </dev/null
rc=$?
if [ "$rc" = 1 ] && grep -q '"msg":"stopping".*REPLICATION' "$tmp/norepl.log"; then
	PASS cdc-needs-replication-role
else
	FAIL cdc-needs-replication-role "exit status $rc: $(grep -v 'kafka error' "$tmp/norepl.log" | tail -n 2 | cut -c 1-300)"
fi
create_topic "$TOPIC" 3 2>"$tmp/topic.err" || { FAIL cdc-topic "$(tail -n 2 "$tmp/topic.err")"; finish; }

start_cdc() {
	daemon_start "$LOG" env PGDATABASE="$DB" "$CDC" --set http.port=0 --set topic.eligibility="$TOPIC" \
		--set cdc.slot.name="$SLOT" --set cdc.publication.name="$SLOT" --set cdc.programmes=1 \
		--set openspp.instance=it-openspp
	CDC_PID=$DAEMON_PID
}

# read_topic FILE: every event of the topic, JSON lines.
read_topic() {
	"$TOOL" consume -e -t "$TOPIC" >"$1" 2>"$tmp/consume.err"
}
topic_count() {
	read_topic "$tmp/count.jsonl"
	wc -l <"$tmp/count.jsonl"
}
count_is_at_least() {
	[ "$(topic_count)" -ge "$1" ]
}

# Initial load.
snap_expected=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1")
db_sql "$DB" "SELECT id || ' ' || state FROM g2p_program_membership WHERE program_id = 1 ORDER BY id" \
	>"$tmp/snap.expected"
: >"$LOG"
start_cdc
daemon_port 30 "$LOG" cdc-http || finish
PORT=$DAEMON_PORT
if wait_until 60 count_is_at_least "$snap_expected"; then
	PASS cdc-snapshot-arrives
else
	FAIL cdc-snapshot-arrives "expected $snap_expected events, got $(topic_count): $(tail -n 3 "$LOG" | cut -c 1-300)"
fi
read_topic "$tmp/snap.jsonl"
json_check cdc-snapshot-content "$tmp/snap.jsonl" "$tmp/snap.expected" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
want = [l.split() for l in open(sys.argv[2])]
got = sorted((int(e["value"]["source"]["primary_key"]), e["value"]["membership"]["state"]) for e in evs)
exp = sorted((int(i), s.upper()) for i, s in want)
assert got == exp, "snapshot differs: %d events, %d memberships, first differences %s" % (
    len(got), len(exp), [x for x in got if x not in exp][:3] + [x for x in exp if x not in got][:3])
for e in evs:
    v = e["value"]
    assert v["event_type"] == "MEMBERSHIP_CHANGED", v["event_type"]
    assert v["source"]["kind"] == "CDC" and v["source"]["position"].startswith("snapshot:"), v["source"]
    assert v["membership"]["previous_state"] is None
    assert v["programme"]["id"] == 1 and v["programme"]["target_type"] == "GROUP", v["programme"]
    assert v["registrant"]["source_id"] is not None and v["registrant"]["is_group"], v["registrant"]
    h = v["household"]
    assert h is not None and h["source_id"] == v["registrant"]["source_id"], "household missing"
    assert len(h["members"]) >= 1 and sum(1 for m in h["members"] if m["is_head"]) == 1, h["members"]
    assert e["key"] == next(x["value"] for x in h["external_ids"] if x["type"] == "National ID"), e["key"]
    assert len(v["event_id"]) == 64
PY

# Targeting: every draft of programme 1 enrolled in one transaction; one
# change of programme 2 that must not appear.
db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'draft' ORDER BY id" \
	>"$tmp/targeting.expected"
n_target=$(wc -l <"$tmp/targeting.expected")
"$GEN" --scenario targeting --program 1 >"$tmp/targeting.sql"
"$GEN" --scenario targeting --program 2 --count 5 >"$tmp/targeting2.sql"
check cdc-targeting-runs psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -v ON_ERROR_STOP=1 \
	-f "$tmp/targeting2.sql" -f "$tmp/targeting.sql"
want=$((snap_expected + n_target))
wait_until 60 count_is_at_least "$want"
read_topic "$tmp/t.jsonl"
json_check cdc-targeting-events "$tmp/t.jsonl" "$tmp/targeting.expected" "$snap_expected" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
want = sorted(int(l) for l in open(sys.argv[2]))
new = [e["value"] for e in evs if not e["value"]["source"]["position"].startswith("snapshot:")]
got = sorted(int(v["source"]["primary_key"]) for v in new)
assert got == want, "expected %d events of the targeting run, got %d" % (len(want), len(got))
assert len(want) > 0, "no drafts to target"
for v in new:
    m = v["membership"]
    assert (m["previous_state"], m["state"]) == ("DRAFT", "ENROLLED"), m
    assert v["programme"]["id"] == 1, v["programme"]
assert len({v["source"]["position"] for v in new}) == 1, "one transaction, one commit LSN"
assert len({v["event_id"] for v in new}) == len(new), "event ids repeat"
PY

# Pause and exit: two transactions; per key, commit order.
"$GEN" --scenario pause-exit --program 1 --count 10 >"$tmp/pause.sql"
before=$(wc -l <"$tmp/t.jsonl")
check cdc-pause-exit-runs psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -v ON_ERROR_STOP=1 \
	-f "$tmp/pause.sql"
wait_until 60 count_is_at_least $((before + 20))
read_topic "$tmp/p.jsonl"
json_check cdc-pause-exit-events "$tmp/p.jsonl" "$before" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert len(evs) == int(sys.argv[2]) + 20, "expected 20 new events, got %d" % (len(evs) - int(sys.argv[2]))
assert len({e["value"]["event_id"] for e in evs}) == len(evs), "an event id repeats"
lsn = lambda p: tuple(int(x, 16) for x in p.split("/"))
new = [e for e in evs if e["value"]["membership"]["state"] in ("PAUSED", "EXITED")
       and e["value"]["membership"]["previous_state"] == "ENROLLED"]
assert sum(1 for e in new if e["value"]["membership"]["state"] == "PAUSED") == 10
assert sum(1 for e in new if e["value"]["membership"]["state"] == "EXITED") == 10
paused = [lsn(e["value"]["source"]["position"]) for e in new if e["value"]["membership"]["state"] == "PAUSED"]
exited = [lsn(e["value"]["source"]["position"]) for e in new if e["value"]["membership"]["state"] == "EXITED"]
assert max(paused) < min(exited), "the exit transaction committed after the pause"
# Commit order per key: within a partition, the offsets of a key's streamed
# events follow their commit LSNs.
bykey = {}
for e in sorted(evs, key=lambda e: (e["partition"], e["offset"])):
    p = e["value"]["source"]["position"]
    if p.startswith("snapshot:"):
        continue
    bykey.setdefault((e["partition"], e["key"]), []).append(lsn(p))
for k, l in bykey.items():
    assert l == sorted(l), "key %s out of commit order" % (k,)
PY
if [ "$(metric "$PORT" imislink_cdc_events_produced_total)" -ge "$want" ]; then
	PASS cdc-metrics
else
	FAIL cdc-metrics "imislink_cdc_events_produced_total is $(metric "$PORT" imislink_cdc_events_produced_total)"
fi
curl -fsS --max-time 5 "http://127.0.0.1:$PORT/healthz" >/dev/null && PASS cdc-healthz || FAIL cdc-healthz "not 200"

# SIGKILL while transactions stream, then a restart: 20 transactions move
# the enrolled memberships of programme 1 to paused and back, the producer is
# killed after the fifth commit.
db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'" \
	>"$tmp/enrolled.ids"
before=$(topic_count)
(
	for i in $(seq 1 10); do
		db_sql "$DB" "UPDATE g2p_program_membership SET state = 'paused', write_date = now(), write_uid = 99
			WHERE program_id = 1 AND state = 'enrolled' AND id % 2 = $((i % 2))" >/dev/null
		db_sql "$DB" "UPDATE g2p_program_membership SET state = 'enrolled', write_date = now()
			WHERE program_id = 1 AND state = 'paused' AND id % 2 = $((i % 2))
			AND write_uid = 99" >/dev/null
	done
) &
writer=$!
sleep 0.5
kill -KILL "$CDC_PID" 2>/dev/null
wait "$CDC_PID" 2>/dev/null
wait "$writer"
# Every change committed, as (membership, previous, state, commit LSN), is
# what Kafka must hold after the restart.
start_cdc
wait_until 60 count_is_at_least $((before + 1))
# Quiet for a while: the stream is drained when a standby status has been
# sent with nothing left (the slot's confirmed position reaches the WAL end).
drained() {
	[ "$(db_sql "$DB" "SELECT pg_current_wal_lsn() = confirmed_flush_lsn OR
		pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) < 100000 FROM pg_replication_slots
		WHERE slot_name = '$SLOT'")" = t ]
}
wait_until 60 drained
sleep 2
read_topic "$tmp/k.jsonl"
json_check cdc-sigkill-nothing-missing "$tmp/k.jsonl" "$tmp/p.jsonl" "$tmp/enrolled.ids" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
old = {json.loads(l)["value"]["source"]["position"] for l in open(sys.argv[2])}
new = [e["value"] for e in evs if e["value"]["source"]["position"] not in old]
ids = [int(l) for l in open(sys.argv[3])]
half = {0: {str(i) for i in ids if i % 2 == 0}, 1: {str(i) for i in ids if i % 2 == 1}}
# Every transaction moved one half of the memberships: group by commit LSN.
by_pos = {}
for v in new:
    by_pos.setdefault(v["source"]["position"], set()).add((v["source"]["primary_key"], v["membership"]["previous_state"], v["membership"]["state"]))
assert len(by_pos) == 20, "expected 20 transactions, got %d" % len(by_pos)
total = sum(len(s) for s in by_pos.values())
seen = {}
for e in evs:
    v = e["value"]
    k = v["event_id"]
    body = (v["source"]["position"], v["source"]["primary_key"], v["membership"]["state"], v["membership"]["previous_state"])
    assert seen.setdefault(k, body) == body, "event id %s repeated with other content" % k
for pos, s in by_pos.items():
    states = {(p, q) for _, p, q in s}
    assert states in ({("ENROLLED", "PAUSED")}, {("PAUSED", "ENROLLED")}), (pos, states)
    pks = {p for p, _, _ in s}
    assert pks in (half[0], half[1]), "transaction %s: %d memberships, not one half (%d, %d)" % (
        pos, len(pks), len(half[0]), len(half[1]))
print("changes %d, events %d, repeats %d" % (total, len(new), len(new) - total), file=sys.stderr)
PY

daemon_stop "$CDC_PID" 30 "$LOG" cdc-stops-on-sigterm
CDC_PID=
finish
