#!/usr/bin/env bash
# 0220-replay: `imislink replay` against the real broker, the openIMIS emulator
# and imislink-enroll (issue 5, "Must show": rewind and republish each
# reprocess a chosen hour of events; the emulator's duplicate check stays
# empty; a replay of 10,000 already-enrolled events creates nothing).
#   - 10,000 events (it_gen_events) published with message timestamps spread
#     evenly over four whole hours (it_produce_timed: 2,500 an hour), enrolled
#     by one worker;
#   - rewind: refused (exit 1) while the worker runs; with the worker stopped
#     the dry-run plan agrees with `kafka-consumer-groups --reset-offsets
#     --to-datetime --dry-run` and with the receipts, --execute moves the
#     group, and the restarted worker processes exactly the last hour's 2,500
#     events again (results topic and its /metrics), creating nothing;
#   - republish of the second hour while the worker runs: 2,500 copies with
#     the original key and bytes and the replay headers, each processed once
#     more, nothing created;
#   - filters (--key, --programme) count what they should (--dry-run);
#   - times before 1970 (a date, or an over-long --by-duration) are refused:
#     Kafka would read a negative time as latest or earliest;
#   - republish of all 10,000 already-enrolled events: each processed again,
#     the emulator's counts unchanged, its duplicate check empty.
# Needs: kafka, registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

TIMED=$BUILD/tests/it_produce_timed
nevents=10000
per_hour=2500
hour_ms=3600000
step_ms=$((4 * hour_ms / nevents))

enroll_init 0220-replay
tmp=$ENR_TMP
if [ ! -x "$TIMED" ]; then
	FAIL replay-binaries "\"$TIMED\" is not built (make all)"
	finish
fi
ENR_POLL_GROUP=$(make_topic_name it-replay-poll)
group=$(make_topic_name it-replay)

# -- times before 1970: refused before anything is asked of the broker -------------
# refused NAME WHY ARGS...: `imislink replay ARGS` exits 1, prints nothing on
# stdout and says WHY (a grep pattern) on stderr.
refused() {
	local name=$1 why=$2 rc
	shift 2
	"$TOOL" replay "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	if [ "$rc" = 1 ] && grep -q "$why" "$tmp/$name.err" && [ ! -s "$tmp/$name.out" ]; then
		PASS "$name"
	else
		FAIL "$name" "exit status $rc: $(tail -n 2 "$tmp/$name.err" | tr '\n' ' ')"
	fi
}
refused replay-rewind-refuses-1969 'before 1970' rewind --group "$group" --to-datetime 1969-12-31T23:59:59Z
refused replay-rewind-refuses-long-duration 'before 1970' rewind --group "$group" --by-duration P40000D
refused replay-republish-refuses-1969 'before 1970' republish --from 1969-07-20T20:17:00Z --to 2026-01-01T00:00:00Z

# -- 10,000 events over four hours ----------------------------------------------
# Enough households for 10,000 events; the first 10,000 lines are used and the
# expectation trimmed to them (follow-ups always come after their household).
"$GEN" --seed 220 --households 9800 --out-events "$tmp/all.jsonl" \
	--out-expect "$tmp/all-expect.json" 2>>"$tmp/gen.log" || { FAIL replay-generate "$(tail -n 2 "$tmp/gen.log")"; finish; }
head -n "$nevents" "$tmp/all.jsonl" >"$tmp/events.jsonl"
if [ "$(wc -l <"$tmp/events.jsonl")" != "$nevents" ]; then
	FAIL replay-generate "fewer than $nevents events generated"
	finish
fi
# The hours: base is a whole hour five hours ago, so all four lie in the past
# (and in the broker's retention) and copies made now fall outside them.
now_ms=$(date +%s%3N)
base=$(((now_ms / hour_ms - 5) * hour_ms))
iso() {
	date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S.000Z
}
python3 - "$tmp/all-expect.json" "$nevents" "$per_hour" "$tmp" <<'PY' || { FAIL replay-generate "could not split the expectation"; finish; }
import collections, json, sys
exp = json.load(open(sys.argv[1]))
n, per, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
events = exp["events"][:n]
def write(name, evs):
    res = collections.Counter(e["outcome"] for e in evs)
    dl = collections.Counter(e["dlq_class"] for e in evs if e.get("dlq_class"))
    json.dump({"nevents": len(evs), "events": evs, "results": dict(res), "dead_letters": dict(dl)},
              open("%s/%s" % (out, name), "w"))
