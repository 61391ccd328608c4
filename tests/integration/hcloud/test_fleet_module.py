"""nixos_hetzner.vps.hcloud_fleet against the lab API, through real ansible-playbook:
check/real/check/real, the request budget (counted by the lab's stats endpoint), prune,
rescue, bad input, and convergence under injected faults without duplicates."""
from __future__ import annotations

from collections import Counter

from playbook_run import run_tasks

F = "nixos_hetzner.vps.hcloud_fleet"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3d3FvN4u1nQxG6i3tq3tq3tq3tq3tq3tq3tq3tq3t admin@x"


def env(lab):
    return {"HCLOUD_TOKEN": lab.token, "HCLOUD_ENDPOINT": lab.endpoint}


def server(name, **kw):
    item = {"name": name, "server_type": "cx23", "image": "debian-12", "location": "fsn1"}
    item.update(kw)
    return item


def ccrr_tasks(label, args):
    return [{"name": "%s %d" % (label, i), "check_mode": check, F: args}
            for i, check in enumerate((True, False, True, False))]


def changed(results):
    return [bool(r["changed"]) for r in results]


def by_task(results):
    return dict((r["_task"], r) for r in results)


def names_in_lab(lab):
    return Counter(s["name"] for s in lab.servers())


def test_fleet_check_real_check_real_and_facts(lab):
    first = {"fleet": "web", "servers": [
        server("web1", labels={"role": "web"}),
        server("web2", location="nbg1"),
        server("arm1", server_type="cax11", location="hel1", state="stopped"),
    ]}
    second = {"fleet": "web", "servers": [
        server("web1", labels={"role": "db"}),           # label change
        server("web2", location="nbg1", state="stopped"),  # power change
        server("arm1", server_type="cax11", location="hel1", state="stopped"),
        server("web3"),                                   # new
    ]}
    results = run_tasks(ccrr_tasks("first", first) + ccrr_tasks("second", second), diff=True,
                        env=env(lab), expect_ok=True)
    assert changed(results[:4]) == [True, True, False, False]
    assert changed(results[4:]) == [True, True, False, False]
    check, real = results[0], results[1]
    assert check["servers"]["web1"]["id"] is None
    assert check["summary"]["create"] == ["arm1", "web1", "web2"]
    assert set(check["diff"]["after"]["servers"]) == {"web1", "web2", "arm1"}
    facts = real["servers"]
    assert facts["web1"]["labels"] == {"role": "web", "fleet": "web"}
    assert facts["web2"]["labels"] == {"fleet": "web"} and facts["web2"]["location"] == "nbg1"
    assert facts["arm1"]["status"] == "off" and facts["arm1"]["architecture"] == "arm"
    for name in ("web1", "web2"):
        assert facts[name]["status"] == "running" and facts[name]["ipv4"].startswith("127.")
        assert facts[name]["ipv6"] and facts[name]["rescue_enabled"] is False
    assert results[3]["servers"] == facts and results[3]["api_requests"] == 1

    s_check, s_real = results[4], results[5]
    assert s_check["summary"] == {"create": ["web3"], "update": ["web1", "web2"], "delete": [],
                                  "unchanged": ["arm1"], "kept_protected": [], "rebooted": [],
                                  "pending": []}
    assert s_check["diff"]["before"]["servers"]["web1"]["labels"] == {"role": "web", "fleet": "web"}
    assert s_check["diff"]["after"]["servers"]["web1"]["labels"] == {"role": "db", "fleet": "web"}
    assert s_real["servers"]["web2"]["status"] == "off"
    assert s_real["servers"]["web1"]["labels"]["role"] == "db"
    assert s_real["servers"]["web3"]["status"] == "running"
    assert names_in_lab(lab) == Counter({"web1": 1, "web2": 1, "web3": 1, "arm1": 1})


def test_request_budget_create_50_then_no_op(lab):
    servers = [server("node%02d" % i) for i in range(50)]
    args = {"fleet": "big", "servers": servers, "max_parallel": 10}
    r = run_tasks([{"name": "create", F: args}, {"name": "no-op", F: args}], env=env(lab),
                  expect_ok=True)
    create, noop = r
    stats = lab.stats()
    # The module's own count agrees with the lab's out-of-band count.
    assert create["api_requests"] + noop["api_requests"] == stats["total"]
    assert stats["requests"]["POST /v1/servers"] == 50
    assert create["changed"] and len(create["summary"]["create"]) == 50
    assert create["api_requests"] <= 3 * 50, stats["requests"]
    assert not noop["changed"] and noop["api_requests"] == 1  # one list call, per_page=50
    assert all(f["status"] == "running" for f in create["servers"].values())
    assert len(set(f["id"] for f in create["servers"].values())) == 50
    assert stats["requests"]["GET /v1/actions"] <= 2 * 30  # batched: 25 ids per poll


