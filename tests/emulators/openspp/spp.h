/*
 * spp.h - the openSPP API emulator's modules (tests/emulators/openspp/).
 *
 * Reproduces `g2p_registry_rest_api` as /work/shared/contracts/openspp.md
 * describes it, known defects included, and openSPP 17's DCI server
 * (`spp_dci_api_server`: /oauth2/client/token and /registry/sync/search).
 * registry.c holds the registrants (read once from a file or generated,
 * never changed afterwards, so the handlers read it without a lock) and
 * renders API answers; api.c holds the REST handlers, the Basic
 * authentication, the request log and /_emu/; dci.c the DCI server.
 */
#ifndef IL_SPP_H
#define IL_SPP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "dci.h"
#include "http.h"
#include "metrics.h"

/* DCI message ids remembered for rjct.message_id.duplicate. */
#define IL_SPP_DCI_SEEN_CAP 100000

/* The prefix every API path starts with. */
#define IL_SPP_BASE "/api/v1/registry"

/** What the command line decided. */
typedef struct il_spp_cfg {
	const char *user;               /* the Odoo login */
	const char *password;           /* its password */
	bool defects;                   /* answer as current openSPP does (nulls, empty lists) */
	const char *dci_client_id;      /* the DCI client credential */
	const char *dci_client_secret;
	const char *dci_db_name;        /* the Odoo database a token request names */
	long long dci_token_lifetime_s; /* lifetime of issued tokens (openSPP: 600) */
	long long dci_max_records;      /* most records of one unpaged search */
	long long dci_max_page_size;    /* largest page_size accepted */
	bool dci_keep_unidentified;     /* answer records without IDs (openSPP drops them) */
	long long dci_token_uses;       /* searches after which every token is refused
	                                 * until a new one is issued (tests); 0: never */
} il_spp_cfg;

typedef struct il_spp_reqlog il_spp_reqlog;

/** Everything the handlers share. */
typedef struct il_spp {
	il_spp_cfg cfg;                 /* read only */
	cJSON *registry;                /* {"individuals":[...],"groups":[...]}; read only */
	il_spp_reqlog *log;             /* the request log, locked inside */
	il_metrics *metrics;            /* borrowed */
	unsigned char dci_key[32];      /* HS256 key of the DCI tokens; random per start */
	pthread_mutex_t dci_mu;         /* guards dci_seen and dci_uses */
	il_dci_seen *dci_seen;          /* (sender_id, message_id) pairs answered */
	long long dci_uses;             /* searches answered since the last token */
} il_spp;

/**
 * @brief Reads and checks a registry file ({"individuals":[...],
 * "groups":[...]}, each record with a unique integer "id" and a "name").
 * @returns the registry, or NULL with the reason in @p errbuf.
 */
cJSON *il_spp_registry_load(const char *path, char *errbuf, size_t errsz);
/**
 * @brief Generates @p n individuals in households (the same @p n and
 * @p seed give the same registry).  @returns the registry.
 */
cJSON *il_spp_registry_generate(int n, uint64_t seed);
/** @returns the record with @p id in @p kind ("individuals" or "groups"), or NULL. */
const cJSON *il_spp_registry_find(const cJSON *reg, const char *kind, long long id);
/**
 * @brief Renders an individual as the API answers it; @p defects blanks
 * the fields current openSPP loses.  @returns a new object.
 */
cJSON *il_spp_render_individual(const cJSON *rec, bool defects);
/**
 * @brief Renders a group with its members (id, name, kind; with
 * @p members_full each member is the whole individual answer plus kind).
 * @returns a new object.
 */
cJSON *il_spp_render_group(const cJSON *reg, const cJSON *rec, bool defects, bool members_full);

/** @returns a request log keeping the last @p cap entries; free with il_spp_reqlog_destroy(). */
il_spp_reqlog *il_spp_reqlog_new(size_t cap);
/** Frees @p log; NULL is a no-op. */
void il_spp_reqlog_destroy(il_spp_reqlog *log);
/** Adds the routes of the API and of /_emu/ to @p http. */
void il_spp_routes(il_spp *spp, il_http *http);
/**
 * @brief Logs one API call (@p user: the login or client given, or NULL)
 * and counts it in the metrics under @p cls.
 */
void il_spp_record(il_spp *spp, const il_http_request *req, const char *cls, const char *user,
    int status);
/** Fills @p resp with @p json (taken) as the answer @p status. */
void il_spp_reply(il_http_response *resp, int status, cJSON *json);
/**
 * @brief Sets up the DCI server's state (a random token key, the memory of
 * message ids); undo with il_spp_dci_fini().
 */
void il_spp_dci_init(il_spp *spp);
/** Frees what il_spp_dci_init() made. */
void il_spp_dci_fini(il_spp *spp);
/** Adds POST /oauth2/client/token and POST /registry/sync/search to @p http. */
void il_spp_dci_routes(il_spp *spp, il_http *http);

#endif
