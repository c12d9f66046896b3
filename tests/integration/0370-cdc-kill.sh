#!/usr/bin/env bash
# 0370-cdc-kill: imislink-cdc killed with SIGKILL at five random moments of
# a 50,000-change run and started again each time, against the real
# PostgreSQL 15 and the real Kafka broker (issue 3, "Must show"):
#   - a generated registry of 3,000 households (about 7,000 memberships in
#     programmes 1 and 2), REPLICA IDENTITY FULL on the five tables whose old
#     rows the producer compares, both programmes streamed;
#   - the first kill falls 0 to 0.9 s (random) after the slot is made: in
#     the initial load when the load lasts longer (an info line says whether
#     "initial load done" was logged before it); after the restart the load
#     completes: every membership in a snapshot event with its state;
#   - one psql session then (after the load) commits transactions of 1 to 5,000 membership
#     changes each (log-uniform sizes, one of 5,000 and one of 1), 50,000 in
#     all, each moving random memberships one state on in a six-state cycle;
#     every transaction also writes what it changed into il_changelog, a table
#     outside the publication: the expected changes, exactly;
#   - the other four kills fall at random points of the four quarters of
#     that run (by rows in il_changelog);
#   - at the end, per membership, the distinct streamed events (by event id),
#     in LSN order, are exactly the changes of il_changelog, with the previous
#     state; repeats carry the same id, key and content;
#   - halfway through, `ALTER TABLE res_partner ADD COLUMN il_note varchar`,
#     an update of il_note alone (no event: not mapped) and one of il_note and
#     birth_place of a member of a household kept enrolled: exactly one
#     REGISTRANT_UPDATED per programme it is enrolled in, with the new birth
#     place, and the changes after it still arrive;
#   - in two quarters, every connection the producer reads registrants on
#     (its readers, cdc.enrich.connections) is terminated once: the failure
#     ends in a restart that loses nothing either;
#   - the producer never exits by itself.
# IL_CDC_KILL_CHANGES and IL_CDC_KILL_SEED change the size and the seed.
# Progress goes to stderr as info lines.  The slot and the database are
# dropped at the end.
# Needs: pg, kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER KAFKA_BOOTSTRAP_SERVERS

cdc_programs cdc-kill
HOUSEHOLDS=3000
CHANGES=${IL_CDC_KILL_CHANGES:-50000}
SEED=${IL_CDC_KILL_SEED:-$((RANDOM % 1000 + 1))}
DB=il_cdckill_${IL_RUN_ID}_$$
# Slot names take a-z, 0-9 and _ only.
SLOT=il_cdckill_${IL_RUN_ID,,}_$$
TOPIC=il-cdckill-${IL_RUN_ID}-$$
tmp=$IL_TEST_TMP/0370-cdc-kill
rm -rf "$tmp"
mkdir -p "$tmp"
LOG=$tmp/cdc.log
CDC_PID=
WRITER=

cleanup() {
	[ -n "$WRITER" ] && kill_all "$WRITER"
	[ -n "$CDC_PID" ] && kill_all "$CDC_PID"
	db_drop_slots "$DB"
	db_drop "$DB"
}
trap cleanup EXIT

info "seed $SEED, $CHANGES changes"

psql_at() {
	db_psql "$DB" -At "$@"
}

db_create "$DB" cdc-kill-createdb || finish
if ! openspp_registry "$DB" "$HOUSEHOLDS" 23 "$OPENSPP_FULL_IDENTITY;
	CREATE TABLE il_changelog (seq bigserial PRIMARY KEY, pm_id integer NOT NULL,
		prev varchar NOT NULL, state varchar NOT NULL);
	ANALYZE"; then
	FAIL cdc-kill-registry "could not load the schema and the generated registry"
	finish
fi
PASS cdc-kill-registry
create_topic "$TOPIC" 3 2>"$tmp/topic.err" || { FAIL cdc-kill-topic "$(tail -n 2 "$tmp/topic.err")"; finish; }

# The household kept enrolled, out of the writer's reach, and the member
# whose birth place changes after the ALTER.
G0=$(db_sql "$DB" "SELECT min(partner_id) FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'")
R=$(db_sql "$DB" "SELECT min(individual) FROM g2p_group_membership WHERE \"group\" = $G0 AND ended_date IS NULL")
EXCL="SELECT $G0 UNION SELECT individual FROM g2p_group_membership WHERE \"group\" = $G0"
db_sql "$DB" "SELECT id || ' ' || state FROM g2p_program_membership ORDER BY id" >"$tmp/initial.states"
NPM=$(wc -l <"$tmp/initial.states")
info "registry: $NPM memberships; household $G0 and its members stay out of the run, member $R changes"

