/*
 * emu.h - the openIMIS emulator's modules (tests/emulators/openimis/).
 *
 * The emulator follows /work/shared/contracts/openimis.md, quirks included;
 * the spec is /work/notes/emulator.md.  One store under one mutex holds the
 * reference data (locations, officers, products, benefit plans) and what
 * clients wrote; the HTTP handlers of fhir.c and graphql.c work on it under
 * that mutex, and control.c puts the faults, the rate limit, the
 * authentication and the request log in front of them.
 */
#ifndef IL_EMU_H
#define IL_EMU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "metrics.h"

/* A UUID as text, with its NUL. */
#define IL_EMU_UUID_LEN 37
/* A date as text (YYYY-MM-DD), with its NUL. */
#define IL_EMU_DATE_LEN 11

#define IL_EMU_ID_SYSTEM "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/openimis-identifiers"
#define IL_EMU_EXT_BASE "https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"
#define IL_EMU_LOCTYPE_SYSTEM "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/location-type"
#define IL_EMU_FHIR_BASE "/api/api_fhir_r4/"

/* ---- map.c-like helpers in store.c ----------------------------------- */

/** A hash map from a string (copied) to a borrowed pointer. */
typedef struct il_emu_map il_emu_map;

/** @returns an empty map; free with il_emu_map_destroy(). */
il_emu_map *il_emu_map_new(void);
/** Frees @p m (not the values); NULL is a no-op. */
void il_emu_map_destroy(il_emu_map *m);
/** Removes every entry, keeps the map. */
void il_emu_map_clear(il_emu_map *m);
/** @returns the value stored for @p key or NULL. */
void *il_emu_map_get(const il_emu_map *m, const char *key);
/** Stores @p value for @p key, replacing any older value. */
void il_emu_map_put(il_emu_map *m, const char *key, void *value);

/** A growable array of pointers. */
typedef struct il_emu_vec {
	void **v;               /* the elements */
	size_t n;               /* elements in use */
	size_t cap;             /* elements allocated */
} il_emu_vec;

/** Appends @p p. */
void il_emu_vec_push(il_emu_vec *vec, void *p);
/** Frees the array (not the elements) and empties @p vec. */
void il_emu_vec_free(il_emu_vec *vec);

/* ---- the store -------------------------------------------------------- */

/** A Location of the reference data. */
typedef struct il_emu_location {
	char uuid[IL_EMU_UUID_LEN];     /* deterministic, from the code */
	char *code;                     /* "R1D1M1V1" */
	char *name;                     /* display name */
	char type;                      /* R region, D district, W ward, V village */
	char parent_uuid[IL_EMU_UUID_LEN]; /* "" for a region */
	long id;                        /* database id */
} il_emu_location;

/** An officer, product or benefit plan of the reference data. */
typedef struct il_emu_ref {
	char uuid[IL_EMU_UUID_LEN];     /* deterministic from the code, or given */
	char *code;                     /* "E00001", "FCTP", "CASH1" */
	char *name;                     /* display name */
	long id;                        /* database id */
} il_emu_ref;

/** An insuree (FHIR Patient). */
typedef struct il_emu_insuree {
	char uuid[IL_EMU_UUID_LEN];     /* the Patient id */
	char *chf_id;                   /* the insuree number (identifier Code) */
	char *given;                    /* name.given[0] (OtherNames) */
	char *family_name;              /* name.family (LastName) */
	char *gender;                   /* "male", "female" or "other" */
	char birth_date[IL_EMU_DATE_LEN]; /* YYYY-MM-DD */
	bool is_head;                   /* head of its family */
	char family_uuid[IL_EMU_UUID_LEN]; /* "" when in no family */
	char *city;                     /* address city */
	char *district;                 /* address district */
	char *state;                    /* address state */
	char *municipality;             /* address-municipality */
	char location_uuid[IL_EMU_UUID_LEN]; /* the village */
	char *phone;                    /* telecom phone or NULL */
	long id;                        /* database id */
	char updated[24];               /* YYYY-MM-DDTHH:MM:SS, UTC, last write */
} il_emu_insuree;

/** A family (FHIR Group). */
typedef struct il_emu_family {
	char uuid[IL_EMU_UUID_LEN];     /* the Group id */
	char head_uuid[IL_EMU_UUID_LEN]; /* the head insuree */
	char *location_code;            /* the head's village */
	long id;                        /* database id */
	il_emu_vec policies;            /* il_emu_policy *, in creation order */
} il_emu_family;

/** A policy (FHIR Contract). */
typedef struct il_emu_policy {
	char uuid[IL_EMU_UUID_LEN];     /* identifier UUID */
	long id;                        /* identifier ACSN */
	char family_uuid[IL_EMU_UUID_LEN]; /* the covered family */
	char *product_code;             /* the product */
	char enroll_date[IL_EMU_DATE_LEN]; /* period start */
	char start_date[IL_EMU_DATE_LEN];  /* usePeriod start (effective) */
	char expiry_date[IL_EMU_DATE_LEN]; /* period end */
	double value;                   /* net value */
	int status;                     /* 1 idle, 2 active */
	char officer_uuid[IL_EMU_UUID_LEN]; /* enrolment officer */
} il_emu_policy;

