"""Unit tests of the pure planners and validators of hcloud_ssh_key, hcloud_firewall,
hcloud_network, hcloud_volume (hcloud_placement_group uses B1's plan_simple directly).
Observed state is given as the API's JSON; desired state as the modules' options."""
import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import (
    _hcloud_firewall_plan as fw,
    _hcloud_network_plan as net,
    _hcloud_ssh_key_plan as sk,
    _hcloud_volume_plan as vol,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQRPQorrtN0XGcGdamxz/DfEqSiB6JgySGiocqn9bNh"
ED25519_FP = "5c:c3:80:a2:ca:20:2e:85:3b:6a:23:70:0f:25:0f:2a"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpXdsb0Zo3w6GVb3oY8P4C2cQG5ucGz0DQGz7qGk3tq"


# ------------------------------------------------------------------ ssh keys

def test_ssh_key_fingerprint_and_comment_ignored():
    assert sk.fingerprint(ED25519 + " alice@laptop") == ED25519_FP
    assert sk.canonical_key(ED25519 + " alice@laptop") == ED25519


@pytest.mark.parametrize("text,problem", [
    ("", "empty"),
    ("ssh-ed25519", "OpenSSH public key line"),
    ("ssh-foo AAAA", "type 'ssh-foo'"),
    ("ssh-ed25519 !!notbase64", "base64"),
    ("ssh-rsa " + ED25519.split()[1], "does not match its type"),
])
def test_ssh_key_invalid(text, problem):
    assert problem in sk.parse_public_key(text)[2]


def test_ssh_key_plan_cycle():
    desired = {"name": "alice", "public_key": ED25519 + " alice@laptop", "labels": {"team": "ops"}}
    create = sk.plan_ssh_key(None, desired, "present")
    assert create.op == "create" and create.changed and not create.conflicts
    observed = sk.observe_ssh_key({"id": 1, "name": "alice", "public_key": ED25519 + " other-comment",
                                   "fingerprint": ED25519_FP, "labels": {"team": "ops"}})
    same = sk.plan_ssh_key(observed, desired, "present")
    assert not same.changed and not same.conflicts
    relabel = sk.plan_ssh_key(observed, dict(desired, labels={"team": "dev"}), "present")
    assert relabel.op == "update" and relabel.changes == {"labels": {"team": "dev"}}
    # Omitted labels leave the labels alone.
    assert not sk.plan_ssh_key(observed, dict(desired, labels=None), "present").changed
    other = sk.plan_ssh_key(observed, dict(desired, public_key=OTHER), "present")
    assert other.conflicts and "different public key" in other.conflicts[0]
    assert sk.plan_ssh_key(observed, {"name": "alice"}, "absent").op == "delete"
    assert not sk.plan_ssh_key(None, {"name": "alice"}, "absent").changed


def test_ssh_key_create_needs_public_key():
    plan = sk.plan_ssh_key(None, {"name": "bob", "public_key": None, "labels": None}, "present")
    assert plan.conflicts == ["public_key is required to create ssh key bob"]


# ------------------------------------------------------------------ firewalls

SSH_RULE = {"direction": "in", "protocol": "tcp", "port": 22, "source_ips": ["0.0.0.0/0", "::/0"]}
API_FW = {
    "id": 9, "name": "web", "labels": {"fleet": "web"},
    "rules": [
        {"direction": "in", "protocol": "icmp", "port": None, "source_ips": ["0.0.0.0/0", "::/0"],
         "destination_ips": [], "description": None},
        {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["::/0", "0.0.0.0/0"],
         "destination_ips": [], "description": None},
    ],
    "applied_to": [
        {"type": "server", "server": {"id": 5}},
        {"type": "label_selector", "label_selector": {"selector": "fleet=web"},
         "applied_to_resources": [{"type": "server", "server": {"id": 5}}]},
    ],
}


def test_firewall_rules_normalised_like_the_api():
    rules, problems = fw.normalize_rules([SSH_RULE, {"protocol": "ICMP", "source_ips": ["0.0.0.0/0", "::/0"]},
                                          dict(SSH_RULE, port="22-22")])
    assert problems == []
    assert rules == fw.observe_firewall(API_FW)["rules"]  # duplicates collapse, order ignored


@pytest.mark.parametrize("rule,problem", [
    ({"protocol": "tcp", "source_ips": ["0.0.0.0/0"]}, "need a port"),
    ({"protocol": "tcp", "port": "70000", "source_ips": ["0.0.0.0/0"]}, "1-65535"),
    ({"protocol": "tcp", "port": "90-80", "source_ips": ["0.0.0.0/0"]}, "low <= high"),
    ({"protocol": "tcp", "port": "http", "source_ips": ["0.0.0.0/0"]}, "must be a number"),
    ({"protocol": "icmp", "port": "1", "source_ips": ["0.0.0.0/0"]}, "takes no port"),
    ({"protocol": "sctp", "source_ips": ["0.0.0.0/0"]}, "protocol 'sctp'"),
    ({"direction": "sideways", "protocol": "gre", "source_ips": ["0.0.0.0/0"]}, "direction"),
    ({"protocol": "gre"}, "needs source_ips"),
    ({"direction": "out", "protocol": "gre", "source_ips": ["0.0.0.0/0"]}, "needs destination_ips"),
    ({"protocol": "gre", "source_ips": ["300.1.1.1/32"]}, "not an IP address"),
])
def test_firewall_rule_problems(rule, problem):
    rules, problems = fw.normalize_rules([rule])
    assert rules is None
    assert any(problem in p for p in problems), problems


def test_firewall_plan_create_update_none_delete():
    rules, _ = fw.normalize_rules([SSH_RULE])
    desired = {"name": "web", "labels": {"fleet": "web"}, "rules": rules, "servers": [5, 6],
               "label_selectors": ["fleet=web"]}
    create = fw.plan_firewall(None, desired, "present")
    assert create.op == "create" and create.after["servers"] == [5, 6]

    observed = fw.observe_firewall(API_FW)
    update = fw.plan_firewall(observed, desired, "present")
    assert update.steps == ["set_rules", "apply_to"]
    assert update.changes["apply_servers"] == [6] and update.changes["apply_selectors"] == []
    assert update.diff["before"]["rules"] != update.diff["after"]["rules"]

    # Omitted rules/targets/labels are left as they are.
    assert not fw.plan_firewall(observed, {"name": "web", "labels": None, "rules": None, "servers": None,
                                           "label_selectors": None}, "present").changed
    # An empty list is a wish: remove every server.
    detach = fw.plan_firewall(observed, {"name": "web", "servers": [], "label_selectors": []}, "present")
    assert detach.steps == ["remove_from"]
    assert detach.changes["remove_servers"] == [5]
    assert detach.changes["remove_selectors"] == ["fleet=web"]

    delete = fw.plan_firewall(observed, {"name": "web"}, "absent")
    assert delete.steps == ["remove_from", "delete"]


def test_firewall_api_bodies():
    rules, _ = fw.normalize_rules([SSH_RULE, {"protocol": "icmp", "source_ips": ["::/0"], "description": "ping"}])
    assert fw.rule_to_api(rules[0]) == {"direction": "in", "protocol": "icmp", "source_ips": ["::/0"],
                                        "destination_ips": [], "description": "ping"}
    assert fw.rule_to_api(rules[1])["port"] == "22"
    assert fw.apply_to_api([5], ["a=b"]) == [{"type": "server", "server": {"id": 5}},
                                             {"type": "label_selector", "label_selector": {"selector": "a=b"}}]


# ------------------------------------------------------------------ networks

API_NET = {
    "id": 3, "name": "priv", "ip_range": "10.0.0.0/16", "labels": {},
    "subnets": [{"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central",
                 "gateway": "10.0.0.1", "vswitch_id": None}],
    "routes": [{"destination": "10.100.0.0/24", "gateway": "10.0.1.10"}],
    "servers": [], "protection": {"delete": False}, "expose_routes_to_vswitch": False,
}


def test_network_validation():
    assert net.validate_ip_range("10.0.0.0/16") == ("10.0.0.0/16", [])
    assert "private" in net.validate_ip_range("8.8.0.0/16")[1][0]
    assert "CIDR" in net.validate_ip_range("ten")[1][0]
    _, problems = net.normalize_subnets([{"ip_range": "10.1.0.0/24", "network_zone": "eu-central"},
                                         {"ip_range": "10.0.5.0/24"}], "10.0.0.0/16")
    assert any("does not lie within" in p for p in problems)
    assert any("network_zone is required" in p for p in problems)
    _, problems = net.normalize_routes([{"destination": "10.9.0.0/24"}])
    assert "needs destination" in problems[0]


def test_network_plan():
    observed = net.observe_network(API_NET)
    subnets, _ = net.normalize_subnets([{"ip_range": "10.0.1.0/24", "network_zone": "eu-central"}], "10.0.0.0/16")
    routes, _ = net.normalize_routes([{"destination": "10.100.0.0/24", "gateway": "10.0.1.10"}])
    same = {"name": "priv", "ip_range": "10.0.0.0/16", "subnets": subnets, "routes": routes, "labels": {}}
    assert not net.plan_network(observed, same, "present").changed
    assert not net.plan_network(observed, {"name": "priv"}, "present").changed

    subnets2, _ = net.normalize_subnets([{"ip_range": "10.0.2.0/24", "network_zone": "eu-central"}], "10.0.0.0/8")
    grow = net.plan_network(observed, dict(same, ip_range="10.0.0.0/8", subnets=subnets2, routes=[],
                                           delete_protection=True), "present")
    assert grow.steps == ["change_ip_range", "delete_route", "delete_subnet", "add_subnet", "change_protection"]
    assert grow.changes["add_subnets"][0]["ip_range"] == "10.0.2.0/24"
    assert grow.changes["delete_subnets"][0]["ip_range"] == "10.0.1.0/24"
    assert not grow.conflicts

    shrink = net.plan_network(observed, dict(same, ip_range="10.0.0.0/24"), "present")
    assert shrink.conflicts and "can only grow" in shrink.conflicts[0]

    zone, _ = net.normalize_subnets([{"ip_range": "10.0.1.0/24", "network_zone": "us-east"}], "10.0.0.0/16")
    assert "cannot be changed in place" in net.plan_network(observed, dict(same, subnets=zone), "present").conflicts[0]

    create = net.plan_network(None, same, "present")
    assert create.op == "create" and create.after["subnets"] == subnets
    assert net.plan_network(None, {"name": "x"}, "present").conflicts
    protected = net.observe_network(dict(API_NET, protection={"delete": True}))
    assert "delete protection" in net.plan_network(protected, {"name": "priv"}, "absent").conflicts[0]


# ------------------------------------------------------------------ volumes

API_VOL = {"id": 4, "name": "data", "size": 20, "location": {"name": "fsn1"}, "server": None,
           "labels": {}, "format": None, "protection": {"delete": False},
           "linux_device": "/dev/disk/by-id/scsi-0HC_Volume_4", "status": "available"}


def test_volume_validate():
    assert "out of range" in vol.validate({"size": 5})[0]
    assert "format" in vol.validate({"format": "zfs"})[0]
    assert vol.validate({"size": 10, "format": "none"}) == []


def test_volume_plan():
    observed = vol.observe_volume(API_VOL)
    assert observed["format"] == "none" and observed["server"] == vol.DETACHED
    same = {"name": "data", "size": 20, "location": "fsn1", "labels": {}, "format": "none", "server": None}
    assert not vol.plan_volume(observed, same, "present").changed
    grow_attach = vol.plan_volume(observed, dict(same, size=30, server=7), "present", server_location="fsn1")
    assert grow_attach.steps == ["resize", "attach"] and grow_attach.changes["size"] == 30
    shrink = vol.plan_volume(observed, dict(same, size=10), "present")
    assert "cannot shrink" in shrink.conflicts[0]
    move = vol.plan_volume(observed, dict(same, location="nbg1"), "present")
    assert "cannot move" in move.conflicts[0]
    far = vol.plan_volume(observed, dict(same, server=7), "present", server_location="hel1")
    assert "cannot be attached" in far.conflicts[0]

    attached = vol.observe_volume(dict(API_VOL, server=7))
    assert vol.plan_volume(attached, dict(same, server=8), "present").steps == ["detach", "attach"]
    assert vol.plan_volume(attached, dict(same, server=vol.DETACHED), "present").steps == ["detach"]
    assert not vol.plan_volume(attached, same, "present").changed  # server omitted
    assert vol.plan_volume(attached, {"name": "data"}, "absent").steps == ["detach", "delete"]

    create = vol.plan_volume(None, dict(same, location=None, server=7), "present", server_location="fsn1")
    assert create.op == "create" and create.after["location"] == "fsn1" and not create.conflicts
    nowhere = vol.plan_volume(None, dict(same, location=None), "present")
    assert "give location" in nowhere.conflicts[0]
