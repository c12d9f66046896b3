/*
 * test_imis - openIMIS request bodies, answer parsers and classification,
 * common/imis.c, with answers shaped as contracts/openimis.md describes them
 * (quirks included) and with garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "imis.h"
#include "text.h"
#include "xalloc.h"

#define SYS "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/openimis-identifiers"
#define EXT "https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"

#define U1 "0a1b2c3d-0000-4000-8000-000000000001"
#define U2 "0a1b2c3d-0000-4000-8000-000000000002"
#define U3 "0A1B2C3D-0000-4000-8000-000000000003"
#define U4 "0a1b2c3d-0000-4000-8000-000000000004"
#define U5 "0a1b2c3d-0000-4000-8000-000000000005"

/* ---- helpers ---- */

/* Parses a builder's text (freed here); the caller frees the tree. */
static cJSON *
parsed(char *text)
{
	cJSON *j;

	assert_non_null(text);
	j = cJSON_Parse(text);
	if (j == NULL)
		fail_msg("builder made invalid JSON: %s", text);
	free(text);
	return j;
}

/* Walks "a.b.0.c" (numbers index arrays); NULL when absent. */
static const cJSON *
at(const cJSON *j, const char *path)
{
	char *copy = il_xstrdup(path), *p = copy, *dot;

	while (j != NULL && p != NULL) {
		dot = strchr(p, '.');
		if (dot != NULL)
			*dot = '\0';
		if (p[0] >= '0' && p[0] <= '9')
			j = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, (int)strtol(p, NULL, 10)) : NULL;
		else
			j = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, p) : NULL;
		p = dot != NULL ? dot + 1 : NULL;
	}
	free(copy);
	return j;
}

static const char *
str_at(const cJSON *j, const char *path)
{
	const cJSON *v = at(j, path);

	if (!cJSON_IsString(v))
		fail_msg("no string at \"%s\"", path);
	return v->valuestring;
}

static void
assert_str_at(const cJSON *j, const char *path, const char *want)
{
	assert_string_equal(str_at(j, path), want);
}

static int
size_at(const cJSON *j, const char *path)
{
	const cJSON *v = at(j, path);

	if (!cJSON_IsArray(v))
		fail_msg("no array at \"%s\"", path);
	return cJSON_GetArraySize(v);
}

/* The body in a buffer of exactly its length, so an overread trips ASan. */
static char *
exact(const char *s, size_t len)
{
	char *b = il_xmalloc(len != 0 ? len : 1);

	memcpy(b, s, len);
	return b;
}

static const il_imis_village village = {
	U5, "R1D1M1V1", "Village One", "Ward One", "District One", "Region One",
};

/* ---- classification ---- */

static void
test_class_names(void **state)
{
	(void)state;
	assert_string_equal(il_imis_class_name(IL_IMIS_OK), "ok");
	assert_string_equal(il_imis_class_name(IL_IMIS_DUPLICATE), "duplicate");
	assert_string_equal(il_imis_class_name(IL_IMIS_INVALID), "invalid");
	assert_string_equal(il_imis_class_name(IL_IMIS_NOT_FOUND), "not_found");
	assert_string_equal(il_imis_class_name(IL_IMIS_UNAUTHORIZED), "unauthorized");
	assert_string_equal(il_imis_class_name(IL_IMIS_FORBIDDEN), "forbidden");
	assert_string_equal(il_imis_class_name(IL_IMIS_RATE_LIMITED), "rate_limited");
	assert_string_equal(il_imis_class_name(IL_IMIS_TRANSIENT), "transient");
	assert_string_equal(il_imis_class_name((il_imis_class)99), "unknown");
}

#define OO(text) "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\"," \
	"\"code\":\"exception\",\"details\":{\"text\":\"" text "\"}}]}"
#define OO_BARE "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\"," \
	"\"code\":\"exception\"}]}"

