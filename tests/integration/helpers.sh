# tests/integration/helpers.sh: sourced by every tests/integration/0NNN-*.sh.
#
# An integration script prints one line per check on stdout:
#   PASS <name>
#   FAIL <name>: <reason>
# tests/run.sh counts those lines; a script that exits non-zero without a
# FAIL line counts as one failure.  Call `finish` last to exit 1 when any
# check failed.  Scripts run under bash from the repository root, with
# output to $BUILD/test-logs/<script>.log and a limit of 600 s each.
#
# tests/run.sh exports the test services (see tests/harness/):
#   KAFKA_BOOTSTRAP_SERVERS  real Apache Kafka 3.9 broker (KRaft) on loopback,
#                            auto.create.topics.enable=false
#   SCHEMA_REGISTRY_URL      Confluent-compatible Schema Registry
#   PGHOST PGPORT PGUSER PGDATABASE  real PostgreSQL 15, wal_level=logical,
#                            PGUSER is a superuser
#   IL_KAFKA_JARS            the Kafka jars, for the Java command line tools
#   IL_TEST_TMP              scratch directory, removed after the run
#   BUILD                    absolute build directory; $BUILD/bin is on PATH
#   IL_TEST_STATE, IL_HARNESS_DIR, IL_RUN_ID  for pg_restart and friends
#
# The Kafka command line tools are JVM programs: every call costs about two
# seconds of start-up.  Call them sparingly (create all topics a script needs
# up front, describe a group once at the end), and never in a polling loop.

IL_TEST_NAME=${IL_TEST_NAME:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
IL_FAILS=0
IL_RUN_ID=${IL_RUN_ID:-$(printf '%04x%04x' "$RANDOM" "$RANDOM")}
IL_HELPERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IL_HARNESS_DIR=${IL_HARNESS_DIR:-$(cd "$IL_HELPERS_DIR/../harness" && pwd)}
# Short-lived JVM tools start faster with the C1 compiler and serial GC.
IL_JAVA_TOOL_OPTS=${IL_JAVA_TOOL_OPTS:-"-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"}

# info MESSAGE...: a progress note (stderr, so it never mixes with a
# function's output captured by $(...)).
info() {
	echo "info: $*" >&2
}

# PASS NAME
PASS() {
	echo "PASS $1"
}

# FAIL NAME REASON...
FAIL() {
	local name=$1
	shift
	IL_FAILS=$((IL_FAILS + 1))
	echo "FAIL $name: ${*:-failed}"
}

# check NAME CMD...: PASS NAME when CMD succeeds, else FAIL with its output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		PASS "$name"
	else
		FAIL "$name" "\"$*\" failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

# json_check NAME FILE... <<'PY': runs the Python check on stdin with the
# files as sys.argv[1:]; it prints the reason and exits non-zero on failure.
json_check() {
	local name=$1 out
	shift
	if out=$(python3 - "$@" 2>&1); then
		PASS "$name"
	else
		FAIL "$name" "$(tail -n 5 <<<"$out" | tr '\n' ' ')"
	fi
}

# finish: exit 1 when any check of this script failed, else 0.
finish() {
	[ "$IL_FAILS" = 0 ]
	exit $?
}

# require_env VAR...: stop the script with a FAIL line when one is unset.
require_env() {
	local v
	for v in "$@"; do
		if [ -z "${!v:-}" ]; then
			FAIL "$IL_TEST_NAME" "environment variable \"$v\" is not set: run through tests/run.sh"
			exit 1
		fi
	done
}

# make_topic_name PREFIX: a topic name unique to this run and this call
# (run id, shell pid and microseconds: no counter, since calls usually run
# in a $(...) subshell that could not update one).
make_topic_name() {
	local prefix=${1//[^A-Za-z0-9-]/-}
	echo "${prefix}-${IL_RUN_ID}-${BASHPID}-${EPOCHREALTIME/./}"
}

# kafka_tool CLASS ARGS...: run a Kafka command line tool against the test
# broker (--bootstrap-server is added).  About two seconds per call.
kafka_tool() {
	local class=$1
	shift
	# shellcheck disable=SC2086
	java $IL_JAVA_TOOL_OPTS \
		-Dlog4j.configuration="file:$IL_HARNESS_DIR/tools-log4j.properties" \
		-cp "$IL_KAFKA_JARS/*" "$class" \
		--bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" "$@"
}

# create_topic NAME PARTITIONS [TopicCommand options...]: create a topic
# (replication factor 1).  Returns non-zero with the tool's message on
# stderr when it fails.
create_topic() {
	local name=$1 partitions=$2
	shift 2
	kafka_tool org.apache.kafka.tools.TopicCommand --create --topic "$name" \
		--partitions "$partitions" --replication-factor 1 "$@" >&2
}

# describe_group GROUP: `kafka-consumer-groups --describe --group GROUP`
# output on stdout (GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
# CONSUMER-ID HOST CLIENT-ID).
describe_group() {
	kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
		--describe --group "$1"
}

# wait_until SECONDS CMD...: run CMD every 0.2 s until it succeeds; returns
# 1 if it still fails after SECONDS.  For waiting on behaviour, not for
# asserting on time.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		if ((SECONDS >= deadline)); then
			return 1
		fi
		sleep 0.2
	done
}

# pg_stop, pg_start, pg_restart: take the test PostgreSQL away and bring it
# back on the same port with the same data (for outage tests).
pg_stop() {
	"$IL_HARNESS_DIR/pg.sh" stop "$IL_TEST_STATE" >&2
}
pg_start() {
	"$IL_HARNESS_DIR/pg.sh" start "$IL_TEST_STATE" >&2
}
pg_restart() {
	"$IL_HARNESS_DIR/pg.sh" restart "$IL_TEST_STATE" >&2
}

# kafka_stop, kafka_start, kafka_restart: the same for the broker (same
# port, same data).  A start takes several seconds.
kafka_stop() {
	"$IL_HARNESS_DIR/kafka.sh" stop "$IL_TEST_STATE" >&2
}
kafka_start() {
	"$IL_HARNESS_DIR/kafka.sh" start "$IL_TEST_STATE" >&2
}
kafka_restart() {
	"$IL_HARNESS_DIR/kafka.sh" restart "$IL_TEST_STATE" >&2
}
