#!/usr/bin/env bash
# 0380-cdc-gateway-valgrind: the two producers of openSPP changes under
# valgrind (memcheck) on the plain build (valgrind cannot run the sanitizer
# build the rest of the suite uses), against the real broker and the real
# PostgreSQL:
#   - imislink-cdc over a fresh database holding a generated registry of 40
#     households (REPLICA IDENTITY FULL on the five tables it reads),
#     streaming programme 1: its initial load, then transactions of changes
#     (every scenario of it_openspp_gen: memberships, registrants and
#     households changed, a registrant deleted); the initial load and the
#     changes reach the topic as events of the three kinds; /metrics and
#     /healthz are scraped;
#   - imislink-gateway serving valid, invalid, oversized and unauthenticated
#     POSTs, an OAuth2 token request and a POST with the token it gave;
#   - both exit 0 on SIGTERM with no memory error and no definite or
#     indirect leak ("possibly lost" blocks are librdkafka's and glibc's
#     thread caches at exit and are not counted);
#   - an unknown configuration key stops each at start, exit 1, the key
#     named, no memory error either.
# The slot and the database (with its publication) are dropped at the end;
# the topics stay with the broker of the run, as in the other scripts.
# Needs: kafka, pg, valgrind, the plain build ($IL_PLAIN_BUILD).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS IL_TEST_TMP BUILD PGHOST PGPORT PGUSER

plain=${IL_PLAIN_BUILD:-}
CDC=$plain/bin/imislink-cdc
GW=$plain/bin/imislink-gateway
vg_require cdc-gateway-valgrind "$CDC" "$GW"
any_build GEN tests/it_openspp_gen cdc-gateway-valgrind-binaries
any_build TOOL bin/imislink cdc-gateway-valgrind-binaries

tmp=$IL_TEST_TMP/0380-cdc-gateway-valgrind
rm -rf "$tmp"
mkdir -p "$tmp"
unset IMISLINK_CONFIG
DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")/../data/gateway" && pwd)
DB=il_cdc_vg_${IL_RUN_ID}_$$
# Slot names take a-z, 0-9 and _ only.
SLOT=il_cdc_vg_${IL_RUN_ID,,}_$$
KEY=u-0380-signing-key-0123456789abcdef
TOKEN=u-static-token-1
PIDS=()                 # background processes, for the exit trap

cleanup() {
	kill_all "${PIDS[@]}"
	db_drop_slots "$DB"
	db_drop "$DB"
}
trap cleanup EXIT

# ---- set-up: the registry and the topics, up front ----
TOPIC=$(make_topic_name f-vg-cdc)
GTOPIC=$(make_topic_name f-vg-gateway)
if ! create_topic "$TOPIC" 3 || ! create_topic "$GTOPIC" 2; then
	FAIL cdc-gateway-valgrind-topics "could not create the test topics"
	finish
fi
db_create "$DB" cdc-valgrind-createdb || finish
if ! openspp_registry "$DB" 40 380 "$OPENSPP_FULL_IDENTITY"; then
	FAIL cdc-valgrind-registry "could not load the schema and the generated registry"
	finish
fi

# ---- both daemons under valgrind ----
clog=$tmp/cdc.log
daemon_start "$clog" env PGDATABASE="$DB" IMISLINK_CONFIG=/dev/null "${IL_VALGRIND[@]}" "$CDC" --set http.port=0 --set cdc.state.file="$tmp/cdc.state" \
	--set topic.eligibility="$TOPIC" --set cdc.slot.name="$SLOT" --set cdc.publication.name="$SLOT" \
	--set cdc.programmes=1 --set cdc.snapshot=initial --set openspp.instance=it-openspp-vg
cpid=$DAEMON_PID
PIDS+=("$cpid")

glog=$tmp/gateway.log
daemon_start "$glog" env IMISLINK_CONFIG=/dev/null IMISLINK_GATEWAY_TOKEN_SIGNING_KEY=$KEY "${IL_VALGRIND[@]}" "$GW" \
	--set http.port=0 --set topic.eligibility="$GTOPIC" --set gateway.tokens.file="$DATA/tokens" \
	--set gateway.oauth.clients.file="$DATA/clients" --set gateway.programme.id=7 \
	--set http.max.body.bytes=4096
gpid=$DAEMON_PID
PIDS+=("$gpid")

daemon_port 120 "$clog" cdc-valgrind-start cport
daemon_port 120 "$glog" gateway-valgrind-start gport
info "imislink-cdc on port ${cport:-?}, imislink-gateway on port ${gport:-?}"

