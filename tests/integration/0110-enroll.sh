#!/usr/bin/env bash
# 0110-enroll: the enrollment worker against the real broker and the openIMIS
# emulator (issue 4, "Must show").
#   - 20,000 households of mixed sizes and programmes (it_gen_events; set
#     IL_ENROLL_HOUSEHOLDS for a quicker local run) through one worker: every
#     event accounted for as a result or a dead letter; the emulator holds
#     exactly the expected insurees, families, policies, individuals and
#     beneficiaries, with no duplicate; each event's outcome as expected; the
#     dead letters (missing birthdate, unknown area) of class "mapping" with
#     the original key and bytes, Connect's headers and a reason naming the
#     member or the area; the metrics agree;
#   - two events of one key never overlap and never reorder (it_order_check
#     over the emulator's request log);
#   - bad bytes (wrong magic byte, unknown schema id) on every partition:
#     dead letters of class "undecodable" with the reason, and each partition
#     moves on (a valid event after them is enrolled);
#   - the whole topic replayed by a second group creates nothing new: the
#     counts stay, enrollments are found done (ALREADY_ENROLLED);
#   - SIGTERM: the worker exits 0.
# Needs: kafka, registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

households=${IL_ENROLL_HOUSEHOLDS:-20000}
enroll_init 0110-enroll
tmp=$ENR_TMP
ENR_POLL_GROUP=$(make_topic_name it-enroll-poll)
group=$(make_topic_name it-enroll)

"$GEN" --seed 110 --households "$households" --out-events "$tmp/events.jsonl" \
	--out-expect "$tmp/expect.json" 2>>"$tmp/gen.log" || { FAIL enroll-generate "$(tail -n 2 "$tmp/gen.log")"; finish; }
nevents=$(wc -l <"$tmp/events.jsonl")
enroll_topics it-enroll
emu_start
info "emulator at $EMU_URL; producing $nevents events of $households households"
produce_events "$tmp/events.jsonl" "$ELIG" "$tmp/receipts.jsonl"

t0=$SECONDS
worker_start w1 "$group" || finish
w1=$WPID
w1log=$WLOG
w1port=$WPORT
signals_main_only enroll-signals-main-thread "$w1"
if wait_accounted "$tmp/expect.json" 420; then
	PASS enroll-all-accounted
else
	FAIL enroll-all-accounted "not every event has a result or a dead letter after 420 s"
fi
info "$nevents events in $((SECONDS - t0)) s"

check_state enroll
check_results enroll-outcomes strict
check_dead_letters enroll-dead-letters-mapping

# The worker's own count agrees with the topics.
json_check enroll-metrics "$tmp/expect.json" \
	<(curl -fsS "http://127.0.0.1:$w1port/metrics") <<'PY'
import json, re, sys
exp = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
def sample(name, label, value):
    m = re.search(r'^%s\{[^}]*%s="%s"[^}]*\} (\S+)$' % (name, label, value), text, re.M)
    return float(m.group(1)) if m else 0.0
bad = []
for outcome, n in exp["results"].items():
    got = sample("imislink_enroll_events_total", "outcome", outcome)
    if got != n:
        bad.append("events_total{outcome=%s} %g, expected %d" % (outcome, got, n))
for cls, n in exp["dead_letters"].items():
    got = sample("imislink_enroll_dead_letters_total", "class", cls)
    if got != n:
        bad.append("dead_letters_total{class=%s} %g, expected %d" % (cls, got, n))
if sample("imislink_enroll_dead_letters_total", "class", "transient"):
    bad.append("transient dead letters")
assert not bad, "; ".join(bad)
PY

check_order enroll-order-per-key

# -- bad bytes: dead letters, and each partition moves on -----------------------
# After the bad messages of a partition, one valid household whose key lands
# there: a household of another seed (its National IDs are apart).
"$GEN" --seed 9110 --households 60 --out-events "$tmp/more.jsonl" \
	--out-expect "$tmp/more-expect.json" 2>>"$tmp/gen.log"
python3 - "$tmp/more.jsonl" "$tmp/more-expect.json" >"$tmp/valid.jsonl" <<'PY'
import json, sys
exp = json.load(open(sys.argv[2]))["events"]
lines = open(sys.argv[1]).read().splitlines()
for e, line in zip(exp, lines):
    if e["outcome"] == "ENROLLED":
        print(line)
        break
PY
n_before_raw=$(wc -l <"$tmp/dlq.jsonl")
raw_ok=1
for p in 0 1 2 3 4 5; do
	# a wrong magic byte; then magic 0 with schema id 2147483647, unknown to the registry
	"$RAW" "$KAFKA_BOOTSTRAP_SERVERS" "$ELIG" "$p" 1700000000000 "raw-key-$p" \
		6e6f742061767230 007fffffff0a0b0c 2>>"$tmp/raw.log" || raw_ok=0
