#!/usr/bin/env bash
# deploy/demo/run.sh - the first loop of the pipeline on embedded defaults.
#
# Called by `make demo` after the build (BUILD names the build directory).
# Starts librdkafka's mock cluster (imislink-mockbroker), publishes a sample
# of openSPP individuals with `imislink produce`, reads them back decoded with
# `imislink consume -e`, then publishes openSPP households enrolled in
# insurance programmes and lets the enrollment worker (imislink-enroll) enroll
# them into the openIMIS emulator (imislink-openimis), and prints what
# happened: enrolled, already enrolled, skipped, dead letters by reason.
# Then the operators' side: a throw-away PostgreSQL (initdb on a Unix socket
# in the work directory) as the audit store, filled by imislink-deadletter;
# `imislink dlq stats` and `list`; the unmapped area gets its village, the
# enrollment worker restarts and `imislink dlq replay` enrolls the dead
# letter.  Then change capture: the same PostgreSQL (wal_level=logical)
# holds a synthetic openSPP registry (tests/data/openspp/schema.sql filled by
# it_openspp_gen), imislink-cdc streams its insurance programme from a
# logical replication slot, a targeting run enrolls a few hundred households
# in openSPP and the enrollment worker enrolls them into openIMIS; the demo
# prints the changes streamed, the families and policies created and the
# dead letters by reason.  Last, `imislink lag` for both groups (named: the
# mock cluster cannot list groups).  Workers use session.timeout.ms=6000 so
# that a restarted worker's group settles fast on the mock cluster.
# Offline serde: schema ids come from schemas/offline-ids.properties, no
# Schema Registry is needed.  Unattended: reads no terminal, ends in seconds,
# stops every process it started on exit (DEMO_KEEP=1 keeps its work
# directory and logs, which a failure keeps anyway).  HTTP goes through
# bash's /dev/tcp: neither curl nor python is needed.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
bin=$build/bin
sample=$root/tests/data/openspp/demo-individuals.jsonl
households=$root/tests/data/openspp/demo-eligibility.jsonl
mapping=$root/deploy/demo/enroll-mapping.properties
gen=$build/tests/it_openspp_gen
schema=$root/tests/data/openspp/schema.sql
registry_mapping=$root/deploy/demo/registry-mapping.properties
# The synthetic registry: 800 households hold about 330 drafts of programme
# 1 (its insurance programme), of which the targeting run enrolls 300.
registry_households=800
registry_seed=2026
registry_programme=1
registry_targeted=300
# How long the worker may take for every event to have a result or a dead letter.
enroll_timeout_s=60

for exe in "$bin/imislink" "$bin/imislink-mockbroker" "$bin/imislink-enroll" "$bin/imislink-openimis" \
	"$bin/imislink-deadletter" "$bin/imislink-cdc" "$gen"; do
	if [ ! -x "$exe" ]; then
		echo "demo: $exe is missing: run \"make\" first" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/imislink-demo.XXXXXX")
broker_pid=
emu_pid=
worker_pid=
deadletter_pid=
cdc_pid=
pg_data=	# the audit store's cluster, once initialised
keep_logs=${DEMO_KEEP:-0}

# stop PID: SIGTERM, and wait for it (it finishes its work and commits); one
# that has not ended 30 s later gets SIGKILL, so that the demo always ends.
stop() {
	local state
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		for _ in $(seq 300); do
			# an ended child stays a zombie (state Z) until waited for
			state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || state=
			case $state in ''|Z) break ;; esac
			sleep 0.1
		done
		case $state in ''|Z) ;; *)
			echo "demo: process $1 did not stop within 30 s of SIGTERM: killed" >&2
			kill -KILL "$1" 2>/dev/null || true ;;
		esac
		wait "$1" 2>/dev/null || true
	fi
}

