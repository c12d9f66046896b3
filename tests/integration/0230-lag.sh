#!/usr/bin/env bash
# 0230-lag: the consumer lag monitor on the real broker (issue 5, section 3
# and "Must show").
#   - agreement: a group with known committed offsets on a four-partition
#     topic (one partition never committed); `imislink lag --json` and the
#     table give the same committed offset, log end offset and lag per
#     partition as `kafka-consumer-groups --describe`, read with nothing
#     producing or committing in between;
#   - a group that does not exist (the broker describes it as Dead): "does
#     not exist" and status NOTFOUND, as kafka-consumer-groups says it;
#   - discovery: without --group, the broker's groups are listed;
#   - status: imislink-lagmon (lag.interval.ms 500, lag.window.size 5,
#     lag.groups naming the groups, one of them nonexistent) watching a
#     group whose consumer (it_lag_consumer, commits every 2 s give or take
#     0.5 s; 20 messages a second arrive in one burst a second) keeps up:
#     OK (a commit's lag is measured against the log end read before it,
#     so a consumer that keeps up has none; the bursts only make that
#     plainer: between them nothing arrives);
#     stalls (commits the same offsets) while messages keep
#     coming: STALL or STOP for the partitions and ERR for the group, on
#     /v3/.../lag and in imislink_lag_*_status; consumes slower than the
#     production: WARN; catches up: OK again; each change logged;
#   - kafka-lag-exporter's series with cluster_name, group, topic, partition;
#     Burrow's list, 404s for an unknown group (also one named in
#     lag.groups that the broker says does not exist) and cluster; Burrow's
#     start and end (oldest and newest commit of the window) in /lag;
#     /healthz ok;
#     `imislink lag --watch`; SIGHUP reloads, SIGTERM exits 0.
# Bounds are generous: a check waits for behaviour, never asserts on time.
# Needs: kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS IL_TEST_TMP BUILD

TOOL=$BUILD/bin/imislink
LAGMON=$BUILD/bin/imislink-lagmon
LC=$BUILD/tests/it_lag_consumer
tmp=$IL_TEST_TMP/0230-lag
rm -rf "$tmp"
mkdir -p "$tmp"
unset IMISLINK_CONFIG
PIDS=()                 # background processes, for the exit trap
CLUSTER=e-lag-cluster   # lag.cluster.name of the monitor

cleanup() {
	kill_all "${PIDS[@]}"
	PIDS=()
}
trap cleanup EXIT

for exe in "$TOOL" "$LAGMON" "$LC"; do
	if [ ! -x "$exe" ]; then
		FAIL lag-binaries "\"$exe\" is not built (make all)"
		finish
	fi
done

topic_a=$(make_topic_name e-lag-a)
topic_b=$(make_topic_name e-lag-b)
group_a=$(make_topic_name e-lag-ga)
group_b=$(make_topic_name e-lag-gb)
if ! create_topic "$topic_a" 4 || ! create_topic "$topic_b" 2; then
	FAIL lag-topics "could not create the test topics"
	finish
fi

# --- (a) agreement with kafka-consumer-groups --------------------------------

# Ten messages on every partition; committed: 3, 10 (caught up), 0, none.
if ! "$LC" produce -t "$topic_a" -n 10 >"$tmp/a.produce" 2>>"$tmp/lc.log" ||
	! "$LC" commit -t "$topic_a" -G "$group_a" 0=3 1=10 2=0 2>>"$tmp/lc.log"; then
	FAIL lag-setup "could not produce or commit: $(tail -n 3 "$tmp/lc.log" | tr '\n' ' ')"
	finish
fi
"$TOOL" lag --group "$group_a" --json >"$tmp/a.jsonl" 2>"$tmp/a.err"
rc_json=$?
describe_group "$group_a" >"$tmp/a.describe" 2>"$tmp/a.describe.err"
"$TOOL" lag --group "$group_a" >"$tmp/a.table" 2>>"$tmp/a.err"
rc_table=$?
if [ "$rc_json" != 0 ] || [ "$rc_table" != 0 ]; then
	FAIL lag-command "imislink lag exit status $rc_json/$rc_table: $(tail -n 3 "$tmp/a.err" | tr '\n' ' ')"
