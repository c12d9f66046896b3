/*
 * imis.h - the openIMIS API as the enrollment worker speaks it: request
 * bodies, answer parsers and the classification of answers.  No I/O here:
 * the worker sends what these functions build and hands back what came, so
 * the quirks of contracts/openimis.md are handled (and unit-tested) in one
 * place:
 *  - validation errors arrive as HTTP 500 with an OperationOutcome; only a
 *    500 *with* a business message is permanent, a bare 500 is transient;
 *  - a duplicate CHF ID ("Exists patient with following chfid `X`") means the
 *    insuree is already there;
 *  - ?identifier= lookups are broken: insurees are found with GraphQL by CHF ID;
 *  - the 201 of a Patient carries the new family in patient-group-reference;
 *    the 201 of a Contract has no id, only UUID and ACSN identifiers.
 *
 * Paths are relative to openimis.api.url and keep the trailing slash the
 * server demands ("api/api_fhir_r4/Patient/").  Every builder returns a
 * NUL-terminated JSON text the caller frees with free().
 */
#ifndef IL_IMIS_H
#define IL_IMIS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define IL_IMIS_PATH_LOGIN    "api/api_fhir_r4/login/"
#define IL_IMIS_PATH_PATIENT  "api/api_fhir_r4/Patient/"
#define IL_IMIS_PATH_CONTRACT "api/api_fhir_r4/Contract/"
#define IL_IMIS_PATH_LOCATION "api/api_fhir_r4/Location/"
#define IL_IMIS_PATH_OFFICER  "api/api_fhir_r4/Practitioner/"
#define IL_IMIS_PATH_PRODUCT  "api/api_fhir_r4/InsurancePlan/"
#define IL_IMIS_PATH_GRAPHQL  "api/graphql"

/* A UUID as text, with its NUL. */
#define IL_IMIS_UUID_LEN 37

/** What an answer means for the caller. */
typedef enum il_imis_class {
	IL_IMIS_OK = 0,          /* 2xx with the expected content */
	IL_IMIS_DUPLICATE,       /* the insuree (CHF ID) or the policy already exists */
	IL_IMIS_INVALID,         /* refused with a business message: permanent, dead-letter */
	IL_IMIS_NOT_FOUND,       /* 404 (or the 500 of an unknown UUID on GET) */
	IL_IMIS_UNAUTHORIZED,    /* 401: log in again, once */
	IL_IMIS_FORBIDDEN,       /* 403: the API user lacks a right; stop, an operator must act */
	IL_IMIS_RATE_LIMITED,    /* 429: slow down, never dead-letter */
	IL_IMIS_TRANSIENT,       /* no answer, timeout, 502-504, a 500 without a business message */
} il_imis_class;

/** @returns a short stable name ("ok", "duplicate", "invalid", ...), for logs and metric labels. */
const char *il_imis_class_name(il_imis_class c);

/**
 * @brief Classifies one answer.  @p status 0 means no answer (connection
 * error or timeout).  @p get tells a lookup (GET: a 500 for an unknown
 * UUID is NOT_FOUND) from a write.  The business message, if any, goes to
 * @p msg ("Exists patient with following chfid `123`", or the GraphQL
 * errors' messages); "" when none.
 */
il_imis_class il_imis_classify(long status, bool get, const char *body, size_t len,
    char *msg, size_t msgsz);

/* ---- login ---- */

/** @returns the login body {"username","password"}. */
char *il_imis_login_body(const char *username, const char *password);
/**
 * @brief Reads a 200 login answer: the token (caller frees) and its expiry
 * (unix seconds, 0 when the answer had none).
 * @returns IL_ERR_PARSE when the body holds no token.
 */
il_err il_imis_parse_login(const char *body, size_t len, char **token, long long *exp);

/* ---- reference data, resolved once at start ---- */

