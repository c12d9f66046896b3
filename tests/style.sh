#!/usr/bin/env bash
# tests/style.sh: the source checks behind `make style`.
# 1. Banned C functions: lists every call in the project's *.c and *.h files
#    as file:line.  The bounded or checked replacements: snprintf (or
#    common/buf.h) for sprintf/vsprintf/strcpy/strcat/strncat/strncpy,
#    strtok_r for strtok, fgets for gets, strtol with end-pointer and range
#    checks for atoi and sscanf, mkstemp/mkdtemp for tmpnam, getrandom(2) or
#    OpenSSL's RAND_bytes for rand.
# 2. Personal data in clear: a log field made with IL_STR() whose key names
#    personal data must be IL_PII() instead (common/log.h), so that the value
#    is masked.  "key" is one of them: in a log line it is the Kafka key,
#    which is a household's or person's ID value (configuration keys are
#    logged as "conf_key").
# Exits 1 when either finds anything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

banned='sprintf|vsprintf|strcpy|strcat|strncat|strncpy|strtok|gets|atoi|sscanf|tmpnam|rand'
# JSON member names that hold personal data or an ID value.  Generic words
# ("value", "id", "address") are left out on purpose: in this tree they name
# configuration values, schema ids and listen addresses.
pii_keys='key|kafka_key|message_key|record_key|name|full_name|given_name|family_name|first_name'
pii_keys+='|last_name|middle_name|birthdate|birth_date|date_of_birth|dob|phone|phone_number'
pii_keys+='|mobile|email|national_id|id_value|external_id'
dirs=()
for d in common producers workers deploy tests; do
	[ -d "$d" ] && dirs+=("$d")
done
[ "${#dirs[@]}" -gt 0 ] || exit 0
status=0

# grep_code REGEX: matching lines of *.c and *.h as file:line:text, except
# lines that are comments (starting with /*, * or //).
grep_code() {
	grep -rnE --include='*.c' --include='*.h' "$1" "${dirs[@]}" |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true
}

# A call is the name as a whole word followed by "(".
hits=$(grep_code "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(")
if [ -n "$hits" ]; then
	echo "$hits"
	echo "style: $(wc -l <<<"$hits") call(s) of banned functions ($banned)" >&2
	status=1
fi

# The key is the first argument, a string literal; case does not matter.
hits=$(grep_code "(^|[^A-Za-z0-9_])IL_STR[[:space:]]*\(" |
	grep -iE "(^|[^A-Za-z0-9_])IL_STR[[:space:]]*\([[:space:]]*\"($pii_keys)\"" || true)
if [ -n "$hits" ]; then
	echo "$hits"
	echo "style: $(wc -l <<<"$hits") log field(s) of personal data in clear: use IL_PII()" >&2
	status=1
fi

[ "$status" = 0 ] && echo "style: no banned functions, no personal data in clear"
exit "$status"
