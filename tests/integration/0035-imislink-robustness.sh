#!/usr/bin/env bash
# 0035-imislink-robustness: the operator tool when its input pauses, signals
# arrive, its reader goes away or the broker does.
#   - produce from a FIFO: a line's receipt is printed while the writer keeps
#     the FIFO open (the input pauses, the receipt must not wait for it);
#   - SIGHUP in the middle of a line: the line is still read whole and
#     published, and the run goes on (the tool does not reload);
#   - consume -G | head -n 3: the tool notices that nobody reads any more,
#     exits 1 naming stdout, and does not commit what the reader never got
#     (the group reads it again); an idle consume notices it too;
#   - SIGINT while produce is blocked on a stopped broker (a full local
#     queue, unconfirmed messages): produce ends within a bound, exit 1, with
#     exactly one receipt for every line it read, "failed" with reason
#     "interrupted before delivery" for each one not confirmed.
# Needs: kafka, registry.  Stops and restarts the broker (last section).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP IL_TEST_STATE BUILD

tool=$BUILD/bin/imislink
fixtures=$(cd "$IL_HELPERS_DIR/../data/openspp" && pwd)
tmp=$IL_TEST_TMP/0035-imislink-robustness
mkdir -p "$tmp"
if [ ! -x "$tool" ]; then
	FAIL imislink-robustness "\"$tool\" is missing: run make"
	finish
fi

unset IMISLINK_CONFIG
export OPENSPP_INSTANCE=it-openspp
export OPENSPP_KEY_ID_TYPE="National ID"

fifo_topic=$(make_topic_name it-robust-fifo)
many_topic=$(make_topic_name it-robust-many)
stop_topic=$(make_topic_name it-robust-stop)
if ! create_topic "$fifo_topic" 1 || ! create_topic "$many_topic" 3 || ! create_topic "$stop_topic" 1; then
	FAIL imislink-robustness-topics "could not create the test topics"
	finish
fi

# wait_bounded PID SECONDS: waits for the background PID and returns its
# exit status; kills it and returns 124 when it outlives SECONDS (a hang
# detector, not a measurement).
wait_bounded() {
	local pid=$1 deadline=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 124
		fi
		sleep 0.2
	done
	wait "$pid"
}

# person N: an openSPP body on one line, with its own national ID and an
# address long enough that a few hundred of them overflow a pipe.
person() {
	python3 - "$1" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"ids": [{"id_type": "National ID", "value": "NID-RB-%d" % n}],
                  "given_name": "P%d" % n, "family_name": "ROBUST", "address": "street " * 120}))
PY
}

# -- produce from a FIFO: receipts while the input pauses; SIGHUP mid-line ----
fifo=$tmp/input.fifo
rm -f "$fifo"
mkfifo "$fifo"
line1=$(person 1)
line2=$(person 2)
"$tool" produce -t "$fifo_topic" -f "$fifo" >"$tmp/fifo-receipts" 2>"$tmp/fifo.log" &
pid=$!
exec 7>"$fifo"
printf '%s\n' "$line1" >&7
# The writer keeps the FIFO open: the receipt must come all the same.
if wait_until 30 grep -q '"line":1,"status":"published"' "$tmp/fifo-receipts"; then
	PASS imislink-produce-receipt-while-input-paused
else
	FAIL imislink-produce-receipt-while-input-paused "no receipt for line 1 within 30 s while the FIFO stayed open: $(head -c 300 "$tmp/fifo-receipts")"
fi
# Half a line, a SIGHUP while the tool waits for the rest (its handler is in
# place: it printed a receipt), then the rest.
printf '%s' "${line2:0:60}" >&7
sleep 0.5
kill -HUP "$pid" 2>/dev/null
sleep 0.2
printf '%s\n' "${line2:60}" >&7
exec 7>&-
wait_bounded "$pid" 60
rc=$?
if [ "$rc" = 0 ]; then
	PASS imislink-produce-sighup-exit-0
else
	FAIL imislink-produce-sighup-exit-0 "exit status $rc: $(tail -n 3 "$tmp/fifo.log" | tr '\n' ' ')"
fi
json_check imislink-produce-sighup-line-whole "$tmp/fifo-receipts" <<'PY'
import json, sys
r = [json.loads(t) for t in open(sys.argv[1])]
assert [(j["line"], j["status"]) for j in r] == [(1, "published"), (2, "published")], r
PY

# -- consume -G | head: the reader goes away ---------------------------------
# 300 events of about 1 KB: far more than a pipe and head's buffer hold.
python3 - "$tmp/many.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for n in range(300):
        f.write(json.dumps({"ids": [{"id_type": "National ID", "value": "NID-MANY-%d" % n}],
                            "given_name": "M%d" % n, "address": "street " * 120}) + "\n")
PY
if "$tool" produce -t "$many_topic" -f "$tmp/many.jsonl" >"$tmp/many-receipts" 2>"$tmp/many.log"; then
	PASS imislink-robustness-setup