cleanup() {
	stop "$cdc_pid"
	stop "$worker_pid"
	stop "$deadletter_pid"
	stop "$emu_pid"
	stop "$broker_pid"
	if [ -n "$pg_data" ]; then
		as_pg "$pgbin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
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

# The audit store is a throw-away PostgreSQL 15 reached through a Unix socket
# in the work directory: no TCP port to pick, nothing reachable from outside.
pgbin=/usr/lib/postgresql/15/bin

# as_pg CMD...: initdb and postgres refuse to run as root; as root they run
# as the "postgres" system user that postgresql-15 installs.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
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

# ---- enrollment: households into openIMIS ----------------------------------

# http_get PORT PATH: the body of GET http://127.0.0.1:PORT/PATH (bash's
# /dev/tcp, HTTP/1.0: the server closes when done).  In a subshell so that a
# refused connection is a failed call, not the end of the script.
http_get() (
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
	reply=$(timeout 5 cat <&3) || exit 1
	case $reply in "HTTP/1."?" 200"*) ;; *) exit 1 ;; esac
	printf '%s\n' "${reply#*$'\r\n\r\n'}"
)

# metric_sum NAME [LABEL] <metrics: the sum of NAME's samples (with LABEL).
metric_sum() {
	awk -v name="$1" -v label="${2:-}" '
		index($0, name "{") == 1 || index($0, name " ") == 1 {
			if (label == "" || index($0, label) > 0) sum += $NF
		}
		END { printf "%d\n", sum }'
}

# wait_listening PID LOG WHAT: waits (10 s at most) for the "http listening"
# line that process PID, WHAT in the messages, logs to LOG and sets
# listen_port to its port; the demo fails when PID exits first.
wait_listening() {
	listen_port=
	for _ in $(seq 100); do
		listen_port=$(sed -n 's/.*"msg":"http listening".*"port":\([0-9]*\).*/\1/p' "$2" | head -n 1)
		[ -n "$listen_port" ] && return 0
		kill -0 "$1" 2>/dev/null || { tail -n 5 "$2" >&2; fail "$3 exited"; }
		sleep 0.1
	done
	fail "$3 did not listen within 10 s"
}

# wait_metric PID LOG WHAT PORT METRIC N STARTED SECONDS: polls PORT's
# /metrics until the sum of METRIC reaches N, leaving the last page in
# metric_page and the sum in metric_value; returns 1 when SECONDS have passed
# since STARTED (a $SECONDS) first.  The demo fails when process PID (WHAT,
# logging to LOG) exits meanwhile.
wait_metric() {
	metric_value=0
	metric_page=
	while :; do
		if metric_page=$(http_get "$4" /metrics); then
			metric_value=$(metric_sum "$5" <<<"$metric_page")
			[ "$metric_value" -ge "$6" ] && return 0
		fi
		kill -0 "$1" 2>/dev/null || { tail -n 5 "$2" >&2; fail "$3 exited"; }
		((SECONDS - $7 < $8)) || return 1
		sleep 0.2
	done
}

# json_str FIELD <line: the string value of "FIELD":"..." (escapes kept).
json_str() {
	sed -n 's/.*"'"$1"'":"\(\([^"\\]\|\\.\)*\)".*/\1/p'
}

hh_lines=$(grep -c . "$households")
echo "== publishing $hh_lines eligibility events of openSPP households from ${households#"$root"/}"
"$bin/imislink" -b "$bootstrap" produce -f "$households" </dev/null >"$work/produce2.out" 2>"$work/produce2.log" \
	|| { cat "$work/produce2.log" >&2; fail "imislink produce of the households failed"; }
published2=$(grep -c '"status":"published"' "$work/produce2.out" || true)
[ "$published2" = "$hh_lines" ] || fail "published $published2 of $hh_lines household events"
total=$((published + published2))
echo "   published $published2 (6 households, one of them again, one registrant update);" \
	"the topic now holds $total events"

