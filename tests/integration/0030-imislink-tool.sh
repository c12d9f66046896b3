#!/usr/bin/env bash
# 0030-imislink-tool: the operator tool (`imislink produce`, `imislink
# consume`) against the real broker and the Schema Registry.
#   - produce a file of valid and invalid lines: one receipt per line after
#     the delivery report, every reason named, exit status 2;
#   - consume -e gives back exactly the published events, decoded, with the
#     keys of the design (National ID, household id, instance:res_partner:id);
#   - -c, -p, -G (commits after printing: a second run sees nothing, and
#     kafka-consumer-groups agrees: lag 0), --from-time (ISO and ms);
#   - undecodable bytes are printed with the reason and do not stop consume;
#   - configuration and usage errors exit 1 naming the key or the command;
#   - event ids are SHA-256 over the event's own source fields (never a
#     national ID), positions are FILE:LINE:HASH-OF-LINE, a given event_id
#     must be 64 lower-case hex digits and is kept whole in the receipt;
#   - the same file produced again gives the same event ids; a file of the
#     same name with a changed line gives a new id for that line only.
# Needs: kafka, registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL IL_KAFKA_JARS IL_TEST_TMP BUILD

tool=$BUILD/bin/imislink
raw=$BUILD/tests/it_produce_raw
fixtures=$(cd "$IL_HELPERS_DIR/../data/openspp" && pwd)
tmp=$IL_TEST_TMP/0030-imislink-tool
mkdir -p "$tmp"
for exe in "$tool" "$raw"; do
	if [ ! -x "$exe" ]; then
		FAIL imislink-tool "\"$exe\" is missing: run make"
		finish
	fi
done

# The tool's view of the deployment, the same for every call below.
unset IMISLINK_CONFIG
export OPENSPP_INSTANCE=it-openspp
export OPENSPP_KEY_ID_TYPE="National ID"

main_topic=$(make_topic_name it-tool)
raw_topic=$(make_topic_name it-tool-raw)
group=$(make_topic_name it-tool-group)
if ! create_topic "$main_topic" 6 || ! create_topic "$raw_topic" 1; then
	FAIL imislink-tool-topics "could not create the test topics"
	finish
fi

# -- produce: a file of valid and invalid lines ------------------------------
input=$tmp/input.jsonl
python3 - "$fixtures/individual-66.json" >"$input" <<'PY'
import json, sys
seed = open(sys.argv[1]).read().strip()
lines = [
    # 1: an openSPP individual with a National ID and a non-ASCII name
    json.dumps({"name": "DUPONT, ÉLODIE", "ids": [{"id_type": "National ID", "value": "NID-IT-1",
                "expiry_date": "2031-01-31", "status": "valid", "description": None}],
                "registration_date": "2024-05-01", "phone_numbers": [{"phone_no": "+33 6 00 00 00 01",
                "date_collected": "2024-05-01"}], "email": None, "address": "Lyon",
                "given_name": "ÉLODIE", "addl_name": None, "family_name": "DUPONT", "gender": "Female",
                "birthdate": "1991-04-30", "birth_place": "Lyon", "is_group": False}, ensure_ascii=False),
    # 2: blank: skipped, no receipt
    "   ",
    # 3: openSPP body with a date that does not exist and a typo
    json.dumps({"ids": [{"id_type": "National ID", "value": "NID-IT-3"}], "birthdate": "1990-02-30",
                "given_nme": "X"}),
    # 4: an event in JSON form without event_id and produced_at
    json.dumps({"event_type": "REGISTRANT_SUBMITTED", "source": {"system": "openspp",
                "instance": "it-openspp", "kind": "FILE", "position": None, "table": "res_partner",
                "primary_key": "4"}, "occurred_at": "2026-01-02T03:04:05.000Z",
                "registrant": {"source_id": 4, "external_ids": [{"type": "National ID",
                "value": "NID-IT-4"}], "given_name": "Kwame"}}),
    # 5: not JSON
    "{not json",
    # 6: the seed's individual 66 as the REST API returns it
    seed,
    # 7: an event of a household member: keyed by the household
    json.dumps({"event_type": "HOUSEHOLD_CHANGED", "source": {"system": "openspp",
                "instance": "it-openspp", "kind": "FILE", "position": "hh:7", "table": "res_partner",
                "primary_key": "70"}, "occurred_at": 1767323045000,
                "registrant": {"source_id": 70, "external_ids": [{"type": "National ID",
                "value": "NID-IT-70"}]}, "household": {"source_id": 900, "external_ids": [
                {"type": "National ID", "value": "HH-IT-900"}], "name": "IT household"}}),
    # 8: JSON, but not an object
    "[1, 2]",
    # 9: an event with an unknown member
    json.dumps({"event_type": "REGISTRANT_SUBMITTED", "colour": "red", "source": {"system": "openspp",
                "instance": "it-openspp", "kind": "FILE", "position": "x:9"},
                "occurred_at": 0, "registrant": {"source_id": 9}}),
    # 10: longer than avro.max.message.bytes (set to 2048 below)
    json.dumps({"ids": [], "id": 10, "address": "x" * 3000}),
    # 11: an event_id that is not a SHA-256, with a quote and over 64 bytes
    json.dumps({"event_id": "not\"an id" + "x" * 100, "event_type": "REGISTRANT_SUBMITTED",
                "source": {"system": "openspp", "instance": "it-openspp", "kind": "FILE"},
                "occurred_at": 0, "registrant": {"source_id": 11}}),
    # 12: an event with its own well-formed event_id: kept whole
    json.dumps({"event_id": "0123456789abcdef" * 4, "event_type": "REGISTRANT_SUBMITTED",
                "source": {"system": "openspp", "instance": "it-openspp", "kind": "FILE",
                "position": "given:12", "table": "res_partner", "primary_key": "12"},
                "occurred_at": 0, "registrant": {"source_id": 12}}),
    # 13: neither format: the reason names every member auto-detection looks for
    json.dumps({"colour": "red"}),
    # 14: an event_id in upper case
    json.dumps({"event_id": "0123456789ABCDEF" * 4, "event_type": "REGISTRANT_SUBMITTED",
                "source": {"system": "openspp", "instance": "it-openspp", "kind": "FILE"},
                "occurred_at": 0, "registrant": {"source_id": 14}}),
]
print("\n".join(lines))
PY

