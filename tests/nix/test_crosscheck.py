"""Cross-check of the contract between the roles (which write the host JSON following
nix/schema/host.schema.json) and the flake (which reads it through nix/lib):

- forward: every field in the schema is in the complete example, and every field is
  *used*: changing its value (to another value from the schema's `examples`) changes the
  `vps` settings that the lib hands to the modules. A field that the flake ignored would
  leave the settings unchanged and fail here;
- backward: the lib reads nothing outside the schema. settings.nix reads fields with plain
  selection only (no `or` fallbacks), so a field that the schema does not declare is an
  evaluation error; its `?` tests are exactly the schema's optional fields (the fields
  that no `required` lists), so absence can be a default only where the schema says so.
  Every mutant below is evaluated, covering the null and false branches. The modules
  never read host files themselves;
- the settings the lib produces are options that the modules declare (a textual check of
  the option declarations; the flake's eval checks do the real one with nixpkgs).
"""
import copy
import json
import re

import pytest

from nix_helpers import EXAMPLE_FILE, LIB, NIX_DIR, SCHEMA, lib_expr, nix_path, resolve, types_of

EXAMPLE = json.loads(EXAMPLE_FILE.read_text())

# Fields that the lib reads but that cannot change the settings by construction.
EXEMPT = {
    # A const: any other value is refused (tests/nix/test_lib.py, unknown schemaVersion).
    "schemaVersion": "checked by validateHost, the only value is 1",
}


def schema_leaves(node=SCHEMA, path=""):
    """{leaf path: schema node}; array items are written [] (e.g. admins[].name)."""
    node = resolve(node)
    ts = types_of(node)
    if "properties" in node:
        out = {}
        for key, sub in node["properties"].items():
            out.update(schema_leaves(sub, f"{path}.{key}" if path else key))
        return out
    if "array" in ts and "properties" in resolve(node.get("items", {})):
        return schema_leaves(node["items"], f"{path}[]")
    return {path: node}


def instances(doc, path):
    """Concrete paths (lists of keys/indexes) in doc for a schema leaf path."""
    parts = re.findall(r"[^.\[\]]+|\[\]", path)
    found = [([], doc)]
    for part in parts:
        nxt = []
        for keys, value in found:
            if part == "[]":
                nxt += [(keys + [i], v) for i, v in enumerate(value or [])]
            elif isinstance(value, dict) and part in value:
                nxt.append((keys + [part], value[part]))
        found = nxt
    return found


def set_at(doc, keys, value):
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def alternatives(node, current):
    """Other values for a leaf, from the schema: its examples, the other boolean, null."""
    node = resolve(node)
    cands = []
    if "boolean" in types_of(node):
        cands.append(not current)
    cands += node.get("examples", [])
    cands += node.get("enum", [])
    if "null" in types_of(node):
        cands.append(None)
    return [c for c in cands if c != current]


LEAVES = schema_leaves()


def test_the_schema_has_the_fields_the_issue_lists():
    for field in [
        "hostname", "hostId", "architecture", "memoryMiB", "stateVersion",
        "storage.disks", "storage.luks.device", "storage.pool.name", "storage.pool.datasets[].name",
        "network.ipv4.address", "network.ipv6.address", "admins[].name", "admins[].sshKeys",
        "initrdUnlock.authorizedKeys", "initrdUnlock.hostKeyPath", "firewall.extraTcpPorts",
        "firewall.extraUdpPorts", "services.nginx.acmeEmail", "services.nginx.vhosts[].domain",
        "services.postgresql.dataset", "services.nodeExporter.allowedCidrs", "schemaVersion",
    ]:
        assert field in LEAVES, field


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_the_example_is_complete(leaf):
    # Every field is present with a real (non-null) value at least once.
    found = instances(EXAMPLE, leaf)
    assert found, f"{leaf} does not occur in nix/hosts/example.json"
    assert any(v is not None for _, v in found), f"{leaf} is null everywhere in the example"


