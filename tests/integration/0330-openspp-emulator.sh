#!/usr/bin/env bash
# 0330-openspp-emulator: the openSPP emulator (imislink-openspp) against
# contracts/openspp.md, with curl (REST) and urllib (DCI):
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
#     /_emu/state, /metrics, /healthz;
#   - DCI (openSPP 17's spp_dci_api_server): /oauth2/client/token and its
#     errors as openSPP answers them; /registry/sync/search without a token,
#     with a bad one; birthdate predicates, idtype-value, records as openSPP
#     renders them (birthDate "False", individuals without IDs dropped or,
#     with --dci-keep-unidentified, kept); pagination up to total_count, no
#     entry for a page past the end; rjct codes of the header and of each
#     search; err.request.bad in an ERR acknowledgement.
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
trap emulators_stop EXIT

# start_emu NAME ARGS...: starts an emulator; its base URL goes to
# $tmp/NAME.url.  Returns 1 when it does not come up.
start_emu() {
	emulator_start "$tmp" "$1" "$emu" "${@:2}"
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

# ---- DCI: openSPP 17's spp_dci_api_server, SPDCI envelope ----
if ! start_emu x --registry "$reg" --dci-client imislink:s3cret --db-name spp17 --dci-max-records 10 \
	--dci-max-page-size 50 ||
   ! start_emu k --registry "$reg" --dci-client imislink:s3cret --db-name spp17 --dci-keep-unidentified; then
	FAIL dci-emulator-start "the emulator did not come up: $(tail -n 5 "$tmp"/x.log "$tmp"/k.log)"
else
	# Every check runs in one Python program (urllib, real HTTP); its
	# verdicts come back as lines "PASS name" / "FAIL name: reason".
	python3 - "$(cat "$tmp/x.url")" "$(cat "$tmp/k.url")" "$reg" >"$tmp/dci.results" 2>"$tmp/dci.err" <<'PY'
import json, sys, urllib.request, urllib.error, uuid

X, K, REG = sys.argv[1:4]
reg = json.load(open(REG, encoding="utf-8"))
inds = sorted(reg["individuals"], key=lambda r: r["id"])
withid = [r for r in inds if r.get("ids")]

def post(base, path, body, token=None, raw=False):
    data = body if raw else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    if token is not None:
        req.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

def check(name, fn):
    try:
        fn()
        print("PASS " + name)
    except Exception as e:  # noqa: BLE001 - every failure is a verdict
        print("FAIL %s: %r" % (name, e))

CRED = {"client_id": "imislink", "client_secret": "s3cret", "grant_type": "client_credentials",
        "db_name": "spp17"}

def token(base=X):
    st, d = post(base, "/oauth2/client/token", CRED)
    assert st == 200 and d["token_type"] == "Bearer" and d["access_token"], (st, d)
    return "Bearer " + d["access_token"]

def envelope(criteria_list, **hdr):
    h = {"version": "1.0.0", "message_id": str(uuid.uuid4()), "message_ts": "2025-01-31T10:00:00Z",
         "action": "search", "sender_id": "imislink", "total_count": len(criteria_list)}
    h.update(hdr)
    reqs = []
    for i, c in enumerate(criteria_list):
        if "reference_id" in c:
            reqs.append(c)
            continue
        reqs.append({"reference_id": "r%d" % i, "timestamp": "2025-01-31T10:00:00Z", "search_criteria": c})
    return {"signature": None, "header": h, "message": {"transaction_id": "t-1", "search_request": reqs}}

def pred(*exprs, page=None):
    c = {"version": "1.0.0", "reg_type": "SPP:RegistryType:Individual", "query_type": "predicate",
         "query": [{"expression1": {"attribute_name": a, "operator": o, "attribute_value": v}} for a, o, v in exprs]}
    if page is not None:
        c["pagination"] = page
    return c

def search(criteria_list, tok, base=X, **hdr):
    return post(base, "/registry/sync/search", envelope(criteria_list, **hdr), tok)

def records(d, ref="r0"):
    items = [i for i in d["message"]["search_response"] if i["reference_id"] == ref]
    return items[0] if items else None

TOK = None

def t_token():
    global TOK
    TOK = token()
check("dci-token", t_token)

def t_token_errors():
    st, d = post(X, "/oauth2/client/token", dict(CRED, client_secret="wrong"))
    assert st == 401 and d == {"error": "Unauthorized", "error_description": "Invalid client id or secret."}, (st, d)
    st, d = post(X, "/oauth2/client/token", dict(CRED, db_name=""))
    assert st == 400 and d["error_description"] == "db_name is required.", (st, d)
    st, d = post(X, "/oauth2/client/token", dict(CRED, db_name="other"))
    assert st == 404 and d["error_description"] == "DB not found.", (st, d)
    st, d = post(X, "/oauth2/client/token", {"db_name": "spp17"})
    assert st == 400 and "client_id, client_secret, and grant_type" in d["error_description"], (st, d)
    st, d = post(X, "/oauth2/client/token", b"not json", raw=True)
    assert st == 400 and d["error_description"] == "data must be in JSON format.", (st, d)
check("dci-token-errors", t_token_errors)

def t_auth():
    st, d = search([pred()], None)
    assert st == 401 and d == {"error": "Unauthorized", "error_description": "Your token could not be authenticated."}, (st, d)
    st, d = search([pred()], TOK + "x")
    assert st == 401 and d == {"error": {"code": 401, "message": "Invalid Access Token."}}, (st, d)
    st, d = search([pred()], token(K))  # signed by another server's key
    assert st == 401 and d["error"]["message"] == "Invalid Access Token.", (st, d)
check("dci-bad-token", t_auth)

def t_predicate():
    st, d = search([pred(("birthdate", "ge", "1990-01-01"))], TOK)
    assert st == 200 and d["header"]["status"] == "succ" and d["header"]["action"] == "on-search", d["header"]
    assert d["header"]["total_count"] == 1 and d["header"]["completed_count"] == 1, d["header"]
    want = [r["ids"][0]["value"] for r in withid if r["birthdate"] and r["birthdate"] >= "1990-01-01"]
    got = [x["identifier"][0]["identifier"] for x in records(d)["data"]["reg_records"]]
    assert got == want, (got, want)
    it = records(d)
    assert it["status"] == "succ" and it["data"]["reg_type"] == "SPP:RegistryType:Individual", it
    assert d["message"]["transaction_id"] == "t-1" and d["message"]["correlation_id"], d["message"]
check("dci-predicate-birthdate", t_predicate)

def t_record_shape():
    st, d = search([pred(("birthdate", "eq", "1988-02-11"))], TOK)
    recs = records(d)["data"]["reg_records"]
    assert recs == [{"identifier": [{"name": "National ID", "identifier": "NID-00066"}], "birthDate": "1988-02-11",
                     "givenName": "AMANI", "familyName": "MWANGI", "sex": "female", "birthPlace": "Kisumu"}], recs
check("dci-record-as-openspp", t_record_shape)

def t_idtype():
    c = {"reg_type": "SPP:RegistryType:Individual", "query_type": "idtype-value",
         "query": {"type": "National ID", "value": "NID-00068"}}
    st, d = search([c], TOK)
    recs = records(d)["data"]["reg_records"]
    assert len(recs) == 1 and recs[0]["birthDate"] == "False" and recs[0]["sex"] == "male", recs
check("dci-idtype-value-and-no-birthdate", t_idtype)

def t_paging():
    got, total, page = [], None, 1
    while True:
        st, d = search([pred(page={"page_size": 5, "page_number": page})], TOK)
        it = records(d)
        if it is None:
            break
        assert it["pagination"]["page_size"] == 5 and it["pagination"]["page_number"] == page, it["pagination"]
        total = it["pagination"]["total_count"]
        got += [x["identifier"][0]["identifier"] for x in it["data"]["reg_records"]]
        page += 1
    assert total == len(withid) == 23 and page == 6, (total, page)
    assert got == [r["ids"][0]["value"] for r in withid], got
check("dci-paging-no-entry-past-the-end", t_paging)

def t_keep():
    st, d = search([pred(("birthdate", "eq", "1990-01-01"))], token(K), base=K)
    recs = records(d)["data"]["reg_records"]
    assert [r["identifier"] for r in recs] == [[]], recs
    st, d = search([pred(("birthdate", "eq", "1990-01-01"))], TOK)
    assert records(d) is None, d  # openSPP drops individuals without IDs
check("dci-unidentified-dropped-or-kept", t_keep)

def item_code(crit, code):
    def fn():
        st, d = search(crit, TOK)
        assert st == 200 and d["header"]["status"] == "succ", (st, d)
        it = d["message"]["search_response"][-1]
        assert it["status"] == "rjct" and it["status_reason_code"] == code, it
    return fn

bad_reg = pred(); bad_reg["reg_type"] = "ns:org:RegistryType:Farmer"
check("dci-rjct-reg-type", item_code([bad_reg], "rjct.search_criteria.invalid"))
check("dci-rjct-attribute", item_code([pred(("poverty_score", "lt", "5"))], "rjct.search_criteria.invalid"))
check("dci-rjct-operator", item_code([pred(("birthdate", "ne", "1990-01-01"))], "rjct.search_criteria.invalid"))
check("dci-rjct-date", item_code([pred(("birthdate", "ge", "01/01/1990"))], "rjct.search_criteria.invalid"))
expr = pred(); expr["query_type"] = "expression"
check("dci-rjct-query-type", item_code([expr], "rjct.search_criteria.invalid"))
check("dci-rjct-pagination", item_code([pred(page={"page_size": 0})], "rjct.pagination.invalid"))
check("dci-rjct-page-too-big", item_code([pred(page={"page_size": 51})], "rjct.pagination.invalid"))
check("dci-rjct-too-many", item_code([pred()], "rjct.search.too_many_records_found"))
check("dci-rjct-timestamp", item_code([{"reference_id": "r0", "timestamp": "yesterday",
                                         "search_criteria": pred()}], "rjct.timestamp.invalid"))
check("dci-rjct-reference-duplicate", item_code([pred(("birthdate", "eq", "1988-02-11")),
    {"reference_id": "r0", "timestamp": "2025-01-31T10:00:00Z", "search_criteria": pred()}],
    "rjct.reference_id.duplicate"))

def header_code(code, **hdr):
    def fn():
        st, d = search([pred(("birthdate", "eq", "1988-02-11"))], TOK, **hdr)
        h = d["header"]
        assert st == 200 and h["status"] == "rjct" and h["status_reason_code"] == code, (st, d)
        assert h["status_reason_message"] and d["message"]["search_response"] == [], d
    return fn

check("dci-rjct-version", header_code("rjct.version.invalid", version="2.0.0"))
check("dci-rjct-action", header_code("rjct.action.invalid", action="subscribe"))
check("dci-rjct-message-ts", header_code("rjct.message_ts.invalid", message_ts="2025-01-31 10:00"))
check("dci-rjct-total-count", header_code("rjct.total_count.invalid", total_count=3))

def t_dup():
    st, d = search([pred(("birthdate", "eq", "1988-02-11"))], TOK, message_id="same-1")
    assert d["header"]["status"] == "succ", d
    header_code("rjct.message_id.duplicate", message_id="same-1")()
check("dci-rjct-message-id-duplicate", t_dup)

def t_err():
    st, d = post(X, "/registry/sync/search", b"{not json", TOK, raw=True)
    assert st == 400 and d["message"]["ack_status"] == "ERR" and d["message"]["error"]["code"] == "err.request.bad", (st, d)
    env = envelope([pred()]); del env["header"]["sender_id"]
    st, d = post(X, "/registry/sync/search", env, TOK)
    assert st == 400 and d["message"]["error"]["code"] == "err.request.bad", (st, d)
    env = envelope([pred()]); env["message"]["search_request"] = []
    st, d = post(X, "/registry/sync/search", env, TOK)
    assert st == 400 and d["message"]["error"]["code"] == "err.request.bad", (st, d)
check("dci-err-request-bad", t_err)
PY
	if [ ! -s "$tmp/dci.results" ]; then
		FAIL dci "the checks did not run: $(tail -n 5 "$tmp/dci.err")"
	fi
	while read -r verdict name rest; do
		if [ "$verdict" = PASS ]; then
			PASS "$name"
		else
			FAIL "${name%:}" "$rest"
		fi
	done <"$tmp/dci.results"
	BASE=$(cat "$tmp/x.url")
	AUTH=
	req /_emu/requests
	expect dci-request-log 200 'r = d["requests"]
assert r[0]["path"] == "/oauth2/client/token" and r[0]["user"] == "imislink" and r[0]["status"] == 200, r[0]
assert any(x["path"] == "/registry/sync/search" and x["status"] == 401 and x["user"] is None for x in r), r'
	req /metrics
	if [ "$status" = 200 ] && grep -q '^imislink_emu_openspp_requests_total{class="dci_search",status="200"}' "$tmp/out"; then
		PASS dci-metrics
	else
		FAIL dci-metrics "no dci_search count: $(grep dci "$tmp/out" | head -n 3)"
	fi
fi

# ---- clean exit: SIGTERM stops every emulator with status 0 and no
# sanitizer report (under SAN=1 a leak or a memory error would show here) ----
bad=
for p in "${EMULATOR_PIDS[@]}"; do
	kill "$p" 2>/dev/null
	wait "$p" || bad="$bad $p:$?"
done
EMULATOR_PIDS=()
if [ -z "$bad" ] && ! grep -l 'Sanitizer\|runtime error' "$tmp"/*.log >/dev/null 2>&1; then
	PASS clean-exit
else
	FAIL clean-exit "exit statuses:${bad:- ok}; $(grep -h 'Sanitizer\|runtime error' "$tmp"/*.log | head -n 3)"
fi

finish
