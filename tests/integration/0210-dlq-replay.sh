#!/usr/bin/env bash
# 0210-dlq-replay: dead letters of a bad area mapping, replayed after the
# mapping is fixed (issue 5, "Must show"), through the real pipeline:
# imislink produce -> imislink-enroll -> openIMIS emulator, the dead letters
# and results stored by imislink-deadletter in a fresh database, read and
# replayed with `imislink dlq`.
#   - a mapping that lacks eight areas: the events of those villages become
#     dead letters of class "mapping", stored one row each;
#   - dlq list (filters, table, JSON lines, masked keys), stats (by class, by
#     day, results by outcome), show (personal data masked; --unmask shows
#     it), discard (needs --reason; the generator's own bad events);
#   - a message of the results topic that is no EnrollmentResult, stored as
#     a dead letter (class undecodable, no source topic): listed, never
#     replayed (counted "not replayable" with the reason, by --all-open and
#     by --class undecodable), then discarded;
#   - while another session holds the replay lock, a replay refuses ("another
#     dlq replay is running") and changes nothing; a dry run still works;
#   - the worker restarted with the fixed mapping, `dlq replay --all-open` in
#     small pages: every replayed event gets its expected outcome, the rows
#     are "replayed", the messages carry __imislink.replay.of (the dead
#     letter's topic/partition/offset), .dead.letter.id and .count, no new
#     dead letter, the emulator holds exactly the expected state, no
#     duplicate;
#   - a second replay selects nothing and publishes nothing; with --again it
#     publishes again and the emulator's counts stay, no duplicate;
#   - a delivery that fails leaves its row open (exit 1); a stop request
#     while a message waits in the producer's queue drops it (the row stays
#     open, nothing reaches the topic later); a store that is not
#     initialised is named as such.
# Needs: kafka, registry, pg.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD PGHOST PGPORT PGUSER
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

households=${IL_DLQ_HOUSEHOLDS:-250}
# The villages the broken mapping lacks (a fifth of them).
broken_areas=(SPP-A02 SPP-A07 SPP-A12 SPP-A18 SPP-A23 SPP-A29 SPP-A34 SPP-A40)
enroll_init 0210-dlq-replay
tmp=$ENR_TMP
DEADLETTER=$BUILD/bin/imislink-deadletter
if [ ! -x "$DEADLETTER" ]; then
	FAIL dlq-binaries "\"$DEADLETTER\" is not built (make all)"
	finish
fi
# The advisory lock key of `dlq replay` (common/audit_query.c: "dlqreply").
REPLAY_LOCK_KEY=7236283437419621497
ENR_POLL_GROUP=$(make_topic_name it-dlq-poll)
group=$(make_topic_name it-dlq-enroll)
dlgroup=$(make_topic_name it-dlq-deadletter)
DB=il_0210_$(tr -c 'a-z0-9\n' _ <<<"${IL_RUN_ID,,}_$$")
EMPTY_DB=${DB}_empty
cleanup() {
	enroll_cleanup
	db_drop "$DB"
	db_drop "$EMPTY_DB"
}
trap cleanup EXIT
db_create "$DB" dlq-createdb || finish
# The operator tool and the dead-letter worker share the store.
export IMISLINK_AUDIT_DB_URL="dbname=$DB"

# sql QUERY: the rows of QUERY in the store, psql's errors to psql.log.
sql() {
	db_sql "$DB" "$1" 2>>"$tmp/psql.log"
}

# dlq NAME ARGS...: `imislink dlq ARGS` with stdout to $tmp/NAME.out,
# stderr to $tmp/NAME.err; sets RC.  The tool knows the dead-letter topic
# as the worker does: replay takes only its rows.
dlq() {
	local name=$1
	shift
	IMISLINK_TOPIC_DLQ="$DLQ" "$TOOL" dlq "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	RC=$?
}

# dlq_ok NAME ARGS...: as dlq, and the run must exit 0 (else FAIL NAME).
dlq_ok() {
	local name=$1
	dlq "$@"
	if [ "$RC" != 0 ]; then
		FAIL "$name" "imislink dlq ${*:2} exit status $RC: $(tail -n 3 "$tmp/$name.err" | cut -c 1-300 | tr '\n' ' ')"
		return 1
	fi
}

