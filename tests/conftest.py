"""Shared pytest set-up: makes the collection importable as
``ansible_collections.nixos_hetzner.vps`` (through the .collections symlink that
``make setup`` creates) and hosts the fixtures every suite uses."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"
link = COLLECTIONS / "ansible_collections" / "nixos_hetzner" / "vps"
if not link.exists():
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../..", link)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
# Shared fixture modules living in tests/ (lab_fixture.py, ...) are importable by name.
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
# Fixture modules register themselves below with `from <module> import *  # noqa`.
from vm_fixture import *  # noqa: F401,F403,E402
from lab_fixture import *  # noqa: F401,F403,E402