def test_prune_rescue_and_protection(lab):
    lab.client().ssh_keys.create(name="admin", public_key=PUBKEY)
    three = {"fleet": "p", "servers": [server("a"), server("b"), server("c", delete_protection=True,
                                                                         rebuild_protection=True)]}
    tasks = [
        {"name": "create", F: three},
        {"name": "no prune", F: {"fleet": "p", "servers": [server("a")]}},
        {"name": "prune check", "check_mode": True, F: {"fleet": "p", "prune": True, "servers": [server("a")]}},
        {"name": "prune", F: {"fleet": "p", "prune": True, "servers": [server("a")]}},
        {"name": "prune again", F: {"fleet": "p", "prune": True, "servers": [server("a")]}},
        {"name": "rescue", F: {"fleet": "p", "servers": [server("a", state="rescue", ssh_keys=["admin"])]}},
    ]
    r = by_task(run_tasks(tasks, env=env(lab), expect_ok=True))
    assert not r["no prune"]["changed"]
    assert r["prune check"]["changed"] and r["prune check"]["summary"]["delete"] == ["b"]
    assert r["prune"]["summary"]["delete"] == ["b"] and r["prune"]["summary"]["kept_protected"] == ["c"]
    assert not r["prune again"]["changed"] and r["prune again"]["summary"]["kept_protected"] == ["c"]
    assert r["rescue"]["changed"] and "root_passwords" not in r["rescue"]
    assert names_in_lab(lab) == Counter({"a": 1, "c": 1})
    booted = dict((s["name"], s["booted"]) for s in lab.servers())
    assert booted["a"] == "rescue" and booted["c"] == "disk"


def test_bad_input_fails_before_anything_is_created(lab):
    tasks = [
        {"name": "catalog", F: {"fleet": "x", "servers": [server("ok1"), server("bad1", image="nixos-99"),
                                                         server("bad2", server_type="cx1", location="moon")]}},
        {"name": "labels", F: {"fleet": "x", "servers": [server("ok1", labels={"a b": "c"})]}},
        {"name": "fleet label", F: {"fleet": "not valid!", "servers": [server("ok1")]}},
        {"name": "twice", F: {"fleet": "x", "servers": [server("ok1"), server("ok1")]}},
        {"name": "ssh key", F: {"fleet": "x", "servers": [server("ok1", ssh_keys=["nobody"])]}},
    ]
    for t in tasks:
        t["ignore_errors"] = True
    r = by_task(run_tasks(tasks, env=env(lab)))
    assert all(x["failed"] for x in r.values()), r
    msg = r["catalog"]["msg"]
    assert "unknown image 'nixos-99'; valid values:" in msg and "debian-12" in msg
    assert "unknown server_type 'cx1'" in msg and "unknown location 'moon'" in msg
    assert "'a b'" in r["labels"]["msg"] and "listed twice" in r["twice"]["msg"]
    assert "not valid!" in r["fleet label"]["msg"]
    assert "unknown ssh key 'nobody'" in r["ssh key"]["msg"]
    assert lab.calls("POST", "/v1/servers") == 0 and not lab.servers()


def test_boolean_label_is_refused_before_anything_is_created(lab):
    # The original failure: {public: true} was stored as "True" (then "-l public=true" found
    # nothing), because the check ran on labels already turned into strings.
    r = run_tasks([{"name": "bool", "ignore_errors": True,
                    F: {"fleet": "x", "servers": [server("pub1", labels={"public": True})]}}], env=env(lab))
    assert r[0]["failed"] and "boolean, not a string; quote it" in r[0]["msg"], r[0]
    assert lab.calls("POST", "/v1/servers") == 0 and not lab.servers()


