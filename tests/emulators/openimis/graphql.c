/*
 * graphql.c - the subset of openIMIS's GraphQL API the enrollment worker
 * uses.  No GraphQL engine: the first field of the operation and its
 * arguments (inline literals or $variables) are read from the query text,
 * and the answer always carries the fields the spec lists.
 *
 * Mutations are asynchronous as in openIMIS: the answer only acknowledges
 * {clientMutationId, internalId}; the work is done after the first
 * mutationLogs poll of it, which itself still reports status 0, so a
 * client has to poll until it sees 1 (error) or 2 (success).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "log.h"
#include "xalloc.h"

/* Deepest nesting of values accepted in arguments. */
#define IL_EMU_GQL_DEPTH 32

/* The query text being read. */
typedef struct il_emu_gql {
	const char *s;                  /* next character */
	const cJSON *vars;              /* "variables" object or NULL */
	int depth;                      /* of the value being read */
	const char *err;                /* first error, static text */
} il_emu_gql;

static void
il_emu_gql_ws(il_emu_gql *g)
{
	for (;;) {
		while (*g->s != '\0' && (isspace((unsigned char)*g->s) || *g->s == ','))
			g->s++;
		if (*g->s != '#')
			return;
		while (*g->s != '\0' && *g->s != '\n')
			g->s++;
	}
}

/* Reads a name into @p out; @returns false when none. */
static bool
il_emu_gql_name(il_emu_gql *g, char *out, size_t outsz)
{
	size_t n = 0;

	il_emu_gql_ws(g);
	if (!(isalpha((unsigned char)*g->s) || *g->s == '_'))
		return false;
	while (isalnum((unsigned char)*g->s) || *g->s == '_') {
		if (n + 1 < outsz)
			out[n++] = *g->s;
		g->s++;
	}
	out[n] = '\0';
	return true;
}

static void
il_emu_utf8(il_buf *b, unsigned cp, il_emu_gql *g)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	if (il_buf_add(b, u, n) != IL_OK)
		g->err = "string too long";
}

static cJSON *
il_emu_gql_string(il_emu_gql *g)
{
	il_buf b;
	cJSON *out = NULL;

	il_buf_init(&b, 1 << 20);
	g->s++;
	while (*g->s != '"' && g->err == NULL) {
		char c = *g->s;

		if (c == '\0' || c == '\n') {
			g->err = "unterminated string";
			break;
		}
		g->s++;
		if (c == '\\') {
			char e = *g->s++;
			unsigned cp = 0;
			int i;

			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case '"': case '\\': case '/': c = e; break;
			case 'u':
				for (i = 0; i < 4; i++) {
					if (!isxdigit((unsigned char)g->s[i])) {
						g->err = "bad \\u escape";
						break;
					}
					cp = cp * 16 + (unsigned)(isdigit((unsigned char)g->s[i]) ?
					    g->s[i] - '0' : (tolower((unsigned char)g->s[i]) - 'a' + 10));
				}
				if (g->err == NULL) {
					g->s += 4;
					il_emu_utf8(&b, cp, g);
				}
				continue;
			default:
				g->err = "bad escape in string";
				continue;
			}
		}
		if (il_buf_add(&b, &c, 1) != IL_OK)
			g->err = "string too long";
	}
	if (g->err == NULL) {
		g->s++;
		if (il_buf_add(&b, "", 1) != IL_OK)
			g->err = "string too long";
		else
			out = cJSON_CreateString(b.data);
	}
	il_buf_free(&b);
	return out;
}

static cJSON *il_emu_gql_value(il_emu_gql *g);

