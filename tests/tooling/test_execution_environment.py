"""The collection's execution-environment metadata, read by ansible-builder itself.

- ``ansible-builder introspect`` on the collection installed from its tarball finds the
  Python requirement (hcloud) and the system packages (ssh, tar) that
  meta/execution-environment.yml declares;
- ``ansible-builder create`` turns the documented definition (docs/examples/
  execution-environment.yml) into a build context: a Containerfile that installs the
  collection from the tarball, with the tarball in the context. No image is built: base
  images cannot be pulled here (docs/awx.md).
"""
import shutil
import subprocess

import yaml

from conftest import ROOT, tool


def test_introspect_finds_the_collection_requirements(installed_collections):
    out = subprocess.run([tool("ansible-builder"), "introspect", "--sanitize",
                          str(installed_collections)], check=True, capture_output=True,
                         text=True).stdout
    data = yaml.safe_load(out)
    python = " ".join(data["python"])
    system = " ".join(data["system"])
    assert "hcloud>=2.27.0,<3" in python and "nixos_hetzner.vps" in python, data
    assert "openssh-client [platform:dpkg]" in system, data
    assert "openssh-clients [platform:rpm]" in system, data
    assert "tar" in system, data


def test_create_writes_a_build_context(tmp_path, tarball):
    work = tmp_path / "ee"
    work.mkdir()
    shutil.copy(ROOT / "docs/examples/execution-environment.yml", work)
    shutil.copy(tarball, work / "nixos_hetzner-vps.tar.gz")
    proc = subprocess.run([tool("ansible-builder"), "create", "--file",
                           "execution-environment.yml", "--context", "context",
                           "--output-filename", "Containerfile"],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ctx = work / "context"
    containerfile = (ctx / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/fedora/python-313:latest"' in containerfile
    assert 'ANSIBLE_INSTALL_REFS="ansible-core>=2.19,<2.22 ansible-runner>=2.4"' in containerfile
    # The collection is installed from the context's requirements.yml, then its own
    # requirements are introspected (meta/execution-environment.yml) and installed.
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect" in containerfile
    assert (ctx / "_build/collections/nixos_hetzner-vps.tar.gz").read_bytes() == tarball.read_bytes()
    reqs = yaml.safe_load((ctx / "_build/requirements.yml").read_text())
    assert reqs["collections"] == [{"name": "collections/nixos_hetzner-vps.tar.gz", "type": "file"}]
