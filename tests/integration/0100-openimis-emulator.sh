#!/usr/bin/env bash
# 0100-openimis-emulator: the openIMIS emulator (imislink-openimis) against
# the points of contracts/openimis.md, with curl:
#   - login (token, 400 bare string, 401 INCORRECT_CREDENTIALS, empty 400,
#     lockout after 5 failures, stale bearer on login), 401 without or with
#     an expired token;
#   - Patient: head + new family, dependant, duplicate, validation 500s,
#     head + group refused, the is-head quirk, non-village write-then-fail,
#     trailing slash 301, form content type 500, the broken ?identifier=
#     search, unknown UUID 500, PUT detaching without the group reference;
#   - Contract: active/Active, Offered/Renewed, missing context, future
#     date, the "starts inside" overlap rule and its earlier-start quirk;
#   - GraphQL: insurees, policiesByFamily, mutationLogs, individual,
#     createIndividual/createGroup/createBeneficiary (pending, auto-approve);
#   - rate limit 429 without Retry-After; every fault kind; /_emu/*,
#     /metrics, /healthz.
# Needs: nothing but the emulator binary.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD

emu=$BUILD/bin/imislink-openimis
tmp=$IL_TEST_TMP/0100-openimis-emulator
mkdir -p "$tmp"
if [ ! -x "$emu" ]; then
	FAIL openimis-emulator "\"$emu\" is missing: run make"
	finish
fi

FHIR=/api/api_fhir_r4
EXT=https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition
trap emulators_stop EXIT

# start_emu NAME ARGS...: starts an emulator; its base URL goes to
# $tmp/NAME.url.  Returns 1 when it does not come up.
start_emu() {
	emulator_start "$tmp" "$1" "$emu" "${@:2}"
}

