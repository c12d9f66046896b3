# tests/data/enroll/lib.sh: sourced by tests/integration/0110-0130 (the
# enrollment worker against the real broker and the openIMIS emulator), after
# helpers.sh.  It starts and stops the emulator and workers, reads the topics
# and holds the checks the three scripts share.
#
# Sets: ENR_TMP (scratch), ENR_DATA (this directory), WORKER, EMU, TOOL,
# GEN, ORDER, RAW (binaries), ELIG, RESULTS, DLQ (topics, after
# enroll_topics), EMU_URL (after emu_start), WPID/WPORT (after worker_start).

ENR_DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORKER=$BUILD/bin/imislink-enroll
EMU=$BUILD/bin/imislink-openimis
TOOL=$BUILD/bin/imislink
GEN=$BUILD/tests/it_gen_events
ORDER=$BUILD/tests/it_order_check
RAW=$BUILD/tests/it_produce_raw
ENR_PIDS=()                     # every emulator and worker started, for the exit trap
ENR_STARTS=0                    # workers started: each start logs to a file of its own

# The deployment `imislink produce` and the worker share: the key is the
# household id of this type (it_gen_events writes it).
export OPENSPP_INSTANCE=it-openspp
export OPENSPP_KEY_ID_TYPE="National ID"
unset IMISLINK_CONFIG

# enroll_init NAME: scratch directory, binaries present, exit trap.
enroll_init() {
	local exe
	ENR_TMP=$IL_TEST_TMP/$1
	rm -rf "$ENR_TMP"
	mkdir -p "$ENR_TMP"
	for exe in "$WORKER" "$EMU" "$TOOL" "$GEN" "$ORDER" "$RAW"; do
		if [ ! -x "$exe" ]; then
			FAIL "$1-binaries" "\"$exe\" is not built (make all)"
			finish
		fi
	done
	trap enroll_cleanup EXIT
}

# enroll_cleanup: stops what is still running (SIGKILL: the checks are over).
enroll_cleanup() {
	kill_all "${ENR_PIDS[@]}"
	ENR_PIDS=()
}

# enroll_topics PREFIX: the eligibility, results and dead-letter topics,
# six partitions each.
enroll_topics() {
	ELIG=$(make_topic_name "$1-elig")
	RESULTS=$(make_topic_name "$1-results")
	DLQ=$(make_topic_name "$1-dlq")
	if ! create_topic "$ELIG" 6 || ! create_topic "$RESULTS" 6 || ! create_topic "$DLQ" 6; then
		FAIL "$1-topics" "could not create the test topics"
		finish
	fi
}

# emu_start ARGS...: the emulator on a free port with the test reference
# data (CASH1's UUID as in mapping.properties); sets EMU_URL and EMU_PID.
emu_start() {
	local pf=$ENR_TMP/emu.port
	rm -f "$pf"
	"$EMU" --port 0 --port-file "$pf" --reference "$ENR_DATA/reference.json" "$@" \
		>>"$ENR_TMP/emu.log" 2>&1 &
	EMU_PID=$!
	ENR_PIDS+=("$EMU_PID")
	if ! wait_until 20 test -s "$pf"; then
		FAIL emulator-start "no port file after 20 s: $(tail -n 3 "$ENR_TMP/emu.log" | tr '\n' ' ')"
		finish
	fi
	EMU_URL=http://127.0.0.1:$(tr -d ' \n' <"$pf")
}

# emu_get PATH: GET an emulator path (e.g. /_emu/counts) to stdout.
emu_get() {
	curl -fsS --max-time 30 "$EMU_URL$1"
}

# emu_faults JSON: changes the emulator's faults at run time.
emu_faults() {
	curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -d "$1" \
		"$EMU_URL/_emu/faults" >/dev/null
}

