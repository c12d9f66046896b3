#!/usr/bin/env python3
"""A small Confluent-compatible Schema Registry, for the tests only.

Why it exists: imislink's producers and workers talk to a Confluent Schema
Registry (or Karapace, which speaks the same REST API).  Neither can be
installed here: Confluent's registry is not on Maven Central, Karapace is not
on PyPI.  So the test harness runs this stand-in instead.  It serves the same
REST API, with the same status codes, error codes and content type, as
recorded in shared/contracts/kafka.md, keeps everything in memory, and checks
compatibility with Avro's schema resolution rules.  It is never part of the
product; production points SCHEMA_REGISTRY_URL at a real registry.

API served (content type application/vnd.schemaregistry.v1+json):
  POST /subjects/{s}/versions                  {"schema": "..."} -> {"id": N}
  POST /subjects/{s}                           look a schema up in a subject
  GET  /schemas/ids/{id}                       -> {"schema": "..."}
  GET  /subjects                               -> ["s", ...]
  GET  /subjects/{s}/versions                  -> [1, 2, ...]
  GET  /subjects/{s}/versions/{v|latest}       -> {subject, version, id, schema}
  GET  /subjects/{s}/versions/{v|latest}/schema -> the schema itself
  POST /compatibility/subjects/{s}/versions/{v|latest} -> {"is_compatible": b}
  GET|PUT /config, GET|PUT /config/{s}         compatibility level
Errors: {"error_code": N, "message": "..."}: 40401 subject not found, 40402
version not found, 40403 schema not found, 40408 no subject config, 409
incompatible schema, 42201 invalid schema, 42202 invalid version, 42203
invalid compatibility level, 500 otherwise.

Usage: schema_registry.py [--host 127.0.0.1] [--port 0] [--port-file FILE]
With --port 0 the kernel picks a free port; the port actually bound is
written to FILE (atomically) once the server accepts connections, which is
how tests/harness/registry.sh learns it without any race.
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit, parse_qs

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD",
          "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")
PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes",
              "string")
# Avro's promotions: writer type -> reader types that can read it.
PROMOTIONS = {
    "int": ("long", "float", "double"),
    "long": ("float", "double"),
    "float": ("double",),
    "string": ("bytes",),
    "bytes": ("string",),
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RegistryError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SchemaParseError(Exception):
    pass


# --------------------------------------------------------------------------
# Avro schema parsing: turn the JSON into a graph of dicts in which named
# types are shared objects (so recursive types terminate) and every name is
# a full name.

class Named(dict):
    """A record, enum or fixed; hashable by identity for the recursion memo."""
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other


def full_name(name, namespace):
    if "." in name:
        return name
    return "%s.%s" % (namespace, name) if namespace else name


def check_name(name, what):
    if not isinstance(name, str):
        raise SchemaParseError("%s name must be a string" % what)
    parts = name.split(".")
    if not all(NAME_RE.match(p) for p in parts):
        raise SchemaParseError("invalid %s name \"%s\"" % (what, name))


def parse_schema(text):
    try:
        js = json.loads(text)
    except (ValueError, TypeError) as e:
        raise SchemaParseError("invalid JSON: %s" % e)
    return parse_node(js, None, {})


def parse_node(js, namespace, names):
    if isinstance(js, str):
        if js in PRIMITIVES:
            return {"type": js}
        fn = full_name(js, namespace)
        if fn in names:
            return names[fn]
        if js in names:
            return names[js]
        raise SchemaParseError("unknown type \"%s\"" % js)
    if isinstance(js, list):
        branches = [parse_node(b, namespace, names) for b in js]
        seen = set()
        for b in branches:
            if b["type"] == "union":
                raise SchemaParseError("a union cannot contain a union")
            key = b.get("name", b["type"])
            if key in seen:
                raise SchemaParseError("duplicate \"%s\" in union" % key)
            seen.add(key)
        return {"type": "union", "branches": branches}
    if not isinstance(js, dict):
        raise SchemaParseError("a schema must be a string, array or object")
    t = js.get("type")
    if isinstance(t, (list, dict)):
        return parse_node(t, namespace, names)
    if t in PRIMITIVES:
        return {"type": t}
    if t in ("record", "error", "enum", "fixed"):
        return parse_named(js, t, namespace, names)
    if t == "array":
        if "items" not in js:
            raise SchemaParseError("array without \"items\"")
        return {"type": "array", "items": parse_node(js["items"], namespace, names)}
    if t == "map":
        if "values" not in js:
            raise SchemaParseError("map without \"values\"")
        return {"type": "map", "values": parse_node(js["values"], namespace, names)}
    if isinstance(t, str):
        return parse_node(t, namespace, names)
    raise SchemaParseError("missing or invalid \"type\"")


def parse_named(js, t, namespace, names):
    name = js.get("name")
    check_name(name, t)
    ns = js.get("namespace", namespace)
    if ns is not None and not isinstance(ns, str):
        raise SchemaParseError("namespace of \"%s\" must be a string" % name)
    if "." in name:
        ns = name.rsplit(".", 1)[0]
    fn = full_name(name, ns)
    if fn in names:
        raise SchemaParseError("type \"%s\" is defined twice" % fn)
    node = Named(type="record" if t == "error" else t, name=fn,
                 short=fn.rsplit(".", 1)[-1],
                 aliases=[full_name(a, ns) for a in js.get("aliases", [])])
    names[fn] = node
    if t in ("record", "error"):
        fields = js.get("fields")
        if not isinstance(fields, list):
            raise SchemaParseError("record \"%s\" without \"fields\"" % fn)
        node["fields"] = []
        seen = set()
        for f in fields:
            if not isinstance(f, dict) or "type" not in f:
                raise SchemaParseError("invalid field in record \"%s\"" % fn)
            check_name(f.get("name"), "field")
            if f["name"] in seen:
                raise SchemaParseError("duplicate field \"%s\" in \"%s\"" % (f["name"], fn))
            seen.add(f["name"])
            node["fields"].append({
                "name": f["name"],
                "type": parse_node(f["type"], ns, names),
                "has_default": "default" in f,
                "aliases": list(f.get("aliases", [])),
            })
    elif t == "enum":
        symbols = js.get("symbols")
        if not isinstance(symbols, list) or not all(
                isinstance(s, str) and NAME_RE.match(s) for s in symbols):
            raise SchemaParseError("enum \"%s\" needs a list of valid symbols" % fn)
        if len(set(symbols)) != len(symbols):
            raise SchemaParseError("enum \"%s\" has duplicate symbols" % fn)
        node["symbols"] = symbols
        node["default"] = js.get("default")
        if node["default"] is not None and node["default"] not in symbols:
            raise SchemaParseError("default of enum \"%s\" is not a symbol" % fn)
    else:
        size = js.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise SchemaParseError("fixed \"%s\" needs a non-negative size" % fn)
        node["size"] = size
    return node


# --------------------------------------------------------------------------
# Avro schema resolution: can a reader with schema R read data written with
# schema W?  Follows the Avro specification ("Schema Resolution") and the
# checks of Avro Java's SchemaCompatibility, which Confluent's registry uses.

def describe(node):
    return node.get("name", node["type"])


def names_match(reader, writer):
    return (reader["short"] == writer["short"] or reader["name"] == writer["name"]
            or writer["name"] in reader["aliases"])


def can_read(reader, writer, path, memo):
    """Return a list of incompatibility messages (empty when compatible)."""
    key = (id(reader), id(writer))
    if key in memo:
        # Assume compatible while the pair is being checked: recursive types.
        return []
    memo.add(key)
    rt, wt = reader["type"], writer["type"]

    if wt == "union":
        errors = []
        for i, branch in enumerate(writer["branches"]):
            errors += can_read(reader, branch, "%s/%d" % (path, i), memo)
        return errors
    if rt == "union":
        for branch in reader["branches"]:
            if not can_read(branch, writer, path, set(memo)):
                return []
        return ["type \"%s\" at \"%s\" in the old schema is not in the union "
                "of the new schema" % (describe(writer), path or "/")]
    if rt != wt:
        if rt in PROMOTIONS.get(wt, ()):
            return []
        return ["type at \"%s\" changed from \"%s\" to \"%s\", which cannot be "
                "promoted" % (path or "/", describe(writer), describe(reader))]
    if rt in PRIMITIVES:
        return []
    if rt == "array":
        return can_read(reader["items"], writer["items"], path + "/items", memo)
    if rt == "map":
        return can_read(reader["values"], writer["values"], path + "/values", memo)
    if not names_match(reader, writer):
        return ["name at \"%s\" changed from \"%s\" to \"%s\"" % (
            path or "/", writer["name"], reader["name"])]
    if rt == "fixed":
        if reader["size"] != writer["size"]:
            return ["size of fixed \"%s\" at \"%s\" changed from %d to %d" % (
                reader["name"], path or "/", writer["size"], reader["size"])]
        return []
    if rt == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and reader["default"] is None:
            return ["enum \"%s\" at \"%s\" in the new schema is missing symbols "
                    "%s and has no default" % (reader["name"], path or "/",
                                                ", ".join(missing))]
        return []
    # record
    errors = []
    wfields = {f["name"]: f for f in writer["fields"]}
    for i, rf in enumerate(reader["fields"]):
        wf = wfields.get(rf["name"])
        if wf is None:
            for alias in rf["aliases"]:
                wf = wfields.get(alias)
                if wf is not None:
                    break
        fpath = "%s/fields/%d" % (path, i)
        if wf is None:
            if not rf["has_default"]:
                errors.append("field \"%s\" at \"%s\" in the new schema has no "
                              "default value and is missing in the old schema"
                              % (rf["name"], fpath))
            continue
        errors += can_read(rf["type"], wf["type"], fpath + "/type", memo)
    return errors


def compatibility_errors(level, new, olds):
    """olds: parsed earlier schemas, oldest first."""
    if level == "NONE" or not olds:
        return []
    against = olds if level.endswith("_TRANSITIVE") else olds[-1:]
    errors = []
    for old in against:
        if level.startswith(("BACKWARD", "FULL")):
            errors += can_read(new, old, "", set())
        if level.startswith(("FORWARD", "FULL")):
            errors += can_read(old, new, "", set())
    return errors


def canonical(text):
    """The key under which equal schemas share one id: parsed JSON, sorted."""
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------
# The registry state.  One lock: requests are few and small.

class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = []          # id - 1 -> schema text as first registered
        self.parsed = []           # id - 1 -> parsed schema
        self.by_canonical = {}     # canonical text -> id
        self.subjects = {}         # subject -> [id of version 1, 2, ...]
        self.global_level = "BACKWARD"
        self.subject_level = {}

    def level(self, subject):
        return self.subject_level.get(subject, self.global_level)

    def parse(self, text):
        if not isinstance(text, str):
            raise RegistryError(422, 42201, "Invalid schema: \"schema\" must be a string")
        try:
            parsed = parse_schema(text)
            key = canonical(text)
        except (SchemaParseError, ValueError, RecursionError) as e:
            raise RegistryError(422, 42201, "Invalid schema: %s" % e)
        return parsed, key

    def register(self, subject, text):
        parsed, key = self.parse(text)
        with self.lock:
            versions = self.subjects.get(subject, [])
            sid = self.by_canonical.get(key)
            if sid is not None and sid in versions:
                return sid
            olds = [self.parsed[i - 1] for i in versions]
            errors = compatibility_errors(self.level(subject), parsed, olds)
            if errors:
                raise RegistryError(
                    409, 409,
                    "Schema being registered is incompatible with an earlier "
                    "schema for subject \"%s\", details: [%s]"
                    % (subject, "; ".join(errors)))
            if sid is None:
                self.schemas.append(text)
                self.parsed.append(parsed)
                sid = len(self.schemas)
                self.by_canonical[key] = sid
            self.subjects.setdefault(subject, []).append(sid)
            return sid

    def versions(self, subject):
        versions = self.subjects.get(subject)
        if not versions:
            raise RegistryError(404, 40401, "Subject '%s' not found." % subject)
        return versions

    def version(self, subject, ver):
        versions = self.versions(subject)
        if ver == "latest" or ver == "-1":
            n = len(versions)
        else:
            try:
                n = int(ver)
            except ValueError:
                n = 0
            if n <= 0:
                raise RegistryError(
                    422, 42202, "The specified version '%s' is not a valid "
                    "version id. Allowed values are between [1, 2^31-1] and "
                    "the string \"latest\"" % ver)
            if n > len(versions):
                raise RegistryError(404, 40402, "Version %d not found." % n)
        sid = versions[n - 1]
        return {"subject": subject, "version": n, "id": sid,
                "schema": self.schemas[sid - 1]}

    def schema(self, sid):
        try:
            n = int(sid)
        except ValueError:
            n = 0
        if n <= 0 or n > len(self.schemas):
            raise RegistryError(404, 40403, "Schema %s not found" % sid)
        return self.schemas[n - 1]

    def lookup(self, subject, text):
        _, key = self.parse(text)
        versions = self.versions(subject)
        sid = self.by_canonical.get(key)
        if sid is None or sid not in versions:
            raise RegistryError(404, 40403, "Schema not found")
        return {"subject": subject, "version": versions.index(sid) + 1,
                "id": sid, "schema": self.schemas[sid - 1]}

    def check(self, subject, ver, text):
        parsed, _ = self.parse(text)
        with self.lock:
            if not self.subjects.get(subject) and ver in (None, "latest", "-1"):
                # Confluent 7.x: nothing registered, nothing to break.
                return []
            if ver is None:
                olds = [self.parsed[i - 1] for i in self.versions(subject)]
                level = self.level(subject)
            else:
                old = self.version(subject, ver)
                olds = [self.parsed[old["id"] - 1]]
                level = self.level(subject).replace("_TRANSITIVE", "")
            return compatibility_errors(level, parsed, olds)


def parse_level(body):
    level = body.get("compatibility") if isinstance(body, dict) else None
    if not isinstance(level, str) or level.upper() not in LEVELS:
        raise RegistryError(422, 42203, "Invalid compatibility level. Valid "
                            "values are %s" % ", ".join(LEVELS))
    return level.upper()


# --------------------------------------------------------------------------
# HTTP

class Handler(BaseHTTPRequestHandler):
    server_version = "imislink-test-schema-registry/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise RegistryError(400, 400, "Unexpected character in request body")

    def schema_text(self):
        body = self.body()
        if not isinstance(body, dict) or "schema" not in body:
            raise RegistryError(422, 42201, "Invalid schema: the request has no \"schema\"")
        stype = body.get("schemaType", "AVRO")
        if stype != "AVRO":
            raise RegistryError(422, 42201, "Invalid schema: schemaType \"%s\" "
                                "is not supported by this test registry" % stype)
        return body["schema"]

    def dispatch(self, method):
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        reg = self.server.registry
        n = len(parts)
        # Route table, most specific first.
        if method == "GET" and parts == ["subjects"]:
            with reg.lock:
                return 200, sorted(reg.subjects)
        if parts[:1] == ["subjects"] and n >= 2:
            subject = parts[1]
            if method == "POST" and n == 3 and parts[2] == "versions":
                return 200, {"id": reg.register(subject, self.schema_text())}
            if method == "POST" and n == 2:
                text = self.schema_text()
                with reg.lock:
                    return 200, reg.lookup(subject, text)
            if method == "GET" and n == 3 and parts[2] == "versions":
                with reg.lock:
                    return 200, list(range(1, len(reg.versions(subject)) + 1))
            if method == "GET" and n == 4 and parts[2] == "versions":
                with reg.lock:
                    return 200, reg.version(subject, parts[3])
            if method == "GET" and n == 5 and parts[2] == "versions" and parts[4] == "schema":
                with reg.lock:
                    return 200, json.loads(reg.version(subject, parts[3])["schema"])
        if method == "GET" and n == 3 and parts[:2] == ["schemas", "ids"]:
            with reg.lock:
                return 200, {"schema": reg.schema(parts[2])}
        if (method == "POST" and parts[:1] == ["compatibility"] and n in (4, 5)
                and parts[1] == "subjects" and parts[3] == "versions"):
            errors = reg.check(parts[2], parts[4] if n == 5 else None, self.schema_text())
            result = {"is_compatible": not errors}
            if query.get("verbose", ["false"])[0].lower() == "true":
                result["messages"] = errors
            return 200, result
        if parts[:1] == ["config"] and n in (1, 2):
            if method == "GET" and n == 1:
                return 200, {"compatibilityLevel": reg.global_level}
            if method == "GET":
                with reg.lock:
                    level = reg.subject_level.get(parts[1])
                    if level is None and query.get("defaultToGlobal", ["false"])[0] == "true":
                        level = reg.global_level
                if level is None:
                    raise RegistryError(404, 40408, "Subject '%s' does not have "
                                        "subject-level compatibility configured" % parts[1])
                return 200, {"compatibilityLevel": level}
            if method == "PUT":
                level = parse_level(self.body())
                with reg.lock:
                    if n == 1:
                        reg.global_level = level
                    else:
                        reg.subject_level[parts[1]] = level
                return 200, {"compatibility": level}
        if method == "GET" and parts == []:
            return 200, {}
        raise RegistryError(404, 404, "HTTP 404 Not Found")

    def handle_method(self, method):
        try:
            status, obj = self.dispatch(method)
        except RegistryError as e:
            status, obj = e.status, {"error_code": e.code, "message": e.message}
        except Exception as e:  # a test registry must answer, never hang
            status, obj = 500, {"error_code": 500, "message": "internal error: %r" % e}
        self.reply(status, obj)

    def do_GET(self):
        self.handle_method("GET")

    def do_POST(self):
        self.handle_method("POST")

    def do_PUT(self):
        self.handle_method("PUT")

    def do_DELETE(self):
        self.handle_method("DELETE")


def main():
    ap = argparse.ArgumentParser(description="Confluent-compatible Schema "
                                 "Registry stand-in for tests (in memory)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    args = ap.parse_args()

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.registry = Registry()
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("schema registry listening on http://%s:%d\n" % (args.host, port))
    sys.stderr.flush()

    def stop(signum, frame):
        # shutdown() waits for serve_forever(), which runs in this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
