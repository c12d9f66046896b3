#!/usr/bin/env bash
# 0340-gateway: the DCI push gateway on the real broker (issue 3, section 3
# and "Must show").
#   - POST /registry/individual: a valid body is answered 202 with its event
#     id; an invalid one 400 listing every field error; one over
#     http.max.body.bytes 413; no token, an unknown token, an expired or a
#     garbled signed token 401; a token from /oauth2/client/token (HTTP Basic
#     and form) works, a wrong client secret gets 401;
#   - POST /registry/notify: a valid SPDCI envelope is acknowledged (succ,
#     ACK) once its three records are durable; the same envelope again is
#     rjct.message_id.duplicate; a wrong version, a bad record and a body
#     that is not JSON get rjct.version.invalid, rjct.notify_event.invalid
#     and err.request.bad;
#   - Kafka down (the harness broker stopped): requests are answered 503
#     within the delivery timeout (message.timeout.ms 3000), never 2xx;
#     after the broker is back, 202 again;
#   - no request answered 2xx is missing from the topic: every event id of a
#     202 and of the acknowledged envelope is read back with `imislink consume`;
#   - the rate limit (a second gateway at one request a second) answers 429;
#   - /metrics counts requests by endpoint and status; SIGTERM exits 0.
# Needs: kafka (stops and starts the harness broker).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS IL_TEST_TMP IL_TEST_STATE BUILD

TOOL=$BUILD/bin/imislink
GW=$BUILD/bin/imislink-gateway
DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")/../data/gateway" && pwd)
tmp=$IL_TEST_TMP/0340-gateway
rm -rf "$tmp"
mkdir -p "$tmp"
unset IMISLINK_CONFIG
PIDS=()
KEY=u-0340-signing-key-0123456789abcdef
TOKEN=u-static-token-1

cleanup() {
	kill_all "${PIDS[@]}"
	PIDS=()
}
trap cleanup EXIT

require_built gateway-binaries "$TOOL" "$GW"

topic=$(make_topic_name u-gateway)
if ! create_topic "$topic" 2; then
	FAIL gateway-topic "could not create the test topic"
	finish
fi

log=$tmp/gateway.log
IMISLINK_GATEWAY_TOKEN_SIGNING_KEY=$KEY daemon_start "$log" "$GW" --set http.port=0 \
	--set topic.eligibility="$topic" --set gateway.tokens.file="$DATA/tokens" \
	--set gateway.oauth.clients.file="$DATA/clients" --set gateway.programme.id=7 \
	--set http.max.body.bytes=4096 --set gateway.delivery.timeout.ms=20000 \
	-X message.timeout.ms=3000 -X reconnect.backoff.max.ms=1000
PIDS+=("$DAEMON_PID")
gw_pid=$DAEMON_PID
daemon_port 60 "$log" gateway-start || finish
port=$DAEMON_PORT
base=http://127.0.0.1:$port
PASS gateway-start
signals_main_only gateway-signals-main-thread "$gw_pid"

# post NAME PATH FILE [curl args...]: the answer's body to $tmp/NAME.out,
# the status printed.
post() {
	http_post "$tmp/$1.out" "$base$2" "${@:3}"
}

# expect NAME WANT GOT: PASS when the status is the one wanted.
expect() {
	expect_status "$1" "$2" "$3" "$tmp/$1.out"
}

# A 202's event id, recorded for the read-back.
record_id() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["event_id"])' "$1" >>"$tmp/acked.ids"
}
: >"$tmp/acked.ids"
acked=0

# --- /registry/individual ---------------------------------------------------

