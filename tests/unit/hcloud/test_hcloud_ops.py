"""The server seam (ServerOps): lost creates are resolved by name, never duplicated; rounds
batch the waits. Driven through the real hcloud library with a scripted fake transport."""
from __future__ import annotations

from hcloud_fake_transport import error, make_fake_client, response
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_ops import (
    Catalogs,
    Job,
    ServerOps,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    desired_server,
    plan_server,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_waiter import ActionWaiter


def make_ops(script):
    client, session, sleeps = make_fake_client(script)
    waiter = ActionWaiter.for_client(client, sleep=lambda s: None)
    return ServerOps(client, waiter, Catalogs(client), max_parallel=1), session


def job_for(name, **kw):
    d = desired_server(dict(name=name, server_type="cx23", image="debian-12", **kw))
    d["create_labels"] = {"fleet": "f"}
    return Job(name, d, plan_server(None, d))


def created(sid, name):
    return response(201, {"server": {"id": sid, "name": name},
                          "action": {"id": 100 + sid, "command": "create_server", "status": "running"},
                          "next_actions": [{"id": 200 + sid, "command": "start_server", "status": "running"}],
                          "root_password": None})


def done(*ids):
    return response(200, {"actions": [{"id": i, "status": "success", "command": "x"} for i in ids]})


def test_lost_create_is_adopted_by_name_not_repeated():
    bodies = []
    ops, session = make_ops([
        ("POST", "/servers", error(503, "unavailable"), lambda p, j: bodies.append(j)),
        ("GET", "/servers", response(200, {"servers": [{"id": 9, "name": "web1"}]}),
         lambda p, j: bodies.append(p)),
        ("GET", "/servers/9/actions", response(200, {"actions": [
            {"id": 109, "command": "create_server", "status": "running"}]})),
        ("GET", "/actions", done(109)),
    ])
    job = job_for("web1")
    ops.run([job])
    assert job.error is None and job.server_id == 9 and job.adopted
    assert bodies[0]["labels"] == {"fleet": "f"} and bodies[1] == {"name": "web1"}
    assert [c[:2] for c in session.calls].count(("POST", "/servers")) == 1


def test_lost_create_that_created_nothing_is_tried_again():
    ops, session = make_ops([
        ("POST", "/servers", error(500, "server_error")),
        ("GET", "/servers", response(200, {"servers": []})),
        ("POST", "/servers", created(4, "web1")),
        ("GET", "/actions", done(104, 204)),
    ])
    job = job_for("web1")
    ops.run([job])
    assert job.error is None and job.server_id == 4 and not job.adopted


def test_one_failed_server_does_not_stop_the_others_and_waits_are_batched():
    fetched = []
    ops, session = make_ops([
        ("POST", "/servers", created(1, "a")),
        ("POST", "/servers", error(422, "invalid_input", "bad")),
        ("POST", "/servers", created(3, "c")),
        ("GET", "/actions", response(200, {"actions": [
            {"id": 101, "status": "success", "command": "create_server"},
            {"id": 103, "status": "error", "command": "create_server",
             "error": {"code": "no_space", "message": "no capacity"}},
            {"id": 201, "status": "success", "command": "start_server"},
            {"id": 203, "status": "success", "command": "start_server"}]}),
         lambda p, j: fetched.append(p["id"])),
    ])
    jobs = [job_for("a"), job_for("b"), job_for("c")]
    ops.run(jobs)
    assert jobs[0].error is None
    assert jobs[1].error["code"] == "invalid_input" and "server b" in jobs[1].error["msg"]
    assert jobs[2].error["code"] == "no_space" and "server c" in jobs[2].error["msg"]
    assert fetched == [[101, 103, 201, 203]]  # one poll for every action of the round


def test_rescue_uses_key_ids_and_resets():
    d = desired_server(dict(name="web1", ssh_keys=["admin"], state="rescue"))
    from test_hcloud_server_plan import obs
    plan = plan_server(obs(), d)
    bodies = []
    ops, session = make_ops([
        ("GET", "/ssh_keys", response(200, {"ssh_keys": [{"id": 12, "name": "admin"}]})),
        ("POST", "/servers/1/actions/enable_rescue",
         response(201, {"action": {"id": 5, "status": "running", "command": "enable_rescue"},
                        "root_password": "secret"}), lambda p, j: bodies.append(j)),
        ("GET", "/actions", done(5)),
        ("POST", "/servers/1/actions/reset",
         response(201, {"action": {"id": 6, "status": "running", "command": "reset_server"}})),
        ("GET", "/actions", done(6)),
    ])
    job = Job("web1", d, plan, server_id=1)
    ops.run([job])
    assert job.error is None and job.done == ["enable_rescue", "reset"]
    assert bodies == [{"type": "linux64", "ssh_keys": [12]}]
    assert job.root_password is None  # keys were given: the password is not kept