write("expect.json", events)
for h in range(4):
    write("hour%d.json" % h, events[h * per:(h + 1) * per])
PY

enroll_topics it-replay
emu_start
info "emulator at $EMU_URL; producing $nevents events from $(iso "$base"), one every $step_ms ms"
if ! "$TIMED" --topic "$ELIG" --start-ms "$base" --step-ms "$step_ms" --file "$tmp/events.jsonl" \
	>"$tmp/receipts.jsonl" 2>>"$tmp/produce.log"; then
	FAIL replay-produce "it_produce_timed failed: $(tail -n 2 "$tmp/produce.log" | tr '\n' ' ')"
	finish
fi

# events_total PORT: the worker's imislink_enroll_events_total, every outcome.
events_total() {
	curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk 'index($0, "imislink_enroll_events_total{") == 1 { s += $2 } END { print s + 0 }'
}

# new_phase NAME: what the topics say from now on lands in fresh files
# (results.jsonl, dlq.jsonl); the earlier ones are kept under NAME.
new_phase() {
	poll_topic "$RESULTS" "$ENR_POLL_GROUP-r" "$tmp/results.jsonl"
	poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
	mv "$tmp/results.jsonl" "$tmp/results-$1.jsonl"
	mv "$tmp/dlq.jsonl" "$tmp/dlq-$1.jsonl"
	touch "$tmp/results.jsonl" "$tmp/dlq.jsonl"
}

# check_again NAME EXPECT: the results since the last new_phase are exactly
# one per event of EXPECT, each what processing it once more gives (found
# done), and nothing for any other event.
check_again() {
	json_check "$1" "$2" "$tmp/expect.json" "$tmp/results.jsonl" <<'PY'
import collections, json, sys
want = {e["event_id"]: e for e in json.load(open(sys.argv[1]))["events"]}
every = {e["event_id"] for e in json.load(open(sys.argv[2]))["events"]}
got = collections.defaultdict(list)
for line in open(sys.argv[3]):
    r = json.loads(line).get("value") or {}
    if r.get("event_id") in every:
        got[r["event_id"]].append(r)
others = [i for i in got if i not in want]
assert not others, "%d events outside the range were processed again, e.g. %s" % (len(others), others[:2])
missing = [i for i in want if i not in got]
assert not missing, "%d events of the range have no new result" % len(missing)
twice = [i for i in got if len(got[i]) != 1]
assert not twice, "%d events have %s results" % (len(twice), [len(got[i]) for i in twice[:3]])
bad = []
for i, e in want.items():
    r = got[i][0]
    ok = {"ENROLLED": "ALREADY_ENROLLED", "PENDING_APPROVAL": "ALREADY_ENROLLED"}.get(e["outcome"], e["outcome"])
    if r["outcome"] != ok:
        bad.append("event %d: %s, expected %s (%s)" % (e["seq"], r["outcome"], ok, r.get("error_message")))
assert not bad, "%d: %s" % (len(bad), "; ".join(bad[:5]))
PY
}

# accounted_within NAME EXPECT SECONDS WHAT: PASS NAME once every event of
# EXPECT has a new result or dead letter, else FAIL NAME ("WHAT within
# SECONDS s") and return 1.
accounted_within() {
	if wait_accounted "$2" "$3"; then
		PASS "$1"
	else
		FAIL "$1" "$4 within $3 s"
		return 1
	fi
}

# check_nothing_created NAME: the emulator holds what it held after the first
# enrollment, and its duplicate check is empty.
check_nothing_created() {
	check_duplicates "$1"
	json_check "$1-counts-unchanged" "$tmp/counts0.json" <(emu_get /_emu/counts) <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a, b = a.get("counts", a), b.get("counts", b)
assert a == b, "before %s, after %s" % (a, b)
PY
}

