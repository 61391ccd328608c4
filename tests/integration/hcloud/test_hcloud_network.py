"""hcloud_network against the lab API: network with subnets and routes through check,
real, check, real; growing the range, replacing subnets; impossible changes are errors."""
from resource_support import changed, lab_env, run_ccrr, run_failing, run_module

M = "nixos_hetzner.vps.hcloud_network"
SUBNET1 = {"ip_range": "10.0.1.0/24", "network_zone": "eu-central"}
SUBNET2 = {"ip_range": "10.0.2.0/24", "network_zone": "eu-central"}
ROUTE = {"destination": "10.100.0.0/24", "gateway": "10.0.1.10"}


def test_network_lifecycle(lab):
    runs = run_ccrr(
        lab, M,
        ("create", {"name": "fleet", "ip_range": "10.0.0.0/16", "subnets": [SUBNET1], "routes": [ROUTE],
                    "labels": {"fleet": "web"}}),
        ("omitted", {"name": "fleet"}),
        ("grow and replace", {"name": "fleet", "ip_range": "10.0.0.0/8", "subnets": [SUBNET2],
                              "routes": [], "delete_protection": True}),
    )
    assert changed(runs["create"]) == [True, True, False, False]
    assert changed(runs["omitted"]) == [False, False, False, False]
    assert changed(runs["grow and replace"]) == [True, True, False, False]
    facts = runs["grow and replace"][3]["hcloud_network"]
    assert facts["ip_range"] == "10.0.0.0/8" and facts["delete_protection"] is True
    assert [s["ip_range"] for s in facts["subnets"]] == ["10.0.2.0/24"] and facts["routes"] == []

    net = lab.client().networks.get_by_name("fleet")
    assert net.ip_range == "10.0.0.0/8" and [s.ip_range for s in net.subnets] == ["10.0.2.0/24"]
    assert net.routes == [] and net.protection["delete"] is True

    # Protected: deleting is refused with a clear message, nothing is deleted.
    res = run_module(M, {"name": "fleet", "state": "absent"}, env=lab_env(lab), expect_ok=False)
    assert res["failed"] and "delete protection" in res["msg"]
    runs = run_ccrr(lab, M, ("unprotect", {"name": "fleet", "delete_protection": False}),
                    ("delete", {"name": "fleet", "state": "absent"}))
    assert changed(runs["unprotect"]) == [True, True, False, False]
    assert changed(runs["delete"]) == [True, True, False, False]
    assert lab.client().networks.get_by_name("fleet") is None


def test_network_errors(lab):
    run_failing(lab, M, [
        ({"name": "n", "ip_range": "10.0.0.0/24"}, "can only grow"),
        ({"name": "n", "subnets": [dict(SUBNET1, network_zone="us-east")]}, "cannot be changed in place"),
        ({"name": "n", "subnets": [{"ip_range": "192.168.0.0/24", "network_zone": "eu-central"}]},
         "does not lie within"),
        ({"name": "other", "ip_range": "8.8.0.0/16"}, "private"),
        ({"name": "other"}, "ip_range is required"),
        ({"name": "other", "ip_range": "10.0.0.0/16", "routes": [{"destination": "10.9.0.0/24",
                                                                   "gateway": "nope"}]}, "not an IP address"),
    ], before=[{"name": "n", "ip_range": "10.0.0.0/16", "subnets": [SUBNET1]}])
    nets = lab.client().networks.get_all()
    assert [n.name for n in nets] == ["n"]
    assert nets[0].ip_range == "10.0.0.0/16" and [s.ip_range for s in nets[0].subnets] == ["10.0.1.0/24"]
