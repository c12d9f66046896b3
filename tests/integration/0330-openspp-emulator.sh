#!/usr/bin/env bash
# 0330-openspp-emulator: the openSPP REST API v1 emulator (imislink-openspp)
# against contracts/openspp.md, with curl:
#   - HTTP Basic: missing, wrong password, unknown user, malformed -> 401
#     with FastAPI's {"detail": ...} and WWW-Authenticate: Basic;
#   - GET /individual/{id} (individual 66 as the seed's sample answers it),
#     unknown id 400 "Record is not present in the database.", a group's id
#     is no individual, a non-integer id 422;
#   - GET /individual?name= (case-sensitive substring), ?_id=, both, neither
#     (everything, no pagination);
#   - GET /group/{id} with members and kinds, /group?include_members_full=;
#   - the known defects on by default, --no-defects answering whole records;
#   - --generate N --seed S deterministic; /_emu/requests, /_emu/reset,
#     /_emu/state, /metrics, /healthz.
# Needs: nothing but the emulator binary.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD

emu=$BUILD/bin/imislink-openspp
tmp=$IL_TEST_TMP/0330-openspp-emulator
reg=tests/data/openspp/registry.json
mkdir -p "$tmp"
if [ ! -x "$emu" ]; then
	FAIL openspp-emulator "\"$emu\" is missing: run make"
	finish
fi

API=/api/v1/registry
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

# start_emu NAME ARGS...: starts an emulator; its base URL goes to
# $tmp/NAME.url.  Returns 1 when it does not come up.
start_emu() {
	local name=$1
	shift
	rm -f "$tmp/$name.port"
	"$emu" --port 0 --port-file "$tmp/$name.port" "$@" 2>"$tmp/$name.log" &
	PIDS+=($!)
	if ! wait_until 20 test -s "$tmp/$name.port"; then
		return 1
	fi
	echo "http://127.0.0.1:$(cat "$tmp/$name.port")" >"$tmp/$name.url"
}

