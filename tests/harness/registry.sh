#!/usr/bin/env bash
# tests/harness/registry.sh start|stop <statedir>
#
# Starts the test Schema Registry (schema_registry.py, a stand-in for
# Confluent's registry or Karapace with the same REST API, in memory) on a
# free port of 127.0.0.1, and writes <statedir>/registry.env:
#   SCHEMA_REGISTRY_URL=http://127.0.0.1:<port>
# The server binds port 0 itself and reports the port it got, so there is no
# window in which another process could take it.  Its log goes to
# <statedir>/registry.log.
set -euo pipefail
HARNESS_NAME=registry.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT=20
STOP_TIMEOUT=10

cmd_start() {
	local pid port deadline url
	if pid_matches "$(cat "$STATE/registry.pid" 2>/dev/null || true)" "$STATE/registry.port"; then
		die "could not start the registry in \"$STATE\": it is already running"
	fi
	rm -f "$STATE/registry.port"
	setsid python3 -u "$HARNESS_DIR/schema_registry.py" --host 127.0.0.1 --port 0 \
		--port-file "$STATE/registry.port" </dev/null >>"$STATE/registry.log" 2>&1 &
	pid=$!
	echo "$pid" >"$STATE/registry.pid"
	deadline=$((SECONDS + START_TIMEOUT))
	while ! [ -s "$STATE/registry.port" ]; do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
			log_tail "$STATE/registry.log"
			stop_pid "$pid" "$STATE/registry.port" 2 || true
			die "could not start the schema registry: no port reported within ${START_TIMEOUT} s"
		fi
		sleep 0.1
	done
	port=$(cat "$STATE/registry.port")
	url="http://127.0.0.1:$port"
	if ! curl -sf -m 5 "$url/config" >/dev/null; then
		log_tail "$STATE/registry.log"
		stop_pid "$pid" "$STATE/registry.port" 2 || true
		die "could not reach the schema registry at \"$url\": GET /config failed"
	fi
	write_env "$STATE/registry.env" "SCHEMA_REGISTRY_URL=$url"
	echo "registry: schema registry ready at $url (pid $pid)"
}

cmd_stop() {
	local pid
	pid=$(cat "$STATE/registry.pid" 2>/dev/null || true)
	stop_pid "$pid" "$STATE/registry.port" "$STOP_TIMEOUT" ||
		die "could not stop the schema registry (pid $pid)"
	rm -f "$STATE/registry.pid" "$STATE/registry.env"
}

if [ $# -ne 2 ]; then
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
fi
STATE=$(abs_dir "$2")
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
*) echo "usage: $0 start|stop <statedir>" >&2; exit 2 ;;
esac