"$tool" --set avro.max.message.bytes=2048 produce -t "$main_topic" -f "$input" \
	--programme-id 7 --programme-name "IT programme" >"$tmp/receipts" 2>"$tmp/produce.log"
rc=$?
if [ "$rc" = 2 ]; then
	PASS imislink-produce-exit-2
else
	FAIL imislink-produce-exit-2 "exit status $rc, expected 2: $(tail -n 3 "$tmp/produce.log" | tr '\n' ' ')"
fi

json_check imislink-produce-receipts "$tmp/receipts" <<'PY'
import json, re, sys
r = {}
for text in open(sys.argv[1]):
    j = json.loads(text)
    assert j["line"] not in r, "two receipts for line %d" % j["line"]
    r[j["line"]] = j
assert sorted(r) == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], "receipts for lines %s" % sorted(r)
for n in (1, 4, 6, 7, 12):
    j = r[n]
    assert j["status"] == "published", "line %d: %s" % (n, j)
    assert re.fullmatch("[0-9a-f]{64}", j["event_id"]), j
    assert 0 <= j["partition"] < 6 and j["offset"] >= 0, j
assert r[12]["event_id"] == "0123456789abcdef" * 4, r[12]
for n in (3, 5, 8, 9, 10, 11, 13, 14):
    assert r[n]["status"] == "refused", "line %d: %s" % (n, r[n])
why = {n: r[n]["reason"] for n in (3, 5, 8, 9, 10, 11, 13, 14)}
assert "birthdate: expected YYYY-MM-DD, got \"1990-02-30\" (no such day)" in why[3].split("\n"), why[3]
assert "given_nme: unknown member" in why[3].split("\n"), why[3]
assert "invalid JSON" in why[5], why[5]
assert "expected a JSON object" in why[8], why[8]
assert "colour" in why[9], why[9]
assert "avro.max.message.bytes" in why[10], why[10]
# quoted up to 80 bytes: the reason stays short whatever the line holds
assert why[11] == 'event_id: expected 64 lower-case hex digits, got "%s"...' % ('not"an id' + "x" * 100)[:80], why[11]
assert why[14].startswith("event_id: expected 64 lower-case hex digits, got"), why[14]
assert why[13] == ('line: neither an EligibilityEvent (no "event_type") nor an openSPP individual body '
                   '(no "ids", "given_name", "family_name", "is_group", "phone_numbers" or '
                   '"registration_date")'), why[13]
PY

