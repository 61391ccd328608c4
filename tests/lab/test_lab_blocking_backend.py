"""The emulator's contract with blocking backends (the qemu backend's model), checked
with a fake backend whose calls take a known time and can fail on demand."""
import json
import os
import time
from pathlib import Path

import pytest
from hcloud.actions.domain import ActionFailedException
from hcloud.images import Image
from hcloud.server_types import ServerType

from lab_fixture import start_lab

HERE = Path(__file__).resolve().parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND ci"


def calls(state, with_time=False):
    path = Path(state) / "fake-calls.jsonl"
    rows = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
    if not with_time:
        for r in rows:
            r.pop("t", None)
    return rows


def fake_lab(state, *opts):
    args = ["--time-scale", "0.0001"]
    for o in opts:
        args += ["--backend-opt", o]
    env = {"PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), str(HERE)])}
    return start_lab(state_dir=state, backend="fake_backend:SlowBackend", extra_args=args,
                     env=env)


def test_actions_wait_for_the_backend_and_carry_its_data(tmp_path):
    with fake_lab(tmp_path, "delay=3") as lab:
        c = lab.client()
        key = c.ssh_keys.create(name="ci", public_key=KEY)
        t0 = time.monotonic()
        r = c.servers.create(name="vm1", server_type=ServerType(name="cax11"),
                             image=Image(name="debian-12"), ssh_keys=[key], user_data="#cloud-config\n")
        assert time.monotonic() - t0 < 2.5  # the HTTP answer does not wait for the backend
        time.sleep(0.3)
        a = c.actions.get_by_id(r.action.id)
        assert a.status == "running" and a.progress <= 99  # nominal time is long over
        r.action.wait_until_finished()
        assert time.monotonic() - t0 >= 3
        r.next_actions[0].wait_until_finished()  # start_server runs after the create
        assert c.servers.get_by_id(r.server.id).status == "running"
        (create,) = [x for x in calls(tmp_path) if x["call"] == "create_server"]
        assert create == {"call": "create_server", "id": r.server.id, "name": "vm1",
                          "ipv4": "127.0.0.2", "image": "debian-12", "keys": [KEY],
                          "user_data": "#cloud-config\n", "disk": 40, "arch": "arm",
                          "power_on": True}
        info = {s["name"]: s for s in lab.servers()}["vm1"]
        assert info["backend"]["console_log"].endswith(f"console-{r.server.id}.log")


def test_backend_error_ends_the_action_in_error(tmp_path):
    with fake_lab(tmp_path, "delay=0.1", "fail=reboot") as lab:
        c = lab.client()
        r = c.servers.create(name="fail-me", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"))
        with pytest.raises(ActionFailedException) as exc:
            r.action.wait_until_finished()
        assert exc.value.action.error == {"code": "action_failed",
                                          "message": "fake backend: create_server failed for fail-me"}
        assert c.servers.get_by_id(r.server.id).status == "off"
        ok = c.servers.create(name="fine", server_type=ServerType(name="cx23"),
                              image=Image(name="debian-12"))
        for a in [ok.action, *ok.next_actions]:
            a.wait_until_finished()
        with pytest.raises(ActionFailedException):
            ok.server.reboot().wait_until_finished()
        s = c.servers.get_by_id(ok.server.id)
        assert s.status == "running" and s.locked is False


def test_rescue_flag_reaches_the_backend(tmp_path):
    with fake_lab(tmp_path, "delay=0.05") as lab:
        c = lab.client()
        key = c.ssh_keys.create(name="ci", public_key=KEY)
        r = c.servers.create(name="r", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"))
        for a in [r.action, *r.next_actions]:
            a.wait_until_finished()
        s = r.server
        s.enable_rescue(ssh_keys=[key.id]).action.wait_until_finished()
        s.reset().wait_until_finished()
        s.reboot().wait_until_finished()
        s.power_off().wait_until_finished()
        s.power_on().wait_until_finished()
        seen = [(x["call"], x.get("rescue"), x.get("keys")) for x in calls(tmp_path)
                if x["call"] not in ("resume", "create_server")]
        assert seen == [("enable_rescue", None, [KEY]), ("reset", True, None),
                        ("reboot", False, None), ("power_off", None, None),
                        ("power_on", False, None)]


def test_restart_ends_interrupted_actions_and_resumes(tmp_path):
    with fake_lab(tmp_path, "delay=0.05") as lab:
        c = lab.client()
        r = c.servers.create(name="keep", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"))
        for a in [r.action, *r.next_actions]:
            a.wait_until_finished()
    assert calls(tmp_path)[-1] == {"call": "close"}
    with fake_lab(tmp_path, "delay=30") as lab:
        c = lab.client()
        a = c.servers.get_by_id(r.server.id).power_off()
        time.sleep(0.2)
        lab.stop()
    with fake_lab(tmp_path, "delay=0.05") as lab:
        c = lab.client()
        a = c.actions.get_by_id(a.id)
        assert a.status == "error"
        assert "restarted" in a.error["message"]
        resumes = [x for x in calls(tmp_path) if x["call"] == "resume"]
        assert resumes[-1]["servers"] == [[r.server.id, "running"]]
        assert c.servers.get_by_id(r.server.id).locked is False


def test_next_actions_follow_their_parent(tmp_path):
    with fake_lab(tmp_path, "delay=0.4") as lab:
        c = lab.client()
        from hcloud.locations import Location
        vol = c.volumes.create(size=10, name="data", location=Location(name="fsn1"))
        vol.action.wait_until_finished()
        r = c.servers.create(name="withvol", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"), volumes=[vol.volume])
        assert [a.command for a in r.next_actions] == ["start_server", "attach_volume"]
        for a in [r.action] + r.next_actions:
            a.wait_until_finished()
        rows = [x for x in calls(tmp_path, with_time=True) if x["call"] != "resume"]
        assert [x["call"] for x in rows] == ["create_volume", "create_server", "attach_volume"]
        # the attach waited until create_server had returned (each call takes 0.4 s)
        assert rows[2]["t"] >= rows[1]["t"] + 0.39
        assert c.volumes.get_by_id(vol.volume.id).server.id == r.server.id
        # a failed create fails its next actions too
        bad = c.servers.create(name="fail-x", server_type=ServerType(name="cx23"),
                               image=Image(name="debian-12"))
        with pytest.raises(ActionFailedException) as exc:
            bad.next_actions[0].wait_until_finished()
        assert exc.value.action.error["message"].startswith("create_server failed: ")


def test_backend_events_reach_the_api(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), str(HERE)])}
    with start_lab(state_dir=tmp_path, backend="fake_backend:NotifyingBackend", env=env,
                   extra_args=["--time-scale", "0.0001", "--backend-opt", "delay=0.05"]) as lab:
        c = lab.client()
        r = c.servers.create(name="selfstop", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"), user_data="selfstop")
        r.action.wait_until_finished()
        deadline = time.time() + 10
        while c.servers.get_by_id(r.server.id).status != "off" and time.time() < deadline:
            time.sleep(0.1)
        assert c.servers.get_by_id(r.server.id).status == "off"  # the guest powered off
        s = r.server
        s.enable_rescue().action.wait_until_finished()
        s.power_on().wait_until_finished()
        s = c.servers.get_by_id(s.id)
        assert s.status == "running" and s.rescue_enabled is False


def test_a_deleted_servers_address_waits_for_the_teardown(tmp_path):
    with fake_lab(tmp_path, "delay=1.5") as lab:
        c = lab.client()
        r = c.servers.create(name="old", server_type=ServerType(name="cx23"),
                             image=Image(name="debian-12"))
        for a in [r.action, *r.next_actions]:
            a.wait_until_finished()
        a = r.server.delete()
        # the VM behind 127.0.0.2 is still being torn down: the next server gets .3
        r2 = c.servers.create(name="new", server_type=ServerType(name="cx23"),
                              image=Image(name="debian-12"))
        assert r2.server.public_net.ipv4.ip == "127.0.0.3"
        a.wait_until_finished()
        r3 = c.servers.create(name="newer", server_type=ServerType(name="cx23"),
                              image=Image(name="debian-12"))
        assert r3.server.public_net.ipv4.ip == "127.0.0.2"
