"""A type change that the API would refuse after the power-off, through the collection's
modules against the lab API (real ansible-playbook):

- a change to a type with a smaller disk than the server's is refused before anything is
  written, so the server is never shut down for a change that cannot happen (the type-change
  drill of tests/vm/test_installed.py found the old behaviour: shut down, refused, left off);
- a change_type that fails after the shutdown powers the server on again and says so.
"""
from __future__ import annotations

from playbook_run import run_tasks

S = "nixos_hetzner.vps.hcloud_server"
F = "nixos_hetzner.vps.hcloud_fleet"
BASE = {"image": "debian-12", "location": "fsn1"}


def env(lab):
    return {"HCLOUD_TOKEN": lab.token, "HCLOUD_ENDPOINT": lab.endpoint}


def by_task(results):
    return dict((r["_task"], r) for r in results)


def status(lab):
    return dict((s["name"], (s["status"], s["server_type"])) for s in lab.servers())


def test_smaller_disk_is_refused_before_any_power_off(lab):
    tasks = [
        {"name": "create", F: {"fleet": "d", "servers": [
            dict(BASE, name="big-disk", server_type="cpx22")]}},
        {"name": "fleet to cx23", "ignore_errors": True, F: {"fleet": "d", "servers": [
            dict(BASE, name="big-disk", server_type="cx23", allow_reboot=True)]}},
        {"name": "server to cx23", "ignore_errors": True,
         S: dict(BASE, name="big-disk", server_type="cx23", allow_reboot=True)},
    ]
    res = by_task(run_tasks(tasks, env=env(lab)))
    assert not res["create"].get("failed"), res["create"]
    for task in ("fleet to cx23", "server to cx23"):
        r = res[task]
        assert r["failed"], r
        assert "big-disk: server type cx23 has a 40 GB disk, smaller than the server's " \
               "80 GB disk" in r["msg"], r["msg"]
        assert "nothing was changed or powered off" in r["msg"]
    assert status(lab) == {"big-disk": ("running", "cpx22")}


def test_failed_change_type_powers_the_server_on_again(lab):
    tasks = [{"name": "create", F: {"fleet": "g", "servers": [
        dict(BASE, name="grow", server_type="cx23")]}}]
    assert not by_task(run_tasks(tasks, env=env(lab)))["create"].get("failed")
    lab.configure(fault_actions={"change_server_type": 1.0})
    try:
        tasks = [
            {"name": "server to cpx22", "ignore_errors": True,
             S: dict(BASE, name="grow", server_type="cpx22", allow_reboot=True,
                     shutdown_timeout=5)},
            {"name": "fleet to cpx22", "ignore_errors": True, F: {"fleet": "g", "servers": [
                dict(BASE, name="grow", server_type="cpx22", allow_reboot=True,
                     shutdown_timeout=5)]}},
        ]
        res = by_task(run_tasks(tasks, env=env(lab)))
    finally:
        lab.configure(fault_actions={})
    for task in ("server to cpx22", "fleet to cpx22"):
        r = res[task]
        assert r["failed"], r
        assert "change_type" in r["msg"] or "change_server_type" in r["msg"], r["msg"]
        assert "powered on again" in r["msg"], r["msg"]
    assert status(lab) == {"grow": ("running", "cx23")}