static void
test_classify(void **state)
{
	static const struct {
		long status;
		bool get;
		const char *body;
		il_imis_class want;
		const char *msg;
	} rows[] = {
		{ 200, false, "{\"token\":\"x\"}", IL_IMIS_OK, "" },
		{ 201, false, "{\"resourceType\":\"Patient\",\"id\":\"" U1 "\"}", IL_IMIS_OK, "" },
		{ 200, true, "{\"data\":{\"insurees\":{\"edges\":[]}}}", IL_IMIS_OK, "" },
		{ 200, false, "{\"data\":null,\"errors\":[]}", IL_IMIS_OK, "" },
		/* GraphQL validation errors come with 200 */
		{ 200, false, "{\"errors\":[{\"message\":\"Unknown argument\"},{\"message\":\"bad\"}]}",
		    IL_IMIS_INVALID, "Unknown argument; bad" },
		{ 200, false, "{\"errors\":[{\"message\":\"x\"}],\"data\":{\"a\":1}}", IL_IMIS_INVALID, "x" },
		/* a 2xx that is not JSON: cut short or a proxy page */
		{ 200, false, "<html>ok</html>", IL_IMIS_TRANSIENT, "" },
		{ 200, false, "{\"errors\":[", IL_IMIS_TRANSIENT, "" },
		{ 200, false, "", IL_IMIS_TRANSIENT, "" },
		{ 200, false, NULL, IL_IMIS_TRANSIENT, "" },
		{ 401, false, "\"INCORRECT_CREDENTIALS\"", IL_IMIS_UNAUTHORIZED, "INCORRECT_CREDENTIALS" },
		{ 401, true, "", IL_IMIS_UNAUTHORIZED, "" },
		{ 403, false, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\","
		    "\"details\":{\"text\":\"no right\"}}]}", IL_IMIS_FORBIDDEN, "no right" },
		{ 404, true, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"code\":\"not-found\"}]}",
		    IL_IMIS_NOT_FOUND, "" },
		{ 404, false, "", IL_IMIS_NOT_FOUND, "" },
		{ 429, false, "{\"detail\":\"Request was throttled.\"}", IL_IMIS_RATE_LIMITED,
		    "Request was throttled." },
		{ 408, false, "", IL_IMIS_TRANSIENT, "" },
		{ 502, false, "<html>bad gateway</html>", IL_IMIS_TRANSIENT, "" },
		{ 503, true, OO_BARE, IL_IMIS_TRANSIENT, "" },
		{ 504, false, "", IL_IMIS_TRANSIENT, "" },
		{ 0, false, NULL, IL_IMIS_TRANSIENT, "" },
		{ 0, true, "", IL_IMIS_TRANSIENT, "" },
		{ 501, false, "", IL_IMIS_TRANSIENT, "" },
		{ 100, false, "", IL_IMIS_TRANSIENT, "" },
		{ -1, false, "", IL_IMIS_TRANSIENT, "" },
		{ 999, false, "", IL_IMIS_TRANSIENT, "" },
		/* validation errors are 500 with a message */
		{ 500, false, OO("Exists patient with following chfid `123`"), IL_IMIS_DUPLICATE,
		    "Exists patient with following chfid `123`" },
		{ 500, false, OO("Contract exists for this patient"), IL_IMIS_DUPLICATE,
		    "Contract exists for this patient" },
		{ 500, false, OO("Missing `context` attribute"), IL_IMIS_INVALID,
		    "Missing `context` attribute" },
		{ 500, false, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
		    "\"diagnostics\":\"bad gender\"}]}", IL_IMIS_INVALID, "bad gender" },
		{ 500, false, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"details\":{\"text\":\"a\"}},"
		    "{\"details\":{\"text\":\"b\"}}]}", IL_IMIS_INVALID, "a; b" },
		/* a lookup of an unknown UUID answers 500 */
		{ 500, true, OO("Patient matching query does not exist."), IL_IMIS_NOT_FOUND,
		    "Patient matching query does not exist." },
		/* a 500 without a message is transient, lookup or write */
		{ 500, false, OO_BARE, IL_IMIS_TRANSIENT, "" },
		{ 500, true, OO_BARE, IL_IMIS_TRANSIENT, "" },
		{ 500, false, OO("   "), IL_IMIS_TRANSIENT, "" },
		{ 500, false, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"details\":{\"text\":7}}]}",
		    IL_IMIS_TRANSIENT, "" },
		{ 500, false, "{\"resourceType\":\"OperationOutcome\",\"issue\":{}}", IL_IMIS_TRANSIENT, "" },
		{ 500, false, "", IL_IMIS_TRANSIENT, "" },
		{ 500, false, NULL, IL_IMIS_TRANSIENT, "" },
		{ 500, false, "<!DOCTYPE html><title>Server Error (500)</title>", IL_IMIS_TRANSIENT, "" },
		{ 500, false, "{\"detail\":\"boom\"}", IL_IMIS_TRANSIENT, "" },
		{ 500, false, "{\"errors\":[{\"message\":\"boom\"}]}", IL_IMIS_TRANSIENT, "" },
		{ 500, false, OO("x") "trailing", IL_IMIS_TRANSIENT, "" },
		/* other 4xx */
		{ 400, false, "\"username is required\"", IL_IMIS_INVALID, "username is required" },
		{ 400, false, "", IL_IMIS_INVALID, "" },
		{ 405, false, "{\"detail\":\"Method not allowed\"}", IL_IMIS_INVALID, "Method not allowed" },
		{ 409, false, OO("conflict"), IL_IMIS_INVALID, "conflict" },
		{ 422, false, "[1,2]", IL_IMIS_INVALID, "" },
		/* a redirect: the URL lacks its slash; never followed */
		{ 301, false, "", IL_IMIS_INVALID, "" },
	};
	char msg[256];
	size_t i;
	il_imis_class c;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(msg, 'x', sizeof(msg));
		c = il_imis_classify(rows[i].status, rows[i].get, rows[i].body,
		    rows[i].body != NULL ? strlen(rows[i].body) : 0, msg, sizeof(msg));
		if (c != rows[i].want)
			fail_msg("row %zu (%ld): got %s, want %s", i, rows[i].status,
			    il_imis_class_name(c), il_imis_class_name(rows[i].want));
		if (strcmp(msg, rows[i].msg) != 0)
			fail_msg("row %zu: msg \"%s\", want \"%s\"", i, msg, rows[i].msg);
	}
}

static void
test_classify_msg(void **state)
{
	const char *dup = OO("Exists patient with following chfid `\xc3\xa9\xc3\xa9`");
	const char *nl = OO("line one\\nline two\\u0001");
	char msg[40], small[3];
	size_t cut;

	(void)state;
	/* the duplicate is recognised before the message is cut */
	assert_int_equal(il_imis_classify(500, false, dup, strlen(dup), small, sizeof(small)),
	    IL_IMIS_DUPLICATE);
	assert_string_equal(small, "Ex");
	assert_int_equal(il_imis_classify(500, false, dup, strlen(dup), NULL, 0), IL_IMIS_DUPLICATE);
	assert_int_equal(il_imis_classify(500, false, dup, strlen(dup), msg, 0), IL_IMIS_DUPLICATE);
	/* a cut never splits a UTF-8 character */
	for (cut = 36; cut <= 41 && cut <= sizeof(msg); cut++) {
		assert_int_equal(il_imis_classify(500, false, dup, strlen(dup), msg, cut),
		    IL_IMIS_DUPLICATE);
		assert_true(il_text_utf8_valid(msg, strlen(msg), NULL));
		assert_true(strlen(msg) < cut);
	}
	/* control characters do not reach logs as such */
	assert_int_equal(il_imis_classify(500, false, nl, strlen(nl), msg, sizeof(msg)),
	    IL_IMIS_INVALID);
	assert_string_equal(msg, "line one line two ");
}

static void
test_classify_no_body_in_msg(void **state)
{
	/* a request echo in an answer is not a message: only the text is */
	const char *body = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"details\":"
	    "{\"text\":\"refused\"}}],\"request\":{\"name\":\"secret\"}}";
	char msg[256];

	(void)state;
	assert_int_equal(il_imis_classify(500, false, body, strlen(body), msg, sizeof(msg)),
	    IL_IMIS_INVALID);
	assert_string_equal(msg, "refused");
}

/* ---- login ---- */

