"""The resource modules (ssh key, placement group, network, firewall, volume) under
injected faults: 20 % of the lab's answers are 5xx or dropped connections, and a tiny
rate-limit bucket answers 429 with RateLimit-Reset. Every failure is reported with msg and
code (never a traceback), a re-run converges, nothing exists twice, and a fault-free check
run afterwards reports no change."""
import pytest

from resource_support import assert_ok, lab_env, make_servers, run_tasks

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQRPQorrtN0XGcGdamxz/DfEqSiB6JgySGiocqn9bNh"
ANY = ["0.0.0.0/0", "::/0"]


def tasks(check=False):
    p = "nixos_hetzner.vps."
    out = [
        {p + "hcloud_ssh_key": {"name": "admin", "public_key": KEY, "labels": {"f": "x"}}},
        {p + "hcloud_placement_group": {"name": "spread", "labels": {"f": "x"}}},
        {p + "hcloud_network": {"name": "net", "ip_range": "10.0.0.0/16", "labels": {"f": "x"},
                                "subnets": [{"ip_range": "10.0.1.0/24", "network_zone": "eu-central"}]}},
        {p + "hcloud_firewall": {"name": "fw", "labels": {"f": "x"}, "apply_to_servers": ["faulty-1"],
                                 "apply_to_label_selectors": ["f=x"],
                                 "rules": [{"protocol": "tcp", "port": "22", "source_ips": ANY}]}},
        {p + "hcloud_volume": {"name": "vol", "size": 10, "server": "faulty-1", "labels": {"f": "x"}}},
    ]
    for i, task in enumerate(out):
        task["name"] = "resource %d" % i
        task["ignore_errors"] = True
        task["check_mode"] = check
    return out


@pytest.mark.slow
def test_resources_converge_under_faults(lab):
    make_servers(lab, ["faulty-1"])
    lab.configure(fault_rate=0.2, fault_kinds=[500, 502, 503, 504, "timeout"], fault_timeout=0.5,
                  seed=11, rate_limit=4, rate_refill=4.0)
    first = run_tasks(tasks(), env=lab_env(lab))
    assert len(first) == 5
    for res in first:  # a failure is allowed here, but it must be a clear one
        if res.get("failed"):
            assert res.get("code") and res.get("msg"), res
            assert "Traceback" not in res.get("module_stderr", "") + res["msg"], res
    second = run_tasks(tasks(), env=lab_env(lab))
    assert_ok(second)
    stats = lab.stats()
    assert stats["faults"] > 0 and stats["rate_limited"] > 0, stats  # the faults did happen

    lab.configure(fault_rate=0.0, rate_limit=3600, rate_refill=1.0)
    check = run_tasks(tasks(check=True), env=lab_env(lab))
    assert_ok(check)
    assert [bool(r["changed"]) for r in check] == [False] * 5
    client = lab.client()
    assert [k.name for k in client.ssh_keys.get_all()] == ["admin"]
    assert [g.name for g in client.placement_groups.get_all()] == ["spread"]
    assert [n.name for n in client.networks.get_all()] == ["net"]
    assert [f.name for f in client.firewalls.get_all()] == ["fw"]
    volumes = client.volumes.get_all()
    assert [v.name for v in volumes] == ["vol"] and volumes[0].server is not None
