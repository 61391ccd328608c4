"""The fleet filters (plugins/filter/fleet.py) on plain dicts: what the roles compute for the
whole fleet, and the problems that stop a run before anything shared is written."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nixos_hetzner.vps.plugins.filter.fleet import (
    FilterModule, fleet_call_failed, fleet_firewall_rules, fleet_rescue_labels, fleet_server,
    fleet_service_rules, fleet_settings_problems,
)

SERVICES_DEFAULTS = {
    "services_nginx": False, "services_nginx_acme_email": "",
    "services_postgresql": False, "services_postgresql_allowed_cidrs": [],
    "services_node_exporter": False, "services_node_exporter_allowed_cidrs": [],
}
SECURITY = {"security_ssh_allowed_cidrs": ["192.0.2.0/24"], "security_initrd_ssh_port": 2222,
            "security_initrd_ssh_allowed_cidrs": ["198.51.100.0/24"], "security_icmp": True}


def test_the_filters_are_registered():
    assert sorted(FilterModule().filters()) == [
        "fleet_call_failed", "fleet_firewall_rules", "fleet_rescue_labels", "fleet_server",
        "fleet_service_rules", "fleet_settings_problems"]


def test_settings_problems_none_for_a_consistent_fleet():
    hv = {"a": {"hardware_fleet": "f"}, "b": {"hardware_fleet": "f"}}
    assert fleet_settings_problems(["a", "b"], ["a"], hv, ["hardware_fleet"], "all") == []


def test_settings_problems_name_each_fault():
    hv = {"a": {"hardware_fleet": "f", "hardware_server_name": "s"},
          "b": {"hardware_server_name": "s"},
          "c": {"hardware_fleet": "g"}}
    out = fleet_settings_problems(["a", "b", "c"], ["a", "x"], hv, ["hardware_fleet", "security_icmp"], "fleet")
    assert out[0].startswith("Hosts x of the play are not in the fleet's inventory pattern "
                             "hardware_fleet_hosts=fleet (hosts a, b, c)")
    assert out[1] == ('The fleet-wide setting hardware_fleet differs between hosts (a: "f"; '
                      'b: (the default); c: "g"): set it once for the whole fleet (group_vars of fleet).')
    assert out[2] == "Server name s is used by a and b."
    assert len(out) == 3  # security_icmp is the default everywhere: no problem


def test_service_rules_per_host_with_defaults():
    hv = {"web": {"services_nginx": "yes", "services_nginx_acme_email": "ops@example.org"},
          "db": {"services_postgresql": True, "services_postgresql_allowed_cidrs": ["10.0.0.0/8"],
                 "services_node_exporter": True},
          "plain": {}}
    out = fleet_service_rules(["web", "db", "plain"], hv, SERVICES_DEFAULTS)
    assert out["problems"] == []
    assert [r["port"] for r in out["rules"]["web"]] == ["80", "443"]
    assert out["rules"]["web"][0]["source_ips"] == ["0.0.0.0/0", "::/0"]
    # node exporter without networks opens nothing
    assert out["rules"]["db"] == [{"direction": "in", "protocol": "tcp", "port": "5432",
                                   "source_ips": ["10.0.0.0/8"], "description": "postgresql"}]
    assert out["rules"]["plain"] == []


def test_service_rules_problems():
    hv = {"web": {"services_nginx": True, "services_nginx_acme_email": "nobody"},
          "db": {"services_postgresql": True, "services_postgresql_allowed_cidrs": "10.0.0.0/8"}}
    out = fleet_service_rules(["web", "db"], hv, SERVICES_DEFAULTS)
    assert out["problems"] == [
        'web: nginx needs an ACME contact address in services_nginx_acme_email (got "nobody")',
        "db: services_postgresql_allowed_cidrs must be a list of networks"]
    assert out["rules"]["db"] == []


def test_firewall_rules_base_services_and_extra_ports_once_each():
    services = {"a": [{"direction": "in", "protocol": "tcp", "port": "80", "source_ips": ["0.0.0.0/0", "::/0"],
                       "description": "nginx http"}]}
    services["b"] = list(services["a"])
    hv = {"a": {"security_extra_ports": [{"port": 51820, "protocol": "udp", "source_ips": ["203.0.113.0/24"]}]},
          "b": {}}
    out = fleet_firewall_rules(["a", "b"], hv, {"security_extra_ports": []}, SECURITY,
                               {"rules": services, "problems": []})
    assert [(r["protocol"], r.get("port")) for r in out] == [
        ("tcp", "22"), ("tcp", "2222"), ("icmp", None), ("tcp", "80"), ("udp", "51820")]
    assert out[0]["source_ips"] == ["192.0.2.0/24"]
    assert out[1]["source_ips"] == ["198.51.100.0/24"]
    assert out[4]["source_ips"] == ["203.0.113.0/24"]


def test_firewall_rules_without_icmp_and_with_bad_ports():
    hv = {"a": {"security_extra_ports": "8443"}, "b": {"security_extra_ports": [{"port": 1, "protocol": "sctp"}]}}
    out = fleet_firewall_rules(["a"], {"a": {}}, {"security_extra_ports": []},
                               dict(SECURITY, security_icmp=False), {"rules": {}, "problems": []})
    assert [r["port"] for r in out] == ["22", "2222"]
    with pytest.raises(AnsibleFilterError) as err:
        fleet_firewall_rules(["a", "b"], hv, {"security_extra_ports": []}, SECURITY,
                             {"rules": {}, "problems": ["web: nginx needs an ACME contact address"]})
    assert str(err.value) == (
        "Bad settings, nothing shared (firewall, placement group, network, SSH keys) was written: "
        "web: nginx needs an ACME contact address; "
        "a: security_extra_ports must be a list of {port: N, protocol: tcp|udp}; "
        'b: security_extra_ports item {"port": 1, "protocol": "sctp"} needs port: N and protocol tcp or udp.')


def test_server_with_and_without_shared_objects():
    settings = {"name": "web-1", "server_type": "cx23", "image": "debian-12", "location": "fsn1",
                "enable_ipv6": "true", "protection": False, "ssh_keys": ["admin"],
                "allow_reboot": False, "shutdown_timeout": "60",
                "firewall": "f-firewall", "placement_group": None, "network": "f-net"}
    server = fleet_server(settings)
    assert server == {"name": "web-1", "server_type": "cx23", "image": "debian-12", "location": "fsn1",
                      "enable_ipv6": True, "delete_protection": False, "rebuild_protection": False,
                      "ssh_keys": ["admin"], "allow_reboot": False, "shutdown_timeout": 60,
                      "firewalls": ["f-firewall"], "private_networks": ["f-net"]}
    bare = fleet_server(dict(settings, firewall=None, network=None, placement_group="f-spread"))
    assert "firewalls" not in bare and "private_networks" not in bare
    assert bare["placement_group"] == "f-spread"


def test_rescue_labels_only_for_servers_that_answered():
    hv = {"a": {"hardware_rescue_reached": True,
                "hardware_desired_server": {"name": "sa", "labels": {"role": "web", "st": "provisioned"}}},
          "b": {"hardware_desired_server": {"name": "sb", "labels": {}}},
          "c": {"hardware_rescue_reached": False, "hardware_desired_server": {"name": "sc"}}}
    assert fleet_rescue_labels(["a", "b", "c"], hv, "st") == [
        {"name": "sa", "labels": {"role": "web", "st": "rescue"}}]
    assert hv["a"]["hardware_desired_server"]["labels"]["st"] == "provisioned"  # not changed in place


def _timeout(command):
    return {"code": "action_timeout", "details": {"action": {"command": command}}}


@pytest.mark.parametrize("answer,failed", [
    ({"failed": False}, False),
    ({}, False),
    ({"failed": True}, True),
    ({"failed": True, "failed_servers": {"a": _timeout("reset_server")}}, True),  # no servers
    ({"failed": True, "servers": {}, "failed_servers": {"a": _timeout("reset_server"),
                                                       "b": _timeout("enable_rescue")}}, False),
    ({"failed": True, "servers": {}, "failed_servers": {"a": _timeout("change_type")}}, True),
    ({"failed": True, "servers": {}, "failed_servers": {"a": {"code": "conflict"}}}, True),
    ({"failed": True, "servers": {}, "failed_servers": {"a": {"code": "action_timeout"}}}, True),
])
def test_call_failed(answer, failed):
    assert fleet_call_failed(answer) is failed


def test_call_failed_needs_a_mapping():
    with pytest.raises(AnsibleFilterError, match="mapping"):
        fleet_call_failed(None)
