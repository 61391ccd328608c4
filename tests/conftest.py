"""Shared pytest set-up: makes sure the collection is importable as
``ansible_collections.nixos_hetzner.vps`` (pyproject.toml puts ``.collections`` on the
import path; the symlink in it is what ``make setup`` creates) and registers the fixture
modules every suite uses as plugins (pyproject.toml puts ``tests`` and
``tests/integration`` on the import path, so they load by name)."""
import importlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"
link = COLLECTIONS / "ansible_collections" / "nixos_hetzner" / "vps"
if not link.exists():
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../..", link)
    importlib.invalidate_caches()
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))

pytest_plugins = ["vm_fixture", "lab_fixture"]
