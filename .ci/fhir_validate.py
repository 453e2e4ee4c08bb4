"""Validate FHIR R4 JSON against the fhir.resources models.

Usage: fhir_validate.py [--require TYPE,TYPE,...] PATH...

Each PATH is a JSON file holding one FHIR resource, or a directory searched
recursively for *.json files. A Bundle is checked as a Bundle (its entries'
resources left out) and then each entry.resource on its own, recursively, so
that a failure names the entry that caused it. Every resource is parsed with the
fhir.resources model for its resourceType, which checks structure, cardinality,
primitive formats and required elements, and rejects unknown elements. On top of
that it checks what the models let through: JSON nulls and empty objects or
arrays, primitives of the wrong JSON type ("true" for true, "3" for 3), and codes
outside the values the model lists for an element (gender, Bundle.type, ...).
Not checked: invariants, profiles, other terminology, whether references resolve.

Prints one line per failure (file, resourceType/id, error), then a count per
resourceType. Exits 1 if any resource failed, if none was checked, or if a type
named in --require was never seen; 0 otherwise. Needs the fhir.resources
release pinned in .ci/fhir_tools.sh, the last one whose models are FHIR 4.0.1.
"""

import argparse
import collections
import json
import sys
import typing
from pathlib import Path

import fhir.resources
from fhir.resources import get_fhir_model_class
from pydantic import BaseModel

FHIR_VERSION = "4.0.1"


def error_text(error):
    """One line for an exception; pydantic's errors as `location: message; ...`."""
    if hasattr(error, "errors"):
        try:
            return "; ".join(
                ".".join(str(part) for part in item["loc"]) + ": " + item["msg"]
                for item in error.errors()
            )
        except Exception:  # noqa: BLE001 - fall back to the plain text
            pass
    return " ".join(str(error).split())


JSON_TYPES = {"boolean": (bool,), "integer": (int,), "unsignedInt": (int,),
              "positiveInt": (int,), "decimal": (int, float)}


def json_errors(raw, path="", nulls_paired=False):
    """FHIR JSON rules the models let through: no empty object or array, and no
    null except in a primitive array paired with its `_name` array."""
    if isinstance(raw, dict):
        if not raw:
            return [f"{path or 'resource'}: empty object"]
        return [e for key, value in raw.items()
                for e in json_errors(value, f"{path}.{key}" if path else key,
                                     (key[1:] if key.startswith("_") else "_" + key) in raw)]
    if isinstance(raw, list):
        if not raw:
            return [f"{path}: empty array"]
        return [e for i, value in enumerate(raw) if not (value is None and nulls_paired)
                for e in json_errors(value, f"{path}[{i}]")]
    return [f"{path}: null"] if raw is None else []


def primitive_kind(annotation):
    """The FHIR primitive type a model field holds (`boolean`, `code`, ...), or None."""
    if annotation is bool:
        return "boolean"
    for candidate in (annotation, *typing.get_args(annotation)):
        kind = getattr(candidate, "__visit_name__", None)
        if kind:
            return kind
    return None


def model_errors(model, raw, path=""):
    """What parsing accepted but should not have: a primitive of the wrong JSON
    type (pydantic coerces "true" and "3"), or a code outside the values the model
    lists for the element (gender, Bundle.type, ...), which it does not enforce."""
    if isinstance(model, list):
        return [e for i, (item, raw_item) in enumerate(zip(model, raw))
                for e in model_errors(item, raw_item, f"{path}[{i}]")]
    if not isinstance(model, BaseModel) or not isinstance(raw, dict):
        return []
    errors = []
    for name, field in model.__fields__.items():
        value, raw_value = getattr(model, name), raw.get(field.alias)
        if value is None or raw_value is None:
            continue
        where = f"{path}.{field.alias}" if path else field.alias
        values = value if isinstance(value, list) else [value]
        raw_values = raw_value if isinstance(raw_value, list) else [raw_value]
        kind = primitive_kind(field.type_)
        if kind:
            wanted = JSON_TYPES.get(kind, (str,))
            errors += [f"{where}: {item!r} is not a JSON {kind}" for item in raw_values
                       if item is not None and (not isinstance(item, wanted)
                                                or isinstance(item, bool) != (kind == "boolean"))]
        # The list comes from the element's short text; a "+" in it means it was
        # cut short there, so such a list is not checked.
        allowed = field.field_info.extra.get("enum_values")
        if allowed and "+" not in allowed:
            errors += [f"{where}: {code!r} is not one of {allowed}"
                       for code in values if code not in allowed]
        if not kind:
            errors += model_errors(value, raw_value, where)
    return errors


