"""ansible-runner, the engine AWX and Automation Platform use, runs the collection's
playbooks against the API lab the way AWX would set them up:

- the collection comes from its tarball (as in an execution environment), not from the
  repository;
- the Hetzner token arrives as the environment variable HCLOUD_TOKEN (what the credential
  type of docs/awx.md injects), never in a file of the project;
- ``nixos_hetzner.vps.hardware`` provisions the fleet from a static inventory;
- ``nixos_hetzner.vps.destroy`` runs on the dynamic inventory (the collection's inventory
  plugin, as an AWX inventory source), first without the survey answer (it must refuse and
  delete nothing), then with ``destroy_confirm`` in env/extravars, where AWX writes survey
  answers.
"""
import json
import os
import subprocess

import pytest

from conftest import BIN, tool

FLEET = "runner-fleet"
HOSTS = ("runner-1", "runner-2")


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) if not isinstance(data, str) else data)


@pytest.fixture
def private_data_dir(tmp_path, lab, installed_collections):
    pdd = tmp_path / "pdd"
    group_vars = {
        "hcloud_api_endpoint": lab.endpoint,
        "hardware_fleet": FLEET,
        "hardware_rescue": False,
        "hardware_protection": False,
        "hardware_admin_key_path": str(tmp_path / "keys" / "admin_ed25519"),
    }
    # A static inventory for the first run, and the inventory plugin as the source for the
    # later ones (each with the same group vars, as AWX inventories carry them).
    _write(pdd / "static" / "hosts.yml", {"nixos_hetzner": {"hosts": {h: {} for h in HOSTS}}})
    _write(pdd / "static" / "group_vars" / "nixos_hetzner.yml", group_vars)
    _write(pdd / "dynamic" / "fleet.hcloud.yml", {
        "plugin": "nixos_hetzner.vps.hcloud", "api_endpoint": lab.endpoint,
        "label_selector": f"fleet={FLEET}", "group": "nixos_hetzner"})
    _write(pdd / "dynamic" / "group_vars" / "nixos_hetzner.yml", group_vars)
    _write(pdd / "project" / "hardware.yml",
           '- name: Provision\n  ansible.builtin.import_playbook: nixos_hetzner.vps.hardware\n')
    _write(pdd / "project" / "destroy.yml",
           '- name: Destroy\n  ansible.builtin.import_playbook: nixos_hetzner.vps.destroy\n')
    _write(pdd / "env" / "envvars", {
        "HCLOUD_TOKEN": lab.token,
        "ANSIBLE_COLLECTIONS_PATH": str(installed_collections),
        "ANSIBLE_NOCOLOR": "1",
    })
    return pdd


def runner(pdd, ident, playbook, inventory):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    # Nothing of the repository: no ansible.cfg, no collections path but the installed one.
    env.pop("ANSIBLE_CONFIG", None)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    proc = subprocess.run(
        [tool("ansible-runner"), "run", str(pdd), "--ident", ident, "-p", playbook,
         "--inventory", str(pdd / inventory)],
        capture_output=True, text=True, env=env, cwd=pdd, timeout=600)
    artifacts = pdd / "artifacts" / ident
    status = (artifacts / "status").read_text().strip()
    events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"))]
    return proc, status, events


def fleet_servers(lab):
    return sorted(s.name for s in lab.client().servers.get_all(label_selector=f"fleet={FLEET}"))


def test_runner_provisions_then_destroy_needs_the_survey_answer(private_data_dir, lab):
    pdd = private_data_dir
    proc, status, events = runner(pdd, "hardware", "hardware.yml", "static")
    assert status == "successful", proc.stdout[-4000:]
    assert fleet_servers(lab) == list(HOSTS)
    # The token never appears in what the runner recorded (events, stdout).
    assert lab.token not in proc.stdout
    assert not any(lab.token in json.dumps(e) for e in events)

    # Without the survey answer: refused, nothing deleted.
    proc, status, _ = runner(pdd, "destroy-unconfirmed", "destroy.yml", "dynamic")
    assert status == "failed", proc.stdout[-4000:]
    assert "Refusing to destroy anything" in proc.stdout
    assert fleet_servers(lab) == list(HOSTS)

    # With it (AWX writes survey answers to env/extravars): the fleet is gone.
    _write(pdd / "env" / "extravars", {"destroy_confirm": FLEET})
    proc, status, events = runner(pdd, "destroy", "destroy.yml", "dynamic")
    assert status == "successful", proc.stdout[-4000:]
    assert fleet_servers(lab) == []
    hosts = {e["event_data"].get("host") for e in events if e.get("event") == "runner_on_ok"}
    assert set(HOSTS) <= hosts, hosts
