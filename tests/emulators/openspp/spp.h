/*
 * spp.h - the openSPP REST API v1 emulator's modules (tests/emulators/openspp/).
 *
 * Reproduces `g2p_registry_rest_api` as /work/shared/contracts/openspp.md
 * describes it, known defects included.  registry.c holds the registrants
 * (read once from a file or generated, never changed afterwards, so the
 * handlers read it without a lock) and renders API answers; api.c holds the
 * HTTP handlers, the Basic authentication, the request log and /_emu/.
 */
#ifndef IL_SPP_H
#define IL_SPP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "http.h"
#include "metrics.h"

/* The prefix every API path starts with. */
#define IL_SPP_BASE "/api/v1/registry"

/** What the command line decided. */
typedef struct il_spp_cfg {
	const char *user;               /* the Odoo login */
	const char *password;           /* its password */
	bool defects;                   /* answer as current openSPP does (nulls, empty lists) */
} il_spp_cfg;

typedef struct il_spp_reqlog il_spp_reqlog;

/** Everything the handlers share. */
typedef struct il_spp {
	il_spp_cfg cfg;                 /* read only */
	cJSON *registry;                /* {"individuals":[...],"groups":[...]}; read only */
	il_spp_reqlog *log;             /* the request log, locked inside */
	il_metrics *metrics;            /* borrowed */
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

#endif
