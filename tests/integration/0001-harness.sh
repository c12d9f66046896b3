#!/usr/bin/env bash
# 0001-harness: the test services are real and reachable.
#   - Kafka: the broker lists topics; a topic is created with 6 partitions.
#   - PostgreSQL: answers SHOW wal_level = logical; PGUSER is a superuser.
#   - Schema Registry: registers a schema, answers it by id, refuses an
#     incompatible second version with 409, and applies Avro's rules.
# Needs: kafka, pg, registry.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
require_env KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL PGHOST PGPORT PGUSER \
	PGDATABASE IL_KAFKA_JARS IL_TEST_TMP

# --- Kafka (three JVM tool calls: about six seconds) -----------------------
topic=$(make_topic_name harness)
other=$(make_topic_name harness)
if [ "$topic" != "$other" ]; then
	PASS topic_names_unique
else
	FAIL topic_names_unique "two calls gave \"$topic\""
fi

info "creating topic $topic with 6 partitions"
if create_topic "$topic" 6; then
	PASS kafka_create_topic
else
	FAIL kafka_create_topic "could not create topic \"$topic\""
fi

if list=$(kafka_tool org.apache.kafka.tools.TopicCommand --list 2>&1) &&
	grep -qxF "$topic" <<<"$list"; then
	PASS kafka_list_topics
else
	FAIL kafka_list_topics "topic \"$topic\" not listed: $(head -c 300 <<<"$list")"
fi

desc=$(kafka_tool org.apache.kafka.tools.TopicCommand --describe --topic "$topic" 2>&1)
if grep -qE "PartitionCount: 6([^0-9]|$)" <<<"$desc"; then
	PASS kafka_topic_has_6_partitions
else
	FAIL kafka_topic_has_6_partitions "describe said: $(head -n 1 <<<"$desc")"
fi

# --- PostgreSQL ----------------------------------------------------------
wal=$(psql -X -Atc 'SHOW wal_level' 2>&1)
if [ "$wal" = logical ]; then
	PASS pg_wal_level_logical
else
	FAIL pg_wal_level_logical "SHOW wal_level answered \"$wal\""
fi
row=$(psql -X -Atc "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user" 2>&1)
if [ "$row" = "imislink|t" ] || [ "$row" = "$PGDATABASE|t" ]; then
	PASS pg_superuser_and_database
else
	FAIL pg_superuser_and_database "expected \"$PGDATABASE|t\", got \"$row\""
fi

# --- Schema Registry -------------------------------------------------------
ct='Content-Type: application/vnd.schemaregistry.v1+json'
subject="$topic-value"
v1='{"type":"record","name":"Probe","namespace":"org.imislink.test","fields":[{"name":"n","type":"int"}]}'
v2='{"type":"record","name":"Probe","namespace":"org.imislink.test","fields":[{"name":"n","type":"long"},{"name":"note","type":["null","string"],"default":null}]}'
bad='{"type":"record","name":"Probe","namespace":"org.imislink.test","fields":[{"name":"n","type":"long"},{"name":"required","type":"string"}]}'

# sr_post PATH SCHEMA: POST {"schema": SCHEMA}; prints "<status> <body>".
sr_post() {
	local body
	body=$(python3 -c 'import json, sys; print(json.dumps({"schema": sys.argv[1]}))' "$2")
	curl -s -m 10 -H "$ct" -d "$body" -w '\n%{http_code}' "$SCHEMA_REGISTRY_URL$1" |
		awk '{ lines[NR] = $0 } END { printf "%s", lines[NR]; for (i = 1; i < NR; i++) printf " %s", lines[i]; print "" }'
}
# json_get KEY: a top-level field of the JSON on stdin.
json_get() {
	python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}

res=$(sr_post "/subjects/$subject/versions" "$v1")
id1=$(json_get id <<<"${res#* }" 2>/dev/null)
if [ "${res%% *}" = 200 ] && [ -n "$id1" ]; then
	PASS registry_register
else
	FAIL registry_register "POST versions answered \"$res\""
fi

got=$(curl -s -m 10 "$SCHEMA_REGISTRY_URL/schemas/ids/$id1" | json_get schema 2>/dev/null)
if [ -n "$got" ] && python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$got" "$v1"; then
	PASS registry_schema_by_id
else
	FAIL registry_schema_by_id "GET /schemas/ids/$id1 answered \"$got\""
fi

res=$(sr_post "/subjects/$subject/versions" "$bad")
code=$(json_get error_code <<<"${res#* }" 2>/dev/null)
if [ "${res%% *}" = 409 ] && [ "$code" = 409 ]; then
	PASS registry_refuses_incompatible
else
	FAIL registry_refuses_incompatible "expected 409, got \"$res\""
fi

res=$(sr_post "/subjects/$subject/versions" "$v2")
id2=$(json_get id <<<"${res#* }" 2>/dev/null)
latest=$(curl -s -m 10 "$SCHEMA_REGISTRY_URL/subjects/$subject/versions/latest" | json_get version 2>/dev/null)
if [ "${res%% *}" = 200 ] && [ "$id2" != "$id1" ] && [ "$latest" = 2 ]; then
	PASS registry_accepts_compatible_version
else
	FAIL registry_accepts_compatible_version "got \"$res\", latest version \"$latest\""
fi

status=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$SCHEMA_REGISTRY_URL/schemas/ids/999999")
if [ "$status" = 404 ]; then
	PASS registry_unknown_id_404
else
	FAIL registry_unknown_id_404 "GET of an unknown id answered $status"
fi

# Avro's resolution rules, in process, and the project's schemas/*.avsc.
python3 "$IL_HARNESS_DIR/test_schema_registry.py" "$IL_HELPERS_DIR/../../schemas" ||
	IL_FAILS=$((IL_FAILS + 1))

finish
