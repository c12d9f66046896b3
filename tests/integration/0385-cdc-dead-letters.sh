#!/usr/bin/env bash
# 0385-cdc-dead-letters: an event imislink-cdc cannot encode does not stop
# the stream and is not lost.  With avro.max.message.bytes so small that the
# events of the larger households do not fit, the initial load of programme
# 1 of a generated registry gives, per membership, either an event on the
# topic or a dead letter on topic.dlq: the event's JSON form with Connect's
# headers (stage VALUE_CONVERTER, class permanent, the reason, the event id),
# keyed like the event; the producer goes on streaming (a targeting run
# after the load arrives the same way) and counts them in
# imislink_cdc_dead_letters_total.
# Needs: pg, kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER KAFKA_BOOTSTRAP_SERVERS

cdc_setup cdc-dead-letters cdcdl 60 5
DLQ=$TOPIC.dlq
create_topic "$TOPIC" 1 2>"$tmp/topic.err" && create_topic "$DLQ" 1 2>>"$tmp/topic.err" ||
	{ FAIL cdc-dead-letters-topics "$(tail -n 2 "$tmp/topic.err")"; finish; }
members=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1")

cdc_start --set topic.dlq="$DLQ" --set avro.max.message.bytes=1500
daemon_port 60 "$LOG" cdc-dead-letters-port port || finish

# both topics, every message so far: events decoded, dead letters as bytes
both() {
	"$TOOL" consume -e -t "$TOPIC" >"$tmp/events.jsonl" 2>"$tmp/consume.err" &&
		"$TOOL" consume -e -t "$DLQ" >"$tmp/dlq.jsonl" 2>>"$tmp/consume.err" &&
		[ $(($(wc -l <"$tmp/events.jsonl") + $(wc -l <"$tmp/dlq.jsonl"))) -ge "$1" ]
}
if wait_until 120 both "$members"; then
	PASS cdc-dead-letters-load-accounted
else
	FAIL cdc-dead-letters-load-accounted "$(wc -l <"$tmp/events.jsonl") events and $(wc -l <"$tmp/dlq.jsonl")" \
		"dead letters for $members memberships"
fi
json_check cdc-dead-letters-content "$tmp/events.jsonl" "$tmp/dlq.jsonl" "$members" <<'PY'
import base64, json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
dlq = [json.loads(l) for l in open(sys.argv[2])]
members = int(sys.argv[3])
assert dlq, "no dead letter: the limit did not bite"
assert events, "no event at all: every household too large?"
ids = set()
for e in events:
    ids.add(e["value"]["event_id"])
for d in dlq:
    h = d["headers"]
    assert h.get("__connect.errors.stage") == "VALUE_CONVERTER", h
    assert h.get("__imislink.errors.class") == "permanent", h
    assert "could not encode event" in h.get("__connect.errors.exception.message", ""), h
    body = json.loads(base64.b64decode(d["value_base64"]))
    assert body["event_id"] == h["__imislink.event.id"], (body["event_id"], h)
    assert body["membership"]["state"] and body["household"], body.keys()
    assert d["key"], d
    ids.add(body["event_id"])
assert len(ids) == members, "%d distinct events and dead letters for %d memberships" % (len(ids), members)
PY
got=$(metric "$port" imislink_cdc_dead_letters_total)
want=$(wc -l <"$tmp/dlq.jsonl")
check cdc-dead-letters-metric test "${got%.*}" = "$want"

# still streaming after the dead letters
before=$(($(wc -l <"$tmp/events.jsonl") + want))
moved=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1 AND state = 'draft'")
"$GEN" --scenario targeting --program 1 | db_psql "$DB" >/dev/null
if wait_until 120 both $((before + moved)); then
	PASS cdc-dead-letters-streams-on
else
	FAIL cdc-dead-letters-streams-on "$(wc -l <"$tmp/events.jsonl") events and $(wc -l <"$tmp/dlq.jsonl")" \
		"dead letters, $((before + moved)) expected"
fi
if kill -0 "$CDC_PID" 2>/dev/null && ! grep -q '"msg":"stopping"' "$LOG"; then
	PASS cdc-dead-letters-producer-running
else
	FAIL cdc-dead-letters-producer-running "$(tail -n 2 "$LOG" | cut -c 1-300)"
fi
daemon_stop "$CDC_PID" 30 "$LOG" cdc-dead-letters-stop
CDC_PID=
finish
