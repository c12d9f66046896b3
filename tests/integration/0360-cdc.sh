#!/usr/bin/env bash
# 0360-cdc: imislink-cdc (change capture, issue 3 section 1) against the real
# PostgreSQL 15 and the real Kafka broker, in a fresh database holding a
# generated registry of 300 households, REPLICA IDENTITY FULL on
# g2p_program_membership, res_partner, g2p_reg_id, g2p_phone_number and
# g2p_group_membership, streaming programme 1 only:
#   - the initial load publishes every membership of programme 1 once, from
#     the slot's exported snapshot, with registrant and household;
#   - the targeting scenario gives exactly one event per membership moved,
#     draft -> enrolled, and a change in programme 2 gives none;
#   - pause-exit gives the paused and the exited memberships, in commit order
#     per key;
#   - the producer killed with SIGKILL while transactions stream and started
#     again: every change reaches Kafka (repeats allowed, with the same id
#     and the same content);
#   - each scenario of it_openspp_gen gives exactly the events issue 3
#     expects, keyed by the household's National ID, for programme 1:
#     birthdate-fix one REGISTRANT_UPDATED with the exact birthdate,
#     member-leaves one HOUSEHOLD_CHANGED without the leaver,
#     registrant-deleted one HOUSEHOLD_CHANGED without the deleted member,
#     noise none, new-head one HOUSEHOLD_CHANGED with the new Head, id-change
#     one REGISTRANT_UPDATED with the new National ID;
#   - one membership updated twice in one transaction (draft -> enrolled ->
#     paused) gives two events, with their own ids, in order;
#   - a TRUNCATE of an unrelated table of the publication does not stop the
#     producer;
#   - the initial load cut short and run again at the same position gives
#     the same events, contents included;
#   - SIGTERM while the producer's readers wait on a table another session
#     locked: it exits within 10 s (their queries are cancelled).
# "Exactly" is checked once the producer has acknowledged a marker
# transaction committed after the scenario (the slot's confirmed_flush_lsn
# passes it): then Kafka holds everything before it.
# The slot, the publication and the database are dropped at the end.
# Needs: pg, kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER KAFKA_BOOTSTRAP_SERVERS

cdc_setup cdc cdc 300 11
ROLE=il_cdc_norepl_${IL_RUN_ID}_$$
cleanup() {
	cdc_cleanup
	db_sql "${PGDATABASE:-postgres}" "DROP ROLE IF EXISTS \"$ROLE\"" >/dev/null 2>&1
}
trap cleanup EXIT
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

# metric_sum PORT NAME: the sum of every sample of NAME, with or without labels.
metric_sum() {
	curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk -v m="$2" 'index($0, m " ") == 1 || index($0, m "{") == 1 { s += $NF } END { print s + 0 }'
}
psql_at() {
	db_psql "$DB" -At "$@"
}

