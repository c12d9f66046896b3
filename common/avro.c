/*
 * avro.c - the event schemas, the JSON form and the Avro binary body.
 *
 * avro-c parses every schema and reads the binary body (the encoder writes
 * it itself, in one walk of the JSON form), but avro-c 1.11.1 neither
 * exposes logical types nor field defaults, trusts the length prefixes it
 * reads, and resolves schemas more loosely (and in one place more strictly)
 * than Avro's rules.  So each schema is also compiled
 * from its cJSON definition into a small graph of il_node, one per type,
 * named types shared through a name -> definition map, and that graph drives
 * the JSON form conversion, the pre-walk of untrusted bytes and the
 * compatibility check.  The node graph and avro-c's schema come from the same
 * text, so field, branch and symbol indexes agree between the two.
 */
#include "avro.h"

#include <avro/errors.h>
#include <avro/generic.h>
#include <avro/io.h>
#include <avro/resolver.h>
#include <avro/schema.h>
#include <avro/value.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "timefmt.h"
#include "xalloc.h"

/* Values nest at most this deep; deeper input (recursive schemas) is refused. */
#define IL_AVRO_MAX_DEPTH 64
/*
 * Items of a type that takes no bytes (null, an empty record) are not bounded
 * by the body length, yet avro-c allocates each of them: cap their count.
 */
#define IL_AVRO_MAX_EMPTY_ITEMS 65536
/* A schema file larger than this is not a schema. */
#define IL_AVRO_MAX_SCHEMA_FILE (1024 * 1024)
/* Integers beyond +-2^53 do not survive a JSON number (a double). */
#define IL_JSON_EXACT_MAX 9007199254740992LL
/* Characters of a JSON string value quoted in an error message. */
#define IL_QUOTE_MAX 48

typedef enum il_kind {
	IL_K_NULL,
	IL_K_BOOLEAN,
	IL_K_INT,
	IL_K_LONG,
	IL_K_FLOAT,
	IL_K_DOUBLE,
	IL_K_BYTES,
	IL_K_STRING,
	IL_K_RECORD,
	IL_K_ENUM,
	IL_K_ARRAY,
	IL_K_MAP,
	IL_K_UNION,
	IL_K_FIXED,
} il_kind;

typedef enum il_logical {
	IL_L_NONE,              /* the bare type */
	IL_L_DATE,              /* int: days since 1970-01-01 */
	IL_L_TIMESTAMP_MILLIS,  /* long: milliseconds since the epoch, UTC */
} il_logical;

typedef struct il_node il_node;

typedef struct il_field {
	const char *name;       /* points into the schema's cJSON */
	il_node *type;          /* the field's type */
	const cJSON *def;       /* the default in Avro's JSON encoding; NULL: required */
	const cJSON *aliases;   /* "aliases" array of the field, or NULL */
} il_field;

struct il_node {
	il_kind kind;           /* which Avro type */
	il_logical logical;     /* logical type understood on int and long */
	char *fullname;         /* named types: namespace.name (owned) */
	const char *name;       /* named types: the part after the last dot */
	const cJSON *def;       /* the definition this node was compiled from */
	const cJSON *aliases;   /* named types: "aliases" array, or NULL */
	il_field *fields;       /* record: fields in order (owned) */
	size_t nfields;
	const char **symbols;   /* enum: symbols in order (owned array, cJSON strings) */
	size_t nsymbols;
	const char *enum_default;       /* enum: "default" symbol, or NULL */
	il_node *items;         /* array: items; map: values */
	il_node **branches;     /* union: branches in order (owned array) */
	size_t nbranches;
	int null_branch;        /* union: index of the null branch, -1 when none */
	int value_branch;       /* union of null and one type: that type's index, else -1 */
	size_t fixed_size;      /* fixed: byte count */
	size_t min_size;        /* fewest body bytes a value of this type takes */
	int min_state;          /* 0: not computed, 1: computing (recursion), 2: done */
};

/* One entry of a schema's name -> definition map. */
typedef struct il_named {
	const char *fullname;   /* the node's fullname */
	il_node *node;          /* the definition */
} il_named;

/*
 * avro-c objects reused from one decode to the next.  One set per schema,
 * taken with a try-lock: a thread that finds it busy makes a temporary set
 * instead of waiting.  (Encoding writes the body itself and needs none.)
 */
typedef struct il_cache {
	bool ready;             /* the members below exist */
	avro_value_t value;     /* generic value of the schema */
	avro_reader_t reader;   /* memory reader, pointed at the body */
} il_cache;

struct il_schema {
	char *text;             /* JSON text as loaded: what is registered */
	cJSON *json;            /* parsed text; nodes point into it */
	avro_schema_t avro;     /* avro-c's parse of the same text */
	avro_value_iface_t *iface;      /* avro-c generic class of the schema */
	char *fullname;         /* e.g. org.imislink.events.EligibilityEvent */
	const char *name;       /* points into fullname after the last dot */
	int version;            /* from the file name, 0 when not from a file */
	il_node *root;          /* compiled top-level type */
	il_node **nodes;        /* every node, for freeing */
	size_t nnodes, nodecap;
	il_named *named;        /* name -> definition map */
	size_t nnamed, namedcap;
	atomic_flag busy;       /* held while cache is in use */
	il_cache cache;         /* reusable avro-c objects */
};

struct il_schema_set {
	il_schema **schemas;    /* sorted by name, then version */
	size_t count;
};

/* One step of the path to a value, for error messages. */
typedef struct il_seg {
	char kind;              /* 'f' field, 'k' map key, 'i' array index, 'a' any item */
	const char *name;       /* field name or map key */
	size_t index;           /* array index */
} il_seg;

typedef struct il_path {
	il_seg seg[IL_AVRO_MAX_DEPTH];  /* steps from the top value */
	int depth;              /* steps in use */
	const char *root;       /* what an empty path is called */
	bool show_root;         /* start every path with root (compatibility messages) */
} il_path;

/* State of one encode (or of a default being checked, with nothing written). */
typedef struct il_enc {
	il_path path;
	il_buf *out;            /* the body goes at its end; NULL: only check */
	size_t size;            /* bytes of the body so far, written or only counted */
	bool over;              /* the body outgrew out->max: counted, no longer written */
	char *errbuf;
	size_t errsz;
} il_enc;

/* State of the pre-walk of an untrusted body. */
typedef struct il_walk {
	const unsigned char *base;      /* start of the body */
	const unsigned char *p;         /* next byte to read */
	const unsigned char *end;       /* one past the last byte */
	il_path path;
	char *errbuf;
	size_t errsz;
} il_walk;

/* State of one schema compilation. */
typedef struct il_comp {
	il_schema *s;           /* schema being compiled */
	char *errbuf;
	size_t errsz;
} il_comp;

/* ---------------------------------------------------------------- paths */

static void
path_init(il_path *path, const char *root)
{
	path->depth = 0;
	path->root = root;
	path->show_root = false;
}

/* @returns false when values nest deeper than IL_AVRO_MAX_DEPTH. */
static bool
path_push(il_path *path, char kind, const char *name, size_t index)
{
	il_seg *seg;

	if (path->depth >= IL_AVRO_MAX_DEPTH)
		return false;
	seg = &path->seg[path->depth++];
	seg->kind = kind;
	seg->name = name;
	seg->index = index;
	return true;
}

static void
path_pop(il_path *path)
{
	path->depth--;
}

/*
 * Error text goes into the caller's fixed buffer: these append to it and
 * cut silently at its end, which is all an error message needs.
 */
typedef struct il_msg {
	char *buf;              /* the caller's buffer, always NUL-terminated */
	size_t size;            /* its size */
	size_t len;             /* characters written so far */
} il_msg;

static void
msg_vadd(il_msg *m, const char *fmt, va_list ap)
{
	int n;

	if (m->len + 1 >= m->size)
		return;
	n = vsnprintf(m->buf + m->len, m->size - m->len, fmt, ap);
	if (n > 0)
		m->len = m->len + (size_t)n < m->size ? m->len + (size_t)n : m->size - 1;
}

static void
msg_add(il_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
msg_add(il_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vadd(m, fmt, ap);
	va_end(ap);
}

/* Appends at most @p max bytes of @p s as a JSON string body, cut at a character boundary. */
static void
msg_add_escaped(il_msg *m, const char *s, size_t max)
{
	size_t len = strlen(s), i;
	bool raw;

	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	/* A reason ends up in JSON (logs, receipts, dead-letter headers): bytes
	 * that are not UTF-8 are shown as \xNN instead of being copied. */
	raw = il_text_utf8_valid(s, len, NULL);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			msg_add(m, "\\%c", ch);
		else if (ch < 0x20)
			msg_add(m, "\\u%04x", ch);
		else if (ch >= 0x80 && !raw)
			msg_add(m, "\\x%02x", ch);
		else
			msg_add(m, "%c", ch);
	}
	if (len < strlen(s))
		msg_add(m, "...");
}

static void
path_format(const il_path *path, il_msg *m)
{
	int i;

	if (path->depth == 0 || path->show_root)
		msg_add(m, "%s", path->root);
	for (i = 0; i < path->depth; i++) {
		const il_seg *seg = &path->seg[i];

		switch (seg->kind) {
		case 'f':
			/* A field name may come from the caller's JSON: escape it too. */
			msg_add(m, "%s", i > 0 || path->show_root ? "." : "");
			msg_add_escaped(m, seg->name, IL_QUOTE_MAX);
			break;
		case 'k':
			msg_add(m, "[\"");
			msg_add_escaped(m, seg->name, IL_QUOTE_MAX);
			msg_add(m, "\"]");
			break;
		case 'i':
			msg_add(m, "[%zu]", seg->index);
			break;
		default:
			msg_add(m, "[]");
			break;
		}
	}
}

/* Writes "<path>: <message>" into errbuf. */
static void
path_vfail(const il_path *path, char *errbuf, size_t errsz, const char *fmt, va_list ap)
{
	il_msg m = { errbuf, errsz, 0 };

	if (errsz == 0)
		return;
	errbuf[0] = '\0';
	path_format(path, &m);
	msg_add(&m, ": ");
	msg_vadd(&m, fmt, ap);
}

/* ------------------------------------------------------ small utilities */

/*
 * avro_strerror() is one process-wide buffer in Debian's build, so it is
 * copied at once, before any other avro-c call can overwrite it.
 */
static void
copy_avro_error(char *out, size_t outsz)
{
	const char *msg = avro_strerror();

	snprintf(out, outsz, "%s", msg != NULL && msg[0] != '\0' ? msg : "unknown avro-c error");
}

/*
 * Renders a JSON value for an error message: strings quoted and cut at a
 * character boundary, numbers as written, others by kind.
 */
static const char *
json_show(const cJSON *j, char *out, size_t outsz)
{
	il_msg m = { out, outsz, 0 };

	out[0] = '\0';
	if (cJSON_IsNumber(j)) {
		msg_add(&m, "%.17g", j->valuedouble);
	} else if (cJSON_IsRaw(j) && j->valuestring != NULL) {
		msg_add(&m, "%s", j->valuestring);
	} else if (cJSON_IsString(j) && j->valuestring != NULL) {
		msg_add(&m, "\"");
		msg_add_escaped(&m, j->valuestring, IL_QUOTE_MAX);
		msg_add(&m, "\"");
	} else {
		msg_add(&m, "%s", il_text_json_kind(j, false));
	}
	return out;
}

/* ------------------------------------------------------------- compiling */