echo "== starting the openIMIS emulator and the enrollment worker"
"$bin/imislink-openimis" --port 0 --port-file "$work/emu.port" \
	</dev/null >"$work/emu.out" 2>"$work/emu.log" &
emu_pid=$!
for _ in $(seq 100); do
	[ -s "$work/emu.port" ] && break
	kill -0 "$emu_pid" 2>/dev/null || { tail -n 5 "$work/emu.log" >&2; fail "the openIMIS emulator exited"; }
	sleep 0.1
done
[ -s "$work/emu.port" ] || fail "the openIMIS emulator wrote no port within 10 s"
emu_port=$(cat "$work/emu.port")

# start_worker MAPPING [CALLS]: starts the enrollment worker with MAPPING and
# waits for its HTTP port (worker_pid, worker_port).  The emulator has no
# rate limit: the client-side one (2 calls/s by default, for a production
# openIMIS) may go up, to CALLS per second (default 100).
start_worker() {
	# Truncated here, before the start, so that the wait below never reads
	# a missing log or the previous run's port.
	: >"$work/worker.log"
	OPENIMIS_API_URL=http://127.0.0.1:$emu_port OPENIMIS_PASSWORD=admin123 \
	IMISLINK_ENROLL_MAPPING_FILE=$1 OPENIMIS_CALLS_PER_SECOND=${2:-100} \
		"$bin/imislink-enroll" --set "kafka.bootstrap.servers=$bootstrap" -X session.timeout.ms=6000 \
		</dev/null >>"$work/worker.out" 2>>"$work/worker.log" &
	worker_pid=$!
	wait_listening "$worker_pid" "$work/worker.log" "the enrollment worker"
	worker_port=$listen_port
}
start_worker "$mapping"
echo "   openIMIS emulator on http://127.0.0.1:$emu_port, worker metrics on http://127.0.0.1:$worker_port/metrics"
echo "   mapping ${mapping#"$root"/}"

started=$SECONDS
if ! wait_metric "$worker_pid" "$work/worker.log" "the enrollment worker" "$worker_port" \
	imislink_enroll_events_total "$total" "$started" "$enroll_timeout_s"; then
	tail -n 5 "$work/worker.log" >&2
	fail "after ${enroll_timeout_s} s only $metric_value of $total events have a result or a dead letter" \
		"(worker log: $work/worker.log)"
fi
done_events=$metric_value
metrics=$metric_page
echo "   every event has an outcome after $((SECONDS - started)) s: $done_events of $total"
counts=$(http_get "$emu_port" /_emu/counts) || fail "the emulator did not answer /_emu/counts"
duplicates=$(http_get "$emu_port" /_emu/duplicates) || fail "the emulator did not answer /_emu/duplicates"
# A clean stop commits the offsets behind the results.
stop "$worker_pid"
worker_pid=

"$bin/imislink" -b "$bootstrap" consume -t imis.enrollment.results.v1 -e </dev/null \
	>"$work/results.out" 2>"$work/results.log" \
	|| { cat "$work/results.log" >&2; fail "imislink consume of the results failed"; }
"$bin/imislink" -b "$bootstrap" consume -t openspp.eligibility.v1.dlq -e </dev/null \
	>"$work/dlq.out" 2>"$work/dlq.log" \
	|| { cat "$work/dlq.log" >&2; fail "imislink consume of the dead letters failed"; }
results=$(grep -c '"outcome"' "$work/results.out" || true)
dead=$(grep -c . "$work/dlq.out" || true)

