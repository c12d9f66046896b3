-- 0001_init.sql - the audit store: every dead letter and every enrollment
-- outcome the pipeline produced, one row per Kafka message.
--
-- Applied by imislink-deadletter at start (common/audit.c), once, in one
-- transaction, recorded in audit_schema_migrations.  Later changes go into
-- new files (0002_..., 0003_...); a file once released never changes.

-- One row per message of the dead-letter topic.  (topic, partition, offset)
-- is the message's identity: writing it twice is a no-op, which is what
-- makes the worker's at-least-once consumption effectively once.
CREATE TABLE dead_letters (
	id               bigserial PRIMARY KEY,
	topic            text        NOT NULL,
	kafka_partition  integer     NOT NULL,
	kafka_offset     bigint      NOT NULL,
	kafka_timestamp  timestamptz,
	msg_key          bytea,
	msg_value        bytea,
	-- every header in order: [{"name": ..., "value": text} or {"name": ..., "base64": ...}]
	headers          jsonb       NOT NULL DEFAULT '[]',
	-- where the failed event was read (__connect.errors.topic/partition/offset)
	source_topic     text,
	source_partition integer,
	source_offset    bigint,
	error_class      text        NOT NULL,  -- undecodable | mapping | permanent | transient
	error_stage      text,
	error_message    text,
	attempts         integer,
	first_failure    timestamptz,
	last_failure     timestamptz,
	event_id         text,
	event_key        text,
	programme_id     bigint,
	-- the value decoded to JSON where it decodes (personal data: shown masked)
	decoded          jsonb,
	status           text        NOT NULL DEFAULT 'open'
	                 CHECK (status IN ('open', 'replayed', 'discarded')),
	status_by        text,
	status_at        timestamptz,
	status_reason    text,
	replay_count     integer     NOT NULL DEFAULT 0,
	stored_at        timestamptz NOT NULL DEFAULT now(),
	UNIQUE (topic, kafka_partition, kafka_offset)
);
CREATE INDEX dead_letters_status_idx ON dead_letters (status, error_class);
CREATE INDEX dead_letters_failure_idx ON dead_letters (last_failure);
CREATE INDEX dead_letters_programme_idx ON dead_letters (programme_id);

-- One row per message of the results topic.
CREATE TABLE results (
	id               bigserial PRIMARY KEY,
	topic            text        NOT NULL,
	kafka_partition  integer     NOT NULL,
	kafka_offset     bigint      NOT NULL,
	event_id         text        NOT NULL,
	event_key        text        NOT NULL,
	outcome          text        NOT NULL,
	target           text,
	programme_id     bigint,
	insuree_uuid     text,
	chf_id           text,
	family_uuid      text,
	policy_uuid      text,
	individual_uuid  text,
	beneficiary_uuid text,
	attempts         integer     NOT NULL,
	duration_ms      bigint      NOT NULL,
	error_class      text,
	error_message    text,
	source_topic     text,
	source_partition integer,
	source_offset    bigint,
	worker_id        text        NOT NULL,
	processed_at     timestamptz NOT NULL,
	stored_at        timestamptz NOT NULL DEFAULT now(),
	UNIQUE (topic, kafka_partition, kafka_offset)
);
CREATE INDEX results_event_idx ON results (event_id);
CREATE INDEX results_key_idx ON results (event_key);
CREATE INDEX results_processed_idx ON results (processed_at);
