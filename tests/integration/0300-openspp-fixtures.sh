#!/usr/bin/env bash
# 0300-openspp-fixtures: the openSPP 17 fixtures of issue 3 (section 5)
# against the real PostgreSQL:
#   - tests/data/openspp/schema.sql loads into a fresh database;
#   - it_openspp_gen writes a registry of 2,000 households, the same bytes
#     for the same seed; it loads, and every table holds what the generator
#     reports (--summary);
#   - every household has exactly one active Head and its own National ID;
#     all six membership states occur; non-ASCII names survive; missing and
#     inexact birthdates, ended memberships, disabled registrants exist;
#   - each scenario changes what it should: targeting enrolls K drafts in
#     one transaction with one write_date, pause-exit pauses and exits in
#     two, birthdate-fix corrects one birthdate, member-leaves ends one
#     membership (and moves the household's write_date in the same
#     transaction), registrant-deleted removes one member and, by cascade,
#     its IDs and memberships; noise moves only the write_date of K
#     enrolled households; new-head moves the Head kind to another active
#     member (one Head still, both memberships touched in one transaction);
#     id-change gives one member a new National ID value;
#   - the scenarios of one household name it in a "target|HOUSEHOLD|REGISTRANT"
#     row.
# The database is dropped at the end.
# Needs: pg.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env IL_TEST_TMP BUILD PGHOST PGPORT PGUSER

GEN=$BUILD/tests/it_openspp_gen
SCHEMA=tests/data/openspp/schema.sql
HOUSEHOLDS=2000
SEED=42
DB=il_openspp_${IL_RUN_ID}_$$
tmp=$IL_TEST_TMP/0300-openspp-fixtures
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'db_drop "$DB"' EXIT

if [ ! -x "$GEN" ]; then
	FAIL openspp-generator "\"$GEN\" is missing: build it first"
	finish
fi

psql_file() {
	psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -v ON_ERROR_STOP=1 -f "$1" >/dev/null
}

# expect NAME QUERY WANT: PASS when QUERY answers exactly WANT.
expect() {
	local got
	if ! got=$(db_sql "$DB" "$2" 2>&1); then
		FAIL "$1" "query failed: $(tail -n 2 <<<"$got" | tr '\n' ' ')"
	elif [ "$got" = "$3" ]; then
		PASS "$1"
	else
		FAIL "$1" "expected \"$3\", got \"$(tr '\n' ' ' <<<"$got")\""
	fi
}

# figure NAME: one figure of the generator's summary.
figure() {
	awk -v n="$1" '$1 == n { print $2 }' "$tmp/summary.txt"
}

db_create "$DB" openspp-database || finish
check openspp-schema-loads psql_file "$SCHEMA"

# Generation: deterministic, and the summary agrees with the SQL's comments.
"$GEN" --households "$HOUSEHOLDS" --seed "$SEED" >"$tmp/registry.sql" 2>"$tmp/gen.err"
rc=$?
"$GEN" --households "$HOUSEHOLDS" --seed "$SEED" --summary >"$tmp/summary.txt" 2>>"$tmp/gen.err"
rc2=$?
if [ "$rc" = 0 ] && [ "$rc2" = 0 ] && [ ! -s "$tmp/gen.err" ]; then
	PASS openspp-generator-runs
else
	FAIL openspp-generator-runs "exit status $rc/$rc2: $(head -c 300 "$tmp/gen.err")"
fi
if "$GEN" --households "$HOUSEHOLDS" --seed "$SEED" | cmp -s - "$tmp/registry.sql"; then
	PASS openspp-generator-deterministic
else
	FAIL openspp-generator-deterministic "two runs with seed $SEED differ"
fi
if "$GEN" --households "$HOUSEHOLDS" --seed $((SEED + 1)) | cmp -s - "$tmp/registry.sql"; then
	FAIL openspp-generator-seeded "seeds $SEED and $((SEED + 1)) give the same registry"
else
	PASS openspp-generator-seeded
fi
if diff <(sed -n 's/^-- count //p' "$tmp/registry.sql") "$tmp/summary.txt" >/dev/null; then
	PASS openspp-generator-summary
else
	FAIL openspp-generator-summary "--summary differs from the registry's count comments"
fi
if "$GEN" --scenario no-such-scenario >/dev/null 2>&1; then
	FAIL openspp-generator-refuses "an unknown scenario was accepted"
else
	PASS openspp-generator-refuses
fi

check openspp-registry-loads psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q \
	-v ON_ERROR_STOP=1 -1 -f "$tmp/registry.sql" -o /dev/null