/* Reads "name: value" pairs up to @p close into an object. */
static cJSON *
il_emu_gql_pairs(il_emu_gql *g, char close)
{
	cJSON *obj = cJSON_CreateObject();
	char name[128];

	for (;;) {
		cJSON *v;

		il_emu_gql_ws(g);
		if (*g->s == close) {
			g->s++;
			return obj;
		}
		if (!il_emu_gql_name(g, name, sizeof(name))) {
			g->err = "expected an argument name";
			break;
		}
		il_emu_gql_ws(g);
		if (*g->s != ':') {
			g->err = "expected ':' after an argument name";
			break;
		}
		g->s++;
		v = il_emu_gql_value(g);
		if (v == NULL)
			break;
		cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
		cJSON_AddItemToObject(obj, name, v);
	}
	cJSON_Delete(obj);
	return NULL;
}

static cJSON *
il_emu_gql_value(il_emu_gql *g)
{
	char name[128];
	cJSON *v = NULL;

	il_emu_gql_ws(g);
	if (++g->depth > IL_EMU_GQL_DEPTH) {
		g->err = "arguments nested too deeply";
		return NULL;
	}
	if (*g->s == '$') {
		const cJSON *var;

		g->s++;
		if (!il_emu_gql_name(g, name, sizeof(name))) {
			g->err = "expected a variable name after '$'";
			goto out;
		}
		var = cJSON_GetObjectItemCaseSensitive(g->vars, name);
		v = var != NULL ? cJSON_Duplicate(var, true) : cJSON_CreateNull();
	} else if (*g->s == '"') {
		v = il_emu_gql_string(g);
	} else if (*g->s == '-' || isdigit((unsigned char)*g->s)) {
		char *end;
		double d = strtod(g->s, &end);

		if (end == g->s) {
			g->err = "bad number";
			goto out;
		}
		g->s = end;
		v = cJSON_CreateNumber(d);
	} else if (*g->s == '[') {
		g->s++;
		v = cJSON_CreateArray();
		for (;;) {
			cJSON *item;

			il_emu_gql_ws(g);
			if (*g->s == ']') {
				g->s++;
				break;
			}
			if (*g->s == '\0') {
				g->err = "unterminated list";
				break;
			}
			item = il_emu_gql_value(g);
			if (item == NULL)
				break;
			cJSON_AddItemToArray(v, item);
		}
		if (g->err != NULL) {
			cJSON_Delete(v);
			v = NULL;
		}
	} else if (*g->s == '{') {
		g->s++;
		v = il_emu_gql_pairs(g, '}');
	} else if (il_emu_gql_name(g, name, sizeof(name))) {
		if (strcmp(name, "true") == 0)
			v = cJSON_CreateTrue();
		else if (strcmp(name, "false") == 0)
			v = cJSON_CreateFalse();
		else if (strcmp(name, "null") == 0)
			v = cJSON_CreateNull();
		else
			v = cJSON_CreateString(name);   /* an enum value */
	} else {
		g->err = "expected a value";
	}
out:
	g->depth--;
	return v;
}

/* ---- answers ---------------------------------------------------------- */

static void
il_emu_gql_error(il_http_response *resp, const char *fmt, const char *arg)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_CreateObject();
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "errors"), e);
	il_emu_reply(resp, 200, root);
}

/* @returns {"data":{field:{"edges":[]}}} and the edges array in @p edges. */
static cJSON *
il_emu_gql_connection(const char *field, cJSON **edges)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *conn = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "data"), field);

	*edges = cJSON_AddArrayToObject(conn, "edges");
	cJSON_AddNumberToObject(conn, "totalCount", 0);
	return root;
}

static void
il_emu_gql_finish(il_http_response *resp, cJSON *root, const char *field, cJSON *edges)
{
	cJSON *conn = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root,
	    "data"), field);

	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(conn, "totalCount"),
	    cJSON_GetArraySize(edges));
	il_emu_reply(resp, 200, root);
}

static cJSON *
il_emu_gql_edge(cJSON *edges)
{
	cJSON *edge = cJSON_CreateObject(), *node = cJSON_AddObjectToObject(edge, "node");

	cJSON_AddItemToArray(edges, edge);
	return node;
}

