#!/usr/bin/env bash
# 0365-cdc-poll: imislink-cdc's polling fallback (cdc.mode=poll, issue 3)
# against the real PostgreSQL 15 and the real Kafka broker, in a fresh
# database holding a generated registry of 300 households, streaming
# programme 1 only:
#   - a malformed cdc.state.file: exit status 1, the message names the
#     key, the file is left as it was;
#   - the initial load (no state file) publishes every membership of
#     programme 1 once;
#   - targeting gives exactly one MEMBERSHIP_CHANGED per membership moved,
#     birthdate-fix exactly one REGISTRANT_UPDATED, member-leaves exactly one
#     HOUSEHOLD_CHANGED for the household, without the leaver;
#   - a long transaction whose row is older than the cursor when it commits
#     (a newer row committed and published meanwhile) is still published:
#     the overlap window;
#   - a membership without partner gives no event, one warning, counts once
#     in imislink_cdc_ignored_changes_total{reason="incomplete row"}, and
#     does not hold the polling up;
#   - no event id repeats within one run; a lost connection is survived;
#   - the producer killed with SIGKILL while rows are polled and started
#     again: the last version of every changed membership reaches Kafka
#     (repeats allowed, same id, same content), the initial load is not
#     repeated (the cursor survived);
#   - the state file is replaced by rename (always whole when read) and no
#     temporary file is left after a stop;
#   - a start with cdc.snapshot=always and a state file publishes every
#     membership again and keeps the other tables' cursors.
# Polling cannot see deletes or Head changes: nothing here expects them.
# Needs: pg, kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER KAFKA_BOOTSTRAP_SERVERS

cdc_programs cdc-poll
DB=il_cdcpoll_${IL_RUN_ID}_$$
TOPIC=il-cdcpoll-${IL_RUN_ID}-$$
tmp=$IL_TEST_TMP/0365-cdc-poll
rm -rf "$tmp"
mkdir -p "$tmp"
LOG=$tmp/cdc.log
STATE=$tmp/state
CDC_PID=
LONG_PID=
COPIER_PID=

cleanup() {
	[ -n "$CDC_PID" ] && kill -KILL "$CDC_PID" 2>/dev/null
	[ -n "$LONG_PID" ] && kill -KILL "$LONG_PID" 2>/dev/null
	[ -n "$COPIER_PID" ] && kill -KILL "$COPIER_PID" 2>/dev/null
	exec 7>&- 2>/dev/null
	db_drop "$DB"
}
trap cleanup EXIT


db_create "$DB" cdc-poll-createdb || finish
if ! openspp_registry "$DB" 300 11; then
	FAIL cdc-poll-registry "could not load the schema and the generated registry"
	finish
fi
PASS cdc-poll-registry
create_topic "$TOPIC" 3 2>"$tmp/topic.err" || { FAIL cdc-poll-topic "$(tail -n 2 "$tmp/topic.err")"; finish; }

cdc_args=(--set http.port=0 --set topic.eligibility="$TOPIC" --set cdc.mode=poll
	--set cdc.poll.interval.ms=200 --set cdc.poll.overlap.s=8 --set cdc.programmes=1 --set openspp.instance=it-openspp)
start_cdc() {
	daemon_start "$LOG" env PGDATABASE="$DB" "$CDC" "${cdc_args[@]}" --set cdc.state.file="$STATE"
	CDC_PID=$DAEMON_PID
}


# caught_up TABLE FILTER: the state file's cursor of TABLE has reached its
# newest row matching FILTER, so Kafka confirmed everything up to it.
caught_up() {
	local cur
	cur=$(awk -v t="$1" '$1 == t { print $2 }' "$STATE" 2>/dev/null)
	[ -n "$cur" ] || return 1
	[ "$(db_sql "$DB" "SELECT COALESCE('$cur'::timestamp >= max(write_date), true) FROM $1 WHERE $2")" = t ]
}
memberships_caught_up() {
	caught_up g2p_program_membership "program_id = 1"
}
all_caught_up() {
	memberships_caught_up &&
		caught_up res_partner "is_registrant AND NOT COALESCE(is_group, false)" &&
		caught_up g2p_group_membership true
}

# run_scenario NAME [ARGS...]: it_openspp_gen's scenario NAME on programme 1,
# committed.
run_scenario() {
	local name=$1
	shift
	"$GEN" --scenario "$name" --program 1 "$@" | db_psql "$DB"
}