# -- consume -e: the published events, decoded, with their keys ---------------
"$tool" consume -t "$main_topic" -e >"$tmp/consumed" 2>"$tmp/consume.log"
rc=$?
[ "$rc" = 0 ] || FAIL imislink-consume-exit "exit status $rc: $(tail -n 3 "$tmp/consume.log" | tr '\n' ' ')"
json_check imislink-consume-decoded "$tmp/receipts" "$tmp/consumed" "$input" <<'PY'
import hashlib, json, re, sys
lines = open(sys.argv[3], "rb").read().split(b"\n")
def line_hash(n):
    return hashlib.sha256(lines[n - 1]).hexdigest()[:16]
receipts = {j["event_id"]: j for j in map(json.loads, open(sys.argv[1])) if j["status"] == "published"}
msgs = [json.loads(t) for t in open(sys.argv[2])]
assert len(msgs) == 5, "consumed %d messages, expected 5" % len(msgs)
want_keys = {1: "NID-IT-1", 4: "NID-IT-4", 6: "it-openspp:res_partner:66", 7: "HH-IT-900",
             12: "it-openspp:res_partner:12"}
by_line = {}
for m in msgs:
    assert "error" not in m, m
    v = m["value"]
    rc = receipts[v["event_id"]]
    assert (m["partition"], m["offset"]) == (rc["partition"], rc["offset"]), (m, rc)
    assert isinstance(m["schema_id"], int) and m["schema_id"] > 0, m
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", m["timestamp"]), m["timestamp"]
    by_line[rc["line"]] = m
for n, key in want_keys.items():
    assert by_line[n]["key"] == key, "line %d: key %r, expected %r" % (n, by_line[n]["key"], key)
one = by_line[1]["value"]
assert one["registrant"]["given_name"] == "ÉLODIE", one["registrant"]
assert one["programme"] == {"id": 7, "name": "IT programme", "target_type": None}, one["programme"]
assert one["source"]["position"] == "input.jsonl:1:" + line_hash(1), one["source"]
assert one["source"]["primary_key"] is None, one["source"]
seed = by_line[6]["value"]["registrant"]
assert seed["gender"] is None and seed["birthdate"] is None, seed
assert seed["source_id"] == 66 and seed["external_ids"] == [], seed
four = by_line[4]["value"]
assert four["produced_at"] is not None and four["occurred_at"] == "2026-01-02T03:04:05.000Z", four
# an event line without event_id and position: the line's position is filled in
assert four["source"]["position"] == "input.jsonl:4:" + line_hash(4), four["source"]
assert by_line[6]["value"]["source"]["position"] == "input.jsonl:6:" + line_hash(6)
assert by_line[7]["value"]["source"]["position"] == "hh:7"
# every derived id is the SHA-256 of the event's own source fields, as
# the schema's doc says: anyone can recompute it, and nothing else (no
# national ID) goes in
for n in (1, 4, 6, 7):
    src = by_line[n]["value"]["source"]
    fields = [src[f] or "" for f in ("system", "instance", "kind", "position", "table", "primary_key")]
    want = hashlib.sha256("\0".join(fields).encode()).hexdigest()
    assert by_line[n]["value"]["event_id"] == want, "line %d: id %s, expected %s from %s" % (
        n, by_line[n]["value"]["event_id"], want, fields)
PY

# -- consume -c, -p -------------------------------------------------------------
n=$("$tool" consume -t "$main_topic" -c 2 2>"$tmp/count.log" | wc -l)
if [ "$n" = 2 ]; then PASS imislink-consume-count; else FAIL imislink-consume-count "printed $n lines, expected 2"; fi