static void
test_login(void **state)
{
	cJSON *j = parsed(il_imis_login_body("Admin", "adm\"in123"));
	const char *ok = "{\"token\":\"eyJh.eyJz.c2ln\",\"exp\":1767225600}";
	const char *noexp = "{\"token\":\"abc\"}";
	const char *bad[] = {
		"{\"exp\":1}", "{\"token\":1}", "{\"token\":\"\"}", "{\"token\":\"a\\r\\nX: y\"}",
		"{\"token\":\"a b\"}", "\"INCORRECT_CREDENTIALS\"", "[]", "", "{", "null",
		"{\"token\":\"\xc3\xa9\"}",
	};
	char *token = (char *)1;
	long long exp = -1;
	size_t i;

	(void)state;
	assert_str_at(j, "username", "Admin");
	assert_str_at(j, "password", "adm\"in123");
	assert_int_equal(cJSON_GetArraySize(j), 2);
	cJSON_Delete(j);

	assert_int_equal(il_imis_parse_login(ok, strlen(ok), &token, &exp), IL_OK);
	assert_string_equal(token, "eyJh.eyJz.c2ln");
	assert_true(exp == 1767225600LL);
	free(token);
	assert_int_equal(il_imis_parse_login(noexp, strlen(noexp), &token, &exp), IL_OK);
	assert_string_equal(token, "abc");
	assert_true(exp == 0);
	free(token);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		token = (char *)1;
		if (il_imis_parse_login(bad[i], strlen(bad[i]), &token, &exp) != IL_ERR_PARSE)
			fail_msg("login answer %zu accepted", i);
		assert_null(token);
	}
	assert_int_equal(il_imis_parse_login(NULL, 0, &token, &exp), IL_ERR_PARSE);
}

/* ---- reference data ---- */

#define LOC(uuid, code, name, type, parent) \
	"{\"resourceType\":\"Location\",\"id\":\"" uuid "\",\"identifier\":[" \
	"{\"type\":{\"coding\":[{\"system\":\"" SYS "\",\"code\":\"Code\"}]},\"value\":\"" code "\"}," \
	"{\"type\":{\"coding\":[{\"system\":\"" SYS "\",\"code\":\"UUID\"}]},\"value\":\"" uuid "\"}]," \
	"\"name\":\"" name "\",\"type\":[{\"coding\":[{\"system\":" \
	"\"https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/location-type\"," \
	"\"code\":\"" type "\"}]}]" parent "}"
#define BUNDLE(entry) "{\"resourceType\":\"Bundle\",\"total\":1,\"entry\":[{\"resource\":" entry "}]}"
#define EMPTY_BUNDLE "{\"resourceType\":\"Bundle\",\"total\":0,\"entry\":[]}"

static const char loc_village[] = BUNDLE(LOC(U1, "R1D1M1V1", "Village One", "V",
    ",\"partOf\":{\"reference\":\"Location/" U2 "\"}"));
static const char loc_region[] = LOC(U3, "R1", "R\xc3\xa9gion", "R", "");

static void
test_location(void **state)
{
	static const char *bad[] = {
		BUNDLE(LOC("nope", "R1", "x", "R", "")),
		BUNDLE(LOC(U1, "R1", "x", "R", ",\"partOf\":{\"reference\":\"Location/R1\"}")),
		BUNDLE(LOC(U1, "R1", "x", "R", ",\"partOf\":{\"reference\":\"Group/" U2 "\"}")),
		BUNDLE(LOC(U1, "R1", "x", "R", ",\"partOf\":\"Location/" U2 "\"")),
		BUNDLE(LOC(U1, "CODE-LONGER-THAN-16", "x", "R", "")),
		BUNDLE("{\"resourceType\":\"Location\",\"id\":\"" U1 "\"}"),
		"{\"resourceType\":\"Bundle\",\"entry\":{}}",
		"{\"resourceType\":\"Bundle\",\"entry\":[1]}",
		OO("not found"), "{}", "[]", "\"x\"", "", "{\"resourceType\":1}",
	};
	char uuid[IL_IMIS_UUID_LEN], parent[IL_IMIS_UUID_LEN], code[16], name[64], type[4];
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_location(loc_village, strlen(loc_village), uuid, code,
	    sizeof(code), name, sizeof(name), type, sizeof(type), parent), IL_OK);
	assert_string_equal(uuid, U1);
	assert_string_equal(code, "R1D1M1V1");
	assert_string_equal(name, "Village One");
	assert_string_equal(type, "V");
	assert_string_equal(parent, U2);

	/* a bare Location at the top: no parent */
	assert_int_equal(il_imis_parse_location(loc_region, strlen(loc_region), uuid, code,
	    sizeof(code), name, sizeof(name), type, sizeof(type), parent), IL_OK);
	assert_string_equal(uuid, U3);
	assert_string_equal(name, "R\xc3\xa9gion");
	assert_string_equal(parent, "");

	assert_int_equal(il_imis_parse_location(EMPTY_BUNDLE, strlen(EMPTY_BUNDLE), uuid, code,
	    sizeof(code), name, sizeof(name), type, sizeof(type), parent), IL_ERR_NOTFOUND);
	assert_int_equal(il_imis_parse_location("{\"resourceType\":\"Bundle\",\"total\":0}", 35, uuid,
	    code, sizeof(code), name, sizeof(name), type, sizeof(type), parent), IL_ERR_NOTFOUND);
	/* a name that does not fit is refused, not cut */
	assert_int_equal(il_imis_parse_location(loc_village, strlen(loc_village), uuid, code,
	    sizeof(code), name, 5, type, sizeof(type), parent), IL_ERR_PARSE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_location(bad[i], strlen(bad[i]), uuid, code, sizeof(code), name,
		    sizeof(name), type, sizeof(type), parent) != IL_ERR_PARSE)
			fail_msg("location answer %zu accepted", i);
	}
}

