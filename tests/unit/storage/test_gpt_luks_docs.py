"""DOCUMENTATION/EXAMPLES/RETURN of gpt_partitions and luks_device: ansible-doc renders
them, every option in argument_spec is documented with version_added (and nothing
else), every RETURN key has returned and sample, EXAMPLES use FQCN."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.nixos_hetzner.vps.plugins.modules import gpt_partitions, luks_device

MODULES = {"gpt_partitions": gpt_partitions, "luks_device": luks_device}
BIN = Path(sys.executable).parent


def spec_options(spec):
    return dict((k, v) for k, v in spec.items())


def check_options(doc_opts, spec, where):
    assert set(doc_opts) == set(spec), (where, set(doc_opts) ^ set(spec))
    for name, d in doc_opts.items():
        assert d.get("version_added") == "0.1.0" or where != "top", (where, name)
        assert d.get("description"), (where, name)
        s = spec[name]
        assert d.get("type", "str") == s.get("type", "str"), (where, name)
        assert d.get("default") == s.get("default"), (where, name, d.get("default"), s.get("default"))
        assert bool(d.get("required")) == bool(s.get("required")), (where, name)
        # no_log lives in the argument spec only (ansible-test validate-modules refuses it
        # in DOCUMENTATION); the spec is checked elsewhere for every secret.
        assert "no_log" not in d, (where, name)
        if "choices" in s:
            assert d.get("choices") == s["choices"], (where, name)
        if "options" in s:
            check_options(d["suboptions"], s["options"], name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_doc_matches_argument_spec(name):
    mod = MODULES[name]
    doc = yaml.safe_load(mod.DOCUMENTATION)
    assert doc["module"] == name and doc["version_added"] == "0.1.0"
    check_options(doc["options"], mod.ARGUMENT_SPEC, "top")
    ret = yaml.safe_load(mod.RETURN)
    for key, r in ret.items():
        assert "returned" in r and "sample" in r and r.get("description"), key
    examples = yaml.safe_load(mod.EXAMPLES)
    for task in examples:
        mods = [k for k in task if "." in k]
        assert mods and all(m.count(".") == 2 for m in mods), task


@pytest.mark.parametrize("name", sorted(MODULES))
def test_ansible_doc_renders(name):
    env = dict(os.environ)
    out = subprocess.run([str(BIN / "ansible-doc"), "--json", "nixos_hetzner.vps." + name],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)["nixos_hetzner.vps." + name]
    assert data["doc"]["attributes"]["check_mode"]["support"] == "full"
