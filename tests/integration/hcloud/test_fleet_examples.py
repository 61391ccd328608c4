"""The EXAMPLES of hcloud_fleet run as written, against the lab API (issue 13, item 9: the
first example failed with "Unsupported parameters ... servers.architecture, servers.id",
because it passed server facts as server options)."""
from __future__ import annotations

import json
import sys

import yaml

from playbook_run import run_playbook

from ansible_collections.nixos_hetzner.vps.plugins.modules import hcloud_fleet

PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3d3FvN4u1nQxG6i3tq3tq3tq3tq3tq3tq3tq3tq3t admin@x"


def test_fleet_examples_run(lab, tmp_path):
    lab.client().ssh_keys.create(name="admin", public_key=PUBKEY)
    tasks = yaml.safe_load(hcloud_fleet.EXAMPLES)
    assert len(tasks) == 3
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "app-a": {"server": {"name": "app1", "server_type": "cx23", "image": "debian-12",
                             "location": "fsn1", "ssh_keys": ["admin"]}},
        "app-b": {"server": {"name": "app2", "server_type": "cx23", "image": "debian-12",
                             "location": "nbg1", "ssh_keys": ["admin"]}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    defaults = {"module_defaults": {"group/nixos_hetzner.vps.hcloud": {
        "api_token": lab.token, "api_endpoint": lab.endpoint}}}
    plays = [dict(defaults, hosts="all", gather_facts=False, tasks=tasks[:2] + [
                 {"ansible.builtin.assert": {"that": ["ansible_host.startswith('127.')"]}}]),
             dict(defaults, hosts="localhost", gather_facts=False, tasks=tasks[2:])]
    results, proc = run_playbook(plays, inventory=str(inventory), host=None)
    failed = [r for r in results if r.get("failed")]
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-3000:], proc.stderr[-2000:])
    names = sorted(s["name"] for s in lab.servers())
    assert names == ["app1", "app2", "web1", "web2", "web3"]