# worker_start NAME GROUP [VAR=VALUE...]: a worker in the background, stderr to
# $ENR_TMP/NAME.N.log (N counts the starts); sets WPID, WLOG and, once it
# serves HTTP, WPORT.  Returns 1 when it did not come up.
worker_start() {
	local name=$1 group=$2
	shift 2
	ENR_STARTS=$((ENR_STARTS + 1))
	WLOG=$ENR_TMP/$name.$ENR_STARTS.log
	daemon_start "$WLOG" env KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
		SCHEMA_REGISTRY_URL="$SCHEMA_REGISTRY_URL" \
		OPENIMIS_API_URL="$EMU_URL" OPENIMIS_USERNAME=Admin OPENIMIS_PASSWORD=admin123 \
		IMISLINK_ENROLL_MAPPING_FILE="$ENR_DATA/mapping.properties" \
		IMISLINK_TOPIC_ELIGIBILITY="$ELIG" IMISLINK_TOPIC_RESULTS="$RESULTS" IMISLINK_TOPIC_DLQ="$DLQ" \
		IMISLINK_GROUP_ID="$group" IMISLINK_WORKER_ID="$name" IMISLINK_HTTP_PORT=0 \
		OPENIMIS_CALLS_PER_SECOND=100000 OPENIMIS_TIMEOUT_MS=2000 \
		OPENIMIS_RETRY_BACKOFF_MS=50 OPENIMIS_RETRY_BACKOFF_MAX_MS=1000 \
		OPENIMIS_BREAKER_FAILURES=20 OPENIMIS_BREAKER_PROBE_MS=500 \
		"$@" "$WORKER" -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000
	WPID=$DAEMON_PID
	ENR_PIDS+=("$WPID")
	daemon_port 60 "$WLOG" "worker-start-$name" || return 1
	WPORT=$DAEMON_PORT
}

# worker_stop PID NAME LOG: SIGTERM; the worker must exit 0 within 60 s
# (enroll.shutdown.timeout.ms is 10 s), else it is killed and that fails.
worker_stop() {
	daemon_stop "$1" 60 "$3" "worker-graceful-exit-$2"
}

# produce_events FILE TOPIC RECEIPTS: publishes; every line must be published.
produce_events() {
	local rc
	"$TOOL" produce -t "$2" -f "$1" >"$3" 2>>"$ENR_TMP/produce.log"
	rc=$?
	if [ "$rc" != 0 ]; then
		FAIL produce "imislink produce exit status $rc: $(tail -n 3 "$ENR_TMP/produce.log" | tr '\n' ' ')"
		finish
	fi
}

# poll_topic TOPIC GROUP OUT: appends what is new on TOPIC since the last
# poll of GROUP to OUT (a consumer group of the test's own: cheap).
poll_topic() {
	"$TOOL" consume -G "$2" -t "$1" -e >>"$3" 2>>"$ENR_TMP/poll.log"
}

# accounted EXPECT RESULTS DLQ: prints "DONE TOTAL" where DONE counts the
# expected events with a result or a dead letter.
accounted() {
	python3 - "$@" <<'PY'
import json, sys
want = {e["event_id"] for e in json.load(open(sys.argv[1]))["events"]}
seen = set()
for path in sys.argv[2:]:
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        v = m.get("value") or {}
        ids = [v.get("event_id"), (m.get("headers") or {}).get("__imislink.event.id")]
        seen.update(i for i in ids if i in want)
print(len(seen), len(want))
PY
}

# wait_accounted EXPECT TIMEOUT: polls the results and dead-letter topics
# into $ENR_TMP/results.jsonl and dlq.jsonl until every expected event is
# accounted for; progress on stderr.  Returns 1 on timeout.
wait_accounted() {
	local expect=$1 deadline=$((SECONDS + $2)) n total last=-1 next_info=0
	while :; do
		poll_topic "$RESULTS" "$ENR_POLL_GROUP-r" "$ENR_TMP/results.jsonl"
		poll_topic "$DLQ" "$ENR_POLL_GROUP-d" "$ENR_TMP/dlq.jsonl"
		read -r n total < <(accounted "$expect" "$ENR_TMP/results.jsonl" "$ENR_TMP/dlq.jsonl")
		if ((SECONDS >= next_info)) || [ "$n" = "$total" ]; then
			info "accounted for $n of $total events"
			next_info=$((SECONDS + 10))
		fi
		[ "$n" = "$total" ] && return 0
		if ((SECONDS >= deadline)); then
			info "timed out with $n of $total events accounted for"
			return 1
		fi
		[ "$n" = "$last" ] && sleep 2
		last=$n
		sleep 1
	done
}

