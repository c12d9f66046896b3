/*
 * emit.h - from openSPP changes to EligibilityEvents in Kafka, shared by the
 * change capture (replication), the initial load and the polling fallback.
 *
 * A producer finds changes (cdc_change: a membership's new state, a
 * registrant or a household that changed) and adds them to the emitter; the
 * emitter collects them in a batch of at most cdc_emitter_opts.batch_size and,
 * when the batch is full or flushed, reads everything the events carry with a
 * few set queries (never one query per row: Odoo indexes neither
 * g2p_reg_id.partner_id nor g2p_group_membership.individual), builds the
 * events, encodes them (Avro, Schema Registry wire format) and queues them on
 * its Kafka producer.  cdc_emitter_wait() then says whether Kafka confirmed
 * every event queued so far: only then may the caller acknowledge its source
 * position.
 *
 * The work is a pipeline of threads, so that a burst costs the slowest stage,
 * not the sum: the caller's thread collects changes; cdc_emitter_opts.readers
 * reader threads, each with its own connection, run the queries of one batch
 * each in a REPEATABLE READ transaction, taking their snapshots in flush
 * order (a later batch never shows an older registry); one encoder thread
 * builds, encodes and queues the events of the batches in flush order, so
 * events of one key reach Kafka in the order of their changes.  A batch
 * flushed on a connection inside a transaction (the initial load's
 * snapshot) is read there, at once.  The ordering of snapshots holds on one
 * server: the connection string must name the primary, as the replication
 * connection does.
 *
 * After any error of cdc_emitter_add(), _flush() or _wait(), the batches in
 * the pipeline are lost: the caller calls cdc_emitter_discard() and starts
 * over from its last acknowledged position (the server sends what was not
 * acknowledged again, with the same event ids).
 *
 * What each kind of change becomes:
 *  - CDC_MEMBERSHIP: one MEMBERSHIP_CHANGED with the programme, the
 *    membership (state, previous state when known, dates), the registrant and
 *    its household.  Memberships of programmes not configured are dropped.
 *  - CDC_REGISTRANT: one REGISTRANT_UPDATED per configured programme in which
 *    the registrant, or the household it belongs to, has an ENROLLED
 *    membership (none: no event), carrying that programme and membership.
 *  - CDC_HOUSEHOLD / CDC_HOUSEHOLD_OF_GM: one HOUSEHOLD_CHANGED per
 *    configured programme in which the household has an ENROLLED membership.
 *  Within one batch, repeated CDC_REGISTRANT or CDC_HOUSEHOLD changes of the
 *  same partner make one event per programme, with the first one's source.
 *
 * What the events carry is read when the batch is flushed: the state at that
 * moment, which is the state at the change's commit or a later one (PostgreSQL
 * keeps no earlier state to read).  A registrant deleted since has only its
 * source_id.
 *
 * Event ids: il_event_id() of source system "openspp", the instance, kind
 * ("CDC" or "POLL"), the change's position, table and primary key; an event
 * fanned out to several programmes adds "#p<programme id>" to the position.
 * The same source change always gives the same id.
 */
#ifndef IL_CDC_EMIT_H
#define IL_CDC_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "conf.h"
#include "err.h"
#include "event.h"
#include "metrics.h"

/* Statement timeout of every connection of the change producer to openSPP. */
#define CDC_STATEMENT_TIMEOUT_MS 60000

typedef enum cdc_change_kind {
	CDC_MEMBERSHIP = 0,     /* a programme membership inserted or its state changed */
	CDC_REGISTRANT,         /* a mapped field, ID or phone of a registrant changed */
	CDC_HOUSEHOLD,          /* a household's members changed (partner_id is the group) */
	CDC_HOUSEHOLD_OF_GM,    /* a member's roles changed: the household of g2p_group_membership id */
} cdc_change_kind;

