#!/usr/bin/env bash
# deploy/demo/run.sh - the first loop of the pipeline on embedded defaults.
#
# Called by `make demo` after the build (BUILD names the build directory).
# Starts librdkafka's mock cluster (imislink-mockbroker), publishes a sample
# of openSPP individuals with `imislink produce`, reads them back decoded with
# `imislink consume -e`, and prints what happened.  Offline serde: schema ids
# come from schemas/offline-ids.properties, no Schema Registry is needed.
# Unattended: reads no terminal, ends in seconds, stops the broker on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
bin=$build/bin
sample=$root/tests/data/openspp/demo-individuals.jsonl

for exe in "$bin/imislink" "$bin/imislink-mockbroker"; do
	if [ ! -x "$exe" ]; then
		echo "demo: $exe is missing: run \"make\" first" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/imislink-demo.XXXXXX")
broker_pid=
keep_logs=0

cleanup() {
	if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	if [ "$keep_logs" = 1 ]; then
		echo "demo: logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	keep_logs=1
	echo "demo: $*" >&2
	exit 1
}

# The demo's settings only: no operator file, no Schema Registry, any free
# HTTP port; the pipeline's topic names keep their defaults.
export IMISLINK_CONFIG=/dev/null
export SCHEMA_REGISTRY_URL=
export IMISLINK_HTTP_PORT=0
export OPENSPP_INSTANCE=openspp-demo

echo "== starting the embedded Kafka (librdkafka mock cluster, 3 brokers)"
"$bin/imislink-mockbroker" --bootstrap-file "$work/bootstrap" \
	</dev/null >"$work/broker.out" 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 100); do
	[ -s "$work/bootstrap" ] && break
	kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log" >&2; fail "the mock broker exited"; }
	sleep 0.1
done
[ -s "$work/bootstrap" ] || fail "the mock broker wrote no bootstrap address within 10 s"
bootstrap=$(cat "$work/bootstrap")
http_port=$(sed -n 's/.*"msg":"mock cluster ready".*"http_port":\([0-9]*\).*/\1/p' "$work/broker.log")
echo "   bootstrap $bootstrap, metrics on http://127.0.0.1:${http_port:-?}/metrics"

lines=$(grep -c . "$sample")
echo "== publishing $lines openSPP individuals from ${sample#"$root"/}"
set +e
"$bin/imislink" -b "$bootstrap" produce -f "$sample" </dev/null >"$work/produce.out" 2>"$work/produce.log"
produce_rc=$?
set -e
# 2 is the expected answer: one line of the sample is invalid on purpose.
if [ "$produce_rc" != 0 ] && [ "$produce_rc" != 2 ]; then
	cat "$work/produce.log" >&2
	fail "imislink produce failed (exit $produce_rc)"
fi
published=$(grep -c '"status":"published"' "$work/produce.out" || true)
refused=$(grep -c '"status":"refused"' "$work/produce.out" || true)
echo "   published $published, refused $refused (exit status $produce_rc)"
grep '"status":"refused"' "$work/produce.out" | while IFS= read -r receipt; do
	n=$(printf '%s\n' "$receipt" | sed 's/^{"line":\([0-9]*\),.*/\1/')
	printf '   line %s refused:\n' "$n"
	printf '%s\n' "$receipt" | sed -e 's/.*"reason":"\(.*\)"}$/\1/' -e 's/\\"/"/g' \
		| awk '{ n = split($0, part, /\\n/); for (i = 1; i <= n; i++) print "     - " part[i] }'
done

echo "== reading the topic back, decoded (imislink consume -e)"
"$bin/imislink" -b "$bootstrap" consume -e </dev/null >"$work/consume.out" 2>"$work/consume.log" \
	|| { cat "$work/consume.log" >&2; fail "imislink consume failed"; }
consumed=$(grep -c '"schema_id"' "$work/consume.out" || true)
undecodable=$(grep -c '"error"' "$work/consume.out" || true)
echo "   consumed $consumed events, $undecodable undecodable"
echo "   per partition (key = household or individual's National ID, else instance:res_partner:id):"
grep -o '"partition":[0-9]*' "$work/consume.out" | cut -d: -f2 | sort -n | uniq -c \
	| while read -r count partition; do
		printf '     partition %s: %s event%s\n' "$partition" "$count" "$([ "$count" = 1 ] || echo s)"
	done
seed=$(grep '"key":"openspp-demo:res_partner:66"' "$work/consume.out" || true)
if [ -n "$seed" ]; then
	gender=$(printf '%s\n' "$seed" | grep -o '"gender":[^,]*' | cut -d: -f2)
	birthdate=$(printf '%s\n' "$seed" | grep -o '"birthdate":[^,]*' | cut -d: -f2)
	echo "   seed individual 66 (REST API answer): key openspp-demo:res_partner:66," \
		"gender $gender, birthdate $birthdate (unknowns stay null)"
fi

[ "$consumed" = "$published" ] || fail "published $published events but consumed $consumed"
[ "$undecodable" = 0 ] || fail "$undecodable messages did not decode"
echo "== demo finished: $published events published and read back; the broker stops now"