fi

json_check lag-agrees-with-kafka-consumer-groups "$tmp/a.jsonl" "$tmp/a.describe" "$group_a" "$topic_a" <<'PY'
import json, sys
ours, describe, group, topic = sys.argv[1:5]
parts, groups = {}, []
for line in open(ours):
    m = json.loads(line)
    if m["type"] == "partition":
        parts[(m["topic"], m["partition"])] = m
    elif m["type"] == "group":
        groups.append(m)
kafka = {}
for line in open(describe):
    f = line.split()
    if len(f) >= 6 and f[0] == group:
        num = lambda s: None if s == "-" else int(s)
        kafka[(f[1], int(f[2]))] = (num(f[3]), num(f[4]), num(f[5]))
assert kafka, "kafka-consumer-groups printed no row for %s: %s" % (group, open(describe).read()[:300])
bad = []
for k, (cur, end, lag) in sorted(kafka.items()):
    m = parts.get(k)
    if m is None:
        bad.append("%s[%d]: not in imislink lag" % k)
        continue
    got = (m["committed"], m["log_end"], m["lag"])
    if got != (cur, end, lag):
        bad.append("%s[%d]: imislink %s, kafka-consumer-groups %s" % (k[0], k[1], got, (cur, end, lag)))
for k, m in parts.items():
    if k not in kafka and m["committed"] is not None:
        bad.append("%s[%d]: committed %s but not listed by kafka-consumer-groups" % (k[0], k[1], m["committed"]))
assert not bad, "; ".join(bad)
# The figures are the known ones, too.
want = {0: (3, 10, 7), 1: (10, 10, 0), 2: (0, 10, 10)}
for p, w in want.items():
    m = parts.get((topic, p))
    assert m and (m["committed"], m["log_end"], m["lag"]) == w, "partition %d: %s, expected %s" % (p, m, w)
m = parts.get((topic, 3))
assert m is None or m["committed"] is None, "partition 3 was never committed: %s" % m
assert len(groups) == 1 and groups[0]["group"] == group, "group lines: %s" % groups
g = groups[0]
assert g["total_lag"] == 17 and g["max_lag"] == 10, "group line: %s" % g
assert g["status"] in ("OK", "WARN", "ERR"), "group status %s" % g["status"]
for p in (0, 2):
    s = parts[(topic, p)]["lag_seconds"]
    assert s is None or s >= 0, "partition %d: lag_seconds %s" % (p, s)
assert parts[(topic, 1)]["lag_seconds"] in (0, None), "no lag, lag_seconds %s" % parts[(topic, 1)]["lag_seconds"]
PY

json_check lag-table "$tmp/a.table" "$tmp/a.jsonl" "$group_a" <<'PY'
import json, sys
table, ours, group = sys.argv[1:4]
lines = open(table).read().splitlines()
head = "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG LAG-SECONDS STATUS CONSUMER-ID HOST CLIENT-ID"
assert any(l.split() == head.split() for l in lines), "no header %r in %r" % (head, lines[:3])
rows = {}
for l in lines:
    f = l.split()
    if len(f) == 11 and f[0] == group:
        rows[(f[1], int(f[2]))] = f
for line in open(ours):
    m = json.loads(line)
    if m["type"] != "partition":
        continue
    f = rows.get((m["topic"], m["partition"]))
    assert f, "no row for %s[%d]" % (m["topic"], m["partition"])
    show = lambda v: "-" if v is None else str(v)
    assert f[3:6] == [show(m["committed"]), show(m["log_end"]), show(m["lag"])], "row %s, json %s" % (f, m)
    assert f[8:] == ["-", "-", "-"], "no member, yet %s" % f[8:]
gl = [l for l in lines if l.startswith("group %s: status " % group)]
assert gl and "total lag 17" in gl[0] and "max lag 10" in gl[0], "group line %s" % gl
PY

