"""Fixtures for the collection-tooling tests (ansible-builder, ansible-runner).

They need the tools of requirements-2.21.txt and run in the 2.21 job of scripts/test.sh
(`pytest tests/tooling`); the 2.19 job leaves this directory out. A missing tool is an
error here, not a skip.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name):
    path = BIN / name
    assert path.exists(), f"{name} is not installed in {BIN} (requirements-2.21.txt)"
    return str(path)


@pytest.fixture(scope="session")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out),
                    str(ROOT)], check=True, capture_output=True, text=True)
    (path,) = out.glob("nixos_hetzner-vps-*.tar.gz")
    return path


@pytest.fixture(scope="session")
def installed_collections(tmp_path_factory, tarball):
    """A collections path holding only the collection installed from its tarball, as an
    execution environment would have it."""
    path = tmp_path_factory.mktemp("collections")
    subprocess.run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p",
                    str(path), str(tarball)], check=True, capture_output=True, text=True,
                   env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path)))
    assert (path / "ansible_collections/nixos_hetzner/vps/MANIFEST.json").exists()
    return path
