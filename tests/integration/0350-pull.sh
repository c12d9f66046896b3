#!/usr/bin/env bash
# 0350-pull: `imislink pull` against the openSPP REST API emulator
# (imislink-openspp) and the real Kafka broker:
#   - defects on (the emulator's default): --id 66 refused with the defect
#     reason; --all refuses every record, nothing published (exit 2);
#   - --no-defects: --all publishes every individual that has a National ID
#     and refuses the one that has none (98) unless --allow-missing ids; the
#     events read back with `imislink consume -e` (kind POLL, position
#     api:individual:N, the programme); a second pull gives the same ids;
#   - --name is case-sensitive; an unknown id is "no such registrant";
#   - a wrong password is fatal (exit 1, message naming the user), nothing
#     published; an unreachable server exits 1.
# Needs: Kafka (KAFKA_BOOTSTRAP_SERVERS), the emulator binary.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD KAFKA_BOOTSTRAP_SERVERS

emu=$BUILD/bin/imislink-openspp
tool=$BUILD/bin/imislink
tmp=$IL_TEST_TMP/0350-pull
reg=tests/data/openspp/registry.json
mkdir -p "$tmp"
for b in "$emu" "$tool"; do
	if [ ! -x "$b" ]; then
		FAIL pull "\"$b\" is missing: run make"
		finish
	fi
done

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
}
trap cleanup EXIT

# start_emu NAME ARGS...: starts an emulator (user imislink, password s3cret);
# its base URL goes to $tmp/NAME.url.
start_emu() {
	local name=$1
	shift
	rm -f "$tmp/$name.port"
	"$emu" --port 0 --port-file "$tmp/$name.port" --registry "$reg" --user imislink --password s3cret \
		"$@" 2>"$tmp/$name.log" &
	PIDS+=($!)
	wait_until 20 test -s "$tmp/$name.port" || return 1
	echo "http://127.0.0.1:$(cat "$tmp/$name.port")" >"$tmp/$name.url"
}

topic=$(make_topic_name v-pull)
if ! start_emu defects || ! start_emu whole --no-defects; then
	FAIL pull-emulator "the emulator did not start: $(tail -n 3 "$tmp"/*.log | tr '\n' ' ')"
	finish
fi
if ! create_topic "$topic" 3; then
	FAIL pull-topic "could not create topic \"$topic\""
	finish
fi