static void
test_first_uuid(void **state)
{
	static const char officer[] = BUNDLE("{\"resourceType\":\"Practitioner\",\"id\":\"" U1 "\"}");
	static const char product[] = "{\"resourceType\":\"InsurancePlan\",\"identifier\":[{\"type\":"
	    "{\"coding\":[{\"code\":\"UUID\"}]},\"value\":\"" U2 "\"}]}";
	static const char *bad[] = {
		BUNDLE("{\"resourceType\":\"Practitioner\",\"id\":\"E00001\"}"),
		BUNDLE("{\"resourceType\":\"Practitioner\",\"id\":\"" U1 "/x\"}"),
		BUNDLE("{\"resourceType\":\"Practitioner\",\"id\":\"" U1 "\"") ,
		BUNDLE("7"), OO("boom"), "{}", "[]", "nonsense", "",
	};
	char uuid[IL_IMIS_UUID_LEN];
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_first_uuid(officer, strlen(officer), uuid), IL_OK);
	assert_string_equal(uuid, U1);
	assert_int_equal(il_imis_parse_first_uuid(product, strlen(product), uuid), IL_OK);
	assert_string_equal(uuid, U2);
	assert_int_equal(il_imis_parse_first_uuid(EMPTY_BUNDLE, strlen(EMPTY_BUNDLE), uuid),
	    IL_ERR_NOTFOUND);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_first_uuid(bad[i], strlen(bad[i]), uuid) != IL_ERR_PARSE)
			fail_msg("lookup answer %zu accepted", i);
	}
}

/* ---- insurees ---- */

/* Every value travels in variables: the query text is the same for all. */
static void
assert_gql(const cJSON *j, const char *field, const char *var, const char *value)
{
	const char *q = str_at(j, "query");

	assert_non_null(strstr(q, field));
	assert_non_null(strstr(q, "$"));
	assert_null(strchr(q, '"'));
	if (var != NULL)
		assert_str_at(j, var, value);
	assert_true(cJSON_IsObject(at(j, "variables")));
}

static void
test_gql_insuree(void **state)
{
	cJSON *j = parsed(il_imis_gql_insuree("12\"3) { x }"));

	(void)state;
	assert_gql(j, "insurees(chfId: $chfId, ignoreLocation: true)", "variables.chfId",
	    "12\"3) { x }");
	assert_non_null(strstr(str_at(j, "query"), "edges { node { uuid chfId family { uuid } } }"));
	cJSON_Delete(j);
}

static void
test_parse_insuree(void **state)
{
	static const char found[] = "{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"" U1
	    "\",\"chfId\":\"123\",\"family\":{\"uuid\":\"" U3 "\"}}}]}}}";
	static const char nofamily[] = "{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"" U1
	    "\",\"chfId\":\"123\",\"family\":null}}]}}}";
	static const char none[] = "{\"data\":{\"insurees\":{\"edges\":[]}}}";
	static const char errors[] = "{\"errors\":[{\"message\":\"Cannot query field\"},"
	    "{\"message\":\"second\"}],\"data\":null}";
	static const char *bad[] = {
		"{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"x\"}}]}}}",
		"{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"" U1 "\",\"family\":"
		    "{\"uuid\":7}}}]}}}",
		"{\"data\":{\"insurees\":{\"edges\":[{}]}}}",
		"{\"data\":{\"insurees\":{\"edges\":{}}}}",
		"{\"data\":{\"insurees\":null}}", "{\"data\":{}}", "{}", "[]", "", "<html>",
		"{\"errors\":[{}]}",
	};
	char uuid[IL_IMIS_UUID_LEN], fam[IL_IMIS_UUID_LEN], err[128];
	bool f;
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_insuree(found, strlen(found), &f, uuid, fam, err,
	    sizeof(err)), IL_OK);
	assert_true(f);
	assert_string_equal(uuid, U1);
	assert_string_equal(fam, U3);
	assert_int_equal(il_imis_parse_insuree(nofamily, strlen(nofamily), &f, uuid, fam, err,
	    sizeof(err)), IL_OK);
	assert_true(f);
	assert_string_equal(fam, "");
	assert_int_equal(il_imis_parse_insuree(none, strlen(none), &f, uuid, fam, err,
	    sizeof(err)), IL_OK);
	assert_false(f);
	assert_int_equal(il_imis_parse_insuree(errors, strlen(errors), &f, uuid, fam, err,
	    sizeof(err)), IL_ERR_PARSE);
	assert_string_equal(err, "Cannot query field; second");
	assert_int_equal(il_imis_parse_insuree(errors, strlen(errors), &f, uuid, fam, NULL, 0),
	    IL_ERR_PARSE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (il_imis_parse_insuree(bad[i], strlen(bad[i]), &f, uuid, fam, err,
		    sizeof(err)) != IL_ERR_PARSE)
			fail_msg("insuree answer %zu accepted", i);
		assert_false(f);
		assert_true(err[0] != '\0');
	}
}

static void
test_patient_body_head(void **state)
{
	il_imis_person p = {
		.chf_id = "123456789", .given = "Ana", .family = "P\xc3\xa9rez",
		.birthdate = "1990-02-03", .gender = "female", .is_head = true,
		.village = &village,
	};
	cJSON *j = parsed(il_imis_patient_body(&p));

	(void)state;
	assert_str_at(j, "resourceType", "Patient");
	assert_null(at(j, "id"));
	assert_int_equal(size_at(j, "identifier"), 1);
	assert_str_at(j, "identifier.0.type.coding.0.system", SYS);
	assert_str_at(j, "identifier.0.type.coding.0.code", "Code");
	assert_str_at(j, "identifier.0.value", "123456789");
	assert_str_at(j, "name.0.use", "usual");
	assert_str_at(j, "name.0.family", "P\xc3\xa9rez");
	assert_str_at(j, "name.0.given.0", "Ana");
	assert_str_at(j, "gender", "female");
	assert_str_at(j, "birthDate", "1990-02-03");
	assert_null(at(j, "telecom"));
	assert_int_equal(size_at(j, "address"), 1);
	assert_str_at(j, "address.0.type", "physical");
	assert_str_at(j, "address.0.use", "home");
	assert_str_at(j, "address.0.city", "Village One");
	assert_str_at(j, "address.0.district", "District One");
	assert_str_at(j, "address.0.state", "Region One");
	assert_int_equal(size_at(j, "address.0.extension"), 2);
	assert_str_at(j, "address.0.extension.0.url", EXT "address-municipality");
	assert_str_at(j, "address.0.extension.0.valueString", "Ward One");
	assert_str_at(j, "address.0.extension.1.url", EXT "address-location-reference");
	assert_str_at(j, "address.0.extension.1.valueReference.reference", "Location/" U5);
	assert_int_equal(size_at(j, "extension"), 1);
	assert_str_at(j, "extension.0.url", EXT "patient-is-head");
	assert_true(cJSON_IsTrue(at(j, "extension.0.valueBoolean")));
	cJSON_Delete(j);
}

