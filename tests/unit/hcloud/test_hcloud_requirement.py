"""The hcloud library's version is stated once: requirements.txt (which ansible-builder and
users install). The module_utils constant, the error message without the library, and the
`requirements` of the modules' doc fragment and of the inventory plugin all say the same."""
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.nixos_hetzner.vps.plugins.doc_fragments.hcloud import ModuleDocFragment
from ansible_collections.nixos_hetzner.vps.plugins.inventory import hcloud as inventory
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _hcloud_client

ROOT = Path(__file__).resolve().parents[3]


def requirement():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    (line,) = [ln for ln in lines if re.match(r"hcloud\b", ln)]
    return line


def test_the_constant_is_requirements_txt():
    assert _hcloud_client.HCLOUD_REQUIREMENT == requirement()


@pytest.mark.parametrize("doc", [ModuleDocFragment.DOCUMENTATION, inventory.DOCUMENTATION],
                         ids=["modules", "inventory"])
def test_docs_state_the_same_requirement(doc):
    reqs = yaml.safe_load(doc)["requirements"]
    hcloud = [r for r in reqs if r.startswith("hcloud")]
    assert hcloud and all(r.split(" ")[0] == requirement() for r in hcloud), hcloud


def test_missing_library_message_states_the_requirement(monkeypatch):
    monkeypatch.setattr(_hcloud_client, "HAS_HCLOUD", False)
    with pytest.raises(_hcloud_client.HcloudError) as err:
        _hcloud_client.make_client({"api_token": "x"})
    assert requirement() in str(err.value)


def test_no_other_version_in_the_docs():
    """The prose docs point at requirements.txt instead of naming a version of their own."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in re.finditer(r"`?hcloud`?(?: library| Python library)?\s*\(?(?:==|>=|version )?\s*(2\.\d+)", path.read_text()):
            pytest.fail(f"{path.name}: {m.group(0)!r}; say requirements.txt instead")