# pull NAME EMU [PASSWORD] -- ARGS...: runs `imislink pull ARGS` against
# emulator EMU; receipts in $tmp/NAME.out, stderr in $tmp/NAME.err, the exit
# status in $rc.
pull() {
	local name=$1 emuname=$2 pw=s3cret
	shift 2
	if [ "$1" != "--" ]; then
		pw=$1
		shift
	fi
	shift
	OPENSPP_API_PASSWORD=$pw "$tool" -b "$KAFKA_BOOTSTRAP_SERVERS" \
		--set "openspp.api.url=$(cat "$tmp/$emuname.url")" --set openspp.api.username=imislink \
		pull -t "$topic" --programme-id 2 --programme-name "Elderly cash transfer" "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}

# Defects on: individual 66 as the seed's sample answer shows it.
pull defect-66 defects -- --id 66
json_check pull-defect-66 "$tmp/defect-66.out" "$rc" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "2", "exit %s, expected 2" % sys.argv[2]
assert len(r) == 1 and r[0]["registrant"] == 66 and r[0]["status"] == "refused", r
assert "known defect of g2p_registry_rest_api" in r[0]["reason"], r[0]["reason"]
assert "null gender/birthdate and no IDs" in r[0]["reason"], r[0]["reason"]
PY

pull defect-all defects -- --all
json_check pull-defect-all "$tmp/defect-all.out" "$rc" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "2", "exit %s, expected 2" % sys.argv[2]
assert len(r) == 24, "%d receipts, expected 24" % len(r)
assert all(x["status"] == "refused" and "known defect" in x["reason"] for x in r), r
assert len({x["registrant"] for x in r}) == 24
PY

# Whole records: every individual with a National ID is published.
pull whole-all whole -- --all
json_check pull-whole-all "$tmp/whole-all.out" "$rc" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "2", "exit %s, expected 2 (98 has no ID)" % sys.argv[2]
pub = [x for x in r if x["status"] == "published"]
ref = [x for x in r if x["status"] != "published"]
assert len(pub) == 23, "%d published: %s" % (len(pub), ref)
assert len(ref) == 1 and ref[0]["registrant"] == 98 and ref[0]["status"] == "refused", ref
assert 'no ID of type "National ID"' in ref[0]["reason"], ref[0]
assert all(len(x["event_id"]) == 64 for x in pub)
b = {x["registrant"]: x for x in pub}
assert "birthdate" in b[68]["unknown"] and "gender" not in b[68]["unknown"], b[68]
PY

pull whole-98 whole -- --id 98 --allow-missing ids
json_check pull-allow-missing-ids "$tmp/whole-98.out" "$rc" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "0", "exit %s, expected 0" % sys.argv[2]
assert len(r) == 1 and r[0]["status"] == "published" and r[0]["unknown"][0] == "ids", r
PY

"$tool" -b "$KAFKA_BOOTSTRAP_SERVERS" consume -t "$topic" -o beginning -e >"$tmp/consumed.out" 2>"$tmp/consumed.err"
json_check pull-read-back "$tmp/consumed.out" "$tmp/whole-all.out" "$tmp/whole-98.out" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
pub = [json.loads(l) for f in sys.argv[2:] for l in open(f)]
pub = {x["event_id"]: x for x in pub if x["status"] == "published"}
assert len(msgs) == 24, "%d messages, expected 24" % len(msgs)
for m in msgs:
    v = m["value"]
    x = pub[v["event_id"]]
    s = v["source"]
    assert s["kind"] == "POLL" and s["position"] == "api:individual:%d" % x["registrant"], s
    assert s["primary_key"] == str(x["registrant"]), s
    assert v["programme"]["id"] == 2 and v["programme"]["name"] == "Elderly cash transfer", v["programme"]
    assert v["registrant"]["source_id"] == x["registrant"]
    want = "openspp:res_partner:98" if x["registrant"] == 98 else "NID-%05d" % x["registrant"]
    assert m["key"] == want, (m["key"], want)
    assert (m["partition"], m["offset"]) == (x["partition"], x["offset"])
r66 = [m["value"]["registrant"] for m in msgs if m["value"]["registrant"]["source_id"] == 66][0]
assert r66["gender"] == "Female" and r66["birthdate"] == "1988-02-11", r66
PY

# Pulled again: the same event ids.
pull whole-again whole -- --all
json_check pull-same-ids "$tmp/whole-all.out" "$tmp/whole-again.out" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
ids = lambda r: {x["registrant"]: x["event_id"] for x in r if x["status"] == "published"}
assert len(ids(a)) == 23 and ids(a) == ids(b), (ids(a), ids(b))
PY

# The name is matched case-sensitively, as the API does.
pull name-upper whole -- --name MWANGI
pull name-lower whole -- --name Mwangi --allow-missing ids
json_check pull-name-case "$tmp/name-upper.out" "$tmp/name-lower.out" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
assert sorted(x["registrant"] for x in a) == [66, 67, 68], a
assert [x["registrant"] for x in b] == [98], b
assert all(x["status"] == "published" for x in a + b), a + b
PY

pull unknown whole -- --id 999 --id 66
json_check pull-unknown-id "$tmp/unknown.out" "$rc" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "2", "exit %s, expected 2" % sys.argv[2]
s = {x["registrant"]: x for x in r}
assert s[999]["status"] == "refused" and s[999]["reason"] == "no such registrant", r
assert s[66]["status"] == "published", r
PY

pull wrong-pw whole wrong -- --all
json_check pull-wrong-password "$tmp/wrong-pw.out" "$tmp/wrong-pw.err" "$rc" <<'PY'
import sys
assert sys.argv[3] == "1", "exit %s, expected 1" % sys.argv[3]
assert open(sys.argv[1]).read() == "", "receipts printed"
err = open(sys.argv[2]).read()
assert "HTTP 401" in err and '\\"imislink\\"' in err and "openspp.api.password" in err, err
PY

echo "http://127.0.0.1:9" >"$tmp/down.url"
pull down down -- --id 66
json_check pull-unreachable "$tmp/down.err" "$rc" <<'PY'
import sys
assert sys.argv[2] == "1", "exit %s, expected 1" % sys.argv[2]
assert "could not get" in open(sys.argv[1]).read()
PY

finish