/** One change, as a producer found it; copied by cdc_emitter_add(). */
typedef struct cdc_change {
	cdc_change_kind kind;
	long long id;           /* MEMBERSHIP: g2p_program_membership.id; HOUSEHOLD_OF_GM: g2p_group_membership.id */
	long long partner_id;   /* MEMBERSHIP, REGISTRANT: the registrant; HOUSEHOLD: the group */
	long long program_id;   /* MEMBERSHIP: its programme; others 0 */
	char state[16];         /* MEMBERSHIP: openSPP state, lower case */
	char prev[16];          /* MEMBERSHIP: previous state; "" when unknown */
	char enrolled[40];      /* MEMBERSHIP: enrollment_date as PostgreSQL prints it; "" for null */
	char exit_date[16];     /* MEMBERSHIP: YYYY-MM-DD; "" for null */
	char position[48];      /* source position: the change's LSN, "snapshot:<lsn>", a poll cursor */
	char table[64];         /* source table */
	char pk[48];            /* source primary key, as text */
	int64_t occurred_ms;    /* commit time (poll: write_date), ms since the epoch */
} cdc_change;

typedef struct cdc_emitter cdc_emitter;

/** What an emitter is made of; strings must outlive it. */
typedef struct cdc_emitter_opts {
	const il_conf *conf;            /* Kafka, schema registry, schemas.dir, topic.eligibility */
	il_metrics *metrics;            /* where its counters go */
	il_event_ctx ectx;              /* instance and key ID type */
	const char *source_kind;        /* "CDC" or "POLL" */
	const long long *programmes;    /* configured programmes; none: every programme */
	size_t nprogrammes;
	size_t batch_size;              /* changes enriched together, > 0 */
	const char *conninfo;           /* openSPP's database, for the readers */
	size_t readers;                 /* connections reading batches in parallel; 0: the caller's only */
} cdc_emitter_opts;

/**
 * @brief Makes an emitter with its own Kafka producer and serializer, and
 * registers imislink_cdc_events_produced_total{type=...} and
 * imislink_cdc_delivery_failures_total.
 * @returns the emitter (freed with cdc_emitter_destroy()), or NULL with the
 * reason in @p errbuf.
 */
cdc_emitter *cdc_emitter_new(const cdc_emitter_opts *o, char *errbuf, size_t errsz);

/** Destroys @p e, dropping what Kafka has not confirmed (NULL is a no-op). */
void cdc_emitter_destroy(cdc_emitter *e);

/**
 * @brief Adds @p ch to the batch; a full batch is flushed at once on @p db.
 * @returns IL_OK, or the error of the flush.
 */
il_err cdc_emitter_add(cdc_emitter *e, PGconn *db, const cdc_change *ch, char *errbuf, size_t errsz);

/**
 * @brief Hands the batch on: to a reader, or when @p db is inside a
 * transaction (the initial load's snapshot) to queries on @p db at once.
 * Waits while the pipeline is full.
 * @returns IL_OK; IL_ERR_TRANSIENT when a query on @p db failed; the failure
 * of an earlier batch in a reader or the encoder (a query, an unreachable
 * registry), IL_ERR_CANCELLED on a stop: then discard and start over.
 */
il_err cdc_emitter_flush(cdc_emitter *e, PGconn *db, char *errbuf, size_t errsz);

/**
 * @brief Waits until every batch flushed so far is encoded and Kafka
 * confirmed or refused all of its events.
 * @returns IL_OK when all were confirmed; IL_ERR_TRANSIENT when some were
 * refused (how many and the first reason in @p errbuf); the failure of a
 * batch (see cdc_emitter_flush()); IL_ERR_CANCELLED when a stop was
 * requested (il_sig) while waiting.
 */
il_err cdc_emitter_wait(cdc_emitter *e, char *errbuf, size_t errsz);

/**
 * @brief Drops the changes batched and not yet flushed, and the flushed
 * batches not yet encoded (a batch being encoded is finished), and forgets a
 * failure: the change capture does it before it streams again after a
 * failure, since the server sends the unacknowledged transactions again.
 */
void cdc_emitter_discard(cdc_emitter *e);

/** Serves delivery reports without waiting. */
void cdc_emitter_poll(cdc_emitter *e);

/** @returns the changes in the batch, not yet flushed. */
size_t cdc_emitter_batched(const cdc_emitter *e);

/** @returns the events queued and not yet confirmed or refused, plus the batches being encoded. */
long cdc_emitter_in_flight(cdc_emitter *e);

/**
 * @brief Whether changes of programme @p id are streamed (the configured
 * list, or every programme when it is empty).
 */
bool cdc_emitter_wants_programme(const cdc_emitter *e, long long id);

#endif
