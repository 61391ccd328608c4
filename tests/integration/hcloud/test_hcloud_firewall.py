"""hcloud_firewall against the lab API: rules and apply_to (servers by name, label
selectors) through check, real, check, real; spelling and order of rules never cause a
change; state absent removes the firewall from everything first."""
from resource_support import changed, make_servers, run_ccrr, run_failing

M = "nixos_hetzner.vps.hcloud_firewall"
ANY = ["0.0.0.0/0", "::/0"]
SSH = {"protocol": "tcp", "port": "22", "source_ips": ANY}
HTTPS = {"protocol": "tcp", "port": "443", "source_ips": ANY, "description": "HTTPS"}
PING = {"protocol": "icmp", "source_ips": ANY}


def test_firewall_lifecycle(lab):
    servers = make_servers(lab, ["fw-a", "fw-b"], labels={"fleet": "web"})
    ids = sorted(s.id for s in servers)
    runs = run_ccrr(
        lab, M,
        ("create", {"name": "web", "rules": [SSH, PING], "labels": {"fleet": "web"},
                    "apply_to_servers": ["fw-a"]}),
        ("same rules respelled", {"name": "web", "rules": [
            PING, dict(SSH, port=22, source_ips=["::/0", "0.0.0.0/00"])]}),
        ("rules and targets", {"name": "web", "rules": [SSH, PING, HTTPS],
                               "apply_to_servers": ["fw-b", str(ids[0])],
                               "apply_to_label_selectors": ["fleet=web"]}),
        ("omitted", {"name": "web"}),
    )
    assert changed(runs["create"]) == [True, True, False, False]
    assert changed(runs["same rules respelled"]) == [False, False, False, False]
    assert changed(runs["rules and targets"]) == [True, True, False, False]
    assert changed(runs["omitted"]) == [False, False, False, False]
    diff = runs["rules and targets"][0]["diff"]
    assert len(diff["before"]["rules"]) == 2 and len(diff["after"]["rules"]) == 3

    fw = lab.client().firewalls.get_by_name("web")
    assert len(fw.rules) == 3
    assert sorted(r.port for r in fw.rules if r.protocol == "tcp") == ["22", "443"]
    direct = sorted(t.server.id for t in fw.applied_to if t.type == "server")
    selectors = [t.label_selector.selector for t in fw.applied_to if t.type == "label_selector"]
    assert direct == ids and selectors == ["fleet=web"]

    runs = run_ccrr(lab, M, ("detach servers", {"name": "web", "apply_to_servers": []}),
                    ("delete", {"name": "web", "state": "absent"}))
    assert changed(runs["detach servers"]) == [True, True, False, False]
    assert changed(runs["delete"]) == [True, True, False, False]
    assert lab.client().firewalls.get_by_name("web") is None


def test_firewall_errors(lab):
    run_failing(lab, M, [
        ({"name": "x", "rules": [{"protocol": "tcp", "source_ips": ANY}]}, "need a port"),
        ({"name": "x", "rules": [{"protocol": "tcp", "port": "22", "source_ips": ["10.0.0.300/8"]}]},
         "not an IP address"),
        ({"name": "x", "rules": [{"protocol": "udp", "port": "53"}]}, "needs source_ips"),
        ({"name": "x", "rules": [{"protocol": "icmp", "port": "1", "source_ips": ANY}]}, "takes no port"),
        ({"name": "x", "apply_to_servers": ["no-such-server"]}, "unknown servers: no-such-server"),
        ({"name": "x", "labels": {"a": "b c"}}, "invalid labels"),
    ])
    assert lab.client().firewalls.get_all() == []