# req PATH [CURL ARGS...]: one GET to $BASE with $AUTH (user:password, when
# set).  Sets $status; the body lands in $tmp/out, the headers in $tmp/hdr.
req() {
	local path=$1
	local args=(-sS -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' --max-time 20)
	shift
	[ -n "${AUTH:-}" ] && args+=(-u "$AUTH")
	: >"$tmp/out"
	: >"$tmp/hdr"
	status=$(curl "${args[@]}" "$@" "$BASE$path" 2>"$tmp/curl.err")
}

# expect NAME STATUS PYTHON: PASS when $status is STATUS and the Python
# check (d = the parsed body) holds; keeps a copy of the body as NAME.json.
expect() {
	local name=$1 want=$2 code=$3 out
	cp "$tmp/out" "$tmp/$name.json"
	if [ "$status" != "$want" ]; then
		FAIL "$name" "status $status, expected $want: $(head -c 300 "$tmp/out")"
		return
	fi
	if out=$(python3 - "$tmp/out" "$tmp/hdr" 2>&1 <<PY
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
hdr = open(sys.argv[2]).read().lower()
$code
PY
	); then
		PASS "$name"
	else
		FAIL "$name" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

if ! start_emu d --registry "$reg" --user spp-api --password 's3cret:x' ||
   ! start_emu f --registry "$reg" --user spp-api --password 's3cret:x' --no-defects ||
   ! start_emu g --generate 40 --seed 7; then
	FAIL openspp-emulator-start "the emulator did not come up: $(cat "$tmp"/*.log | tail -n 5)"
	finish
fi

# ---- authentication ----
BASE=$(cat "$tmp/d.url")
AUTH=
req "$API/individual/66"
expect auth-missing 401 'assert d == {"detail": "Not authenticated"}, d
assert "www-authenticate: basic" in hdr, hdr'
AUTH='spp-api:wrong'
req "$API/individual/66"
expect auth-wrong-password 401 'assert d == {"detail": "Incorrect username or password"}, d
assert "www-authenticate: basic" in hdr, hdr'
AUTH='nobody:s3cret:x'
req "$API/individual"
expect auth-unknown-user 401 'assert d == {"detail": "Incorrect username or password"}, d'
AUTH=
req "$API/group/65" -H 'Authorization: Basic %%%notbase64'
expect auth-malformed 401 'assert d["detail"] in ("Invalid authentication credentials",), d'
req "$API/group/65" -H 'Authorization: Bearer abc'
expect auth-bearer 401 'assert d == {"detail": "Not authenticated"}, d'

# ---- individuals, defects on (default) ----
AUTH='spp-api:s3cret:x'
req "$API/individual/66"
expect individual-66-as-sample 200 'want = json.load(open("tests/data/openspp/individual-66.json", encoding="utf-8"))
assert d == want, (d, want)
assert list(d) == list(want), list(d)'
req "$API/individual/999"
expect individual-unknown 400 'assert d == {"detail": "Record is not present in the database."}, d'
req "$API/individual/65"
expect individual-group-id-is-unknown 400 'assert d == {"detail": "Record is not present in the database."}, d'
req "$API/individual/abc"
expect individual-non-integer 422 'assert d["detail"][0]["loc"] == ["path", "_id"], d'
req "$API/individual"
expect individual-all 200 'reg = json.load(open("tests/data/openspp/registry.json", encoding="utf-8"))
assert [r["id"] for r in d] == [r["id"] for r in reg["individuals"]], d
assert len(d) == 24, len(d)'
json_check individual-defects-everywhere "$tmp/individual-all.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for r in d:
    for k in ("gender", "birthdate", "addl_name", "birth_place", "email", "address"):
        assert r[k] is None, (r["id"], k, r[k])
    assert r["ids"] == [] and r["phone_numbers"] == [], r
    assert r["age"] == "No Birthdate!", r
    assert r["is_group"] is False and r["name"] and r["given_name"] and r["family_name"], r
PY
req "$API/individual?name=MWANGI"
expect individual-name-upper 200 'assert sorted(r["name"] for r in d) == ["MWANGI, AMANI", "MWANGI, BRIAN", "MWANGI, GRACE WANJIKU"], d'
req "$API/individual?name=Mwangi"
expect individual-name-case-sensitive 200 'assert [r["name"] for r in d] == ["Mwangi, Peter"], d'
req "$API/individual?name=mwangi"
expect individual-name-no-match 200 'assert d == [], d'
req "$API/individual?name=%2C%20JO"
expect individual-name-substring 200 'assert sorted(r["name"] for r in d) == ["KAMAU, JOY", "MUÑOZ, JOSÉ IGNACIO", "OTIENO, JOSEPH"], d'
req "$API/individual?name=NGUY%E1%BB%84N"
expect individual-name-non-ascii 200 'assert len(d) == 2 and all(r["family_name"] == "NGUYỄN" for r in d), d'
req "$API/individual?_id=66"
expect individual-by-_id 200 'assert [r["id"] for r in d] == [66], d'
req "$API/individual?_id=66&name=OTIENO"
expect individual-_id-and-name 200 'assert d == [], d'
req "$API/individual?_id=999"
expect individual-_id-unknown 200 'assert d == [], d'
req "$API/individual?_id=x"
expect individual-_id-non-integer 422 'assert d["detail"][0]["loc"] == ["query", "_id"], d'

# ---- groups ----
req "$API/group/65"
expect group-by-id 200 'assert d["id"] == 65 and d["name"] == "MWANGI household" and d["is_group"] is True, d
assert d["ids"] == [] and d["phone_numbers"] == [] and d["email"] is None and d["address"] is None, d
assert [(m["id"], m["name"], m["kind"]) for m in d["members"]] == [(66, "MWANGI, AMANI", [{"name": "Head"}]), (67, "MWANGI, GRACE WANJIKU", [{"name": "Child"}]), (68, "MWANGI, BRIAN", [{"name": "Child"}])], d["members"]'
req "$API/group/66"
expect group-unknown 400 'assert d == {"detail": "Record is not present in the database."}, d'
req "$API/group"
expect group-all 200 'assert len(d) == 10 and all(g["is_group"] for g in d), d
assert sum(len(g["members"]) for g in d) == 23, d'
req "$API/group?name=household&include_members_full=true"
expect group-members-full 200 'assert len(d) == 10, d
m = d[0]["members"][0]
assert m["id"] == 66 and m["gender"] is None and m["age"] == "No Birthdate!" and m["kind"] == [{"name": "Head"}], m'
req "$API/group?_id=69&include_members_full=false"
expect group-members-short 200 'assert [g["id"] for g in d] == [69] and set(d[0]["members"][0]) == {"id", "name", "kind"}, d'
req "$API/group?include_members_full=maybe"
expect group-bad-bool 422 'assert d["detail"][0]["loc"] == ["query", "include_members_full"], d'

# ---- defects off ----
BASE=$(cat "$tmp/f.url")
req "$API/individual/66"
expect no-defects-individual 200 'reg = json.load(open("tests/data/openspp/registry.json", encoding="utf-8"))
want = [r for r in reg["individuals"] if r["id"] == 66][0]
for k, v in want.items():
    assert d[k] == v, (k, d[k], v)
assert d["gender"] == "Female" and d["birthdate"] == "1988-02-11" and d["ids"][0]["value"] == "NID-00066", d
assert d["age"].isdigit() and 30 <= int(d["age"]) <= 120, d["age"]'
req "$API/individual?name=MWANGI%2C%20BRIAN"
expect no-defects-no-birthdate 200 'assert len(d) == 1 and d[0]["birthdate"] is None and d[0]["age"] == "No Birthdate!" and d[0]["gender"] == "Male", d'
req "$API/group/65?include_members_full=true"
expect no-defects-group 200 'assert d["ids"][0]["value"] == "HH-0065" and d["address"] == "Kondele, Kisumu", d'
req "$API/group?_id=65&include_members_full=1"
expect no-defects-members-full 200 'assert d[0]["members"][0]["gender"] == "Female" and d[0]["members"][0]["ids"], d'

# ---- generated registry ----
BASE=$(cat "$tmp/g.url")
AUTH='admin:admin'
req "$API/individual"
expect generated-count 200 'assert len(d) == 40 and len({r["id"] for r in d}) == 40, len(d)'
if "$emu" --generate 40 --seed 7 --dump >"$tmp/gen1.json" &&
   "$emu" --generate 40 --seed 7 --dump >"$tmp/gen2.json" &&
   "$emu" --generate 40 --seed 8 --dump >"$tmp/gen3.json" &&
   cmp -s "$tmp/gen1.json" "$tmp/gen2.json" && ! cmp -s "$tmp/gen1.json" "$tmp/gen3.json"; then
	PASS generated-deterministic
else
	FAIL generated-deterministic "--generate 40 --seed 7 differs between runs or equals seed 8"
fi
req "$API/group"
expect generated-households 200 'assert d and all(g["members"] and g["members"][0]["kind"] == [{"name": "Head"}] for g in d), d
assert sum(len(g["members"]) for g in d) == 40, d'

# ---- /_emu/, /metrics, /healthz ----
BASE=$(cat "$tmp/d.url")
AUTH=
req /_emu/requests
expect emu-requests 200 'r = d["requests"]
assert r[0]["status"] == 401 and r[0]["user"] is None and r[0]["path"] == "/api/v1/registry/individual/66", r[0]
assert r[1]["status"] == 401 and r[1]["user"] == "spp-api", r[1]
assert any(x["status"] == 200 and x["user"] == "spp-api" for x in r), r
assert d["next"] == len(r) == r[-1]["seq"], d'
req /_emu/state
expect emu-state 200 'assert d == {"individuals": 24, "groups": 10, "defects": True}, d'
req /_emu/reset -X POST
expect emu-reset 200 'assert d == {"ok": True}, d'
req /_emu/requests
expect emu-requests-after-reset 200 'assert d["requests"] == [] and d["next"] == 0, d'
req /metrics
if [ "$status" = 200 ] && grep -q '^imislink_emu_openspp_requests_total{class="individual",status="200"}' "$tmp/out"; then
	PASS metrics
else
	FAIL metrics "status $status, no imislink_emu_openspp_requests_total: $(head -c 300 "$tmp/out")"
fi
req /healthz
expect healthz 200 'assert d["status"] == "ok", d'

# ---- bad command lines ----
echo '{"individuals": [{"id": 1, "name": "A"}, {"id": 1, "name": "B"}]}' >"$tmp/dup.json"
if ! "$emu" --registry "$tmp/dup.json" --dump >/dev/null 2>"$tmp/dup.err" && grep -q 'id 1 is used twice' "$tmp/dup.err"; then
	PASS registry-duplicate-refused
else
	FAIL registry-duplicate-refused "$(cat "$tmp/dup.err")"
fi
if ! "$emu" --registry "$tmp/missing.json" --dump >/dev/null 2>"$tmp/miss.err" && grep -q 'missing.json' "$tmp/miss.err"; then
	PASS registry-missing-refused
else
	FAIL registry-missing-refused "$(cat "$tmp/miss.err")"
fi

# ---- clean exit: SIGTERM stops every emulator with status 0 and no
# sanitizer report (under SAN=1 a leak or a memory error would show here) ----
bad=
for p in "${PIDS[@]}"; do
	kill "$p" 2>/dev/null
	wait "$p" || bad="$bad $p:$?"
done
PIDS=()
if [ -z "$bad" ] && ! grep -l 'Sanitizer\|runtime error' "$tmp"/*.log >/dev/null 2>&1; then
	PASS clean-exit
else
	FAIL clean-exit "exit statuses:${bad:- ok}; $(grep -h 'Sanitizer\|runtime error' "$tmp"/*.log | head -n 3)"
fi

finish
