#!/usr/bin/env bash
# 0120-enroll-faults: the run of 0110 with openIMIS misbehaving and workers
# dying (issue 4, "Must show").
#   - the emulator adds 20-200 ms to every call, answers 5% with 500-504
#     without doing anything, hangs 1% for 3 s (the worker gives up after
#     2 s), and stores 1% of the writes before answering 500;
#   - two workers share the group for part of the run; workers are killed
#     with SIGKILL five times, as the run progresses, and restarted;
#   - in the end: the emulator holds exactly the expected state, no
#     duplicate, every event has a result or a dead letter (distinct event
#     ids: results are at-least-once, and an event redone after a kill may
#     find its enrollment done: ALREADY_ENROLLED for ENROLLED), no dead letter
#     of class transient, and per key no overlap and no reordering (an event
#     redone after a kill is allowed).
# The same 20,000 households as 0110 (IL_ENROLL_HOUSEHOLDS for a quicker
# local run); with 20-200 ms per call and every kill redoing what was not yet
# committed, that takes longer than the runner's usual 600 s.
# timeout: 2400
# Needs: kafka, registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD
. "$IL_HELPERS_DIR/../data/enroll/lib.sh"

households=${IL_ENROLL_HOUSEHOLDS:-20000}
enroll_init 0120-enroll-faults
tmp=$ENR_TMP
ENR_POLL_GROUP=$(make_topic_name it-faults-poll)
group=$(make_topic_name it-faults)
# Leave time for the checks before the runner's limit.
deadline=$((SECONDS + ${IL_IT_LIMIT:-${IL_IT_TIMEOUT:-600}} - 120))

"$GEN" --seed 120 --households "$households" --out-events "$tmp/events.jsonl" \
	--out-expect "$tmp/expect.json" 2>>"$tmp/gen.log" || { FAIL faults-generate "$(tail -n 2 "$tmp/gen.log")"; finish; }
nevents=$(wc -l <"$tmp/events.jsonl")
enroll_topics it-faults
emu_start --seed 120 --latency-ms 20-200 --fail-pct 5 --hang-pct 1 --hang-ms 3000 --write-then-fail-pct 1
info "emulator at $EMU_URL with faults; producing $nevents events of $households households"
produce_events "$tmp/events.jsonl" "$ELIG" "$tmp/receipts.jsonl"

# Workers a and b; each (re)start appends to its log.
worker_start a "$group" || finish
pa=$WPID
log_a=$WLOG
worker_start b "$group" || finish
pb=$WPID
log_b=$WLOG

progress() {
	poll_topic "$RESULTS" "$ENR_POLL_GROUP-r" "$tmp/results.jsonl"
	poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$tmp/dlq.jsonl"
	accounted "$tmp/expect.json" "$tmp/results.jsonl" "$tmp/dlq.jsonl"
}

# Five kills as the run progresses (share of events accounted for), at
# least 5 s apart: a, b, a while both run; then b stops for good (SIGTERM)
# and a is killed twice more: two workers for the first part of the run,
# one for the rest.
kills=0
for pct in 8 20 32 45 58; do
	while :; do
		read -r n total < <(progress)
		((n * 100 >= pct * total)) && break
		if ((SECONDS >= deadline)); then
			break 2
		fi
		sleep 2
	done
	info "accounted for $n of $total events"
	# a, b, a while both run; a alone after b stopped
	if [ "$kills" = 1 ]; then
		kill -KILL "$pb" 2>/dev/null
		wait "$pb" 2>/dev/null
		info "killed worker b (SIGKILL), restarting it"
		worker_start b "$group" || finish
		pb=$WPID
		log_b=$WLOG
	else
		kill -KILL "$pa" 2>/dev/null
		wait "$pa" 2>/dev/null
		info "killed worker a (SIGKILL), restarting it"
		worker_start a "$group" || finish
		pa=$WPID
		log_a=$WLOG
	fi
	kills=$((kills + 1))
	if [ "$kills" = 3 ]; then
		sleep 5
		info "stopping worker b: worker a goes on alone"
		worker_stop "$pb" b "$log_b"
		pb=
	fi
	sleep 5
done
if [ "$kills" = 5 ]; then
	PASS faults-five-kills
else
	FAIL faults-five-kills "only $kills kills before the deadline"
fi

if wait_accounted "$tmp/expect.json" $((deadline - SECONDS)); then
	PASS faults-all-accounted
else
	FAIL faults-all-accounted "not every event has a result or a dead letter in time"
fi

check_state faults
check_results faults-outcomes redo
check_dead_letters faults-dead-letters
json_check faults-no-transient-dead-letters "$tmp/dlq.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter((json.loads(l).get("headers") or {}).get("__imislink.errors.class") for l in open(sys.argv[1]))
assert "transient" not in c and "permanent" not in c, "dead letters by class: %s" % dict(c)
PY
check_order faults-order-per-key --allow-replay
# The fault mix really happened (else this run proved less than it claims).
json_check faults-were-injected "$tmp/requests.1.json" <<'PY'
import collections, json, sys
c = collections.Counter(r.get("fault") for r in json.load(open(sys.argv[1]))["requests"])
for f in ("fail", "hang", "write_then_fail"):
    assert c.get(f, 0) > 0, "no %s fault in the request log: %s" % (f, dict(c))
PY
worker_stop "$pa" a "$log_a"

finish