static il_node *
node_new(il_comp *c, il_kind kind, const cJSON *def)
{
	il_schema *s = c->s;
	il_node *n = il_xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->def = def;
	n->null_branch = -1;
	n->value_branch = -1;
	if (s->nnodes == s->nodecap) {
		s->nodecap = s->nodecap ? 2 * s->nodecap : 32;
		s->nodes = il_xrealloc(s->nodes, s->nodecap * sizeof(*s->nodes));
	}
	s->nodes[s->nnodes++] = n;
	return n;
}

static il_node *
named_find(const il_schema *s, const char *fullname)
{
	size_t i;

	for (i = 0; i < s->nnamed; i++) {
		if (strcmp(s->named[i].fullname, fullname) == 0)
			return s->named[i].node;
	}
	return NULL;
}

/* Resolves a reference as Avro does: in the enclosing namespace, then as given. */
static il_node *
named_lookup(const il_schema *s, const char *name, const char *ns)
{
	il_node *n = NULL;
	char *full;

	if (strchr(name, '.') == NULL && ns != NULL && ns[0] != '\0') {
		full = il_xasprintf("%s.%s", ns, name);
		n = named_find(s, full);
		free(full);
	}
	return n != NULL ? n : named_find(s, name);
}

static bool
primitive_kind(const char *name, il_kind *kind)
{
	static const struct {
		const char *name;
		il_kind kind;
	} prims[] = {
		{ "null", IL_K_NULL }, { "boolean", IL_K_BOOLEAN }, { "int", IL_K_INT },
		{ "long", IL_K_LONG }, { "float", IL_K_FLOAT }, { "double", IL_K_DOUBLE },
		{ "bytes", IL_K_BYTES }, { "string", IL_K_STRING },
	};
	size_t i;

	for (i = 0; i < sizeof(prims) / sizeof(prims[0]); i++) {
		if (strcmp(prims[i].name, name) == 0) {
			*kind = prims[i].kind;
			return true;
		}
	}
	return false;
}

static const char *
kind_name(const il_node *n)
{
	static const char *const names[] = {
		"null", "boolean", "int", "long", "float", "double", "bytes", "string",
		"record", "enum", "array", "map", "union", "fixed",
	};

	return names[n->kind];
}

/* @returns the name a type goes by in messages and in wrapped union values. */
static const char *
type_name(const il_node *n)
{
	return n->fullname != NULL ? n->fullname : kind_name(n);
}

static il_node *compile(il_comp *c, const cJSON *def, const char *ns);
static il_err set_default(il_enc *e, const il_node *n, const cJSON *def);

/* Registers a named type before its body is compiled, so it may refer to itself. */
static il_node *
compile_named(il_comp *c, il_kind kind, const cJSON *def, const char *ns, char **newns)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
	const cJSON *space = cJSON_GetObjectItemCaseSensitive(def, "namespace");
	il_schema *s = c->s;
	il_node *n;
	char *full;
	const char *dot;

	if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
		il_err_setf(c->errbuf, c->errsz, "a named type has no \"name\"");
		return NULL;
	}
	if (strchr(name->valuestring, '.') != NULL)
		full = il_xstrdup(name->valuestring);
	else if (cJSON_IsString(space) && space->valuestring[0] != '\0')
		full = il_xasprintf("%s.%s", space->valuestring, name->valuestring);
	else if (!cJSON_IsString(space) && ns != NULL && ns[0] != '\0')
		full = il_xasprintf("%s.%s", ns, name->valuestring);
	else
		full = il_xstrdup(name->valuestring);
	if (named_find(s, full) != NULL) {
		il_err_setf(c->errbuf, c->errsz, "type \"%s\" is defined twice", full);
		free(full);
		return NULL;
	}
	n = node_new(c, kind, def);
	n->fullname = full;
	dot = strrchr(full, '.');
	n->name = dot != NULL ? dot + 1 : full;
	n->aliases = cJSON_GetObjectItemCaseSensitive(def, "aliases");
	if (s->nnamed == s->namedcap) {
		s->namedcap = s->namedcap ? 2 * s->namedcap : 16;
		s->named = il_xrealloc(s->named, s->namedcap * sizeof(*s->named));
	}
	s->named[s->nnamed].fullname = full;
	s->named[s->nnamed].node = n;
	s->nnamed++;
	*newns = il_xstrndup(full, dot != NULL ? (size_t)(dot - full) : 0);
	return n;
}

static bool
compile_fields(il_comp *c, il_node *n, const cJSON *fields, const char *ns)
{
	const cJSON *f;
	size_t i = 0, k;
	char why[256];
	il_enc e;

	if (!cJSON_IsArray(fields)) {
		il_err_setf(c->errbuf, c->errsz, "record \"%s\" has no \"fields\" array", n->fullname);
		return false;
	}
	n->nfields = (size_t)cJSON_GetArraySize(fields);
	n->fields = il_xcalloc(n->nfields ? n->nfields : 1, sizeof(*n->fields));
	cJSON_ArrayForEach(f, fields) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		il_field *fld = &n->fields[i];

		if (!cJSON_IsString(name)) {
			il_err_setf(c->errbuf, c->errsz, "record \"%s\": field %zu has no \"name\"",
			    n->fullname, i);
			return false;
		}
		fld->name = name->valuestring;
		for (k = 0; k < i; k++) {
			if (strcmp(n->fields[k].name, fld->name) == 0) {
				il_err_setf(c->errbuf, c->errsz, "record \"%s\": field \"%s\" is defined twice",
				    n->fullname, fld->name);
				return false;
			}
		}
		fld->type = compile(c, cJSON_GetObjectItemCaseSensitive(f, "type"), ns);
		if (fld->type == NULL)
			return false;
		fld->aliases = cJSON_GetObjectItemCaseSensitive(f, "aliases");
		fld->def = cJSON_GetObjectItemCaseSensitive(f, "default");
		i++;
	}
	/*
	 * Defaults are checked once every field's type exists (a default may
	 * hold a record defined later in the schema); avro-c ignores them, so
	 * a default that does not fit would otherwise surface at encode time.
	 */
	for (i = 0; i < n->nfields; i++) {
		if (n->fields[i].def == NULL)
			continue;
		path_init(&e.path, "default");
		e.out = NULL;
		e.size = 0;
		e.over = false;
		e.errbuf = why;
		e.errsz = sizeof(why);
		if (set_default(&e, n->fields[i].type, n->fields[i].def) != IL_OK) {
			il_err_setf(c->errbuf, c->errsz, "record \"%s\": field \"%s\": invalid %s",
			    n->fullname, n->fields[i].name, why);
			return false;
		}
	}
	return true;
}

static bool
compile_enum(il_comp *c, il_node *n, const cJSON *def)
{
	const cJSON *symbols = cJSON_GetObjectItemCaseSensitive(def, "symbols");
	const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(def, "default");
	const cJSON *sym;
	size_t i = 0, k;

	if (!cJSON_IsArray(symbols) || cJSON_GetArraySize(symbols) == 0) {
		il_err_setf(c->errbuf, c->errsz, "enum \"%s\" has no \"symbols\"", n->fullname);
		return false;
	}
	n->nsymbols = (size_t)cJSON_GetArraySize(symbols);
	n->symbols = il_xcalloc(n->nsymbols, sizeof(*n->symbols));
	cJSON_ArrayForEach(sym, symbols) {
		if (!cJSON_IsString(sym)) {
			il_err_setf(c->errbuf, c->errsz, "enum \"%s\": symbol %zu is not a string",
			    n->fullname, i);
			return false;
		}
		for (k = 0; k < i; k++) {
			if (strcmp(n->symbols[k], sym->valuestring) == 0) {
				il_err_setf(c->errbuf, c->errsz, "enum \"%s\": symbol \"%s\" is listed twice",
				    n->fullname, sym->valuestring);
				return false;
			}
		}
		n->symbols[i++] = sym->valuestring;
	}
	if (dflt != NULL) {
		for (k = 0; cJSON_IsString(dflt) && k < n->nsymbols; k++) {
			if (strcmp(n->symbols[k], dflt->valuestring) == 0)
				n->enum_default = n->symbols[k];
		}
		if (n->enum_default == NULL) {
			il_err_setf(c->errbuf, c->errsz, "enum \"%s\": the default is not one of its symbols",
			    n->fullname);
			return false;
		}
	}
	return true;
}

static il_node *
compile_union(il_comp *c, const cJSON *def, const char *ns)
{
	il_node *n = node_new(c, IL_K_UNION, def);
	const cJSON *b;
	size_t i = 0, k;

	n->nbranches = (size_t)cJSON_GetArraySize(def);
	if (n->nbranches == 0) {
		il_err_setf(c->errbuf, c->errsz, "a union has no branches");
		return NULL;
	}
	n->branches = il_xcalloc(n->nbranches, sizeof(*n->branches));
	cJSON_ArrayForEach(b, def) {
		il_node *br = compile(c, b, ns);

		if (br == NULL)
			return NULL;
		if (br->kind == IL_K_UNION) {
			il_err_setf(c->errbuf, c->errsz, "a union holds a union");
			return NULL;
		}
		for (k = 0; k < i; k++) {
			if (strcmp(type_name(n->branches[k]), type_name(br)) == 0) {
				il_err_setf(c->errbuf, c->errsz, "a union holds \"%s\" twice", type_name(br));
				return NULL;
			}
		}
		if (br->kind == IL_K_NULL)
			n->null_branch = (int)i;
		n->branches[i++] = br;
	}
	if (n->nbranches == 2 && n->null_branch >= 0)
		n->value_branch = 1 - n->null_branch;
	return n;
}

static il_node *
compile_logical(il_comp *c, il_node *n, const cJSON *def)
{
	const cJSON *lt = cJSON_GetObjectItemCaseSensitive(def, "logicalType");

	if (!cJSON_IsString(lt))
		return n;
	/*
	 * Other logical types are read as their underlying type, as the Avro
	 * specification asks; the two the events use must sit on the right
	 * type, or every value would be misread.
	 */
	if (strcmp(lt->valuestring, "date") == 0) {
		if (n->kind != IL_K_INT) {
			il_err_setf(c->errbuf, c->errsz, "logical type \"date\" needs an int, not %s",
			    kind_name(n));
			return NULL;
		}
		n->logical = IL_L_DATE;
	} else if (strcmp(lt->valuestring, "timestamp-millis") == 0) {
		if (n->kind != IL_K_LONG) {
			il_err_setf(c->errbuf, c->errsz,
			    "logical type \"timestamp-millis\" needs a long, not %s", kind_name(n));
			return NULL;
		}
		n->logical = IL_L_TIMESTAMP_MILLIS;
	}
	return n;
}

