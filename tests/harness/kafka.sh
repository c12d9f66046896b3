#!/usr/bin/env bash
# tests/harness/kafka.sh start|stop|restart <statedir>
#
# A real Apache Kafka 3.9 broker for the tests: KRaft, one node acting as
# broker and controller, listening on 127.0.0.1 only, on two free ports.
# Everything lives in <statedir>/kafka; the broker's log goes to
# <statedir>/kafka.log.  `start` returns once the broker answers a Metadata
# request and writes <statedir>/kafka.env:
#   KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:<port>
#   IL_KAFKA_JARS=<directory with the Kafka jars>
# `start` on a state directory whose broker was stopped starts it again with
# the same ports and data (`restart` does both), so tests can take the broker
# away and bring it back.  The jars come from IL_KAFKA_JARS, else from the
# cache that deploy/deps.sh --test fills.
set -euo pipefail
HARNESS_NAME=kafka.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT=${IL_KAFKA_START_TIMEOUT:-90}	# seconds until it must answer
STOP_TIMEOUT=30					# seconds from SIGTERM to SIGKILL

write_config() {
	local port=$1 cport=$2
	cat >"$KDIR/server.properties" <<EOP
# written by tests/harness/kafka.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KDIR/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOP
	cat >"$KDIR/log4j.properties" <<EOP
# written by tests/harness/kafka.sh: the broker logs to a file, never to the
# terminal of the test run
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$STATE/kafka.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
EOP
	echo "$port $cport" >"$KDIR/ports"
}

# Kafka's cluster ids are the URL-safe base64 of a random 16-byte UUID.
# Making one here saves a JVM start (StorageTool random-uuid).
cluster_id() {
	python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

format_storage() {
	[ -f "$KDIR/data/meta.properties" ] && return 0
	# shellcheck disable=SC2086
	if ! java $IL_JAVA_TOOL_OPTS -Dlog4j.configuration="file:$KDIR/log4j.properties" \
		-cp "$JARS/*" kafka.tools.StorageTool format -t "$(cluster_id)" \
		-c "$KDIR/server.properties" --ignore-formatted \
		>"$KDIR/format.log" 2>&1; then
		log_tail "$KDIR/format.log"
		die "could not format the storage in \"$KDIR/data\": StorageTool failed"
	fi
}

# launch: start the JVM in its own session, so a Ctrl-C on the terminal of
# the test run reaches tests/run.sh (which stops us in order) and not the
# broker directly.
launch() {
	setsid java -Xms256m -Xmx512m -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true \
		-Dlog4j.configuration="file:$KDIR/log4j.properties" \
		-cp "$JARS/*" kafka.Kafka "$KDIR/server.properties" \
		</dev/null >>"$STATE/kafka.out" 2>&1 &
	echo $! >"$KDIR/kafka.pid"
}

# wait_ready PORT: 0 when the broker answers, 1 when it died, 2 on timeout.
wait_ready() {
	local port=$1 pid deadline
	pid=$(cat "$KDIR/kafka.pid")
	deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! pid_matches "$pid" "$KDIR/server.properties"; then
			return 1
		fi
		if python3 "$HARNESS_DIR/netutil.py" kafka-ready 127.0.0.1 "$port"; then
			return 0
		fi
		sleep 0.3
	done
	return 2
}

bind_failed() {
	grep -qiE 'address already in use|BindException' \
		"$STATE/kafka.log" "$STATE/kafka.out" 2>/dev/null
}

cmd_start() {
	local port cport attempt rc fixed=0
	mkdir -p "$KDIR/data"
	if pid_matches "$(cat "$KDIR/kafka.pid" 2>/dev/null || true)" \
		"$KDIR/server.properties"; then
		die "could not start the broker in \"$KDIR\": it is already running"
	fi
	if [ -f "$KDIR/ports" ]; then
		# A restart keeps its ports: clients hold the bootstrap address.
		read -r port cport <"$KDIR/ports"
		fixed=1
	fi
	for attempt in 1 2 3; do
		if [ "$fixed" = 0 ]; then
			read -r port cport < <(free_ports 2)
		fi
		write_config "$port" "$cport"
		format_storage
		: >"$STATE/kafka.out"
		launch
		rc=0
		wait_ready "$port" || rc=$?
		if [ "$rc" = 0 ]; then
			write_env "$STATE/kafka.env" \
				"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$port" \
				"IL_KAFKA_JARS=$JARS"
			echo "kafka: broker ready on 127.0.0.1:$port (pid $(cat "$KDIR/kafka.pid"))"
			return 0
		fi
		stop_pid "$(cat "$KDIR/kafka.pid")" "$KDIR/server.properties" 5 || true
		if [ "$rc" = 1 ] && [ "$fixed" = 0 ] && bind_failed; then
			# Another process took a port between our check and
			# the broker's bind: try again with new ones.
			echo "kafka: port $port or $cport was taken, retrying (attempt $attempt)" >&2
			mv -f "$STATE/kafka.log" "$STATE/kafka.log.$attempt" 2>/dev/null || true
			continue
		fi
		break
	done
	log_tail "$STATE/kafka.log" "$STATE/kafka.out"
	if [ "$rc" = 2 ]; then
		die "could not start the broker on 127.0.0.1:$port: no answer within ${START_TIMEOUT} s"
	fi
	die "could not start the broker on 127.0.0.1:$port: the JVM exited"
}

cmd_stop() {
	local pid
	pid=$(cat "$KDIR/kafka.pid" 2>/dev/null || true)
	if ! stop_pid "$pid" "$KDIR/server.properties" "$STOP_TIMEOUT"; then
		die "could not stop the broker (pid $pid)"
	fi
	rm -f "$KDIR/kafka.pid" "$STATE/kafka.env"
}

if [ $# -ne 2 ]; then
	echo "usage: $0 start|stop|restart <statedir>" >&2
	exit 2
fi
STATE=$(abs_dir "$2")
KDIR=$STATE/kafka
if [ "$1" != stop ]; then
	JARS=$(kafka_jars)
fi
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop; cmd_start ;;
*) echo "usage: $0 start|stop|restart <statedir>" >&2; exit 2 ;;
esac