start_cdc() {
	daemon_start "$LOG" env PGDATABASE="$DB" "$CDC" --set http.port=0 --set cdc.state.file="$tmp/cdc.state" --set topic.eligibility="$TOPIC" \
		--set cdc.slot.name="$SLOT" --set cdc.publication.name="$SLOT" --set cdc.programmes=1,2 \
		--set openspp.instance=it-openspp-kill
	CDC_PID=$DAEMON_PID
}
# read_topic FILE: every event of the topic, JSON lines; the three
# partitions read at once (one reader waits on each partition in turn).
read_topic() {
	local p pids=()
	for p in 0 1 2; do
		"$TOOL" consume -e -p "$p" -t "$TOPIC" >"$1.$p" 2>"$tmp/consume.$p.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$1.0" "$1.1" "$1.2" >"$1"
	rm -f "$1.0" "$1.1" "$1.2"
}
# events.py: what the checks need of each event, read with a regular
# expression over the consumer's fixed field order (a full JSON parse of
# 50,000 events with households takes far longer); lines it does not match
# are parsed whole.
cat >"$tmp/events.py" <<'PY'
import hashlib, json, re
_rx = re.compile(r'"event_id":"([0-9a-f]+)","event_type":"(\w+)","source":\{.*?"position":(?:"([^"]*)"|null),'
                 r'"table":(?:"[^"]*"|null),"primary_key":(?:"([^"]*)"|null)\}.*?"membership":'
                 r'(?:null|\{"state":"(\w+)","previous_state":(?:"(\w+)"|null))')
_produced = re.compile(r'"produced_at":"[^"]*"')
def events(path):
    """(event_id, type, position, primary_key, state, previous_state, digest, line) per event;
    digest covers the key and the value but produced_at."""
    for l in open(path):
        m = _rx.search(l)
        if m:
            f = m.groups()
        else:
            v = json.loads(l)["value"]
            ms = v["membership"] or {}
            f = (v["event_id"], v["event_type"], v["source"]["position"], v["source"]["primary_key"],
                 ms.get("state"), ms.get("previous_state"))
        yield f + (hashlib.sha256(_produced.sub("", l[l.index('"key":'):]).encode()).digest(), l)
PY
KILLS=0
# kill_restart WHEN: SIGKILL (after checking the producer still runs: it must
# never stop by itself), then a new one.
kill_restart() {
	if ! kill -0 "$CDC_PID" 2>/dev/null; then
		FAIL "cdc-kill-$((KILLS + 1))-running" "the producer had exited before kill $((KILLS + 1)) ($1): $(grep -v '"level":"info"' "$LOG" | tail -n 2 | cut -c 1-300 | tr '\n' ' ')"
	fi
	kill -KILL "$CDC_PID" 2>/dev/null
	wait "$CDC_PID" 2>/dev/null
	KILLS=$((KILLS + 1))
	echo "--- kill $KILLS ($1)" >>"$LOG"
	info "kill $KILLS: $1"
	start_cdc
}

# snapshot_complete: every membership has a snapshot event with its state.
snapshot_complete() {
	read_topic "$tmp/snap.jsonl"
	PYTHONPATH=$tmp python3 - "$tmp/snap.jsonl" "$tmp/initial.states" <<'PY'
import sys
from events import events
want = {tuple(l.split()) for l in open(sys.argv[2]) if l.strip()}
got = {(pk, (st or "").lower()) for _, _, pos, pk, st, _, _, _ in events(sys.argv[1])
       if (pos or "").startswith("snapshot:")}
sys.exit(0 if want <= got else 1)
PY
}

# Kill 1: once the slot is made (its confirmed position set: a slot killed
# while being made goes away, harmlessly here), after a random pause; in the
# initial load when the load lasts longer.  The run starts only once the
# load is complete, so that every change it makes comes after the slot's
# snapshot.
slot_made() {
	[ "$(db_sql "$DB" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT'
		AND confirmed_flush_lsn IS NOT NULL")" = 1 ]
}
: >"$LOG"
start_cdc
if ! wait_until 120 slot_made; then
	FAIL cdc-kill-slot "no slot \"$SLOT\" after 120 s: $(tail -n 3 "$LOG" | cut -c 1-300 | tr '\n' ' ')"
	finish
fi
sleep "0.$((RANDOM % 10))"
if grep -q '"msg":"initial load done"' "$LOG"; then
	kill_restart "after the initial load"
else
	kill_restart "slot made, no \"initial load done\" logged yet"
fi
if wait_until 120 snapshot_complete; then
	PASS cdc-kill-initial-load-completes
	info "initial load in the topic"
else
	FAIL cdc-kill-initial-load-completes "not every membership has a snapshot event after the restart: $(grep -v '"level":"info"' "$LOG" | tail -n 2 | cut -c 1-300 | tr '\n' ' ')"
