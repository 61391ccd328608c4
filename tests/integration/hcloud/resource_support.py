"""Helpers for the integration tests of the hcloud resource modules and the inventory
(hcloud_ssh_key, hcloud_firewall, hcloud_network, hcloud_placement_group, hcloud_volume,
the nixos_hetzner.vps.hcloud inventory). They run real ansible-playbook against the lab
API (fixture ``lab`` from tests/lab_fixture.py) through tests/integration/playbook_run.py.
"""
from __future__ import annotations

from playbook_run import run_module, run_tasks  # noqa: F401


def lab_env(lab):
    """Environment that points the modules at the lab (as module_defaults would)."""
    return {"HCLOUD_TOKEN": lab.token, "HCLOUD_ENDPOINT": lab.endpoint}


def ccrr_tasks(module, args, label=""):
    """Check, real, check, real as four tasks of one play (task-level check_mode is the
    real check mode: the module runs with check_mode set)."""
    tasks = []
    for i, check in enumerate((True, False, True, False)):
        tasks.append({
            "name": "%s %s %d %s" % (module, label, i, "check" if check else "real"),
            "check_mode": check,
            module: args,
        })
    return tasks


def changed(results):
    return [bool(r.get("changed")) for r in results]


def assert_ok(results):
    failed = [r for r in results if r.get("failed")]
    assert not failed, "failed tasks: %r" % (failed,)


def run_ccrr(lab, module, *steps, diff=True):
    """Run several check/real/check/real sequences (``steps``: (label, args)) in ONE
    ansible-playbook run; return a dict label -> the four results."""
    tasks = []
    for label, args in steps:
        tasks += ccrr_tasks(module, args, label)
    results = run_tasks(tasks, diff=diff, env=lab_env(lab))
    assert_ok(results)
    assert len(results) == 4 * len(steps), results
    return dict((label, results[4 * i:4 * i + 4]) for i, (label, _args) in enumerate(steps))


def make_servers(lab, names, labels=None, location="fsn1", wait=True):
    """Create servers straight through the hcloud library (not through our modules), and
    wait until their create actions are done. Returns the BoundServers."""
    from hcloud.images import Image
    from hcloud.locations import Location
    from hcloud.server_types import ServerType

    client = lab.client()
    created = []
    for name in names:
        resp = client.servers.create(name=name, server_type=ServerType(name="cx23"),
                                     image=Image(name="debian-12"), location=Location(name=location),
                                     labels=dict(labels or {}))
        created.append(resp)
    if wait:
        for resp in created:
            for action in [resp.action, *resp.next_actions]:  # start_server follows the create
                action.wait_until_finished(max_retries=600)
    return [client.servers.get_by_id(resp.server.id) for resp in created]


def run_failing(lab, module, cases, before=()):
    """Run tasks that must fail (``cases``: list of (args, substring of msg)) in ONE
    ansible-playbook run, after the ``before`` tasks (args dicts that must succeed).
    Returns the failing results, in order."""
    tasks = [{"name": "setup %d" % i, module: args} for i, args in enumerate(before)]
    for i, (args, _needle) in enumerate(cases):
        task = {"name": "bad %d" % i, module: dict(args), "ignore_errors": True}
        env = task[module].pop("_environment", None)
        if env is not None:
            task["environment"] = env
        tasks.append(task)
    results = run_tasks(tasks, env=lab_env(lab))
    assert len(results) == len(tasks), results
    assert_ok(results[:len(before)])
    bad = results[len(before):]
    for (args, needle), res in zip(cases, bad):
        assert res.get("failed"), "expected a failure for %r, got %r" % (args, res)
        assert needle in res.get("msg", ""), "expected %r in %r" % (needle, res.get("msg"))
        assert "Traceback" not in res.get("module_stderr", "") + res.get("msg", "")
    return bad