static void
test_patient_body_update(void **state)
{
	il_imis_person p = {
		.chf_id = "123456790", .given = "Bo", .family = "P", .birthdate = "2010-01-01",
		.gender = "male", .is_head = false, .family_uuid = U3, .village = &village,
		.phone = "+100", .email = "b@example.org", .uuid = U1,
	};
	cJSON *j = parsed(il_imis_patient_body(&p));

	(void)state;
	assert_str_at(j, "id", U1);
	assert_int_equal(size_at(j, "identifier"), 2);
	assert_str_at(j, "identifier.0.type.coding.0.code", "Code");
	assert_str_at(j, "identifier.0.value", "123456790");
	assert_str_at(j, "identifier.1.type.coding.0.code", "UUID");
	assert_str_at(j, "identifier.1.value", U1);
	assert_int_equal(size_at(j, "telecom"), 2);
	assert_str_at(j, "telecom.0.system", "phone");
	assert_str_at(j, "telecom.0.value", "+100");
	assert_str_at(j, "telecom.1.system", "email");
	assert_str_at(j, "telecom.1.value", "b@example.org");
	assert_int_equal(size_at(j, "extension"), 2);
	assert_str_at(j, "extension.0.url", EXT "patient-is-head");
	assert_true(cJSON_IsFalse(at(j, "extension.0.valueBoolean")));
	assert_str_at(j, "extension.1.url", EXT "patient-group-reference");
	assert_str_at(j, "extension.1.valueReference.reference", "Group/" U3);
	cJSON_Delete(j);

	/* only an email: one telecom */
	p.phone = "";
	j = parsed(il_imis_patient_body(&p));
	assert_int_equal(size_at(j, "telecom"), 1);
	assert_str_at(j, "telecom.0.system", "email");
	cJSON_Delete(j);
}

static void
test_parse_patient(void **state)
{
	static const char created[] = "{\"resourceType\":\"Patient\",\"id\":\"" U1 "\",\"identifier\":"
	    "[{\"type\":{\"coding\":[{\"system\":\"" SYS "\",\"code\":\"UUID\"}]},\"value\":\"" U1 "\"}],"
	    "\"extension\":[{\"url\":\"" EXT "patient-is-head\",\"valueBoolean\":true},"
	    "{\"url\":\"" EXT "patient-group-reference\",\"valueReference\":{\"reference\":\"Group/" U3
	    "\"}}]}";
	static const char noid[] = "{\"resourceType\":\"Patient\",\"identifier\":[{\"type\":{\"coding\":"
	    "[{\"code\":\"Code\"}]},\"value\":\"1\"},{\"type\":{\"coding\":[{\"code\":\"UUID\"}]},"
	    "\"value\":\"" U2 "\"}],\"extension\":[{\"url\":\"" EXT "patient-is-head\"}]}";
	static const char *bad[] = {
		"{\"resourceType\":\"Patient\",\"id\":\"" U1 "\",\"extension\":[{\"url\":\"" EXT
		    "patient-group-reference\",\"valueReference\":{\"reference\":\"Group/7\"}}]}",
		"{\"resourceType\":\"Patient\",\"id\":\"" U1 "\",\"extension\":[{\"url\":\"" EXT
		    "patient-group-reference\"}]}",
		"{\"resourceType\":\"Patient\",\"id\":12}",
		"{\"resourceType\":\"Patient\",\"identifier\":[{\"type\":{\"coding\":{}},\"value\":\"" U1
		    "\"}]}",
		OO("x"), "[]", "", "{\"id\":\"" U1 "\"", "{\"id\":\"" U1 "\"}x",
	};
	char uuid[IL_IMIS_UUID_LEN], fam[IL_IMIS_UUID_LEN];
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_patient(created, strlen(created), uuid, fam), IL_OK);
	assert_string_equal(uuid, U1);
	assert_string_equal(fam, U3);
	assert_int_equal(il_imis_parse_patient(noid, strlen(noid), uuid, fam), IL_OK);
	assert_string_equal(uuid, U2);
	assert_string_equal(fam, "");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_patient(bad[i], strlen(bad[i]), uuid, fam) != IL_ERR_PARSE)
			fail_msg("patient answer %zu accepted", i);
		assert_string_equal(uuid, "");
	}
}

/* ---- policies ---- */

#define POL(uuid, product, start, expiry, status) \
	"{\"node\":{\"policyUuid\":\"" uuid "\",\"productCode\":\"" product "\",\"startDate\":\"" \
	start "\",\"expiryDate\":\"" expiry "\",\"status\":" status "}}"

static void
test_family_policies(void **state)
{
	static const char two[] = "{\"data\":{\"policiesByFamily\":{\"edges\":["
	    POL(U1, "FCTP", "2025-01-01", "2025-12-31", "2") ","
	    POL(U2, "SCHP", "2024-06-01T00:00:00", "2025-05-31", "1") "]}}}";
	static const char none[] = "{\"data\":{\"policiesByFamily\":{\"edges\":[]}}}";
	static const char *bad[] = {
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL("x", "FCTP", "2025-01-01",
		    "2025-12-31", "2") "]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL(U1, "FCTP", "2025-1-01",
		    "2025-12-31", "2") "]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL(U1, "FCTP", "2025-01-01",
		    "2025-12-31X", "2") "]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL(U1, "FCTP", "2025-01-01",
		    "2025-12-31", "\"2\"") "]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL(U1, "FCTP", "2025-01-01",
		    "2025-12-31", "1e300") "]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL(U1,
		    "A-PRODUCT-CODE-FAR-TOO-LONG-TO-BE-ONE", "2025-01-01", "2025-12-31", "2") "]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[{\"node\":null}]}}}",
		"{\"data\":{\"policiesByFamily\":{}}}",
		"{\"errors\":[{\"message\":\"no\"}]}", "{}", "", "[",
	};
	il_imis_policy_ref refs[4];
	char err[128];
	size_t n = 99, i;

	(void)state;
	assert_int_equal(il_imis_parse_family_policies(two, strlen(two), refs, 4, &n, err,
	    sizeof(err)), IL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(refs[0].uuid, U1);
	assert_string_equal(refs[0].product_code, "FCTP");
	assert_string_equal(refs[0].start_date, "2025-01-01");
	assert_string_equal(refs[0].expiry_date, "2025-12-31");
	assert_int_equal(refs[0].status, 2);
	assert_string_equal(refs[1].start_date, "2024-06-01");
	assert_int_equal(refs[1].status, 1);
	assert_int_equal(il_imis_parse_family_policies(none, strlen(none), refs, 4, &n, err,
	    sizeof(err)), IL_OK);
	assert_int_equal(n, 0);
	/* a list that does not fit would hide an overlap */
	assert_int_equal(il_imis_parse_family_policies(two, strlen(two), refs, 1, &n, err,
	    sizeof(err)), IL_ERR_NOMEM);
	assert_non_null(strstr(err, "more than 1"));
	assert_int_equal(il_imis_parse_family_policies(two, strlen(two), NULL, 0, &n, err,
	    sizeof(err)), IL_ERR_NOMEM);
	assert_int_equal(il_imis_parse_family_policies(none, strlen(none), NULL, 0, &n, err,
	    sizeof(err)), IL_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_family_policies(bad[i], strlen(bad[i]), refs, 4, &n, err,
		    sizeof(err)) != IL_ERR_PARSE)
			fail_msg("policies answer %zu accepted", i);
	}
	assert_int_equal(il_imis_parse_family_policies(bad[8], strlen(bad[8]), refs, 4, &n, err,
	    sizeof(err)), IL_ERR_PARSE);
	assert_string_equal(err, "no");
}