else
	FAIL imislink-robustness-setup "produce failed: $(tail -n 3 "$tmp/many.log" | tr '\n' ' ')"
fi
group=$(make_topic_name it-robust-head)
# timeout: the hang detector; before the fix the tool read on for ever.
timeout -s KILL 60 "$tool" consume -t "$many_topic" -G "$group" 2>"$tmp/head.log" | head -n 3 >"$tmp/head.out"
rcs=("${PIPESTATUS[@]}")
if [ "${rcs[0]}" = 1 ] && grep -q 'could not write messages to stdout' "$tmp/head.log" &&
	grep -q 'Broken pipe' "$tmp/head.log" && [ "$(wc -l <"$tmp/head.out")" = 3 ]; then
	PASS imislink-consume-reader-gone-exit-1
else
	FAIL imislink-consume-reader-gone-exit-1 "exit status ${rcs[0]} (expected 1), $(wc -l <"$tmp/head.out") lines: $(tail -n 2 "$tmp/head.log" | tr '\n' ' ')"
fi
# What the group committed was handed on before the pipe closed: at most a
# pipe's worth.  The rest is read again.
"$tool" consume -t "$many_topic" -G "$group" -e >"$tmp/rest.out" 2>"$tmp/rest.log"
n=$(wc -l <"$tmp/rest.out")
if [ "$n" -ge 150 ] && [ "$n" -le 300 ]; then
	PASS imislink-consume-reader-gone-no-commit
else
	FAIL imislink-consume-reader-gone-no-commit "the group read $n messages again, expected at least 150 of 300"
fi
# Idle: every message printed and handed on, then the reader goes; the
# tool has nothing more to write but must still stop.
timeout -s KILL 60 "$tool" consume -t "$fifo_topic" -G "$group-idle" 2>"$tmp/idle.log" | head -n 1 >"$tmp/idle.out"
rcs=("${PIPESTATUS[@]}")
if [ "${rcs[0]}" = 1 ] && grep -q 'could not write messages to stdout' "$tmp/idle.log"; then
	PASS imislink-consume-idle-reader-gone
else
	FAIL imislink-consume-idle-reader-gone "exit status ${rcs[0]} (expected 1): $(tail -n 2 "$tmp/idle.log" | tr '\n' ' ')"
fi

# -- SIGINT while produce is blocked on a stopped broker ----------------------
# One message may wait in librdkafka's queue: with the broker gone line 2
# waits there unconfirmed, line 3 waits for room, line 4 is read but not sent.
fifo2=$tmp/stop.fifo
rm -f "$fifo2"
mkfifo "$fifo2"
"$tool" -X queue.buffering.max.messages=1 produce -t "$stop_topic" -f "$fifo2" \
	>"$tmp/stop-receipts" 2>"$tmp/stop.log" &
pid=$!
exec 8>"$fifo2"
printf '%s\n' "$(person 11)" >&8
if ! wait_until 30 grep -q '"line":1,"status":"published"' "$tmp/stop-receipts"; then
	FAIL imislink-produce-stop-setup "no receipt for line 1: $(tail -n 3 "$tmp/stop.log" | tr '\n' ' ')"
fi
if ! kafka_stop; then
	FAIL imislink-produce-stop-setup "could not stop the broker"
fi
printf '%s\n%s\n%s\n' "$(person 12)" "$(person 13)" "$(person 14)" >&8
sleep 1
kill -INT "$pid" 2>/dev/null
# The drain is bounded (10 s for reports, then a purge): 45 s is generous.
wait_bounded "$pid" 45
rc=$?
exec 8>&-
if [ "$rc" = 1 ]; then
	PASS imislink-produce-sigint-blocked-exit-1
else
	FAIL imislink-produce-sigint-blocked-exit-1 "exit status $rc (124: still running after 45 s): $(tail -n 3 "$tmp/stop.log" | tr '\n' ' ')"
fi
json_check imislink-produce-sigint-receipts "$tmp/stop-receipts" "$tmp/stop.log" <<'PY'
import json, sys
r = [json.loads(t) for t in open(sys.argv[1])]
log = [json.loads(t) for t in open(sys.argv[2]) if t.startswith("{")]
done = [j for j in log if j.get("msg") == "produce finished"]
assert done, "no \"produce finished\" line in the log"
read = done[-1]["lines"]
lines = sorted(j["line"] for j in r)
# every line read has exactly one receipt; lines 2 and 3 were read (line 4
# too unless it reached the FIFO after the tool's last read)
assert lines == list(range(1, read + 1)), "receipts for lines %s, %d lines read" % (lines, read)
assert read in (3, 4), "%d lines read, expected 3 or 4" % read
assert r[0]["line"] == 1 and r[0]["status"] == "published", r[0]
for j in r[1:]:
    assert j["status"] == "failed" and j["reason"] == "interrupted before delivery", j
PY
if kafka_start; then
	PASS imislink-robustness-broker-back
else
	FAIL imislink-robustness-broker-back "could not restart the broker"
fi

finish
