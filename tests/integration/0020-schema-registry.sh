#!/usr/bin/env bash
# 0020-schema-registry: common/serde.c against a real Schema Registry.
#   - registers both schemas, encodes, decodes with an empty cache (GET by
#     id), decodes a version the tree does not hold, gets an incompatible
#     version refused (409) and an unknown id refused precisely;
#   - against a private registry taken away mid-run: a flood of messages
#     with an unknown id costs one request (counted in the registry's
#     log), cached ids (and the unknown one) keep working, everything else
#     is IL_ERR_TRANSIENT (worth a retry).
# Needs: registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env SCHEMA_REGISTRY_URL IL_TEST_TMP BUILD

bin=$BUILD/tests/it_serde_registry
if [ ! -x "$bin" ]; then
	FAIL it_serde_registry "\"$bin\" is not built"
	finish
fi

# run_checks CMD...: pass the program's PASS/FAIL lines through; a program
# that fails without saying why counts as one failure.
run_checks() {
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	grep -E '^(PASS|FAIL) ' <<<"$out"
	IL_FAILS=$((IL_FAILS + $(grep -c '^FAIL ' <<<"$out")))
	if [ "$rc" != 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
		FAIL "$(basename "$1")" "exit status $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

info "serde against $SCHEMA_REGISTRY_URL"
run_checks "$bin" registry "$(make_topic_name serde)"

# A registry of our own, so taking it away disturbs no other test.
state=$(mktemp -d "$IL_TEST_TMP/registry-outage.XXXXXX")
trap '"$IL_HARNESS_DIR/registry.sh" stop "$state" >/dev/null 2>&1 || true' EXIT
if "$IL_HARNESS_DIR/registry.sh" start "$state" >&2; then
	url=$(. "$state/registry.env" && echo "$SCHEMA_REGISTRY_URL")
	info "private registry at $url, stopped mid-run"
	run_checks "$bin" outage "$url" "$state/registry.log" "$IL_HARNESS_DIR/registry.sh" stop "$state"
else
	FAIL private_registry "could not start a registry in \"$state\""
fi

finish