outcome() {
	metric_sum imislink_enroll_events_total "outcome=\"$1\"" <<<"$metrics"
}
# outcome_wait OUTCOME N: waits (30 s at most) until the running worker has
# N events of OUTCOME (metrics holds its last /metrics).
outcome_wait() {
	local n=0 started=$SECONDS
	while [ "$n" -lt "$2" ]; do
		if metrics=$(http_get "$worker_port" /metrics); then
			n=$(outcome "$1")
		fi
		((SECONDS - started < 30)) || fail "after 30 s the worker has $n of $2 events $1"
		sleep 0.2
	done
}
count_of() {
	printf '%s\n' "$counts" | sed -n 's/.*"'"$1"'":\([0-9]*\).*/\1/p'
}
echo "== enrollment summary"
printf '   %-18s %3s  (openIMIS now holds %s insurees, %s families, %s policies)\n' "enrolled" \
	"$(outcome ENROLLED)" "$(count_of insurees)" "$(count_of families)" "$(count_of policies)"
printf '   %-18s %3s\n' "already enrolled" "$(outcome ALREADY_ENROLLED)"
printf '   %-18s %3s\n' "updated" "$(outcome UPDATED)"
printf '   %-18s %3s\n' "skipped" "$(outcome SKIPPED)"
grep '"outcome":"SKIPPED"' "$work/results.out" | json_str error_message | sed 's/\\"/"/g' | sort | uniq -c \
	| while read -r n reason; do
		printf '     %3s  %s\n' "$n" "$reason"
	done
printf '   %-18s %3s\n' "dead letters" "$dead"
while IFS= read -r letter; do
	cls=$(printf '%s\n' "$letter" | json_str __imislink.errors.class)
	msg=$(printf '%s\n' "$letter" | json_str __connect.errors.exception.message | sed 's/\\"/"/g')
	printf '     key %s, %s: %s\n' "$(printf '%s\n' "$letter" | json_str key)" "${cls:-?}" "${msg:-?}"
done <"$work/dlq.out"
case $duplicates in
*'"ok":true'*) echo "   openIMIS duplicate check: none (no CHF ID twice, no overlapping policies)" ;;
*) fail "the emulator's duplicate check failed: $duplicates" ;;
esac

[ "$results" = "$total" ] || fail "$total events published but $results results on imis.enrollment.results.v1"
[ "$dead" = "$(outcome FAILED)" ] || fail "$dead dead letters but the worker counted $(outcome FAILED) failures"
[ "$dead" -ge 1 ] || fail "the household with an unmapped area did not become a dead letter"
[ "$(outcome ALREADY_ENROLLED)" -ge 1 ] || fail "the household published twice was not reported already enrolled"
# ---- audit store, consumer lag and a replay ---------------------------------

echo "== starting a throw-away PostgreSQL and the dead-letter worker (the audit store)"
# wal_level=logical and room for a replication slot: the same server later
# holds the openSPP registry that change capture streams.
[ -x "$pgbin/initdb" ] || fail "PostgreSQL 15 is missing from $pgbin: run \"deploy/deps.sh --demo\""
mkdir -p "$work/audit"
if [ "$(id -u)" = 0 ]; then
	chmod o+x "$work"
	chown postgres: "$work/audit"
fi
as_pg "$pgbin/initdb" -D "$work/audit/data" -U imislink -A trust -E UTF8 --no-locale --no-sync \
	>"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; fail "initdb failed"; }
pg_data=$work/audit/data
as_pg "$pgbin/pg_ctl" -D "$pg_data" -l "$work/audit/pg.log" -w -o "-c listen_addresses='' \
	-c unix_socket_directories='$work/audit' -c fsync=off -c wal_level=logical \
	-c max_replication_slots=4 -c max_wal_senders=4" start >"$work/pg_ctl.log" 2>&1 \
	|| { cat "$work/pg_ctl.log" >&2; fail "PostgreSQL did not start"; }
export PGHOST=$work/audit PGUSER=imislink PGDATABASE=postgres
: >"$work/deadletter.log"
"$bin/imislink-deadletter" --set "kafka.bootstrap.servers=$bootstrap" \
	</dev/null >"$work/deadletter.out" 2>>"$work/deadletter.log" &