"$TOOL" lag --group "$group_a-none" --json >"$tmp/none.jsonl" 2>>"$tmp/a.err"
rc=$?
"$TOOL" lag --group "$group_a-none" >"$tmp/none.table" 2>>"$tmp/a.err"
rc_table=$?
json_check lag-unknown-group "$tmp/none.jsonl" "$group_a-none" "$rc" "$tmp/none.table" "$rc_table" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[3] == "0" and sys.argv[5] == "0", "exit status %s/%s" % (sys.argv[3], sys.argv[5])
g = [m for m in lines if m["type"] == "group" and m["group"] == sys.argv[2]]
assert g and g[0]["total_lag"] == 0, "lines %s" % lines
# The broker says it does not exist: NOTFOUND, as Burrow, not a healthy group.
assert g[0]["status"] == "NOTFOUND", "status %s" % g[0]
assert not [m for m in lines if m["type"] == "partition"], lines
table = open(sys.argv[4]).read()
assert "Consumer group '%s' does not exist." % sys.argv[2] in table, table
assert "has no committed offsets" not in table, table
assert "group %s: status NOTFOUND" % sys.argv[2] in table, table
PY

# Without --group, every group the broker lists.
"$TOOL" lag --json >"$tmp/all.jsonl" 2>>"$tmp/a.err"
rc=$?
json_check lag-discovers-groups "$tmp/all.jsonl" "$group_a" "$rc" <<'PY'
import json, sys
assert sys.argv[3] == "0", "exit status %s" % sys.argv[3]
g = [json.loads(l) for l in open(sys.argv[1]) if '"type":"group"' in l]
mine = [m for m in g if m["group"] == sys.argv[2]]
assert mine and mine[0]["total_lag"] == 17, "group %s not among the %d listed" % (sys.argv[2], len(g))
PY

# --- (b) status over a window, from the monitor ------------------------------

ctl=$tmp/control
phase=$tmp/phase
echo run >"$ctl"
echo keepup >"$phase"
"$LC" produce -t "$topic_b" -r 20 -b 1000 >"$tmp/b.produce" 2>>"$tmp/lc.log" &
prod_pid=$!
PIDS+=("$prod_pid")
"$LC" consume -t "$topic_b" -G "$group_b" -c "$ctl" -i 2000 >"$tmp/b.consume" 2>"$tmp/consumer.log" &
cons_pid=$!
PIDS+=("$cons_pid")

mlog=$tmp/lagmon.log
daemon_start "$mlog" env IMISLINK_HTTP_PORT=0 IMISLINK_LAG_INTERVAL_MS=500 IMISLINK_LAG_WINDOW_SIZE=5 \
	IMISLINK_LAG_CLUSTER_NAME="$CLUSTER" IMISLINK_LAG_GROUPS="$group_b,$group_a,$group_b-dead" "$LAGMON"
mon_pid=$DAEMON_PID
PIDS+=("$mon_pid")
daemon_port 60 "$mlog" lagmon-start || finish
port=$DAEMON_PORT
base=http://127.0.0.1:$port
info "imislink-lagmon on port $port, group $group_b"

# A sampler records Burrow's /lag answer for the group about four times a
# second, with the phase the test is in: the checks read this timeline.
timeline=$tmp/timeline.jsonl
python3 - "$base/v3/kafka/$CLUSTER/consumer/$group_b/lag" "$phase" "$timeline" <<'PY' &
import json, sys, time, urllib.request, urllib.error
url, phase, out = sys.argv[1:4]
while True:
    rec = {"t": time.time(), "phase": open(phase).read().strip()}
    body = {}
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            rec["code"], raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        rec["code"], raw = e.code, e.read()
    except Exception as e:
        rec["code"], raw = str(e), b"{}"
    try:
        body = json.loads(raw)
    except ValueError:
        pass
    st = body.get("status") or {}
    rec["status"] = st.get("status")
    rec["parts"] = {str(p["partition"]): p["status"] for p in st.get("partitions") or []}
    rec["totallag"] = st.get("totallag")
    rec["complete"] = st.get("complete")
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    time.sleep(0.25)
PY
sampler_pid=$!
PIDS+=("$sampler_pid")

