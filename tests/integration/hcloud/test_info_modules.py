"""hcloud_server_info and hcloud_firewall_info against the lab API through the real hcloud
library over HTTP (issue 13, item 15), and the one server shape: hcloud_server, hcloud_fleet,
hcloud_server_info and the inventory plugin return the same keys and values for a server
(before, the modules said backups/delete_protection and the inventory backup_window and
protection.delete)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from playbook_run import run_playbook

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    FACT_FIELDS,
)
from ansible_collections.nixos_hetzner.vps.plugins.modules import (
    hcloud_firewall_info,
    hcloud_server_info,
)

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
SI = "nixos_hetzner.vps.hcloud_server_info"
FI = "nixos_hetzner.vps.hcloud_firewall_info"
ANY = ["0.0.0.0/0", "::/0"]


def play(lab, tasks):
    """One play on localhost with the token and endpoint set through the action group only."""
    return {"hosts": "localhost", "gather_facts": False, "tasks": tasks,
            "module_defaults": {"group/nixos_hetzner.vps.hcloud": {"api_token": lab.token,
                                                                   "api_endpoint": lab.endpoint}}}


def run(lab, tasks, **kw):
    results, proc = run_playbook(play(lab, tasks), env={"HCLOUD_TOKEN": "", "HCLOUD_ENDPOINT": ""}, **kw)
    failed = [r for r in results if r.get("failed")]
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-3000:], proc.stderr[-2000:])
    return results


def server(name, **over):
    s = {"name": name, "server_type": "cx23", "image": "debian-12", "location": "fsn1"}
    s.update(over)
    return s


def inventory_facts(lab, tmp_path):
    source = tmp_path / "fleet.hcloud.yml"
    source.write_text(json.dumps({"plugin": "nixos_hetzner.vps.hcloud", "label_selector": "fleet=info",
                                  "api_endpoint": lab.endpoint, "api_token": lab.token}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_INVENTORY_ENABLED="nixos_hetzner.vps.hcloud")
    out = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    hostvars = json.loads(out.stdout)["_meta"]["hostvars"]

    def plain(v):
        return v["__ansible_unsafe"] if isinstance(v, dict) and "__ansible_unsafe" in v else v
    return dict((host, dict((k[len("hcloud_"):], json.loads(json.dumps(v), object_hook=lambda d: plain(d)))
                            for k, v in hv.items() if k.startswith("hcloud_")))
                for host, hv in hostvars.items())


def test_one_server_shape_and_one_list_call(lab, tmp_path):
    fleet = {"fleet": "info", "servers": [server("info-a", backups=True, delete_protection=True,
                                                  rebuild_protection=True),
                                           server("info-b", labels={"role": "db"})]}
    other = server("other", labels={"fleet": "else"})
    created = run(lab, [{"name": "fleet", "nixos_hetzner.vps.hcloud_fleet": fleet, "register": "f"},
                        {"name": "one more", "nixos_hetzner.vps.hcloud_server": other}])
    fleet_facts = created[0]["servers"]

    lab.reset(world=False)
    results = run(lab, [
        {"name": "by selector (check mode)", SI: {"label_selector": "fleet=info"}, "check_mode": True},
        {"name": "by name", SI: {"name": "info-b"}},
        {"name": "selector and status", SI: {"label_selector": "fleet=info,role=db", "status": ["running"]}},
        {"name": "status off", SI: {"status": ["off"]}},
        {"name": "none", SI: {"name": "nope"}},
    ])
    # One list call per task (every filter goes into it), nothing else.
    assert lab.stats()["requests"] == {"GET /v1/servers": 5}, lab.stats()["requests"]
    listed = results[0]["servers"]
    assert [s["name"] for s in listed] == ["info-a", "info-b"]
    assert not any(r["changed"] for r in results)
    assert [s["name"] for s in results[1]["servers"]] == ["info-b"]
    assert [s["name"] for s in results[2]["servers"]] == ["info-b"]
    assert results[3]["servers"] == [] and results[4]["servers"] == []

    a = listed[0]
    assert sorted(a) == sorted(FACT_FIELDS)
    assert a["backups"] is True and a["backup_window"]
    assert a["delete_protection"] is True and a["rebuild_protection"] is True
    # The same shape and values as the fleet module returned (minus its outcome keys) ...
    for s in listed:
        module = dict((k, v) for k, v in fleet_facts[s["name"]].items()
                      if k not in ("rebooted", "pending_changes"))
        assert module == s
    # ... and as the inventory plugin's host variables.
    inv = inventory_facts(lab, tmp_path)
    assert sorted(inv) == ["info-a", "info-b"]
    for s in listed:
        assert inv[s["name"]] == s, (inv[s["name"]], s)


def test_firewall_info(lab):
    rules = [{"protocol": "tcp", "port": "443", "source_ips": ANY},
             {"protocol": "tcp", "port": "22", "source_ips": ANY}]
    results = run(lab, [
        {"name": "fw", "nixos_hetzner.vps.hcloud_firewall": {"name": "web-firewall", "rules": rules,
                                                             "labels": {"fleet": "web"},
                                                             "apply_to_label_selectors": ["fleet=web"]}},
        {"name": "other", "nixos_hetzner.vps.hcloud_firewall": {"name": "db-firewall", "rules": []}},
        {"name": "by name", FI: {"name": "web-firewall"}, "check_mode": True},
        {"name": "by selector", FI: {"label_selector": "fleet=web"}},
        {"name": "all", FI: {}},
    ])
    managed = results[0]["hcloud_firewall"]
    assert results[2]["firewalls"] == [managed]
    assert results[3]["firewalls"] == [managed]
    assert [f["name"] for f in results[4]["firewalls"]] == ["db-firewall", "web-firewall"]
    assert not any(r["changed"] for r in results[2:])
    assert [r["port"] for r in managed["rules"]] == ["22", "443"]


def test_info_examples_run(lab):
    lab.client().firewalls.create(name="web-firewall", rules=[])
    run(lab, [{"name": "fw", "nixos_hetzner.vps.hcloud_firewall": {"name": "web-firewall", "rules": [
        {"protocol": "tcp", "port": "443", "source_ips": ANY}]}}])
    run(lab, [{"name": "srv", "nixos_hetzner.vps.hcloud_server": server("web1", labels={"fleet": "web"})}])
    tasks = yaml.safe_load(hcloud_server_info.EXAMPLES) + yaml.safe_load(hcloud_firewall_info.EXAMPLES)
    results = run(lab, tasks)
    assert len(results) == len(tasks)
    assert [s["name"] for s in results[0]["servers"]] == ["web1"]
    assert results[1]["msg"] == ["127.0.0.%s" % results[0]["servers"][0]["ipv4"].rsplit(".", 1)[1]]