deadletter_pid=$!
wait_listening "$deadletter_pid" "$work/deadletter.log" "the dead-letter worker"
dl_port=$listen_port
wait_metric "$deadletter_pid" "$work/deadletter.log" "the dead-letter worker" "$dl_port" \
	imislink_deadletter_rows_total $((results + dead)) "$SECONDS" 60 \
	|| fail "after 60 s the audit store holds $metric_value of $((results + dead)) rows"
stored=$metric_value
echo "   $stored rows stored ($results results, $dead dead letters), PostgreSQL on the socket in $work/audit"

echo "== imislink dlq stats"
"$bin/imislink" dlq stats </dev/null 2>"$work/dlq-stats.log" | sed 's/^/   /' \
	|| { cat "$work/dlq-stats.log" >&2; fail "imislink dlq stats failed"; }
echo "== imislink dlq list"
"$bin/imislink" dlq list </dev/null 2>"$work/dlq-list.log" | sed 's/^/   /' \
	|| { cat "$work/dlq-list.log" >&2; fail "imislink dlq list failed"; }

echo "== the unmapped area gets its village; the mapping dead letters are replayed"
fixed=$work/enroll-mapping-fixed.properties
{ cat "$mapping"; echo "area.ET-AA-09 = R2D2M1V2"; } >"$fixed"
start_worker "$fixed"
"$bin/imislink" -b "$bootstrap" dlq replay --class mapping --reason "area ET-AA-09 mapped to R2D2M1V2" \
	</dev/null >"$work/replay.out" 2>"$work/replay.log" \
	|| { cat "$work/replay.log" >&2; fail "imislink dlq replay failed"; }
sed 's/^/   /' "$work/replay.out"
outcome_wait ENROLLED 1
counts=$(http_get "$emu_port" /_emu/counts) || fail "the emulator did not answer /_emu/counts"
echo "   the replayed household: ENROLLED; openIMIS now holds $(count_of insurees) insurees," \
	"$(count_of families) families, $(count_of policies) policies"
stop "$worker_pid"
worker_pid=
echo "== imislink dlq list --status replayed"
"$bin/imislink" dlq list --status replayed </dev/null 2>"$work/dlq-list2.log" | sed 's/^/   /' \
	|| { cat "$work/dlq-list2.log" >&2; fail "imislink dlq list failed"; }

# ---- change capture: an openSPP registry streamed into openIMIS ------------

# psql_registry ARGS...: psql on the registry database, quiet, stopping at
# the first error; the generator writes UTF-8 (non-ASCII names).
psql_registry() {
	PGCLIENTENCODING=UTF8 "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -d openspp "$@"
}

echo "== a synthetic openSPP registry in the same PostgreSQL (it_openspp_gen --households $registry_households)"
"$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE openspp" </dev/null >"$work/registry.log" 2>&1 \
	|| { cat "$work/registry.log" >&2; fail "could not create the registry database"; }
psql_registry -f "$schema" </dev/null >>"$work/registry.log" 2>&1 \
	|| { cat "$work/registry.log" >&2; fail "could not load ${schema#"$root"/}"; }
"$gen" --households "$registry_households" --seed "$registry_seed" 2>>"$work/registry.log" \
	| psql_registry >>"$work/registry.log" 2>&1 \
	|| { tail -n 5 "$work/registry.log" >&2; fail "could not load the generated registry"; }
# openIMIS needs an insurance number (CHF ID) for every insuree, which the
# generator gives only some individuals: the others get one here, as a
# registry feeding an insurance scheme issues them.  The registry's other
# gaps (missing birthdates and genders) stay: they become dead letters.
# REPLICA IDENTITY FULL on the captured tables, as a deployment sets it: the
# producer then knows the previous state and filters unchanged updates.
psql_registry >>"$work/registry.log" 2>&1 <<'SQL' || { cat "$work/registry.log" >&2; fail "could not prepare the registry"; }
INSERT INTO g2p_reg_id (partner_id, id_type, value, status, create_uid, create_date, write_uid, write_date)
SELECT p.id, 2, 'CHF' || lpad(p.id::text, 9, '0'), 'valid', 2, now(), 2, now()
FROM res_partner p
WHERE p.is_registrant AND NOT p.is_group
	AND NOT EXISTS (SELECT 1 FROM g2p_reg_id r WHERE r.partner_id = p.id AND r.id_type = 2);
