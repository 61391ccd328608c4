"""The galaxy tarball holds what a user of the collection needs, and nothing else.

Builds the collection with `ansible-galaxy collection build` (as a release would) and
checks the file list: the top-level entries are exactly the allowed ones, nothing of the
lab, the tests, the CI or the developer tooling is in it (in particular not the lab's
vault password), and every tracked file of the shipped directories is in it.
"""
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Everything a user of the collection gets, at the top of the tarball.
ALLOWED_TOP = {
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.md",
    "requirements.txt", "bindep.txt", "changelogs", "meta", "plugins", "roles", "playbooks", "nix",
    "docs", "inventories",
}
# Must be there: collection metadata, the execution environment definition, the
# changelog that antsibull-changelog maintains, and what the roles read at run time.
REQUIRED = {
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.md",
    "requirements.txt", "bindep.txt", "meta/runtime.yml", "meta/execution-environment.yml",
    "changelogs/changelog.yaml", "changelogs/config.yaml",
    "plugins/modules/hcloud_fleet.py", "plugins/inventory/hcloud.py",
    "roles/base/meta/argument_specs.yml", "playbooks/site.yml", "playbooks/destroy.yml",
    "nix/flake.nix", "inventories/example/hosts.yml",
} | {f"roles/{role}/README.md" for role in ("hardware", "storage", "base", "security", "services")}
# Directories shipped whole: every tracked file under them must be in the tarball.
SHIPPED_DIRS = ("plugins", "roles", "playbooks", "nix", "docs", "meta", "inventories/example")
# Repository directories that are not the collection (nix/tests is the flake's own checks,
# which flake.nix imports, so only top-level names count here).
FORBIDDEN_TOP = {"tests", "lab", "scripts", "benchmarks", "molecule", ".ci", ".collections",
                 ".lab", ".venv", ".venv-2.21"}
FORBIDDEN_ANYWHERE = {"__pycache__", ".pytest_cache", "fragments", ".git"}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    # The ansible-galaxy of the venv that runs the tests (2.19 or 2.21).
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    assert galaxy.exists(), galaxy
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (path,) = out.glob("nixos_hetzner-vps-*.tar.gz")
    return path


@pytest.fixture(scope="module")
def members(tarball):
    with tarfile.open(tarball) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_top_level_is_only_what_users_need(members):
    top = {name.split("/", 1)[0] for name in members}
    assert top == ALLOWED_TOP, f"unexpected: {top - ALLOWED_TOP}, missing: {ALLOWED_TOP - top}"


def test_required_files_are_shipped(members):
    files = {n for n, m in members.items() if m.isfile()}
    assert REQUIRED <= files, sorted(REQUIRED - files)


def test_nothing_of_the_lab_tests_or_tooling(members):
    for name in members:
        parts = name.split("/")
        assert parts[0] not in FORBIDDEN_TOP, name
        assert not set(parts) & FORBIDDEN_ANYWHERE, name
        assert not name.startswith("inventories/lab"), name
        assert "vault-password" not in name, name
        assert not name.endswith((".pyc", ".tar.gz")), name
        assert not (name.startswith("requirements-") or name in ("ansible.cfg", "site.yml",
                                                                 "Makefile", "pyproject.toml")), name


def test_no_untracked_file_and_no_tracked_file_lost(members):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True,
                                 capture_output=True, text=True).stdout.split("\0")) - {""}
    files = {n for n, m in members.items() if m.isfile()} - {"MANIFEST.json", "FILES.json"}
    assert files <= tracked, f"files that git does not track: {sorted(files - tracked)}"
    for d in SHIPPED_DIRS:
        expected = {p for p in tracked if p.startswith(d + "/") and "__pycache__" not in p}
        assert expected <= files, f"{d}: lost {sorted(expected - files)}"


def test_manifest_declares_no_collection_dependency(tarball):
    # The collection depends on no other collection (the peers are benchmark-only).
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["dependencies"] == {}
    assert manifest["collection_info"]["name"] == "vps"
