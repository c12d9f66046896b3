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
#     published; an unreachable server exits 1;
#   - --dci: token then /registry/sync/search page by page (pages of 5 and
#     7), a token refused mid-pull renewed, every record published once with
#     gender/birthdate the REST API loses, the record without an ID refused
#     with its reason, the same event ids again, a birthdate range, a wrong
#     client secret and an rjct answer fatal with nothing published.
# Needs: Kafka (KAFKA_BOOTSTRAP_SERVERS), the emulator binary.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD KAFKA_BOOTSTRAP_SERVERS

emu=$BUILD/bin/imislink-openspp
tool=$BUILD/bin/imislink
tmp=$IL_TEST_TMP/0350-pull
reg=tests/data/openspp/registry.json
mkdir -p "$tmp"
require_built pull "$emu" "$tool"

trap emulators_stop EXIT

# start_emu NAME ARGS...: starts an emulator (user imislink, password s3cret);
# its base URL goes to $tmp/NAME.url.
start_emu() {
	emulator_start "$tmp" "$1" "$emu" --registry "$reg" --user imislink --password s3cret "${@:2}"
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

# pull_to TOPIC NAME EMU [PASSWORD] -- ARGS...: runs `imislink pull -t TOPIC
# ARGS` against emulator EMU; receipts in $tmp/NAME.out, stderr in
# $tmp/NAME.err, the exit status in $rc.
pull_to() {
	local topic=$1 name=$2 emuname=$3 pw=s3cret
	shift 3
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

# pull NAME EMU [PASSWORD] -- ARGS...: pull_to $topic, through the REST API.
pull() {
	pull_to "$topic" "$@"
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

# ---- DCI: the same pull through /registry/sync/search ----
topic2=$(make_topic_name v-pull-dci)
if ! start_emu dci --dci-client imislink:s3cret --dci-keep-unidentified --dci-token-uses 2 ||
   ! start_emu dcirjct --dci-client imislink:s3cret; then
	FAIL pull-dci-emulator "the emulator did not start: $(tail -n 3 "$tmp"/dci*.log | tr '\n' ' ')"
	finish
fi
if ! create_topic "$topic2" 3; then
	FAIL pull-dci-topic "could not create topic \"$topic2\""
	finish
fi
# dcipull NAME EMU [SECRET] -- ARGS...: `imislink pull --dci` into $topic2.
dcipull() {
	pull_to "$topic2" "$@" --dci
}

# Pages of 5 over 24 individuals (98 has no ID: kept by this emulator, as a
# registry other than openSPP may do), with a token refused after every two
# searches: renewed, and the pull goes on.
dcipull dci-all dci -- --all --page-size 5
json_check pull-dci-all "$tmp/dci-all.out" "$rc" "$tmp/dci-all.err" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "2", "exit %s, expected 2 (one record without an ID): %s" % (sys.argv[2], open(sys.argv[3]).read()[-500:])
pub = [x for x in r if x["status"] == "published"]
ref = [x for x in r if x["status"] != "published"]
assert len(pub) == 23 and len(r) == 24, (len(pub), ref)
assert all(x["registrant"] is None for x in r), r
assert sorted(x["record"] for x in r) == sorted("%d/%d" % (p, i) for p in range(1, 6) for i in range(1, 6) if (p - 1) * 5 + i <= 24), r
assert len(ref) == 1 and ref[0]["status"] == "refused" and ref[0]["record"] == "5/4", ref
assert 'no ID of type "National ID"' in ref[0]["reason"] and "no openSPP id" in ref[0]["reason"], ref
assert len({x["event_id"] for x in pub}) == 23
PY

(cd "$tmp" && curl -sS "$(cat dci.url)/_emu/requests" >dci-requests.json)
json_check pull-dci-paging-and-token-renewal "$tmp/dci-requests.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["requests"]
seq = [(x["path"].rsplit("/", 1)[1], x["status"]) for x in r]
# a token, two searches, a refusal, a new token, ...: five pages in all
assert seq[0] == ("token", 200), seq
assert [s for s in seq if s == ("search", 200)] == [("search", 200)] * 5, seq
assert ("search", 401) in seq and seq.count(("token", 200)) == 3, seq
assert all(x["user"] == "imislink" for x in r if x["status"] == 200), r
PY

"$tool" -b "$KAFKA_BOOTSTRAP_SERVERS" consume -t "$topic2" -o beginning -e >"$tmp/dci-consumed.out" 2>"$tmp/dci-consumed.err"
json_check pull-dci-read-back "$tmp/dci-consumed.out" "$tmp/dci-all.out" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
pub = {x["event_id"]: x for x in (json.loads(l) for l in open(sys.argv[2])) if x["status"] == "published"}
assert len(msgs) == 23 == len(pub), "%d messages, expected 23 (each published once)" % len(msgs)
assert {m["value"]["event_id"] for m in msgs} == set(pub), "event ids differ from the receipts"
keys = sorted(m["key"] for m in msgs)
assert len(set(keys)) == 23 and all(k.startswith("NID-000") for k in keys), keys
for m in msgs:
    v = m["value"]
    s = v["source"]
    assert s["kind"] == "POLL" and s["position"].startswith("dci:individual:") and len(s["position"]) == 47, s
    assert "NID" not in s["position"] and s["primary_key"] is None, s
    assert v["programme"]["id"] == 2 and v["programme"]["name"] == "Elderly cash transfer", v["programme"]
    assert (m["partition"], m["offset"]) == (pub[v["event_id"]]["partition"], pub[v["event_id"]]["offset"])
by = {m["key"]: m["value"]["registrant"] for m in msgs}
# what the REST API loses, DCI gives
assert by["NID-00066"]["gender"] == "Female" and by["NID-00066"]["birthdate"] == "1988-02-11", by["NID-00066"]
assert by["NID-00068"]["birthdate"] is None and by["NID-00068"]["gender"] == "Male", by["NID-00068"]
r68 = [x for x in pub.values() if x["event_id"] in {m["value"]["event_id"] for m in msgs if m["key"] == "NID-00068"}][0]
assert r68["unknown"] == ["birthdate"], r68
PY

dcipull dci-again dci -- --all --page-size 7
json_check pull-dci-same-ids "$tmp/dci-all.out" "$tmp/dci-again.out" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
ids = lambda r: sorted(x["event_id"] for x in r if x["status"] == "published")
assert len(ids(a)) == 23 and ids(a) == ids(b), "a second pull (other pages) gave other event ids"
PY

dcipull dci-range dcirjct -- --birthdate-from 1980-01-01 --birthdate-to 1989-12-31 --dry-run
json_check pull-dci-birthdate-range "$tmp/dci-range.out" "$rc" "$reg" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
reg = json.load(open(sys.argv[3], encoding="utf-8"))
want = [i for i in reg["individuals"] if i.get("ids") and i["birthdate"] and "1980-01-01" <= i["birthdate"] <= "1989-12-31"]
assert sys.argv[2] == "0", "exit %s" % sys.argv[2]
assert len(r) == len(want) > 0 and all(x["status"] == "checked" for x in r), (r, len(want))
PY

dcipull dci-badsecret dci wrong -- --all
json_check pull-dci-bad-secret "$tmp/dci-badsecret.out" "$tmp/dci-badsecret.err" "$rc" <<'PY'
import sys
assert sys.argv[3] == "1", "exit %s, expected 1" % sys.argv[3]
assert open(sys.argv[1]).read() == "", "receipts printed"
err = open(sys.argv[2]).read()
assert "HTTP 401" in err and "Invalid client id or secret." in err and '\\"imislink\\"' in err, err
PY

dcipull dci-rjct dcirjct -- --all --reg-type ns:org:RegistryType:Farmer
json_check pull-dci-rjct "$tmp/dci-rjct.out" "$tmp/dci-rjct.err" "$rc" <<'PY'
import sys
assert sys.argv[3] == "1", "exit %s, expected 1" % sys.argv[3]
assert open(sys.argv[1]).read() == "", "receipts printed"
err = open(sys.argv[2]).read()
assert "rjct.search_criteria.invalid" in err and "SPP:RegistryType:Individual" in err, err
PY

# openSPP leaves individuals without IDs out altogether: nothing to refuse.
dcipull dci-openspp dcirjct -- --all --dry-run
json_check pull-dci-openspp-drops-unidentified "$tmp/dci-openspp.out" "$rc" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert sys.argv[2] == "0" and len(r) == 23 and all(x["status"] == "checked" for x in r), (sys.argv[2], r)
PY

"$tool" -b "$KAFKA_BOOTSTRAP_SERVERS" consume -t "$topic2" -o beginning -e >"$tmp/dci-consumed2.out" 2>/dev/null
json_check pull-dci-nothing-more "$tmp/dci-consumed2.out" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
# the second pull repeated the 23 events with the same ids; refusals, dry runs
# and rejected runs published nothing
assert len(msgs) == 46 and len({m["value"]["event_id"] for m in msgs}) == 23, len(msgs)
PY

finish