# seen PHASE GROUP_STATUS [PART_STATUS_REGEX]: the timeline holds a sample
# of PHASE with that group status (and a partition status matching); an OK
# of phase keepup only counts with full windows.
seen() {
	python3 - "$timeline" "$@" <<'PY'
import json, re, sys
path, phase, gst = sys.argv[1:4]
prx = sys.argv[4] if len(sys.argv) > 4 else None
try:
    lines = open(path).read().splitlines()
except OSError:
    sys.exit(1)
for l in lines:
    try:
        r = json.loads(l)
    except ValueError:
        continue
    if r["phase"] != phase or r.get("status") != gst:
        continue
    # OK counts with both partitions, and while keeping up only once the
    # windows are full: not merely the first commits.
    if gst == "OK" and len(r["parts"]) != 2:
        continue
    if phase == "keepup" and (r.get("complete") or 0) < 1:
        continue
    if prx is None or any(re.fullmatch(prx, s) for s in r["parts"].values()):
        sys.exit(0)
sys.exit(1)
PY
}

# set_phase NAME CONTROL: tells the consumer what to do and the sampler where we are.
set_phase() {
	echo "$1" >"$phase"
	echo "$2" >"$ctl"
	phase_t0=$SECONDS
	info "phase $1: consumer \"$2\""
}

metrics() {
	curl -fsS --max-time 10 "$base/metrics" >"$tmp/metrics.$1.txt" 2>/dev/null
}

# 1. keeping up
phase_t0=$SECONDS
if wait_until 90 seen keepup OK; then
	PASS lag-keepup-ok
else
	FAIL lag-keepup-ok "no OK with both partitions and full windows within 90 s: $(tail -n 2 "$timeline" | tr '\n' ' ')"
fi
info "keeping up: OK after $((SECONDS - phase_t0)) s"

metrics keepup
json_check lag-metrics-keepup "$tmp/metrics.keepup.txt" "$CLUSTER" "$group_b" "$topic_b" <<'PY'
import re, sys
text, cluster, group, topic = sys.argv[1:5]
series = {}
for line in open(text):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line.strip())
    assert m, "bad line %r" % line
    labels = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    series.setdefault(m.group(1), []).append((labels, float(m.group(4))))
def ours(name, per_partition):
    got = [l for l, v in series.get(name, []) if l.get("group") == group]
    assert got, "no %s for the group" % name
    for l in got:
        assert l.get("cluster_name") == cluster, "%s: cluster_name %s" % (name, l)
        if per_partition:
            assert l.get("topic") == topic and l.get("partition") in ("0", "1"), "%s: labels %s" % (name, l)
    if per_partition:
        assert {l["partition"] for l in got} == {"0", "1"}, "%s: partitions %s" % (name, got)
for n in ("kafka_consumergroup_group_lag", "kafka_consumergroup_group_lag_seconds",
          "kafka_consumergroup_group_offset", "imislink_lag_partition_status"):
    ours(n, True)
for n in ("kafka_consumergroup_group_max_lag", "kafka_consumergroup_group_sum_lag",
          "imislink_lag_group_status"):
    ours(n, False)
assert any(l.get("topic") == topic for l, v in series.get("kafka_partition_latest_offset", [])), \
    "no kafka_partition_latest_offset for the topic"
for n in ("imislink_lagmon_rounds_total", "imislink_lagmon_round_errors_total", "imislink_lag_eval_seconds"):
    assert n in series or n + "_count" in series, "no %s" % n
assert series["imislink_lagmon_rounds_total"][0][1] >= 2, "rounds %s" % series["imislink_lagmon_rounds_total"]
assert any(n.startswith("process_") for n in series), "no process metrics"
PY

curl -sS --max-time 10 "$base/v3/kafka/$CLUSTER/consumer" >"$tmp/list.json" 2>&1
curl -sS --max-time 10 -o "$tmp/nogroup.json" -w '%{http_code}' \
	"$base/v3/kafka/$CLUSTER/consumer/$group_b-none/status" >"$tmp/nogroup.code" 2>&1