done
produce_events "$tmp/valid.jsonl" "$ELIG" "$tmp/valid-receipt.jsonl"
[ "$raw_ok" = 1 ] && PASS enroll-raw-setup || FAIL enroll-raw-setup "$(tail -n 2 "$tmp/raw.log" | tr '\n' ' ')"
valid_id=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["event_id"])' "$tmp/valid-receipt.jsonl")

undecodable_done() {
	poll_topic "$RESULTS" "$ENR_POLL_GROUP-r" "$tmp/results.jsonl"
	poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
	[ "$(grep -c '"__imislink.errors.class":"undecodable"' "$tmp/dlq.jsonl")" -ge 12 ] &&
		grep -q "\"event_id\":\"$valid_id\"" "$tmp/results.jsonl"
}
if wait_until 120 undecodable_done; then
	PASS enroll-bad-bytes-partition-moves-on
else
	FAIL enroll-bad-bytes-partition-moves-on "after 120 s: $(grep -c undecodable "$tmp/dlq.jsonl") undecodable dead letters (12 expected), valid event enrolled: $(grep -c "$valid_id" "$tmp/results.jsonl")"
fi
json_check enroll-bad-bytes-dead-letters "$tmp/dlq.jsonl" "$tmp/results.jsonl" "$valid_id" "$n_before_raw" "$ELIG" <<'PY'
import base64, collections, json, sys
dlq = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[4]):]
raw = [m for m in dlq if (m.get("key") or "").startswith("raw-key-")]
by = collections.defaultdict(list)
for m in raw:
    by[base64.b64decode(m.get("value_base64", "")).hex()].append(m)
magic, unknown = by.get("6e6f742061767230", []), by.get("007fffffff0a0b0c", [])
assert len({m["key"] for m in magic}) == 6 and len({m["key"] for m in unknown}) == 6, \
    "wrong magic: %d, unknown id: %d dead letters (6 each expected; keys %s)" % (
        len(magic), len(unknown), sorted({m["key"] for m in raw}))
for m in magic + unknown:
    h = m["headers"]
    assert h.get("__imislink.errors.class") == "undecodable", h
    assert h.get("__connect.errors.stage") == "VALUE_CONVERTER", h
    assert h.get("__connect.errors.topic") == sys.argv[5], h
    assert m["key"] == "raw-key-%s" % h.get("__connect.errors.partition"), (m["key"], h)
for m in magic:
    assert "magic" in m["headers"]["__connect.errors.exception.message"], m["headers"]
for m in unknown:
    assert "2147483647" in m["headers"]["__connect.errors.exception.message"], m["headers"]
res = [json.loads(l)["value"] for l in open(sys.argv[2])]
assert [r["outcome"] for r in res if r["event_id"] == sys.argv[3]] == ["ENROLLED"], \
    [r for r in res if r["event_id"] == sys.argv[3]]
PY
# The state is the expected one plus that household.
counts_after_raw=$(emu_get /_emu/counts)

# -- the whole topic again: a second group creates nothing new ------------------
worker_stop "$w1" w1 "$w1log"
RESULTS_FIRST=$RESULTS
RESULTS=$(make_topic_name it-enroll-results-replay)
DLQ_FIRST=$DLQ
DLQ=$(make_topic_name it-enroll-dlq-replay)
if ! create_topic "$RESULTS" 6 || ! create_topic "$DLQ" 6; then
	FAIL enroll-replay-topics "could not create the replay topics"
	finish
fi
mv "$tmp/results.jsonl" "$tmp/results-first.jsonl"
mv "$tmp/dlq.jsonl" "$tmp/dlq-first.jsonl"
ENR_POLL_GROUP=$ENR_POLL_GROUP-replay
worker_start w2 "$group-replay" || finish
w2=$WPID
w2log=$WLOG
if wait_accounted "$tmp/expect.json" 300; then
	PASS enroll-replay-accounted
else
	FAIL enroll-replay-accounted "the replay did not account for every event in 300 s"
fi
check_duplicates enroll-replay
json_check enroll-replay-counts-unchanged <(echo "$counts_after_raw") <(emu_get /_emu/counts) <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a, b = a.get("counts", a), b.get("counts", b)
assert a == b, "before the replay %s, after %s" % (a, b)
PY
json_check enroll-replay-outcomes "$tmp/expect.json" "$tmp/results.jsonl" <<'PY'
import collections, json, sys
want = {e["event_id"]: e for e in json.load(open(sys.argv[1]))["events"]}
bad = []
for line in open(sys.argv[2]):
    r = json.loads(line).get("value") or {}
    e = want.get(r.get("event_id"))
    if e is None:
        continue
    # what the first run did is found done
    ok = {"ENROLLED": "ALREADY_ENROLLED", "PENDING_APPROVAL": "ALREADY_ENROLLED"}.get(e["outcome"], e["outcome"])
    if r["outcome"] != ok:
        bad.append("event %d: %s, expected %s (%s)" % (e["seq"], r["outcome"], ok, r.get("error_message")))
assert not bad, "%d: %s" % (len(bad), "; ".join(bad[:5]))
PY
worker_stop "$w2" w2 "$w2log"

finish
