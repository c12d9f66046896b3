#!/usr/bin/env bash
# make bench: runs every benchmark program and collects its figures.
#
# Each program prints its figures with the command that produced them and
# appends them as JSON lines to $BUILD/bench.jsonl (see tests/bench/bench.h).
# Benchmarks that need a broker get a real Kafka 3.9 from the test harness,
# the audit store's a real PostgreSQL 15.  BENCH_QUICK=1 runs small sizes for
# a quick look; the figures of record need the full ones.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
export IL_BENCH_JSONL="$root/$BUILD/bench.jsonl"
state=$(mktemp -d "${TMPDIR:-/tmp}/imislink-bench.XXXXXX")

cleanup() {
	"$root/tests/harness/kafka.sh" stop "$state" >/dev/null 2>&1 || true
	"$root/tests/harness/pg.sh" stop "$state" >/dev/null 2>&1 || true
	rm -rf "$state"
}
trap cleanup EXIT INT TERM

echo "== benchmarks ($(date -u +%FT%TZ), $(nproc) cores); figures appended to $IL_BENCH_JSONL"

# Broker-free benchmarks first.
for prog in "$BUILD"/bench/bench_avro; do
	[ -x "$prog" ] || continue
	"$prog"
done

echo "-- starting a real Kafka broker for the publishing benchmarks"
"$root/tests/harness/kafka.sh" start "$state" >/dev/null
set -a
# shellcheck disable=SC1091
. "$state/kafka.env"
set +a
# shellcheck disable=SC1091
. "$root/tests/integration/helpers.sh"
topic=$(make_topic_name bench-produce)
create_topic "$topic" 6
"$BUILD/bench/bench_produce" -t "$topic" -n 200000
# linger.ms=20 is part of the latency: a source that needs less sets -X linger.ms.
"$BUILD/bench/bench_produce" -t "$topic" -n 50000 -r 5000

# Enrollment: imislink-enroll against the openIMIS emulator on the same
# broker (bench_enroll creates its own topics and runs both programs).
# BENCH_QUICK=1 runs small sizes for a quick look; the figures of record
# need the full ones (1,000,000 events for the RSS growth figure).
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	enroll_sizes=(--events-100ms 4000 --events-seq 30 --events-0ms 100000 --rss-sample 10000)
else
	enroll_sizes=(--events-100ms 20000 --events-seq 100 --events-0ms 1000000 --rss-sample 100000)
fi
"$BUILD/bench/bench_enroll" --bin "$BUILD/bin" --mapping "$root/deploy/enroll-mapping.example" \
	"${enroll_sizes[@]}"
# The DCI push gateway: acknowledged POSTs per second and p99 at 64 connections.
topic=$(make_topic_name bench-gateway)
create_topic "$topic" 6
"$BUILD/bin/imislink-gateway" --set http.port=0 --set topic.eligibility="$topic" \
	--set gateway.tokens.file="$root/tests/data/gateway/tokens" --set gateway.programme.id=7 \
	--set gateway.rate.per.second=1000000 >"$state/gateway.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 150); do grep -qs '"msg":"http listening"' "$state/gateway.log" && break; sleep 0.2; done
gw_port=$(sed -n 's/.*"msg":"http listening".*"port":\([0-9]*\).*/\1/p' "$state/gateway.log" | tail -n 1)
"$BUILD/bench/bench_gateway" -u "http://127.0.0.1:$gw_port" -k u-static-token-1 -c 64 -n 30000
kill -TERM "$gw_pid"
wait "$gw_pid" || true
# Republish: `imislink replay republish` of a whole range on the same broker.
quick=${BENCH_QUICK:-0}
"$BUILD/bench/bench_replay" --bin "$BUILD/bin" -n "$([ "$quick" = 1 ] && echo 100000 || echo 500000)"
# The lag monitor: one evaluation round over 1,000 partitions.
"$BUILD/bench/bench_lag" -p 1000
echo "-- starting a real PostgreSQL for the audit-store benchmark"
"$root/tests/harness/pg.sh" start "$state" >/dev/null
set -a
# shellcheck disable=SC1091
. "$state/pg.env"
set +a
"$BUILD/bench/bench_dlq" --bin "$BUILD/bin" -n "$([ "$quick" = 1 ] && echo 20000 || echo 100000)"
# Change capture: imislink-cdc from a generated openSPP registry on the same
# PostgreSQL to the same broker (bench_cdc makes and drops its database, slot
# and topic).
if [ "$quick" = 1 ]; then
	cdc_sizes=(--households 20000 --changes 20000 --seconds 10)
else
	cdc_sizes=(--households 100000 --changes 100000 --seconds 30)
fi
"$BUILD/bench/bench_cdc" --bin "$BUILD/bin" "${cdc_sizes[@]}"
