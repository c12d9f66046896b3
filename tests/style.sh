#!/usr/bin/env bash
# tests/style.sh: the banned-function check behind `make style`.
# Lists every call of a banned C function in the project's *.c and *.h files
# as file:line and exits 1 when there is any.  The bounded or checked
# replacements: snprintf (or common/buf.h) for sprintf/strcpy/strcat/strncpy,
# strtok_r for strtok, fgets for gets, strtol with end-pointer and range
# checks for atoi.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

banned='sprintf|vsprintf|strcpy|strcat|strncpy|strtok|gets|atoi'
dirs=()
for d in common producers workers deploy tests; do
	[ -d "$d" ] && dirs+=("$d")
done
[ "${#dirs[@]}" -gt 0 ] || exit 0

# A call is the name as a whole word followed by "(".  Lines that are
# comments (starting with /*, * or //) are not calls.
hits=$(grep -rnE --include='*.c' --include='*.h' \
	"(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" "${dirs[@]}" |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)
if [ -n "$hits" ]; then
	echo "$hits"
	echo "style: $(wc -l <<<"$hits") call(s) of banned functions ($banned)" >&2
	exit 1
fi
echo "style: no banned functions"