static void
il_emu_gql_insurees(il_emu *emu, const cJSON *args, il_http_response *resp)
{
	const char *chf = il_emu_jstr(args, "chfId");
	il_emu_store *st = emu->store;
	cJSON *edges, *root = il_emu_gql_connection("insurees", &edges);
	il_emu_insuree *ins;

	pthread_mutex_lock(&st->mu);
	ins = chf != NULL ? il_emu_map_get(st->insuree_by_chf, chf) : NULL;
	if (ins != NULL) {
		cJSON *node = il_emu_gql_edge(edges);

		cJSON_AddStringToObject(node, "uuid", ins->uuid);
		cJSON_AddStringToObject(node, "id", ins->uuid);
		cJSON_AddStringToObject(node, "chfId", ins->chf_id);
		cJSON_AddStringToObject(node, "lastName", ins->family_name);
		cJSON_AddStringToObject(node, "otherNames", ins->given);
		cJSON_AddStringToObject(node, "dob", ins->birth_date);
		cJSON_AddBoolToObject(node, "head", ins->is_head);
		if (ins->family_uuid[0] != '\0')
			cJSON_AddStringToObject(cJSON_AddObjectToObject(node, "family"), "uuid",
			    ins->family_uuid);
		else
			cJSON_AddNullToObject(node, "family");
	}
	pthread_mutex_unlock(&st->mu);
	il_emu_gql_finish(resp, root, "insurees", edges);
}

static void
il_emu_gql_policies(il_emu *emu, const cJSON *args, il_http_response *resp)
{
	const char *fam_uuid = il_emu_jstr(args, "familyUuid");
	il_emu_store *st = emu->store;
	cJSON *edges, *root = il_emu_gql_connection("policiesByFamily", &edges);
	il_emu_family *fam;
	size_t i;

	pthread_mutex_lock(&st->mu);
	fam = fam_uuid != NULL ? il_emu_map_get(st->family_by_uuid, fam_uuid) : NULL;
	for (i = 0; fam != NULL && i < fam->policies.n; i++) {
		il_emu_policy *p = fam->policies.v[i];
		cJSON *node = il_emu_gql_edge(edges);

		cJSON_AddStringToObject(node, "policyUuid", p->uuid);
		cJSON_AddNumberToObject(node, "policyId", (double)p->id);
		cJSON_AddStringToObject(node, "productCode", p->product_code);
		cJSON_AddStringToObject(node, "enrollDate", p->enroll_date);
		cJSON_AddStringToObject(node, "startDate", p->start_date);
		cJSON_AddStringToObject(node, "expiryDate", p->expiry_date);
		cJSON_AddNumberToObject(node, "policyValue", p->value);
		cJSON_AddNumberToObject(node, "status", p->status);
	}
	pthread_mutex_unlock(&st->mu);
	il_emu_gql_finish(resp, root, "policiesByFamily", edges);
}

/* Sets @p m to error with one {message, detail}. */
static void
il_emu_mutation_fail(il_emu_mutation *m, const char *message, const char *detail)
{
	cJSON *list = cJSON_CreateArray(), *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddStringToObject(e, "detail", detail != NULL ? detail : "");
	cJSON_AddItemToArray(list, e);
	free(m->error);
	m->error = cJSON_PrintUnformatted(list);
	cJSON_Delete(list);
	m->status = 1;
}

static char *
il_emu_dup_or_null(const char *s)
{
	return s != NULL ? il_xstrdup(s) : NULL;
}

