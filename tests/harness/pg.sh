#!/usr/bin/env bash
# tests/harness/pg.sh start|stop|restart <statedir>
#
# A real PostgreSQL 15 (Debian's, /usr/lib/postgresql/15/bin) for the tests:
# a cluster in <statedir>/pg with wal_level=logical, listening on 127.0.0.1
# and on a Unix socket in <statedir>/pgsock, trust authentication, a
# superuser role "imislink" and a database "imislink".  The server log goes
# to <statedir>/pg.log.  `start` writes <statedir>/pg.env:
#   PGHOST=127.0.0.1 PGPORT=<port> PGUSER=imislink PGDATABASE=imislink
# `start` on an existing cluster starts it again on the same port (`restart`
# is stop then start), so tests can take the database away and back.
#
# initdb and postgres refuse to run as root: as root, they run as the
# "postgres" system user, which then owns <statedir>/pg and <statedir>/pgsock.
set -euo pipefail
HARNESS_NAME=pg.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGBIN=${IL_PGBIN:-/usr/lib/postgresql/15/bin}
SUPERUSER=imislink
DATABASE=imislink
START_TIMEOUT=60
STOP_TIMEOUT=30

# as_pg CMD...: run CMD as the cluster's owner, from a directory that user
# can enter (postgres cannot cd into root's working directory).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$STATE" && runuser -u postgres -- "$@")
	else
		(cd "$STATE" && "$@")
	fi
}

prepare_root() {
	[ "$(id -u)" = 0 ] || return 0
	id postgres >/dev/null 2>&1 ||
		die "could not run PostgreSQL as root: no \"postgres\" system user (install postgresql-15)"
	# mktemp -d makes the state directory 0700: let postgres traverse it.
	chmod o+x "$STATE"
	if ! runuser -u postgres -- test -x "$STATE"; then
		die "could not give the \"postgres\" user access to \"$STATE\": a parent directory is closed to it"
	fi
}

init_cluster() {
	mkdir -p "$DATA" "$SOCK"
	chmod 0700 "$DATA"
	: >>"$STATE/pg.log"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$DATA" "$SOCK" "$STATE/pg.log"
	fi
	if ! as_pg "$PGBIN/initdb" -D "$DATA" -U "$SUPERUSER" -A trust -E UTF8 \
		--no-locale --no-sync >"$STATE/initdb.log" 2>&1; then
		log_tail "$STATE/initdb.log"
		die "could not create the cluster in \"$DATA\": initdb failed"
	fi
	# Trust on the socket and on IPv4 loopback, for normal and replication
	# connections alike; nothing else is reachable.
	as_pg tee "$DATA/pg_hba.conf" >/dev/null <<EOP
# written by tests/harness/pg.sh
local	all		all				trust
local	replication	all				trust
host	all		all		127.0.0.1/32	trust
host	replication	all		127.0.0.1/32	trust
EOP
	as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOP

# tests/harness/pg.sh
include_if_exists = 'imislink-port.conf'
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
# a throw-away test cluster: durability buys nothing, speed does
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOP
}

set_port() {
	echo "port = $1" | as_pg tee "$DATA/imislink-port.conf" >/dev/null
	echo "$1" >"$STATE/pg.port"
}

bind_failed() {
	grep -qiE 'could not (bind|create listen socket)|address already in use' \
		"$STATE/pg.log" 2>/dev/null
}

create_database() {
	local have
	have=$("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$1" -U "$SUPERUSER" -d postgres -Atc \
		"SELECT 1 FROM pg_database WHERE datname = '$DATABASE'") ||
		die "could not query the cluster on port $1"
	if [ "$have" != 1 ]; then
		"$PGBIN/createdb" -h 127.0.0.1 -p "$1" -U "$SUPERUSER" "$DATABASE" ||
			die "could not create database \"$DATABASE\""
	fi
}

cmd_start() {
	local port attempt fixed=0
	prepare_root
	[ -x "$PGBIN/postgres" ] || die "could not find PostgreSQL 15 in \"$PGBIN\": install postgresql-15"
	if [ ! -f "$DATA/PG_VERSION" ]; then
		init_cluster
	fi
	if as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
		die "could not start the cluster in \"$DATA\": it is already running"
	fi
	if [ -f "$STATE/pg.port" ]; then
		# A restart keeps its port: clients hold PGPORT.
		port=$(cat "$STATE/pg.port")
		fixed=1
	fi
	for attempt in 1 2 3; do
		if [ "$fixed" = 0 ]; then
			port=$(free_ports 1)
			set_port "$port"
		fi
		if as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$STATE/pg.log" -w \
			-t "$START_TIMEOUT" start >"$STATE/pg_ctl.log" 2>&1; then
			create_database "$port"
			write_env "$STATE/pg.env" "PGHOST=127.0.0.1" "PGPORT=$port" \
				"PGUSER=$SUPERUSER" "PGDATABASE=$DATABASE"
			echo "pg: PostgreSQL ready on 127.0.0.1:$port"
			return 0
		fi
		if [ "$fixed" = 0 ] && bind_failed; then
			echo "pg: port $port was taken, retrying (attempt $attempt)" >&2
			mv -f "$STATE/pg.log" "$STATE/pg.log.$attempt"
			: >>"$STATE/pg.log"
			[ "$(id -u)" != 0 ] || chown postgres: "$STATE/pg.log"
			continue
		fi
		break
	done
	log_tail "$STATE/pg_ctl.log" "$STATE/pg.log"
	die "could not start PostgreSQL on 127.0.0.1:$port: pg_ctl start failed"
}

cmd_stop() {
	local pid
	[ -f "$DATA/postmaster.pid" ] || { rm -f "$STATE/pg.env"; return 0; }
	pid=$(head -n 1 "$DATA/postmaster.pid")
	if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t "$STOP_TIMEOUT" stop \
		>"$STATE/pg_ctl.log" 2>&1; then
		# A stale pid file (server already gone) or a hung server.
		if pid_matches "$pid" "$DATA"; then
			echo "pg: fast shutdown failed, sending SIGKILL to $pid" >&2
			stop_pid "$pid" "$DATA" 1 || die "could not stop PostgreSQL (pid $pid)"
		fi
	fi
	rm -f "$STATE/pg.env"
}

if [ $# -ne 2 ]; then
	echo "usage: $0 start|stop|restart <statedir>" >&2
	exit 2
fi
STATE=$(abs_dir "$2")
DATA=$STATE/pg
SOCK=$STATE/pgsock
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop; cmd_start ;;
*) echo "usage: $0 start|stop|restart <statedir>" >&2; exit 2 ;;
esac
