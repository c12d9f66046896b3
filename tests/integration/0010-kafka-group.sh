#!/usr/bin/env bash
# 0010-kafka-group: common/kafka.c against the real broker.
#   it_kafka_group produces 10,000 keyed events into a new 6-partition topic,
#   consumes them with a two-member group across a real rebalance, and checks
#   order per key, exactly-once handling and committed offsets = high
#   watermarks.  It runs twice: with librdkafka's default (eager) assignors and
#   with cooperative-sticky, the two paths of the rebalance callback.  Then
#   kafka-consumer-groups --describe must agree: LAG 0 on all 6 partitions.
#   Each run also checks the client rules: -X cannot weaken the delivery
#   guarantees, librdkafka's log lines come only through polling, and a
#   pause or resume librdkafka refuses leaves the pause state as it was.
#   The eager run also closes consumers during a rebalance the coordinator
#   holds (one member stopped polling): every close returns within its bound.
# Needs: kafka.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS IL_KAFKA_JARS BUILD

prog="$BUILD/tests/it_kafka_group"
if [ ! -x "$prog" ]; then
	FAIL kafka-group "\"$prog\" is missing: run make"
	finish
fi

# relabel LABEL: names the program's checks after the protocol, so the two
# runs count separately; its "# ..." notes become info lines.
relabel() {
	local label=$1 line rest
	while IFS= read -r line; do
		case $line in
		"PASS kafka-group-"*)
			PASS "kafka-group-$label-${line#PASS kafka-group-}"
			;;
		"FAIL kafka-group-"*)
			rest=${line#FAIL kafka-group-}
			FAIL "kafka-group-$label-${rest%%:*}" "${rest#*: }"
			;;
		"# "*)
			info "$label: ${line#\# }"
			;;
		esac
	done
}

# check_lag LABEL TOPIC GROUP: the operator's tool sees the group caught up.
check_lag() {
	local label=$1 topic=$2 group=$3 out rows verdict
	if ! out=$(describe_group "$group" 2>&1); then
		FAIL "kafka-group-$label-describe" "kafka-consumer-groups failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		return
	fi
	# GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
	rows=$(awk -v t="$topic" '$2 == t' <<<"$out")
	verdict=$(awk '
		{ n++; end += $5; if ($6 != "0" || $4 != $5) bad = bad " [" $3 "] lag " $6 }
		END {
			if (n != 6) print "expected 6 partitions, got " n + 0
			else if (bad != "") print "lag is not 0:" bad
			else if (end != 10000) print "log-end offsets add up to " end ", not 10000"
		}' <<<"$rows")
	if [ -z "$verdict" ]; then
		PASS "kafka-group-$label-describe-lag"
	else
		FAIL "kafka-group-$label-describe-lag" "$verdict"
	fi
}

# run_group LABEL STRATEGY
run_group() {
	local label=$1 strategy=$2 topic group out status
	topic=$(make_topic_name "it-kafka-group-$label")
	group=$(make_topic_name "it-kafka-group-$label")
	info "$label: topic $topic, group $group, partition.assignment.strategy=$strategy"
	# The program bounds itself at 120 s; timeout is the backstop.
	out=$(timeout 180 "$prog" "$topic" "$group" "$strategy" 2>"$IL_TEST_TMP/it_kafka_group-$label.log")
	status=$?
	relabel "$label" <<<"$out"
	if [ "$status" -ne 0 ]; then
		grep -q '^FAIL ' <<<"$out" ||
			FAIL "kafka-group-$label" "it_kafka_group exited with status $status: $(tail -n 3 "$IL_TEST_TMP/it_kafka_group-$label.log" | tr '\n' ' ')"
		return
	fi
	check_lag "$label" "$topic" "$group"
}

run_group eager "range,roundrobin"
run_group cooperative "cooperative-sticky"
finish