static il_node *
compile_object(il_comp *c, const cJSON *def, const char *ns)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(def, "type");
	const char *t;
	il_kind kind;
	il_node *n = NULL;
	char *newns = NULL;

	if (cJSON_IsObject(type) || cJSON_IsArray(type))
		return compile(c, type, ns);
	if (!cJSON_IsString(type)) {
		il_err_setf(c->errbuf, c->errsz, "a type definition has no \"type\"");
		return NULL;
	}
	t = type->valuestring;
	if (primitive_kind(t, &kind))
		return compile_logical(c, node_new(c, kind, def), def);
	if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
		n = compile_named(c, IL_K_RECORD, def, ns, &newns);
		if (n != NULL && !compile_fields(c, n,
		    cJSON_GetObjectItemCaseSensitive(def, "fields"), newns))
			n = NULL;
	} else if (strcmp(t, "enum") == 0) {
		n = compile_named(c, IL_K_ENUM, def, ns, &newns);
		if (n != NULL && !compile_enum(c, n, def))
			n = NULL;
	} else if (strcmp(t, "fixed") == 0) {
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(def, "size");

		n = compile_named(c, IL_K_FIXED, def, ns, &newns);
		if (n != NULL && (!cJSON_IsNumber(size) || size->valuedouble < 0 ||
		    size->valuedouble > (double)IL_AVRO_MAX_SCHEMA_FILE)) {
			il_err_setf(c->errbuf, c->errsz, "fixed \"%s\" has no valid \"size\"", n->fullname);
			n = NULL;
		} else if (n != NULL) {
			n->fixed_size = (size_t)size->valuedouble;
		}
	} else if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
		bool arr = t[0] == 'a';

		n = node_new(c, arr ? IL_K_ARRAY : IL_K_MAP, def);
		n->items = compile(c, cJSON_GetObjectItemCaseSensitive(def, arr ? "items" : "values"),
		    ns);
		if (n->items == NULL)
			n = NULL;
	} else {
		n = named_lookup(c->s, t, ns);
		if (n == NULL)
			il_err_setf(c->errbuf, c->errsz, "unknown type \"%s\"", t);
	}
	free(newns);
	return n;
}

static il_node *
compile(il_comp *c, const cJSON *def, const char *ns)
{
	il_kind kind;
	il_node *n;

	if (cJSON_IsString(def)) {
		if (primitive_kind(def->valuestring, &kind))
			return node_new(c, kind, def);
		n = named_lookup(c->s, def->valuestring, ns);
		if (n == NULL)
			il_err_setf(c->errbuf, c->errsz, "unknown type \"%s\"", def->valuestring);
		return n;
	}
	if (cJSON_IsArray(def))
		return compile_union(c, def, ns);
	if (cJSON_IsObject(def))
		return compile_object(c, def, ns);
	il_err_setf(c->errbuf, c->errsz, "a type is %s, not a name, an object or a union",
	    def != NULL ? il_text_json_kind(def, false) : "missing");
	return NULL;
}

static size_t
sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t
node_min_size(il_node *n)
{
	size_t i, sz = 0;

	if (n->min_state == 2)
		return n->min_size;
	/* a type that contains itself: counting it as empty only weakens the bound */
	if (n->min_state == 1)
		return 0;
	n->min_state = 1;
	switch (n->kind) {
	case IL_K_NULL:
		sz = 0;
		break;
	case IL_K_FLOAT:
		sz = 4;
		break;
	case IL_K_DOUBLE:
		sz = 8;
		break;
	case IL_K_FIXED:
		sz = n->fixed_size;
		break;
	case IL_K_RECORD:
		for (i = 0; i < n->nfields; i++)
			sz = sat_add(sz, node_min_size(n->fields[i].type));
		break;
	case IL_K_ARRAY:
	case IL_K_MAP:
		(void)node_min_size(n->items);
		sz = 1;
		break;
	case IL_K_UNION:
		for (i = 0; i < n->nbranches; i++)
			(void)node_min_size(n->branches[i]);
		sz = 1;
		break;
	default:
		/* boolean, int, long, enum: one byte; string, bytes: a length byte */
		sz = 1;
		break;
	}
	n->min_size = sz;
	n->min_state = 2;
	return sz;
}

/* ------------------------------------------------------ schema lifecycle */

static void
cache_clear(il_cache *cache)
{
	if (!cache->ready)
		return;
	avro_value_decref(&cache->value);
	avro_reader_free(cache->reader);
	memset(cache, 0, sizeof(*cache));
}

/* @returns false with avro-c's reason when a value cannot be made. */
static bool
cache_fill(const il_schema *s, il_cache *cache, char *errbuf, size_t errsz)
{
	memset(cache, 0, sizeof(*cache));
	if (avro_generic_value_new(s->iface, &cache->value) != 0) {
		copy_avro_error(errbuf, errsz);
		return false;
	}
	cache->reader = avro_reader_memory("", 0);
	if (cache->reader == NULL) {
		avro_value_decref(&cache->value);
		memset(cache, 0, sizeof(*cache));
		il_err_setf(errbuf, errsz, "could not make an avro-c memory reader");
		return false;
	}
	cache->ready = true;
	return true;
}

/*
 * Takes the schema's cache when it is free, else fills @p tmp.
 * @returns the cache to use, NULL with the reason in errbuf.
 */
static il_cache *
cache_acquire(const il_schema *s, il_cache *tmp, char *errbuf, size_t errsz)
{
	il_schema *ms = (il_schema *)s;     /* the cache is not part of the value */

	if (!atomic_flag_test_and_set_explicit(&ms->busy, memory_order_acquire)) {
		if (ms->cache.ready || cache_fill(s, &ms->cache, errbuf, errsz))
			return &ms->cache;
		atomic_flag_clear_explicit(&ms->busy, memory_order_release);
		return NULL;
	}
	return cache_fill(s, tmp, errbuf, errsz) ? tmp : NULL;
}

static void
cache_release(const il_schema *s, il_cache *cache)
{
	il_schema *ms = (il_schema *)s;

	if (cache == &ms->cache)
		atomic_flag_clear_explicit(&ms->busy, memory_order_release);
	else
		cache_clear(cache);
}

void
il_schema_destroy(il_schema *s)
{
	size_t i;

	if (s == NULL)
		return;
	cache_clear(&s->cache);
	if (s->iface != NULL)
		avro_value_iface_decref(s->iface);
	if (s->avro != NULL)
		avro_schema_decref(s->avro);
	for (i = 0; i < s->nnodes; i++) {
		free(s->nodes[i]->fullname);
		free(s->nodes[i]->fields);
		free(s->nodes[i]->symbols);
		free(s->nodes[i]->branches);
		free(s->nodes[i]);
	}
	free(s->nodes);
	free(s->named);
	cJSON_Delete(s->json);
	free(s->fullname);
	free(s->text);
	free(s);
}

il_schema *
il_schema_from_json(const char *json, size_t len, char *errbuf, size_t errsz)
{
	il_schema *s = il_xcalloc(1, sizeof(*s));
	const char *end = NULL;
	const char *dot;
	char why[512];
	il_comp c;

	atomic_flag_clear(&s->busy);
	s->text = il_xstrndup(json, len);
	if (strlen(s->text) != len) {
		il_err_setf(errbuf, errsz, "schema text contains a NUL byte");
		goto fail;
	}
	s->json = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (s->json == NULL) {
		il_err_setf(errbuf, errsz, "schema is not valid JSON (at byte %zu)",
		    end != NULL && end >= json ? (size_t)(end - json) : (size_t)0);
		goto fail;
	}
	if (avro_schema_from_json_length(json, len, &s->avro) != 0) {
		copy_avro_error(why, sizeof(why));
		s->avro = NULL;
		il_err_setf(errbuf, errsz, "avro-c refuses the schema: %s", why);
		goto fail;
	}
	c.s = s;
	c.errbuf = errbuf;
	c.errsz = errsz;
	s->root = compile(&c, s->json, NULL);
	if (s->root == NULL)
		goto fail;
	(void)node_min_size(s->root);
	s->iface = avro_generic_class_from_schema(s->avro);
	if (s->iface == NULL) {
		copy_avro_error(why, sizeof(why));
		il_err_setf(errbuf, errsz, "avro-c cannot make values of the schema: %s", why);
		goto fail;
	}
	s->fullname = il_xstrdup(type_name(s->root));
	dot = strrchr(s->fullname, '.');
	s->name = dot != NULL ? dot + 1 : s->fullname;
	return s;
fail:
	il_schema_destroy(s);
	return NULL;
}

const char *
il_schema_fullname(const il_schema *s)
{
	return s->fullname;
}

const char *
il_schema_name(const il_schema *s)
{
	return s->name;
}

int
il_schema_version(const il_schema *s)
{
	return s->version;
}

const char *
il_schema_text(const il_schema *s)
{
	return s->text;
}

/* ------------------------------------------------------------ schema sets */

/*
 * Splits "<Name>.v<N>.avsc" into name length and version.
 * @returns false for any other file name.
 */
static bool
schema_file_name(const char *file, size_t *namelen, int *version)
{
	size_t len = strlen(file), i, v_at;
	long v = 0;

	if (len < 9 || strcmp(file + len - 5, ".avsc") != 0)
		return false;
	i = len - 5;
	while (i > 0 && file[i - 1] >= '0' && file[i - 1] <= '9')
		i--;
	if (i == len - 5 || i < 3 || file[i - 1] != 'v' || file[i - 2] != '.' || file[i] == '0')
		return false;
	if (len - 5 - i > 6)
		return false;
	v_at = i;
	for (; i < len - 5; i++)
		v = v * 10 + (file[i] - '0');
	*namelen = v_at - 2;
	*version = (int)v;
	return true;
}

static bool
read_file(const char *path, char **text, size_t *len, char *errbuf, size_t errsz)
{
	il_buf b;

	il_buf_init(&b, IL_AVRO_MAX_SCHEMA_FILE);
	if (il_buf_read_file(&b, path, errbuf, errsz) != IL_OK) {
		il_buf_free(&b);
		return false;
	}
	*len = b.len;
	*text = il_buf_take(&b);
	return true;
}

static int
schema_order(const void *a, const void *b)
{
	const il_schema *x = *(il_schema *const *)a;
	const il_schema *y = *(il_schema *const *)b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->version > y->version) - (x->version < y->version);
}

static il_schema *
schema_load_file(const char *dir, const char *file, size_t namelen, int version,
    char *errbuf, size_t errsz)
{
	char *path = il_xasprintf("%s/%s", dir, file);
	char *text = NULL;
	size_t len = 0;
	char why[512];
	il_schema *s = NULL;

	if (!read_file(path, &text, &len, errbuf, errsz))
		goto done;
	s = il_schema_from_json(text, len, why, sizeof(why));
	if (s == NULL) {
		il_err_setf(errbuf, errsz, "could not load schema \"%s\": %s", path, why);
		goto done;
	}
	s->version = version;
	if (strlen(s->name) != namelen || strncmp(s->name, file, namelen) != 0) {
		il_err_setf(errbuf, errsz, "could not load schema \"%s\": it defines \"%s\", not \"%.*s\"",
		    path, s->name, (int)namelen, file);
		il_schema_destroy(s);
		s = NULL;
	}
done:
	free(text);
	free(path);
	return s;
}

il_schema_set *
il_schema_set_load(const char *dir, char *errbuf, size_t errsz)
{
	il_schema_set *set = il_xcalloc(1, sizeof(*set));
	size_t cap = 0, namelen;
	struct dirent *de;
	int version;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		il_err_setf(errbuf, errsz, "could not open directory \"%s\": %s", dir, strerror(errno));
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		il_schema *s;

		if (!schema_file_name(de->d_name, &namelen, &version))
			continue;
		s = schema_load_file(dir, de->d_name, namelen, version, errbuf, errsz);
		if (s == NULL)
			goto fail;
		if (set->count == cap) {
			cap = cap ? 2 * cap : 8;
			set->schemas = il_xrealloc(set->schemas, cap * sizeof(*set->schemas));
		}
		set->schemas[set->count++] = s;
	}
	closedir(d);
	d = NULL;
	if (set->count > 0)
		qsort(set->schemas, set->count, sizeof(*set->schemas), schema_order);
	return set;
fail:
	if (d != NULL)
		closedir(d);
	il_schema_set_destroy(set);
	return NULL;
}