def check(resource, where, counts, failures):
    """Validate one resource (and, for a Bundle, each entry's resource)."""
    if not isinstance(resource, dict):
        failures.append(f"{where}: ?/?: not a JSON object")
        return
    rtype = resource.get("resourceType")
    label = f"{rtype or '?'}/{resource.get('id', '?')}"
    if not isinstance(rtype, str) or not rtype:
        failures.append(f"{where}: {label}: no resourceType")
        return
    counts[rtype][0] += 1
    entries = []
    if rtype == "Bundle" and isinstance(resource.get("entry"), list):
        entries = resource["entry"]
        shell = []
        for entry in entries:
            if isinstance(entry, dict):
                entry = {key: value for key, value in entry.items() if key != "resource"}
            shell.append(entry)
        resource = {**resource, "entry": shell}
    try:
        model = get_fhir_model_class(rtype)
    except KeyError:
        model = None
    if model is None:
        counts[rtype][1] += 1
        failures.append(f"{where}: {label}: unknown resourceType {rtype!r} in FHIR {FHIR_VERSION}")
    else:
        try:
            parsed = model.parse_obj(resource)
            problem = "; ".join(json_errors(resource) + model_errors(parsed, resource))
        except Exception as error:  # noqa: BLE001 - every failure is reported
            problem = error_text(error)
        if problem:
            counts[rtype][1] += 1
            failures.append(f"{where}: {label}: {problem}")
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and "resource" in entry:
            check(entry["resource"], f"{where} entry[{index}]", counts, failures)


def json_files(paths):
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(path.rglob("*.json"))
        else:
            yield path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="JSON file or directory")
    parser.add_argument("--require", default="", metavar="TYPE,TYPE,...",
                        help="resourceTypes that must each be seen at least once")
    args = parser.parse_args(argv)

    version = getattr(fhir.resources, "__fhir_version__", "?")
    if version != FHIR_VERSION:
        print(f"fhir_validate: fhir.resources {fhir.resources.__version__} has FHIR {version} "
              f"models, not {FHIR_VERSION}", file=sys.stderr)
        return 2

    counts = collections.defaultdict(lambda: [0, 0])  # resourceType -> [checked, failed]
    failures = []
    files = 0
    for path in json_files(args.paths):
        files += 1
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as error:
            failures.append(f"{path}: ?/?: cannot read JSON: {error_text(error)}")
            continue
        check(document, str(path), counts, failures)

    for line in failures:
        print(line)
    print(f"fhir_validate: {files} file(s); per resourceType, checked (failed):")
    for rtype in sorted(counts):
        checked, failed = counts[rtype]
        print(f"  {rtype:<32} {checked:>7}" + (f" ({failed} FAILED)" if failed else ""))
    checked = sum(c for c, _ in counts.values())
    passed = checked - sum(f for _, f in counts.values())
    status = 0
    if failures:
        status = 1
    if checked == 0:
        print("fhir_validate: no resource was checked")
        status = 1
    required = [t.strip() for t in args.require.split(",") if t.strip()]
    missing = [t for t in required if t not in counts]
    if missing:
        print(f"fhir_validate: required resourceType(s) never seen: {', '.join(missing)}")
        status = 1
    print(f"fhir_validate: {passed} passed, {len(failures)} failed")
    return status


if __name__ == "__main__":
    sys.exit(main())