# ---- the gateway: every kind of request ----
if [ -n "$gport" ]; then
	base=http://127.0.0.1:$gport
	# post NAME PATH FILE [curl args...]: the answer's body to $tmp/NAME.out, the status printed.
	post() {
		http_post "$tmp/$1.out" "$base$2" "${@:3}"
	}
	# expect NAME WANT GOT: check gateway-valgrind-NAME.
	expect() {
		expect_status "gateway-valgrind-$1" "$2" "$3" "$tmp/$1.out"
	}
	head -c 5000 /dev/zero | tr '\0' a >"$tmp/big.json"
	echo -n grant_type=client_credentials >"$tmp/grant.form"
	echo -n 'grant_type=client_credentials&client_id=openspp-a&client_secret=wrong' >"$tmp/grant-wrong.form"
	for i in 1 2 3; do
		expect "valid-$i" 202 "$(post "valid-$i" /registry/individual "$DATA/individual.json" \
			-H "Authorization: Bearer $TOKEN")"
	done
	expect invalid 400 "$(post invalid /registry/individual "$DATA/invalid.json" -H "Authorization: Bearer $TOKEN")"
	expect oversized 413 "$(post oversized /registry/individual "$tmp/big.json" -H "Authorization: Bearer $TOKEN")"
	expect unauth-none 401 "$(post unauth-none /registry/individual "$DATA/individual.json")"
	expect unauth-wrong 401 "$(post unauth-wrong /registry/individual "$DATA/individual.json" \
		-H "Authorization: Bearer not-a-token")"
	expect token 200 "$(post token /oauth2/client/token "$tmp/grant.form" -u openspp-a:s3cret-a)"
	expect token-wrong 401 "$(post token-wrong /oauth2/client/token "$tmp/grant-wrong.form")"
	access=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' \
		"$tmp/token.out" 2>/dev/null)
	expect token-use 202 "$(post token-use /registry/individual "$DATA/individual.json" \
		-H "Authorization: Bearer ${access:-none}")"
	expect notify 200 "$(post notify /registry/notify "$DATA/notify.json" -H "Authorization: Bearer $TOKEN")"
	expect notify-bad 400 "$(post notify-bad /registry/notify "$DATA/notify-bad-record.json" \
		-H "Authorization: Bearer $TOKEN")"
	curl -fsS --max-time 10 "$base/metrics" >"$tmp/gw-metrics" 2>/dev/null &&
		PASS gateway-valgrind-metrics || FAIL gateway-valgrind-metrics "no /metrics"
fi

# ---- change capture: initial load, then transactions of changes ----
if [ -n "$cport" ]; then
	snap=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1")
	if wait_until 180 topic_has "$tmp/topic.jsonl" "$snap"; then
		PASS cdc-valgrind-initial-load
	else
		FAIL cdc-valgrind-initial-load "$(topic_count "$tmp/topic.jsonl") events of $snap after 180 s:" \
			"$(tail -n 3 "$clog" | cut -c 1-300 | tr '\n' ' ')"
	fi
	drafts=$(db_sql "$DB" "SELECT least(count(*), 5) FROM g2p_program_membership
		WHERE program_id = 1 AND state = 'draft'")
	enrolled=$(db_sql "$DB" "SELECT least(count(*) + $drafts, 3) FROM g2p_program_membership
		WHERE program_id = 1 AND state = 'enrolled'")
	# one transaction each; registrant-deleted last, it removes a household
	for sc in "targeting --count 5" "pause-exit --count 3" birthdate-fix member-leaves noise new-head \
		id-change registrant-deleted; do
		# shellcheck disable=SC2086
		"$GEN" --scenario $sc --program 1 >"$tmp/scenario.sql" && db_psql "$DB" -f "$tmp/scenario.sql" >/dev/null ||
			FAIL cdc-valgrind-scenario "could not run scenario $sc"
	done
	# at least: the drafts enrolled, the paused and the exited ones, and one
	# registrant or household event; the scenarios of one household that
	# commit within the producer's grouping of commits make one event
	# (the kinds are checked below, the exact counts in 0360)
	want=$((snap + drafts + 2 * enrolled + 1))
	if wait_until 180 topic_has "$tmp/topic.jsonl" "$want"; then
		PASS cdc-valgrind-changes-streamed
	else
		FAIL cdc-valgrind-changes-streamed "$(topic_count "$tmp/topic.jsonl") events, at least $want expected after 180 s:" \
			"$(tail -n 3 "$clog" | cut -c 1-300 | tr '\n' ' ')"
	fi
	json_check cdc-valgrind-event-kinds "$tmp/topic.jsonl" <<'PY'
import collections, json, sys
kinds = collections.Counter(json.loads(l)["value"]["event_type"] for l in open(sys.argv[1]))
for k in ("MEMBERSHIP_CHANGED", "REGISTRANT_UPDATED", "HOUSEHOLD_CHANGED"):
    assert kinds[k] >= 1, "no %s event: %s" % (k, dict(kinds))
PY
	for i in 1 2 3; do
		curl -fsS --max-time 10 "http://127.0.0.1:$cport/metrics" >"$tmp/cdc-metrics.$i" 2>/dev/null
		curl -sS --max-time 10 "http://127.0.0.1:$cport/healthz" >"$tmp/cdc-healthz.$i" 2>/dev/null
	done
	if grep -q '^imislink_cdc_events_produced_total' "$tmp/cdc-metrics.3" &&
		grep -q '"ok"' "$tmp/cdc-healthz.3"; then
		PASS cdc-valgrind-served
	else
		FAIL cdc-valgrind-served "metrics or healthz: $(head -c 200 "$tmp/cdc-healthz.3")"
	fi
fi

# ---- SIGTERM: exit 0, nothing reported by valgrind ----
[ -n "$cport" ] && vg_stop "$cpid" cdc "$clog"
[ -n "$gport" ] && vg_stop "$gpid" gateway "$glog"
PIDS=()

# ---- a bad configuration: exit 1 at start, the key named (under valgrind too) ----
PGDATABASE=$DB vg_bad_conf cdc-valgrind-config-unknown-key "$CDC" nosuch.key --set nosuch.key=1
PGDATABASE=$DB vg_bad_conf gateway-valgrind-config-unknown-key "$GW" nosuch.key --set nosuch.key=1
finish