void
il_schema_set_destroy(il_schema_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->count; i++)
		il_schema_destroy(set->schemas[i]);
	free(set->schemas);
	free(set);
}

const il_schema *
il_schema_set_latest(const il_schema_set *set, const char *name)
{
	const il_schema *best = NULL;
	size_t i;

	for (i = 0; i < set->count; i++) {
		if (strcmp(set->schemas[i]->name, name) == 0)
			best = set->schemas[i];
	}
	return best;
}

const il_schema *
il_schema_set_get(const il_schema_set *set, const char *name, int version)
{
	size_t i;

	for (i = 0; i < set->count; i++) {
		if (set->schemas[i]->version == version && strcmp(set->schemas[i]->name, name) == 0)
			return set->schemas[i];
	}
	return NULL;
}

size_t
il_schema_set_count(const il_schema_set *set)
{
	return set->count;
}

const il_schema *
il_schema_set_at(const il_schema_set *set, size_t i)
{
	return i < set->count ? set->schemas[i] : NULL;
}

/* ------------------------------------------------- JSON form -> Avro body */

static il_err
enc_fail(il_enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static il_err
enc_fail(il_enc *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	path_vfail(&e->path, e->errbuf, e->errsz, fmt, ap);
	va_end(ap);
	return IL_ERR_ENCODE;
}

static il_err
enc_deep(il_enc *e)
{
	return enc_fail(e, "values nest deeper than %d levels", IL_AVRO_MAX_DEPTH);
}

/*
 * Makes room for @p n more body bytes at the end of out.  @returns where
 * they go, or NULL when nothing is written: a default being checked, or a
 * body already too large for out, which is still walked to the end so that
 * a bad value is reported before the size.
 */
static inline unsigned char *
enc_room(il_enc *e, size_t n)
{
	il_buf *b = e->out;
	unsigned char *p;

	e->size += n;
	if (b == NULL || e->over)
		return NULL;
	/* room for the bytes and the NUL that ends out: no check against max needed */
	if (n >= b->cap - b->len && il_buf_reserve(b, n) != IL_OK) {
		e->over = true;
		return NULL;
	}
	p = (unsigned char *)b->data + b->len;
	b->len += n;
	return p;
}

/* Writes @p x as Avro writes an int, a long, a length, a count or an index. */
static inline void
enc_varint(il_enc *e, int64_t x)
{
	uint64_t v = ((uint64_t)x << 1) ^ (0 - ((uint64_t)x >> 63)), t;
	unsigned char *p;
	size_t n = 1;

	for (t = v; t >= 0x80; t >>= 7)
		n++;
	p = enc_room(e, n);
	if (p == NULL)
		return;
	for (; v >= 0x80; v >>= 7)
		*p++ = (unsigned char)(v | 0x80);
	*p = (unsigned char)v;
}

/* Writes the low @p n bytes of @p bits, least significant first (float, double). */
static void
enc_le(il_enc *e, uint64_t bits, size_t n)
{
	unsigned char *p = enc_room(e, n);
	size_t i;

	for (i = 0; p != NULL && i < n; i++)
		p[i] = (unsigned char)(bits >> (8 * i));
}

static void
enc_real(il_enc *e, const il_node *n, double d)
{
	uint64_t bits;
	uint32_t bits32;
	float f;

	if (n->kind == IL_K_FLOAT) {
		f = (float)d;
		memcpy(&bits32, &f, sizeof(bits32));
		enc_le(e, bits32, 4);
	} else {
		memcpy(&bits, &d, sizeof(bits));
		enc_le(e, bits, 8);
	}
}

/*
 * Reads an integer from a JSON number (or from the raw digits il_avro_decode_json
 * emits for longs beyond 2^53) within [lo, hi].
 */
static il_err
json_integer(il_enc *e, const cJSON *j, int64_t lo, int64_t hi, const char *what,
    int64_t *out)
{
	char shown[IL_QUOTE_MAX + 16];
	double d;

	if (cJSON_IsRaw(j) && j->valuestring != NULL) {
		const char *p = j->valuestring;
		bool neg = *p == '-';
		uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

		p += neg;
		if (*p == '\0')
			return enc_fail(e, "expected %s, got %s", what, j->valuestring);
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || v > (lim - (uint64_t)(*p - '0')) / 10)
				return enc_fail(e, "expected %s, got %s", what, j->valuestring);
			v = v * 10 + (uint64_t)(*p - '0');
		}
		*out = neg ? (int64_t)(0 - v) : (int64_t)v;
		if (*out < lo || *out > hi)
			return enc_fail(e, "expected %s, got %s (out of range)", what, j->valuestring);
		return IL_OK;
	}
	if (!cJSON_IsNumber(j))
		return enc_fail(e, "expected %s, got %s", what, json_show(j, shown, sizeof(shown)));
	d = j->valuedouble;
	if (!(d >= (double)lo && d <= (double)hi))
		return enc_fail(e, "expected %s, got %s (out of range)", what,
		    json_show(j, shown, sizeof(shown)));
	if ((double)(int64_t)d != d)
		return enc_fail(e, "expected %s, got %s (not an integer)", what,
		    json_show(j, shown, sizeof(shown)));
	*out = (int64_t)d;
	return IL_OK;
}

static il_err
check_utf8(il_enc *e, const char *s, size_t len)
{
	size_t bad;

	if (!il_text_utf8_valid(s, len, &bad))
		return enc_fail(e, "string is not valid UTF-8 (byte 0x%02x at position %zu)",
		    (unsigned char)s[bad], bad);
	return IL_OK;
}

/* Writes @p len bytes of @p s as an Avro string or bytes: length, then the bytes. */
static void
enc_counted(il_enc *e, const char *s, size_t len)
{
	unsigned char *p;

	enc_varint(e, (int64_t)len);
	p = enc_room(e, len);
	if (p != NULL)
		memcpy(p, s, len);
}

static il_err
enc_string(il_enc *e, const cJSON *j)
{
	char shown[IL_QUOTE_MAX + 16];
	il_err err;
	size_t len;

	if (!cJSON_IsString(j))
		return enc_fail(e, "expected a string, got %s", json_show(j, shown, sizeof(shown)));
	len = strlen(j->valuestring);
	err = check_utf8(e, j->valuestring, len);
	if (err != IL_OK)
		return err;
	enc_counted(e, j->valuestring, len);
	return IL_OK;
}

/*
 * Writes a string of code points U+0000..U+00FF, Avro's JSON form of bytes
 * and fixed: a first pass checks it and counts the bytes (the length goes
 * first), a second writes them.
 */
static il_err
enc_bytes(il_enc *e, const il_node *n, const cJSON *j)
{
	const unsigned char *s, *p;
	unsigned char *o;
	size_t len = 0;

	if (!cJSON_IsString(j))
		return enc_fail(e, "expected bytes as a string, got %s", il_text_json_kind(j, false));
	s = (const unsigned char *)j->valuestring;
	for (p = s; *p != '\0'; p++) {
		if (*p >= 0x80 && !((*p == 0xc2 || *p == 0xc3) && (p[1] & 0xc0) == 0x80))
			return enc_fail(e, "bytes hold a character above U+00FF");
		if (*p >= 0x80)
			p++;
		if (len == (size_t)INT32_MAX)
			return enc_fail(e, "bytes value too long");
		len++;
	}
	if (n->kind == IL_K_FIXED && len != n->fixed_size)
		return enc_fail(e, "expected %zu bytes for fixed \"%s\", got %zu", n->fixed_size,
		    n->fullname, len);
	if (n->kind == IL_K_BYTES)
		enc_varint(e, (int64_t)len);
	o = enc_room(e, len);
	for (p = s; o != NULL && *p != '\0'; p++) {
		if (*p < 0x80) {
			*o++ = *p;
		} else {
			*o++ = (unsigned char)(((*p & 0x03) << 6) | (p[1] & 0x3f));
			p++;
		}
	}
	return IL_OK;
}

static il_err
enc_enum(il_enc *e, const il_node *n, const cJSON *j)
{
	char shown[IL_QUOTE_MAX + 16], list[256];
	il_msg m = { list, sizeof(list), 0 };
	size_t i;

	if (cJSON_IsString(j)) {
		for (i = 0; i < n->nsymbols; i++) {
			if (strcmp(n->symbols[i], j->valuestring) == 0) {
				enc_varint(e, (int64_t)i);
				return IL_OK;
			}
		}
	}
	list[0] = '\0';
	for (i = 0; i < n->nsymbols; i++)
		msg_add(&m, "%s%s", i ? ", " : "", n->symbols[i]);
	return enc_fail(e, "expected one of %s (enum \"%s\"), got %s", list, n->name,
	    json_show(j, shown, sizeof(shown)));
}

/*
 * Reads the text form of a date (days) or of a timestamp-millis (ms); a
 * refusal names the form and, for text of the right shape, why it is no
 * real date or time ("got \"1990-02-30\" (no such day)").
 */
static il_err
enc_time_text(il_enc *e, il_logical logical, const cJSON *j, int64_t *x)
{
	char shown[IL_QUOTE_MAX + 16];
	const char *why;

	if (logical == IL_L_DATE)
		why = il_time_parse_date(j->valuestring, x);
	else
		why = il_time_parse_ms(j->valuestring, 0, x);
	if (why == NULL)
		return IL_OK;
	return enc_fail(e, "expected %s, got %s%s%s%s",
	    logical == IL_L_DATE ? "a date YYYY-MM-DD" : "a timestamp like 2026-11-21T10:00:00.000Z",
	    json_show(j, shown, sizeof(shown)), why[0] != '\0' ? " (" : "", why,
	    why[0] != '\0' ? ")" : "");
}

static il_err
enc_int(il_enc *e, const il_node *n, const cJSON *j)
{
	int64_t x;
	il_err err;

	if (n->logical == IL_L_DATE && cJSON_IsString(j))
		err = enc_time_text(e, n->logical, j, &x);
	else
		err = json_integer(e, j, INT32_MIN, INT32_MAX,
		    n->logical == IL_L_DATE ? "a date YYYY-MM-DD" : "an int", &x);
	if (err == IL_OK)
		enc_varint(e, x);
	return err;
}

static il_err
enc_long(il_enc *e, const il_node *n, const cJSON *j)
{
	int64_t x;
	il_err err;

	if (n->logical == IL_L_TIMESTAMP_MILLIS && cJSON_IsString(j))
		err = enc_time_text(e, n->logical, j, &x);
	else
		err = json_integer(e, j, cJSON_IsRaw(j) ? INT64_MIN : -IL_JSON_EXACT_MAX,
		    cJSON_IsRaw(j) ? INT64_MAX : IL_JSON_EXACT_MAX,
		    n->logical == IL_L_TIMESTAMP_MILLIS ?
		    "a timestamp like 2026-11-21T10:00:00.000Z or milliseconds" : "a long", &x);
	if (err == IL_OK)
		enc_varint(e, x);
	return err;
}

static il_err enc_value(il_enc *e, const il_node *n, const cJSON *j);

/*
 * Arrays and maps are written as avro-c writes them: one block of all the
 * items after their count, then the 0 that ends the value (an empty one is
 * the 0 alone).
 */