ALTER TABLE g2p_program_membership REPLICA IDENTITY FULL;
ALTER TABLE res_partner REPLICA IDENTITY FULL;
ALTER TABLE g2p_reg_id REPLICA IDENTITY FULL;
ALTER TABLE g2p_phone_number REPLICA IDENTITY FULL;
ALTER TABLE g2p_group_membership REPLICA IDENTITY FULL;
SQL
# registry_query SQL: one unaligned value per line.
registry_query() {
	psql_registry -A -t -c "$1" </dev/null
}
registry_query "SELECT count(*) FILTER (WHERE is_group), count(*) FILTER (WHERE NOT is_group),
		count(*) FILTER (WHERE NOT is_group AND birthdate IS NULL),
		count(*) FILTER (WHERE NOT is_group AND gender IS NULL)
	FROM res_partner WHERE is_registrant" >"$work/registry.figures" 2>>"$work/registry.log" \
	|| { cat "$work/registry.log" >&2; fail "could not read the registry"; }
IFS='|' read -r reg_groups reg_people reg_nobirth reg_nogender <"$work/registry.figures"
programme_name=$(registry_query "SELECT name FROM g2p_program WHERE id = $registry_programme")
echo "   $reg_groups households, $reg_people individuals ($reg_nobirth without birthdate," \
	"$reg_nogender without gender) in 6 districts, CR-01 .. CR-06"
printf '   programme %s "%s" (households):' "$registry_programme" "$programme_name"
registry_query "SELECT state || ' ' || count(*) FROM g2p_program_membership
	WHERE program_id = $registry_programme GROUP BY state ORDER BY count(*) DESC" \
	| tr '\n' ',' | sed -e 's/,$//' -e 's/,/, /g' -e 's/^/ /'
echo

echo "== starting the change producer (imislink-cdc: logical replication slot, programme $registry_programme)"
# cdc.snapshot=never: the memberships as they stand are not published, only
# what changes from now on, so what reaches Kafka is the targeting run.
: >"$work/cdc.log"
PGDATABASE=openspp "$bin/imislink-cdc" --set "kafka.bootstrap.servers=$bootstrap" \
	--set cdc.programmes="$registry_programme" --set cdc.snapshot=never --set cdc.state.file="$work/cdc.state" \
	</dev/null >"$work/cdc.out" 2>>"$work/cdc.log" &