static void
test_gql_family_policies(void **state)
{
	cJSON *j = parsed(il_imis_gql_family_policies(U3));

	(void)state;
	assert_gql(j, "policiesByFamily(familyUuid: $familyUuid)", "variables.familyUuid", U3);
	assert_non_null(strstr(str_at(j, "query"),
	    "{ edges { node { policyUuid productCode startDate expiryDate status } } }"));
	cJSON_Delete(j);
}

static void
test_overlap(void **state)
{
	il_imis_policy_ref refs[] = {
		{ U1, "SCHP", "2025-01-01", "2025-12-31", 2 },
		{ U2, "FCTP", "2024-01-01", "2024-12-31", 8 },
		{ U4, "FCTP", "2025-03-01", "2026-02-28", 1 },
	};
	il_imis_policy p = { .product_code = "FCTP" };

	(void)state;
	p.start_date = "2025-01-01";
	p.expiry_date = "2025-12-31";
	/* the idle one overlaps, the other product does not count */
	assert_int_equal(il_imis_policy_overlap(&p, refs, 3), 2);
	/* an existing policy that started earlier and is still running: the server misses it */
	p.start_date = "2024-12-31";
	p.expiry_date = "2025-01-15";
	assert_int_equal(il_imis_policy_overlap(&p, refs, 2), 1);
	/* touching ends overlap; one day later does not */
	p.start_date = "2026-02-28";
	p.expiry_date = "2027-02-27";
	assert_int_equal(il_imis_policy_overlap(&p, refs, 3), 2);
	p.start_date = "2026-03-01";
	assert_int_equal(il_imis_policy_overlap(&p, refs, 3), -1);
	p.start_date = "2023-01-01";
	p.expiry_date = "2023-12-31";
	assert_int_equal(il_imis_policy_overlap(&p, refs, 3), -1);
	assert_int_equal(il_imis_policy_overlap(&p, NULL, 0), -1);
	p.product_code = "NONE";
	p.start_date = "2025-01-01";
	p.expiry_date = "2025-12-31";
	assert_int_equal(il_imis_policy_overlap(&p, refs, 3), -1);
	p.product_code = NULL;
	assert_int_equal(il_imis_policy_overlap(&p, refs, 3), -1);
}

static void
test_contract_body(void **state)
{
	il_imis_policy p = {
		.family_uuid = U3, .head_uuid = U1, .officer_uuid = U2, .product_uuid = U4,
		.product_code = "FCTP", .enroll_date = "2025-01-10", .start_date = "2025-01-15",
		.expiry_date = "2026-01-14", .value = 10000.5,
	};
	cJSON *j = parsed(il_imis_contract_body(&p));

	(void)state;
	assert_str_at(j, "resourceType", "Contract");
	assert_str_at(j, "status", "active");
	assert_str_at(j, "legalState.text", "Offered");
	assert_str_at(j, "author.reference", "Practitioner/" U2);
	assert_int_equal(size_at(j, "subject"), 1);
	assert_str_at(j, "subject.0.reference", "Group/" U3);
	assert_int_equal(size_at(j, "term"), 1);
	assert_int_equal(size_at(j, "term.0.asset"), 1);
	assert_str_at(j, "term.0.asset.0.period.0.start", "2025-01-10");
	assert_str_at(j, "term.0.asset.0.period.0.end", "2026-01-14");
	assert_str_at(j, "term.0.asset.0.usePeriod.0.start", "2025-01-15");
	assert_str_at(j, "term.0.asset.0.usePeriod.0.end", "2026-01-14");
	assert_str_at(j, "term.0.asset.0.typeReference.0.reference", "Patient/" U1);
	assert_str_at(j, "term.0.asset.0.valuedItem.0.entityReference.reference",
	    "InsurancePlan/" U4);
	assert_true(cJSON_GetNumberValue(at(j, "term.0.asset.0.valuedItem.0.net.value")) == 10000.5);
	assert_null(at(j, "id"));
	cJSON_Delete(j);
}

static void
test_parse_contract(void **state)
{
	static const char created[] = "{\"resourceType\":\"Contract\",\"identifier\":["
	    "{\"type\":{\"coding\":[{\"system\":\"" SYS "\",\"code\":\"ACSN\"}]},\"value\":\"17\"},"
	    "{\"type\":{\"coding\":[{\"system\":\"" SYS "\",\"code\":\"UUID\"}]},\"value\":\"" U3 "\"}],"
	    "\"status\":\"active\"}";
	static const char withid[] = "{\"resourceType\":\"Contract\",\"id\":\"" U2 "\"}";
	static const char *bad[] = {
		"{\"resourceType\":\"Contract\",\"identifier\":[{\"type\":{\"coding\":[{\"code\":"
		    "\"ACSN\"}]},\"value\":\"17\"}]}",
		"{\"resourceType\":\"Contract\",\"identifier\":[{\"type\":{\"coding\":[{\"code\":"
		    "\"UUID\"}]},\"value\":17}]}",
		"{\"resourceType\":\"Contract\",\"identifier\":\"" U3 "\"}",
		OO("x"), "", "null", "[{}]",
	};
	char uuid[IL_IMIS_UUID_LEN];
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_contract(created, strlen(created), uuid), IL_OK);
	assert_string_equal(uuid, U3);
	assert_int_equal(il_imis_parse_contract(withid, strlen(withid), uuid), IL_OK);
	assert_string_equal(uuid, U2);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_contract(bad[i], strlen(bad[i]), uuid) != IL_ERR_PARSE)
			fail_msg("contract answer %zu accepted", i);
		assert_string_equal(uuid, "");
	}
}

