# tests/harness/lib.sh: shared by kafka.sh, pg.sh and registry.sh (sourced).
#
# Each service keeps everything under the <statedir> it is given: its data,
# its logs, a pid file and a <name>.env file with the variables that
# tests/run.sh exports to the integration tests.

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HARNESS_DIR/../.." && pwd)

# JVM options for short-lived Kafka command line tools: the C1 compiler
# only and the serial collector start them noticeably faster.
IL_JAVA_TOOL_OPTS="-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"

die() {
	echo "$HARNESS_NAME: $*" >&2
	exit 1
}

# abs_dir DIR: DIR as an absolute path, created if missing.
abs_dir() {
	mkdir -p "$1" && (cd "$1" && pwd)
}

# free_ports N: N distinct TCP ports free on 127.0.0.1 right now.
free_ports() {
	python3 "$HARNESS_DIR/netutil.py" free-ports "$1"
}

# kafka_jars: the directory holding the Kafka jars.  IL_KAFKA_JARS wins when
# set; otherwise the cache that deploy/deps.sh --test fills.
kafka_jars() {
	local version home dir
	if [ -n "${IL_KAFKA_JARS:-}" ]; then
		dir=$IL_KAFKA_JARS
	else
		version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' \
			"$HARNESS_DIR/pom.xml")
		home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
		dir=${IMISLINK_CACHE:-$home/.cache/imislink}/kafka-$version
	fi
	if ! compgen -G "$dir/kafka_2.13-*.jar" >/dev/null; then
		die "could not find the Kafka jars in \"$dir\": run deploy/deps.sh --test"
	fi
	echo "$dir"
}

# pid_matches PID PATTERN: PID is alive and its command line contains
# PATTERN.  The pattern (a path inside the state directory) keeps us from
# signalling an unrelated process that reused a stale pid.
pid_matches() {
	local cmdline
	[ -n "$1" ] || return 1
	kill -0 "$1" 2>/dev/null || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ "$cmdline" == *"$2"* ]]
}

# stop_pid PID PATTERN BOUND: SIGTERM, wait up to BOUND seconds, then
# SIGKILL.  Returns 0 once the process is gone.
stop_pid() {
	local pid=$1 pattern=$2 bound=$3 i
	pid_matches "$pid" "$pattern" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < bound * 10; i++)); do
		pid_matches "$pid" "$pattern" || return 0
		sleep 0.1
	done
	echo "$HARNESS_NAME: process $pid still running after ${bound} s, sending SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		pid_matches "$pid" "$pattern" || return 0
		sleep 0.1
	done
	return 1
}

# write_env FILE LINE...: write the lines to FILE atomically, so a reader
# never sees half a file.
write_env() {
	local file=$1
	shift
	printf '%s\n' "$@" >"$file.tmp"
	mv -f "$file.tmp" "$file"
}

# log_tail FILE...: the last lines of each existing FILE, for error messages.
log_tail() {
	local f
	for f in "$@"; do
		if [ -s "$f" ]; then
			echo "--- last lines of $f ---" >&2
			tail -n 30 "$f" >&2
		fi
	done
}