fi

# The run: the plan of transactions, as SQL, from a seeded generator.
python3 - "$CHANGES" "$SEED" "$EXCL" "$R" >"$tmp/run.sql" 2>"$tmp/plan.txt" <<'PY'
import math, random, sys
total, seed, excl, r = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rnd = random.Random(seed)
sizes = [min(5000, total), 1] if total > 5000 else [total]
while sum(sizes) < total:
    sizes.append(min(int(math.exp(rnd.uniform(0, math.log(5000)))), total - sum(sizes)))
rnd.shuffle(sizes)
# About 25 s of writing: a pause between transactions (pacing, not a check).
pause = 25.0 / len(sizes)
cycle = ["draft", "enrolled", "paused", "exited", "not_eligible", "duplicated"]
case = "CASE m.state " + " ".join("WHEN '%s' THEN '%s'" % (a, cycle[(i + 1) % 6])
                                   for i, a in enumerate(cycle)) + " END"
print("SELECT setseed(%f);" % (seed % 1000 / 1000.0))
for i, n in enumerate(sizes):
    if i == len(sizes) // 2:
        print("ALTER TABLE res_partner ADD COLUMN il_note varchar;")
        print("UPDATE res_partner SET il_note = 'checked', write_date = now() AT TIME ZONE 'UTC' WHERE id = %d;" % r)
        print("UPDATE res_partner SET il_note = 'moved', birth_place = 'Riverside North',"
              " write_date = now() AT TIME ZONE 'UTC' WHERE id = %d;" % r)
    print("BEGIN;")
    print("WITH pick AS (SELECT id, state AS old FROM g2p_program_membership"
          " WHERE partner_id NOT IN (%s) ORDER BY random() LIMIT %d)," % (excl, n))
    print("c AS (UPDATE g2p_program_membership m SET state = %s, write_uid = 2,"
          " write_date = now() AT TIME ZONE 'UTC' FROM pick WHERE m.id = pick.id"
          " RETURNING m.id, pick.old, m.state)" % case)
    print("INSERT INTO il_changelog (pm_id, prev, state) SELECT id, old, state FROM c ORDER BY id;")
    if i == len(sizes) - 1:
        # Before COMMIT: below the commit's end, above every earlier change.
        print("SELECT 'last', pg_current_wal_insert_lsn();")
    print("COMMIT;")
    print("SELECT pg_sleep(%.3f);" % pause)
print("transactions %d, largest %d, smallest %d, pause %.3f s" % (len(sizes), max(sizes), min(sizes), pause),
      file=sys.stderr)