db_sql "$DB" "ANALYZE" >/dev/null 2>&1

# Counts per table, as the generator reports them.
for t in res_partner g2p_reg_id g2p_phone_number g2p_group_membership \
	g2p_group_membership_g2p_group_membership_kind_rel g2p_program g2p_program_membership; do
	expect "openspp-count-$t" "SELECT count(*) FROM $t" "$(figure "$t")"
done
expect openspp-count-households "SELECT count(*) FROM res_partner WHERE is_registrant AND is_group" \
	"$HOUSEHOLDS"
expect openspp-count-individuals "SELECT count(*) FROM res_partner WHERE is_registrant AND NOT is_group" \
	"$(figure individuals)"
for p in 1 2; do
	for s in draft enrolled paused exited not_eligible duplicated; do
		expect "openspp-count-program-$p-$s" \
			"SELECT count(*) FROM g2p_program_membership WHERE program_id = $p AND state = '$s'" \
			"$(figure "program_${p}_$s")"
	done
done
expect openspp-six-states-occur \
	"SELECT count(DISTINCT state) FROM g2p_program_membership WHERE program_id = 1" 6
expect openspp-programme-targets \
	"SELECT string_agg(id || ':' || target_type || ':' || name, ',' ORDER BY id) FROM g2p_program" \
	"1:group:Community health insurance,2:individual:Elderly cash transfer"
expect openspp-group-targets-are-groups \
	"SELECT count(*) FROM g2p_program_membership m JOIN res_partner p ON p.id = m.partner_id
	 WHERE (m.program_id = 1) <> p.is_group" 0

# Household structure.
ACTIVE="(gm.ended_date IS NULL OR gm.ended_date > (now() AT TIME ZONE 'UTC'))"
HEADS="(SELECT count(*) FROM g2p_group_membership gm
	JOIN g2p_group_membership_g2p_group_membership_kind_rel r ON r.g2p_group_membership_id = gm.id
	WHERE gm.\"group\" = g.id AND r.g2p_group_membership_kind_id = 1 AND $ACTIVE)"
expect openspp-one-head-per-household \
	"SELECT count(*) FROM res_partner g WHERE g.is_group AND $HEADS <> 1" 0
expect openspp-household-sizes \
	"SELECT min(n) >= 1 AND max(n) <= 9 FROM (SELECT count(*) n FROM g2p_group_membership gm
	 WHERE $ACTIVE GROUP BY gm.\"group\") s" t
expect openspp-household-national-id \
	"SELECT count(*) FROM res_partner g WHERE g.is_group AND NOT EXISTS
	 (SELECT 1 FROM g2p_reg_id i WHERE i.partner_id = g.id AND i.id_type = 1)" 0
expect openspp-id-types-used "SELECT count(DISTINCT id_type) FROM g2p_reg_id" 3
expect openspp-ended-memberships \
	"SELECT count(*) FROM g2p_group_membership WHERE ended_date <= now() AND is_ended AND status = 'inactive'" \
	"$(figure memberships_ended)"
expect openspp-birthdates-missing \
	"SELECT count(*) FROM res_partner WHERE is_registrant AND NOT is_group AND birthdate IS NULL" \
	"$(figure birthdate_missing)"
expect openspp-birthdates-inexact \
	"SELECT count(*) FROM res_partner WHERE birthdate_not_exact" "$(figure birthdate_inexact)"
expect openspp-disabled "SELECT count(*) FROM res_partner WHERE disabled IS NOT NULL" \
	"$(figure disabled)"
expect openspp-figures-nonzero \
	"SELECT $(figure memberships_ended) > 0 AND $(figure birthdate_missing) > 0
	 AND $(figure birthdate_inexact) > 0 AND $(figure disabled) > 0" t
expect openspp-non-ascii-names \
	"SELECT count(*) > 0 FROM res_partner WHERE family_name = 'Nguyễn' AND name LIKE 'NGUYỄN, %'
	 AND octet_length(name) > char_length(name)" t
