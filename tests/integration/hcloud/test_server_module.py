"""nixos_hetzner.vps.hcloud_server against the lab API, through real ansible-playbook.

ansible-playbook costs seconds per run on a loaded machine, so each test runs ONE playbook
with many tasks (failing ones with ignore_errors) and then checks every result."""
from __future__ import annotations

from playbook_run import run_playbook, run_tasks

M = "nixos_hetzner.vps.hcloud_server"
BASE = {"name": "web1", "server_type": "cx23", "image": "debian-12", "location": "fsn1"}
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3d3FvN4u1nQxG6i3tq3tq3tq3tq3tq3tq3tq3tq3t admin@x"


def env(lab):
    return {"HCLOUD_TOKEN": lab.token, "HCLOUD_ENDPOINT": lab.endpoint}


def ccrr_tasks(label, args):
    return [{"name": "%s %d" % (label, i), "check_mode": check, M: args}
            for i, check in enumerate((True, False, True, False))]


def changed(results):
    return [bool(r["changed"]) for r in results]


def by_task(results):
    return dict((r["_task"], r) for r in results)


def lab_server(lab, name):
    found = [s for s in lab.servers() if s["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def make_server(lab, **kw):
    from hcloud.images import Image
    from hcloud.server_types import ServerType
    client = lab.client()
    resp = client.servers.create(name=kw.get("name", "web1"), server_type=ServerType(name="cx23"),
                                 image=Image(name="debian-12"), labels=kw.get("labels", {}))
    for action in [resp.action, *resp.next_actions]:  # start_server follows the create
        action.wait_until_finished(max_retries=2400)
    return resp.server


def test_lifecycle_check_real_check_real(lab):
    steps = [
        ("create", dict(BASE, labels={"role": "web"}, state="started")),
        ("change", {"name": "web1", "labels": {"role": "db"}, "server_type": "cx33", "backups": True,
                    "allow_reboot": True}),
        ("stop", {"name": "web1", "state": "stopped"}),
        ("start", {"name": "web1", "state": "started"}),
        ("delete", {"name": "web1", "state": "absent"}),
    ]
    tasks = []
    for label, args in steps:
        tasks += ccrr_tasks(label, args)
    results = run_tasks(tasks, diff=True, env=env(lab), expect_ok=True)
    assert len(results) == 20
    res = dict((label, results[4 * i:4 * i + 4]) for i, (label, _a) in enumerate(steps))
    for label, _a in steps:
        assert changed(res[label]) == [True, True, False, False], label

    check, real = res["create"][0], res["create"][1]
    assert check["hcloud_server"]["id"] is None and check["hcloud_server"]["status"] == "running"
    assert check["diff"]["before"] == {} and check["diff"]["after"]["labels"] == {"role": "web"}
    facts = real["hcloud_server"]
    assert facts["id"] and facts["status"] == "running" and facts["labels"] == {"role": "web"}
    assert facts["ipv4"].startswith("127.") and facts["architecture"] == "x86"
    assert facts["ipv6"].endswith("::1") and facts["ipv6_network"].endswith("/64")
    assert real["root_password"]  # no ssh keys: the API generated one, and it is returned
    assert res["create"][3]["hcloud_server"] == facts

    change = res["change"]
    assert change[0]["diff"]["before"]["server_type"] == "cx23"
    assert change[0]["diff"]["after"]["server_type"] == "cx33"
    assert "graceful shutdown" in change[0]["diff"]["after"]["reboot"]
    assert change[0]["hcloud_server"]["rebooted"] and change[1]["hcloud_server"]["rebooted"]
    assert not change[3]["hcloud_server"]["rebooted"]
    facts = change[3]["hcloud_server"]
    assert facts["server_type"] == "cx33" and facts["labels"] == {"role": "db"}
    assert facts["backups"] is True and facts["status"] == "running"  # powered on again
    assert res["stop"][1]["hcloud_server"]["status"] == "off"
    assert res["stop"][3]["hcloud_server"]["server_type"] == "cx33"  # omitted: left as is
    assert res["start"][1]["hcloud_server"]["status"] == "running"
    assert res["delete"][1]["hcloud_server"] == {}
    assert lab_server(lab, "web1") is None


def test_type_change_needs_allow_reboot_and_shuts_down_gracefully(lab):
    # The original failure: changing cx23 to cx33 ran a hard poweroff, change_type and
    # poweron without warning. Now: reported and not done, unless allow_reboot; then a
    # graceful shutdown (the lab counts the actions it was asked for).
    make_server(lab)
    tasks = [
        {"name": "no opt-in", M: {"name": "web1", "server_type": "cx33"}},
        {"name": "opt-in", M: {"name": "web1", "server_type": "cx33", "allow_reboot": True}},
    ]
    r = by_task(run_tasks(tasks, diff=True, env=env(lab), expect_ok=True))
    no = r["no opt-in"]
    assert not no["changed"] and no["hcloud_server"]["server_type"] == "cx23"
    assert "needs a reboot" in no["hcloud_server"]["pending_changes"][0]
    assert any("allow_reboot=true" in w for w in no.get("warnings", [])), no
    yes = r["opt-in"]
    assert yes["changed"] and yes["hcloud_server"]["server_type"] == "cx33"
    assert yes["hcloud_server"]["rebooted"] and yes["hcloud_server"]["status"] == "running"
    assert lab.calls("POST", "/v1/servers/{id}/actions/shutdown") == 1
    assert lab.calls("POST", "/v1/servers/{id}/actions/poweroff") == 0
    assert lab_server(lab, "web1")["status"] == "running"


def test_rescue(lab):
    lab.client().ssh_keys.create(name="admin", public_key=PUBKEY)
    tasks = [
        {"name": "create", M: dict(BASE, ssh_keys=["admin"])},
        {"name": "rescue", M: {"name": "web1", "state": "rescue", "ssh_keys": ["admin"]}},
        {"name": "rescue again, check", "check_mode": True, M: {"name": "web1", "state": "rescue"}},
        {"name": "create web2", M: dict(BASE, name="web2")},
        {"name": "rescue web2 without keys", "no_log": False, M: {"name": "web2", "state": "rescue"}},
    ]
    r = by_task(run_tasks(tasks, env=env(lab), expect_ok=True))
    assert "root_password" not in r["create"]
    assert r["rescue"]["changed"] and "root_password" not in r["rescue"]
    assert r["rescue"]["hcloud_server"]["status"] == "running"
    assert r["rescue again, check"]["changed"]  # rescue acts on every run (documented)
    assert len(r["rescue web2 without keys"]["root_password"]) >= 10
    assert lab.calls("POST", "/v1/servers/{id}/actions/enable_rescue") == 2
    assert lab.calls("POST", "/v1/servers/{id}/actions/reset") == 2  # both were running
    assert lab.calls("POST", "/v1/servers/{id}/actions/poweron") == 0
    # The module returned only after the reset finished: both servers run the rescue system.
    assert lab_server(lab, "web1")["booted"] == "rescue"
    assert lab_server(lab, "web2")["booted"] == "rescue"


def test_bad_input_and_api_errors_fail_clearly_before_any_write(lab):
    make_server(lab, name="web1")
    lab.client().servers.get_by_name("web1").change_protection(delete=True, rebuild=True) \
        .wait_until_finished(max_retries=2400)
    lab.reset(world=False)
    tok = {"api_token": lab.token}
    tasks = [
        {"name": "location", M: dict(BASE, location="nbg1", **tok)},
        {"name": "image", M: dict(BASE, image="ubuntu-24.04", **tok)},
        {"name": "ipv6", M: dict(BASE, enable_ipv6=False, **tok)},
        {"name": "catalogs", M: dict(BASE, name="new1", server_type="cx99", image="debian-99",
                                     location="mars1", **tok)},
        {"name": "labels", M: dict(BASE, name="new2", labels={"bad key": "x", "ok": "-no-"}, **tok)},
        {"name": "no token", M: dict(BASE, name="new3")},
        {"name": "wrong token", M: dict(BASE, name="new4", api_token="wrong")},
        {"name": "protected", M: {"name": "web1", "state": "absent", "api_token": lab.token}},
    ]
    for t in tasks:
        t["ignore_errors"] = True
    r = by_task(run_tasks(tasks, env={"HCLOUD_TOKEN": "", "HCLOUD_ENDPOINT": lab.endpoint}))
    assert len(r) == len(tasks) and all(x["failed"] for x in r.values()), r
    for name, needle in (("location", "location"), ("image", "state=rebuild"), ("ipv6", "created")):
        assert r[name]["code"] == "unsupported_change" and needle in r[name]["msg"], r[name]
    msg = r["catalogs"]["msg"]
    assert r["catalogs"]["code"] == "invalid_input"
    assert "unknown server_type 'cx99'; valid values:" in msg and "cx23" in msg
    assert "unknown image 'debian-99'" in msg and "debian-12" in msg
    assert "unknown location 'mars1'" in msg and "fsn1" in msg
    assert r["labels"]["code"] == "invalid_input"
    assert "'bad key'" in r["labels"]["msg"] and "'-no-'" in r["labels"]["msg"]
    assert r["no token"]["code"] == "missing_token" and "HCLOUD_TOKEN" in r["no token"]["msg"]
    assert r["wrong token"]["code"] == "unauthorized"
    assert r["protected"]["code"] == "protected" and isinstance(r["protected"]["details"], dict)
    for x in r.values():
        # ansible-core 2.19 adds exception='(traceback unavailable)' to every failure itself
        assert "Traceback" not in x["msg"] and "Traceback" not in str(x.get("exception", "")), x
    # Nothing was written: no create, no action, no update; the only DELETE was refused.
    stats = lab.stats()
    writes = dict((k, v) for k, v in stats["requests"].items() if not k.startswith("GET "))
    assert writes == {"DELETE /v1/servers/{id}": 1}, writes
    assert [s["name"] for s in lab.servers()] == ["web1"]


def test_module_defaults_group_sets_token_and_endpoint(lab):
    play = {"hosts": "localhost", "gather_facts": False,
            "module_defaults": {"group/nixos_hetzner.vps.hcloud": {"api_token": lab.token,
                                                                   "api_endpoint": lab.endpoint}},
            "tasks": [{"name": "create", M: BASE}]}
    results, proc = run_playbook(play, env={"HCLOUD_TOKEN": "", "HCLOUD_ENDPOINT": ""})
    assert results and results[0]["changed"] and not results[0].get("failed"), (results, proc.stdout)
    assert lab_server(lab, "web1") is not None


def test_references_by_name_rebuild_and_restart(lab):
    from hcloud.firewalls.domain import FirewallRule
    from hcloud.networks.domain import NetworkSubnet
    client = lab.client()
    fw1 = client.firewalls.create(name="edge", rules=[FirewallRule(
        direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0"])]).firewall
    fw2 = client.firewalls.create(name="extra", rules=[]).firewall
    net = client.networks.create(name="lan", ip_range="10.0.0.0/16", subnets=[NetworkSubnet(
        type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")])
    client.placement_groups.create(name="spread", type="spread")
    refs = dict(BASE, firewalls=["edge"], private_networks=["lan"], placement_group="spread")
    steps = [("refs", refs), ("more firewalls", dict(refs, firewalls=["edge", str(fw2.id)]))]
    tasks = []
    for label, args in steps:
        tasks += ccrr_tasks(label, args)
    tasks += [
        {"name": "restart", M: {"name": "web1", "state": "restarted"}},
        {"name": "rebuild check", "check_mode": True, M: {"name": "web1", "state": "rebuild", "image": "ubuntu-24.04"}},
        {"name": "rebuild", M: {"name": "web1", "state": "rebuild", "image": "ubuntu-24.04"}},
        {"name": "after rebuild", M: {"name": "web1", "image": "ubuntu-24.04"}},
        {"name": "unknown firewall", "ignore_errors": True, M: dict(BASE, name="web9", firewalls=["nope"])},
    ]
    results = run_tasks(tasks, diff=True, env=env(lab))
    r = by_task(results)
    assert changed(results[0:4]) == [True, True, False, False], results[0:4]
    assert changed(results[4:8]) == [True, True, False, False], results[4:8]
    facts = results[3]["hcloud_server"]
    assert facts["firewalls"] == [str(fw1.id)] and facts["placement_group"] == "spread"
    assert [n["network"] for n in facts["private_networks"]] == [net.id]
    assert results[5]["diff"]["after"]["firewalls"] == sorted([str(fw1.id), str(fw2.id)])
    assert results[7]["hcloud_server"]["firewalls"] == sorted([str(fw1.id), str(fw2.id)])
    assert r["restart"]["changed"] and lab.calls("POST", "/v1/servers/{id}/actions/reboot") == 1
    assert r["rebuild check"]["changed"] and r["rebuild"]["changed"]
    assert lab.calls("POST", "/v1/servers/{id}/actions/rebuild") == 1
    assert r["rebuild"]["hcloud_server"]["image"] == "ubuntu-24.04"
    assert not r["after rebuild"]["changed"]
    assert r["unknown firewall"]["failed"] and "unknown firewall 'nope'; valid values: edge, extra" \
        in r["unknown firewall"]["msg"]