/** A social protection Individual. */
typedef struct il_emu_individual {
	char uuid[IL_EMU_UUID_LEN];     /* id */
	char *first_name;               /* firstName */
	char *last_name;                /* lastName */
	char *dob;                      /* dob as sent */
	char *json_ext;                 /* jsonExt as JSON text, or NULL */
	char *location_id;              /* locationId as sent, or NULL */
	char *client_mutation_id;       /* the mutation that created it */
} il_emu_individual;

/** A social protection Group. */
typedef struct il_emu_group {
	char uuid[IL_EMU_UUID_LEN];     /* id */
	char *code;                     /* code */
	char *members;                  /* individualsData as JSON text */
	char *client_mutation_id;       /* the mutation that created it */
} il_emu_group;

/** A beneficiary of a benefit plan. */
typedef struct il_emu_beneficiary {
	char uuid[IL_EMU_UUID_LEN];     /* id */
	char individual_uuid[IL_EMU_UUID_LEN]; /* the individual */
	char plan_uuid[IL_EMU_UUID_LEN]; /* the benefit plan */
	char *status;                   /* POTENTIAL, ACTIVE, GRADUATED, SUSPENDED */
	char *date_valid_from;          /* as sent, or NULL */
	char *date_valid_to;            /* as sent, or NULL */
	bool pending;                   /* only an approval task so far (maker-checker) */
	char *client_mutation_id;       /* the mutation that created it */
} il_emu_beneficiary;

/** What a GraphQL mutation does once it runs. */
typedef enum il_emu_mutation_kind {
	IL_EMU_MUT_INDIVIDUAL = 1,      /* createIndividual */
	IL_EMU_MUT_GROUP = 2,           /* createGroup */
	IL_EMU_MUT_BENEFICIARY = 3,     /* createBeneficiary */
} il_emu_mutation_kind;

/** A GraphQL mutation and its log. */
typedef struct il_emu_mutation {
	char *client_mutation_id;       /* as the client chose it */
	char internal_id[IL_EMU_UUID_LEN]; /* answered at once */
	il_emu_mutation_kind kind;      /* what it does */
	cJSON *input;                   /* the input object; NULL once done */
	int status;                     /* 0 received, 1 error, 2 success */
	char *error;                    /* JSON list of {message, detail}, or NULL */
} il_emu_mutation;

/** Everything, under one mutex. */
typedef struct il_emu_store {
	pthread_mutex_t mu;             /* guards every member below */
	il_emu_vec locations;           /* il_emu_location * */
	il_emu_vec officers;            /* il_emu_ref * */
	il_emu_vec products;            /* il_emu_ref * */
	il_emu_vec plans;               /* il_emu_ref *, benefit plans */
	il_emu_map *location_by_key;    /* code and uuid -> location */
	il_emu_map *officer_by_key;     /* code and uuid -> officer */
	il_emu_map *product_by_key;     /* code and uuid -> product */
	il_emu_map *plan_by_key;        /* code and uuid -> benefit plan */
	il_emu_vec insurees;            /* il_emu_insuree *, creation order */
	il_emu_vec families;            /* il_emu_family * */
	il_emu_vec policies;            /* il_emu_policy * */
	il_emu_vec individuals;         /* il_emu_individual * */
	il_emu_vec groups;              /* il_emu_group * */
	il_emu_vec beneficiaries;       /* il_emu_beneficiary * */
	il_emu_vec mutations;           /* il_emu_mutation * */
	il_emu_map *insuree_by_uuid;    /* uuid -> insuree */
	il_emu_map *insuree_by_chf;     /* chf id -> insuree (the first stored) */
	il_emu_map *family_by_uuid;     /* uuid -> family */
	il_emu_map *individual_by_uuid; /* uuid -> individual */
	il_emu_map *mutation_by_id;     /* clientMutationId -> mutation */
	long next_id;                   /* next database id */
	uint64_t rng;                   /* for UUIDs, xorshift state */
} il_emu_store;

/**
 * @brief Loads the reference data from @p path (JSON, the shape of the spec),
 * or the embedded set when @p path is NULL.
 * @returns a store, or NULL with the reason in @p errbuf.
 */