# upper() under the database's C collation leaves non-ASCII letters alone: ICU's does not.
expect openspp-odoo-name-format \
	"SELECT count(*) FROM res_partner WHERE is_registrant AND NOT is_group
	 AND name <> upper((family_name || ', ' || given_name || coalesce(' ' || addl_name, '')) COLLATE \"und-x-icu\")" 0
expect openspp-no-write-date-after-2024 "SELECT count(*) FROM res_partner WHERE write_date >= '2025-01-01'" 0

# Scenarios.  Rows a scenario writes carry now(); generated ones lie before 2025.
NEW="write_date >= '2025-01-01'"
run_scenario() {
	local name=$1
	shift
	if ! "$GEN" --scenario "$name" "$@" >"$tmp/$name.sql" 2>"$tmp/$name.err"; then
		FAIL "openspp-scenario-$name" "generator failed: $(head -c 300 "$tmp/$name.err")"
		return 1
	fi
	if psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -X -q -At -v ON_ERROR_STOP=1 \
		-f "$tmp/$name.sql" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		PASS "openspp-scenario-$name"
	else
		FAIL "openspp-scenario-$name" "psql failed: $(tail -n 3 "$tmp/$name.err" | tr '\n' ' ')"
	fi
}

# target NAME: the "HOUSEHOLD|REGISTRANT" rows the scenario answered.
target() {
	sed -n 's/^target|//p' "$tmp/$1.out"
}

# one_target NAME: PASS when the scenario answered exactly one target row,
# then HH and WHO hold its household and registrant.
one_target() {
	local t
	t=$(target "$1")
	HH=${t%%|*}
	WHO=${t#*|}
	if [ "$(grep -c . <<<"$t")" = 1 ] && [[ $HH =~ ^[0-9]+$ ]]; then
		PASS "openspp-$1-target"
	else
		FAIL "openspp-$1-target" "expected one \"target|HOUSEHOLD|REGISTRANT\" row, got \"$(tr '\n' ' ' <<<"$t")\""
		HH=0 WHO=0
	fi
}

drafts=$(db_sql "$DB" "SELECT count(*) FROM g2p_program_membership WHERE program_id = 1 AND state = 'draft'")
K=500
run_scenario targeting --program 1 --count "$K"
expect openspp-targeting-moved \
	"SELECT count(*), count(DISTINCT write_date), count(DISTINCT xmin::text),
	 bool_and(enrollment_date = write_date) FROM g2p_program_membership
	 WHERE program_id = 1 AND state = 'enrolled' AND $NEW" "$K|1|1|t"
expect openspp-targeting-drafts-left \
	"SELECT count(*) FROM g2p_program_membership WHERE program_id = 1 AND state = 'draft'" \
	$((drafts - K))
expect openspp-targeting-only-programme \
	"SELECT count(*) FROM g2p_program_membership WHERE program_id <> 1 AND $NEW" 0

run_scenario pause-exit --program 1 --count 10
expect openspp-pause-exit \
	"SELECT state, count(*), count(DISTINCT xmin::text) FROM g2p_program_membership
	 WHERE state IN ('paused', 'exited') AND $NEW GROUP BY state ORDER BY state" \
	"exited|10|1
paused|10|1"
expect openspp-pause-exit-two-transactions \
	"SELECT count(DISTINCT xmin::text) FROM g2p_program_membership WHERE state IN ('paused', 'exited') AND $NEW" 2
expect openspp-exit-date \
	"SELECT bool_and(exit_date = (now() AT TIME ZONE 'UTC')::date) FROM g2p_program_membership
	 WHERE state = 'exited' AND $NEW" t

run_scenario birthdate-fix --program 1
expect openspp-birthdate-fix \
	"SELECT count(*), bool_and(NOT birthdate_not_exact AND extract(month FROM birthdate) = 3
	 AND extract(day FROM birthdate) = 15) FROM res_partner WHERE $NEW" "1|t"
one_target birthdate-fix
expect openspp-birthdate-fix-names-target \
	"SELECT count(*) FROM res_partner WHERE $NEW AND id = ${WHO:-0}" 1

gm_before=$(db_sql "$DB" "SELECT count(*) FROM g2p_group_membership")
run_scenario member-leaves --program 1
expect openspp-member-leaves \
	"SELECT count(*), bool_and(is_ended AND status = 'inactive' AND ended_date IS NOT NULL)
	 FROM g2p_group_membership WHERE $NEW" "1|t"
expect openspp-member-leaves-household-touched \
	"SELECT count(*) FROM res_partner rp JOIN g2p_group_membership gm
	 ON gm.\"group\" = rp.id AND gm.xmin = rp.xmin WHERE gm.$NEW AND rp.is_group" 1
expect openspp-member-leaves-head-kept \
	"SELECT count(*) FROM res_partner g WHERE g.is_group AND $HEADS <> 1" 0
one_target member-leaves
expect openspp-member-leaves-names-target \
	"SELECT count(*) FROM g2p_group_membership WHERE $NEW AND \"group\" = $HH AND individual = ${WHO:-0}" 1

partners_before=$(db_sql "$DB" "SELECT count(*) FROM res_partner")
run_scenario registrant-deleted --program 1
one_target registrant-deleted
expect openspp-registrant-deleted-names-target \
	"SELECT count(*) FROM res_partner WHERE id = ${WHO:-0}" 0
expect openspp-registrant-deleted \
	"SELECT (SELECT count(*) FROM res_partner), (SELECT count(*) FROM g2p_group_membership),
	 (SELECT count(*) FROM g2p_group_membership_g2p_group_membership_kind_rel)" \
	"$((partners_before - 1))|$((gm_before - 1))|$((gm_before - 1))"
expect openspp-registrant-deleted-no-orphans \
	"SELECT (SELECT count(*) FROM g2p_reg_id WHERE partner_id NOT IN (SELECT id FROM res_partner))
	 + (SELECT count(*) FROM g2p_program_membership WHERE partner_id NOT IN (SELECT id FROM res_partner))" 0
# noise: K enrolled households, write_date only.  What Odoo maps, every
# column but the audit pair, stays the same everywhere.
CONTENT="SELECT md5(string_agg((to_jsonb(rp) - 'write_date' - 'write_uid')::text, ',' ORDER BY id)) FROM res_partner rp"
content_before=$(db_sql "$DB" "$CONTENT")
run_scenario noise --program 1 --count 3
noisy=$(target noise | cut -d '|' -f 1 | paste -sd , -)
expect openspp-noise-targets "SELECT count(*) FROM res_partner rp
	 JOIN g2p_program_membership pm ON pm.partner_id = rp.id AND pm.program_id = 1 AND pm.state = 'enrolled'
	 WHERE rp.is_group AND rp.$NEW AND rp.id IN (${noisy:-0})" 3
expect openspp-noise-one-transaction "SELECT count(*), count(DISTINCT xmin::text) FROM res_partner
	 WHERE xmin = (SELECT xmin FROM res_partner WHERE id IN (${noisy:-0}) LIMIT 1)" "3|1"
expect openspp-noise-changes-nothing-else "$CONTENT" "$content_before"

# new-head: the Head kind moves, in one transaction, to another active member.
rel_before=$(db_sql "$DB" "SELECT count(*) FROM g2p_group_membership_g2p_group_membership_kind_rel")
run_scenario new-head --program 1
one_target new-head
expect openspp-new-head-moved \
	"SELECT string_agg(gm.individual::text, ',') FROM g2p_group_membership gm
	 JOIN g2p_group_membership_g2p_group_membership_kind_rel r ON r.g2p_group_membership_id = gm.id
	 WHERE gm.\"group\" = $HH AND r.g2p_group_membership_kind_id = 1 AND $ACTIVE" "${WHO:-0}"
expect openspp-new-head-link-rows \
	"SELECT count(*) FROM g2p_group_membership_g2p_group_membership_kind_rel" "$rel_before"
expect openspp-new-head-one-transaction \
	"SELECT count(*), count(DISTINCT xmin::text), bool_and(status = 'active') FROM g2p_group_membership gm
	 WHERE gm.\"group\" = $HH AND gm.xmin = (SELECT xmin FROM g2p_group_membership
	 WHERE \"group\" = $HH AND individual = ${WHO:-0})" "2|1|t"
expect openspp-one-head-after-scenarios \
	"SELECT count(*) FROM res_partner g WHERE g.is_group AND $HEADS <> 1" 0

# id-change: one National ID gets "9" before its value (seed 42: "42" and
# the 8-digit partner id).
ids_before=$(db_sql "$DB" "SELECT count(*) FROM g2p_reg_id")
run_scenario id-change --program 1
one_target id-change
expect openspp-id-change \
	"SELECT count(*), string_agg(partner_id || ':' || id_type || ':' || value, ',') FROM g2p_reg_id WHERE $NEW" \
	"1|${WHO:-0}:1:942$(printf '%08d' "${WHO:-0}")"
expect openspp-id-change-member-of-enrolled \
	"SELECT count(*) FROM g2p_group_membership gm JOIN g2p_program_membership pm
	 ON pm.partner_id = gm.\"group\" AND pm.program_id = 1 AND pm.state = 'enrolled'
	 WHERE gm.individual = ${WHO:-0} AND gm.\"group\" = $HH AND $ACTIVE" 1
expect openspp-id-change-rows "SELECT count(*) FROM g2p_reg_id" "$ids_before"

finish