/** A village Location with the names an address needs. */
typedef struct il_imis_village {
	char uuid[IL_IMIS_UUID_LEN];
	char code[32];
	char name[128];          /* the village: address city */
	char municipality[128];  /* its parent: address-municipality */
	char district[128];      /* grandparent: address district */
	char region[128];        /* great-grandparent: address state */
} il_imis_village;

/**
 * @brief Reads the answer of GET Location/?identifier=<code> (a Bundle, or a
 * bare Location): uuid, code, name, type and the parent's reference.
 * @p type gets the Location type code ("R", "D", "W", "V"), @p parent_uuid the
 * uuid in partOf ("" at the top).
 * @returns IL_ERR_NOTFOUND when the Bundle is empty, IL_ERR_PARSE when unreadable.
 */
il_err il_imis_parse_location(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN],
    char *code, size_t codesz, char *name, size_t namesz, char *type, size_t typesz,
    char parent_uuid[IL_IMIS_UUID_LEN]);
/**
 * @brief Reads a Practitioner or InsurancePlan lookup answer (Bundle or bare
 * resource): the first entry's UUID.
 * @returns IL_ERR_NOTFOUND when there is none, IL_ERR_PARSE when unreadable.
 */
il_err il_imis_parse_first_uuid(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN]);

/* ---- insurees (FHIR Patient) ---- */

/** Everything one insuree needs; strings borrowed. */
typedef struct il_imis_person {
	const char *chf_id;      /* insuree number */
	const char *given;       /* name.given[0] (OtherNames) */
	const char *family;      /* name.family (LastName) */
	const char *birthdate;   /* YYYY-MM-DD */
	const char *gender;      /* FHIR: male, female or other */
	bool is_head;            /* patient-is-head */
	const char *family_uuid; /* joins this family (dependants and updates); NULL for a new head */
	const il_imis_village *village;
	const char *phone;       /* optional, NULL when none */
	const char *email;       /* optional */
	const char *uuid;        /* the insuree's UUID for an update (PUT); NULL on create */
} il_imis_person;

/**
 * @returns the GraphQL body that finds insurees by CHF ID:
 * insurees(chfId: "...", ignoreLocation: true) { edges { node { uuid chfId family { uuid } } } }
 */
char *il_imis_gql_insuree(const char *chf_id);
/**
 * @brief Reads the insuree lookup: @p found, and when found the insuree's
 * and its family's UUIDs ("" for an insuree without a family).
 * @returns IL_ERR_PARSE when the answer is not a GraphQL result, with
 * the GraphQL errors' text in @p errbuf when it carried errors.
 */
il_err il_imis_parse_insuree(const char *body, size_t len, bool *found,
    char uuid[IL_IMIS_UUID_LEN], char family_uuid[IL_IMIS_UUID_LEN], char *errbuf, size_t errsz);
/** @returns the Patient of @p p for POST Patient/ (or PUT Patient/<uuid>/ when p->uuid is set). */
char *il_imis_patient_body(const il_imis_person *p);
/**
 * @brief Reads a 201 (or 200 of a PUT) Patient: the insuree UUID and the
 * family UUID from patient-group-reference ("" when absent).
 * @returns IL_ERR_PARSE when the body lacks the insuree's UUID.
 */
il_err il_imis_parse_patient(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN],
    char family_uuid[IL_IMIS_UUID_LEN]);

/* ---- policies (FHIR Contract) ---- */

/** A policy as the worker asks for it; the server computes no dates nor value. */
typedef struct il_imis_policy {
	const char *family_uuid;
	const char *head_uuid;   /* the head insuree, listed in the member list */
	const char *officer_uuid;
	const char *product_uuid;
	const char *product_code; /* for the overlap check against existing policies */
	const char *enroll_date; /* YYYY-MM-DD, never in the future */
	const char *start_date;
	const char *expiry_date;
	double value;
} il_imis_policy;

