#!/usr/bin/env bash
# 0130-enroll-outage: openIMIS down for a minute (issue 4, "Must show").
#   - the first half of the events is enrolled; then the emulator answers
#     every API call 503 (POST /_emu/faults {"down":true}) and the second
#     half is published;
#   - while it is down: /healthz says degraded (or down) with openIMIS down,
#     /metrics shows the breaker open, and no dead letter appears at all
#     (above all none of class transient): the worker pauses and probes;
#   - after 60 s the emulator comes back: every event finishes as expected,
#     the state is the expected one with no duplicate, per-key order holds.
# IL_ENROLL_HOUSEHOLDS (default 3000) sets the size.
# Needs: kafka, registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

households=${IL_ENROLL_HOUSEHOLDS:-3000}
outage=${IL_ENROLL_OUTAGE_S:-60}
enroll_init 0130-enroll-outage
tmp=$ENR_TMP
ENR_POLL_GROUP=$(make_topic_name it-outage-poll)
group=$(make_topic_name it-outage)

"$GEN" --seed 130 --households "$households" --out-events "$tmp/events.jsonl" \
	--out-expect "$tmp/expect.json" 2>>"$tmp/gen.log" || { FAIL outage-generate "$(tail -n 2 "$tmp/gen.log")"; finish; }
nevents=$(wc -l <"$tmp/events.jsonl")
half=$((nevents / 2))
head -n "$half" "$tmp/events.jsonl" >"$tmp/first.jsonl"
tail -n +"$((half + 1))" "$tmp/events.jsonl" >"$tmp/second.jsonl"
# The first half's expectations: its events, none of the second's.
python3 - "$tmp/expect.json" "$half" >"$tmp/expect-first.json" <<'PY'
import json, sys
x = json.load(open(sys.argv[1]))
x["events"] = [e for e in x["events"] if e["seq"] <= int(sys.argv[2])]
print(json.dumps(x))
PY
enroll_topics it-outage
emu_start --latency-ms 1-5
worker_start w "$group" || finish
w=$WPID
wlog=$WLOG
wport=$WPORT
info "emulator at $EMU_URL; first half: $half of $nevents events"
produce_events "$tmp/first.jsonl" "$ELIG" "$tmp/receipts-first.jsonl"
if wait_accounted "$tmp/expect-first.json" 240; then
	PASS outage-first-half
else
	FAIL outage-first-half "the first half was not done in 240 s"
fi
dlq_before=$(wc -l <"$tmp/dlq.jsonl")

# -- openIMIS down ---------------------------------------------------------------
emu_faults '{"down":true}' || FAIL outage-set-down "POST /_emu/faults failed"
down_at=$SECONDS
produce_events "$tmp/second.jsonl" "$ELIG" "$tmp/receipts-second.jsonl"
info "openIMIS down for $outage s; second half published"

breaker_open() {
	[ "$(metric "$wport" imislink_openimis_breaker_open)" = 1 ]
}
if wait_until 60 breaker_open; then
	PASS outage-breaker-open-metric
else
	FAIL outage-breaker-open-metric "imislink_openimis_breaker_open is not 1 60 s into the outage"
fi
curl -sS --max-time 10 "http://127.0.0.1:$wport/healthz" >"$tmp/healthz-down.json"
json_check outage-healthz-down "$tmp/healthz-down.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
assert h.get("status") in ("degraded", "down"), h
assert h.get("openimis") == "down", h
PY

# Nothing may go to the dead-letter topic while it is down: poll it the
# whole minute.
while ((SECONDS - down_at < outage)); do
	poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
	sleep 5
done
poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
paused=$(metric "$wport" imislink_enroll_fetch_paused)
breaker=$(metric "$wport" imislink_openimis_breaker_open)
tail -n +"$((dlq_before + 1))" "$tmp/dlq.jsonl" >"$tmp/dlq-during.jsonl"
json_check outage-no-dead-letters "$tmp/dlq-during.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter((json.loads(l).get("headers") or {}).get("__imislink.errors.class") for l in open(sys.argv[1]))
assert not c.get("transient"), "transient dead letters while openIMIS was down: %d" % c["transient"]
PY
# The worker held back: the breaker stayed open and fetching paused.
if [ "$breaker" = 1 ] && [ "$paused" = 1 ]; then
	PASS outage-paused
else
	FAIL outage-paused "after $outage s down: breaker_open $breaker, fetch_paused $paused (1 and 1 expected)"
fi
# A proxy in front of a down openIMIS answers 503: the request log shows
# the worker probing, not flooding.
curl -fsS --max-time 10 "http://127.0.0.1:$wport/metrics" >"$tmp/metrics-down.txt"

# -- back up ------------------------------------------------------------------
emu_faults '{"down":false}' || FAIL outage-set-up "POST /_emu/faults failed"
info "openIMIS back"
if wait_accounted "$tmp/expect.json" 300; then
	PASS outage-all-accounted
else
	FAIL outage-all-accounted "not every event was done 300 s after openIMIS came back"
fi
check_state outage
check_results outage-outcomes strict
check_dead_letters outage-dead-letters
json_check outage-no-transient-dead-letters "$tmp/dlq.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter((json.loads(l).get("headers") or {}).get("__imislink.errors.class") for l in open(sys.argv[1]))
assert set(c) <= {"mapping"}, "dead letters by class: %s" % dict(c)
PY
curl -sS --max-time 10 "http://127.0.0.1:$wport/healthz" >"$tmp/healthz-up.json"
json_check outage-healthz-up "$tmp/healthz-up.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
assert h.get("status") == "ok" and h.get("openimis") == "up", h
PY
check_order outage-order-per-key
worker_stop "$w" w "$wlog"

finish
