"""meta/argument_specs.yml of every role tells the truth about defaults/main.yml.

`ansible-doc -t role` shows only what the argument specs say, while the role runs with what
defaults/main.yml says (Ansible never applies a spec default). So the spec must carry every
variable of defaults/main.yml in its `main` entry point, with the same value as `default`
(or no `default` at all when the value is a Jinja expression: the description explains it
instead), a `type` that fits the value, and a description. An option that has no value in
defaults/main.yml must be `required`. Descriptions are strings or lists of strings (the
antsibull-docs rule) and none is copied from another option ("Goes with X").
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
BIN = Path(sys.executable).parent

PY_TYPES = {"str": str, "int": int, "bool": bool, "list": list, "dict": dict, "float": (int, float)}


def load(role, *path):
    with open(ROOT / "roles" / role / Path(*path)) as f:
        return yaml.safe_load(f)


def specs(role):
    return load(role, "meta", "argument_specs.yml")["argument_specs"]


def defaults(role):
    return load(role, "defaults", "main.yml") or {}


def is_jinja(value):
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(is_jinja(v) for v in value)
    if isinstance(value, dict):
        return any(is_jinja(k) or is_jinja(v) for k, v in value.items())
    return False


def walk(options, prefix=""):
    """Every option and suboption, as (dotted name, spec)."""
    for name, spec in (options or {}).items():
        yield prefix + name, spec
        yield from walk(spec.get("options"), prefix + name + ".")


ENTRY_POINTS = [(role, entry) for role in ROLES for entry in specs(role)]


def test_every_role_has_a_spec():
    assert ROLES == ["base", "hardware", "security", "services", "storage"]


@pytest.mark.parametrize("role", ROLES)
def test_main_documents_every_default(role):
    missing = sorted(set(defaults(role)) - set(specs(role)["main"]["options"]))
    assert not missing, f"{role}: in defaults/main.yml but not in the main entry point: {missing}"


@pytest.mark.parametrize("role,entry", ENTRY_POINTS)
def test_spec_defaults_are_the_role_defaults(role, entry):
    wrong = []
    values = defaults(role)
    for name, spec in (specs(role)[entry].get("options") or {}).items():
        if name not in values:
            if not spec.get("required") and "default" not in spec:
                wrong.append(f"{name}: no value in defaults/main.yml, so it must be required")
            continue
        value = values[name]
        if is_jinja(value):
            if "default" in spec:
                wrong.append(f"{name}: spec default {spec['default']!r} for the Jinja default {value!r}")
        elif "default" not in spec:
            wrong.append(f"{name}: spec has no default, defaults/main.yml says {value!r}")
        elif spec["default"] != value or type(spec["default"]) is not type(value):
            wrong.append(f"{name}: spec default {spec['default']!r}, defaults/main.yml {value!r}")
        if spec.get("required"):
            wrong.append(f"{name}: required, but defaults/main.yml gives it a value")
    assert not wrong, f"{role} {entry}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role,entry", ENTRY_POINTS)
def test_types_fit_the_values(role, entry):
    wrong = []
    values = defaults(role)
    for name, spec in walk(specs(role)[entry].get("options")):
        kind = spec.get("type")
        if kind not in PY_TYPES and kind != "raw":
            wrong.append(f"{name}: type {kind!r}")
            continue
        if kind in ("list", "dict") and spec.get("elements") is None and kind == "list":
            wrong.append(f"{name}: a list without elements")
        if spec.get("options") and kind not in ("dict", "list"):
            wrong.append(f"{name}: suboptions on a {kind}")
        if kind == "list" and spec.get("options") and spec.get("elements") != "dict":
            wrong.append(f"{name}: suboptions need elements: dict")
        value = spec.get("default", values.get(name) if "." not in name else None)
        if value is not None and not is_jinja(value) and kind in PY_TYPES:
            if not isinstance(value, PY_TYPES[kind]) or (kind == "int" and isinstance(value, bool)):
                wrong.append(f"{name}: type {kind}, value {value!r}")
        if "choices" in spec and "default" in spec and spec["default"] not in spec["choices"]:
            wrong.append(f"{name}: default {spec['default']!r} not in choices {spec['choices']}")
    assert not wrong, f"{role} {entry}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role,entry", ENTRY_POINTS)
def test_every_option_is_described(role, entry):
    spec = specs(role)[entry]
    assert isinstance(spec.get("short_description"), str) and spec["short_description"]
    assert spec.get("description"), f"{role} {entry}: the entry point has no description"
    wrong = []
    for name, option in walk(spec.get("options")):
        text = option.get("description")
        if isinstance(text, str):
            text = [text]
        if not text or not all(isinstance(t, str) and t.strip() for t in text):
            wrong.append(f"{name}: description must be a string or a list of strings, is {text!r}")
        elif any("Goes with" in t for t in text):
            wrong.append(f"{name}: copied description ({text[0][:40]}...)")
        else:
            # O() must name an option of this entry point (antsibull-docs checks it); a
            # variable of another role is C().
            for ref in re.findall(r"O\(([^)=]+)", " ".join(text)):
                top = ref.split("[")[0].split(".")[0]
                if top not in spec["options"]:
                    wrong.append(f"{name}: O({ref}) is not an option of {role} {entry}")
    assert not wrong, f"{role} {entry}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_have_no_copied_comments(role):
    text = (ROOT / "roles" / role / "defaults" / "main.yml").read_text()
    assert "Goes with" not in text


@pytest.fixture(scope="module")
def rendered():
    """ansible-doc -t role --json of every role, as a user sees it."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    out = {}
    for role in ROLES:
        proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "role", "--json", "nixos_hetzner.vps." + role],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out[role] = json.loads(proc.stdout)["nixos_hetzner.vps." + role]
    return out


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_shows_the_defaults(rendered, role):
    """What ansible-doc shows for main is the role's real default, never a made-up null."""
    shown = rendered[role]["entry_points"]["main"]["options"]
    for name, value in defaults(role).items():
        if is_jinja(value):
            assert shown[name].get("default") is None, name
        else:
            assert shown[name].get("default") == value, name


@pytest.mark.parametrize("role", ROLES)
def test_role_readme(role):
    """Each role has a README with an example playbook that uses the FQCN."""
    readme = ROOT / "roles" / role / "README.md"
    assert readme.exists(), readme
    text = readme.read_text()
    assert f"nixos_hetzner.vps.{role}" in text
    assert "```yaml" in text


@pytest.mark.parametrize("role", ROLES)
def test_no_role_includes_another_role(role):
    """Roles talk through facts; the playbooks compose them (docs/architecture.md). A role's
    task files include or import only its own task files, never a role."""
    found = []
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            for key in task:
                if key.split(".")[-1] in ("include_role", "import_role"):
                    found.append(f"{path.name}: {task.get('name')}")
    assert not found, f"{role} includes roles: {found}"


def _tasks(items):
    for task in items:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key) or [])
