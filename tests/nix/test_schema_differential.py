"""The flake's builtins-only validator (nix/lib/schema.nix) and Python `jsonschema` (which
the roles use to check their template output) must mean the same thing by
nix/schema/host.schema.json. A corpus of documents derived from the example (every field
set to values of the wrong type, out of range, not matching its pattern, missing, plus
unknown fields and the schema's own examples) is validated by both; the verdicts and the
set of fields named in the errors must agree, apart from the documented differences."""
import copy
import json
import re

import jsonschema
import pytest

from nix_helpers import EXAMPLE_FILE, SCHEMA, lib_expr, nix_path, resolve, types_of

EXAMPLE = json.loads(EXAMPLE_FILE.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# Documented in docs/host-json.md ("Python and Nix"): the flake is stricter in two places.
#  - Python's `$` also matches before a trailing newline, so jsonschema accepts "x\n"
#    where the pattern is ^…$; the flake (whole-string match) refuses it.
#  - JSON Schema counts 1024.0 as an integer; the flake refuses floats where NixOS
#    options take ints.
KNOWN = {"trailing newline", "integral float"}


def walk(doc, node, keys=()):
    """Yield (keys, schema node, value) for every value in doc, depth first."""
    node = resolve(node)
    yield keys, node, doc
    if isinstance(doc, dict) and "properties" in node:
        for k, v in doc.items():
            if k in node["properties"]:
                yield from walk(v, node["properties"][k], keys + (k,))
    if isinstance(doc, list) and "items" in node:
        for i, v in enumerate(doc):
            yield from walk(v, node["items"], keys + (i,))


def bad_values(node, value):
    """(label, value) pairs meant to break (or exercise) the node's keywords."""
    ts = types_of(node)
    out = []
    if "string" in ts or isinstance(value, str):
        out += [("wrong type", 7), ("empty", ""), ("space", "a b"), ("upper", "ABC"), ("slash", "a/b")]
        if isinstance(value, str):
            out += [("suffix", value + "!"), ("trailing newline", value + "\n"), ("prefix", "x" + value)]
    if "integer" in ts:
        out += [("wrong type", "1"), ("bool", True), ("float", 1.5), ("integral float", float(value))]
        if "minimum" in node:
            out.append(("below minimum", node["minimum"] - 1))
        if "maximum" in node:
            out.append(("above maximum", node["maximum"] + 1))
    if "boolean" in ts:
        out += [("wrong type", "true"), ("int", 1)]
    if "array" in ts:
        out += [("wrong type", {}), ("empty", [])]
        if value:
            out += [("duplicate", [value[0], value[0]]), ("many", value * 3)]
    if "object" in ts:
        out += [("wrong type", []), ("empty", {}), ("unknown field", {**(value or {}), "zzz": 1})]
    if "null" not in ts:
        out.append(("null", None))
    if "enum" in node:
        out.append(("not in enum", "other"))
    if "const" in node:
        out.append(("not const", 2))
    out += [("example", e) for e in node.get("examples", [])]
    return out


def set_at(doc, keys, value):
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def corpus():
    docs = []
    for keys, node, value in walk(EXAMPLE, SCHEMA):
        if not keys:
            continue
        for label, bad in bad_values(node, value):
            doc = copy.deepcopy(EXAMPLE)
            set_at(doc, list(keys), bad)
            docs.append((f"{'.'.join(map(str, keys))} {label}", label, doc))
        if isinstance(keys[-1], str):  # drop the field
            doc = copy.deepcopy(EXAMPLE)
            parent = doc
            for k in keys[:-1]:
                parent = parent[k]
            del parent[keys[-1]]
            docs.append((f"{'.'.join(map(str, keys))} missing", "missing", doc))
    return docs


CORPUS = corpus()


def dotted(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def python_fields(doc):
    """The fields jsonschema complains about, written like the flake's messages."""
    fields = set()
    for e in VALIDATOR.iter_errors(doc):
        base = dotted(e.absolute_path)
        if e.validator == "required":
            name = re.match(r"'(.+)' is a required property", e.message).group(1)
            fields.add(f"{base}.{name}" if base else name)
        elif e.validator == "additionalProperties":
            for name in re.findall(r"'([^']+)'", e.message.split("(")[1]):
                fields.add(f"{base}.{name}" if base else name)
        else:
            fields.add(base or "(top level)")
    return fields


@pytest.fixture(scope="module")
def nix_results(nix, tmp_path_factory):
    f = tmp_path_factory.mktemp("corpus") / "docs.json"
    f.write_text(json.dumps([d for _, _, d in CORPUS]))
    return nix.eval(f"map {lib_expr()}.validate (builtins.fromJSON (builtins.readFile {nix_path(f)}))")


def nix_fields(errors):
    return {e.split(": ", 1)[0] for e in errors}


def test_the_corpus_is_big_and_mostly_invalid():
    assert len(CORPUS) > 500
    invalid = sum(1 for _, _, d in CORPUS if not VALIDATOR.is_valid(d))
    assert invalid > 400


def test_python_and_nix_validators_agree(nix_results):
    disagree = []
    known_seen = set()
    for (name, label, doc), nix_errors in zip(CORPUS, nix_results, strict=True):
        py, nx = python_fields(doc), nix_fields(nix_errors)
        if py == nx:
            continue
        if label in KNOWN and not py and nx:
            known_seen.add(label)
            continue
        disagree.append(f"{name}: jsonschema {sorted(py)} vs nix {sorted(nx)}")
    assert disagree == [], "\n".join(disagree[:40])
    # The documented differences are real (if they vanish, update docs/host-json.md).
    assert known_seen == KNOWN


def test_the_example_is_valid_for_both(nix):
    assert VALIDATOR.is_valid(EXAMPLE)
    assert nix.eval(f"{lib_expr()}.validate (builtins.fromJSON (builtins.readFile {nix_path(EXAMPLE_FILE)}))") == []