# deadletter_start: imislink-deadletter on the test topics and database.
deadletter_start() {
	DLLOG=$tmp/deadletter.log
	daemon_start "$DLLOG" env IMISLINK_TOPIC_DLQ="$DLQ" IMISLINK_TOPIC_RESULTS="$RESULTS" \
		IMISLINK_DEADLETTER_GROUP_ID="$dlgroup" IMISLINK_DEADLETTER_BATCH_MS=100 \
		IMISLINK_HTTP_PORT=0 "$DEADLETTER" -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=1000
	DLPID=$DAEMON_PID
	ENR_PIDS+=("$DLPID")
	if ! wait_until 60 grep -qs '"msg":"consuming"' "$DLLOG"; then
		FAIL dlq-deadletter-start "no \"consuming\" line after 60 s: $(tail -n 3 "$DLLOG" | tr '\n' ' ')"
		finish
	fi
}

# stored DLS RESULTS: the store holds exactly that many rows of each.
stored() {
	[ "$(sql 'SELECT count(*) FROM dead_letters')" = "$1" ] &&
		[ "$(sql 'SELECT count(*) FROM results')" = "$2" ]
}

# distinct_messages FILE: the messages of a poll file, each once.
distinct_messages() {
	python3 -c 'import json, sys
print(len({(json.loads(l)["partition"], json.loads(l)["offset"]) for l in open(sys.argv[1])}))' "$1"
}

# -- the first run: a mapping without eight villages ----------------------------
"$GEN" --seed 212 --households "$households" --out-events "$tmp/events.jsonl" \
	--out-expect "$tmp/expect.json" 2>>"$tmp/gen.log" || { FAIL dlq-generate "$(tail -n 2 "$tmp/gen.log")"; finish; }
pattern=$(IFS='|'; echo "${broken_areas[*]}")
grep -v -E "^area\.($pattern) " "$ENR_DATA/mapping.properties" >"$tmp/mapping-broken.properties"
enroll_topics it-dlq
TINY=$(make_topic_name it-dlq-tiny)
if ! create_topic "$TINY" 1 --config max.message.bytes=64; then
	FAIL dlq-topics "could not create the small topic"
	finish
fi
emu_start
info "emulator at $EMU_URL; database $DB; $(wc -l <"$tmp/events.jsonl") events of $households households"
produce_events "$tmp/events.jsonl" "$ELIG" "$tmp/receipts.jsonl"
deadletter_start
worker_start w1 "$group" IMISLINK_ENROLL_MAPPING_FILE="$tmp/mapping-broken.properties" || finish
if wait_accounted "$tmp/expect.json" 240; then
	PASS dlq-first-run-accounted
else
	FAIL dlq-first-run-accounted "not every event has a result or a dead letter after 240 s"
	finish
fi
worker_stop "$WPID" w1 "$WLOG"
poll_topic "$RESULTS" "$ENR_POLL_GROUP-r" "$tmp/results.jsonl"
poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
ndlq=$(distinct_messages "$tmp/dlq.jsonl")
nres=$(distinct_messages "$tmp/results.jsonl")

# The dead letters: the generator's own bad events (kept dead: discarded
# below) and those of the missing villages (replayed); nothing else.
json_check dlq-dead-letters-of-the-mapping "$tmp/expect.json" "$tmp/events.jsonl" "$tmp/dlq.jsonl" \
	"$tmp/classes.json" "${broken_areas[@]}" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
events = {json.loads(l)["event_id"]: l for l in open(sys.argv[2])}
flawed = {e["event_id"] for e in exp["events"] if e.get("dlq_class")}
areas = sys.argv[5:]
replay, keep, bad = set(), set(), []
for line in open(sys.argv[3]):
    m = json.loads(line)
    h = m.get("headers") or {}
    eid = h.get("__imislink.event.id")
    if eid in flawed:
        keep.add(eid)
    elif eid in events and any('"%s"' % a in events[eid] for a in areas):
        if h.get("__imislink.errors.class") != "mapping":
            bad.append("event %s: class %s" % (eid[:12], h.get("__imislink.errors.class")))
        replay.add(eid)
    else:
        bad.append("unexpected dead letter %s: %s" % (eid, h.get("__connect.errors.exception.message")))
assert not bad, "; ".join(bad[:5])
assert len(replay) >= 20, "only %d dead letters of the missing villages" % len(replay)
assert keep == flawed and keep, "the generator's bad events: %d of %d" % (len(keep), len(flawed))
named = [l for l in open(sys.argv[3]) if any(a in l for a in areas)]
assert named, "no reason names a missing village"
json.dump({"replay": sorted(replay), "keep": sorted(keep)}, open(sys.argv[4], "w"))
PY
nreplay=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["replay"]))' "$tmp/classes.json")
info "$ndlq dead letters ($nreplay of the missing villages), $nres results"