# check_reprocessed NAME EXPECT SECONDS COUNT WHAT AGAIN NOTHING: the events of
# EXPECT are processed once more within SECONDS (NAME-reprocessed; WHAT says
# which when not), each found done and nothing else (AGAIN), the worker w2
# counts COUNT events since its start (NAME-worker-metrics), and the emulator
# created nothing (NOTHING).
check_reprocessed() {
	local name=$1 expect=$2 secs=$3 count=$4 what=$5 again=$6 nothing=$7 n
	accounted_within "$name-reprocessed" "$expect" "$secs" "$what"
	check_again "$again" "$expect"
	n=$(events_total "$w2port")
	[ "$n" = "$count" ] && PASS "$name-worker-metrics" ||
		FAIL "$name-worker-metrics" "the worker counted $n events, expected $count"
	check_nothing_created "$nothing"
}

# -- the first enrollment ------------------------------------------------------
worker_start w1 "$group" || finish
w1=$WPID
w1log=$WLOG
t0=$SECONDS
accounted_within replay-setup-enrolled "$tmp/expect.json" 360 "not every event has a result or a dead letter" ||
	finish
info "$nevents events enrolled in $((SECONDS - t0)) s"
check_results replay-setup-outcomes strict
check_duplicates replay-setup
emu_get /_emu/counts >"$tmp/counts0.json"

# -- rewind ---------------------------------------------------------------------
t3=$((base + 3 * hour_ms))
# Refused while the worker is in the group; a dry run still shows the plan.
refused replay-rewind-refuses-active-group 'stop the workers first' \
	rewind --group "$group" --topic "$ELIG" --to-datetime "$(iso "$t3")" --execute

worker_stop "$w1" w1 "$w1log"
new_phase setup

"$TOOL" replay rewind --group "$group" --topic "$ELIG" --to-datetime "$(iso "$t3")" \
	>"$tmp/plan.txt" 2>"$tmp/plan.log"
rc=$?
[ "$rc" = 0 ] || FAIL replay-rewind-dry-run "exit status $rc: $(tail -n 2 "$tmp/plan.log" | tr '\n' ' ')"
kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --reset-offsets --group "$group" \
	--topic "$ELIG" --to-datetime "$(iso "$t3")" --dry-run >"$tmp/java-plan.txt" 2>"$tmp/java-plan.log"
json_check replay-rewind-plan-agrees "$tmp/plan.txt" "$tmp/java-plan.txt" "$tmp/receipts.jsonl" "$t3" "$ELIG" "$group" <<'PY'
import json, sys
plan_path, java_path, receipts, t3, topic, group = sys.argv[1:7]
t3 = int(t3)
def table(path):
    # Kafka 3.9's tool ends no row with a newline: read it as words.
    words = open(path).read().split()
    head = []
    while words and not (head and words[0] == group):
        head.append(words.pop(0))
    assert head[:3] == ["GROUP", "TOPIC", "PARTITION"], "no table in %s: %s" % (path, head[:6])
    rows = {}
    for i in range(0, len(words), len(head)):
        row = dict(zip(head, words[i:i + len(head)]))
        assert row.get("GROUP") == group and row.get("TOPIC") == topic, row
        rows[int(row["PARTITION"])] = row
    return rows
ours, java = table(plan_path), table(java_path)
assert sorted(ours) == list(range(6)) and sorted(java) == list(range(6)), (sorted(ours), sorted(java))
want, end = {}, {}
for line in open(receipts):
    r = json.loads(line)
    p, o = r["partition"], r["offset"]
    end[p] = max(end.get(p, 0), o + 1)
    if r["timestamp"] >= t3:
        want[p] = min(want.get(p, o), o)
bad = []
for p in range(6):
    new, jnew = int(ours[p]["NEW-OFFSET"]), int(java[p]["NEW-OFFSET"])
    if new != jnew:
        bad.append("partition %d: ours %d, kafka-consumer-groups %d" % (p, new, jnew))
    if new != want.get(p, end.get(p, 0)):
        bad.append("partition %d: new offset %d, the receipts say %d" % (p, new, want.get(p, end.get(p, 0))))
    if ours[p]["CURRENT-OFFSET"] != str(end.get(p, 0)):
        bad.append("partition %d: current offset %s, the log end is %d" % (p, ours[p]["CURRENT-OFFSET"], end.get(p, 0)))
