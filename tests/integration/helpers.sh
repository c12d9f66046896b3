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

# kill_all PID...: SIGKILL to each, then reaps them (for an exit trap: the
# checks are over).
kill_all() {
	local pid
	for pid in "$@"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null
	done
}

# daemon_start LOG CMD...: CMD (a daemon, optionally behind env or valgrind)
# in the background, stdin from /dev/null, stdout and stderr appended to LOG;
# sets DAEMON_PID (the caller keeps it for its exit trap).
daemon_start() {
	local log=$1
	shift
	"$@" </dev/null >>"$log" 2>&1 &
	DAEMON_PID=$!
}

# emulator_start DIR NAME EMULATOR ARGS...: an emulator (imislink-openimis,
# imislink-openspp) in the background on a free port, --port 0 --port-file
# DIR/NAME.port before ARGS, stderr to DIR/NAME.log; adds its pid to
# EMULATOR_PIDS and, once the port file is written, its base URL to
# DIR/NAME.url.  Returns 1 without a port file after 20 s (the caller says
# why).
EMULATOR_PIDS=()
emulator_start() {
	local dir=$1 name=$2 exe=$3
	shift 3
	rm -f "$dir/$name.port"
	"$exe" --port 0 --port-file "$dir/$name.port" "$@" 2>"$dir/$name.log" &
	EMULATOR_PIDS+=($!)
	wait_until 20 test -s "$dir/$name.port" || return 1
	echo "http://127.0.0.1:$(cat "$dir/$name.port")" >"$dir/$name.url"
}

# emulators_stop: SIGTERM to every emulator of EMULATOR_PIDS, reaps them and
# empties the list (an exit trap; a script that checks their exit statuses
# waits for them itself).
emulators_stop() {
	local p
	for p in "${EMULATOR_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${EMULATOR_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	EMULATOR_PIDS=()
}