p1=$(python3 -c 'import json,sys
for t in open(sys.argv[1]):
    j = json.loads(t)
    if j["line"] == 1: print(j["partition"])' "$tmp/receipts")
"$tool" consume -t "$main_topic" -p "$p1" -e >"$tmp/one-partition" 2>"$tmp/partition.log"
json_check imislink-consume-partition "$tmp/one-partition" "$p1" <<'PY'
import json, sys
msgs = [json.loads(t) for t in open(sys.argv[1])]
p = int(sys.argv[2])
assert msgs and all(m["partition"] == p for m in msgs), msgs
assert any(m["key"] == "NID-IT-1" for m in msgs), msgs
PY

# -- consume -G: commits after printing ---------------------------------------
"$tool" consume -t "$main_topic" -G "$group" -e >"$tmp/group1" 2>"$tmp/group1.log"
"$tool" consume -t "$main_topic" -G "$group" -e >"$tmp/group2" 2>"$tmp/group2.log"
n1=$(wc -l <"$tmp/group1")
n2=$(wc -l <"$tmp/group2")
if [ "$n1" = 5 ] && [ "$n2" = 0 ]; then
	PASS imislink-consume-group-commits
else
	FAIL imislink-consume-group-commits "first run printed $n1 (expected 5), second $n2 (expected 0)"
fi
# The group commits only partitions it read messages from.
used=$(python3 -c 'import json,sys
print(len({j["partition"] for j in map(json.loads, open(sys.argv[1])) if j["status"] == "published"}))' \
	"$tmp/receipts")
if out=$(describe_group "$group" 2>&1); then
	verdict=$(awk -v t="$main_topic" -v used="$used" '$2 == t { n++; if ($6 != "0") bad = bad " [" $3 "] lag " $6 }
		END { if (n != used) print "expected " used " partitions, got " n + 0; else if (bad != "") print "lag:" bad }' <<<"$out")
	if [ -z "$verdict" ]; then PASS imislink-consume-group-lag; else FAIL imislink-consume-group-lag "$verdict"; fi
else
	FAIL imislink-consume-group-lag "kafka-consumer-groups failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
fi

# -- undecodable bytes, and --from-time --------------------------------------
# 2001-09-09: wrong magic byte, an unknown schema id, a header cut short
old_ts=1000000000000
# 2020-09-13: magic and EligibilityEvent's schema id (registry ids are global:
# take the one the tool was given) but a body cut short
new_ts=1600000000000
sid=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["schema_id"])' \
	"$tmp/consumed" 2>/dev/null) || sid=1
cut_short=$(printf '00%08x02' "$sid")
if "$raw" "$KAFKA_BOOTSTRAP_SERVERS" "$raw_topic" 0 "$old_ts" rawkey 6e6f742061767230 007fffffff00 0000 \
	2>"$tmp/raw.log" &&
	"$raw" "$KAFKA_BOOTSTRAP_SERVERS" "$raw_topic" 0 "$new_ts" rawkey2 "$cut_short" 2>>"$tmp/raw.log" &&
	head -n 1 "$input" | "$tool" produce -t "$raw_topic" >"$tmp/raw-receipt" 2>>"$tmp/raw.log"; then
	PASS imislink-raw-setup
else
	FAIL imislink-raw-setup "$(tail -n 3 "$tmp/raw.log" | tr '\n' ' ')"
fi
"$tool" consume -t "$raw_topic" -e >"$tmp/raw-consumed" 2>"$tmp/raw-consume.log"
rc=$?
[ "$rc" = 0 ] || FAIL imislink-consume-undecodable-exit "exit status $rc"
json_check imislink-consume-undecodable "$tmp/raw-consumed" "$cut_short" <<'PY'
import base64, json, sys
msgs = [json.loads(t) for t in open(sys.argv[1])]
assert [m["offset"] for m in msgs] == [0, 1, 2, 3, 4], [m["offset"] for m in msgs]
raw = ["6e6f742061767230", "007fffffff00", "0000", sys.argv[2]]
for m, hexv in zip(msgs, raw):
    assert m.get("error"), m
    assert "value" not in m, m
    assert base64.b64decode(m["value_base64"]) == bytes.fromhex(hexv), m
assert "magic" in msgs[0]["error"], msgs[0]["error"]
assert "2147483647" in msgs[1]["error"], msgs[1]["error"]
assert msgs[0]["key"] == "rawkey" and msgs[3]["key"] == "rawkey2", msgs
# the run went on past them: the last one decodes
assert "error" not in msgs[4] and msgs[4]["value"]["registrant"]["given_name"] == "ÉLODIE", msgs[4]
PY

"$tool" consume -t "$raw_topic" -e --from-time 2010-01-01T00:00:00Z >"$tmp/from-iso" 2>"$tmp/from.log"
"$tool" consume -t "$raw_topic" -e --from-time 1262304000000 >"$tmp/from-ms" 2>>"$tmp/from.log"
"$tool" consume -t "$raw_topic" -e --from-time 2100-01-01T00:00:00+02:00 >"$tmp/from-future" 2>>"$tmp/from.log"
json_check imislink-consume-from-time "$tmp/from-iso" "$tmp/from-ms" "$tmp/from-future" <<'PY'
import json, sys
iso, ms, future = ([json.loads(t)["offset"] for t in open(f)] for f in sys.argv[1:4])
assert iso == [3, 4], "ISO: offsets %s, expected [3, 4]" % iso
assert ms == [3, 4], "ms: offsets %s, expected [3, 4]" % ms
assert future == [], "future: offsets %s, expected none" % future
PY

# -- configuration and usage errors: exit 1, naming the key ---------------------
expect_error() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
	rc=$?
	if [ "$rc" = 1 ] && grep -qF -- "$want" "$tmp/$name.err"; then
		PASS "$name"
	else
		FAIL "$name" "exit status $rc, stderr: $(head -c 300 "$tmp/$name.err" | tr '\n' ' ')"
	fi
}
printf 'kafka.grop.id = x\n' >"$tmp/bad.properties"
expect_error imislink-config-env-error 'IMISLINK_HTTP_PORT: invalid value for \"http.port\"' env IMISLINK_HTTP_PORT=abc "$tool" consume -t "$main_topic" -e
expect_error imislink-config-file-error 'unknown key \"kafka.grop.id\"' "$tool" -F "$tmp/bad.properties" consume -t "$main_topic" -e
expect_error imislink-config-set-error 'invalid value for \"openimis.api.url\"' "$tool" --set openimis.api.url=ftp://x consume -e
expect_error imislink-unknown-command 'imislink --help' "$tool" frobnicate
expect_error imislink-missing-topic 'does not exist' "$tool" produce -t "$main_topic-missing" -f "$input"
# consume learns of a missing topic from its own assignment or subscription
expect_error imislink-consume-missing-topic 'does not exist' "$tool" consume -t "$main_topic-missing" -e
expect_error imislink-group-missing-topic 'Unknown topic' "$tool" consume -G "$group-missing" -t "$main_topic-missing"
expect_error imislink-missing-partition 'partition 6 does not exist' "$tool" consume -t "$main_topic" -p 6
expect_error imislink-bad-format '--format' "$tool" produce --format csv -f "$input"
expect_error imislink-mixed-modes '-G does not mix' "$tool" consume -G g -p 1

if out=$("$tool" -X linger.ms=7 -X dump 2>&1) && grep -Eq 'linger\.ms *= *7' <<<"$out" &&
	grep -Eq '^kafka\.bootstrap\.servers *= ' <<<"$out"; then
	PASS imislink-x-dump
else
	FAIL imislink-x-dump "$(head -c 300 <<<"$out")"
fi

# -- the same file again: the same event ids -----------------------------------
"$tool" --set avro.max.message.bytes=2048 produce -t "$main_topic" -f "$input" \
	--programme-id 7 --programme-name "IT programme" >"$tmp/receipts2" 2>"$tmp/produce2.log"
json_check imislink-produce-same-ids "$tmp/receipts" "$tmp/receipts2" <<'PY'
import json, sys
a, b = ({j["line"]: j.get("event_id") for j in map(json.loads, open(f))} for f in sys.argv[1:3])
assert a == b, "event ids differ: %s vs %s" % (a, b)
PY

# -- two files of the same name: a changed line is a new event -----------------
# a/input.jsonl holds lines 1 and 6 of the input; b/input.jsonl line 1 and an
# edited line 6.  Line 1 keeps its id (the same line of a file of that name),
# the edited line gets a new one.
mkdir -p "$tmp/a" "$tmp/b"
sed -n '1p;6p' "$input" >"$tmp/a/input.jsonl"
{ sed -n '1p' "$input"; sed -n '6p' "$input" | sed 's/AMANI/AMANA/'; } >"$tmp/b/input.jsonl"
"$tool" produce -t "$main_topic" -f "$tmp/a/input.jsonl" >"$tmp/receipts-a" 2>"$tmp/produce-a.log"
rc_a=$?
"$tool" produce -t "$main_topic" -f "$tmp/b/input.jsonl" >"$tmp/receipts-b" 2>"$tmp/produce-b.log"
rc_b=$?
if [ "$rc_a" = 0 ] && [ "$rc_b" = 0 ]; then
	json_check imislink-produce-changed-line-new-id "$tmp/receipts" "$tmp/receipts-a" "$tmp/receipts-b" <<'PY'
import json, sys
orig, a, b = ({j["line"]: j for j in map(json.loads, open(f))} for f in sys.argv[1:4])
assert all(j["status"] == "published" for j in list(a.values()) + list(b.values())), (a, b)
assert a[1]["event_id"] == b[1]["event_id"] == orig[1]["event_id"], (a[1], b[1], orig[1])
assert a[2]["event_id"] != b[2]["event_id"], (a[2], b[2])
PY
else
	FAIL imislink-produce-changed-line-new-id "exit status $rc_a and $rc_b: $(tail -n 2 "$tmp/produce-b.log" | tr '\n' ' ')"
fi

finish