assert not bad, "; ".join(bad)
moved = sum(end.get(p, 0) - int(ours[p]["NEW-OFFSET"]) for p in range(6))
assert moved == 2500, "the plan moves back over %d events, expected 2500" % moved
PY

"$TOOL" replay rewind --group "$group" --topic "$ELIG" --to-datetime "$(iso "$t3")" --execute \
	>"$tmp/rewind.out" 2>"$tmp/rewind.log"
rc=$?
"$TOOL" replay rewind --group "$group" --topic "$ELIG" --to-datetime "$(iso "$t3")" \
	>"$tmp/plan-after.txt" 2>>"$tmp/rewind.log"
if [ "$rc" = 0 ] && awk 'NR > 1 && $4 != $5 { bad = 1 } END { exit bad }' "$tmp/plan-after.txt" &&
	diff <(awk 'NR > 1 { print $3, $5 }' "$tmp/plan.txt") <(awk 'NR > 1 { print $3, $4 }' "$tmp/plan-after.txt") >/dev/null; then
	PASS replay-rewind-execute
else
	FAIL replay-rewind-execute "exit status $rc; after: $(tr '\n' ' ' <"$tmp/plan-after.txt") $(tail -n 2 "$tmp/rewind.log" | tr '\n' ' ')"
fi

worker_start w2 "$group" || finish
w2=$WPID
w2log=$WLOG
w2port=$WPORT
check_reprocessed replay-rewind "$tmp/hour3.json" 180 "$per_hour" \
	"the last hour's events were not all processed again" replay-rewind-exactly-that-hour replay-rewind

# -- republish one hour while the worker runs ---------------------------------
new_phase rewind
t1=$((base + hour_ms))
t2=$((base + 2 * hour_ms))
"$TOOL" replay republish --topic "$ELIG" --from "$(iso "$t1")" --to "$(iso "$t2")" \
	>"$tmp/republish-hour.json" 2>"$tmp/republish-hour.log"
rc=$?
json_check replay-republish-summary "$tmp/republish-hour.json" "$rc" "$per_hour" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
n = int(sys.argv[3])
assert sys.argv[2] == "0", "exit status %s: %s" % (sys.argv[2], s)
got = {k: s[k] for k in ("total", "read", "matched", "copied", "failed")}
assert got == {"total": n, "read": n, "matched": n, "copied": n, "failed": 0}, got
PY
check_reprocessed replay-republish "$tmp/hour1.json" 180 "$((2 * per_hour))" \
	"the copies of the second hour were not all processed" replay-republish-exactly-that-hour replay-republish