# daemon_port SECONDS LOG NAME [VAR]: waits for the "http listening" line a
# daemon logs to LOG and sets DAEMON_PORT (and VAR, when given) to its port;
# without one after SECONDS, FAIL NAME with the log's last lines, the port
# empty, and return 1.
daemon_port() {
	local secs=$1 log=$2 name=$3 var=${4:-DAEMON_PORT}
	DAEMON_PORT=
	printf -v "$var" %s ""
	if ! wait_until "$secs" grep -qs '"msg":"http listening"' "$log"; then
		FAIL "$name" "no \"http listening\" line after $secs s: $(tail -n 3 "$log" | cut -c 1-300 | tr '\n' ' ')"
		return 1
	fi
	DAEMON_PORT=$(sed -n 's/.*"msg":"http listening".*"port":\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	printf -v "$var" %s "$DAEMON_PORT"
}

# daemon_stop PID SECONDS LOG NAME: SIGTERM; PASS NAME when the daemon exits 0
# within SECONDS, else it is killed and NAME fails with the end of LOG.
daemon_stop() {
	local pid=$1 secs=$2 log=$3 name=$4 rc watcher
	kill -TERM "$pid" 2>/dev/null
	(sleep "$secs" && kill -KILL "$pid" 2>/dev/null) &
	watcher=$!
	wait "$pid"
	rc=$?
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	if [ "$rc" = 0 ]; then
		PASS "$name"
	elif [ "$rc" = 137 ]; then
		FAIL "$name" "still running $secs s after SIGTERM (killed): $(tail -n 2 "$log" | cut -c 1-300 | tr '\n' ' ')"
	else
		FAIL "$name" "exit status $rc after SIGTERM: $(tail -n 3 "$log" | cut -c 1-300 | tr '\n' ' ')"
	fi
}

# signals_main_only NAME PID: PASS NAME when every thread of PID but the main
# one blocks SIGHUP, SIGINT and SIGTERM (bits 0, 1 and 14 of SigBlk), so a
# signal to the daemon never interrupts a library's thread (common/sig.h).
# Not under valgrind, which keeps its own masks.
signals_main_only() {
	local name=$1 pid=$2 t blk bad=
	for t in /proc/"$pid"/task/*; do
		[ "${t##*/}" = "$pid" ] && continue
		blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$t/status" 2>/dev/null)
		[ -n "$blk" ] || continue   # the thread has just ended
		if (((16#$blk & 0x4003) != 0x4003)); then
			bad+="$(cat "$t/comm" 2>/dev/null) (SigBlk $blk) "
		fi
	done
	if [ -z "$bad" ] && [ -d "/proc/$pid/task" ]; then
		PASS "$name"
	else
		FAIL "$name" "threads that take signals: ${bad:-process $pid is gone}"
	fi
}

# metric PORT NAME_AND_LABELS: one sample of a daemon's /metrics (0 when absent).
metric() {
	curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk -v m="$2" 'index($0, m " ") == 1 { v = $NF } END { print v + 0 }'
}

# db_create DB NAME: a fresh database DB on the test PostgreSQL; else FAIL
# NAME with createdb's message and return 1.
db_create() {
	local out
	if ! out=$(createdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$1" 2>&1); then
		FAIL "$2" "$(tail -n 2 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
}

# db_drop DB: drops DB for an exit trap, starting PostgreSQL first when a
# failed check left it stopped.
db_drop() {
	pg_isready -q -h "$PGHOST" -p "$PGPORT" -t 1 || pg_start
	dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$1" 2>/dev/null
}

# db_sql DB QUERY: the rows of QUERY, unaligned, one a line; non-zero on an error.
db_sql() {
	psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$1" -X -q -At -v ON_ERROR_STOP=1 -c "$2"
}

# db_psql DB ARGS...: psql on DB, quiet, stopping at the first error.
db_psql() {
	local db=$1
	shift
	psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$db" -X -q -v ON_ERROR_STOP=1 "$@"
}

# audit_rows DB: the rows of the audit store in DB (dead letters and
# results), -1 when it cannot be read; audit_rows_are DB N and
# audit_rows_positive DB for wait_until.
audit_rows() {
	db_sql "$1" "SELECT (SELECT count(*) FROM dead_letters) + (SELECT count(*) FROM results)" 2>/dev/null ||
		echo -1
}
audit_rows_are() {
	[ "$(audit_rows "$1")" = "$2" ]
}
audit_rows_positive() {
	[ "$(audit_rows "$1")" -gt 0 ]
}

# require_built NAME PROGRAM...: stop the script with FAIL NAME when a
# PROGRAM (a path) is not built.
require_built() {
	local name=$1 exe
	shift
	for exe in "$@"; do
		if [ ! -x "$exe" ]; then
			FAIL "$name" "\"$exe\" is not built (make all)"
			finish
		fi
	done
}

# db_drop_slots DB: drops the replication slots of DB (for an exit trap,
# before db_drop: a database with a slot cannot be dropped).
db_drop_slots() {
	db_sql "${PGDATABASE:-postgres}" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = '$1'" >/dev/null 2>&1
}

# ---- an openSPP registry and the events streamed from it (0360-0380) ----

# The tables whose old rows imislink-cdc compares: it needs the whole old
# row to tell a mapped change from Odoo's bookkeeping.
OPENSPP_FULL_IDENTITY="ALTER TABLE g2p_program_membership REPLICA IDENTITY FULL;
	ALTER TABLE res_partner REPLICA IDENTITY FULL; ALTER TABLE g2p_reg_id REPLICA IDENTITY FULL;
	ALTER TABLE g2p_phone_number REPLICA IDENTITY FULL;
	ALTER TABLE g2p_group_membership REPLICA IDENTITY FULL"

# openspp_registry DB HOUSEHOLDS SEED [SQL]: the openSPP tables
# (tests/data/openspp/schema.sql) filled by $GEN (it_openspp_gen) with
# HOUSEHOLDS households from SEED in DB, then SQL; non-zero when a step fails.
openspp_registry() {
	local db=$1 sql=${4:-}
	db_psql "$db" -f "$IL_HELPERS_DIR/../data/openspp/schema.sql" >/dev/null &&
		"$GEN" --households "$2" --seed "$3" | db_psql "$db" >/dev/null &&
		{ [ -z "$sql" ] || db_sql "$db" "$sql" >/dev/null; }
}

# flip_enrolled DB NOW: 20 transactions moving half of the enrolled
# memberships of programme 1 in DB to paused (write_uid 99) and back, with
# write_date NOW (an SQL expression): a stream of changes to kill a
# producer in.
flip_enrolled() {
	local i
	for i in $(seq 1 10); do
		db_sql "$1" "UPDATE g2p_program_membership SET state = 'paused', write_date = $2, write_uid = 99
			WHERE program_id = 1 AND state = 'enrolled' AND id % 2 = $((i % 2))" >/dev/null
		db_sql "$1" "UPDATE g2p_program_membership SET state = 'enrolled', write_date = $2
			WHERE program_id = 1 AND state = 'paused' AND id % 2 = $((i % 2)) AND write_uid = 99" >/dev/null
	done
}

# cdc_setup NAME PREFIX HOUSEHOLDS SEED: what a script streaming a fresh
# registry needs (0360, 0385): GEN, CDC and TOOL (cdc_programs NAME); DB and
# SLOT il_PREFIX_<run id>_<pid>, TOPIC il-PREFIX-<run id>-<pid>; tmp, an
# empty $IL_TEST_TMP/<script>; LOG $tmp/cdc.log; CDC_PID empty; cdc_cleanup
# as exit trap; then DB created and filled by openspp_registry with
# HOUSEHOLDS households from SEED and OPENSPP_FULL_IDENTITY.  Stops the
# script with FAIL NAME-createdb or NAME-registry when a step fails.
cdc_setup() {
	local name=$1 prefix=$2
	cdc_programs "$name"
	DB=il_${prefix}_${IL_RUN_ID,,}_$$
	# Slot names take a-z, 0-9 and _ only.
	SLOT=il_${prefix}_${IL_RUN_ID,,}_$$
	TOPIC=il-${prefix}-${IL_RUN_ID}-$$
	tmp=$IL_TEST_TMP/$IL_TEST_NAME
	rm -rf "$tmp"
	mkdir -p "$tmp"
	LOG=$tmp/cdc.log
	CDC_PID=
	trap cdc_cleanup EXIT
	db_create "$DB" "$name-createdb" || finish
	if ! openspp_registry "$DB" "$3" "$4" "$OPENSPP_FULL_IDENTITY"; then
		FAIL "$name-registry" "could not load the schema and the generated registry"
		finish
	fi
}

# cdc_cleanup: SIGKILL to the producer CDC_PID, then the slots and the
# database DB dropped (the exit trap cdc_setup sets; a script with more to
# undo calls it from its own).
cdc_cleanup() {
	[ -n "$CDC_PID" ] && kill -KILL "$CDC_PID" 2>/dev/null
	db_drop_slots "$DB"
	db_drop "$DB"
}

# cdc_start [ARGS...]: imislink-cdc on DB in the background (daemon_start
# into LOG) streaming programme 1 to TOPIC through SLOT, its state in
# $tmp/cdc.state, any HTTP port, ARGS (more --set) last; sets CDC_PID.
cdc_start() {
	daemon_start "$LOG" env PGDATABASE="$DB" "$CDC" --set http.port=0 --set cdc.state.file="$tmp/cdc.state" \
		--set topic.eligibility="$TOPIC" --set cdc.slot.name="$SLOT" --set cdc.publication.name="$SLOT" \
		--set cdc.programmes=1 --set openspp.instance=it-openspp "$@"
	CDC_PID=$DAEMON_PID
}

# kill_while PID CMD...: runs CMD in the background, SIGKILLs the daemon PID
# half a second into it and reaps it, then waits for CMD to end.
kill_while() {
	local pid=$1 writer
	shift
	"$@" &
	writer=$!
	sleep 0.5
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	wait "$writer"
}

# cdc_programs NAME: sets GEN (it_openspp_gen), CDC (imislink-cdc) and TOOL
# (imislink) to those of $BUILD; stops the script with FAIL NAME when one
# is not built.
cdc_programs() {
	GEN=$BUILD/tests/it_openspp_gen
	CDC=$BUILD/bin/imislink-cdc
	TOOL=$BUILD/bin/imislink
	require_built "$1" "$GEN" "$CDC" "$TOOL"
}

# read_topic FILE: every event of $TOPIC so far, as JSON lines of `$TOOL
# consume -e` (the scripts set TOPIC and TOOL), into FILE; the consumer's
# stderr to consume.err beside it.
read_topic() {
	"$TOOL" consume -e -t "$TOPIC" >"$1" 2>"$(dirname "$1")/consume.err"
}

# topic_count FILE: read_topic FILE, then the number of events it holds.
topic_count() {
	read_topic "$1"
	wc -l <"$1"
}

# topic_has FILE N: read_topic FILE holds N events or more (for wait_until;
# a read never shows less than an earlier one did).
topic_has() {
	[ "$(topic_count "$1")" -ge "$2" ]
}

# ---- valgrind (0240, 0380) ----

# memcheck as the valgrind scripts run a program: "possibly lost" blocks are
# librdkafka's and glibc's thread caches at exit and are not counted; 99 is
# the exit status when it found an error or a definite or indirect leak.
IL_VALGRIND=(valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --error-exitcode=99)

# vg_require NAME PROGRAM...: stop the script with FAIL NAME unless each
# PROGRAM (a path) is in the plain build, $IL_PLAIN_BUILD (valgrind cannot
# run the sanitizer build the rest of the suite uses), and valgrind is
# installed.
vg_require() {
	local name=$1 exe
	shift
	for exe in "$@"; do
		if [ -z "${IL_PLAIN_BUILD:-}" ] || [ ! -x "$exe" ]; then
			FAIL "$name" "the plain build is missing (IL_PLAIN_BUILD=\"${IL_PLAIN_BUILD:-}\"): run make test"
			finish
		fi
	done
	if ! command -v valgrind >/dev/null; then
		FAIL "$name" "valgrind is not installed: run make deps"
		finish
	fi
}

# any_build VAR PATH NAME: sets VAR to $BUILD/PATH, else to
# $IL_PLAIN_BUILD/PATH (for the programs around the ones under valgrind:
# any build will do); stops the script with FAIL NAME when neither is built.
any_build() {
	local path=$BUILD/$2
	[ -x "$path" ] || path=${IL_PLAIN_BUILD:-}/$2
	require_built "$3" "$path"
	printf -v "$1" %s "$path"
}

# vg_clean LOG: LOG holds no valgrind report.
vg_clean() {
	! grep -q '^==[0-9]*==' "$1"
}

# vg_stop PID NAME LOG: SIGTERM to a daemon under valgrind; NAME-valgrind-exit-0
# when it exits 0 within 120 s (99: valgrind found errors or leaks), and
# NAME-valgrind-report when LOG holds no valgrind report.
vg_stop() {
	local name=$2 log=$3
	daemon_stop "$1" 120 "$log" "$name-valgrind-exit-0"
	if vg_clean "$log"; then
		PASS "$name-valgrind-report"
	else
		FAIL "$name-valgrind-report" "$(grep '^==[0-9]*==' "$log" | head -n 40 | tr '\n' ' ')"
	fi
}

# vg_bad_conf NAME PROGRAM KEY ARGS...: PROGRAM ARGS under valgrind, without
# an operator file and on any HTTP port, must stop at start with exit status
# 1 (99 would be valgrind's verdict) and KEY in its message, without any
# valgrind report; its output goes to $tmp/bad-NAME.log.  Variables set on
# the call reach the program.
vg_bad_conf() {
	local name=$1 bin=$2 key=$3 out=$tmp/bad-$1.log rc
	shift 3
	IMISLINK_CONFIG=/dev/null IMISLINK_HTTP_PORT=0 \
		timeout -k 10 120 "${IL_VALGRIND[@]}" "$bin" "$@" </dev/null >"$out" 2>&1
	rc=$?
	if [ "$rc" = 1 ] && grep -q "$key" "$out" && vg_clean "$out"; then
		PASS "$name"
	else
		FAIL "$name" "exit status $rc (expected 1 naming \"$key\"): $(head -n 20 "$out" | cut -c 1-300 | tr '\n' ' ')"
	fi
}

# ---- HTTP (0340, 0380) ----

# http_post OUT URL FILE [CURL ARGS...]: POSTs FILE to URL, the answer's
# body to OUT; prints the HTTP status (000 without an answer).  curl's own
# messages go to curl.err beside OUT.
http_post() {
	local out=$1 url=$2 file=$3
	shift 3
	curl -sS --max-time 60 -o "$out" -w '%{http_code}' "$@" \
		--data-binary @"$file" "$url" 2>>"$(dirname "$out")/curl.err"
}

# expect_status NAME WANT GOT BODY: PASS NAME when the HTTP status GOT is
# WANT, else FAIL with the start of the answer's body, the file BODY.
expect_status() {
	if [ "$3" = "$2" ]; then
		PASS "$1"
	else
		FAIL "$1" "expected HTTP $2, got $3: $(head -c 300 "$4" 2>/dev/null)"
	fi
}