cdc_pid=$!
wait_listening "$cdc_pid" "$work/cdc.log" "the change producer"
cdc_port=$listen_port
# Changes count from the slot's creation on: the targeting run waits for it.
slot=
for _ in $(seq 100); do
	slot=$(registry_query "SELECT slot_name || ' (' || plugin || '), publication ' ||
		(SELECT string_agg(pubname, ',') FROM pg_publication)
		FROM pg_replication_slots WHERE database = 'openspp' AND active" 2>/dev/null || true)
	[ -n "$slot" ] && break
	kill -0 "$cdc_pid" 2>/dev/null || { tail -n 5 "$work/cdc.log" >&2; fail "the change producer exited"; }
	sleep 0.1
done
[ -n "$slot" ] || fail "the change producer created no replication slot within 10 s (log: $work/cdc.log)"
echo "   slot $slot; cdc.programmes=$registry_programme, cdc.snapshot=never (changes from now on)" \
	"into openspp.eligibility.v1"
echo "   metrics on http://127.0.0.1:$cdc_port/metrics"

emu_before=$(http_get "$emu_port" /_emu/counts) || fail "the emulator did not answer /_emu/counts"
families_before=$(counts=$emu_before; count_of families)
policies_before=$(counts=$emu_before; count_of policies)
insurees_before=$(counts=$emu_before; count_of insurees)
start_worker "$registry_mapping" 1000
echo "   enrollment worker restarted with ${registry_mapping#"$root"/}"

echo "== targeting run in openSPP: $registry_targeted drafts of programme $registry_programme enrolled in one transaction"
echo "   it_openspp_gen --scenario targeting --program $registry_programme --count $registry_targeted | psql"
drafts_query="SELECT count(*) FROM g2p_program_membership WHERE program_id = $registry_programme AND state = 'draft'"
drafts_before=$(registry_query "$drafts_query")
"$gen" --scenario targeting --program "$registry_programme" --count "$registry_targeted" 2>>"$work/registry.log" \
	| psql_registry >>"$work/registry.log" 2>&1 \
	|| { tail -n 5 "$work/registry.log" >&2; fail "the targeting run failed"; }
targeted=$((drafts_before - $(registry_query "$drafts_query")))
[ "$targeted" -ge 1 ] || fail "the targeting run enrolled no household"
started=$SECONDS
wait_metric "$cdc_pid" "$work/cdc.log" "the change producer" "$cdc_port" imislink_cdc_events_produced_total \
	"$targeted" "$started" 60 \
	|| fail "after 60 s the change producer streamed $metric_value of $targeted changes"
streamed=$metric_value
echo "   $targeted households enrolled in openSPP; imislink-cdc streamed $streamed membership changes" \
	"(imislink_cdc_events_produced_total)"
wait_metric "$worker_pid" "$work/worker.log" "the enrollment worker" "$worker_port" \
	imislink_enroll_events_total "$targeted" "$started" "$enroll_timeout_s" \
	|| fail "after ${enroll_timeout_s} s only $metric_value of" \
		"$targeted streamed changes have a result or a dead letter (worker log: $work/worker.log)"
metrics=$metric_page
counts=$(http_get "$emu_port" /_emu/counts) || fail "the emulator did not answer /_emu/counts"
duplicates=$(http_get "$emu_port" /_emu/duplicates) || fail "the emulator did not answer /_emu/duplicates"
stop "$worker_pid"
worker_pid=
echo "   every streamed change has an outcome (enrolled or dead-lettered) after $((SECONDS - started)) s"

"$bin/imislink" -b "$bootstrap" consume -e </dev/null >"$work/registry-events.out" 2>"$work/registry-events.log" \
	|| { cat "$work/registry-events.log" >&2; fail "imislink consume failed"; }
# The registry's households are keyed by their own National ID, HH-<seed>-<id>.
cdc_events=$(grep "\"key\":\"HH-$registry_seed-" "$work/registry-events.out" | grep '"kind":"CDC"' || true)
drafts_enrolled=$(printf '%s\n' "$cdc_events" | grep '"previous_state":"DRAFT"' | grep -c '"state":"ENROLLED"' || true)
"$bin/imislink" -b "$bootstrap" consume -t openspp.eligibility.v1.dlq -e </dev/null \
	>"$work/dlq2.out" 2>"$work/dlq2.log" \
	|| { cat "$work/dlq2.log" >&2; fail "imislink consume of the dead letters failed"; }
grep "\"key\":\"HH-$registry_seed-" "$work/dlq2.out" >"$work/registry-dlq.out" || true
registry_dead=$(grep -c . "$work/registry-dlq.out" || true)

echo "== change capture summary"
printf '   %-30s %4s  (%s MEMBERSHIP_CHANGED DRAFT -> ENROLLED on openspp.eligibility.v1)\n' \
	"membership changes streamed" "$streamed" "$drafts_enrolled"
printf '   %-30s %4s  (openIMIS: +%s families, +%s policies, +%s insurees)\n' "households enrolled" \
	"$(outcome ENROLLED)" "$(($(count_of families) - families_before))" \
	"$(($(count_of policies) - policies_before))" "$(($(count_of insurees) - insurees_before))"
printf '   %-30s %4s\n' "dead letters" "$registry_dead"
# By reason: the gaps of each household, without the members' positions and
# ids ("member 3 (res_partner 4711): no birthdate" counts as "no birthdate"),
# sorted so that equal sets read the same.
awk '
	function field(name,    v) {
		if (!match($0, "\"" name "\":\"([^\"\\\\]|\\\\.)*\""))
			return "?"
		v = substr($0, RSTART + length(name) + 4, RLENGTH - length(name) - 5)
		gsub(/\\"/, "\"", v)
		return v
	}
	{
		delete seen
		k = 0
		n = split(field("__connect.errors.exception.message"), part, /; /)
		for (i = 1; i <= n; i++) {
			sub(/^[^:]*\(res_partner [0-9]+\): /, "", part[i])
			m = split(part[i], gap, /, /)
			for (j = 1; j <= m; j++)
				if (!(gap[j] in seen)) {
					seen[gap[j]] = 1
					kind[++k] = gap[j]
				}
		}
		for (i = 2; i <= k; i++)
			for (j = i; j > 1 && kind[j - 1] > kind[j]; j--) {
				g = kind[j]; kind[j] = kind[j - 1]; kind[j - 1] = g
			}
		reason = kind[1]
		for (i = 2; i <= k; i++)
			reason = reason " + " kind[i]
		print field("__imislink.errors.class") ": " reason
	}' "$work/registry-dlq.out" | sort | uniq -c | sort -rn | while read -r n reason; do
	printf '     %3s  %s\n' "$n" "$reason"
done
if [ "$registry_dead" -gt 0 ]; then
	# the one with the smallest key, so that every run shows the same
	letter=$(sed 's/.*"key":"\([^"]*\)".*/\1\t&/' "$work/registry-dlq.out" | sort | sed -n 1p | cut -f 2-)
	printf '     e.g. key %s: %s\n' "$(printf '%s\n' "$letter" | json_str key)" \
		"$(printf '%s\n' "$letter" | json_str __connect.errors.exception.message | sed 's/\\"/"/g')"
fi
case $duplicates in
*'"ok":true'*) echo "   openIMIS duplicate check: none (no CHF ID twice, no overlapping policies)" ;;
*) fail "the emulator's duplicate check failed: $duplicates" ;;
esac