# The marker: a membership of programme 1 that is neither enrolled nor ever
# touched by a scenario; settle toggles it between not_eligible and duplicated.
MARK=$(db_sql "$DB" "SELECT max(id) FROM g2p_program_membership WHERE program_id = 1
	AND state IN ('not_eligible', 'duplicated')")
acked_past() {
	[ "$(db_sql "$DB" "SELECT confirmed_flush_lsn > '$1'::pg_lsn FROM pg_replication_slots
		WHERE slot_name = '$SLOT'")" = t ]
}
marker_in() {
	read_topic "$1"
	python3 -c 'import json, sys
old = set(open(sys.argv[3]).read().split())
src = [json.loads(l)["value"]["source"] for l in open(sys.argv[1])]
sys.exit(0 if any(s["table"] == "g2p_program_membership" and s["primary_key"] == sys.argv[2]
                  and s["position"] not in old for s in src) else 1)' "$1" "$MARK" "$tmp/seen.positions"
}
# settle NAME: commits a marker change and waits until the producer has
# acknowledged it, then leaves in $tmp/NAME.new.jsonl the events that were not
# in the topic at the previous settle (marker events included).
: >"$tmp/seen.ids"
: >"$tmp/seen.positions"
settle() {
	local name=$1 lsn
	lsn=$(psql_at -c "BEGIN" -c "UPDATE g2p_program_membership SET write_date = now(),
		state = CASE state WHEN 'not_eligible' THEN 'duplicated' ELSE 'not_eligible' END
		WHERE id = $MARK" -c "SELECT pg_current_wal_insert_lsn()" -c "COMMIT")
	if ! wait_until 90 acked_past "$lsn" || ! wait_until 30 marker_in "$tmp/$name.all.jsonl"; then
		FAIL "cdc-$name-settle" "the marker change at $lsn was not acknowledged or not in the topic: $(tail -n 2 "$LOG" | cut -c 1-300 | tr '\n' ' ')"
	fi
	python3 - "$tmp/$name.all.jsonl" "$tmp/seen.ids" "$tmp/$name.new.jsonl" "$tmp/seen.positions" "$MARK" <<'PY'
import json, sys
seen = set(open(sys.argv[2]).read().split())
with open(sys.argv[3], "w") as out, open(sys.argv[2], "a") as ids, open(sys.argv[4], "a") as pos:
    for l in open(sys.argv[1]):
        e = json.loads(l)
        v = e["value"]
        if v["event_id"] in seen:
            continue
        seen.add(v["event_id"])
        out.write(l)
        ids.write(v["event_id"] + "\n")
        if v["source"]["table"] == "g2p_program_membership" and v["source"]["primary_key"] == sys.argv[5]:
            pos.write(v["source"]["position"] + "\n")
PY
}

# Initial load.
snap_expected=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1")
db_sql "$DB" "SELECT id || ' ' || state FROM g2p_program_membership WHERE program_id = 1 ORDER BY id" \
	>"$tmp/snap.expected"
: >"$LOG"
cdc_start
daemon_port 30 "$LOG" cdc-http || finish
PORT=$DAEMON_PORT
signals_main_only cdc-signals-main-thread "$CDC_PID"
if wait_until 60 topic_has "$tmp/count.jsonl" "$snap_expected"; then
	PASS cdc-snapshot-arrives
else
	FAIL cdc-snapshot-arrives "expected $snap_expected events, got $(topic_count "$tmp/count.jsonl"): $(tail -n 3 "$LOG" | cut -c 1-300)"
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
check cdc-targeting-runs db_psql "$DB" -f "$tmp/targeting2.sql" -f "$tmp/targeting.sql"
want=$((snap_expected + n_target))
wait_until 60 topic_has "$tmp/count.jsonl" "$want"
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
# Positions are the changes' own LSNs: one per membership moved.
assert len({v["source"]["position"] for v in new}) == len(new), "two changes share a position"
assert len({v["event_id"] for v in new}) == len(new), "event ids repeat"
PY

# Pause and exit: two transactions; per key, commit order.
"$GEN" --scenario pause-exit --program 1 --count 10 >"$tmp/pause.sql"
before=$(wc -l <"$tmp/t.jsonl")
check cdc-pause-exit-runs db_psql "$DB" -f "$tmp/pause.sql"
wait_until 60 topic_has "$tmp/count.jsonl" $((before + 20))
read_topic "$tmp/p.jsonl"
json_check cdc-pause-exit-events "$tmp/p.jsonl" "$before" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert len(evs) == int(sys.argv[2]) + 20, "expected 20 new events, got %d" % (len(evs) - int(sys.argv[2]))
assert len({e["value"]["event_id"] for e in evs}) == len(evs), "an event id repeats"
lsn = lambda p: tuple(int(x, 16) for x in p.split("#")[0].split("/"))
new = [e for e in evs if e["value"]["membership"]["state"] in ("PAUSED", "EXITED")
       and e["value"]["membership"]["previous_state"] == "ENROLLED"]
assert sum(1 for e in new if e["value"]["membership"]["state"] == "PAUSED") == 10
assert sum(1 for e in new if e["value"]["membership"]["state"] == "EXITED") == 10
paused = [lsn(e["value"]["source"]["position"]) for e in new if e["value"]["membership"]["state"] == "PAUSED"]
exited = [lsn(e["value"]["source"]["position"]) for e in new if e["value"]["membership"]["state"] == "EXITED"]
assert max(paused) < min(exited), "the exit transaction committed after the pause"
# Commit order per key: within a partition, the offsets of a key's streamed
# events follow their LSNs (one writer: commit order is change order).
bykey = {}
for e in sorted(evs, key=lambda e: (e["partition"], e["offset"])):
    p = e["value"]["source"]["position"]
    if p.startswith("snapshot:"):
        continue
    bykey.setdefault((e["partition"], e["key"]), []).append(lsn(p))
for k, l in bykey.items():
    assert l == sorted(l), "key %s out of commit order" % (k,)
PY
if [ "$(metric_sum "$PORT" imislink_cdc_events_produced_total)" -ge "$want" ]; then
	PASS cdc-metrics
else
	FAIL cdc-metrics "imislink_cdc_events_produced_total is $(metric_sum "$PORT" imislink_cdc_events_produced_total)"
fi
curl -fsS --max-time 5 "http://127.0.0.1:$PORT/healthz" >/dev/null && PASS cdc-healthz || FAIL cdc-healthz "not 200"

# SIGKILL while transactions stream, then a restart: 20 transactions move
# the enrolled memberships of programme 1 to paused and back, the producer is
# killed after the fifth commit.
db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'" \
	>"$tmp/enrolled.ids"
before=$(topic_count "$tmp/count.jsonl")
kill_while "$CDC_PID" flip_enrolled "$DB" "now()"
# Every change committed is what Kafka must hold after the restart.
cdc_start
settle kill
read_topic "$tmp/k.jsonl"
json_check cdc-sigkill-nothing-missing "$tmp/k.jsonl" "$tmp/p.jsonl" "$tmp/enrolled.ids" <<'PY'
import json, sys
lsn = lambda p: tuple(int(x, 16) for x in p.split("#")[0].split("/"))
evs = [json.loads(l) for l in open(sys.argv[1])]
old = {json.loads(l)["value"]["event_id"] for l in open(sys.argv[2])}
ids = {l.strip() for l in open(sys.argv[3]) if l.strip()}
seen, per_pk, repeats = {}, {}, 0
for e in evs:
    v = e["value"]
    body = dict(v, produced_at=None)
    if v["event_id"] in seen:
        assert seen[v["event_id"]] == (e["key"], body), "event id %s repeated with other content" % v["event_id"]
        repeats += 1
        continue
    seen[v["event_id"]] = (e["key"], body)
    if v["event_id"] in old or v["source"]["primary_key"] not in ids:
        continue
    m = v["membership"]
    per_pk.setdefault(v["source"]["primary_key"], []).append(
        (lsn(v["source"]["position"]), m["previous_state"], m["state"]))
# Ten transactions paused one half of the memberships and ten enrolled it
# again: each membership moved ten times, alternately.
assert set(per_pk) == ids, "memberships without events: %s" % sorted(ids - set(per_pk))[:5]
for pk, l in per_pk.items():
    got = [(p, q) for _, p, q in sorted(l)]
    assert got == [("ENROLLED", "PAUSED"), ("PAUSED", "ENROLLED")] * 5, "membership %s: %s" % (pk, got)
print("changes %d, repeats %d" % (sum(len(l) for l in per_pk.values()), repeats), file=sys.stderr)
PY

# The scenarios, one at a time, each followed by a settle: what arrives in
# between is the scenario's (and the marker's).
scenario_check() {
	local name=$1 out hh who key
	shift
	if ! "$GEN" --scenario "$name" --program 1 "$@" >"$tmp/$name.sql" ||
		! out=$(psql_at -f "$tmp/$name.sql" 2>&1); then
		FAIL "cdc-$name-runs" "$(tail -n 2 <<<"$out" | tr '\n' ' ')"
		return
	fi
	out=$(sed -n 's/^target|//p' <<<"$out" | head -n 1)
	hh=${out%%|*}
	who=${out#*|}
	if ! [[ $hh =~ ^[0-9]+$ ]]; then
		FAIL "cdc-$name-runs" "no target row: \"$out\""
		return
	fi
	PASS "cdc-$name-runs"
	key=$(db_sql "$DB" "SELECT value FROM g2p_reg_id WHERE partner_id = $hh AND id_type = 1")
	# What the registrant holds now (nothing when deleted).
	db_sql "$DB" "SELECT coalesce(rp.birthdate::text, ''), coalesce((SELECT value FROM g2p_reg_id
		WHERE partner_id = rp.id AND id_type = 1), '') FROM res_partner rp WHERE rp.id = ${who:-0}" \
		>"$tmp/$name.who"
	settle "$name"
	json_check "cdc-$name-events" "$tmp/$name.new.jsonl" "$name" "$MARK" "$hh" "${who:-0}" "$key" \
		"$tmp/$name.who" <<'PY'
import json, sys
path, name, mark, hh, who, key, whofile = sys.argv[1:8]
hh, who = int(hh), int(who)
now = open(whofile).read().strip().split("|")
birthdate, nid = (now + ["", ""])[:2] if now != [""] else ("", "")
evs = [json.loads(l) for l in open(path)]
evs = [e for e in evs if not (e["value"]["source"]["table"] == "g2p_program_membership"
                              and e["value"]["source"]["primary_key"] == mark)]
brief = [(e["value"]["event_type"], e["key"], e["value"]["source"]["table"], e["value"]["source"]["primary_key"])
         for e in evs]
want = {"birthdate-fix": "REGISTRANT_UPDATED", "member-leaves": "HOUSEHOLD_CHANGED",
        "registrant-deleted": "HOUSEHOLD_CHANGED", "noise": None,
        "new-head": "HOUSEHOLD_CHANGED", "id-change": "REGISTRANT_UPDATED"}[name]
if want is None:
    assert evs == [], "expected no event, got %d: %s" % (len(evs), brief[:5])
    sys.exit(0)
assert len(evs) == 1, "expected exactly 1 %s, got %d: %s" % (want, len(evs), brief[:5])
e = evs[0]
v = e["value"]
assert v["event_type"] == want, "expected %s, got %s" % (want, v["event_type"])
assert e["key"] == key, "expected the household's key %s, got %s" % (key, e["key"])
assert v["source"]["kind"] == "CDC" and not v["source"]["position"].startswith("snapshot:"), v["source"]
assert v["programme"] is not None and v["programme"]["id"] == 1, v["programme"]
assert v["membership"] is not None and v["membership"]["state"] == "ENROLLED", v["membership"]
h = v["household"]
assert h is not None and h["source_id"] == hh, "household %s, expected %d" % (h and h["source_id"], hh)
members = [m["registrant"]["source_id"] for m in h["members"]]
heads = [m["registrant"]["source_id"] for m in h["members"] if m["is_head"]]
assert len(heads) == 1, "heads %s" % heads
r = v["registrant"]
if name == "birthdate-fix":
    assert r["source_id"] == who, "registrant %s, expected %d" % (r["source_id"], who)
    assert (r["birthdate"], r["birthdate_exact"]) == (birthdate, True), \
        "birthdate %s exact %s, expected %s exact" % (r["birthdate"], r["birthdate_exact"], birthdate)
elif name == "id-change":
    assert r["source_id"] == who, "registrant %s, expected %d" % (r["source_id"], who)
    assert {"type": "National ID", "value": nid} in [{"type": x["type"], "value": x["value"]}
        for x in r["external_ids"]], "new National ID missing: %s" % [x["type"] for x in r["external_ids"]]
elif name in ("member-leaves", "registrant-deleted"):
    assert who not in members, "registrant %d still a member" % who
    if name == "registrant-deleted":
        def ids(x):
            if isinstance(x, dict):
                return ([x["source_id"]] if "source_id" in x else []) + [i for y in x.values() for i in ids(y)]
            return [i for y in x for i in ids(y)] if isinstance(x, list) else []
        assert who not in ids(v), "the deleted registrant %d appears in the event" % who
elif name == "new-head":
    assert heads == [who], "head %s, expected %d" % (heads, who)
PY
}
scenario_check birthdate-fix
scenario_check member-leaves
scenario_check registrant-deleted
scenario_check noise --count 3
scenario_check new-head
scenario_check id-change

# One membership updated twice in one transaction: two events, two ids, in
# the order of the updates.  It becomes a draft first (one more event).
DBL=$(db_sql "$DB" "SELECT max(id) FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'")
if psql_at -c "UPDATE g2p_program_membership SET state = 'draft', enrollment_date = NULL,
	write_date = now() WHERE id = $DBL" -c "BEGIN" -c "UPDATE g2p_program_membership
	SET state = 'enrolled', enrollment_date = now(), write_date = now() WHERE id = $DBL" \
	-c "UPDATE g2p_program_membership SET state = 'paused', write_date = now() WHERE id = $DBL" \
	-c "COMMIT" >/dev/null; then
	PASS cdc-twice-runs
else
	FAIL cdc-twice-runs "could not update membership $DBL"
fi
settle twice
json_check cdc-twice-in-one-transaction "$tmp/twice.new.jsonl" "$DBL" <<'PY'
import json, sys
lsn = lambda p: tuple(int(x, 16) for x in p.split("#")[0].split("/"))
evs = [json.loads(l) for l in open(sys.argv[1])]
evs = sorted((e for e in evs if e["value"]["source"]["primary_key"] == sys.argv[2]),
             key=lambda e: (e["partition"], e["offset"]))
got = [(e["value"]["membership"]["previous_state"], e["value"]["membership"]["state"]) for e in evs]
assert got == [("ENROLLED", "DRAFT"), ("DRAFT", "ENROLLED"), ("ENROLLED", "PAUSED")], \
    "expected ENROLLED->DRAFT, DRAFT->ENROLLED, ENROLLED->PAUSED in offset order, got %s" % got
ids = [e["value"]["event_id"] for e in evs]
assert len(set(ids)) == 3, "event ids repeat: %s" % ids
pos = [lsn(e["value"]["source"]["position"]) for e in evs]
assert pos == sorted(pos) and len(set(pos)) == 3, "positions %s" % [e["value"]["source"]["position"] for e in evs]
PY

# TRUNCATE of a published table no event is about: the producer goes on.
errors_before=$(grep -c '"level":"error"' "$LOG")
if db_sql "$DB" "CREATE TABLE il_unrelated (id integer PRIMARY KEY, note varchar);
	ALTER PUBLICATION \"$SLOT\" ADD TABLE il_unrelated;
	INSERT INTO il_unrelated VALUES (1, 'one'), (2, 'two')" >/dev/null &&
   db_sql "$DB" "TRUNCATE il_unrelated" >/dev/null; then
	PASS cdc-truncate-runs
else
	FAIL cdc-truncate-runs "could not make, publish and truncate \"il_unrelated\""
fi
settle truncate
json_check cdc-truncate-no-event "$tmp/truncate.new.jsonl" "$MARK" <<'PY'
import json, sys
evs = [json.loads(l)["value"] for l in open(sys.argv[1])]
other = [(v["event_type"], v["source"]["table"], v["source"]["primary_key"]) for v in evs
         if (v["source"]["table"], v["source"]["primary_key"]) != ("g2p_program_membership", sys.argv[2])]
assert other == [], "events besides the marker: %s" % other[:5]
assert evs, "the marker change after the TRUNCATE did not arrive"
PY
if kill -0 "$CDC_PID" 2>/dev/null && [ "$(grep -c '"level":"error"' "$LOG")" = "$errors_before" ]; then
	PASS cdc-truncate-keeps-streaming
else
	FAIL cdc-truncate-keeps-streaming "the producer stopped or logged an error: $(grep '"level":"error"' "$LOG" | tail -n 2 | cut -c 1-300 | tr '\n' ' ')"
fi

# The initial load run again at the same position (a load cut short, its
# state file lost, nothing written in between) makes the same events,
# contents included: a repeat is recognisable by its id.  Two loads after a
# SIGKILL each, the second at the first one's position.
reload() {
	kill -KILL "$CDC_PID" 2>/dev/null
	wait "$CDC_PID" 2>/dev/null
	rm -f "$tmp/cdc.state"
	: >"$LOG"
	cdc_start
	wait_until 60 grep -q '"msg":"initial load done"' "$LOG"
}
reload && reload || FAIL cdc-reload-runs "the initial load did not finish again: $(tail -n 2 "$LOG" | cut -c 1-300 | tr '\n' ' ')"
read_topic "$tmp/reload.jsonl"
json_check cdc-reload-same-events "$tmp/reload.jsonl" <<'PY'
import collections, json, sys
contents = collections.defaultdict(set)
for l in open(sys.argv[1]):
    e = json.loads(l)
    v = dict(e["value"])
    if not v["source"]["position"].startswith("snapshot:"):
        continue
    v.pop("produced_at", None)
    contents[v["event_id"]].add(json.dumps([e.get("key"), v], sort_keys=True))
differ = [i for i, c in contents.items() if len(c) > 1]
assert not differ, "%d snapshot event ids with other contents in a repeat, e.g. %s" % (len(differ), differ[0])
print("info: %d snapshot event ids" % len(contents), file=sys.stderr)
PY

# A stop while the readers wait on a lock (an openSPP transaction holding a
# table the enrichment reads): their queries are cancelled and the producer
# exits within seconds, not after the statement timeout.
db_sql "$DB" "BEGIN; LOCK TABLE g2p_phone_number IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT" \
	>/dev/null 2>&1 &
LOCKER=$!
db_sql "$DB" "UPDATE g2p_program_membership SET write_date = now(),
	state = CASE state WHEN 'not_eligible' THEN 'duplicated' ELSE 'not_eligible' END WHERE id = $MARK" >/dev/null
if wait_until 30 eval '[ "$(db_sql "$DB" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
	AND application_name = '"'"'imislink-cdc'"'"' AND wait_event_type = '"'"'Lock'"'"'")" -gt 0 ]'; then
	PASS cdc-reader-waits-on-lock
else
	FAIL cdc-reader-waits-on-lock "no query of the producer waited on the locked table"
fi
daemon_stop "$CDC_PID" 10 "$LOG" cdc-stops-on-sigterm
CDC_PID=
db_sql "$DB" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
	AND query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" 2>/dev/null
finish