if wait_until 120 stored "$ndlq" "$nres"; then
	PASS dlq-stored-once-each
else
	FAIL dlq-stored-once-each "after 120 s the store holds $(sql 'SELECT count(*) FROM dead_letters') dead letters and $(sql 'SELECT count(*) FROM results') results; the topics $ndlq and $nres"
fi

# -- reading: list, stats, show ------------------------------------------------
dlq_ok dlq-list-json list --json &&
	dlq_ok dlq-list-unmask list --json --unmask &&
	dlq_ok dlq-list-table list &&
	json_check dlq-list "$tmp/dlq-list-json.out" "$tmp/dlq-list-unmask.out" "$tmp/dlq-list-table.out" \
		"$tmp/dlq.jsonl" "$ELIG" <<'PY'
import json, sys
masked = [json.loads(l) for l in open(sys.argv[1])]
clear = [json.loads(l) for l in open(sys.argv[2])]
table = open(sys.argv[3]).read().splitlines()
msgs = {}
for l in open(sys.argv[4]):
    m = json.loads(l)
    msgs[(m["partition"], m["offset"])] = m
assert len(masked) == len(msgs) == len(clear), "%d rows, %d messages" % (len(masked), len(msgs))
ids = [r["id"] for r in masked]
assert ids == sorted(ids) and len(set(ids)) == len(ids), "rows not in id order"
for r, c in zip(masked, clear):
    m = msgs[(r["partition"], r["offset"])]
    h = m["headers"]
    assert r["status"] == "open" and r["replay_count"] == 0, r
    assert r["event_id"] == h["__imislink.event.id"], r
    assert r["error_class"] == h["__imislink.errors.class"], r
    assert r["error_message"] == h["__connect.errors.exception.message"], r
    assert r["source_topic"] == sys.argv[5] and r["source_offset"] == int(h["__connect.errors.offset"]), r
    assert r["attempts"] == int(h["__imislink.errors.attempts"]), r
    assert r["last_failure"].endswith("Z") and r["first_failure"] <= r["last_failure"], r
    assert c["event_key"] == m["key"], "unmasked key %r, message key %r" % (c["event_key"], m["key"])
    assert r["event_key"] != m["key"] and r["event_key"].startswith("***"), "key not masked: %r" % r["event_key"]
    assert m["key"] not in json.dumps(r), "the key shows in the masked row"
assert table[0].split()[:3] == ["ID", "STATUS", "CLASS"], table[0]
assert table[-1] == "(%d dead letters)" % len(masked), table[-1]
assert len(table) == len(masked) + 2, "%d table lines for %d rows" % (len(table), len(masked))
assert not any(c["event_key"] in line for c in clear for line in table), "a key shows in the table"
PY

# Filters: each one against the same selection made from the full list.
check_filter() {
	local name=$1 expr=$2
	shift 2
	dlq_ok "dlq-filter-$name" list --json "$@" &&
		json_check "dlq-filter-$name" "$tmp/dlq-list-json.out" "$tmp/dlq-filter-$name.out" "$expr" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l)["id"] for l in open(sys.argv[2])]