/* ---- social protection ---- */

static const il_imis_beneficiary ben = {
	.client_mutation_id = "ev-42", .given = "Ana", .family = "P\"x", .birthdate = "1990-02-03",
	.gender = "female", .chf_id = "123456789", .location_uuid = U5, .benefit_plan = U4,
	.status = "ACTIVE", .individual_uuid = U1, .date_from = "2025-01-01",
};

static void
test_gql_social(void **state)
{
	cJSON *j = parsed(il_imis_gql_create_individual(&ben)), *ext;

	(void)state;
	assert_gql(j, "createIndividual(input: {", "variables.clientMutationId", "ev-42-ind");
	assert_non_null(strstr(str_at(j, "query"), "mutation("));
	assert_non_null(strstr(str_at(j, "query"), "clientMutationId internalId"));
	assert_str_at(j, "variables.firstName", "Ana");
	assert_str_at(j, "variables.lastName", "P\"x");
	assert_str_at(j, "variables.dob", "1990-02-03");
	assert_str_at(j, "variables.locationId", U5);
	ext = cJSON_Parse(str_at(j, "variables.jsonExt"));
	assert_non_null(ext);
	assert_str_at(ext, "gender", "female");
	assert_str_at(ext, "registry_id", "123456789");
	cJSON_Delete(ext);
	cJSON_Delete(j);

	j = parsed(il_imis_gql_create_beneficiary(&ben));
	assert_gql(j, "createBeneficiary(input: {", "variables.clientMutationId", "ev-42-ben");
	assert_str_at(j, "variables.individualId", U1);
	assert_str_at(j, "variables.benefitPlanId", U4);
	assert_str_at(j, "variables.status", "ACTIVE");
	assert_str_at(j, "variables.dateValidFrom", "2025-01-01");
	assert_true(cJSON_IsString(at(j, "variables.jsonExt")));
	cJSON_Delete(j);

	j = parsed(il_imis_gql_mutation_log("ev-42-ind"));
	assert_gql(j, "mutationLogs(clientMutationId: $clientMutationId)",
	    "variables.clientMutationId", "ev-42-ind");
	assert_non_null(strstr(str_at(j, "query"), "edges { node { status error"));
	cJSON_Delete(j);

	j = parsed(il_imis_gql_individual("ev-42-ind"));
	assert_gql(j, "individual(clientMutationId: $clientMutationId)",
	    "variables.clientMutationId", "ev-42-ind");
	assert_non_null(strstr(str_at(j, "query"), "edges { node { id"));
	cJSON_Delete(j);
}

#define MLOG(node) "{\"data\":{\"mutationLogs\":{\"edges\":[{\"node\":" node "}]}}}"

static void
test_parse_mutation_log(void **state)
{
	static const char done[] = MLOG("{\"status\":2,\"error\":null,\"clientMutationId\":\"m\"}");
	static const char running[] = MLOG("{\"status\":0}");
	static const char failed[] = MLOG("{\"status\":1,\"error\":\"[{\\\"message\\\":"
	    "\\\"Individual not found\\\",\\\"detail\\\":\\\"x-1\\\"},{\\\"message\\\":\\\"two\\\"}]\"}");
	static const char failed_text[] = MLOG("{\"status\":1,\"error\":\"plain failure\"}");
	static const char failed_none[] = MLOG("{\"status\":1,\"error\":null}");
	static const char none[] = "{\"data\":{\"mutationLogs\":{\"edges\":[]}}}";
	static const char *bad[] = {
		MLOG("{\"status\":3}"), MLOG("{\"status\":1.5}"), MLOG("{\"status\":\"2\"}"),
		MLOG("{}"), MLOG("[]"), "{\"errors\":[{\"message\":\"bad query\"}]}", "", "{}",
	};
	char err[128];
	bool f;
	int st;
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_mutation_log(done, strlen(done), &f, &st, err, sizeof(err)),
	    IL_OK);
	assert_true(f);
	assert_int_equal(st, 2);
	assert_int_equal(il_imis_parse_mutation_log(running, strlen(running), &f, &st, err,
	    sizeof(err)), IL_OK);
	assert_true(f);
	assert_int_equal(st, 0);
	assert_int_equal(il_imis_parse_mutation_log(failed, strlen(failed), &f, &st, err,
	    sizeof(err)), IL_OK);
	assert_int_equal(st, 1);
	assert_string_equal(err, "Individual not found: x-1; two");
	assert_int_equal(il_imis_parse_mutation_log(failed_text, strlen(failed_text), &f, &st, err,
	    sizeof(err)), IL_OK);
	assert_string_equal(err, "plain failure");
	assert_int_equal(il_imis_parse_mutation_log(failed_none, strlen(failed_none), &f, &st, err,
	    sizeof(err)), IL_OK);
	assert_true(err[0] != '\0');
	assert_int_equal(il_imis_parse_mutation_log(failed, strlen(failed), &f, &st, NULL, 0), IL_OK);
	assert_int_equal(il_imis_parse_mutation_log(none, strlen(none), &f, &st, err, sizeof(err)),
	    IL_OK);
	assert_false(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_mutation_log(bad[i], strlen(bad[i]), &f, &st, err,
		    sizeof(err)) != IL_ERR_PARSE)
			fail_msg("mutation log answer %zu accepted", i);
		assert_false(f);
	}
	assert_string_equal(err, "the answer has no data.mutationLogs.edges");
}