il_emu_store *il_emu_store_new(const char *path, uint64_t seed, char *errbuf, size_t errsz);
/** Frees @p st; NULL is a no-op. */
void il_emu_store_destroy(il_emu_store *st);
/** Forgets everything clients wrote; keeps the reference data.  Caller holds mu. */
void il_emu_store_reset(il_emu_store *st);
/** Writes a fresh random UUID into @p out.  Caller holds mu. */
void il_emu_store_uuid(il_emu_store *st, char out[IL_EMU_UUID_LEN]);
/** Writes the deterministic UUID of @p kind and @p code into @p out. */
void il_emu_uuid_from(const char *kind, const char *code, char out[IL_EMU_UUID_LEN]);
/** Stores a new insuree (taken).  Caller holds mu. */
void il_emu_store_add_insuree(il_emu_store *st, il_emu_insuree *ins);
/** Frees one insuree. */
void il_emu_insuree_free(il_emu_insuree *ins);
/** Creates a family headed by @p head.  Caller holds mu.  @returns it. */
il_emu_family *il_emu_store_add_family(il_emu_store *st, il_emu_insuree *head, const char *location_code);
/** @returns the database id for a new record.  Caller holds mu. */
long il_emu_store_next_id(il_emu_store *st);
/** Writes the store as JSON for /_emu/state (@p full) or /_emu/counts.  Caller holds mu. */
cJSON *il_emu_store_state(il_emu_store *st, bool full);
/** Writes the counts object.  Caller holds mu. */
cJSON *il_emu_store_counts(il_emu_store *st);
/** Scans for duplicate CHF IDs and overlapping policies.  Caller holds mu. */
cJSON *il_emu_store_duplicates(il_emu_store *st);

/* ---- the emulator ----------------------------------------------------- */

/** Faults, all changeable at run time. */
typedef struct il_emu_faults {
	int latency_ms_min;             /* added latency, lower bound */
	int latency_ms_max;             /* added latency, upper bound */
	double fail_pct;                /* answered 500/502/503/504 doing nothing */
	double reset_pct;               /* connection closed unanswered */
	double hang_pct;                /* hang hang_ms, then closed unanswered */
	int hang_ms;                    /* how long a hang lasts */
	double write_then_fail_pct;     /* writes stored then answered 500 */
	bool down;                      /* every API call answers 503 */
} il_emu_faults;

/** Settings from the command line. */
typedef struct il_emu_config {
	const char *username;           /* the API user */
	const char *password;           /* its password */
	long token_lifetime;            /* JWT lifetime in seconds */
	int chfid_length;               /* exact CHF ID length, 0 = 1..12 */
	bool chfid_check_digit;         /* last digit is the Luhn digit of the rest */
	int rate_limit;                 /* calls per minute per client IP, 0 = off */
	bool sp_auto_approve;           /* createBeneficiary takes effect at once */
} il_emu_config;

typedef struct il_emu_reqlog il_emu_reqlog;
typedef struct il_emu_limiter il_emu_limiter;

/** The emulator, shared by every handler. */
typedef struct il_emu {
	il_emu_config cfg;              /* settings */
	il_emu_store *store;            /* the data */
	pthread_mutex_t fault_mu;       /* guards faults, rng, failed_logins */
	il_emu_faults faults;           /* current faults */
	uint64_t rng;                   /* fault dice, xorshift state */
	int failed_logins;              /* of the one user; 5 locks it out */
	unsigned char jwt_key[32];      /* HS256 key, random per run */
	il_emu_reqlog *log;             /* the request ring */
	il_emu_limiter *limiter;        /* per-IP budgets, NULL when off */
	il_metrics *metrics;            /* borrowed */
	volatile int stopping;          /* set at shutdown: hangs end early */
} il_emu;

/** What an API handler reports back to the front. */
typedef struct il_emu_call {
	bool write;                     /* it was a write (write-then-fail applies) */
} il_emu_call;

/** @brief Sets up the front: routes for /api/ and /_emu/ on @p http. */
void il_emu_routes(il_emu *emu, il_http *http);
/** @returns a new request log (ring of @p cap entries). */
il_emu_reqlog *il_emu_reqlog_new(size_t cap);
/** Frees @p log; NULL is a no-op. */
void il_emu_reqlog_destroy(il_emu_reqlog *log);
/** @returns a new limiter of @p per_minute calls per IP. */
il_emu_limiter *il_emu_limiter_new(int per_minute);
/** Frees @p l; NULL is a no-op. */
void il_emu_limiter_destroy(il_emu_limiter *l);

/** FHIR: every path under /api/api_fhir_r4/ except login, authenticated. */
void il_emu_fhir(il_emu *emu, const il_http_request *req, il_http_response *resp, il_emu_call *call);
/** FHIR login (no bearer needed). */
void il_emu_login(il_emu *emu, const il_http_request *req, il_http_response *resp);
/** POST /api/graphql, authenticated. */
void il_emu_graphql(il_emu *emu, const il_http_request *req, il_http_response *resp, il_emu_call *call);

/** @returns a signed HS256 token for @p user, valid until @p exp (unix s); free(). */
char *il_emu_jwt_make(const unsigned char key[32], const char *user, long long exp);
/** @returns true when @p token is signed with @p key and not expired at @p now. */
bool il_emu_jwt_check(const unsigned char key[32], const char *token, long long now);

/** Answers @p json (deleted) with @p status. */
void il_emu_reply(il_http_response *resp, int status, cJSON *json);
/** Answers a FHIR OperationOutcome; @p text NULL gives none (a bare outcome). */
void il_emu_outcome(il_http_response *resp, int status, const char *severity,
    const char *code, const char *text);
/** @returns the string member @p key of @p obj, or NULL. */
const char *il_emu_jstr(const cJSON *obj, const char *key);
/** Writes today's UTC date (YYYY-MM-DD) into @p out. */
void il_emu_today(char out[IL_EMU_DATE_LEN]);

#endif