# fetch_requests PREFIX: the emulator's whole request log, page by page,
# into PREFIX.1.json, PREFIX.2.json, ...; prints the file names.
fetch_requests() {
	local since=0 page=0 f next
	while :; do
		page=$((page + 1))
		f=$1.$page.json
		emu_get "/_emu/requests?since=$since&limit=100000" >"$f" || return 1
		echo "$f"
		read -r n next < <(python3 -c 'import json,sys
j = json.load(open(sys.argv[1])); print(len(j["requests"]), j["next"])' "$f") || return 1
		[ "$n" = 0 ] && return 0
		[ "$next" = "$since" ] && return 0
		since=$next
		[ "$page" -ge 100 ] && return 1
	done
}

# check_order NAME [--allow-replay]: it_order_check over the request log.
check_order() {
	local name=$1 files out
	shift
	if ! files=$(fetch_requests "$ENR_TMP/requests"); then
		FAIL "$name" "could not read the emulator's request log"
		return
	fi
	# shellcheck disable=SC2086
	if out=$("$ORDER" "$@" "$ENR_TMP/expect.json" $files 2>&1); then
		PASS "$name"
	else
		FAIL "$name" "$(grep -v '^order check: ok' <<<"$out" | head -n 8 | tr '\n' ' ')"
	fi
	info "$(tail -n 2 <<<"$out" | head -n 1)"
}

# check_duplicates NAME: the emulator's duplicate check is empty.
check_duplicates() {
	emu_get /_emu/duplicates >"$ENR_TMP/$1.duplicates.json" || echo '{}' >"$ENR_TMP/$1.duplicates.json"
	json_check "$1-no-duplicates" "$ENR_TMP/$1.duplicates.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d.get("ok") is True, "duplicates: %s" % json.dumps(d)[:400]
assert not d.get("chf_id_duplicates") and not d.get("overlapping_policies"), json.dumps(d)[:400]
PY
}

# check_state NAME: the emulator holds exactly the expected insurees,
# families, policies, individuals and beneficiaries, with no duplicate.
check_state() {
	local name=$1
	check_duplicates "$name"
	emu_get /_emu/counts >"$ENR_TMP/$name.counts.json" || echo '{}' >"$ENR_TMP/$name.counts.json"
	json_check "$name-emulator-counts" "$ENR_TMP/expect.json" "$ENR_TMP/$name.counts.json" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))["counts"]
got = json.load(open(sys.argv[2]))
got = got.get("counts", got)
bad = ["%s %s, expected %s" % (k, got.get(k), v) for k, v in want.items() if got.get(k) != v]
assert not bad, "; ".join(bad)
PY
}