static void
test_parse_individual(void **state)
{
	static const char found[] = "{\"data\":{\"individual\":{\"edges\":[{\"node\":{\"id\":\"" U1
	    "\",\"firstName\":\"Ana\"}}]}}}";
	static const char none[] = "{\"data\":{\"individual\":{\"edges\":[]}}}";
	static const char *bad[] = {
		"{\"data\":{\"individual\":{\"edges\":[{\"node\":{\"id\":\"SW5kaXZpZHVhbDox\"}}]}}}",
		"{\"data\":{\"individual\":{\"edges\":[{\"node\":{}}]}}}",
		"{\"errors\":[{\"message\":\"x\"}]}", "{\"data\":null}", "", "1",
	};
	char uuid[IL_IMIS_UUID_LEN], err[64];
	bool f;
	size_t i;

	(void)state;
	assert_int_equal(il_imis_parse_individual(found, strlen(found), &f, uuid, err, sizeof(err)),
	    IL_OK);
	assert_true(f);
	assert_string_equal(uuid, U1);
	assert_int_equal(il_imis_parse_individual(none, strlen(none), &f, uuid, err, sizeof(err)),
	    IL_OK);
	assert_false(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (il_imis_parse_individual(bad[i], strlen(bad[i]), &f, uuid, err,
		    sizeof(err)) != IL_ERR_PARSE)
			fail_msg("individual answer %zu accepted", i);
		assert_false(f);
	}
}

/* ---- garbage ---- */

/* Runs every parser and the classifier over @p len bytes (not NUL-terminated). */
static void
feed_all(const char *body, size_t len)
{
	char uuid[IL_IMIS_UUID_LEN], fam[IL_IMIS_UUID_LEN], code[32], name[128], type[8];
	char err[64], msg[64], *token = NULL;
	il_imis_policy_ref refs[8];
	long long exp;
	size_t n;
	bool f;
	int st;

	(void)il_imis_classify(500, false, body, len, msg, sizeof(msg));
	(void)il_imis_classify(200, true, body, len, msg, sizeof(msg));
	if (il_imis_parse_login(body, len, &token, &exp) == IL_OK)
		free(token);
	(void)il_imis_parse_location(body, len, uuid, code, sizeof(code), name, sizeof(name),
	    type, sizeof(type), fam);
	(void)il_imis_parse_first_uuid(body, len, uuid);
	(void)il_imis_parse_insuree(body, len, &f, uuid, fam, err, sizeof(err));
	(void)il_imis_parse_patient(body, len, uuid, fam);
	(void)il_imis_parse_family_policies(body, len, refs, 8, &n, err, sizeof(err));
	(void)il_imis_parse_contract(body, len, uuid);
	(void)il_imis_parse_mutation_log(body, len, &f, &st, err, sizeof(err));
	(void)il_imis_parse_individual(body, len, &f, uuid, err, sizeof(err));
}

static void
test_garbage(void **state)
{
	static const char *valid[] = {
		loc_village, loc_region, OO("Exists patient with following chfid `1`"),
		"{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":\"" U1 "\",\"family\":{\"uuid\":\""
		    U3 "\"}}}]}}}",
		"{\"data\":{\"policiesByFamily\":{\"edges\":[" POL(U1, "FCTP", "2025-01-01",
		    "2025-12-31", "2") "]}}}",
		MLOG("{\"status\":1,\"error\":\"[{\\\"message\\\":\\\"m\\\"}]\"}"),
		"{\"token\":\"abc\",\"exp\":1}",
	};
	static const char *odd[] = {
		"{\"data\":{\"insurees\":{\"edges\":[{\"node\":{\"uuid\":null,\"family\":[]}}]}}}",
		"{\"data\":{\"mutationLogs\":{\"edges\":[{\"node\":{\"status\":1,\"error\":\"[[[[\"}}]}}}",
		"{\"data\":{\"mutationLogs\":{\"edges\":[{\"node\":{\"status\":1,\"error\":\"[1,null,{}]\"}}]}}}",
		"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":[]}]}",
		"{\"resourceType\":\"OperationOutcome\",\"issue\":[null,1,{\"details\":[]}]}",
		"{\"errors\":\"x\",\"data\":{\"insurees\":{\"edges\":[]}}}",
		"{\"token\":\"a\",\"exp\":1e400}", "{\"token\":\"a\",\"exp\":-5}",
		"\xff\xfe\x00\x01", "{\"a\":\"\\ud800\"}", "nul\0byte",
	};
	char *b, *deep;
	size_t i, k, len, depth = 5000;

	(void)state;
	/* every prefix of real-looking answers, in buffers of exactly that size */
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		len = strlen(valid[i]);
		for (k = 0; k <= len; k++) {
			b = exact(valid[i], k);
			feed_all(b, k);
			free(b);
		}
	}
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		len = strlen(odd[i]) + (i == sizeof(odd) / sizeof(odd[0]) - 1 ? 5 : 0);
		b = exact(odd[i], len);
		feed_all(b, len);
		free(b);
	}
	/* nesting deeper than cJSON allows */
	deep = il_xmalloc(2 * depth);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	feed_all(deep, 2 * depth);
	free(deep);
	/* larger than any answer: refused unread */
	len = 17 * 1024 * 1024;
	b = il_xmalloc(len);
	memset(b, ' ', len);
	memcpy(b, "{\"token\":\"abc\"}", 15);
	assert_int_equal(il_imis_parse_login(b, len, &(char *){ NULL }, &(long long){ 0 }),
	    IL_ERR_PARSE);
	assert_int_equal(il_imis_classify(500, false, b, len, NULL, 0), IL_IMIS_TRANSIENT);
	free(b);
	feed_all(NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_names),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_msg),
		cmocka_unit_test(test_classify_no_body_in_msg),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_location),
		cmocka_unit_test(test_first_uuid),
		cmocka_unit_test(test_gql_insuree),
		cmocka_unit_test(test_parse_insuree),
		cmocka_unit_test(test_patient_body_head),
		cmocka_unit_test(test_patient_body_update),
		cmocka_unit_test(test_parse_patient),
		cmocka_unit_test(test_family_policies),
		cmocka_unit_test(test_gql_family_policies),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_contract_body),
		cmocka_unit_test(test_parse_contract),
		cmocka_unit_test(test_gql_social),
		cmocka_unit_test(test_parse_mutation_log),
		cmocka_unit_test(test_parse_individual),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