for i in 1 2 3 4 5; do
	st=$(post "valid-$i" /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $TOKEN")
	if [ "$st" = 202 ]; then
		record_id "$tmp/valid-$i.out"
		acked=$((acked + 1))
	fi
done
if [ "$acked" = 5 ]; then
	PASS gateway-valid-202
else
	FAIL gateway-valid-202 "$acked of 5 valid requests answered 202: $(cat "$tmp/valid-1.out")"
fi
st=$(post valid-query "/registry/individual?programme_id=12" "$DATA/individual.json" -H "Authorization: Bearer $TOKEN")
expect valid-query 202 "$st"
[ "$st" = 202 ] && record_id "$tmp/valid-query.out" && acked=$((acked + 1))

st=$(post invalid /registry/individual "$DATA/invalid.json" -H "Authorization: Bearer $TOKEN")
expect invalid 400 "$st"
json_check gateway-invalid-every-error "$tmp/invalid.out" <<'EOF'
import json, sys
errs = json.load(open(sys.argv[1]))["errors"]
for field in ("name:", "birthdate:", "registration_date:", "is_group:", "ids:", "id:"):
    assert any(e.startswith(field) for e in errs), (field, errs)
EOF
st=$(post badquery "/registry/individual?programme_id=abc" "$DATA/individual.json" -H "Authorization: Bearer $TOKEN")
expect badquery 400 "$st"

head -c 5000 /dev/zero | tr '\0' a >"$tmp/big.json"
st=$(post oversized /registry/individual "$tmp/big.json" -H "Authorization: Bearer $TOKEN")
expect oversized 413 "$st"

st=$(post unauth-none /registry/individual "$DATA/individual.json")
expect unauth-none 401 "$st"
st=$(post unauth-wrong /registry/individual "$DATA/individual.json" -H "Authorization: Bearer not-a-token")
expect unauth-wrong 401 "$st"

# Signed with the gateway's key: one expired, one valid (so the expired
# one fails for its expiry alone).
jwt() {
	python3 - "$KEY" "$1" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
p = b(json.dumps({"sub": "forged", "exp": int(time.time()) + int(sys.argv[2])}).encode())
s = b(hmac.new(sys.argv[1].encode(), (h + "." + p).encode(), hashlib.sha256).digest())
print(h + "." + p + "." + s)
EOF
}
st=$(post jwt-expired /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $(jwt -10)")
expect jwt-expired 401 "$st"
st=$(post jwt-signed /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $(jwt 600)")
expect jwt-signed 202 "$st"
[ "$st" = 202 ] && record_id "$tmp/jwt-signed.out" && acked=$((acked + 1))

# --- /oauth2/client/token -----------------------------------------------------

echo -n grant_type=client_credentials >"$tmp/grant.form"
st=$(post token-basic /oauth2/client/token "$tmp/grant.form" -u openspp-a:s3cret-a)
expect token-basic 200 "$st"
echo -n 'grant_type=client_credentials&client_id=openspp-a&client_secret=s3cret-a' >"$tmp/grant2.form"
st=$(post token-form /oauth2/client/token "$tmp/grant2.form")
expect token-form 200 "$st"
echo -n 'grant_type=client_credentials&client_id=openspp-a&client_secret=wrong' >"$tmp/grant3.form"
st=$(post token-wrong /oauth2/client/token "$tmp/grant3.form")
expect token-wrong 401 "$st"
access=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$tmp/token-basic.out" 2>/dev/null)
st=$(post token-use /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $access")
expect token-use 202 "$st"
[ "$st" = 202 ] && record_id "$tmp/token-use.out" && acked=$((acked + 1))
garbled=${access%?}
[ "${access: -1}" = A ] && garbled+=B || garbled+=A
st=$(post token-garbled /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $garbled")
expect token-garbled 401 "$st"

# --- /registry/notify -----------------------------------------------------------

st=$(post notify /registry/notify "$DATA/notify.json" -H "Authorization: Bearer $TOKEN")
expect notify 200 "$st"
json_check gateway-notify-ack "$tmp/notify.out" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["header"]["status"] == "succ", a
assert a["header"]["completed_count"] == 2, a
assert a["message"]["ack_status"] == "ACK", a
assert a["message"]["correlation_id"] == "u-msg-1", a
EOF
notify_acked=$([ "$st" = 200 ] && echo 1 || echo 0)

# dci_code NAME STATUS CODE FILE: the envelope answered STATUS with CODE.
dci_code() {
	local st
	st=$(post "$1" /registry/notify "$4" -H "Authorization: Bearer $TOKEN")
	expect "$1" "$2" "$st"
	json_check "$1-code" "$tmp/$1.out" "$3" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["header"]["status"] == "rjct", a
assert a["header"]["status_reason_code"] == sys.argv[2], a["header"]
EOF
}
dci_code notify-duplicate 200 rjct.message_id.duplicate "$DATA/notify.json"
dci_code notify-version 400 rjct.version.invalid "$DATA/notify-bad-version.json"
dci_code notify-record 400 rjct.notify_event.invalid "$DATA/notify-bad-record.json"
echo 'not json' >"$tmp/notjson"
dci_code notify-notjson 400 err.request.bad "$tmp/notjson"
st=$(post notify-unauth /registry/notify "$DATA/notify.json")
expect notify-unauth 401 "$st"

# --- Kafka down, then up again -------------------------------------------------

kafka_stop
# In parallel: each waits out message.timeout.ms.
sed 's/u-msg-1/u-msg-down/' "$DATA/notify.json" >"$tmp/notify-down.json"
down_pids=()
for i in 1 2 3; do
	post "down-$i" /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $TOKEN" \
		>"$tmp/down-$i.code" &
	down_pids+=($!)
done
post notify-down /registry/notify "$tmp/notify-down.json" -H "Authorization: Bearer $TOKEN" \
	>"$tmp/notify-down.code" &
down_pids+=($!)
wait "${down_pids[@]}"
down_ok=0
for i in 1 2 3; do
	case $(cat "$tmp/down-$i.code") in
	503) down_ok=$((down_ok + 1)) ;;
	202) record_id "$tmp/down-$i.out"; acked=$((acked + 1)) ;;
	esac
done
st=$(cat "$tmp/notify-down.code")
kafka_start
if [ "$down_ok" = 3 ]; then
	PASS gateway-kafka-down-503
else
	FAIL gateway-kafka-down-503 "$down_ok of 3 requests answered 503 with the broker down: $(cat "$tmp/down-1.out")"
fi
expect notify-down 503 "$st"

# Back up: the same requests succeed again (the producer reconnects).
up() {
	local st
	st=$(post up /registry/individual "$DATA/individual.json" -H "Authorization: Bearer $TOKEN")
	if [ "$st" = 202 ]; then
		record_id "$tmp/up.out"
		acked=$((acked + 1))
		return 0
	fi
	return 1
}
before=$acked
for i in $(seq 1 60); do
	up && break
	sleep 1
done
if [ "$acked" -gt "$before" ]; then
	PASS gateway-kafka-up-202
else
	FAIL gateway-kafka-up-202 "no 202 within 60 s after the broker came back: $(cat "$tmp/up.out")"
fi
st=$(post notify-up /registry/notify "$tmp/notify-down.json" -H "Authorization: Bearer $TOKEN")
expect notify-up 200 "$st"

# --- every 2xx is on the topic --------------------------------------------------

timeout 120 "$TOOL" consume -e -t "$topic" >"$tmp/topic.jsonl" 2>"$tmp/consume.err"
json_check gateway-no-2xx-missing "$tmp/topic.jsonl" "$tmp/acked.ids" "$acked" "$notify_acked" <<'EOF'
import json, sys
events = [json.loads(l)["value"] for l in open(sys.argv[1]) if l.startswith("{")]
ids = {e["event_id"] for e in events}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
assert len(acked) == int(sys.argv[3]), (len(acked), sys.argv[3])
missing = [i for i in acked if i not in ids]
assert not missing, ("missing", missing)
# Both acknowledged envelopes: three records each, ids from their positions.
for msg in (["u-msg-1"] if sys.argv[4] == "1" else []) + ["u-msg-down"]:
    got = [e for e in events if e["source"]["position"].startswith("dci:openspp.example:%s:" % msg)]
    assert len({e["event_id"] for e in got}) == 3, (msg, len(got))
prog = {e["programme"]["id"] for e in events}
assert prog <= {7, 12} and 12 in prog, prog
EOF

# --- rate limit ---------------------------------------------------------------------

log2=$tmp/gateway-rate.log
daemon_start "$log2" "$GW" --set http.port=0 --set topic.eligibility="$topic" \
	--set gateway.tokens.file="$DATA/tokens" --set gateway.programme.id=7 \
	--set gateway.rate.per.second=1
PIDS+=("$DAEMON_PID")
rate_pid=$DAEMON_PID
if daemon_port 60 "$log2" gateway-rate-start; then
	saved=$base
	base=http://127.0.0.1:$DAEMON_PORT
	codes=""
	for i in 1 2 3; do
		codes+=" $(post "rate-$i" /registry/individual "$DATA/invalid.json" -H "Authorization: Bearer $TOKEN")"
	done
	base=$saved
	if [[ "$codes" == *429* ]]; then
		PASS gateway-rate-429
	else
		FAIL gateway-rate-429 "three requests at once at 1/s answered:$codes"
	fi
	daemon_stop "$rate_pid" 30 "$log2" gateway-rate-stop
fi

# --- metrics, health, stop ------------------------------------------------------------

m202=$(metric "$port" 'imislink_gateway_requests_total{endpoint="/registry/individual",status="202"}')
m503=$(metric "$port" 'imislink_gateway_requests_total{endpoint="/registry/individual",status="503"}')
if [ "$m202" = "$acked" ] && [ "$m503" -ge 3 ]; then
	PASS gateway-metrics
else
	FAIL gateway-metrics "requests 202=$m202 (acked $acked), 503=$m503"
fi
check gateway-healthz curl -fsS --max-time 10 "$base/healthz"
daemon_stop "$gw_pid" 60 "$log" gateway-stop
PIDS=()
finish