static il_err
enc_array(il_enc *e, const il_node *n, const cJSON *j)
{
	const cJSON *item;
	size_t i = 0;
	il_err err;
	int count;

	if (!cJSON_IsArray(j))
		return enc_fail(e, "expected an array, got %s", il_text_json_kind(j, false));
	count = cJSON_GetArraySize(j);
	if (count > 0)
		enc_varint(e, count);
	cJSON_ArrayForEach(item, j) {
		if (!path_push(&e->path, 'i', NULL, i))
			return enc_deep(e);
		err = enc_value(e, n->items, item);
		if (err != IL_OK)
			return err;
		path_pop(&e->path);
		i++;
	}
	enc_varint(e, 0);
	return IL_OK;
}

static il_err
enc_map(il_enc *e, const il_node *n, const cJSON *j)
{
	const cJSON *item, *prev;
	il_err err;
	size_t len;
	int count;

	if (!cJSON_IsObject(j))
		return enc_fail(e, "expected an object (map), got %s", il_text_json_kind(j, false));
	count = cJSON_GetArraySize(j);
	if (count > 0)
		enc_varint(e, count);
	cJSON_ArrayForEach(item, j) {
		if (!path_push(&e->path, 'k', item->string, 0))
			return enc_deep(e);
		len = strlen(item->string);
		err = check_utf8(e, item->string, len);
		if (err != IL_OK)
			return err;
		for (prev = j->child; prev != item; prev = prev->next) {
			if (strcmp(prev->string, item->string) == 0)
				return enc_fail(e, "key appears twice");
		}
		enc_counted(e, item->string, len);
		err = enc_value(e, n->items, item);
		if (err != IL_OK)
			return err;
		path_pop(&e->path);
	}
	enc_varint(e, 0);
	return IL_OK;
}

static long
field_index(const il_node *n, const char *name, size_t hint)
{
	size_t i, k;

	for (i = 0; i < n->nfields; i++) {
		k = hint + i < n->nfields ? hint + i : hint + i - n->nfields;
		if (strcmp(n->fields[k].name, name) == 0)
			return (long)k;
	}
	return -1;
}

/*
 * Where the body stood, to go back to.  Records are only met with a body
 * to write (a record default goes through set_default_record), so e->out
 * is never NULL below.
 */
typedef struct il_enc_mark {
	size_t len;             /* out->len */
	size_t size;            /* e->size */
	bool over;              /* e->over */
	int depth;              /* path depth */
} il_enc_mark;

static il_enc_mark
enc_mark(const il_enc *e)
{
	il_enc_mark m = { e->out->len, e->size, e->over, e->path.depth };

	return m;
}

static void
enc_rewind(il_enc *e, const il_enc_mark *m)
{
	e->out->len = m->len;
	e->size = m->size;
	e->over = m->over;
	e->path.depth = m->depth;
}

/* Writes field @p k of record @p n from its default; @returns IL_ERR_ENCODE when it has none. */
static il_err
enc_field_default(il_enc *e, const il_node *n, size_t k)
{
	il_err err;

	if (!path_push(&e->path, 'f', n->fields[k].name, 0))
		return enc_deep(e);
	if (n->fields[k].def == NULL)
		return enc_fail(e, "required field missing");
	err = set_default(e, n->fields[k].type, n->fields[k].def);
	if (err != IL_OK)
		return err;
	path_pop(&e->path);
	return IL_OK;
}

/*
 * The members in the order the producers write them, the schema's: each
 * field is written as its member comes, a skipped field from its default.
 * Sets @p again, having written nothing, when the members come in another
 * order or a skipped field cannot take its default: the general way below
 * then reports the first problem in the order the members come.
 */
static il_err
enc_record_in_order(il_enc *e, const il_node *n, const cJSON *j, unsigned char *seen,
    bool *again)
{
	il_enc_mark mark = enc_mark(e);
	size_t pos = 0, errsz = e->errsz;
	const cJSON *m;
	il_err err;
	long k;

	cJSON_ArrayForEach(m, j) {
		k = field_index(n, m->string, pos);
		if (k >= 0 && !seen[k]) {
			if ((size_t)k < pos)
				goto again;
			/* quietly: a default that fails here may not fail in the other order */
			e->errsz = 0;
			for (err = IL_OK; pos < (size_t)k && err == IL_OK; pos++)
				err = n->fields[pos].def != NULL ? enc_field_default(e, n, pos) :
				    IL_ERR_ENCODE;
			e->errsz = errsz;
			if (err != IL_OK)
				goto again;
		}
		if (!path_push(&e->path, 'f', m->string, 0))
			return enc_deep(e);
		/* an operator's typo must not vanish silently */
		if (k < 0)
			return enc_fail(e, "unknown field (record \"%s\" has no such field)", n->name);
		if (seen[k])
			return enc_fail(e, "field appears twice");
		seen[k] = 1;
		pos = (size_t)k + 1;
		err = enc_value(e, n->fields[k].type, m);
		if (err != IL_OK)
			return err;
		path_pop(&e->path);
	}
	for (; pos < n->nfields; pos++) {
		err = enc_field_default(e, n, pos);
		if (err != IL_OK)
			return err;
	}
	return IL_OK;
again:
	enc_rewind(e, &mark);
	*again = true;
	return IL_OK;
}

/*
 * Members in any order: each value is written where it comes, the missing
 * fields after them, and the pieces are then put in the schema's order.
 */
static il_err
enc_record_any_order(il_enc *e, const il_node *n, const cJSON *j, unsigned char *seen,
    size_t *span)
{
	size_t start = e->out->len, at, i;
	const cJSON *m;
	char *tmp;
	il_err err;
	long k;

	cJSON_ArrayForEach(m, j) {
		k = field_index(n, m->string, 0);
		if (!path_push(&e->path, 'f', m->string, 0))
			return enc_deep(e);
		if (k < 0)
			return enc_fail(e, "unknown field (record \"%s\" has no such field)", n->name);
		if (seen[k])
			return enc_fail(e, "field appears twice");
		seen[k] = 1;
		span[2 * k] = e->out->len;
		err = enc_value(e, n->fields[k].type, m);
		if (err != IL_OK)
			return err;
		span[2 * k + 1] = e->out->len;
		path_pop(&e->path);
	}
	for (i = 0; i < n->nfields; i++) {
		if (seen[i])
			continue;
		span[2 * i] = e->out->len;
		err = enc_field_default(e, n, i);
		if (err != IL_OK)
			return err;
		span[2 * i + 1] = e->out->len;
	}
	/* nothing to order when nothing was written: the body is only counted */
	if (e->over || e->out->len == start)
		return IL_OK;
	tmp = il_xmalloc(e->out->len - start);
	at = 0;
	for (i = 0; i < n->nfields; i++) {
		memcpy(tmp + at, e->out->data + span[2 * i], span[2 * i + 1] - span[2 * i]);
		at += span[2 * i + 1] - span[2 * i];
	}
	memcpy(e->out->data + start, tmp, at);
	free(tmp);
	return IL_OK;
}

static il_err
enc_record(il_enc *e, const il_node *n, const cJSON *j)
{
	unsigned char seen_small[64];
	size_t span_small[2 * 64];
	unsigned char *seen;
	bool again = false;
	size_t *span;
	il_err err;

	if (!cJSON_IsObject(j))
		return enc_fail(e, "expected an object (record \"%s\"), got %s", n->name,
		    il_text_json_kind(j, false));
	seen = n->nfields <= sizeof(seen_small) ? seen_small : il_xmalloc(n->nfields);
	memset(seen, 0, n->nfields);
	err = enc_record_in_order(e, n, j, seen, &again);
	if (again) {
		memset(seen, 0, n->nfields);
		span = n->nfields <= sizeof(seen_small) ? span_small :
		    il_xcalloc(n->nfields, 2 * sizeof(*span));
		err = enc_record_any_order(e, n, j, seen, span);
		if (span != span_small)
			free(span);
	}
	if (seen != seen_small)
		free(seen);
	return err;
}

/*
 * A union of null and one type is null or the bare value; any other union
 * takes Avro's JSON encoding, {"<type name>": value}, and null bare.
 */
static il_err
enc_union(il_enc *e, const il_node *n, const cJSON *j)
{
	const cJSON *inner;
	size_t i;

	if (cJSON_IsNull(j) && n->null_branch >= 0) {
		enc_varint(e, n->null_branch);
		return IL_OK;
	}
	if (n->value_branch >= 0) {
		enc_varint(e, n->value_branch);
		return enc_value(e, n->branches[n->value_branch], j);
	}
	inner = cJSON_IsObject(j) ? j->child : NULL;
	for (i = 0; inner != NULL && inner->next == NULL && i < n->nbranches; i++) {
		const il_node *b = n->branches[i];

		if (strcmp(inner->string, type_name(b)) != 0 &&
		    (b->name == NULL || strcmp(inner->string, b->name) != 0))
			continue;
		enc_varint(e, (int64_t)i);
		return enc_value(e, b, inner);
	}
	/* ["null"] alone is legal Avro: there is no other type to show. */
	if (n->nbranches == 1 && n->null_branch == 0)
		return enc_fail(e, "expected null, the only type of the union, got %s",
		    il_text_json_kind(j, false));
	return enc_fail(e, "expected %san object naming one type of the union, "
	    "like {\"%s\": ...}, got %s", n->null_branch >= 0 ? "null or " : "",
	    type_name(n->branches[n->null_branch == 0 ? 1 : 0]), il_text_json_kind(j, false));
}

static il_err
enc_value(il_enc *e, const il_node *n, const cJSON *j)
{
	char shown[IL_QUOTE_MAX + 16];
	unsigned char *p;

	switch (n->kind) {
	case IL_K_NULL:
		if (!cJSON_IsNull(j))
			return enc_fail(e, "expected null, got %s", json_show(j, shown, sizeof(shown)));
		return IL_OK;
	case IL_K_BOOLEAN:
		if (!cJSON_IsBool(j))
			return enc_fail(e, "expected a boolean, got %s",
			    json_show(j, shown, sizeof(shown)));
		p = enc_room(e, 1);
		if (p != NULL)
			*p = cJSON_IsTrue(j) ? 1 : 0;
		return IL_OK;
	case IL_K_INT:
		return enc_int(e, n, j);
	case IL_K_LONG:
		return enc_long(e, n, j);
	case IL_K_FLOAT:
	case IL_K_DOUBLE:
		if (!cJSON_IsNumber(j))
			return enc_fail(e, "expected a number, got %s",
			    json_show(j, shown, sizeof(shown)));
		enc_real(e, n, j->valuedouble);
		return IL_OK;
	case IL_K_STRING:
		return enc_string(e, j);
	case IL_K_BYTES:
	case IL_K_FIXED:
		return enc_bytes(e, n, j);
	case IL_K_ENUM:
		return enc_enum(e, n, j);
	case IL_K_ARRAY:
		return enc_array(e, n, j);
	case IL_K_MAP:
		return enc_map(e, n, j);
	case IL_K_RECORD:
		return enc_record(e, n, j);
	case IL_K_UNION:
		return enc_union(e, n, j);
	}
	return enc_fail(e, "unsupported type");
}

/*
 * Writes a field default, which follows Avro's own JSON encoding (a union's
 * default belongs to its first branch; logical types are their bare numbers;
 * a record default may omit fields that have defaults).  With e->out NULL it
 * only checks that the default fits the type.
 */