curl -sS --max-time 10 -o "$tmp/nocluster.json" -w '%{http_code}' \
	"$base/v3/kafka/$CLUSTER-none/consumer" >"$tmp/nocluster.code" 2>&1
curl -sS --max-time 10 -o "$tmp/deadgroup.json" -w '%{http_code}' \
	"$base/v3/kafka/$CLUSTER/consumer/$group_b-dead/lag" >"$tmp/deadgroup.code" 2>&1
curl -sS --max-time 10 "$base/v3/kafka/$CLUSTER/consumer/$group_b/status" >"$tmp/status.json" 2>&1
curl -sS --max-time 10 "$base/v3/kafka/$CLUSTER/consumer/$group_b/lag" >"$tmp/lag.json" 2>&1
curl -sS --max-time 10 -o "$tmp/health.json" -w '%{http_code}' "$base/healthz" >"$tmp/health.code" 2>&1
json_check lag-burrow-api "$tmp" "$CLUSTER" "$group_b" "$topic_b" <<'PY'
import json, sys
d, cluster, group, topic = sys.argv[1:5]
load = lambda n: json.load(open("%s/%s" % (d, n)))
code = lambda n: open("%s/%s" % (d, n)).read().strip()
l = load("list.json")
assert l["error"] is False and group in l["consumers"], "consumer list %s" % l
assert code("nogroup.code") == "404", "unknown group: HTTP %s" % code("nogroup.code")
n = load("nogroup.json")
assert n["status"]["status"] == "NOTFOUND" and n["message"], "unknown group answer %s" % n
assert code("nocluster.code") == "404" and load("nocluster.json")["error"] is True, "unknown cluster"
# Named in lag.groups, but the broker describes it as Dead: Burrow's 404 too.
assert code("deadgroup.code") == "404", "nonexistent group: HTTP %s" % code("deadgroup.code")
assert load("deadgroup.json")["status"]["status"] == "NOTFOUND", load("deadgroup.json")
assert group + "-dead" not in l["consumers"], "nonexistent group listed: %s" % l
# Burrow's start and end: the oldest and the newest commit of each window.
lg = load("lag.json")["status"]
assert len(lg["partitions"]) == 2, lg
for p in lg["partitions"]:
    st, en = p["start"], p["end"]
    assert st and en, "no start or end: %s" % p
    for c in (st, en):
        assert set(("offset", "timestamp", "lag")) <= set(c) and c["lag"] >= 0 and c["timestamp"] > 0, p
    assert st["offset"] <= en["offset"] and st["timestamp"] <= en["timestamp"], p
s = load("status.json")
assert s["error"] is False, s
st = s["status"]
for k in ("cluster", "group", "status", "complete", "partitions", "partition_count", "maxlag", "totallag"):
    assert k in st, "no %s in %s" % (k, st)
assert st["cluster"] == cluster and st["group"] == group and st["partition_count"] == 2, st
assert st["maxlag"] is None or st["maxlag"]["topic"] == topic, st["maxlag"]
assert code("health.code") == "200", "healthz HTTP %s" % code("health.code")
h = load("health.json")
assert json.dumps(h).find('"ok"') >= 0 and "degraded" not in json.dumps(h), "healthz %s" % h
PY

# imislink lag --watch: rounds repeat until interrupted, exit 0.
timeout --preserve-status -s INT 6 "$TOOL" lag --group "$group_b" --watch 1 --json >"$tmp/watch.jsonl" 2>"$tmp/watch.err"
rc=$?
json_check lag-watch "$tmp/watch.jsonl" "$group_b" "$rc" <<'PY'
import json, sys
rounds = [json.loads(l) for l in open(sys.argv[1]) if '"type":"group"' in l]
assert sys.argv[3] == "0", "exit status %s after SIGINT" % sys.argv[3]
assert len(rounds) >= 2 and all(r["group"] == sys.argv[2] for r in rounds), "group lines %s" % rounds
PY

# 2. stalled: commits keep coming, the offsets do not move, messages do
set_phase stall stall
if wait_until 90 seen stall ERR 'STALL|STOP'; then
	PASS lag-stall-reported