def test_check_mode_counts_planned_shared_resources(lab):
    # The original failure: --check on a fresh fleet stopped at "unknown firewall
    # 'myfleet-firewall'; valid values: (none)", because the firewall that the same run
    # creates first did not exist yet.
    args = {"fleet": "fresh", "servers": [server("new1", firewalls=["fresh-firewall"],
                                                 placement_group="fresh-spread",
                                                 private_networks=["fresh-net"], ssh_keys=["fresh-admin"])]}
    planned = {"firewalls": ["fresh-firewall"], "networks": ["fresh-net"],
               "placement_groups": ["fresh-spread"], "ssh_keys": ["fresh-admin"]}
    r = by_task(run_tasks([
        {"name": "unplanned", "check_mode": True, "ignore_errors": True, F: args},
        {"name": "planned", "check_mode": True, "ignore_errors": True, F: dict(args, planned=planned)},
        # Outside check mode, planned names must exist: nothing is created.
        {"name": "real", "ignore_errors": True, F: dict(args, planned=planned)},
    ], diff=True, env=env(lab)))
    assert r["unplanned"]["failed"] and "unknown firewall 'fresh-firewall'" in r["unplanned"]["msg"]
    ok = r["planned"]
    assert not ok.get("failed"), ok
    assert ok["changed"] and ok["summary"]["create"] == ["new1"]
    assert ok["diff"]["after"]["servers"]["new1"]["firewalls"] == ["fresh-firewall"]
    assert r["real"]["failed"] and "unknown" in r["real"]["msg"]
    assert lab.calls("POST", "/v1/servers") == 0 and not lab.servers()


def test_failed_creates_are_reported_then_converge(lab):
    lab.configure(fault_actions={"create_server": 1.0})
    lab.client().servers.create(name="stray", server_type=__import__("hcloud").server_types.ServerType(
        name="cx23"), image=__import__("hcloud").images.Image(name="debian-12"))
    args = {"fleet": "h", "servers": [server("h1", state="started"), server("h2", state="started"),
                                      server("stray")]}
    r = by_task(run_tasks([{"name": "failing", "ignore_errors": True, F: args}], env=env(lab)))
    res = r["failing"]
    assert res["failed"] and res["code"] == "fleet_incomplete" and res["changed"]
    assert set(res["failed_servers"]) == {"h1", "h2", "stray"}
    assert res["failed_servers"]["h1"]["code"] != "uniqueness_error"
    assert "create_server" in res["failed_servers"]["h1"]["msg"]
    assert res["failed_servers"]["stray"]["code"] == "uniqueness_error"
    assert "lacks the label" in res["failed_servers"]["stray"]["msg"]
    # The half-created servers are reported with their ids.
    assert res["servers"]["h1"]["id"] and res["servers"]["h2"]["id"]
    lab.configure(fault_actions={})
    args["servers"] = args["servers"][:2]
    again = run_tasks([{"name": "again", F: args}, {"name": "noop", F: args}], env=env(lab),
                      expect_ok=True)
    assert again[0]["changed"] and not again[1]["changed"]
    assert all(f["status"] == "running" for f in again[1]["servers"].values())
    assert names_in_lab(lab) == Counter({"h1": 1, "h2": 1, "stray": 1})


def test_faults_converge_without_duplicates(lab):
    # 20 % of answers are 5xx or dropped connections, a small rate-limit bucket produces
    # 429s, and a fifth of the create actions fail. Re-runs must converge, never duplicate.
    lab.configure(fault_rate=0.2, fault_kinds=[500, 502, 503, 504, "timeout"], fault_timeout=0.3,
                  fault_actions={"create_server": 0.2}, rate_limit=8, rate_refill=4.0, seed=7)
    args = {"fleet": "ff", "servers": [server("ff%02d" % i, state="started") for i in range(16)],
            "max_parallel": 6}
    tasks = [{"name": "converge", F: args, "register": "out", "until": "out is not failed",
              "retries": 8, "delay": 0, "ignore_errors": True}]
    r = by_task(run_tasks(tasks, env=env(lab)))
    assert not r["converge"].get("failed"), r["converge"].get("msg")
    print("converged after %s attempt(s); lab stats: %s" % (r["converge"].get("attempts", 1),
                                                          lab.stats()))
    stats = lab.stats()
    lab.configure(fault_rate=0.0, fault_actions={}, rate_limit=3600, rate_refill=1.0)
    final = by_task(run_tasks([{"name": "again", F: args}], env=env(lab), expect_ok=True))["again"]
    assert not final["changed"]
    counts = names_in_lab(lab)
    assert counts == Counter(dict(("ff%02d" % i, 1) for i in range(16))), counts
    assert all(s["status"] == "running" for s in lab.servers())
    # The run really met faults and rate limits.
    assert stats["faults"] > 0 and stats["rate_limited"] > 0, stats