static il_err
set_default_record(il_enc *e, const il_node *n, const cJSON *def)
{
	const cJSON *m;
	size_t i;
	il_err err;

	if (!cJSON_IsObject(def))
		return enc_fail(e, "expected an object (record \"%s\"), got %s", n->name,
		    il_text_json_kind(def, false));
	for (i = 0; i < n->nfields; i++) {
		m = cJSON_GetObjectItemCaseSensitive(def, n->fields[i].name);
		if (!path_push(&e->path, 'f', n->fields[i].name, 0))
			return enc_deep(e);
		if (m == NULL)
			m = n->fields[i].def;
		if (m == NULL)
			return enc_fail(e, "required field missing");
		err = set_default(e, n->fields[i].type, m);
		if (err != IL_OK)
			return err;
		path_pop(&e->path);
	}
	return IL_OK;
}

/* @returns the first member of @p obj before @p item named as @p item, or NULL. */
static const cJSON *
member_before(const cJSON *obj, const cJSON *item)
{
	const cJSON *m;

	for (m = obj->child; m != item; m = m->next) {
		if (strcmp(m->string, item->string) == 0)
			return m;
	}
	return NULL;
}

/*
 * A map default naming a key twice holds it once, where it first comes,
 * with the value it last has: what avro-c made of it (each add of a known
 * key overwrote the value).
 */
static il_err
set_default_items(il_enc *e, const il_node *n, const cJSON *def)
{
	bool map = n->kind == IL_K_MAP;
	const cJSON *item, *last, *m;
	size_t i = 0;
	int count = 0;
	il_err err;

	if (map ? !cJSON_IsObject(def) : !cJSON_IsArray(def))
		return enc_fail(e, "expected %s, got %s", map ? "an object (map)" : "an array",
		    il_text_json_kind(def, false));
	cJSON_ArrayForEach(item, def) {
		if (!map || member_before(def, item) == NULL)
			count++;
	}
	if (count > 0)
		enc_varint(e, count);
	cJSON_ArrayForEach(item, def) {
		if (!path_push(&e->path, map ? 'k' : 'i', item->string, i++))
			return enc_deep(e);
		last = item;
		if (map && e->out != NULL) {
			if (member_before(def, item) != NULL) {
				path_pop(&e->path);
				continue;
			}
			for (m = item->next; m != NULL; m = m->next) {
				if (strcmp(m->string, item->string) == 0)
					last = m;
			}
			enc_counted(e, item->string, strlen(item->string));
		}
		err = set_default(e, n->items, last);
		if (err != IL_OK)
			return err;
		path_pop(&e->path);
	}
	enc_varint(e, 0);
	return IL_OK;
}

static il_err
set_default(il_enc *e, const il_node *n, const cJSON *def)
{
	unsigned char *p;
	il_err err;
	int64_t x;

	switch (n->kind) {
	case IL_K_INT:
		err = json_integer(e, def, INT32_MIN, INT32_MAX, "an int", &x);
		if (err == IL_OK)
			enc_varint(e, x);
		return err;
	case IL_K_LONG:
		err = json_integer(e, def, -IL_JSON_EXACT_MAX, IL_JSON_EXACT_MAX, "a long", &x);
		if (err == IL_OK)
			enc_varint(e, x);
		return err;
	case IL_K_UNION:
		enc_varint(e, 0);
		return set_default(e, n->branches[0], def);
	case IL_K_RECORD:
		return set_default_record(e, n, def);
	case IL_K_ARRAY:
	case IL_K_MAP:
		return set_default_items(e, n, def);
	case IL_K_NULL:
		if (!cJSON_IsNull(def))
			return enc_fail(e, "expected null, got %s", il_text_json_kind(def, false));
		return IL_OK;
	case IL_K_BOOLEAN:
		if (!cJSON_IsBool(def))
			return enc_fail(e, "expected a boolean, got %s", il_text_json_kind(def, false));
		p = enc_room(e, 1);
		if (p != NULL)
			*p = cJSON_IsTrue(def) ? 1 : 0;
		return IL_OK;
	case IL_K_FLOAT:
	case IL_K_DOUBLE:
		if (!cJSON_IsNumber(def))
			return enc_fail(e, "expected a number, got %s", il_text_json_kind(def, false));
		enc_real(e, n, def->valuedouble);
		return IL_OK;
	case IL_K_STRING:
		return enc_string(e, def);
	case IL_K_BYTES:
	case IL_K_FIXED:
		return enc_bytes(e, n, def);
	case IL_K_ENUM:
		return enc_enum(e, n, def);
	}
	return enc_fail(e, "unsupported type");
}

il_err
il_avro_encode_json(const il_schema *s, const cJSON *json, il_buf *out,
    char *errbuf, size_t errsz)
{
	size_t start = out->len;
	il_err err;
	il_enc e;

	path_init(&e.path, s->name);
	e.out = out;
	e.size = 0;
	e.over = false;
	e.errbuf = errbuf;
	e.errsz = errsz;
	err = enc_value(&e, s->root, json);
	if (err == IL_OK && e.over) {
		il_err_setf(errbuf, errsz, "encoded body of %zu bytes does not fit the output "
		    "buffer (at most %zu bytes)", e.size, out->max);
		err = IL_ERR_NOMEM;
	}
	if (err != IL_OK) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return err;
	}
	/* an empty body still leaves out allocated and terminated, as il_buf_add does */
	if (out->data == NULL)
		return il_buf_add(out, "", 0);
	out->data[out->len] = '\0';
	return IL_OK;
}

/* ------------------------------------------------ pre-walk of a body */

static il_err
walk_fail(il_walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static il_err
walk_fail(il_walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	path_vfail(&w->path, w->errbuf, w->errsz, fmt, ap);
	va_end(ap);
	return IL_ERR_DECODE_BODY;
}

static size_t
walk_off(const il_walk *w)
{
	return (size_t)(w->p - w->base);
}

static size_t
walk_left(const il_walk *w)
{
	return (size_t)(w->end - w->p);
}

/*
 * Reads a zig-zag varint as avro-c will: at most 10 bytes, and the tenth may
 * only carry the 64th bit.
 */
static il_err
walk_long(il_walk *w, const char *what, int64_t *out)
{
	size_t at = walk_off(w);
	uint64_t v = 0;
	unsigned char b;
	int shift = 0;

	do {
		if (w->p == w->end)
			return walk_fail(w, "body ends at offset %zu inside %s", walk_off(w), what);
		if (shift == 63 && (*w->p & 0xfe) != 0)
			return walk_fail(w, "%s at offset %zu is a varint beyond 64 bits", what, at);
		b = *w->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) != 0);
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return IL_OK;
}

/* Checks a string or bytes length and skips the content; strings must be UTF-8. */
static il_err
walk_bytes(il_walk *w, bool text)
{
	const char *what = text ? "string" : "bytes";
	size_t at, bad;
	int64_t len;
	il_err err;

	err = walk_long(w, text ? "a string length" : "a bytes length", &len);
	if (err != IL_OK)
		return err;
	at = walk_off(w);
	if (len < 0)
		return walk_fail(w, "%s length %" PRId64 " is negative at offset %zu", what, len,
		    at);
	if ((uint64_t)len > walk_left(w))
		return walk_fail(w, "%s length %" PRId64 " exceeds the %zu bytes left at offset %zu",
		    what, len, walk_left(w), at);
	if (text) {
		if (!il_text_utf8_valid((const char *)w->p, (size_t)len, &bad))
			return walk_fail(w, "string at offset %zu is not valid UTF-8 (byte 0x%02x at "
			    "offset %zu)", at, w->p[bad], at + bad);
		/* a NUL cannot be carried by the JSON form: refuse, never cut */
		if (memchr(w->p, 0, (size_t)len) != NULL)
			return walk_fail(w, "string at offset %zu contains a NUL byte", at);
	}
	w->p += len;
	return IL_OK;
}

static il_err walk_value(il_walk *w, const il_node *n);

/*
 * Walks the blocks of an array or map.  A block of N items needs at least
 * N times the smallest item; items that take no bytes are capped in number.
 */
static il_err
walk_blocks(il_walk *w, const il_node *n)
{
	bool map = n->kind == IL_K_MAP;
	const char *what = map ? "map" : "array";
	size_t item_min = map ? sat_add(1, n->items->min_size) : n->items->min_size;
	size_t total = 0, at, index = 0;
	int64_t count, bsize;
	const unsigned char *start;
	il_err err;

	for (;;) {
		at = walk_off(w);
		err = walk_long(w, map ? "a map block count" : "an array block count", &count);
		if (err != IL_OK)
			return err;
		if (count == 0)
			return IL_OK;
		bsize = -1;
		if (count < 0) {
			/* a negative count is followed by the block's size in bytes */
			if (count == INT64_MIN)
				return walk_fail(w, "%s block count at offset %zu is out of range", what,
				    at);
			count = -count;
			err = walk_long(w, "a block size", &bsize);
			if (err != IL_OK)
				return err;
			if (bsize < 0 || (uint64_t)bsize > walk_left(w))
				return walk_fail(w, "%s block size %" PRId64 " does not fit the %zu bytes "
				    "left at offset %zu", what, bsize, walk_left(w), walk_off(w));
		}
		if (item_min > 0 && (uint64_t)count > walk_left(w) / item_min)
			return walk_fail(w, "%s block of %" PRId64 " items exceeds the %zu bytes left "
			    "at offset %zu", what, count, walk_left(w), walk_off(w));
		if (item_min == 0 && (uint64_t)count > IL_AVRO_MAX_EMPTY_ITEMS - total)
			return walk_fail(w, "%s block of %" PRId64 " items at offset %zu exceeds the "
			    "limit of %d items of a type that takes no bytes", what, count, at,
			    IL_AVRO_MAX_EMPTY_ITEMS);
		total += (size_t)count;
		start = w->p;
		for (; count > 0; count--, index++) {
			if (!path_push(&w->path, map ? 'a' : 'i', NULL, index))
				return walk_fail(w, "values nest deeper than %d levels", IL_AVRO_MAX_DEPTH);
			if (map) {
				err = walk_bytes(w, true);
				if (err != IL_OK)
					return err;
			}
			err = walk_value(w, n->items);
			if (err != IL_OK)
				return err;
			path_pop(&w->path);
		}
		if (bsize >= 0 && (int64_t)(w->p - start) != bsize)
			return walk_fail(w, "%s block size %" PRId64 " does not match the %zu bytes of "
			    "its items at offset %zu", what, bsize, (size_t)(w->p - start),
			    (size_t)(start - w->base));
	}
}

static il_err
walk_fixed(il_walk *w, size_t size, const char *what)
{
	if (size > walk_left(w))
		return walk_fail(w, "body ends at offset %zu inside %s (%zu bytes, %zu left)",
		    walk_off(w), what, size, walk_left(w));
	w->p += size;
	return IL_OK;
}