def test_the_example_has_no_field_outside_the_schema():
    def leaves_of(doc, path=""):
        if isinstance(doc, dict):
            out = set()
            for k, v in doc.items():
                out |= leaves_of(v, f"{path}.{k}" if path else k)
            return out
        if isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc):
            out = set()
            for x in doc:
                out |= leaves_of(x, f"{path}[]")
            return out
        return {path}

    assert leaves_of(EXAMPLE) == set(LEAVES)


def test_the_schema_is_valid_json_schema_and_accepts_the_example():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(EXAMPLE)


@pytest.fixture(scope="module")
def mutation_run(nix, tmp_path_factory):
    """Evaluate the lib's settings for the example and for one mutant per field
    occurrence, in one nix-instantiate run. Returns (baseline, [(leaf, keys, value, settings)])."""
    mutants = []
    for leaf, node in LEAVES.items():
        if leaf in EXEMPT:
            continue
        for keys, current in instances(EXAMPLE, leaf):
            alts = alternatives(node, current)
            assert alts, f"the schema gives no alternative value for {leaf} (add examples)"
            doc = copy.deepcopy(EXAMPLE)
            set_at(doc, keys, alts[0])
            mutants.append((leaf, keys, alts[0], doc))
    f = tmp_path_factory.mktemp("mutants") / "docs.json"
    f.write_text(json.dumps([EXAMPLE] + [m[3] for m in mutants]))
    # The settings function alone (no validation), so that each mutant is read as is.
    out = nix.eval(f"map {lib_expr()}.settings (builtins.fromJSON (builtins.readFile {nix_path(f)}))")
    assert len(out) == len(mutants) + 1
    return out[0], [(m[0], m[1], m[2], s) for m, s in zip(mutants, out[1:])]


def test_every_schema_field_changes_the_settings(mutation_run):
    baseline, results = mutation_run
    unused = [f"{leaf} {keys} -> {value!r}" for leaf, keys, value, s in results if s == baseline]
    assert unused == [], "fields that the flake does not use:\n" + "\n".join(unused)
    covered = {leaf for leaf, *_ in results}
    assert covered | set(EXEMPT) == set(LEAVES)


def test_the_mutation_check_can_fail(nix, tmp_path):
    # The check above is not vacuous: a settings function that ignores a field (here one
    # that drops autoSnapshot) gives the same output for both values of it.
    doc = copy.deepcopy(EXAMPLE)
    doc["storage"]["autoSnapshot"] = not EXAMPLE["storage"]["autoSnapshot"]
    f = tmp_path / "docs.json"
    f.write_text(json.dumps([EXAMPLE, doc]))
    expr = (
        f"map (h: builtins.removeAttrs ({lib_expr()}.settings h).storage [\"autoSnapshot\"]) "
        f"(builtins.fromJSON (builtins.readFile {nix_path(f)}))"
    )
    a, b = nix.eval(expr)
    assert a == b


