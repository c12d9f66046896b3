/*
 * mapping.h - what an EligibilityEvent means in openIMIS, driven by the
 * mapping file (enroll.mapping.file; deploy/enroll-mapping.example documents
 * every key).
 *
 * The file says which openSPP programmes enroll and into what (insurance:
 * product, enrolment officer, policy period and value; social protection:
 * benefit plan), which openSPP ID type is the CHF ID, which openIMIS village
 * each openSPP area is, and how genders translate.  il_mapping_plan() turns
 * one decoded event (its JSON form, see avro.h) into an il_plan: the people
 * to enroll, head first, and what to do, or a mapping gap with a reason a
 * person can act on ("area \"KE-NBO-07\" has no openIMIS village in the
 * mapping (area.KE-NBO-07)").
 *
 * Membership states follow contracts/openimis.md: ENROLLED enrolls; PAUSED
 * suspends where the programme says so (social protection only: openIMIS's
 * API offers no policy suspension), else it is recorded; DRAFT, EXITED,
 * NOT_ELIGIBLE and DUPLICATED give no new coverage and are recorded.  A
 * REGISTRANT_UPDATED of a person updates the insuree when openIMIS has it.
 */
#ifndef IL_MAPPING_H
#define IL_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

typedef struct il_mapping il_mapping;

typedef enum il_plan_target {
	IL_PLAN_INSURANCE = 0,
	IL_PLAN_SOCIAL_PROTECTION,
} il_plan_target;

typedef enum il_plan_action {
	IL_PLAN_ENROLL = 0,      /* create what is missing: insurees and family, then the policy */
	IL_PLAN_UPDATE,          /* update the insurees openIMIS has; create nothing */
	IL_PLAN_SUSPEND,         /* social protection: beneficiary SUSPENDED */
	IL_PLAN_RECORD,          /* nothing to do in openIMIS; the outcome is recorded (reason says why) */
} il_plan_action;

/** One person to enroll or update; strings owned by the plan. */
typedef struct il_plan_person {
	char *chf_id;            /* value of the configured CHF ID type */
	char *given;
	char *family;
	char *birthdate;         /* YYYY-MM-DD */
	const char *gender;      /* FHIR male, female or other (static) */
	bool is_head;
	char *role;              /* group role for social protection: HEAD, SPOUSE, SON, ... */
	char *village_code;      /* openIMIS village code, from the area mapping */
	char *phone;             /* NULL when none */
	char *email;             /* NULL when none */
	long long source_id;     /* res_partner.id, -1 when unknown */
} il_plan_person;

/** What one event means; owned by the caller, freed with il_plan_destroy(). */
typedef struct il_plan {
	il_plan_action action;
	il_plan_target target;
	long long programme_id;  /* -1 when the event names none */
	char *reason;            /* IL_PLAN_RECORD: why nothing is done ("membership EXITED: no new coverage") */
	il_plan_person *people;  /* head first, then dependants in household order */
	size_t npeople;
	/* insurance */
	char *product_code;
	char *officer_code;
	char *enroll_date;       /* YYYY-MM-DD: the membership's enrollment date, else the event's date */
	char *start_date;        /* = enroll_date */
	char *expiry_date;       /* start + programme's policy.months, minus one day */
	double policy_value;
	/* social protection */
	char *benefit_plan;      /* benefit plan UUID */
	bool auto_approved;      /* the module runs without maker-checker: report done, not pending */
	const char *sp_status;   /* ACTIVE, SUSPENDED or POTENTIAL (static) */
} il_plan;

/**
 * @brief Reads the mapping file @p path.
 * @returns NULL with a message naming the file, line and key in @p errbuf
 * ("mapping.properties:12: programme.7.target: \"insurence\" is not one of
 * insurance, social_protection") when the file is missing or wrong.
 */
il_mapping *il_mapping_load(const char *path, char *errbuf, size_t errsz);
/** Frees @p m; NULL is a no-op. */
void il_mapping_destroy(il_mapping *m);
/** @returns the distinct village codes the mapping names, for resolution at start; borrowed. */
const char *const *il_mapping_villages(const il_mapping *m, size_t *n);
/** @returns the distinct enrolment officer codes; borrowed. */
const char *const *il_mapping_officers(const il_mapping *m, size_t *n);
/** @returns the distinct product codes; borrowed. */
const char *const *il_mapping_products(const il_mapping *m, size_t *n);

/**
 * @brief Plans one decoded EligibilityEvent (@p event, its JSON form).
 * @p today is YYYY-MM-DD (a policy never starts in the future: a later
 * enrollment date is clamped to today).
 * @returns IL_OK with a plan in @p out (caller frees); IL_ERR_PERMANENT with
 * every mapping gap of the event in @p errbuf ("household member 3 (res_partner
 * 4711): no \"National ID\" to use as CHF ID; area \"X\" has no village"),
 * personal data never included (only source ids and codes).
 */
il_err il_mapping_plan(const il_mapping *m, const cJSON *event, const char *today,
    il_plan **out, char *errbuf, size_t errsz);
/** Frees @p p; NULL is a no-op. */
void il_plan_destroy(il_plan *p);

#endif
