#!/usr/bin/env bash
# 0310-pgoutput: common/pgoutput.c (the pgoutput v1 decoder) against the
# pgoutput plugin of the real PostgreSQL 15 (wal_level=logical), in a fresh
# database: it_pgoutput makes inserts, updates (FULL and DEFAULT replica
# identity, a key change, a TOASTed value left unchanged), a column added
# between changes and deletes, reads the slot's binary changes and checks
# every decoded message; it drops its slot.
# Needs: pg.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER

bin=$BUILD/tests/it_pgoutput
if [ ! -x "$bin" ]; then
	FAIL pgoutput "\"$bin\" is not built (make all)"
	finish
fi

db=it_pgoutput_${IL_RUN_ID}_$$
# A slot left by a crashed run would hold WAL and keep the database from
# being dropped: remove the database's slots first.
cleanup() {
	db_sql "${PGDATABASE:-postgres}" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = '$db'" >/dev/null 2>&1
	db_drop "$db"
}
trap cleanup EXIT
db_create "$db" pgoutput-createdb || finish

# The program's PASS/FAIL lines pass through; a program that fails without
# saying why counts as one failure.
out=$(PGDATABASE=$db "$bin" 2>&1)
rc=$?
grep -E '^(PASS|FAIL) ' <<<"$out"
IL_FAILS=$((IL_FAILS + $(grep -c '^FAIL ' <<<"$out")))
if [ "$rc" != 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
	FAIL pgoutput "it_pgoutput exit status $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
fi
finish