else
	FAIL lag-stall-reported "no STALL or STOP within 90 s: $(tail -n 2 "$timeline" | tr '\n' ' ')"
fi
info "stalled: reported after $((SECONDS - phase_t0)) s (window: 5 commits, one every 2 s)"
metrics stall
json_check lag-stall-metrics "$tmp/metrics.stall.txt" "$group_b" <<'PY'
import re, sys
text, group = sys.argv[1:3]
g = [l for l in open(text) if l.startswith("imislink_lag_group_status{") and 'group="%s"' % group in l]
p = [l for l in open(text) if l.startswith("imislink_lag_partition_status{") and 'group="%s"' % group in l]
val = lambda l: float(l.split()[-1])
assert g and any(val(l) == 3 or 'status="ERR"' in l for l in g), "group status series %s" % g
assert any(val(l) in (4, 5) or re.search(r'status="(STALL|STOP)"', l) for l in p), "partition series %s" % p
PY

# 3. recovering slowly: offsets move, lag still grows
set_phase slow "run 2"
if wait_until 90 seen slow WARN; then
	PASS lag-recovering-warn
else
	FAIL lag-recovering-warn "no WARN within 90 s of consuming slower than production: $(tail -n 2 "$timeline" | tr '\n' ' ')"
fi

# 4. caught up
set_phase fast run
if wait_until 120 seen fast OK; then
	PASS lag-recovered-ok
else
	FAIL lag-recovered-ok "no OK within 120 s of catching up: $(tail -n 2 "$timeline" | tr '\n' ' ')"
fi
info "recovered: OK after $((SECONDS - phase_t0)) s"

json_check lag-status-sequence "$timeline" "$mlog" "$group_b" <<'PY'
import json, sys
timeline, log, group = sys.argv[1:4]
order = {"keepup": 0, "stall": 1, "slow": 2, "fast": 3}
seq = []
for l in open(timeline):
    r = json.loads(l)
    if r.get("status") and (not seq or seq[-1][1] != r["status"]):
        seq.append((r["phase"], r["status"]))
# From the first ERR of the stall on: something not OK, then OK to the end.
first = [k for k, (ph, st) in enumerate(seq) if ph == "stall" and st == "ERR"]
assert first, "no ERR while stalled: %s" % seq
assert any(ph == "keepup" and st == "OK" for ph, st in seq[:first[0]]), "no OK before the stall: %s" % seq
rest = [st for _, st in seq[first[0]:]]
assert rest[-1] == "OK" and "OK" in rest, "no OK after the stall: %s" % seq
# The monitor logged the group's changes in the same order.
changes = []
for l in open(log):
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if m.get("msg") == "consumer group status changed" and m.get("group") == group:
        changes.append(m["to"])
def sub(seq, want):
    it = iter(seq)
    return all(any(x == w for x in it) for w in want)
assert sub(changes, ["OK", "ERR", "WARN", "OK"]), "logged changes %s" % changes
print("timeline", seq)
PY

# SIGHUP reloads, SIGTERM ends with 0.
kill -HUP "$mon_pid"
if wait_until 30 grep -qs '"msg":"configuration reloaded"' "$mlog" && kill -0 "$mon_pid" 2>/dev/null; then
	PASS lagmon-sighup
else
	FAIL lagmon-sighup "no \"configuration reloaded\" line: $(tail -n 2 "$mlog" | tr '\n' ' ')"
fi
curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$base/healthz" >"$tmp/health2.code" 2>&1
check lagmon-healthz-after-reload grep -qx 200 "$tmp/health2.code"

daemon_stop "$mon_pid" 30 "$mlog" lagmon-sigterm-exit-0
if grep -q '"level":"error"' "$mlog"; then
	FAIL lagmon-log-clean "$(grep '"level":"error"' "$mlog" | head -n 2 | tr '\n' ' ')"
else
	PASS lagmon-log-clean
fi

echo exit >"$ctl"
kill -TERM "$prod_pid" 2>/dev/null
wait "$cons_pid" 2>/dev/null
wait "$prod_pid" 2>/dev/null
finish
