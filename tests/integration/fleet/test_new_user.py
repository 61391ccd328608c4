"""The new user's path as a test (issue 13): build the collection's tarball, install it
into an empty collections path, and use it from a separate project (groups web and db,
group_vars, a vaulted passphrase) against the lab API: the hardware layer creates the
fleet, a re-run changes nothing, a limited run keeps the shared firewall, and the summary
prints. Nothing of the repository is on the path but the installed tarball."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fleet_project import firewall_rules, output, ports, run, servers, write_project

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def sh(*cmd, cwd=None, env=None):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_tarball_install_and_separate_project(lab, tmp_path):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    sh(BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path / "dist", ROOT,
       cwd=tmp_path, env=env)
    tarball = next((tmp_path / "dist").glob("nixos_hetzner-vps-*.tar.gz"))
    install = tmp_path / "collections"
    sh(BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", install, tarball,
       cwd=tmp_path, env=dict(env, ANSIBLE_COLLECTIONS_PATH=str(install)))
    installed = install / "ansible_collections" / "nixos_hetzner" / "vps"
    assert (installed / "MANIFEST.json").is_file()
    assert not (installed / ".venv").exists() and not (installed / "lab").exists()

    project = write_project(tmp_path / "project", lab)
    (project / "ansible.cfg").write_text("[defaults]\nvault_identity_list = demo@%s\n"
                                         % (project / "vault-pass"))
    (project / "vault-pass").write_text("new-user-test-only\n")
    vaulted = sh(BIN / "ansible-vault", "encrypt_string", "--encrypt-vault-id", "demo",
                 "--name", "vault_storage_luks_passphrase", "a-long-test-only-passphrase",
                 cwd=project, env=dict(env, ANSIBLE_CONFIG=str(project / "ansible.cfg"))).stdout
    (project / "group_vars" / "nixos_hetzner" / "vault.yml").write_text(vaulted)
    (project / "site.yml").write_text(json.dumps([
        {"ansible.builtin.import_playbook": "nixos_hetzner.vps.hardware"},
        {"name": "Use the vaulted passphrase", "hosts": "nixos_hetzner", "gather_facts": False,
         "tasks": [{"ansible.builtin.assert": {"that": ["vault_storage_luks_passphrase | length >= 20"],
                                               "quiet": True}, "no_log": True}]},
        {"ansible.builtin.import_playbook": "nixos_hetzner.vps.summary"}]))

    def project_run(*args):
        # The project's own ansible.cfg (in the working directory) holds the vault identity.
        return run(project, "site.yml", *args, collections=install, playbook_dir=project)

    first = project_run()
    assert first.returncode == 0, output(first)
    assert sorted(servers(lab)) == ["db-1", "web-1", "web-2"]
    assert "nixos_hetzner/vps/roles/hardware" in first.stdout or "nixos_hetzner.vps.hardware" in first.stdout
    assert str(ROOT) not in first.stdout, "the repository was used, not the installed tarball"
    rules = firewall_rules(lab)
    assert ports(rules) == ["22", "2222", "443", "5432", "80", "icmp"]
    again = project_run()
    assert again.returncode == 0, output(again)
    assert all(" changed=0 " in line for line in again.stdout.split("PLAY RECAP")[-1].splitlines()
               if " ok=" in line), again.stdout[-2000:]
    limited = project_run("-l", "db-1")
    assert limited.returncode == 0, output(limited)
    assert firewall_rules(lab) == rules
    assert '"server": "cx33 id=' in limited.stdout and "stage=provisioned" in limited.stdout, limited.stdout[-2500:]
