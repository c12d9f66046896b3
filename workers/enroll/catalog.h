/*
 * catalog.h - openIMIS reference data the enrollment worker resolves at
 * start: village Locations (with the names an address needs), enrolment
 * officers and products, by code.  Filled once, read-only afterwards.
 */
#ifndef IL_CATALOG_H
#define IL_CATALOG_H

#include "err.h"
#include "imis.h"

typedef struct il_catalog il_catalog;

/** @returns an empty catalogue; free with il_catalog_destroy(). */
il_catalog *il_catalog_new(void);
/** Frees @p c; NULL is a no-op. */
void il_catalog_destroy(il_catalog *c);
/** Adds (copies) a village; a second add of one code replaces it. */
void il_catalog_add_village(il_catalog *c, const il_imis_village *v);
/** Adds an enrolment officer's or a product's UUID by code. */
void il_catalog_add_officer(il_catalog *c, const char *code, const char *uuid);
void il_catalog_add_product(il_catalog *c, const char *code, const char *uuid);
/** @returns the entry for @p code, or NULL; borrowed from @p c. */
const il_imis_village *il_catalog_village(const il_catalog *c, const char *code);
const char *il_catalog_officer(const il_catalog *c, const char *code);
const char *il_catalog_product(const il_catalog *c, const char *code);

#endif
