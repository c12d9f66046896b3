#!/usr/bin/env bash
# 0320-pgrepl: common/pgrepl.c (the replication connection of a logical
# slot) against the real PostgreSQL 15 (wal_level=logical), in a fresh
# database: it_pgrepl checks the settings, creates the publication and the
# slot with an exported snapshot, streams inserts, updates and deletes,
# acknowledges them, answers keepalives, resumes after a reconnect without
# resending what was acknowledged, and gets the REPLICATION message for a
# role without it; it drops its slot and role.
# Needs: pg.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER

bin=$BUILD/tests/it_pgrepl
if [ ! -x "$bin" ]; then
	FAIL pgrepl "\"$bin\" is not built (make all)"
	finish
fi

db=it_pgrepl_${IL_RUN_ID}_$$
slot=it_pgrepl_$$
role=it_pgrepl_norepl_$$
# A slot left by a crashed run would hold WAL and keep the database from
# being dropped: remove the database's slots first; the role is cluster-wide.
cleanup() {
	db_sql "${PGDATABASE:-postgres}" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = '$db'" >/dev/null 2>&1
	db_drop "$db"
	db_sql "${PGDATABASE:-postgres}" "DROP ROLE IF EXISTS \"$role\"" >/dev/null 2>&1
}
trap cleanup EXIT
db_create "$db" pgrepl-createdb || finish

# The program's PASS/FAIL lines pass through; a program that fails without
# saying why counts as one failure.
out=$(PGDATABASE=$db "$bin" "$slot" "$role" 2>&1)
rc=$?
grep -E '^(PASS|FAIL) ' <<<"$out"
IL_FAILS=$((IL_FAILS + $(grep -c '^FAIL ' <<<"$out")))
if [ "$rc" != 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
	FAIL pgrepl "it_pgrepl exit status $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
fi
finish
