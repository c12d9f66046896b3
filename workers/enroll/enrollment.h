/*
 * enrollment.h - one event's way through openIMIS, as a state machine
 * without I/O.
 *
 * The worker asks il_enrollment_next() for the call to make, makes it (rate
 * limited, with the bearer token and a correlation header), and hands the
 * answer to il_enrollment_answer(), which says what comes next.  Keeping the
 * calls out of here lets the unit tests walk every branch with canned
 * answers, quirks included.
 *
 * Insurance (IL_PLAN_ENROLL), for each person head first:
 *   1. insurees(chfId) via GraphQL: found -> take its UUID and family, go on;
 *   2. POST Patient/ (head: no group reference, a new family comes back;
 *      dependant: joins the head's family).  201 -> go on.  The duplicate
 *      CHF ID 500 -> "already there": look it up again (1) to learn its UUIDs.
 *      Any transient failure of the write -> RETRY, and the next call is the
 *      lookup (1) again, because the write may have happened (no transaction
 *      around a create, "write then fail").
 * then the policy:
 *   3. policiesByFamily via GraphQL: a policy of the product overlapping the
 *      period -> ALREADY (nothing to write);
 *   4. POST Contract/; transient -> RETRY then (3) again; the "Contract
 *      exists" 500 -> (3) again to read it.
 * Outcome ENROLLED when anything was written, ALREADY_ENROLLED when nothing
 * had to be.
 * IL_PLAN_UPDATE: lookup (1) of each person; found -> PUT Patient/<uuid>/ with
 * the family reference (a PUT without it detaches the insuree); not found ->
 * SKIPPED ("not enrolled in openIMIS").  Outcome UPDATED.
 * Social protection (ENROLL, SUSPEND): per person, mutationLogs of the
 * deterministic clientMutationId first (a finished one is not redone), then
 * createIndividual, poll mutationLogs until done (RETRY between polls),
 * read the individual, then createBeneficiary likewise.  Outcome
 * PENDING_APPROVAL unless the plan says the module auto-approves.
 * IL_PLAN_RECORD: DONE at once with SKIPPED and the plan's reason.
 * An answer with a business message (validation 500, GraphQL error) ends the
 * event FAILED, class "permanent", with that message.
 */
#ifndef IL_ENROLLMENT_H
#define IL_ENROLLMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"
#include "imis.h"
#include "mapping.h"

typedef struct il_enrollment il_enrollment;

/** One call to make; owned by the enrollment, valid until the next il_enrollment_* call. */
typedef struct il_enroll_call {
	const char *method;      /* "GET", "POST" or "PUT" */
	const char *path;        /* relative to openimis.api.url, with its trailing slash */
	const char *body;        /* JSON; NULL for GET */
	const char *endpoint;    /* metric label: insuree_lookup, patient_create, patient_update,
	                          * policy_lookup, contract_create, mutation_log, individual_create,
	                          * individual_read, beneficiary_create */
	bool write;              /* a write: its transient failure is followed by a re-check */
} il_enroll_call;

/** What the worker does next. */
typedef enum il_enroll_step {
	IL_ENROLL_CALL = 0,      /* il_enrollment_next() has a call to make */
	IL_ENROLL_RETRY,         /* transient failure (or a mutation still running): wait, then il_enrollment_next() */
	IL_ENROLL_SLOW_DOWN,     /* 429: tell the rate limiter, wait, then il_enrollment_next() (the same call) */
	IL_ENROLL_LOGIN,         /* 401: log in again, then il_enrollment_next() (the same call) */
	IL_ENROLL_DONE,          /* finished: il_enrollment_result() */
} il_enroll_step;

typedef enum il_enroll_outcome {
	IL_OUTCOME_ENROLLED = 0,
	IL_OUTCOME_UPDATED,
	IL_OUTCOME_ALREADY_ENROLLED,
	IL_OUTCOME_SKIPPED,
	IL_OUTCOME_PENDING_APPROVAL,
	IL_OUTCOME_FAILED,
} il_enroll_outcome;

/** @returns the outcome's symbol in EnrollmentResult ("ENROLLED", ...). */
const char *il_enroll_outcome_name(il_enroll_outcome o);

/** How an event ended; strings owned by the enrollment. */
typedef struct il_enroll_result {
	il_enroll_outcome outcome;
	il_plan_target target;
	const char *error_class; /* NULL unless FAILED: "permanent" (openIMIS refused) or "mapping" */
	const char *error_message; /* NULL unless FAILED or SKIPPED (then: why) */
	const char *chf_id;      /* the head's (or the person's) CHF ID, NULL when none */
	const char *insuree_uuid; /* the head's insuree, NULL when none */
	const char *family_uuid;
	const char *policy_uuid;
	const char *individual_uuid;
	const char *beneficiary_uuid;
	int calls;               /* calls answered so far */
} il_enroll_result;

/**
 * @brief Starts the way of @p plan (taken over, freed with the enrollment)
 * against reference data @p cat (borrowed, must outlive it).
 * @returns NULL when the catalogue lacks what the plan needs (a village,
 * officer or product unknown to openIMIS), with a reason naming the code in
 * @p errbuf: a mapping gap, to dead-letter; @p plan is freed then too.
 */
il_enrollment *il_enrollment_new(il_plan *plan, const il_catalog *cat, char *errbuf, size_t errsz);
/** Frees @p e and its plan; NULL is a no-op. */
void il_enrollment_destroy(il_enrollment *e);

/**
 * @brief The next step: IL_ENROLL_CALL with @p call filled in, or
 * IL_ENROLL_DONE when nothing is left.
 */
il_enroll_step il_enrollment_next(il_enrollment *e, const il_enroll_call **call);
/**
 * @brief Feeds the answer to the last call: @p status 0 when there was none
 * (connection error, timeout).
 * @returns IL_ENROLL_CALL when the next call is ready, or what the worker
 * must do first (RETRY, SLOW_DOWN, LOGIN), or IL_ENROLL_DONE.
 */
il_enroll_step il_enrollment_answer(il_enrollment *e, long status, const char *body, size_t len);
/** @returns the result so far (final after IL_ENROLL_DONE). */
const il_enroll_result *il_enrollment_result(const il_enrollment *e);
/** @returns the classification of the last answer, for metrics and logs. */
il_imis_class il_enrollment_last_class(const il_enrollment *e);

#endif