[ "$streamed" = "$targeted" ] || fail "$targeted memberships enrolled in openSPP but $streamed changes streamed"
[ "$drafts_enrolled" = "$targeted" ] || fail "$targeted changes streamed but $drafts_enrolled DRAFT -> ENROLLED events"
[ $(($(outcome ENROLLED) + registry_dead)) = "$targeted" ] \
	|| fail "$targeted changes streamed: $(outcome ENROLLED) enrolled and $registry_dead dead letters"
[ "$(($(count_of policies) - policies_before))" = "$(outcome ENROLLED)" ] \
	|| fail "$(outcome ENROLLED) households enrolled but $(($(count_of policies) - policies_before)) new policies"
stop "$cdc_pid"
cdc_pid=

echo "== imislink lag (the embedded broker cannot list groups: lag.groups names them)"
"$bin/imislink" -b "$bootstrap" --set lag.groups=imislink-enroll,imislink-deadletter lag \
	</dev/null 2>"$work/lag.log" | sed 's/^/   /' || { cat "$work/lag.log" >&2; fail "imislink lag failed"; }

echo "== demo finished: $total events published, each enrolled, skipped or dead-lettered; the dead letters are in"
echo "   the audit store, the fixed one replayed and enrolled; $streamed openSPP membership changes captured and"
echo "   streamed, $(outcome ENROLLED) households enrolled into openIMIS, $registry_dead dead letters; everything stops now"
