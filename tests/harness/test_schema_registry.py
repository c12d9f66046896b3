#!/usr/bin/env python3
"""Checks the Avro resolution rules of the test Schema Registry, in process.

Prints one "PASS <name>" or "FAIL <name>: reason" line per check, the format
tests/run.sh counts, and exits 1 when any check failed.  Run by
tests/integration/0001-harness.sh; the HTTP side is checked there with curl.
Usage: test_schema_registry.py [SCHEMA_DIR]  (also parses every *.avsc there)
"""

import glob
import json
import os
import sys

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schema_registry as sr  # noqa: E402

failures = 0


def result(name, ok, reason=""):
    global failures
    if ok:
        print("PASS registry_%s" % name)
    else:
        failures += 1
        print("FAIL registry_%s: %s" % (name, reason))


def rec(fields, name="R", **extra):
    js = {"type": "record", "name": name, "namespace": "t", "fields": fields}
    js.update(extra)
    return js


def backward(name, old, new, expect):
    """BACKWARD: the new schema, as reader, must read data written with old."""
    try:
        errors = sr.compatibility_errors(
            "BACKWARD", sr.parse_schema(json.dumps(new)),
            [sr.parse_schema(json.dumps(old))])
    except sr.SchemaParseError as e:
        result(name, False, "schema did not parse: %s" % e)
        return
    ok = (not errors) == expect
    result(name, ok, "expected %s, got %s" % (
        "compatible" if expect else "incompatible",
        "; ".join(errors) if errors else "compatible"))


def invalid(name, schema):
    try:
        sr.parse_schema(json.dumps(schema))
    except sr.SchemaParseError:
        result(name, True)
        return
    result(name, False, "an invalid schema was accepted")


def main():
    f_int = {"name": "a", "type": "int"}
    for w, r, ok in (("int", "long", True), ("int", "float", True),
                     ("int", "double", True), ("long", "float", True),
                     ("long", "double", True), ("float", "double", True),
                     ("string", "bytes", True), ("bytes", "string", True),
                     ("long", "int", False), ("double", "float", False),
                     ("int", "string", False), ("boolean", "int", False)):
        backward("%s_%s_to_%s" % ("promotes" if ok else "refuses", w, r), w, r, ok)

    backward("field_added_with_default",
             rec([f_int]), rec([f_int, {"name": "b", "type": "string", "default": ""}]), True)
    backward("field_added_without_default",
             rec([f_int]), rec([f_int, {"name": "b", "type": "string"}]), False)
    backward("field_removed", rec([f_int, {"name": "b", "type": "string"}]), rec([f_int]), True)
    backward("field_renamed_with_alias",
             rec([{"name": "old", "type": "int"}]),
             rec([{"name": "new", "type": "int", "aliases": ["old"]}]), True)
    backward("record_renamed", rec([f_int], name="A"), rec([f_int], name="B"), False)
    backward("record_renamed_with_alias", rec([f_int], name="A"),
             rec([f_int], name="B", aliases=["A"]), True)

    enum = {"type": "enum", "name": "E", "symbols": ["X", "Y"]}
    backward("enum_symbol_added", enum, dict(enum, symbols=["X", "Y", "Z"]), True)
    backward("enum_symbol_removed", enum, dict(enum, symbols=["X"]), False)
    backward("enum_symbol_removed_with_default", enum,
             dict(enum, symbols=["X", "U"], default="U"), True)

    backward("union_widened", "string", ["null", "string"], True)
    backward("union_narrowed", ["null", "string"], "string", False)
    backward("union_branch_promoted", ["null", "int"], ["null", "long"], True)
    backward("union_branch_dropped", ["null", "int", "string"], ["null", "int"], False)

    fixed = {"type": "fixed", "name": "F", "size": 16}
    backward("fixed_same", fixed, fixed, True)
    backward("fixed_resized", fixed, dict(fixed, size=8), False)

    backward("array_items_promoted", {"type": "array", "items": "int"},
             {"type": "array", "items": "long"}, True)
    backward("map_values_changed", {"type": "map", "values": "string"},
             {"type": "map", "values": "int"}, False)

    # Named types referenced by name, recursion, namespaces.
    linked = rec([{"name": "v", "type": "int"},
                  {"name": "next", "type": ["null", "R"], "default": None}])
    backward("recursive_record", linked, linked, True)
    linked2 = rec([{"name": "v", "type": "long"},
                   {"name": "next", "type": ["null", "t.R"], "default": None}])
    backward("recursive_record_promoted", linked, linked2, True)
    by_ref = rec([{"name": "e", "type": enum},
                  {"name": "e2", "type": "E"}])
    by_ref_narrow = rec([{"name": "e", "type": dict(enum, symbols=["X"])},
                         {"name": "e2", "type": "E"}])
    backward("named_type_by_reference", by_ref, by_ref_narrow, False)
    backward("logical_type_ignored", {"type": "long", "logicalType": "timestamp-millis"},
             "long", True)

    invalid("unknown_type_refused", rec([{"name": "a", "type": "Nope"}]))
    invalid("duplicate_field_refused", rec([f_int, f_int]))
    invalid("bad_enum_default_refused", dict(enum, default="Q"))
    invalid("not_json_refused", "{")

    # Registry behaviour: ids, versions, levels.
    reg = sr.Registry()
    v1 = json.dumps(rec([f_int]))
    v1_spaced = json.dumps(rec([f_int]), indent=2)
    v2 = json.dumps(rec([{"name": "a", "type": "long"}]))
    id1 = reg.register("s-value", v1)
    result("same_schema_same_id",
           reg.register("s-value", v1_spaced) == id1 and reg.register("o-value", v1) == id1,
           "canonically equal schemas got different ids")
    result("new_version_new_id", reg.register("s-value", v2) == id1 + 1, "ids not sequential")
    result("versions_listed", len(reg.versions("s-value")) == 2, "expected 2 versions")
    try:
        reg.register("s-value", v1)
        ok = True   # v1 is already version 1 of the subject: same id back
    except sr.RegistryError:
        ok = False
    result("registered_schema_found_again", ok, "re-registering version 1 failed")
    reg.subject_level["f-value"] = "FORWARD"
    reg.register("f-value", v2)
    try:
        reg.register("f-value", v1)   # old reader (long) can read int data
        ok = True
    except sr.RegistryError:
        ok = False
    result("forward_level", ok, "FORWARD refused a forward-compatible schema")
    reg.subject_level["n-value"] = "NONE"
    reg.register("n-value", v1)
    reg.register("n-value", json.dumps("string"))
    result("none_level", len(reg.versions("n-value")) == 2, "NONE refused a change")

    # The project's own schemas must be accepted by the registry.
    schema_dir = sys.argv[1] if len(sys.argv) > 1 else None
    for path in sorted(glob.glob(os.path.join(schema_dir or "", "*.avsc")) if schema_dir else []):
        with open(path) as f:
            text = f.read()
        try:
            sr.parse_schema(text)
            result("parses_" + os.path.basename(path), True)
        except sr.SchemaParseError as e:
            result("parses_" + os.path.basename(path), False, str(e))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