/* Does the work of @p m.  Caller holds the store's mutex. */
static void
il_emu_mutation_run(il_emu *emu, il_emu_mutation *m)
{
	il_emu_store *st = emu->store;
	const cJSON *in = m->input, *it;

	m->status = 2;
	switch (m->kind) {
	case IL_EMU_MUT_INDIVIDUAL: {
		il_emu_individual *ind;
		const cJSON *ext = cJSON_GetObjectItemCaseSensitive(in, "jsonExt");
		const cJSON *loc = cJSON_GetObjectItemCaseSensitive(in, "locationId");

		if (il_emu_jstr(in, "firstName") == NULL || il_emu_jstr(in, "lastName") == NULL ||
		    il_emu_jstr(in, "dob") == NULL) {
			il_emu_mutation_fail(m, "Failed to create individual",
			    "firstName, lastName and dob are required");
			break;
		}
		ind = il_xcalloc(1, sizeof(*ind));
		il_emu_store_uuid(st, ind->uuid);
		ind->first_name = il_xstrdup(il_emu_jstr(in, "firstName"));
		ind->last_name = il_xstrdup(il_emu_jstr(in, "lastName"));
		ind->dob = il_xstrdup(il_emu_jstr(in, "dob"));
		if (cJSON_IsString(ext)) {
			ind->json_ext = il_xstrdup(ext->valuestring);
			/* jsonExt arrives as JSON text; keep it only if it is JSON. */
			cJSON *probe = cJSON_Parse(ind->json_ext);

			if (probe == NULL) {
				free(ind->json_ext);
				ind->json_ext = cJSON_PrintUnformatted(ext);
			}
			cJSON_Delete(probe);
		} else if (ext != NULL && !cJSON_IsNull(ext)) {
			ind->json_ext = cJSON_PrintUnformatted(ext);
		}
		if (cJSON_IsString(loc))
			ind->location_id = il_xstrdup(loc->valuestring);
		else if (cJSON_IsNumber(loc))
			ind->location_id = il_xasprintf("%.0f", loc->valuedouble);
		ind->client_mutation_id = il_emu_dup_or_null(m->client_mutation_id);
		il_emu_vec_push(&st->individuals, ind);
		il_emu_map_put(st->individual_by_uuid, ind->uuid, ind);
		break;
	}
	case IL_EMU_MUT_GROUP: {
		il_emu_group *grp;

		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(in, "individualsData")) {
			const char *iid = il_emu_jstr(it, "individualId");

			if (iid == NULL || il_emu_map_get(st->individual_by_uuid, iid) == NULL) {
				il_emu_mutation_fail(m, "Failed to create group",
				    "Individual matching query does not exist.");
				break;
			}
		}
		if (m->status == 1)
			break;
		grp = il_xcalloc(1, sizeof(*grp));
		il_emu_store_uuid(st, grp->uuid);
		grp->code = il_emu_dup_or_null(il_emu_jstr(in, "code"));
		grp->members = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(in,
		    "individualsData"));
		if (grp->members == NULL)
			grp->members = il_xstrdup("[]");
		grp->client_mutation_id = il_emu_dup_or_null(m->client_mutation_id);
		il_emu_vec_push(&st->groups, grp);
		break;
	}
	case IL_EMU_MUT_BENEFICIARY: {
		const char *iid = il_emu_jstr(in, "individualId");
		const char *pid = il_emu_jstr(in, "benefitPlanId");
		const char *status = il_emu_jstr(in, "status");
		il_emu_ref *plan = pid != NULL ? il_emu_map_get(st->plan_by_key, pid) : NULL;
		il_emu_beneficiary *b;

		if (iid == NULL || il_emu_map_get(st->individual_by_uuid, iid) == NULL) {
			il_emu_mutation_fail(m, "Failed to create beneficiary",
			    "Individual matching query does not exist.");
			break;
		}
		if (plan == NULL) {
			il_emu_mutation_fail(m, "Failed to create beneficiary",
			    "BenefitPlan matching query does not exist.");
			break;
		}
		if (status == NULL)
			status = "POTENTIAL";
		if (strcmp(status, "POTENTIAL") != 0 && strcmp(status, "ACTIVE") != 0 &&
		    strcmp(status, "GRADUATED") != 0 && strcmp(status, "SUSPENDED") != 0) {
			il_emu_mutation_fail(m, "Failed to create beneficiary", "invalid status");
			break;
		}
		b = il_xcalloc(1, sizeof(*b));
		il_emu_store_uuid(st, b->uuid);
		snprintf(b->individual_uuid, sizeof(b->individual_uuid), "%s", iid);
		snprintf(b->plan_uuid, sizeof(b->plan_uuid), "%s", plan->uuid);
		b->status = il_xstrdup(status);
		b->date_valid_from = il_emu_dup_or_null(il_emu_jstr(in, "dateValidFrom"));
		b->date_valid_to = il_emu_dup_or_null(il_emu_jstr(in, "dateValidTo"));
		/* Maker-checker: only an approval task, unless configured otherwise. */
		b->pending = !emu->cfg.sp_auto_approve;
		b->client_mutation_id = il_emu_dup_or_null(m->client_mutation_id);
		il_emu_vec_push(&st->beneficiaries, b);
		break;
	}
	}
	cJSON_Delete(m->input);
	m->input = NULL;
}