def strip_nix_comments_and_strings(text):
    text = re.sub(r"#[^\n]*", "", text)
    text = re.sub(r"''.*?''", "''", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def optional_fields(node=SCHEMA, path=""):
    """Schema paths of the properties that their object's `required` does not list."""
    node = resolve(node)
    out = set()
    if "properties" in node:
        for key, sub in node["properties"].items():
            p = f"{path}.{key}" if path else key
            if key not in node.get("required", []):
                out.add(p)
            out |= optional_fields(sub, p)
    if "items" in node:
        out |= optional_fields(node["items"], f"{path}[]")
    return out


def test_settings_reads_fields_without_fallbacks():
    code = strip_nix_comments_and_strings((LIB / "settings.nix").read_text())
    assert not re.search(r"\bor\b", code), "settings.nix uses an `or` default"
    # `?` only as `<binding> ? <field>` where <field> is optional in the schema; the
    # bindings are the let-names of settings.nix (net = host.network, ...).
    bindings = dict(re.findall(r"\b(\w+) = host\.([\w.]+);", code))
    tested = set()
    for var, field in re.findall(r"(\w+) \? (\w+)", code):
        assert var in bindings, f"settings.nix tests {var} ? {field}, {var} is not a host field"
        tested.add(f"{bindings[var]}.{field}")
    assert len(tested) == len(re.findall(r"\?", code)), "settings.nix has a `?` of another shape"
    assert tested == optional_fields()


def test_the_schema_has_exactly_one_optional_field():
    # Additive fields of schemaVersion 1 are optional; everything else is required.
    assert optional_fields() == {"network.nameservers"}


def test_only_the_lib_reads_host_files():
    readers = sorted(
        str(p.relative_to(NIX_DIR))
        for p in NIX_DIR.rglob("*.nix")
        if re.search(r"fromJSON|readFile|readDir", strip_nix_comments_and_strings(p.read_text()))
    )
    assert readers == ["lib/default.nix"]


# ---- the settings' paths are declared options of the modules (textual) ----


def declared_options(layer):
    """Option paths declared under options.vps.<layer> in nix/modules/<layer>, found from
    the nixfmt layout: `name = {` opens a group, `name = mkOption`/`mkEnableOption`
    declares; inside a submodule (`options = {` or `options.x = mkOption`) the names
    are declared below `*`, as the values of an attrsOf."""
    lines = (NIX_DIR / "modules" / layer / "default.nix").read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == f"options.vps.{layer} = {{")
    base = len(lines[start]) - len(lines[start].lstrip())
    stack = []  # (indent, name)
    declared = set()
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= base:
            break
        while stack and stack[-1][0] >= indent:
            stack.pop()
        names = [n for _, n in stack]
        sub = re.match(r"\s*options\.(\w+) = mkOption", line)
        m = re.match(r"\s*([\w.]+) = (mkOption|mkEnableOption|\{)", line)
        if sub:
            declared.add(".".join(names + ["*", sub.group(1)]))
            stack.append((indent, "*." + sub.group(1)))
        elif re.match(r"\s*options = \{", line):
            stack.append((indent, "*"))
        elif m:
            if m.group(2) != "{":
                declared.add(".".join(names + [m.group(1)]))
            stack.append((indent, m.group(1)))
    return declared


def settings_paths(value, path=""):
    """Leaf option paths of the settings; attrsOf maps (keys chosen by data) become *."""
    dynamic = {"storage.pool.datasets", "base.admins", "services.nginx.vhosts"}
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            key = "*" if path in dynamic else k
            out |= settings_paths(v, f"{path}.{key}" if path else key)
        return out
    return {path}


def test_settings_are_declared_options(nix):
    settings = nix.eval(
        f"{lib_expr()}.settings ({lib_expr()}.readHost \"nix/hosts/example.json\" {nix_path(EXAMPLE_FILE)})"
    )
    missing = []
    for path in sorted(settings_paths(settings)):
        layer, rest = path.split(".", 1)
        if rest not in declared_options(layer):
            missing.append(f"vps.{path}")
    assert missing == []


def test_declared_options_parser_sees_the_known_options():
    storage = declared_options("storage")
    assert {"luks.device", "pool.name", "pool.datasets.*.mountpoint", "rollback.enable",
            "initrdUnlock.hostKeyPath", "arcMaxBytes"} <= storage
    assert "luks.nonexistent" not in storage and "pool.datasets" in storage
    assert {"nginx.vhosts.*.aliases", "nginx.vhosts.*.proxyPass", "nodeExporter.allowedCidrs"} <= declared_options("services")
    assert {"admins.*.sshKeys", "hostName"} <= declared_options("base")
    assert {"network.ipv4.dhcp", "network.ipv6.gateway"} <= declared_options("hardware")
