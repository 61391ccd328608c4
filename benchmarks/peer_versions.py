"""The versions in benchmarks/.venv-peers, as setup-peers.sh recorded them (versions.txt)."""
from __future__ import annotations

from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / ".venv-peers" / "versions.txt"


def read() -> dict:
    """{"python": "3.13.0", "ansible": "14.5.0", "ansible-core": "2.21.5", ...}."""
    out = {}
    for line in VERSIONS.read_text().splitlines():
        name, _sep, version = line.partition(" ")
        out[name] = version
    return out


def describe(*collections: str, versions: dict | None = None) -> str:
    """E.g. "ansible-core 2.21.5, Python 3.13.0; community.crypto 3.5.0 from `ansible` 14.5.0"."""
    v = versions or read()
    colls = ", ".join("%s %s" % (c, v.get(c, "?")) for c in collections)
    return "ansible-core %s, Python %s; %s from `ansible` %s" % (
        v.get("ansible-core", "?"), v.get("python", "?"), colls, v.get("ansible", "?"))