static void
il_emu_gql_logs(il_emu *emu, const cJSON *args, il_http_response *resp)
{
	const char *cmid = il_emu_jstr(args, "clientMutationId");
	il_emu_store *st = emu->store;
	cJSON *edges, *root = il_emu_gql_connection("mutationLogs", &edges);
	il_emu_mutation *m;

	pthread_mutex_lock(&st->mu);
	m = cmid != NULL ? il_emu_map_get(st->mutation_by_id, cmid) : NULL;
	if (m != NULL) {
		cJSON *node = il_emu_gql_edge(edges);

		cJSON_AddStringToObject(node, "id", m->internal_id);
		cJSON_AddNumberToObject(node, "status", m->status);
		if (m->error != NULL)
			cJSON_AddStringToObject(node, "error", m->error);
		else
			cJSON_AddNullToObject(node, "error");
		cJSON_AddStringToObject(node, "clientMutationId", m->client_mutation_id);
		/* The work happens after this poll: the next one sees the outcome. */
		if (m->status == 0)
			il_emu_mutation_run(emu, m);
	}
	pthread_mutex_unlock(&st->mu);
	il_emu_gql_finish(resp, root, "mutationLogs", edges);
}

static void
il_emu_gql_individual(il_emu *emu, const cJSON *args, il_http_response *resp)
{
	const char *cmid = il_emu_jstr(args, "clientMutationId"), *id = il_emu_jstr(args, "id");
	il_emu_store *st = emu->store;
	cJSON *edges, *root = il_emu_gql_connection("individual", &edges);
	size_t i;

	pthread_mutex_lock(&st->mu);
	for (i = 0; (cmid != NULL || id != NULL) && i < st->individuals.n; i++) {
		il_emu_individual *ind = st->individuals.v[i];
		cJSON *node;

		if (cmid != NULL && (ind->client_mutation_id == NULL ||
		    strcmp(ind->client_mutation_id, cmid) != 0))
			continue;
		if (id != NULL && strcmp(ind->uuid, id) != 0)
			continue;
		node = il_emu_gql_edge(edges);
		cJSON_AddStringToObject(node, "id", ind->uuid);
		cJSON_AddStringToObject(node, "firstName", ind->first_name);
		cJSON_AddStringToObject(node, "lastName", ind->last_name);
		cJSON_AddStringToObject(node, "dob", ind->dob);
		if (ind->json_ext != NULL)
			cJSON_AddStringToObject(node, "jsonExt", ind->json_ext);
	}
	pthread_mutex_unlock(&st->mu);
	il_emu_gql_finish(resp, root, "individual", edges);
}