# The copies: after each partition's original end, with the original key and
# bytes (the same event) and headers naming the original.
: >"$tmp/copies.jsonl"
for p in 0 1 2 3 4 5; do
	end=$(python3 -c 'import json,sys
print(max([json.loads(l)["offset"] + 1 for l in open(sys.argv[1]) if json.loads(l)["partition"] == int(sys.argv[2])] or [0]))' \
		"$tmp/receipts.jsonl" "$p")
	"$TOOL" consume -t "$ELIG" -p "$p" -o "$end" -e >>"$tmp/copies.jsonl" 2>>"$tmp/poll.log"
done
json_check replay-republish-copies "$tmp/copies.jsonl" "$tmp/receipts.jsonl" "$tmp/hour1.json" "$ELIG" <<'PY'
import json, sys
copies = [json.loads(l) for l in open(sys.argv[1])]
orig = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    orig["%s/%d/%d" % (sys.argv[4], r["partition"], r["offset"])] = r
want = {e["event_id"] for e in json.load(open(sys.argv[3]))["events"]}
seen, bad = set(), []
for m in copies:
    h = m.get("headers") or {}
    of = h.get("__imislink.replay.of")
    o = orig.get(of)
    if o is None:
        bad.append("copy at %s/%s: replay.of %r names no original" % (m["partition"], m["offset"], of))
        continue
    if not h.get("__imislink.replay.at", "").endswith("Z"):
        bad.append("copy of %s: replay.at %r" % (of, h.get("__imislink.replay.at")))
    if m.get("key") != o["key"] or (m.get("value") or {}).get("event_id") != o["event_id"]:
        bad.append("copy of %s: key %r, event %r" % (of, m.get("key"), (m.get("value") or {}).get("event_id")))
    if m["partition"] != o["partition"]:
        bad.append("copy of %s in partition %s" % (of, m["partition"]))
    if of in seen:
        bad.append("%s copied twice" % of)
    seen.add(of)
ids = {orig[o]["event_id"] for o in seen}
assert not bad, "%d wrong: %s" % (len(bad), "; ".join(bad[:4]))
assert ids == want and len(seen) == len(want), "copies of %d events, %d of the hour, %d others" % (
    len(seen), len(ids & want), len(ids - want))
PY

# -- filters: what --key and --programme select -----------------------------------
python3 - "$tmp/events.jsonl" "$tmp/receipts.jsonl" "$t1" "$t2" >"$tmp/filters.txt" <<'PY'
import json, sys
t1, t2 = int(sys.argv[3]), int(sys.argv[4])
rows = [(json.loads(e), json.loads(r)) for e, r in zip(open(sys.argv[1]), open(sys.argv[2]))]
hour = [(e, r) for e, r in rows if t1 <= r["timestamp"] < t2]
keys = sorted({r["key"] for e, r in hour})[:3]
print(" ".join(keys))
print(sum(1 for e, r in hour if r["key"] in keys))
print(sum(1 for e, r in hour if (e.get("programme") or {}).get("id") == 9 or
          (e.get("programme") or {}).get("name") == "School health plan"))
PY
{ read -r keys; read -r nkeys; read -r nprog; } <"$tmp/filters.txt"
key_args=()
for k in $keys; do
	key_args+=(--key "$k")
done
"$TOOL" replay republish --topic "$ELIG" --from "$t1" --to "$t2" "${key_args[@]}" --dry-run \
	>"$tmp/filter-key.json" 2>>"$tmp/filters.log"
"$TOOL" replay republish --topic "$ELIG" --from "$t1" --to "$t2" --programme 9 --programme "School health plan" \
	--dry-run >"$tmp/filter-prog.json" 2>>"$tmp/filters.log"
json_check replay-republish-filters "$tmp/filter-key.json" "$tmp/filter-prog.json" "$nkeys" "$nprog" <<'PY'
import json, sys
k, p = (json.loads(open(f).read()) for f in sys.argv[1:3])
nk, np_ = int(sys.argv[3]), int(sys.argv[4])
assert k["read"] == 2500 and k["matched"] == nk and k["copied"] == 0, "by key: %s, expected %d" % (k, nk)
assert p["read"] == 2500 and p["matched"] == np_ and p["copied"] == 0 and p["undecodable"] == 0, \
    "by programme: %s, expected %d" % (p, np_)
PY

# -- 10,000 already-enrolled events again ----------------------------------------
new_phase republish
"$TOOL" replay republish --topic "$ELIG" --from "$(iso "$base")" --to "$(iso "$((base + 4 * hour_ms))")" \
	>"$tmp/republish-all.json" 2>"$tmp/republish-all.log"
rc=$?
json_check replay-10000-summary "$tmp/republish-all.json" "$rc" "$nevents" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
n = int(sys.argv[3])
assert sys.argv[2] == "0", "exit status %s: %s" % (sys.argv[2], s)
got = {k: s[k] for k in ("read", "matched", "copied", "failed")}
assert got == {"read": n, "matched": n, "copied": n, "failed": 0}, got
PY
check_reprocessed replay-10000 "$tmp/expect.json" 300 "$((2 * per_hour + nevents))" \
	"the 10,000 copies were not all processed" replay-10000-found-done replay-10000-creates-nothing

worker_stop "$w2" w2 "$w2log"
finish