static il_err
walk_value(il_walk *w, const il_node *n)
{
	size_t at = walk_off(w), i;
	int64_t x;
	il_err err;

	switch (n->kind) {
	case IL_K_NULL:
		return IL_OK;
	case IL_K_BOOLEAN:
		if (w->p == w->end)
			return walk_fail(w, "body ends at offset %zu inside a boolean", at);
		if (*w->p > 1)
			return walk_fail(w, "boolean byte 0x%02x at offset %zu is neither 0 nor 1",
			    *w->p, at);
		w->p++;
		return IL_OK;
	case IL_K_INT:
	case IL_K_LONG:
		err = walk_long(w, n->kind == IL_K_INT ? "an int" : "a long", &x);
		if (err == IL_OK && n->kind == IL_K_INT && (x < INT32_MIN || x > INT32_MAX))
			return walk_fail(w, "int %" PRId64 " at offset %zu is out of range", x, at);
		return err;
	case IL_K_FLOAT:
		return walk_fixed(w, 4, "a float");
	case IL_K_DOUBLE:
		return walk_fixed(w, 8, "a double");
	case IL_K_FIXED:
		return walk_fixed(w, n->fixed_size, "a fixed");
	case IL_K_STRING:
	case IL_K_BYTES:
		return walk_bytes(w, n->kind == IL_K_STRING);
	case IL_K_ENUM:
		err = walk_long(w, "an enum index", &x);
		if (err == IL_OK && (x < 0 || (uint64_t)x >= n->nsymbols))
			return walk_fail(w, "enum index %" PRId64 " at offset %zu is out of range for "
			    "\"%s\" (%zu symbols)", x, at, n->name, n->nsymbols);
		return err;
	case IL_K_UNION:
		err = walk_long(w, "a union branch index", &x);
		if (err == IL_OK && (x < 0 || (uint64_t)x >= n->nbranches))
			return walk_fail(w, "union branch index %" PRId64 " at offset %zu is out of "
			    "range (%zu branches)", x, at, n->nbranches);
		if (err != IL_OK)
			return err;
		return walk_value(w, n->branches[x]);
	case IL_K_ARRAY:
	case IL_K_MAP:
		return walk_blocks(w, n);
	case IL_K_RECORD:
		for (i = 0; i < n->nfields; i++) {
			if (!path_push(&w->path, 'f', n->fields[i].name, 0))
				return walk_fail(w, "values nest deeper than %d levels", IL_AVRO_MAX_DEPTH);
			err = walk_value(w, n->fields[i].type);
			if (err != IL_OK)
				return err;
			path_pop(&w->path);
		}
		return IL_OK;
	}
	return walk_fail(w, "unsupported type");
}

/* ------------------------------------------------- Avro value -> JSON form */

typedef struct il_dec {
	char *errbuf;
	size_t errsz;
} il_dec;

static cJSON *
dec_fail(il_dec *d)
{
	char why[256];

	copy_avro_error(why, sizeof(why));
	il_err_setf(d->errbuf, d->errsz, "avro-c could not read a value it decoded: %s", why);
	return NULL;
}

/* Longs beyond +-2^53 would lose digits in a JSON number: emit them as raw digits. */
static cJSON *
dec_long(int64_t x)
{
	char digits_buf[32];

	if (x >= -IL_JSON_EXACT_MAX && x <= IL_JSON_EXACT_MAX)
		return cJSON_CreateNumber((double)x);
	snprintf(digits_buf, sizeof(digits_buf), "%" PRId64, x);
	return cJSON_CreateRaw(digits_buf);
}

static cJSON *
dec_latin1(const unsigned char *p, size_t len)
{
	char *s = il_xmalloc(2 * len + 1), *o = s;
	cJSON *j;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x80) {
			*o++ = (char)p[i];
		} else {
			*o++ = (char)(0xc0 | (p[i] >> 6));
			*o++ = (char)(0x80 | (p[i] & 0x3f));
		}
	}
	*o = '\0';
	/* a NUL byte ends the JSON string; bytes are rare enough to accept that */
	j = cJSON_CreateString(s);
	free(s);
	return j;
}

static cJSON *dec_value(il_dec *d, const il_node *n, avro_value_t *v);

static cJSON *
dec_record(il_dec *d, const il_node *n, avro_value_t *v)
{
	cJSON *obj = cJSON_CreateObject(), *item;
	avro_value_t child;
	size_t i;

	for (i = 0; i < n->nfields; i++) {
		if (avro_value_get_by_index(v, i, &child, NULL) != 0) {
			cJSON_Delete(obj);
			return dec_fail(d);
		}
		item = dec_value(d, n->fields[i].type, &child);
		if (item == NULL) {
			cJSON_Delete(obj);
			return NULL;
		}
		cJSON_AddItemToObject(obj, n->fields[i].name, item);
	}
	return obj;
}

static cJSON *
dec_items(il_dec *d, const il_node *n, avro_value_t *v)
{
	cJSON *out = n->kind == IL_K_ARRAY ? cJSON_CreateArray() : cJSON_CreateObject();
	cJSON *item;
	avro_value_t child;
	const char *key;
	size_t count, i;

	if (avro_value_get_size(v, &count) != 0) {
		cJSON_Delete(out);
		return dec_fail(d);
	}
	for (i = 0; i < count; i++) {
		if (avro_value_get_by_index(v, i, &child, &key) != 0) {
			cJSON_Delete(out);
			return dec_fail(d);
		}
		item = dec_value(d, n->items, &child);
		if (item == NULL) {
			cJSON_Delete(out);
			return NULL;
		}
		if (n->kind == IL_K_ARRAY)
			cJSON_AddItemToArray(out, item);
		else
			cJSON_AddItemToObject(out, key, item);
	}
	return out;
}

static cJSON *
dec_union(il_dec *d, const il_node *n, avro_value_t *v)
{
	avro_value_t branch;
	cJSON *inner, *wrap;
	int disc;

	if (avro_value_get_discriminant(v, &disc) != 0 ||
	    avro_value_get_current_branch(v, &branch) != 0)
		return dec_fail(d);
	inner = dec_value(d, n->branches[disc], &branch);
	if (inner == NULL || disc == n->null_branch || n->value_branch >= 0)
		return inner;
	wrap = cJSON_CreateObject();
	cJSON_AddItemToObject(wrap, type_name(n->branches[disc]), inner);
	return wrap;
}

static cJSON *
dec_value(il_dec *d, const il_node *n, avro_value_t *v)
{
	char text[32];
	const void *buf;
	const char *str;
	size_t size;
	int32_t i32;
	int64_t i64;
	float f;
	double dbl;
	int b;

	switch (n->kind) {
	case IL_K_NULL:
		return cJSON_CreateNull();
	case IL_K_BOOLEAN:
		if (avro_value_get_boolean(v, &b) != 0)
			return dec_fail(d);
		return cJSON_CreateBool(b);
	case IL_K_INT:
		if (avro_value_get_int(v, &i32) != 0)
			return dec_fail(d);
		if (n->logical == IL_L_DATE && il_time_format_date(i32, text))
			return cJSON_CreateString(text);
		return cJSON_CreateNumber(i32);
	case IL_K_LONG:
		if (avro_value_get_long(v, &i64) != 0)
			return dec_fail(d);
		if (n->logical == IL_L_TIMESTAMP_MILLIS && il_time_format_ms(i64, text))
			return cJSON_CreateString(text);
		return dec_long(i64);
	case IL_K_FLOAT:
		if (avro_value_get_float(v, &f) != 0)
			return dec_fail(d);
		return cJSON_CreateNumber(f);
	case IL_K_DOUBLE:
		if (avro_value_get_double(v, &dbl) != 0)
			return dec_fail(d);
		return cJSON_CreateNumber(dbl);
	case IL_K_STRING:
		if (avro_value_get_string(v, &str, &size) != 0)
			return dec_fail(d);
		return cJSON_CreateString(str);
	case IL_K_BYTES:
	case IL_K_FIXED:
		if ((n->kind == IL_K_BYTES ? avro_value_get_bytes(v, &buf, &size) :
		    avro_value_get_fixed(v, &buf, &size)) != 0)
			return dec_fail(d);
		return dec_latin1(buf, size);
	case IL_K_ENUM:
		if (avro_value_get_enum(v, &b) != 0)
			return dec_fail(d);
		return cJSON_CreateString(n->symbols[b]);
	case IL_K_ARRAY:
	case IL_K_MAP:
		return dec_items(d, n, v);
	case IL_K_RECORD:
		return dec_record(d, n, v);
	case IL_K_UNION:
		return dec_union(d, n, v);
	}
	il_err_setf(d->errbuf, d->errsz, "unsupported type");
	return NULL;
}

il_err
il_avro_decode_json(const il_schema *writer, const void *body, size_t len,
    cJSON **json, char *errbuf, size_t errsz)
{
	il_cache tmp, *cache;
	il_walk w;
	il_dec d;
	il_err err;

	*json = NULL;
	if (body == NULL)
		body = "";
	w.base = body;
	w.p = body;
	w.end = w.base + len;
	w.errbuf = errbuf;
	w.errsz = errsz;
	path_init(&w.path, writer->name);
	/*
	 * Every length and count is checked here, before avro-c sees the
	 * bytes: avro-c allocates whatever a length prefix says, and a failed
	 * avro-c decode leaks 8 bytes in 1.11.1, so it must never fail.
	 */
	err = walk_value(&w, writer->root);
	if (err != IL_OK)
		return err;
	if (w.p != w.end) {
		il_err_setf(errbuf, errsz, "%zu bytes left after the body at offset %zu",
		    walk_left(&w), walk_off(&w));
		return IL_ERR_DECODE_TRAILING;
	}
	cache = cache_acquire(writer, &tmp, errbuf, errsz);
	if (cache == NULL)
		return IL_ERR_DECODE_BODY;
	avro_reader_memory_set_source(cache->reader, body, (int64_t)len);
	if (avro_value_read(cache->reader, &cache->value) != 0) {
		char why[256];

		copy_avro_error(why, sizeof(why));
		il_err_setf(errbuf, errsz, "avro-c could not decode the body: %s", why);
		err = IL_ERR_DECODE_BODY;
		goto done;
	}
	d.errbuf = errbuf;
	d.errsz = errsz;
	*json = dec_value(&d, writer->root, &cache->value);
	if (*json == NULL)
		err = IL_ERR_DECODE_BODY;
done:
	cache_release(writer, cache);
	return err;
}

/* ------------------------------------------------------ compatibility */

/* A reader record field the writer lacks (dropped) or names differently (renamed). */
typedef struct il_fix {
	const cJSON *record;    /* the reader record's definition */
	size_t field;           /* index of the field in it */
	const char *rename;     /* writer's name for the field; NULL: drop it */
} il_fix;

typedef struct il_pair {
	const il_node *r, *w;
} il_pair;

typedef struct il_compat {
	il_path path;
	char msg[512];          /* reason of the last refusal */
	il_fix *fixes;          /* reader fields avro-c cannot resolve alone */
	size_t nfixes, fixcap;
	il_pair *stack;         /* record pairs being checked (recursion guard) */
	size_t nstack, stackcap;
} il_compat;