# req METHOD PATH [BODY [CURL ARGS...]]: one call to $BASE with $TOKEN (when
# set) and JSON content type (when a body is given).  Sets $status (000 when
# no answer) and $rc (curl's exit status); the body lands in $tmp/out, the
# headers in $tmp/hdr.
req() {
	local method=$1 path=$2 body=${3-}
	local args=(-sS -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' -X "$method" --max-time 20)
	shift 2
	[ $# -gt 0 ] && shift
	[ -n "${TOKEN:-}" ] && args+=(-H "Authorization: Bearer $TOKEN")
	[ -n "${CORR:-}" ] && args+=(-H "X-Correlation-ID: $CORR")
	if [ -n "$body" ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	: >"$tmp/out"
	: >"$tmp/hdr"
	status=$(curl "${args[@]}" "$@" "$BASE$path" 2>"$tmp/curl.err")
	rc=$?
}

# jv EXPR: evaluates a Python expression over the last body (d), prints it.
jv() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$tmp/out" "$1" 2>/dev/null
}

# expect NAME COND REASON: PASS when the shell condition string holds.
expect() {
	local name=$1 cond=$2
	shift 2
	if eval "$cond"; then
		PASS "$name"
	else
		FAIL "$name" "$* (status $status, body: $(head -c 300 "$tmp/out"))"
	fi
}

# patient KEY=VALUE...: a Patient body.  Keys: chf, head (true, false,
# none = no is-head flag but another extension, noext = no extension at
# all), group, loc, gender, birth, city, family, addrext (2 or 1), phys (1 or 2).
patient() {
	python3 - "$EXT" "$@" <<'PY'
import json, sys
ext = sys.argv[1]
a = dict(kv.split("=", 1) for kv in sys.argv[2:])
ids = "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/openimis-identifiers"
p = {"resourceType": "Patient", "identifier": [], "name": [{"use": "usual",
     "family": a.get("family", "Doe"), "given": ["Jane"]}],
     "birthDate": a.get("birth", "1990-05-01"), "gender": a.get("gender", "female"),
     "telecom": [{"system": "phone", "value": "+255000000"}]}
if "chf" in a:
    p["identifier"].append({"type": {"coding": [{"system": ids, "code": "Code"}]}, "value": a["chf"]})
addr = {"type": "physical", "use": "home", "city": a.get("city", "Town"), "district": "District",
        "state": "Region", "extension": [
            {"url": ext + "/address-municipality", "valueString": "Ward"},
            {"url": ext + "/address-location-reference",
             "valueReference": {"reference": "Location/" + a.get("loc", "R1D1M1V1")}}]}
if a.get("addrext") == "1":
    addr["extension"] = addr["extension"][:1]
p["address"] = [addr] * int(a.get("phys", "1"))
head = a.get("head", "true")
exts = []
if head in ("true", "false"):
    exts.append({"url": ext + "/patient-is-head", "valueBoolean": head == "true"})
if head == "none":
    exts.append({"url": ext + "/patient-card-issued", "valueBoolean": False})
if "group" in a:
    exts.append({"url": ext + "/patient-group-reference", "valueReference": {"reference": "Group/" + a["group"]}})
if head != "noext":
    p["extension"] = exts
for k in ("birth", "gender"):
    if a.get(k) == "-":
        del p["birthDate" if k == "birth" else "gender"]
print(json.dumps(p))
PY
}

# contract KEY=VALUE...: a Contract body.  Keys: status, legal, officer,
# family, product, start, end, value, members (yes/no), context (yes/no).
contract() {
	python3 - "$@" <<'PY'
import json, sys
a = dict(kv.split("=", 1) for kv in sys.argv[1:])
asset = {"period": [{"start": a.get("start", "2025-01-01"), "end": a.get("end", "2025-12-31")}],
         "usePeriod": [{"start": a.get("start", "2025-01-01"), "end": a.get("end", "2025-12-31")}],
         "valuedItem": [{"entityReference": {"reference": "InsurancePlan/" + a["product"]},
                         "net": {"value": float(a.get("value", "10000"))}}]}
if a.get("members", "yes") == "yes":
    asset["typeReference"] = [{"reference": "Patient/x"}]
c = {"resourceType": "Contract", "status": a.get("status", "active"),
     "legalState": {"text": a.get("legal", "Offered")},
     "author": {"reference": "Practitioner/" + a["officer"]},
     "subject": [{"reference": "Group/" + a["family"]}],
     "term": [{"asset": [asset]}]}
if a.get("context") == "yes":
    c["term"][0]["asset"][0]["context"] = [{"reference": {"reference": "Group/" + a["family"]}}]
print(json.dumps(c))
PY
}

# gql QUERY [VARIABLES]: a GraphQL call (body in $tmp/out).
gql() {
	local body
	body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' \
		"$1" "${2:-{\}}")
	req POST /api/graphql "$body"
}

login() {
	local t
	TOKEN= req POST $FHIR/login/ '{"username":"Admin","password":"admin123"}'
	t=$(jv 'd["token"]')
	[ "$status" = 200 ] && [ -n "$t" ] && echo "$t"
}

# counts FIELD: one count of /_emu/counts.
counts() {
	curl -s "$BASE/_emu/counts" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

faults() {
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "$1" "$BASE/_emu/faults"
}

if ! start_emu main || ! start_emu exp --token-lifetime 4 || ! start_emu rl --rate-limit 5 ||
	! start_emu auto --sp-auto-approve || ! start_emu chk --chfid-length 6 --chfid-check-digit; then
	FAIL openimis-emulator-start "an emulator did not write its port file: $(tail -n 3 "$tmp"/*.log | tr '\n' ' ')"
	finish
fi
BASE=$(cat "$tmp/main.url")

# -- /healthz, /metrics -----------------------------------------------------
TOKEN= req GET /healthz
expect emu-healthz '[ "$status" = 200 ] && [ "$(jv "d[\"status\"]")" = ok ]' "healthz not ok"

# -- login ------------------------------------------------------------------
TOKEN=
req POST $FHIR/login/ '{"username":"Admin","password":"admin123"}'
TOKEN_OK=$(jv 'd["token"]')
expect emu-login-ok '[ "$status" = 200 ] && [ "$(jv "len(d[\"token\"].split(\".\"))")" = 3 ] && [ "$(jv "d[\"exp\"] > 0")" = true ]' "no token"
req POST $FHIR/login/ '{"username":"Admin"}'
expect emu-login-missing-field '[ "$status" = 400 ] && [ "$(jv "isinstance(d, str)")" = true ]' "expected a bare JSON string"
req POST $FHIR/login/ '{"username":"Nobody","password":"x"}'
expect emu-login-unknown-user '[ "$status" = 401 ] && [ "$(cat "$tmp/out")" = "\"INCORRECT_CREDENTIALS\"" ]' "expected 401 INCORRECT_CREDENTIALS"
req POST $FHIR/login/ '{"username":"Admin","password":"wrong"}'
expect emu-login-wrong-password '[ "$status" = 400 ] && [ ! -s "$tmp/out" ]' "expected an empty 400"
TOKEN=garbage.token.here req POST $FHIR/login/ '{"username":"Admin","password":"admin123"}'
expect emu-login-stale-bearer '[ "$status" = 401 ]' "a stale bearer on login must give 401"

# -- authentication -----------------------------------------------------------
TOKEN= req GET "$FHIR/Location/?identifier=R1D1M1V1"
expect emu-auth-missing '[ "$status" = 401 ]' "no token must give 401"
TOKEN=abc.def.ghi req GET "$FHIR/Location/?identifier=R1D1M1V1"
expect emu-auth-invalid '[ "$status" = 401 ]' "bad token must give 401"
BASE=$(cat "$tmp/exp.url")
TOKEN=$(login)
req GET "$FHIR/Location/?identifier=R1D1M1V1"
first=$status
sleep 6 # the token of --token-lifetime 4 is then expired (at least 3 s of validity for the first call)
req GET "$FHIR/Location/?identifier=R1D1M1V1"
expect emu-auth-expired '[ "$first" = 200 ] && [ "$status" = 401 ]' "fresh token $first, expired token"
BASE=$(cat "$tmp/main.url")
TOKEN=$TOKEN_OK

# -- reference data -----------------------------------------------------------
req GET "$FHIR/Location/?identifier=R1D1M1V1"
VILLAGE=$(jv 'd["entry"][0]["resource"]["id"]')
expect emu-location-village '[ "$status" = 200 ] && [ "$(jv "d[\"total\"]")" = 1 ] && [ "$(jv "d[\"entry\"][0][\"resource\"][\"type\"][0][\"coding\"][0][\"code\"]")" = V ] && [ "$(jv "d[\"entry\"][0][\"resource\"][\"partOf\"][\"reference\"].startswith(\"Location/\")")" = true ]' "village lookup"
req GET "$FHIR/Location/?identifier=$VILLAGE"
expect emu-location-by-uuid '[ "$(jv "d[\"entry\"][0][\"resource\"][\"id\"]")" = "$VILLAGE" ]' "lookup by uuid"
req GET "$FHIR/Location/?identifier=R1D1"
DISTRICT=$(jv 'd["entry"][0]["resource"]["id"]')
req GET "$FHIR/Practitioner/?code=E00001"
expect emu-practitioner-without-eo '[ "$status" = 500 ]' "Practitioner without resourceType=eo must give 500"
req GET "$FHIR/Practitioner/?resourceType=eo&code=E00001"
OFFICER=$(jv 'd["entry"][0]["resource"]["id"]')
expect emu-practitioner-eo '[ "$status" = 200 ] && [ "$(jv "d[\"total\"]")" = 1 ] && [ -n "$OFFICER" ]' "officer lookup"
req GET "$FHIR/InsurancePlan/?identifier=FCTP"
PRODUCT=$(jv 'd["entry"][0]["resource"]["id"]')
expect emu-insuranceplan '[ "$status" = 200 ] && [ "$(jv "d[\"total\"]")" = 1 ] && [ -n "$PRODUCT" ]' "product lookup"
expect emu-deterministic-uuid '[ "$VILLAGE" = "$(python3 -c "import hashlib; h = bytearray(hashlib.sha256(b\"location:R1D1M1V1\").digest()[:16]); h[6] = h[6] & 15 | 0x50; h[8] = h[8] & 0x3f | 0x80; x = h.hex(); print(x[:8] + \"-\" + x[8:12] + \"-\" + x[12:16] + \"-\" + x[16:20] + \"-\" + x[20:])")" ]' "village uuid $VILLAGE is not SHA-256 of location:R1D1M1V1"

# -- Patient: create -------------------------------------------------------
req POST $FHIR/Patient/ "$(patient chf=100001 head=true loc="$VILLAGE")"
HEAD=$(jv 'd["id"]')
FAMILY=$(jv '[e["valueReference"]["reference"].split("/")[1] for e in d["extension"] if e["url"].endswith("patient-group-reference")][0]')
expect emu-patient-head '[ "$status" = 201 ] && [ -n "$HEAD" ] && [ -n "$FAMILY" ] && [ "$(jv "sorted(i[\"type\"][\"coding\"][0][\"code\"] for i in d[\"identifier\"])")" = "[\"Code\", \"UUID\"]" ]' "head create"
req POST $FHIR/Patient/ "$(patient chf=100002 head=false group="$FAMILY" loc=R1D1M1V1)"
DEP=$(jv 'd["id"]')
expect emu-patient-dependant '[ "$status" = 201 ] && [ "$(jv "[e[\"valueReference\"][\"reference\"] for e in d[\"extension\"] if \"group-reference\" in e[\"url\"]][0]")" = "Group/$FAMILY" ]' "dependant (location by code) joins the family"
req POST $FHIR/Patient/ "$(patient chf=100001 head=true loc="$VILLAGE")"
expect emu-patient-duplicate '[ "$status" = 500 ] && [ "$(jv "d[\"issue\"][0][\"details\"][\"text\"]")" = "Exists patient with following chfid \`100001\`" ] && [ "$(jv "d[\"issue\"][0][\"code\"]")" = exception ]' "duplicate CHF ID"

n0=$(counts insurees)
bad=0
for args in "head=true" "chf=1234567890123 head=true" "chf=12345-6 head=true" "chf=100010 head=noext" \
	"chf=100011 phys=2" "chf=100012 city=" "chf=100013 addrext=1" "chf=100014 birth=-" \
	"chf=100015 gender=unknown" "chf=100016 gender=-" "chf=100017 loc=NOPE"; do
	req POST $FHIR/Patient/ "$(patient $args)"
	if [ "$status" != 500 ] || [ "$(jv 'd["resourceType"]')" != OperationOutcome ] ||
		[ -z "$(jv 'd["issue"][0]["details"]["text"]')" ]; then
		bad=1
		FAIL emu-patient-validation "\"$args\" gave $status: $(head -c 200 "$tmp/out")"
	fi
done
[ "$bad" = 0 ] && [ "$(counts insurees)" = "$n0" ] && PASS emu-patient-validation
[ "$bad" = 0 ] && [ "$(counts insurees)" != "$n0" ] && FAIL emu-patient-validation "a refused Patient was stored"

req POST $FHIR/Patient/ "$(patient chf=100020 head=true group="$FAMILY")"
expect emu-patient-head-with-group '[ "$status" = 500 ] && [ "$(jv "d[\"issue\"][0][\"details\"][\"text\"]")" = "Patient assigned to existing family can'"'"'t be head" ]' "head + group ref"
req POST $FHIR/Patient/ "$(patient chf=100021 head=false group=00000000-0000-4000-8000-000000000000)"
expect emu-patient-unknown-family '[ "$status" = 500 ]' "unknown family"
req POST $FHIR/Patient/ "$(patient chf=100022 head=none)"
expect emu-patient-no-head-flag-quirk '[ "$status" = 201 ] && [ "$(jv "[e for e in d[\"extension\"] if \"group-reference\" in e[\"url\"]]")" = "[]" ] && [ "$(jv "[e[\"valueBoolean\"] for e in d[\"extension\"] if \"is-head\" in e[\"url\"]]")" = "[false]" ]' "no is-head flag: non-head without family"

n0=$(counts insurees)
f0=$(counts families)
req POST $FHIR/Patient/ "$(patient chf=100030 head=true loc="$DISTRICT")"
expect emu-patient-non-village-write-then-fail '[ "$status" = 500 ] && [ "$(counts insurees)" = $((n0 + 1)) ] && [ "$(counts families)" = "$f0" ]' "non-village: stored then 500"

req POST $FHIR/Patient "$(patient chf=100031)"
expect emu-patient-no-slash-post '[ "$status" = 301 ] && grep -qi "^location: $FHIR/Patient/" "$tmp/hdr"' "POST without trailing slash"
req GET "$FHIR/Patient/$HEAD"
expect emu-patient-no-slash-get '[ "$status" = 301 ] && grep -qi "^location: $FHIR/Patient/$HEAD/" "$tmp/hdr"' "GET without trailing slash"
req POST $FHIR/Patient/ "" --data-binary "$(patient chf=100032)"
expect emu-patient-form-content-type '[ "$status" = 500 ] && grep -qi "^content-type: text/html" "$tmp/hdr" && [ "$(counts insurees)" = $((n0 + 1)) ]' "form content type must give 500"

# -- Patient: look-ups ----------------------------------------------------------
req GET "$FHIR/Patient/?identifier=100001"
expect emu-patient-identifier-broken '[ "$status" = 404 ] && [ "$(jv "d[\"issue\"][0][\"code\"]")" = not-found ]' "a valid CHF ID must not be found"
req GET "$FHIR/Patient/?identifier=$HEAD"
expect emu-patient-identifier-uuid '[ "$status" = 200 ] && [ "$(jv "d[\"resourceType\"]")" = Patient ] && [ "$(jv "d[\"id\"]")" = "$HEAD" ]' "search by uuid gives a single Patient"
req GET "$FHIR/Patient/$HEAD/"
expect emu-patient-get '[ "$status" = 200 ] && [ "$(jv "d[\"id\"]")" = "$HEAD" ]' "get by uuid"
req GET "$FHIR/Patient/11111111-2222-4333-8444-555555555555/"
expect emu-patient-get-unknown '[ "$status" = 500 ] && [ "$(jv "d[\"resourceType\"]")" = OperationOutcome ]' "unknown uuid must give 500"
req GET "$FHIR/Patient/?_count=2&page-offset=1"
expect emu-patient-list '[ "$status" = 200 ] && [ "$(jv "d[\"resourceType\"]")" = Bundle ] && [ "$(jv "len(d[\"entry\"])")" = 2 ] && [ "$(jv "d[\"total\"]")" = "$(counts insurees)" ]' "list as a Bundle"

gql '{ insurees(chfId: "100002", ignoreLocation: true) { edges { node { uuid chfId family { uuid } } } } }'
expect emu-gql-insurees '[ "$status" = 200 ] && [ "$(jv "d[\"data\"][\"insurees\"][\"edges\"][0][\"node\"][\"family\"][\"uuid\"]")" = "$FAMILY" ] && [ "$(jv "d[\"data\"][\"insurees\"][\"edges\"][0][\"node\"][\"uuid\"]")" = "$DEP" ]' "insurees by chfId"
gql 'query q($c: String!) { insurees(chfId: $c) { edges { node { uuid } } } }' '{"c":"999999"}'
expect emu-gql-insurees-none '[ "$(jv "d[\"data\"][\"insurees\"][\"edges\"]")" = "[]" ]' "unknown CHF ID: no edge"

# -- Patient: PUT ----------------------------------------------------------------
req PUT "$FHIR/Patient/$HEAD/" "$(patient chf=100002 head=false loc=R1D1M1V1 family=Moved)"
gql '{ insurees(chfId: "100002") { edges { node { uuid family { uuid } } } } }'
expect emu-patient-put-detaches '[ "$(jv "d[\"data\"][\"insurees\"][\"edges\"][0][\"node\"][\"family\"]")" = null ] && [ "$(jv "d[\"data\"][\"insurees\"][\"edges\"][0][\"node\"][\"uuid\"]")" = "$DEP" ]' "PUT without group ref (body CHF ID decides) must detach"
req PUT "$FHIR/Patient/$DEP/" "$(patient chf=100002 head=false group="$FAMILY" loc=R1D1M1V1)"
gql '{ insurees(chfId: "100002") { edges { node { family { uuid } } } } }'
expect emu-patient-put-group '[ "$(jv "d[\"data\"][\"insurees\"][\"edges\"][0][\"node\"][\"family\"][\"uuid\"]")" = "$FAMILY" ]' "PUT with group ref keeps the family"

# -- Contract ---------------------------------------------------------------
req POST $FHIR/Contract/ "$(contract officer="$OFFICER" family="$FAMILY" product="$PRODUCT" start=2025-01-01 end=2025-12-31)"
expect emu-contract-active '[ "$status" = 201 ] && [ "$(jv "\"id\" in d")" = false ] && [ "$(jv "sorted(i[\"type\"][\"coding\"][0][\"code\"] for i in d[\"identifier\"])")" = "[\"ACSN\", \"UUID\"]" ]' "active contract: 201 without id, UUID and ACSN"
P1=$(jv '[i["value"] for i in d["identifier"] if i["type"]["coding"][0]["code"] == "UUID"][0]')
gql "{ policiesByFamily(familyUuid: \"$FAMILY\") { edges { node { policyUuid productCode startDate expiryDate status } } } }"
expect emu-gql-policies '[ "$(jv "[(e[\"node\"][\"policyUuid\"], e[\"node\"][\"status\"], e[\"node\"][\"productCode\"]) for e in d[\"data\"][\"policiesByFamily\"][\"edges\"]]")" = "[[\"$P1\", 2, \"FCTP\"]]" ]' "policiesByFamily"
req POST $FHIR/Contract/ "$(contract officer="$OFFICER" family="$FAMILY" product="$PRODUCT" start=2024-06-01 end=2025-06-01)"
expect emu-contract-overlap-starts-inside '[ "$status" = 500 ] && [ "$(jv "d[\"issue\"][0][\"details\"][\"text\"]")" = "Contract exists for this patient" ]' "a policy starting inside must refuse"
req POST $FHIR/Contract/ "$(contract officer="$OFFICER" family="$FAMILY" product="$PRODUCT" start=2025-03-01 end=2026-02-28)"
expect emu-contract-overlap-earlier-quirk '[ "$status" = 201 ]' "an earlier-starting overlap is accepted (quirk)"
TOKEN= req GET /_emu/duplicates
expect emu-duplicates-overlap '[ "$(jv "d[\"ok\"]")" = false ] && [ "$(jv "len(d[\"overlapping_policies\"])")" = 1 ] && [ "$(jv "d[\"chf_id_duplicates\"]")" = "[]" ]' "the overlap must be reported"
# a second family for the idle policy
req POST $FHIR/Patient/ "$(patient chf=100040 head=true)"
FAMILY2=$(jv '[e["valueReference"]["reference"].split("/")[1] for e in d["extension"] if "group-reference" in e["url"]][0]')
req POST $FHIR/Contract/ "$(contract status=Active officer="$OFFICER" family="$FAMILY2" product="$PRODUCT" start=2024-01-01 end=2024-12-31)"
gql "{ policiesByFamily(familyUuid: \"$FAMILY2\") { edges { node { status } } } }"
expect emu-contract-Active-idle '[ "$(jv "[e[\"node\"][\"status\"] for e in d[\"data\"][\"policiesByFamily\"][\"edges\"]]")" = "[1]" ]' "\"Active\" must give an idle policy"
req POST $FHIR/Contract/ "$(contract legal=Renewed officer="$OFFICER" family="$FAMILY2" product="$PRODUCT" start=2023-01-01 end=2023-06-30)"
expect emu-contract-renewed '[ "$status" = 500 ]' "Renewed must fail"
req POST $FHIR/Contract/ "$(contract members=no officer="$OFFICER" family="$FAMILY2" product="$PRODUCT" start=2023-01-01 end=2023-06-30)"
expect emu-contract-missing-context '[ "$status" = 500 ] && [ "$(jv "d[\"issue\"][0][\"details\"][\"text\"]")" = "Missing \`context\` attribute" ]' "missing context"
req POST $FHIR/Contract/ "$(contract members=no context=yes officer="$OFFICER" family="$FAMILY2" product="$PRODUCT" start=2023-01-01 end=2023-06-30)"
expect emu-contract-context-only '[ "$status" = 201 ]' "context without members is enough"
req POST $FHIR/Contract/ "$(contract officer="$OFFICER" family="$FAMILY2" product="$PRODUCT" start=$(date -u -d '+5 days' +%F) end=$(date -u -d '+1 year' +%F))"
expect emu-contract-future '[ "$status" = 500 ]' "enroll date in the future"
req POST $FHIR/Contract/ "$(contract officer=00000000-0000-4000-8000-000000000000 family="$FAMILY2" product="$PRODUCT" start=2022-01-01 end=2022-06-30)"
expect emu-contract-unknown-officer '[ "$status" = 500 ]' "unknown officer"

# -- GraphQL: social protection --------------------------------------------------
gql 'mutation { createIndividual(input: {clientMutationId: "m-ind-1", firstName: "Ama", lastName: "Mensah", dob: "1990-01-02", jsonExt: "{\"gender\":\"F\"}", locationId: 12}) { clientMutationId internalId } }'
IID=$(jv 'd["data"]["createIndividual"]["internalId"]')
expect emu-gql-create-individual '[ "$status" = 200 ] && [ -n "$IID" ] && [ "$(jv "d[\"data\"][\"createIndividual\"][\"clientMutationId\"]")" = m-ind-1 ]' "createIndividual acknowledges"
gql 'mutation m($i: CreateIndividualInput!) { createIndividual(input: $i) { internalId } }' \
	'{"i":{"clientMutationId":"m-ind-1","firstName":"Ama","lastName":"Mensah","dob":"1990-01-02"}}'
expect emu-gql-mutation-resubmit '[ "$(jv "d[\"data\"][\"createIndividual\"][\"internalId\"]")" = "$IID" ] && [ "$(counts mutations)" = 1 ]' "a re-submitted clientMutationId does nothing new"
gql '{ mutationLogs(clientMutationId: "m-ind-1") { edges { node { status error clientMutationId } } } }'
s1=$(jv 'd["data"]["mutationLogs"]["edges"][0]["node"]["status"]')
gql '{ mutationLogs(clientMutationId: "m-ind-1") { edges { node { status error clientMutationId } } } }'
s2=$(jv 'd["data"]["mutationLogs"]["edges"][0]["node"]["status"]')
expect emu-gql-mutation-logs '[ "$s1" = 0 ] && [ "$s2" = 2 ]' "status 0 then 2, got $s1 then $s2"
gql '{ individual(clientMutationId: "m-ind-1") { edges { node { id firstName lastName dob } } } }'
IND=$(jv 'd["data"]["individual"]["edges"][0]["node"]["id"]')
expect emu-gql-individual '[ -n "$IND" ] && [ "$(jv "d[\"data\"][\"individual\"][\"edges\"][0][\"node\"][\"lastName\"]")" = Mensah ]' "individual by clientMutationId"
gql "mutation { createGroup(input: {clientMutationId: \"m-grp-1\", code: \"G1\", individualsData: [{individualId: \"$IND\", role: HEAD, recipientType: PRIMARY}], locationId: 12}) { internalId } }"
gql '{ mutationLogs(clientMutationId: "m-grp-1") { edges { node { status } } } }'
gql '{ mutationLogs(clientMutationId: "m-grp-1") { edges { node { status } } } }'
expect emu-gql-create-group '[ "$(jv "d[\"data\"][\"mutationLogs\"][\"edges\"][0][\"node\"][\"status\"]")" = 2 ] && [ "$(counts groups)" = 1 ]' "createGroup"
# poll_mutation ID: polls twice, leaves the last answer.
poll_mutation() {
	gql "{ mutationLogs(clientMutationId: \"$1\") { edges { node { status error } } } }"
	gql "{ mutationLogs(clientMutationId: \"$1\") { edges { node { status error } } } }"
}
gql "mutation { createBeneficiary(input: {clientMutationId: \"m-ben-1\", individualId: \"$IND\", benefitPlanId: \"CASH1\", status: ACTIVE, dateValidFrom: \"2025-01-01\"}) { internalId } }"
poll_mutation m-ben-1
TOKEN= req GET /_emu/state
expect emu-gql-beneficiary-pending '[ "$(jv "[(b[\"pending\"], b[\"status\"]) for b in d[\"beneficiaries\"]]")" = "[[true, \"ACTIVE\"]]" ]' "maker-checker: only pending"
gql 'mutation { createBeneficiary(input: {clientMutationId: "m-ben-2", individualId: "00000000-0000-4000-8000-000000000000", benefitPlanId: "CASH1", status: ACTIVE}) { internalId } }'
poll_mutation m-ben-2
expect emu-gql-beneficiary-unknown '[ "$(jv "d[\"data\"][\"mutationLogs\"][\"edges\"][0][\"node\"][\"status\"]")" = 1 ] && [ -n "$(jv "json.loads(d[\"data\"][\"mutationLogs\"][\"edges\"][0][\"node\"][\"error\"])[0][\"message\"]")" ]' "unknown individual: status 1 with an error list"
gql '{ somethingElse { id } }'
expect emu-gql-unknown '[ "$status" = 200 ] && [ -n "$(jv "d[\"errors\"][0][\"message\"]")" ]' "unknown query: errors"

BASE=$(cat "$tmp/auto.url")
TOKEN=$(login)
gql 'mutation { createIndividual(input: {clientMutationId: "a-1", firstName: "K", lastName: "B", dob: "1980-01-01"}) { internalId } }'
poll_mutation a-1
gql '{ individual(clientMutationId: "a-1") { edges { node { id } } } }'
AIND=$(jv 'd["data"]["individual"]["edges"][0]["node"]["id"]')
gql "mutation { createBeneficiary(input: {clientMutationId: \"a-2\", individualId: \"$AIND\", benefitPlanId: \"CASH1\", status: ACTIVE}) { internalId } }"
poll_mutation a-2
TOKEN= req GET /_emu/state
expect emu-gql-beneficiary-auto-approve '[ "$(jv "[(b[\"pending\"], b[\"status\"]) for b in d[\"beneficiaries\"]]")" = "[[false, \"ACTIVE\"]]" ]' "--sp-auto-approve: created at once"

# -- CHF ID rule ---------------------------------------------------------------
BASE=$(cat "$tmp/chk.url")
TOKEN=$(login)
req POST $FHIR/Patient/ "$(patient chf=123455)"
good=$status
req POST $FHIR/Patient/ "$(patient chf=123456)"
bad_digit=$status
req POST $FHIR/Patient/ "$(patient chf=1234566)"
expect emu-chfid-rule '[ "$good" = 201 ] && [ "$bad_digit" = 500 ] && [ "$status" = 500 ]' "length 6 + Luhn: 123455 ok ($good), 123456 ($bad_digit) and 1234566 refused"

# -- rate limit -------------------------------------------------------------------
BASE=$(cat "$tmp/rl.url")
TOKEN=$(login) # call 1 of 5
codes=
for i in 1 2 3 4 5; do
	req GET "$FHIR/Location/?identifier=R1"
	codes="$codes $status"
done
expect emu-rate-limit '[ "$codes" = " 200 200 200 200 429" ] && ! grep -qi "^retry-after" "$tmp/hdr" && [ "$(jv "d[\"detail\"]")" = "Request was throttled." ]' "codes$codes"
TOKEN= req GET /_emu/counts
expect emu-rate-limit-not-emu '[ "$status" = 200 ]' "/_emu is never limited"

# -- faults -----------------------------------------------------------------------
BASE=$(cat "$tmp/main.url")
TOKEN=$TOKEN_OK
CORR=fault-fail faults '{"fail_pct":100}' >/dev/null
CORR=fault-fail req GET "$FHIR/Location/?identifier=R1"
expect emu-fault-fail '[[ "$status" =~ ^50[0234]$ ]] && [ "$(jv "d[\"resourceType\"]")" = OperationOutcome ] && [ "$(jv "\"details\" in d[\"issue\"][0]")" = false ]' "fail: bare 5xx"
TOKEN= req GET /_emu/counts
expect emu-fault-not-emu '[ "$status" = 200 ]' "faults never apply to /_emu"
faults '{"fail_pct":0,"reset_pct":100}' >/dev/null
CORR=fault-reset req GET "$FHIR/Location/?identifier=R1"
expect emu-fault-reset '[ "$status" = 000 ] && [ "$rc" != 0 ]' "reset: no answer (curl rc $rc)"
faults '{"reset_pct":0,"hang_pct":100,"hang_ms":300}' >/dev/null
CORR=fault-hang req GET "$FHIR/Location/?identifier=R1"
expect emu-fault-hang '[ "$status" = 000 ] && [ "$rc" != 0 ]' "hang: no answer (curl rc $rc)"
faults '{"hang_pct":0,"write_then_fail_pct":100}' >/dev/null
n0=$(counts insurees)
CORR=fault-wtf req POST $FHIR/Patient/ "$(patient chf=100050 head=true)"
expect emu-fault-write-then-fail '[ "$status" = 500 ] && [ "$(jv "\"details\" in d[\"issue\"][0]")" = false ] && [ "$(counts insurees)" = $((n0 + 1)) ]' "write-then-fail: stored, bare 500"
CORR=fault-wtf-read req GET "$FHIR/Location/?identifier=R1"
expect emu-fault-write-then-fail-reads '[ "$status" = 200 ]' "reads are not affected"
faults '{"write_then_fail_pct":0,"down":true}' >/dev/null
CORR=fault-down req GET "$FHIR/Location/?identifier=R1"
expect emu-fault-down '[ "$status" = 503 ]' "down: 503"
faults '{"down":false,"latency_ms_min":200,"latency_ms_max":200}' >/dev/null
CORR=fault-latency req GET "$FHIR/Location/?identifier=R1"
lat_status=$status
TOKEN= req GET /_emu/faults
expect emu-faults-get '[ "$lat_status" = 200 ] && [ "$(jv "(d[\"latency_ms_min\"], d[\"down\"], d[\"hang_ms\"])")" = "[200, false, 300]" ]' "GET /_emu/faults"
faults '{"latency_ms_min":0,"latency_ms_max":0}' >/dev/null
expect emu-faults-bad '[ "$(faults "{\"fail_pct\":101}")" = 400 ] && [ "$(faults "{\"nope\":1}")" = 400 ]' "invalid faults must give 400"
TOKEN= req GET "/_emu/requests?since=0&limit=100000"
expect emu-requests-log '[ "$(jv "[(r[\"correlation\"], r[\"fault\"], r[\"status\"]) for r in d[\"requests\"] if (r[\"correlation\"] or \"\").startswith(\"fault-\")]")" = "[[\"fault-fail\", \"fail\", $(jv "[r[\"status\"] for r in d[\"requests\"] if r[\"correlation\"] == \"fault-fail\"][0]")], [\"fault-reset\", \"reset\", 0], [\"fault-hang\", \"hang\", 0], [\"fault-wtf\", \"write_then_fail\", 500], [\"fault-wtf-read\", \"none\", 200], [\"fault-down\", \"down\", 503], [\"fault-latency\", \"none\", 200]]" ] && [ "$(jv "[r[\"end_us\"] - r[\"start_us\"] >= 200000 for r in d[\"requests\"] if r[\"correlation\"] == \"fault-latency\"]")" = "[true]" ] && [ "$(jv "d[\"next\"] == d[\"requests\"][-1][\"seq\"] + 1")" = true ]' "request log with correlation ids and faults"
next=$(jv 'd["next"]')
TOKEN= req GET "/_emu/requests?since=$next"
expect emu-requests-since '[ "$(jv "d[\"requests\"]")" = "[]" ] && [ "$(jv "d[\"next\"]")" = "$next" ]' "nothing after next"

# -- lockout (last: it locks the user until the reset) ----------------------------
TOKEN=
for i in 1 2 3 4 5; do
	req POST $FHIR/login/ '{"username":"Admin","password":"wrong"}'
done
req POST $FHIR/login/ '{"username":"Admin","password":"admin123"}'
expect emu-login-lockout '[ "$status" = 400 ] && [ ! -s "$tmp/out" ]' "after 5 failures even the right password gets an empty 400"

# -- /metrics, /_emu/reset -----------------------------------------------------------
TOKEN= req GET /metrics
expect emu-metrics '[ "$status" = 200 ] && grep -q "^imislink_emu_openimis_requests_total{class=\"patient\",status=\"201\"}" "$tmp/out" && grep -q "^imislink_emu_openimis_request_seconds_bucket" "$tmp/out"' "metrics by class and status"
TOKEN= req POST /_emu/reset
TOKEN= req GET /_emu/state
expect emu-reset '[ "$(jv "d[\"counts\"]")" = "{\"insurees\": 0, \"families\": 0, \"policies\": 0, \"individuals\": 0, \"groups\": 0, \"beneficiaries\": 0, \"mutations\": 0}" ] && [ "$(curl -s "$BASE/_emu/requests" | python3 -c "import json,sys; print(len(json.load(sys.stdin)[\"requests\"]))")" = 0 ] && [ -n "$(login)" ]' "reset clears data, log and lockout"
TOKEN= req GET /_emu/duplicates
expect emu-duplicates-ok '[ "$(jv "d[\"ok\"]")" = true ]' "empty store is ok"

emulators_stop
for name in main exp rl auto chk; do
	if grep -q '"level":"error"' "$tmp/$name.log"; then
		FAIL emu-log-$name "error lines in the log: $(grep '"level":"error"' "$tmp/$name.log" | head -n 2)"
	fi
done
finish