static void
il_emu_gql_mutate(il_emu *emu, const char *field, il_emu_mutation_kind kind,
    const cJSON *args, il_http_response *resp, il_emu_call *call)
{
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(args, "input");
	const char *cmid = il_emu_jstr(input, "clientMutationId");
	il_emu_store *st = emu->store;
	il_emu_mutation *m;
	cJSON *root, *out;

	if (!cJSON_IsObject(input)) {
		il_emu_gql_error(resp, "Field \"%s\" argument \"input\" of type \"Input!\" is "
		    "required, but it was not provided.", field);
		return;
	}
	call->write = true;
	pthread_mutex_lock(&st->mu);
	m = cmid != NULL ? il_emu_map_get(st->mutation_by_id, cmid) : NULL;
	if (m == NULL) {
		m = il_xcalloc(1, sizeof(*m));
		il_emu_store_uuid(st, m->internal_id);
		m->client_mutation_id = cmid != NULL ? il_xstrdup(cmid) : il_xstrdup(m->internal_id);
		m->kind = kind;
		m->input = cJSON_Duplicate(input, true);
		m->status = 0;
		il_emu_vec_push(&st->mutations, m);
		il_emu_map_put(st->mutation_by_id, m->client_mutation_id, m);
	}
	/* A re-submitted clientMutationId does nothing new. */
	root = cJSON_CreateObject();
	out = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "data"), field);
	cJSON_AddStringToObject(out, "clientMutationId", m->client_mutation_id);
	cJSON_AddStringToObject(out, "internalId", m->internal_id);
	pthread_mutex_unlock(&st->mu);
	il_emu_reply(resp, 200, root);
}

void
il_emu_graphql(il_emu *emu, const il_http_request *req, il_http_response *resp, il_emu_call *call)
{
	cJSON *in = cJSON_ParseWithLength(req->body, req->body_len), *args = NULL;
	const char *query = il_emu_jstr(in, "query");
	il_emu_gql g;
	char field[128];

	memset(&g, 0, sizeof(g));
	g.s = query != NULL ? strchr(query, '{') : NULL;
	if (g.s == NULL) {
		resp->status = 400;
		if (il_buf_adds(&resp->body,
		    "{\"errors\":[{\"message\":\"Must provide query string.\"}]}") != IL_OK)
			il_buf_reset(&resp->body);
		goto out;
	}
	g.vars = cJSON_GetObjectItemCaseSensitive(in, "variables");
	g.s++;
	if (!il_emu_gql_name(&g, field, sizeof(field))) {
		il_emu_gql_error(resp, "Syntax Error: Expected Name, found %s.", "<EOF>");
		goto out;
	}
	il_emu_gql_ws(&g);
	if (*g.s == ':') {
		/* An alias: the field follows. */
		g.s++;
		if (!il_emu_gql_name(&g, field, sizeof(field))) {
			il_emu_gql_error(resp, "Syntax Error: Expected Name after alias%s.", "");
			goto out;
		}
		il_emu_gql_ws(&g);
	}
	if (*g.s == '(') {
		g.s++;
		args = il_emu_gql_pairs(&g, ')');
		if (args == NULL) {
			il_emu_gql_error(resp, "Syntax Error: %s.", g.err != NULL ? g.err : "bad arguments");
			goto out;
		}
	} else {
		args = cJSON_CreateObject();
	}
	if (strcmp(field, "insurees") == 0)
		il_emu_gql_insurees(emu, args, resp);
	else if (strcmp(field, "policiesByFamily") == 0)
		il_emu_gql_policies(emu, args, resp);
	else if (strcmp(field, "mutationLogs") == 0)
		il_emu_gql_logs(emu, args, resp);
	else if (strcmp(field, "individual") == 0)
		il_emu_gql_individual(emu, args, resp);
	else if (strcmp(field, "createIndividual") == 0)
		il_emu_gql_mutate(emu, field, IL_EMU_MUT_INDIVIDUAL, args, resp, call);
	else if (strcmp(field, "createGroup") == 0)
		il_emu_gql_mutate(emu, field, IL_EMU_MUT_GROUP, args, resp, call);
	else if (strcmp(field, "createBeneficiary") == 0)
		il_emu_gql_mutate(emu, field, IL_EMU_MUT_BENEFICIARY, args, resp, call);
	else
		il_emu_gql_error(resp, "Cannot query field \"%s\" on this emulator (not supported).",
		    field);
out:
	cJSON_Delete(args);
	cJSON_Delete(in);
}