static int
compat_fail(il_compat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
compat_fail(il_compat *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	path_vfail(&c->path, c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static bool
alias_has(const cJSON *aliases, const char *name)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, aliases) {
		if (cJSON_IsString(a) && strcmp(a->valuestring, name) == 0)
			return true;
	}
	return false;
}

static bool
names_match(const il_node *r, const il_node *w)
{
	return strcmp(r->name, w->name) == 0 || alias_has(r->aliases, w->fullname);
}

static int compat(il_compat *c, const il_node *r, const il_node *w);

static void
compat_fix(il_compat *c, const il_node *r, size_t field, const char *rename)
{
	if (c->nfixes == c->fixcap) {
		c->fixcap = c->fixcap ? 2 * c->fixcap : 8;
		c->fixes = il_xrealloc(c->fixes, c->fixcap * sizeof(*c->fixes));
	}
	c->fixes[c->nfixes].record = r->def;
	c->fixes[c->nfixes].field = field;
	c->fixes[c->nfixes].rename = rename;
	c->nfixes++;
}

static const il_field *
writer_field(const il_node *w, const il_field *rf)
{
	size_t i;

	for (i = 0; i < w->nfields; i++) {
		if (strcmp(w->fields[i].name, rf->name) == 0)
			return &w->fields[i];
	}
	for (i = 0; i < w->nfields; i++) {
		if (alias_has(rf->aliases, w->fields[i].name))
			return &w->fields[i];
	}
	return NULL;
}

static int
compat_record(il_compat *c, const il_node *r, const il_node *w)
{
	const il_field *wf;
	size_t i;
	int rc = 0;

	for (i = 0; i < c->nstack; i++) {
		/* already being checked further up: assume it holds */
		if (c->stack[i].r == r && c->stack[i].w == w)
			return 0;
	}
	if (c->nstack == c->stackcap) {
		c->stackcap = c->stackcap ? 2 * c->stackcap : 8;
		c->stack = il_xrealloc(c->stack, c->stackcap * sizeof(*c->stack));
	}
	c->stack[c->nstack].r = r;
	c->stack[c->nstack].w = w;
	c->nstack++;
	for (i = 0; i < r->nfields && rc == 0; i++) {
		const il_field *rf = &r->fields[i];

		if (!path_push(&c->path, 'f', rf->name, 0)) {
			rc = compat_fail(c, "types nest deeper than %d levels", IL_AVRO_MAX_DEPTH);
			break;
		}
		wf = writer_field(w, rf);
		if (wf == NULL && rf->def == NULL)
			rc = compat_fail(c, "field is new in the reader and has no default, so "
			    "data written without it cannot be read");
		else if (wf == NULL)
			compat_fix(c, r, i, NULL);
		else if (strcmp(wf->name, rf->name) != 0)
			compat_fix(c, r, i, wf->name);
		if (rc == 0 && wf != NULL)
			rc = compat(c, rf->type, wf->type);
		path_pop(&c->path);
	}
	c->nstack--;
	return rc;
}

static int
compat_enum(il_compat *c, const il_node *r, const il_node *w)
{
	size_t i, k;

	if (r->enum_default != NULL)
		return 0;
	for (i = 0; i < w->nsymbols; i++) {
		for (k = 0; k < r->nsymbols; k++) {
			if (strcmp(r->symbols[k], w->symbols[i]) == 0)
				break;
		}
		if (k == r->nsymbols)
			return compat_fail(c, "enum \"%s\" lacks the writer's symbol \"%s\" and has "
			    "no default", r->name, w->symbols[i]);
	}
	return 0;
}

/* @returns whether a value of the writer's primitive type may be read as the reader's. */
static bool
promotes(il_kind w, il_kind r)
{
	switch (w) {
	case IL_K_INT:
		return r == IL_K_LONG || r == IL_K_FLOAT || r == IL_K_DOUBLE;
	case IL_K_LONG:
		return r == IL_K_FLOAT || r == IL_K_DOUBLE;
	case IL_K_FLOAT:
		return r == IL_K_DOUBLE;
	case IL_K_STRING:
		return r == IL_K_BYTES;
	case IL_K_BYTES:
		return r == IL_K_STRING;
	default:
		return false;
	}
}

/*
 * Tries each reader branch; a failed try leaves no trace.  When a branch of
 * the writer's own type and name exists, its refusal is the one reported:
 * it names the field that broke, where "no branch fits" would not.
 */
static int
compat_reader_union(il_compat *c, const il_node *r, const il_node *w)
{
	size_t i, nfixes = c->nfixes;
	char best_msg[sizeof(c->msg)];
	bool have_best = false;

	for (i = 0; i < r->nbranches; i++) {
		const il_node *b = r->branches[i];
		bool same = b->kind == w->kind && (b->fullname == NULL || names_match(b, w));

		if (compat(c, b, w) == 0)
			return 0;
		c->nfixes = nfixes;
		if (same && !have_best) {
			memcpy(best_msg, c->msg, sizeof(best_msg));
			have_best = true;
		}
	}
	if (have_best) {
		memcpy(c->msg, best_msg, sizeof(c->msg));
		return -1;
	}
	return compat_fail(c, "no type of the reader's union can read the writer's %s",
	    type_name(w));
}

static int
compat(il_compat *c, const il_node *r, const il_node *w)
{
	size_t i;
	int rc;

	if (w->kind == IL_K_UNION) {
		/* every branch the writer may have written must be readable */
		for (i = 0; i < w->nbranches; i++) {
			if ((r->kind == IL_K_UNION ? compat_reader_union(c, r, w->branches[i]) :
			    compat(c, r, w->branches[i])) != 0)
				return -1;
		}
		return 0;
	}
	if (r->kind == IL_K_UNION)
		return compat_reader_union(c, r, w);
	if (r->kind != w->kind) {
		if (promotes(w->kind, r->kind))
			return 0;
		return compat_fail(c, "the reader's %s cannot read the writer's %s", type_name(r),
		    type_name(w));
	}
	switch (r->kind) {
	case IL_K_RECORD:
	case IL_K_ENUM:
	case IL_K_FIXED:
		if (!names_match(r, w))
			return compat_fail(c, "the reader's %s \"%s\" does not match the writer's "
			    "\"%s\"", kind_name(r), r->fullname, w->fullname);
		if (r->kind == IL_K_FIXED && r->fixed_size != w->fixed_size)
			return compat_fail(c, "fixed \"%s\" is %zu bytes in the reader and %zu in the "
			    "writer", r->name, r->fixed_size, w->fixed_size);
		if (r->kind == IL_K_ENUM)
			return compat_enum(c, r, w);
		return r->kind == IL_K_RECORD ? compat_record(c, r, w) : 0;
	case IL_K_ARRAY:
	case IL_K_MAP:
		if (!path_push(&c->path, 'a', NULL, 0))
			return compat_fail(c, "types nest deeper than %d levels", IL_AVRO_MAX_DEPTH);
		rc = compat(c, r->items, w->items);
		path_pop(&c->path);
		return rc;
	default:
		return 0;
	}
}

/* Finds in @p copy the item at the same place as @p target in @p orig. */
static cJSON *
twin(const cJSON *orig, cJSON *copy, const cJSON *target)
{
	const cJSON *o;
	cJSON *k, *found;

	if (orig == target)
		return copy;
	for (o = orig->child, k = copy->child; o != NULL && k != NULL; o = o->next, k = k->next) {
		found = twin(o, k, target);
		if (found != NULL)
			return found;
	}
	return NULL;
}

static int
fix_order(const void *a, const void *b)
{
	const il_fix *x = a, *y = b;

	if (x->record != y->record)
		return (uintptr_t)x->record < (uintptr_t)y->record ? -1 : 1;
	return (x->field < y->field) - (x->field > y->field);
}

/*
 * avro-c's resolver knows no defaults and no field aliases, so it is asked
 * about a copy of the reader without the fields the writer lacks (the reader
 * fills those from their defaults) and with renamed fields under the
 * writer's names.  What it still refuses is refused: a change the C library
 * cannot resolve is not worth making, even where Avro allows it (1.11.1
 * refuses the string <-> bytes promotion and record aliases).
 */
static il_err
compat_avro_c(const il_schema *writer, const il_schema *reader, il_compat *c,
    char *errbuf, size_t errsz)
{
	cJSON *copy = cJSON_Duplicate(reader->json, 1);
	avro_schema_t projected = NULL;
	avro_value_iface_t *iface;
	il_err err = IL_OK;
	char why[512];
	char *text = NULL;
	size_t i;

	/*
	 * Per record, highest field first, so removing one field leaves the
	 * indexes of the others valid; a field met twice is fixed once.
	 */
	if (c->nfixes > 1)
		qsort(c->fixes, c->nfixes, sizeof(*c->fixes), fix_order);
	for (i = 0; i < c->nfixes; i++) {
		const il_fix *fix = &c->fixes[i];
		cJSON *rec, *fields;

		if (i > 0 && fix->record == fix[-1].record && fix->field == fix[-1].field)
			continue;
		rec = twin(reader->json, copy, fix->record);
		fields = cJSON_GetObjectItemCaseSensitive(rec, "fields");

		if (fix->rename == NULL)
			cJSON_DeleteItemFromArray(fields, (int)fix->field);
		else
			cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(fields,
			    (int)fix->field), "name", cJSON_CreateString(fix->rename));
	}
	text = cJSON_PrintUnformatted(copy);
	if (text == NULL || avro_schema_from_json_length(text, strlen(text), &projected) != 0) {
		copy_avro_error(why, sizeof(why));
		il_err_setf(errbuf, errsz, "avro-c cannot parse the reader schema without its new "
		    "fields: %s", why);
		err = IL_ERR_PERMANENT;
		goto done;
	}
	iface = avro_resolved_writer_new(writer->avro, projected);
	if (iface != NULL) {
		avro_value_iface_decref(iface);
		iface = avro_resolved_reader_new(writer->avro, projected);
	}
	if (iface == NULL) {
		copy_avro_error(why, sizeof(why));
		il_err_setf(errbuf, errsz, "avro-c schema resolution refuses %s: %s",
		    reader->name, why);
		err = IL_ERR_PERMANENT;
		goto done;
	}
	avro_value_iface_decref(iface);
done:
	if (projected != NULL)
		avro_schema_decref(projected);
	free(text);
	cJSON_Delete(copy);
	return err;
}

il_err
il_schema_check_backward(const il_schema *writer, const il_schema *reader,
    char *errbuf, size_t errsz)
{
	il_compat c;
	il_err err = IL_OK;

	memset(&c, 0, sizeof(c));
	/* a refusal must say which schema it is about, not only which field */
	path_init(&c.path, reader->name);
	c.path.show_root = true;
	if (compat(&c, reader->root, writer->root) != 0) {
		il_err_setf(errbuf, errsz, "%s", c.msg);
		err = IL_ERR_PERMANENT;
		goto done;
	}
	err = compat_avro_c(writer, reader, &c, errbuf, errsz);
done:
	free(c.fixes);
	free(c.stack);
	return err;
}

/* ------------------------------------------------------------ wire format */

void
il_wire_header(int32_t schema_id, unsigned char out[IL_WIRE_HEADER_LEN])
{
	uint32_t id = (uint32_t)schema_id;

	out[0] = IL_WIRE_MAGIC;
	out[1] = (unsigned char)(id >> 24);
	out[2] = (unsigned char)(id >> 16);
	out[3] = (unsigned char)(id >> 8);
	out[4] = (unsigned char)id;
}

il_err
il_wire_parse(const void *msg, size_t len, size_t max_len, int32_t *schema_id,
    const void **body, size_t *body_len, char *errbuf, size_t errsz)
{
	const unsigned char *p = msg;

	if (len < IL_WIRE_HEADER_LEN) {
		il_err_setf(errbuf, errsz, "message of %zu bytes is shorter than the %d-byte wire header",
		    len, IL_WIRE_HEADER_LEN);
		return IL_ERR_DECODE_SHORT;
	}
	if (p[0] != IL_WIRE_MAGIC) {
		il_err_setf(errbuf, errsz, "wrong magic byte 0x%02x, expected 0x00: not a Schema "
		    "Registry wire-format message%s", p[0], p[0] == '{' ? " (JSON text?)" : "");
		return IL_ERR_DECODE_MAGIC;
	}
	if (len > max_len) {
		il_err_setf(errbuf, errsz, "message of %zu bytes exceeds the limit of %zu bytes", len,
		    max_len);
		return IL_ERR_DECODE_TOOBIG;
	}
	*schema_id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
	    ((uint32_t)p[3] << 8) | (uint32_t)p[4]);
	*body = p + IL_WIRE_HEADER_LEN;
	*body_len = len - IL_WIRE_HEADER_LEN;
	return IL_OK;
}