want = [r["id"] for r in rows if eval(sys.argv[3], {"r": r})]
assert got == want, "got ids %s, expected %s" % (got[:10], want[:10])
PY
}
first_day=$(python3 -c 'import json,sys; print(min(json.loads(l)["last_failure"] for l in open(sys.argv[1])))' "$tmp/dlq-list-json.out")
mid_time=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(r[len(r)//2]["last_failure"])' "$tmp/dlq-list-json.out")
check_filter class-mapping 'r["error_class"] == "mapping"' --class mapping
check_filter class-undecodable 'False' --class undecodable
check_filter programme-7 'r["programme_id"] == 7' --programme 7
check_filter status-open 'True' --status open --page-size 7
check_filter status-replayed 'False' --status replayed
check_filter since 'r["last_failure"] >= "'"$mid_time"'"' --since "$mid_time"
check_filter until 'r["last_failure"] < "'"$mid_time"'"' --until "$mid_time"
check_filter until-first 'False' --until "$first_day"
dlq_ok dlq-filter-limit list --json --limit 5 --page-size 2 &&
	check dlq-filter-limit-5 test "$(wc -l <"$tmp/dlq-filter-limit.out")" = 5

dlq_ok dlq-stats stats --json &&
	json_check dlq-stats "$tmp/dlq-stats.out" "$tmp/dlq-list-json.out" "$tmp/results.jsonl" <<'PY'
import collections, json, sys
s = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
d = s["dead_letters"]
assert d["total"] == len(rows), d
want = collections.Counter((r["error_class"], r["status"]) for r in rows)
got = {(b["error_class"], b["status"]): b["count"] for b in d["by_class"]}
assert got == dict(want), "by class %s, expected %s" % (got, dict(want))
days = collections.Counter((r["last_failure"][:10], r["error_class"]) for r in rows)
got = {(b["day"], b["error_class"]): b["count"] for b in d["by_day"]}
assert got == dict(days), "by day %s, expected %s" % (got, dict(days))
res = {}
for l in open(sys.argv[3]):
    m = json.loads(l)
    res[(m["partition"], m["offset"])] = m["value"]["outcome"]
want = collections.Counter(res.values())
got = {b["outcome"]: b["count"] for b in s["results"]["by_outcome"]}
assert s["results"]["total"] == len(res) and got == dict(want), "results %s, expected %s" % (got, dict(want))
PY
dlq_ok dlq-stats-table stats --class mapping &&
	check dlq-stats-table grep -q '^dead letters: ' "$tmp/dlq-stats-table.out"

# show: one dead letter of a missing village, masked and not.
show_id=$(python3 -c 'import json,sys
keep = set(json.load(open(sys.argv[2]))["keep"])
print(next(json.loads(l)["id"] for l in open(sys.argv[1]) if json.loads(l)["event_id"] not in keep))' \
	"$tmp/dlq-list-json.out" "$tmp/classes.json")
dlq_ok dlq-show show "$show_id" &&
	dlq_ok dlq-show-unmask show "$show_id" --unmask --json &&
	json_check dlq-show-masks-personal-data "$tmp/dlq-show.out" "$tmp/dlq-show-unmask.out" \
		"$tmp/events.jsonl" "$ELIG" <<'PY'
import json, sys
masked_text = open(sys.argv[1]).read()
masked, clear = json.loads(masked_text), json.load(open(sys.argv[2]))
ev = next(json.loads(l) for l in open(sys.argv[3]) if json.loads(l)["event_id"] == clear["event_id"])
pii = set()
def person(r):
    for k in ("given_name", "family_name", "name", "birthdate", "email", "address"):
        if r.get(k):
            pii.add(str(r[k]))
    for i in r.get("external_ids") or []:
        pii.add(i["value"])
    for p in r.get("phones") or []:
        pii.add(p["number"])
person(ev["registrant"])
for m in (ev.get("household") or {}).get("members") or []:
    person(m["registrant"])
pii = {p for p in pii if len(p) >= 4}
assert pii, "the event has no personal data to mask"
shown = [p for p in pii if p in masked_text]
assert not shown, "shown in clear: %s" % shown[:5]
assert "********" in masked_text, "nothing masked"
assert masked["decoded"]["event_id"] == ev["event_id"], "decoded event_id"
assert masked["decoded"]["programme"] == clear["decoded"]["programme"], "the programme is no personal data"
clear_text = json.dumps(clear, ensure_ascii=False)
missing = [p for p in pii if p not in clear_text]
assert not missing, "--unmask does not show %s" % missing[:5]
first = lambda e: ((e.get("household") or {}).get("members") or [{"registrant": e["registrant"]}])[0]["registrant"]
assert first(clear["decoded"]).get("family_name") == first(ev).get("family_name"), "--unmask: family name"
assert first(masked["decoded"]).get("family_name") != first(ev).get("family_name"), "family name in clear"
h = {x["name"]: x.get("value") for x in masked["headers"]}
assert h.get("__connect.errors.topic") == sys.argv[4], h
assert h.get("__imislink.errors.class") == "mapping", h
assert masked["key"] != clear["key"] and masked["value"] != clear["value"], "key or value bytes in clear"
assert clear["value"] and clear["key"], clear
PY
dlq dlq-show-missing show 999999999
check dlq-show-missing test "$RC" = 1

# -- discard: the generator's own bad events stay dead -------------------------
keep_ids=$(python3 -c 'import json,sys
keep = set(json.load(open(sys.argv[2]))["keep"])
print(" ".join(str(json.loads(l)["id"]) for l in open(sys.argv[1]) if json.loads(l)["event_id"] in keep))' \
	"$tmp/dlq-list-json.out" "$tmp/classes.json")
# shellcheck disable=SC2086
dlq dlq-discard-no-reason discard $keep_ids
check dlq-discard-needs-reason test "$RC" = 1 -a "$(sql "SELECT count(*) FROM dead_letters WHERE status <> 'open'")" = 0
# shellcheck disable=SC2086
dlq_ok dlq-discard discard $keep_ids --reason "bad data at source: fixed in openSPP" --by it-0210 --json &&
	json_check dlq-discard "$tmp/dlq-discard.out" "$keep_ids" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = len(sys.argv[2].split())
assert d["requested"] == n and d["discarded"] == n and not d["not_found"] and not d["not_open"], d
PY
check dlq-discarded-rows test "$(sql "SELECT count(*) FROM dead_letters WHERE status = 'discarded' AND status_by = 'it-0210' AND status_reason LIKE 'bad data%' AND status_at IS NOT NULL")" = "$(wc -w <<<"$keep_ids")"
# shellcheck disable=SC2086
dlq_ok dlq-discard-again discard $keep_ids --reason again --json &&
	check dlq-discard-twice-changes-nothing grep -q '"discarded":0' "$tmp/dlq-discard-again.out"

# -- garbage on the results topic: a dead letter never to replay ----------------
# The dead-letter worker stores it as a dead letter of class undecodable with
# the results topic as its topic and no source topic.  Sent to the
# eligibility topic it would come back as a dead letter on every replay.
junk_stored() {
	[ -n "$(sql "SELECT id FROM dead_letters WHERE topic = '$RESULTS'")" ]
}
if "$RAW" "$KAFKA_BOOTSTRAP_SERVERS" "$RESULTS" 0 "$(date +%s%3N)" junk-0210 \
	"$(printf 'not an enrollment result' | od -An -tx1 | tr -d ' \n')" >>"$tmp/raw.log" 2>&1 &&
	wait_until 60 junk_stored; then
	junk_id=$(sql "SELECT id FROM dead_letters WHERE topic = '$RESULTS'")
	check dlq-junk-stored test "$(sql "SELECT error_class || ' ' || status || ' ' || (source_topic IS NULL) FROM dead_letters WHERE id = $junk_id")" = "undecodable open true"
else
	FAIL dlq-junk-stored "the results topic's garbage is not in the store after 60 s: $(tail -n 2 "$tmp/raw.log" | tr '\n' ' ')"
	finish
fi
elig_before=$("$TOOL" consume -t "$ELIG" -e 2>/dev/null | wc -l)
dlq dlq-replay-junk replay --class undecodable --json
json_check dlq-replay-junk-not-replayable "$tmp/dlq-replay-junk.out" "$RC" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert sys.argv[2] == "0", "exit status %s: %s" % (sys.argv[2], s)
assert s["selected"] == 1 and s["not_replayable"] == 1 and s["replayed"] == 0 and s["failed"] == 0, s
r = s["not_replayable_reasons"]
assert len(r) == 1 and r[0]["count"] == 1 and "dead-letter topic" in r[0]["reason"], r
PY
check dlq-replay-junk-row-unchanged test "$(sql "SELECT status || ' ' || replay_count FROM dead_letters WHERE id = $junk_id")" = "open 0"
check dlq-replay-junk-publishes-nothing test "$("$TOOL" consume -t "$ELIG" -e 2>/dev/null | wc -l)" = "$elig_before"
dlq_ok dlq-show-junk show "$junk_id" --json &&
	check dlq-show-junk grep -q '"error_class":"undecodable"' "$tmp/dlq-show-junk.out"

# -- one replay at a time: another session holds the lock -------------------------
lock_held() {
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND (classid::int8 << 32 | objid::int8) = $REPLAY_LOCK_KEY AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" = 1 ]
}
mkfifo "$tmp/lock.fifo"
psql -X -q -d "$DB" <"$tmp/lock.fifo" >"$tmp/lock.log" 2>&1 &
lockpid=$!
ENR_PIDS+=("$lockpid")
exec 7>"$tmp/lock.fifo"
echo "SELECT pg_advisory_lock($REPLAY_LOCK_KEY);" >&7
if wait_until 30 lock_held; then
	dlq dlq-replay-locked replay --all-open --json
	check dlq-replay-locked-refused test "$RC" = 1 -a -n "$(grep 'another dlq replay is running' "$tmp/dlq-replay-locked.err")" \
		-a "$(sql "SELECT count(*) FROM dead_letters WHERE status = 'open'")" = "$((nreplay + 1))"
	dlq dlq-replay-locked-dry-run replay --all-open --dry-run --json
	check dlq-replay-locked-dry-run-works test "$RC" = 0
else
	FAIL dlq-replay-locked-refused "the test's session could not take the lock: $(tail -n 2 "$tmp/lock.log" | tr '\n' ' ')"
fi
exec 7>&-
wait "$lockpid" 2>/dev/null

# -- the fix: the worker with the whole mapping, the replay --------------------
worker_start w2 "$group" || finish
dlq_ok dlq-replay-dry-run replay --all-open --dry-run --json &&
	json_check dlq-replay-dry-run "$tmp/dlq-replay-dry-run.out" "$nreplay" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[-1]
n = int(sys.argv[2])
assert s["dry_run"] and s["would_replay"] == n and len(lines) == n + 1, s
assert s["selected"] == n + 1 and s["not_replayable"] == 1, s
assert all(l["replay_of"].split("/")[-1].isdigit() for l in lines[:-1]), lines[0]
PY
check dlq-dry-run-changes-nothing test "$(sql "SELECT count(*) FROM dead_letters WHERE status = 'open'")" = "$((nreplay + 1))"

dlq_ok dlq-replay replay --all-open --page-size 7 --by it-0210 --reason "areas mapped" --json &&
	json_check dlq-replay "$tmp/dlq-replay.out" "$tmp/dlq-replay.err" "$nreplay" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
n = int(sys.argv[3])
assert s["replayed"] == n and s["selected"] == n + 1 and s["failed"] == 0 and not s["dry_run"], s
assert s["not_replayable"] == 1 and s["in_doubt"] == 0 and not s["interrupted"], s
done = [json.loads(l) for l in open(sys.argv[2]) if '"dlq replay finished"' in l]
assert done and done[-1]["done"] == done[-1]["total"] == n + 1, "progress: %s" % done[-1:]
PY

# every replayed event has its outcome (the one the whole mapping gives)
# MODE first: at least one; MODE again: at least two since the fix.
replayed_outcomes() {
	python3 - "$tmp/expect.json" "$tmp/classes.json" "$tmp/results.jsonl" "$1" <<'PY'
import collections, json, sys
exp = {e["event_id"]: e for e in json.load(open(sys.argv[1]))["events"]}
replay = json.load(open(sys.argv[2]))["replay"]
need = 1 if sys.argv[4] == "first" else 2
good = collections.Counter()
seen = set()
for l in open(sys.argv[3]):
    m = json.loads(l)
    if (m["partition"], m["offset"]) in seen:
        continue
    seen.add((m["partition"], m["offset"]))
    # The garbage put on the results topic above has no value, only value_base64.
    v = m.get("value")
    if not isinstance(v, dict):
        continue
    e = exp.get(v["event_id"])
    if e is None or v["event_id"] not in replay:
        continue
    ok = {e["outcome"]}
    if need == 2 and e["outcome"] in ("ENROLLED", "PENDING_APPROVAL"):
        ok.add("ALREADY_ENROLLED")
    if v["outcome"] in ok:
        good[v["event_id"]] += 1
missing = [i for i in replay if good[i] < need]
if missing:
    print("%d of %d replayed events without their outcome, e.g. %s" % (len(missing), len(replay), missing[0]))
    sys.exit(1)
PY
}
replay_done() {
	poll_topic "$RESULTS" "$ENR_POLL_GROUP-r" "$tmp/results.jsonl"
	replayed_outcomes "$1" >/dev/null
}
if wait_until 180 replay_done first; then
	PASS dlq-replayed-events-enrolled
else
	FAIL dlq-replayed-events-enrolled "after 180 s: $(replayed_outcomes first)"
fi
poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
check dlq-replay-no-new-dead-letter test "$(distinct_messages "$tmp/dlq.jsonl")" = "$ndlq"
check_state dlq-after-replay
check dlq-rows-replayed test "$(sql "SELECT count(*) FROM dead_letters WHERE status = 'replayed' AND replay_count = 1 AND status_by = 'it-0210' AND status_reason = 'areas mapped'")" = "$nreplay" \
	-a "$(sql "SELECT string_agg(id::text, ' ') FROM dead_letters WHERE status = 'open'")" = "$junk_id"

# The replayed messages: the original key and value, with the headers.
"$TOOL" consume -t "$ELIG" -e >"$tmp/elig.jsonl" 2>>"$tmp/poll.log"
dlq_ok dlq-list-after list --json --unmask &&
	json_check dlq-replay-headers "$tmp/elig.jsonl" "$tmp/dlq-list-after.out" "$elig_before" 1 "$DLQ" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
rows = {r["id"]: r for r in (json.loads(l) for l in open(sys.argv[2])) if r["status"] == "replayed"}
n = int(sys.argv[4])
rep = [m for m in msgs if "__imislink.replay.of" in (m.get("headers") or {})]
assert len(msgs) == int(sys.argv[3]) + n * len(rows), "%d messages, %d before, %d rows" % (len(msgs), int(sys.argv[3]), len(rows))
by = {}
for m in rep:
    by.setdefault(int(m["headers"]["__imislink.replay.dead.letter.id"]), []).append(m)
assert sorted(by) == sorted(rows), "replay.dead.letter.id %s, rows %s" % (sorted(by)[:5], sorted(rows)[:5])
for i, ms in by.items():
    r = rows[i]
    assert sorted(m["headers"]["__imislink.replay.count"] for m in ms) == [str(k + 1) for k in range(n)], ms[0]["headers"]
    for m in ms:
        assert m["headers"]["__imislink.replay.of"] == "%s/%d/%d" % (sys.argv[5], r["partition"], r["offset"]), \
            "row %d (%s/%d/%d): replay.of %r" % (i, r["topic"], r["partition"], r["offset"], m["headers"]["__imislink.replay.of"])
        assert m["key"] == r["event_key"] and m["value"]["event_id"] == r["event_id"], i
PY

# The garbage is closed as any dead letter is.
dlq_ok dlq-discard-junk discard "$junk_id" --reason "not an EnrollmentResult" --json &&
	check dlq-discard-junk grep -q '"discarded":1' "$tmp/dlq-discard-junk.out"

# -- a second replay creates nothing ------------------------------------------
dlq_ok dlq-replay-twice replay --all-open --json &&
	check dlq-replay-twice-selects-nothing grep -q '"selected":0,"skipped":0,"replayed":0,"failed":0' "$tmp/dlq-replay-twice.out"
replayed_ids=$(sql "SELECT string_agg(id::text, ' ' ORDER BY id) FROM dead_letters WHERE status = 'replayed'")
# shellcheck disable=SC2086
dlq_ok dlq-replay-ids-twice replay $replayed_ids --json &&
	check dlq-replay-ids-twice-selects-nothing grep -q '"replayed":0' "$tmp/dlq-replay-ids-twice.out"
dlq_ok dlq-replay-class-twice replay --class mapping --json &&
	check dlq-replay-filter-twice-selects-nothing grep -q '"selected":0' "$tmp/dlq-replay-class-twice.out"
check dlq-replay-twice-publishes-nothing test "$("$TOOL" consume -t "$ELIG" -e 2>/dev/null | wc -l)" = "$(wc -l <"$tmp/elig.jsonl")"

# --again publishes once more; the emulator finds it all done.
counts_before=$(emu_get /_emu/counts)
dlq_ok dlq-replay-again replay --class mapping --again --by it-0210 --json &&
	json_check dlq-replay-again "$tmp/dlq-replay-again.out" "$nreplay" "$(wc -w <<<"$keep_ids")" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert s["replayed"] == int(sys.argv[2]) and s["skipped"] == int(sys.argv[3]) and s["failed"] == 0, s
PY
if wait_until 180 replay_done again; then
	PASS dlq-replay-again-processed
else
	FAIL dlq-replay-again-processed "after 180 s: $(replayed_outcomes again)"
fi
check_duplicates dlq-replay-again
json_check dlq-replay-again-counts-unchanged <(echo "$counts_before") <(emu_get /_emu/counts) <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a, b = a.get("counts", a), b.get("counts", b)
assert a == b, "before %s, after %s" % (a, b)
PY
check dlq-rows-replayed-twice test "$(sql "SELECT count(*) FROM dead_letters WHERE status = 'replayed' AND replay_count = 2")" = "$nreplay"
"$TOOL" consume -t "$ELIG" -e >"$tmp/elig.jsonl" 2>>"$tmp/poll.log"
dlq_ok dlq-list-again list --json --unmask --status replayed &&
	json_check dlq-replay-again-headers "$tmp/elig.jsonl" "$tmp/dlq-list-again.out" "$elig_before" 2 <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
rows = {r["id"]: r for r in (json.loads(l) for l in open(sys.argv[2]))}
rep = {}
for m in msgs:
    h = m.get("headers") or {}
    if "__imislink.replay.dead.letter.id" in h:
        rep.setdefault(int(h["__imislink.replay.dead.letter.id"]), []).append(h["__imislink.replay.count"])
assert sorted(rep) == sorted(rows) and all(sorted(v) == ["1", "2"] for v in rep.values()), list(rep.items())[:3]
PY

# -- a failed delivery leaves the row as it was --------------------------------
bad_id=$(sql "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, msg_key, msg_value, source_topic, error_class) VALUES ('$DLQ', 0, 999999, 'k', decode(repeat('ab', 300), 'hex'), '$TINY', 'permanent') RETURNING id" | head -n 1)
dlq dlq-replay-fails replay "$bad_id" --json
check dlq-replay-failed-delivery-exit-1 test "$RC" = 1
check dlq-replay-failed-delivery-not-marked test "$(sql "SELECT status || ' ' || replay_count FROM dead_letters WHERE id = $bad_id")" = "open 0"

# -- a stop request: what the producer had not sent is dropped, not delivered ----
# linger.ms holds the message in the producer's queue far longer than the
# stop's wait for reports, so only a purge keeps the closing producer from
# delivering it behind a row left open (the next run would publish it again).
STOPT=$(make_topic_name it-dlq-stop)
if create_topic "$STOPT" 1; then
	stop_id=$(sql "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, msg_key, msg_value, source_topic, error_class) VALUES ('$DLQ', 0, 999998, 'k', 'v', '$STOPT', 'permanent') RETURNING id" | head -n 1)
	IMISLINK_TOPIC_DLQ="$DLQ" "$TOOL" -v -X linger.ms=120000 dlq replay "$stop_id" --json \
		>"$tmp/dlq-replay-stop.out" 2>"$tmp/dlq-replay-stop.err" &
	stop_pid=$!
	ENR_PIDS+=("$stop_pid")
	if wait_until 60 grep -qs 'waiting for its delivery reports' "$tmp/dlq-replay-stop.err"; then
		kill -TERM "$stop_pid"
		wait "$stop_pid"
		rc=$?
		json_check dlq-replay-stop "$tmp/dlq-replay-stop.out" "$rc" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert sys.argv[2] == "1", "exit status %s: %s" % (sys.argv[2], s)
assert s["interrupted"] and s["replayed"] == 0 and s["in_doubt"] == 0 and s["failed"] == 1, s
PY
		check dlq-replay-stop-row-open test "$(sql "SELECT status || ' ' || replay_count FROM dead_letters WHERE id = $stop_id")" = "open 0"
		check dlq-replay-stop-nothing-delivered test "$("$TOOL" consume -t "$STOPT" -e 2>>"$tmp/poll.log" | wc -l)" = 0
	else
		FAIL dlq-replay-stop "the replay did not reach its wait for reports in 60 s: $(tail -n 2 "$tmp/dlq-replay-stop.err" | cut -c 1-300 | tr '\n' ' ')"
	fi
	dlq_ok dlq-discard-stop discard "$stop_id" --reason "test row"
else
	FAIL dlq-replay-stop "could not create the topic"
fi

# -- a store nobody initialised, and usage mistakes ----------------------------
if db_create "$EMPTY_DB" dlq-store-not-initialised; then
	IMISLINK_AUDIT_DB_URL="dbname=$EMPTY_DB" "$TOOL" dlq list >/dev/null 2>"$tmp/dlq-empty.err"
	rc=$?
	check dlq-store-not-initialised test "$rc" = 1 -a -n "$(grep 'not initialised' "$tmp/dlq-empty.err")"
fi
dlq dlq-replay-no-selection replay
check dlq-replay-needs-a-selection test "$RC" = 1
dlq dlq-replay-mixed replay --all-open --again
check dlq-replay-all-open-again-refused test "$RC" = 1

worker_stop "$WPID" w2 "$WLOG"
worker_stop "$DLPID" deadletter "$DLLOG"
# The runs expected to fail exit 1, as a sanitizer report would: look.
reports=$(grep -l -E 'Sanitizer|runtime error:' "$tmp"/*.err "$tmp"/*.log 2>/dev/null)
if [ -z "$reports" ]; then
	PASS dlq-no-sanitizer-report
else
	FAIL dlq-no-sanitizer-report "in $(tr '\n' ' ' <<<"$reports")"
fi
finish
