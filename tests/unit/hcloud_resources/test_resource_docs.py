"""DOCUMENTATION/EXAMPLES/RETURN of hcloud_ssh_key, hcloud_firewall, hcloud_network,
hcloud_placement_group, hcloud_volume, the info modules and the hcloud inventory: ansible-doc renders them
(with the doc fragments), every option of the argument spec is documented with the same
type, default, choices and required flag (and nothing else is documented), every option
has version_added, every RETURN key (nested too) has returned and sample, and EXAMPLES use
FQCN."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import hcloud_argument_spec
from ansible_collections.nixos_hetzner.vps.plugins.modules import (
    hcloud_firewall,
    hcloud_firewall_info,
    hcloud_network,
    hcloud_placement_group,
    hcloud_server_info,
    hcloud_ssh_key,
    hcloud_volume,
)

MODULES = {m.__name__.rsplit(".", 1)[1]: m for m in (
    hcloud_firewall, hcloud_network, hcloud_placement_group, hcloud_ssh_key, hcloud_volume,
    hcloud_server_info, hcloud_firewall_info)}
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def rendered():
    """ansible-doc --json for all five modules in one call (fragments merged)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    names = ["nixos_hetzner.vps." + n for n in sorted(MODULES)]
    out = subprocess.run([str(BIN / "ansible-doc"), "--json"] + names, capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_options(doc_opts, spec, where):
    assert set(doc_opts) == set(spec), (where, set(doc_opts) ^ set(spec))
    for name, d in doc_opts.items():
        s = spec[name]
        assert d.get("description"), (where, name)
        assert d.get("version_added") == "0.1.0", (where, name)
        assert d.get("type", "str") == s.get("type", "str"), (where, name)
        assert d.get("default") == s.get("default"), (where, name, d.get("default"), s.get("default"))
        assert bool(d.get("required")) == bool(s.get("required")), (where, name)
        assert d.get("choices") == s.get("choices"), (where, name)
        if s.get("type") == "list":
            assert d.get("elements") == s.get("elements"), (where, name)
        if "options" in s:
            check_options(d["suboptions"], s["options"], name)


def check_return(entries, where=""):
    for key, r in entries.items():
        assert r.get("description") and "returned" in r and "sample" in r, where + key
        if "contains" in r:
            check_return(r["contains"], where + key + ".")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_doc_matches_argument_spec(name, rendered):
    mod = MODULES[name]
    doc = rendered["nixos_hetzner.vps." + name]["doc"]
    assert doc["module"] == name and doc["version_added"] == "0.1.0"
    spec = dict(hcloud_argument_spec(), **mod.ARGUMENT_SPEC)
    check_options(doc["options"], spec, "top")
    attributes = doc["attributes"]
    assert {k: attributes[k]["support"] for k in ("check_mode", "diff_mode", "idempotent")} == \
        {"check_mode": "full", "diff_mode": "none" if name.endswith("_info") else "full",
         "idempotent": "full"}
    check_return(yaml.safe_load(mod.RETURN))
    for task in yaml.safe_load(mod.EXAMPLES):
        mods = [k for k in task if "." in k]
        assert mods and all(m.startswith(("nixos_hetzner.vps.", "ansible.builtin.")) for m in mods), task


def test_api_token_is_no_log():
    assert hcloud_argument_spec()["api_token"]["no_log"] is True
    for mod in MODULES.values():
        for name, opt in mod.ARGUMENT_SPEC.items():
            if "token" in name or "password" in name:
                assert opt.get("no_log") is True, name


def test_inventory_doc_renders():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    out = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", "inventory", "nixos_hetzner.vps.hcloud"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)["nixos_hetzner.vps.hcloud"]["doc"]
    options = doc["options"]
    for name in ("label_selector", "connect_with", "hostvars_prefix", "api_token", "api_endpoint",
                 "compose", "groups", "keyed_groups", "cache", "cache_plugin", "status", "network", "group"):
        assert name in options, name
    for name in ("label_selector", "connect_with", "hostvars_prefix", "api_token", "api_endpoint", "status",
                 "network", "group", "plugin"):
        assert options[name].get("version_added") == "0.1.0", name
    assert options["connect_with"]["choices"] == ["public_ipv4", "public_ipv6", "private_ipv4"]
    from ansible_collections.nixos_hetzner.vps.plugins.inventory import hcloud as inventory

    examples = list(yaml.safe_load_all(inventory.EXAMPLES))
    assert len(examples) == 3
    for config in examples:
        assert config["plugin"] == "nixos_hetzner.vps.hcloud"
        assert set(config) - {"plugin"} <= set(options), set(config) - set(options)


def test_no_markup_is_cut_short_by_a_nested_parenthesis():
    # Issue 13, item 10: C({{ lookup('ansible.builtin.env', 'MY_TOKEN') }}) rendered as
    # "{{ lookup('ansible.builtin.env', 'MY_TOKEN'" followed by "' }})": Ansible's markup
    # ends C(...) at the first ")" and has no escape there. Any "(" inside C(), O(), V(),
    # RV(), M(), I() or B() means the text meant to nest parentheses and is rendered cut.
    import re
    bad = []
    for path in sorted((ROOT / "plugins").glob("*/*.py")):
        text = path.read_text()
        for match in re.finditer(r"\b(?:C|O|V|RV|M|I|B)\(([^)]*)\)", text):
            if "(" in match.group(1):
                bad.append("%s: %s" % (path.relative_to(ROOT), match.group(0)))
    assert bad == []


def test_every_module_renders():
    """ansible-doc renders every module of the collection (a DOCUMENTATION that is not valid
    YAML, such as an unquoted ': ' in a description, fails here rather than in sanity)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    names = sorted("nixos_hetzner.vps." + p.stem for p in (ROOT / "plugins/modules").glob("*.py")
                   if not p.stem.startswith("_"))
    out = subprocess.run([str(BIN / "ansible-doc"), "--json"] + names, capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert sorted(docs) == names and all(d.get("doc") for d in docs.values())