# new_events PREV OUT: the events of the read OUT whose ids the earlier read
# PREV does not hold, to OUT.new.
new_events() {
	python3 - "$1" "$2" >"$2.new" <<'PY'
import json, sys
old = {json.loads(l)["value"]["event_id"] for l in open(sys.argv[1])}
sys.stdout.writelines(l for l in open(sys.argv[2]) if json.loads(l)["value"]["event_id"] not in old)
PY
}

# one_more_event SCENARIO PREV OUT: notes the time in $mark and runs
# SCENARIO (check cdc-poll-SCENARIO-runs); then waits until the topic holds
# one event more than the file PREV (an earlier read) and every cursor has
# caught up, reads the topic into OUT and leaves the new events in OUT.new.
one_more_event() {
	local before
	mark=$(db_sql "$DB" "SELECT now() AT TIME ZONE 'UTC'")
	before=$(wc -l <"$2")
	check "cdc-poll-$1-runs" run_scenario "$1"
	wait_until 60 topic_has "$tmp/count.jsonl" $((before + 1))
	wait_until 60 all_caught_up
	wait_until 30 topic_has "$3" $((before + 1))
	new_events "$2" "$3"
}

# The state file's form, checked by state_ok FILE... (python).
state_ok() {
	python3 - "$@" <<'PY'
import re, sys
tables = ["g2p_program_membership", "res_partner", "g2p_group_membership", "g2p_reg_id", "g2p_phone_number"]
for f in sys.argv[1:]:
    lines = open(f).read().split("\n")
    assert lines[0] == "imislink-cdc-poll 1" and lines[-1] == "", "%s: %r" % (f, lines[:2])
    got = [l.split(" ") for l in lines[1:-1]]
    assert [g[0] for g in got] == tables, "%s: tables %s" % (f, [g[0] for g in got])
    for g in got:
        assert len(g) == 3 and (g[1] == "-infinity" or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", g[1])) \
            and re.fullmatch(r"-?\d+", g[2]), "%s: %s" % (f, g)
PY
}

# A malformed state file: refused at start, named, left alone.
printf 'imislink-cdc-poll 1\ng2p_program_membership yesterday 12\n' >"$tmp/bad.state"
cp "$tmp/bad.state" "$tmp/bad.state.orig"
timeout 60 env PGDATABASE="$DB" "$CDC" "${cdc_args[@]}" --set cdc.state.file="$tmp/bad.state" \
	>"$tmp/bad.log" 2>&1 </dev/null
rc=$?
if [ "$rc" = 1 ] && grep -q 'cdc.state.file' "$tmp/bad.log" && cmp -s "$tmp/bad.state" "$tmp/bad.state.orig"; then
	PASS cdc-poll-malformed-state-file
else
	FAIL cdc-poll-malformed-state-file "exit status $rc: $(tail -n 2 "$tmp/bad.log" | cut -c 1-300)"
fi

# Initial load: no state file, so every membership of programme 1.
snap_expected=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1")
db_sql "$DB" "SELECT id || ' ' || state FROM g2p_program_membership WHERE program_id = 1 ORDER BY id" \
	>"$tmp/snap.expected"
start_cdc
daemon_port 30 "$LOG" cdc-poll-http || finish
PORT=$DAEMON_PORT
if wait_until 60 topic_has "$tmp/count.jsonl" "$snap_expected" && wait_until 60 all_caught_up; then
	PASS cdc-poll-initial-load-arrives
else
	FAIL cdc-poll-initial-load-arrives "expected $snap_expected events, got $(topic_count "$tmp/count.jsonl"): $(tail -n 3 "$LOG" | cut -c 1-300)"
fi
wait_until 30 topic_has "$tmp/snap.jsonl" "$snap_expected"
json_check cdc-poll-initial-load "$tmp/snap.jsonl" "$tmp/snap.expected" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
want = sorted((int(i), s.upper()) for i, s in (l.split() for l in open(sys.argv[2])))
got = sorted((int(e["value"]["source"]["primary_key"]), e["value"]["membership"]["state"]) for e in evs)
assert got == want, "initial load differs: %d events, %d memberships, first differences %s" % (
    len(got), len(want), [x for x in got if x not in want][:3] + [x for x in want if x not in got][:3])
for e in evs:
    v = e["value"]
    assert v["event_type"] == "MEMBERSHIP_CHANGED", v["event_type"]
    s = v["source"]
    assert s["kind"] == "POLL" and s["position"].startswith("poll:") and s["table"] == "g2p_program_membership", s
    assert v["membership"]["previous_state"] is None, v["membership"]
    assert v["programme"]["id"] == 1, v["programme"]
    assert v["household"] is not None and v["household"]["source_id"] == v["registrant"]["source_id"]
PY
if state_ok "$STATE" 2>"$tmp/state.err"; then
	PASS cdc-poll-state-file-written
else
	FAIL cdc-poll-state-file-written "$(tail -n 1 "$tmp/state.err")"
fi
ino_first=$(stat -c %i "$STATE" 2>/dev/null)

# Targeting: K drafts of programme 1 enrolled in one transaction.
db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'draft' ORDER BY id LIMIT 50" \
	>"$tmp/targeting.expected"
n_target=$(wc -l <"$tmp/targeting.expected")
check cdc-poll-targeting-runs run_scenario targeting --count 50
wait_until 60 topic_has "$tmp/count.jsonl" $((snap_expected + n_target))
wait_until 60 memberships_caught_up
wait_until 30 topic_has "$tmp/t.jsonl" $((snap_expected + n_target))
new_events "$tmp/snap.jsonl" "$tmp/t.jsonl"
json_check cdc-poll-targeting "$tmp/t.jsonl.new" "$tmp/targeting.expected" <<'PY'
import json, sys
new = [json.loads(l)["value"] for l in open(sys.argv[1])]
want = sorted(int(l) for l in open(sys.argv[2]))
assert len(want) > 0, "no drafts to target"
got = sorted(int(v["source"]["primary_key"]) for v in new)
assert got == want, "expected %d MEMBERSHIP_CHANGED of the targeting run, got %d" % (len(want), len(got))
for v in new:
    assert v["event_type"] == "MEMBERSHIP_CHANGED" and v["membership"]["state"] == "ENROLLED", v["membership"]
    assert v["membership"]["previous_state"] is None and v["programme"]["id"] == 1
assert len({v["source"]["position"] for v in new}) == 1, "one transaction, one write_date"
PY

# birthdate-fix: exactly one REGISTRANT_UPDATED, for the member.
one_more_event birthdate-fix "$tmp/t.jsonl" "$tmp/bd.jsonl"
fixed=$(db_sql "$DB" "SELECT id FROM res_partner WHERE write_date >= '$mark'")
json_check cdc-poll-birthdate-fix "$tmp/bd.jsonl.new" "$fixed" <<'PY'
import json, sys
new = [json.loads(l)["value"] for l in open(sys.argv[1])]
assert sys.argv[2].isdigit(), "the scenario changed %r" % sys.argv[2]
assert len(new) == 1, "expected 1 event, got %d: %s" % (len(new), [v["event_type"] for v in new])
v = new[0]
assert v["event_type"] == "REGISTRANT_UPDATED", v["event_type"]
assert v["programme"]["id"] == 1 and v["registrant"]["source_id"] == int(sys.argv[2]), v["registrant"]["source_id"]
assert v["source"]["table"] == "res_partner" and v["source"]["kind"] == "POLL", v["source"]
PY

# member-leaves: exactly one HOUSEHOLD_CHANGED, the leaver gone; the
# household's own write_date move gives nothing.
one_more_event member-leaves "$tmp/bd.jsonl" "$tmp/ml.jsonl"
left=$(db_sql "$DB" "SELECT \"group\" || ' ' || individual FROM g2p_group_membership WHERE write_date >= '$mark'")
json_check cdc-poll-member-leaves "$tmp/ml.jsonl.new" "$left" <<'PY'
import json, sys
new = [json.loads(l)["value"] for l in open(sys.argv[1])]
group, leaver = (int(x) for x in sys.argv[2].split())
assert len(new) == 1, "expected 1 event, got %d: %s" % (len(new), [v["event_type"] for v in new])
v = new[0]
assert v["event_type"] == "HOUSEHOLD_CHANGED" and v["programme"]["id"] == 1, (v["event_type"], v["programme"])
h = v["household"]
assert h["source_id"] == group, h["source_id"]
assert leaver not in [m["registrant"]["source_id"] for m in h["members"]], "the leaver is still a member"
assert v["source"]["table"] == "g2p_group_membership", v["source"]
PY

# A long transaction: its write_date (its start) lies before a row another
# transaction commits and the producer publishes meanwhile, so the cursor
# passes it before it commits; the overlap window must find it.
long_id=$(db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'
	ORDER BY id LIMIT 1")
other_id=$(db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'
	ORDER BY id LIMIT 1 OFFSET 1")
# has_event PK STATE: an event of membership PK in STATE is in Kafka.
has_event() {
	read_topic "$tmp/he.jsonl"
	python3 - "$tmp/he.jsonl" "$1" "$2" <<'PY'
import json, sys
evs = [json.loads(l)["value"] for l in open(sys.argv[1])]
sys.exit(0 if any(v["source"]["table"] == "g2p_program_membership" and v["source"]["primary_key"] == sys.argv[2]
                  and v["membership"]["state"] == sys.argv[3] for v in evs) else 1)
PY
}
in_transaction() {
	[ "$(db_sql "$DB" "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'
		AND state = 'idle in transaction'")" = 1 ]
}
mkfifo "$tmp/long.fifo"
psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -v ON_ERROR_STOP=1 -f "$tmp/long.fifo" \
	>"$tmp/long.out" 2>&1 &
LONG_PID=$!
exec 7>"$tmp/long.fifo"
echo "BEGIN; UPDATE g2p_program_membership SET state = 'exited', exit_date = now()::date,
	write_date = now() AT TIME ZONE 'UTC', write_uid = 77 WHERE id = $long_id;" >&7
if wait_until 30 in_transaction &&
   db_sql "$DB" "UPDATE g2p_program_membership SET state = 'paused', write_date = now() AT TIME ZONE 'UTC'
	WHERE id = $other_id" >/dev/null &&
   wait_until 60 has_event "$other_id" PAUSED; then
	echo "COMMIT;" >&7
	exec 7>&-
	wait "$LONG_PID"
	rc=$?
	LONG_PID=
	if [ "$rc" = 0 ] && wait_until 60 has_event "$long_id" EXITED; then
		PASS cdc-poll-long-transaction
	else
		FAIL cdc-poll-long-transaction "membership $long_id committed late never published (psql $rc: $(tail -n 1 "$tmp/long.out"))"
	fi
else
	FAIL cdc-poll-long-transaction "the newer change of membership $other_id was not published"
	exec 7>&-
fi
if grep -q '"msg":"polled rows of the overlap window' "$LOG"; then
	PASS cdc-poll-overlap-logged
else
	FAIL cdc-poll-overlap-logged "no log line of rows found in the overlap window"
fi
wait_until 60 all_caught_up

# A membership without partner (the NOT NULL dropped in this test database
# only) gives no event: it is skipped with one warning and counted, and the
# change committed after it is still published.  Two more reads of the
# overlap window (the repeats counter moves twice), which hold it, neither
# log nor count it again.
incomplete_id=$(db_sql "$DB" "ALTER TABLE g2p_program_membership ALTER COLUMN partner_id DROP NOT NULL;
	INSERT INTO g2p_program_membership (partner_id, program_id, state, write_uid, write_date)
	VALUES (NULL, 1, 'draft', 78, now() AT TIME ZONE 'UTC') RETURNING id")
after_id=$(db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'
	ORDER BY id DESC LIMIT 1")
db_sql "$DB" "UPDATE g2p_program_membership SET state = 'paused', write_uid = 78,
	write_date = now() AT TIME ZONE 'UTC' WHERE id = $after_id" >/dev/null
if [ -n "$incomplete_id" ] && wait_until 60 has_event "$after_id" PAUSED && wait_until 60 all_caught_up; then
	PASS cdc-poll-incomplete-row-passed
else
	FAIL cdc-poll-incomplete-row-passed "membership $after_id changed after the incomplete row $incomplete_id not published: $(grep -v '"level":"info"' "$LOG" | tail -n 2 | cut -c 1-300)"
fi
repeats_above() {
	[ "$(metric "$PORT" imislink_cdc_poll_repeats_dropped_total)" -gt "$1" ]
}
for i in 1 2; do
	wait_until 30 repeats_above "$(metric "$PORT" imislink_cdc_poll_repeats_dropped_total)"
done
# Not metric(): its value would be the label's second word.
ignored=$(curl -fsS --max-time 10 "http://127.0.0.1:$PORT/metrics" | awk '
	index($0, "imislink_cdc_ignored_changes_total{reason=\"incomplete row\"} ") == 1 { v = $NF }
	END { print v + 0 }')
warned=$(grep -c '"msg":"polling: row without partner or programme skipped' "$LOG")
if [ "$ignored" = 1 ] && [ "$warned" = 1 ] &&
   grep '"msg":"polling: row without partner or programme skipped' "$LOG" |
	grep -q "\"table\":\"g2p_program_membership\",\"id\":$incomplete_id[,}]" &&
   ! has_event "$incomplete_id" DRAFT; then
	PASS cdc-poll-incomplete-row-ignored
else
	FAIL cdc-poll-incomplete-row-ignored "counted $ignored, warned $warned times: $(grep 'without partner' "$LOG" | tail -n 1 | cut -c 1-300)"
fi

# One run: no event id twice.
wait_until 30 topic_has "$tmp/run1.jsonl" $(($(wc -l <"$tmp/ml.jsonl") + 2))
json_check cdc-poll-no-repeats-in-a-run "$tmp/run1.jsonl" <<'PY'
import collections, json, sys
evs = [json.loads(l)["value"] for l in open(sys.argv[1])]
c = collections.Counter(v["event_id"] for v in evs)
rep = [(k, n) for k, n in c.items() if n > 1]
assert not rep, "%d event ids repeat, e.g. %s" % (len(rep), rep[:3])
PY
if [ "$(metric "$PORT" 'imislink_cdc_poll_rows_total{table="g2p_program_membership"}')" -ge $((snap_expected + n_target + 2)) ] &&
   [ "$(metric "$PORT" imislink_cdc_poll_repeats_dropped_total)" -gt 0 ] &&
   curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" | grep -q '^imislink_cdc_poll_cursor_lag_seconds '; then
	PASS cdc-poll-metrics
else
	FAIL cdc-poll-metrics "$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" | grep '^imislink_cdc_poll' | tr '\n' ' ')"
fi
curl -fsS --max-time 5 "http://127.0.0.1:$PORT/healthz" >/dev/null && PASS cdc-poll-healthz || FAIL cdc-poll-healthz "not 200"

# The connection lost (its backend terminated): a transient failure, the
# poller starts again and goes on.
lost_id=$(db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'
	ORDER BY id LIMIT 1")
db_sql "$DB" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB'
	AND application_name = 'imislink-cdc'" >/dev/null
db_sql "$DB" "UPDATE g2p_program_membership SET state = 'paused', write_date = now() AT TIME ZONE 'UTC'
	WHERE id = $lost_id" >/dev/null
if wait_until 60 has_event "$lost_id" PAUSED &&
   grep -q '57P01\|closed the connection\|terminating connection' "$LOG"; then
	PASS cdc-poll-connection-lost
else
	FAIL cdc-poll-connection-lost "$(grep -v '"level":"info"' "$LOG" | tail -n 2 | cut -c 1-300)"
fi
wait_until 60 all_caught_up

# SIGKILL while rows are polled: 20 transactions move half of the enrolled
# memberships of programme 1 to paused and back; the state file is copied
# all along (each copy must be whole: it is replaced by rename).
db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND state = 'enrolled'" >"$tmp/enrolled.ids"
mkdir -p "$tmp/copies"
(
	for i in $(seq 1 300); do
		cp "$STATE" "$tmp/copies/$i" 2>/dev/null
		sleep 0.01
	done
) &
COPIER_PID=$!
kill_while "$CDC_PID" flip_enrolled "$DB" "now() AT TIME ZONE 'UTC'"
CDC_PID=
wait "$COPIER_PID"
COPIER_PID=
ino_killed=$(stat -c %i "$STATE" 2>/dev/null)
if [ -n "$ino_first" ] && [ "$ino_first" != "$ino_killed" ] && state_ok "$STATE" "$tmp"/copies/* 2>"$tmp/state.err"; then
	PASS cdc-poll-state-file-replaced-whole
else
	FAIL cdc-poll-state-file-replaced-whole "inode $ino_first then $ino_killed: $(tail -n 1 "$tmp/state.err")"
fi
db_sql "$DB" "SELECT id || ' ' || to_char(write_date, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || ' ' || state
	FROM g2p_program_membership WHERE program_id = 1 AND write_uid = 99" >"$tmp/final.rows"
start_cdc
wait_until 60 memberships_caught_up
wait_until 30 topic_has "$tmp/k.jsonl" "$(wc -l <"$tmp/run1.jsonl")"
json_check cdc-poll-sigkill-nothing-missing "$tmp/k.jsonl" "$tmp/final.rows" <<'PY'
import json, sys
evs = [json.loads(l)["value"] for l in open(sys.argv[1])]
have = {(v["source"]["primary_key"], v["source"]["position"], v["membership"]["state"]) for v in evs
        if v["source"]["table"] == "g2p_program_membership"}
rows = [l.split() for l in open(sys.argv[2])]
assert rows, "the writer changed nothing"
missing = [r for r in rows if (r[0], "poll:" + r[1], r[2].upper()) not in have]
assert not missing, "%d of %d last versions missing, e.g. %s" % (len(missing), len(rows), missing[:3])
seen = {}
for v in evs:
    body = (v["event_type"], v["source"]["table"], v["source"]["primary_key"], v["source"]["position"],
            (v.get("membership") or {}).get("state"))
    assert seen.setdefault(v["event_id"], body) == body, "event id %s repeated with other content" % v["event_id"]
print("events %d, distinct ids %d" % (len(evs), len(seen)), file=sys.stderr)
PY
json_check cdc-poll-cursor-survives "$tmp/k.jsonl" "$snap_expected" <<'PY'
import collections, json, sys
evs = [json.loads(l)["value"] for l in open(sys.argv[1])]
# The generated rows were all written before 2025: the initial load.
init = collections.Counter(v["source"]["primary_key"] for v in evs if v["source"]["position"] < "poll:2025")
assert len(init) == int(sys.argv[2]), "%d memberships of the initial load, expected %s" % (len(init), sys.argv[2])
rep = [k for k, n in init.items() if n > 1]
assert not rep, "the initial load was repeated after the restart: %d memberships twice" % len(rep)
PY

daemon_stop "$CDC_PID" 30 "$LOG" cdc-poll-stops-on-sigterm
CDC_PID=
if [ ! -e "$STATE.tmp" ] && state_ok "$STATE" 2>"$tmp/state.err"; then
	PASS cdc-poll-state-file-after-stop
else
	FAIL cdc-poll-state-file-after-stop "$(ls "$tmp" | tr '\n' ' ') $(tail -n 1 "$tmp/state.err")"
fi

# cdc.snapshot=always with a state file: every membership of the programme is
# published again, while the other tables go on from their cursors (not from
# now(), which would skip what changed while the producer was down).
partner_cursor=$(awk '$1 == "res_partner" { print $2 " " $3 }' "$STATE")
# (The membership without partner above gives no event, now as before.)
db_sql "$DB" "SELECT id FROM g2p_program_membership WHERE program_id = 1 AND partner_id IS NOT NULL
	ORDER BY id" >"$tmp/all.ids"
read_topic "$tmp/before-always.jsonl"
cdc_args+=(--set cdc.snapshot=always)
start_cdc
wait_until 60 topic_has "$tmp/count.jsonl" $(($(wc -l <"$tmp/before-always.jsonl") + $(wc -l <"$tmp/all.ids")))
wait_until 60 memberships_caught_up
read_topic "$tmp/always.jsonl"
json_check cdc-poll-snapshot-always-reloads "$tmp/before-always.jsonl" "$tmp/always.jsonl" "$tmp/all.ids" <<'PY'
import collections, json, sys
def per_membership(path):
    n = collections.Counter()
    for l in open(path):
        v = json.loads(l)["value"]
        if v["source"]["table"] == "g2p_program_membership":
            n[v["source"]["primary_key"]] += 1
    return n
before, after = per_membership(sys.argv[1]), per_membership(sys.argv[2])
want = [l.strip() for l in open(sys.argv[3]) if l.strip()]
missing = [k for k in want if after[k] <= before[k]]
assert not missing, "%d of %d memberships not published again, e.g. %s" % (len(missing), len(want), missing[:3])
PY
if grep -q '"msg":"polling: cdc.snapshot is always' "$LOG" &&
	[ "$(awk '$1 == "res_partner" { print $2 " " $3 }' "$STATE")" = "$partner_cursor" ]; then
	PASS cdc-poll-snapshot-always-keeps-other-cursors
else
	FAIL cdc-poll-snapshot-always-keeps-other-cursors "res_partner cursor was \"$partner_cursor\", now \"$(awk '$1 == "res_partner" { print $2 " " $3 }' "$STATE")\""
fi
daemon_stop "$CDC_PID" 30 "$LOG" cdc-poll-snapshot-always-stops
CDC_PID=
finish