PY
info "plan: $(cat "$tmp/plan.txt")"
psql_at -f "$tmp/run.sql" >"$tmp/run.out" 2>"$tmp/run.err" &
WRITER=$!
written() {
	db_sql "$DB" "SELECT count(*) FROM il_changelog" 2>/dev/null || echo 0
}
q=$((CHANGES / 4))
TERMINATED=0
for k in 0 1 2 3; do
	at=$((k * q + 1 + (RANDOM * 32768 + RANDOM) % q))
	if ! wait_until 300 eval '[ "$(written)" -ge '"$at"' ] || ! kill -0 '"$WRITER"' 2>/dev/null'; then
		FAIL cdc-kill-run "fewer than $at changes written after 300 s"
	fi
	kill_restart "$(written) of $CHANGES changes written"
	# In two quarters, a third of a quarter later, every connection the
	# producer reads registrants on is terminated: a reader's failure
	# must end in a restart that loses nothing.
	if [ "$k" = 1 ] || [ "$k" = 3 ]; then
		at=$((at + q / 3))
		wait_until 300 eval '[ "$(written)" -ge '"$at"' ] || ! kill -0 '"$WRITER"' 2>/dev/null' || true
		n=$(db_sql "$DB" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'imislink-cdc' AND backend_type = 'client backend'" 2>/dev/null || echo 0)
		TERMINATED=$((TERMINATED + n))
		info "terminated $n connections of imislink-cdc ($(written) of $CHANGES changes written)"
	fi
done
wait "$WRITER"
rc=$?
WRITER=
if [ "$TERMINATED" -gt 0 ]; then
	PASS cdc-kill-readers-terminated
else
	FAIL cdc-kill-readers-terminated "no connection of imislink-cdc to terminate"
fi
if [ "$rc" = 0 ] && [ "$(written)" = "$CHANGES" ]; then
	PASS cdc-kill-run-written
else
	FAIL cdc-kill-run-written "psql exit status $rc, $(written) changes logged: $(tail -n 3 "$tmp/run.err" | tr '\n' ' ')"
fi
last=$(sed -n 's/^last|//p' "$tmp/run.out")
info "run written, last change below $last; waiting for the producer"

acked_past() {
	[ "$(db_sql "$DB" "SELECT confirmed_flush_lsn > '$1'::pg_lsn FROM pg_replication_slots
		WHERE slot_name = '$SLOT'")" = t ]
}
# A producer that stopped by itself is a failure; one more start lets the
# remaining checks say what it delivered.
if kill -0 "$CDC_PID" 2>/dev/null; then
	PASS cdc-kill-producer-running
else
	FAIL cdc-kill-producer-running "the producer exited: $(grep -v '"level":"info"' "$LOG" | tail -n 2 | cut -c 1-300 | tr '\n' ' ')"
	wait "$CDC_PID" 2>/dev/null
	echo "--- started again after it exited" >>"$LOG"
	start_cdc
fi
if [ -n "$last" ] && wait_until 300 acked_past "$last"; then
	PASS cdc-kill-acknowledged
else
	FAIL cdc-kill-acknowledged "the slot's confirmed position did not pass $last: $(grep -v '"level":"info"' "$LOG" | tail -n 2 | cut -c 1-300 | tr '\n' ' ')"
fi
db_sql "$DB" "SELECT pm_id || ' ' || prev || ' ' || state FROM il_changelog ORDER BY seq" >"$tmp/changelog.txt"
db_sql "$DB" "SELECT string_agg(DISTINCT program_id::text, ' ') FROM g2p_program_membership
	WHERE state = 'enrolled' AND partner_id IN ($G0, $R)" >"$tmp/r.programmes"
info "reading the topic"
read_topic "$tmp/all.jsonl"
info "$(wc -l <"$tmp/all.jsonl") events in the topic"

export PYTHONPATH=$tmp
json_check cdc-kill-every-change "$tmp/all.jsonl" "$tmp/changelog.txt" "$tmp/other.jsonl" <<'PY'
import sys
from events import events
lsn = lambda p: tuple(int(x, 16) for x in p.split("#")[0].split("/"))
want = {}
for l in open(sys.argv[2]):
    pk, prev, state = l.split()
    want.setdefault(pk, []).append((prev.upper(), state.upper()))
seen, got, repeats, conflicts = {}, {}, 0, []
other = open(sys.argv[3], "w")
for eid, typ, pos, pk, state, prev, digest, line in events(sys.argv[1]):
    if eid in seen:
        if seen[eid] != digest:
            conflicts.append(eid)
        repeats += 1
        continue
    seen[eid] = digest
    if typ != "MEMBERSHIP_CHANGED":
        other.write(line)
    if typ != "MEMBERSHIP_CHANGED" or pos.startswith("snapshot:"):
        continue
    got.setdefault(pk, []).append((lsn(pos), (prev, state)))
other.close()
assert not conflicts, "%d event ids repeated with another key or content, e.g. %s" % (len(conflicts), conflicts[0])
missing = extra = 0
bad = []
for pk in set(want) | set(got):
    g = [t for _, t in sorted(got.get(pk, []))]
    w = want.get(pk, [])
    if g != w:
        bad.append(pk)
        missing += max(0, len(w) - len(g))
        extra += max(0, len(g) - len(w))
print("changes %d, distinct streamed events %d, repeats %d" % (
    sum(len(w) for w in want.values()), sum(len(g) for g in got.values()), repeats), file=sys.stderr)
assert not bad, "%d memberships differ (%d changes missing, %d extra at least), e.g. %s: expected %s, got %s" % (
    len(bad), missing, extra, bad[0], want.get(bad[0], [])[:4], [t for _, t in sorted(got.get(bad[0], []))][:4])
PY

# The events other than MEMBERSHIP_CHANGED, once each, from the check above.
json_check cdc-kill-alter-then-registrant-updated "$tmp/other.jsonl" "$R" "$tmp/r.programmes" <<'PY'
import json, sys
r = int(sys.argv[2])
progs = sorted(int(x) for x in open(sys.argv[3]).read().split())
evs = {}
for line in open(sys.argv[1]):
    v = json.loads(line)["value"]
    evs[v["event_id"]] = v
other = [(v["event_type"], v["registrant"]["source_id"]) for v in evs.values()
         if v["event_type"] != "REGISTRANT_UPDATED" or v["registrant"]["source_id"] != r]
assert other == [], "unexpected events: %s" % other[:5]
got = sorted(v["programme"]["id"] for v in evs.values())
assert got == progs, "expected one REGISTRANT_UPDATED of %d per programme %s, got programmes %s" % (r, progs, got)
for v in evs.values():
    assert v["registrant"]["birth_place"] == "Riverside North", v["registrant"]["birth_place"]
PY

daemon_stop "$CDC_PID" 30 "$LOG" cdc-kill-stops-on-sigterm
CDC_PID=
info "$KILLS kills"
finish