# check_results NAME MODE: every expected event has its outcome in the results
# topic (distinct event ids: results are at-least-once).  MODE strict: each
# event exactly its outcome, one result each; MODE redo: an event processed
# again after a crash may say ALREADY_ENROLLED where ENROLLED or
# PENDING_APPROVAL was expected (its first run did the work).
check_results() {
	json_check "$1" "$ENR_TMP/expect.json" "$ENR_TMP/results.jsonl" "$2" <<'PY'
import collections, json, sys
exp = json.load(open(sys.argv[1]))
mode = sys.argv[3]
want = {e["event_id"]: e for e in exp["events"]}
got = collections.defaultdict(list)
for line in open(sys.argv[2]):
    m = json.loads(line)
    v = m.get("value")
    if v and v.get("event_id") in want:
        got[v["event_id"]].append(v)
missing = [i for i in want if i not in got]
assert not missing, "%d events have no result, e.g. %s" % (len(missing), missing[:3])
bad, counts = [], collections.Counter()
for i, e in want.items():
    outs = {r["outcome"] for r in got[i]}
    ok = {e["outcome"]}
    redo = mode == "redo" and e["outcome"] in ("ENROLLED", "PENDING_APPROVAL")
    if redo:
        ok.add("ALREADY_ENROLLED")
    if mode == "strict" and len(got[i]) != 1:
        bad.append("event %d: %d results" % (e["seq"], len(got[i])))
    if not outs <= ok:
        bad.append("event %d (%s): %s, expected %s (%s)" % (e["seq"], e["type"], sorted(outs),
                   e["outcome"], got[i][0].get("error_message")))
    counts[sorted(outs)[0] if mode == "strict" else e["outcome"]] += 1
    r = got[i][0]
    if r["key"] != e["key"]:
        bad.append("event %d: key %r, expected %r" % (e["seq"], r["key"], e["key"]))
    if e["outcome"] == "FAILED" and r.get("error_class") != e.get("dlq_class"):
        bad.append("event %d: error_class %r" % (e["seq"], r.get("error_class")))
assert not bad, "%d wrong: %s" % (len(bad), "; ".join(bad[:5]))
if mode == "strict":
    assert dict(counts) == {k: v for k, v in exp["results"].items() if v}, \
        "by outcome %s, expected %s" % (dict(counts), exp["results"])
PY
}

# check_dead_letters NAME: the dead letters of the expected events: the
# expected number by class, each with the original key and bytes (the value
# decodes to the same event), Connect's headers and imislink's, and a reason
# naming what is wrong.
check_dead_letters() {
	json_check "$1" "$ENR_TMP/expect.json" "$ENR_TMP/dlq.jsonl" "$ELIG" <<'PY'
import collections, json, re, sys
exp = json.load(open(sys.argv[1]))
want = {e["event_id"]: e for e in exp["events"] if e.get("dlq_class")}
allids = {e["event_id"] for e in exp["events"]}
seen, bad, classes = {}, [], collections.Counter()
for line in open(sys.argv[2]):
    m = json.loads(line)
    h = m.get("headers") or {}
    eid = h.get("__imislink.event.id")
    if eid not in allids:
        continue                # raw bytes of the later phase
    if eid not in want:
        bad.append("unexpected dead letter of event %s: %s" % (eid, h.get("__connect.errors.exception.message")))
        continue
    if eid in seen:
        continue                # at-least-once: a repeat is no new information
    seen[eid] = m
    e = want[eid]
    cls = h.get("__imislink.errors.class")
    classes[cls] += 1
    reason = h.get("__connect.errors.exception.message") or ""
    if cls != e["dlq_class"]:
        bad.append("event %d: class %r, expected %r" % (e["seq"], cls, e["dlq_class"]))
    for w in e["reason_has"]:
        if w not in reason:
            bad.append("event %d: reason %r does not name %r" % (e["seq"], reason[:200], w))
    if m.get("key") != e["key"]:
        bad.append("event %d: key %r, expected %r" % (e["seq"], m.get("key"), e["key"]))
    if (m.get("value") or {}).get("event_id") != eid:
        bad.append("event %d: the value is not the original event" % e["seq"])
    for name in ("__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
                 "__connect.errors.stage", "__connect.errors.exception.class.name",
                 "__imislink.errors.attempts", "__imislink.errors.first.failure",
                 "__imislink.errors.last.failure"):
        if not h.get(name):
            bad.append("event %d: no header %s" % (e["seq"], name))
    if h.get("__connect.errors.topic") != sys.argv[3]:
        bad.append("event %d: errors.topic %r" % (e["seq"], h.get("__connect.errors.topic")))
missing = [want[i]["seq"] for i in want if i not in seen]
assert not missing, "%d expected dead letters missing, e.g. events %s" % (len(missing), missing[:5])
assert not bad, "%d wrong: %s" % (len(bad), "; ".join(bad[:5]))
assert dict(classes) == {k: v for k, v in exp["dead_letters"].items() if v}, \
    "by class %s, expected %s" % (dict(classes), exp["dead_letters"])
PY
}
