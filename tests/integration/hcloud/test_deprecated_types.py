"""Deprecated server types through the collection's modules against the lab API (real
ansible-playbook): a create or change_type to a type past its ``unavailable_after`` fails
with a clear message before anything is written; a server that already runs on a deprecated
type is left alone with a warning.  The lab creates the old servers with
``allow_retired_types``, as a fleet bought before the cut-off has them."""
from __future__ import annotations

from playbook_run import run_tasks

S = "nixos_hetzner.vps.hcloud_server"
F = "nixos_hetzner.vps.hcloud_fleet"


def env(lab):
    return {"HCLOUD_TOKEN": lab.token, "HCLOUD_ENDPOINT": lab.endpoint}


def old_server(lab, name, labels=None):
    from hcloud.images import Image
    from hcloud.locations import Location
    from hcloud.server_types import ServerType
    c = lab.client()
    lab.configure(allow_retired_types=True)
    try:
        r = c.servers.create(name=name, server_type=ServerType(name="cx22"),
                             image=Image(name="debian-12"), location=Location(name="fsn1"),
                             labels=labels or {})
        for a in [r.action, *r.next_actions]:
            a.wait_until_finished(max_retries=2400)
    finally:
        lab.configure(allow_retired_types=False)


def by_task(results):
    return dict((r["_task"], r) for r in results)


def warnings_of(result):
    return " ".join(result.get("warnings") or [])


def test_hcloud_server_refuses_retired_type_and_warns_on_old_server(lab):
    old_server(lab, "old1")
    base = {"image": "debian-12", "location": "fsn1"}
    tasks = [
        {"name": "create cx22", "ignore_errors": True,
         S: dict(base, name="new1", server_type="cx22", state="started")},
        {"name": "create cpx21 in nbg1", "ignore_errors": True,
         S: dict(base, name="new2", server_type="cpx21", location="nbg1")},
        {"name": "old server", S: dict(base, name="old1", server_type="cx22", state="started")},
        {"name": "rescale to cx32", "ignore_errors": True,
         S: {"name": "old1", "server_type": "cx32", "state": "stopped",
             "allow_reboot": True}},
        {"name": "create cx23", S: dict(base, name="new3", server_type="cx23")},
    ]
    res = by_task(run_tasks(tasks, env=env(lab)))
    bad = res["create cx22"]
    assert bad["failed"] and bad["code"] == "server_type_unavailable"
    assert "new1: server type cx22 is deprecated in fsn1 (orderable until " \
           "2025-12-31T23:59:59+00:00)" in bad["msg"]
    assert "deprecated in nbg1" in res["create cpx21 in nbg1"]["msg"]
    old = res["old server"]
    assert not old.get("failed") and not old["changed"]
    assert "server old1 uses server type cx22, deprecated in fsn1" in warnings_of(old)
    rescale = res["rescale to cx32"]
    assert rescale["failed"] and "cx32 is deprecated in fsn1" in rescale["msg"]
    assert not res["create cx23"].get("failed") and not warnings_of(res["create cx23"])
    names = {s["name"]: s for s in lab.servers()}
    assert set(names) == {"old1", "new3"}  # nothing written for the refused ones
    assert names["old1"]["status"] == "running"  # the rescale did not even stop it


def test_hcloud_fleet_refuses_retired_type_before_writing_and_warns(lab):
    old_server(lab, "legacy", labels={"fleet": "f"})
    keep = {"name": "legacy", "server_type": "cx22", "image": "debian-12", "location": "fsn1"}
    tasks = [
        {"name": "add a cx42", "ignore_errors": True, F: {"fleet": "f", "servers": [
            keep, {"name": "fresh", "server_type": "cx23", "image": "debian-12",
                   "location": "fsn1"},
            {"name": "big", "server_type": "cx42", "image": "debian-12", "location": "nbg1"}]}},
        {"name": "keep the old one", F: {"fleet": "f", "servers": [keep]}},
    ]
    res = by_task(run_tasks(tasks, env=env(lab)))
    bad = res["add a cx42"]
    assert bad["failed"] and bad["code"] == "server_type_unavailable"
    assert "big: server type cx42 is deprecated in nbg1" in bad["msg"]
    assert {s["name"] for s in lab.servers()} == {"legacy"}  # 'fresh' was not created either
    ok = res["keep the old one"]
    assert not ok.get("failed") and not ok["changed"]
    assert "server legacy uses server type cx22" in warnings_of(ok)