/** A family's existing policy as the lookup returns it. */
typedef struct il_imis_policy_ref {
	char uuid[IL_IMIS_UUID_LEN];
	char product_code[32];
	char start_date[11];     /* YYYY-MM-DD */
	char expiry_date[11];
	int status;              /* openIMIS: 1 idle, 2 active, 4 suspended, 8 expired */
} il_imis_policy_ref;

/**
 * @returns the GraphQL body listing a family's policies:
 * policiesByFamily(familyUuid: "...") { edges { node { policyUuid productCode startDate expiryDate status } } }
 */
char *il_imis_gql_family_policies(const char *family_uuid);
/**
 * @brief Reads that list into @p refs (at most @p max, count in @p n).
 * @returns IL_ERR_PARSE when unreadable (GraphQL errors' text in @p errbuf).
 */
il_err il_imis_parse_family_policies(const char *body, size_t len, il_imis_policy_ref *refs,
    size_t max, size_t *n, char *errbuf, size_t errsz);
/**
 * @returns the index in @p refs of a policy of the same product whose period
 * overlaps [start, expiry] of @p p, or -1: the check the server does not
 * make (it only refuses a policy *starting* inside the new period).
 */
long il_imis_policy_overlap(const il_imis_policy *p, const il_imis_policy_ref *refs, size_t n);
/** @returns the Contract for POST Contract/: active, Offered, one term, the head as member. */
char *il_imis_contract_body(const il_imis_policy *p);
/**
 * @brief Reads a 201 Contract: the policy UUID from its UUID identifier.
 * @returns IL_ERR_PARSE when absent.
 */
il_err il_imis_parse_contract(const char *body, size_t len, char uuid[IL_IMIS_UUID_LEN]);

/* ---- social protection (GraphQL, asynchronous mutations) ---- */

/** A beneficiary of a benefit plan; strings borrowed. */
typedef struct il_imis_beneficiary {
	const char *client_mutation_id; /* deterministic, so a retry is recognised */
	const char *given;
	const char *family;
	const char *birthdate;
	const char *gender;      /* male, female or other, kept in jsonExt */
	const char *chf_id;      /* kept in jsonExt as the registry's ID */
	const char *location_uuid;
	const char *benefit_plan; /* benefit plan UUID */
	const char *status;      /* POTENTIAL, ACTIVE, SUSPENDED */
	const char *individual_uuid; /* for createBeneficiary */
	const char *date_from;   /* YYYY-MM-DD */
} il_imis_beneficiary;

/** @returns the createIndividual mutation for @p b (client_mutation_id "<id>-ind"). */
char *il_imis_gql_create_individual(const il_imis_beneficiary *b);
/** @returns the createBeneficiary mutation for @p b (client_mutation_id "<id>-ben"). */
char *il_imis_gql_create_beneficiary(const il_imis_beneficiary *b);
/** @returns the query mutationLogs(clientMutationId: @p id) { edges { node { status error } } }. */
char *il_imis_gql_mutation_log(const char *client_mutation_id);
/**
 * @brief Reads a mutationLogs answer: @p found is false when the server has no
 * such mutation; else @p status (0 received, 1 error, 2 success) and the
 * error messages in @p errbuf when 1.
 * @returns IL_ERR_PARSE when unreadable.
 */
il_err il_imis_parse_mutation_log(const char *body, size_t len, bool *found, int *status,
    char *errbuf, size_t errsz);
/**
 * @returns the query individual(clientMutationId: @p id) { edges { node { id } } }
 * that reads what a finished createIndividual made.
 */
char *il_imis_gql_individual(const char *client_mutation_id);
/**
 * @brief Reads that answer: @p found, and the individual's UUID.
 * @returns IL_ERR_PARSE when unreadable.
 */
il_err il_imis_parse_individual(const char *body, size_t len, bool *found,
    char uuid[IL_IMIS_UUID_LEN], char *errbuf, size_t errsz);

#endif
