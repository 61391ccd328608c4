"""Unit tests of the nixos_hetzner.vps.hcloud inventory plugin: facts from the API's server
JSON (the collection's one server shape, shared with the modules), ansible_host selection,
constructed groups and caching. The API seam is replaced by a counter; the integration test
runs the real list call."""
import copy
import json

import pytest
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.nixos_hetzner.vps.plugins.inventory import hcloud as inv
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    FACT_FIELDS,
    observe_server,
    server_facts,
)

SERVER = {
    "id": 42,
    "name": "web-1",
    "status": "running",
    "created": "2026-11-25T22:00:00+00:00",
    "public_net": {
        "ipv4": {"id": 7, "ip": "127.0.0.42", "blocked": False, "dns_ptr": "web-1.example"},
        "ipv6": {"id": 8, "ip": "2001:db8:42::/64", "blocked": False, "dns_ptr": []},
        "floating_ips": [],
        "firewalls": [{"id": 5, "status": "applied"}],
    },
    "private_net": [
        {"network": 11, "ip": "10.0.0.2", "alias_ips": [], "mac_address": "86:00:00:00:00:01"},
        {"network": 12, "ip": "10.1.0.2", "alias_ips": ["10.1.0.9"], "mac_address": "86:00:00:00:00:02"},
    ],
    "server_type": {"id": 1, "name": "cx23", "cores": 2, "memory": 4.0, "disk": 40,
                    "architecture": "x86", "cpu_type": "shared"},
    "location": {"id": 1, "name": "fsn1", "city": "Falkenstein", "country": "DE",
                 "network_zone": "eu-central"},
    "image": {"id": 3, "type": "system", "name": "debian-12", "description": "Debian 12",
              "os_flavor": "debian", "os_version": "12", "architecture": "x86"},
    "iso": None,
    "rescue_enabled": True,
    "locked": False,
    "backup_window": None,
    "protection": {"delete": True, "rebuild": False},
    "labels": {"fleet": "web", "role": "frontend"},
    "volumes": [],
    "placement_group": {"id": 3, "name": "spread-web", "type": "spread", "servers": [42],
                        "labels": {}, "created": "2026-11-25T22:00:00+00:00"},
    "primary_disk_size": 40,
    "outgoing_traffic": 0,
    "ingoing_traffic": 0,
    "included_traffic": 0,
}


def test_server_facts_are_the_modules_server_shape():
    # Issue 13, item 15: the inventory said backup_window / protection.delete where the
    # modules said backups / delete_protection. Both come from one function now.
    facts = inv.server_facts(copy.deepcopy(SERVER))
    module_facts = server_facts(observe_server(copy.deepcopy(SERVER)))
    assert sorted(facts) == sorted(FACT_FIELDS)
    assert dict((k, module_facts[k]) for k in FACT_FIELDS) == facts
    assert facts == {
        "id": 42,
        "name": "web-1",
        "status": "running",
        "labels": {"fleet": "web", "role": "frontend"},
        "server_type": "cx23",
        "architecture": "x86",
        "location": "fsn1",
        "image": "debian-12",
        "ipv4": "127.0.0.42",
        "ipv6": "2001:db8:42::1",
        "ipv6_network": "2001:db8:42::/64",
        "private_ipv4": "10.0.0.2",
        "private_networks": [
            {"network": 11, "ip": "10.0.0.2", "alias_ips": [], "mac_address": "86:00:00:00:00:01"},
            {"network": 12, "ip": "10.1.0.2", "alias_ips": ["10.1.0.9"],
             "mac_address": "86:00:00:00:00:02"},
        ],
        "firewalls": ["5"],
        "placement_group": "spread-web",
        "rescue_enabled": True,
        "backups": False,
        "backup_window": None,
        "delete_protection": True,
        "rebuild_protection": False,
        "primary_disk_size": 40,
        "created": "2026-11-25T22:00:00+00:00",
    }
    # Facts are plain data: they survive the JSON inventory cache unchanged.
    assert json.loads(json.dumps(facts)) == facts


def test_server_facts_without_public_addresses_or_networks():
    data = copy.deepcopy(SERVER)
    data["public_net"] = {"ipv4": None, "ipv6": None, "floating_ips": [], "firewalls": []}
    data["private_net"] = []
    data["placement_group"] = None
    data["image"] = None
    facts = inv.server_facts(data)
    assert facts["ipv4"] is None and facts["ipv6"] is None and facts["ipv6_network"] is None
    assert facts["private_ipv4"] is None and facts["private_networks"] == []
    assert facts["placement_group"] is None and facts["image"] is None


@pytest.mark.parametrize(
    "connect_with,network,expected",
    [
        ("public_ipv4", None, "127.0.0.42"),
        ("public_ipv6", None, "2001:db8:42::1"),
        ("private_ipv4", None, "10.0.0.2"),
        ("private_ipv4", 12, "10.1.0.2"),
        ("private_ipv4", 99, None),
    ],
)
def test_connect_address(connect_with, network, expected):
    facts = inv.server_facts(copy.deepcopy(SERVER))
    assert inv.connect_address(facts, connect_with, network) == expected
    hostvars = inv.host_variables(facts, "hc_", connect_with, network)
    assert hostvars.get("ansible_host") == expected
    assert hostvars["hc_id"] == 42 and "hcloud_id" not in hostvars


def _facts(name, **over):
    data = copy.deepcopy(SERVER)
    data["name"] = name
    data.update(over)
    return inv.server_facts(data)


def load_plugin():
    """The plugin set up as Ansible's loader sets it up (FQCN, option definitions from its
    DOCUMENTATION and doc fragments), without installing the collection finder into this
    pytest process (the integration test runs the real ansible-inventory)."""
    name = "nixos_hetzner.vps.hcloud"
    inventory_loader._load_config_defs(name, inv, inv.__file__)
    plugin = inv.InventoryModule()
    inventory_loader._update_object(obj=plugin, name=name, path=inv.__file__, resolved=name)
    return plugin


def CountingPlugin(facts):
    """The plugin with its API seam replaced by a counter returning canned facts."""
    plugin = load_plugin()
    plugin.fetches = 0

    def fetch():
        plugin.fetches += 1
        return copy.deepcopy(facts)

    plugin._fetch_facts = fetch
    return plugin


def _parse(tmp_path, config, facts, plugin=None, cache=True):
    source = tmp_path / "fleet.hcloud.yml"
    source.write_text(json.dumps(config))
    plugin = plugin or CountingPlugin(facts)
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(source), cache=cache)
    return plugin, inventory


def test_parse_constructed_groups_and_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("HCLOUD_TOKEN", "unit")
    facts = [
        _facts("web-2", labels={"fleet": "web", "role": "frontend"}),
        _facts("db-1", labels={"fleet": "web", "role": "db"}, status="off"),
    ]
    config = {
        "plugin": "nixos_hetzner.vps.hcloud",
        "hostvars_prefix": "hx_",
        "keyed_groups": [{"key": "hx_labels.role", "prefix": "role"},
                         {"key": "hx_location", "prefix": "location"}],
        "groups": {"stopped": "hx_status == 'off'"},
        "compose": {"nixos_role": "hx_labels.role | upper"},
    }
    plugin, inventory = _parse(tmp_path, config, facts)
    assert plugin.fetches == 1
    assert sorted(inventory.groups["hcloud"].get_hosts(), key=str)[0].name == "db-1"
    assert [h.name for h in inventory.groups["role_frontend"].get_hosts()] == ["web-2"]
    assert [h.name for h in inventory.groups["role_db"].get_hosts()] == ["db-1"]
    assert {h.name for h in inventory.groups["location_fsn1"].get_hosts()} == {"web-2", "db-1"}
    assert [h.name for h in inventory.groups["stopped"].get_hosts()] == ["db-1"]
    web = inventory.get_host("web-2").get_vars()
    assert web["ansible_host"] == "127.0.0.42"
    assert web["hx_labels"] == {"fleet": "web", "role": "frontend"}
    assert web["nixos_role"] == "FRONTEND"
    assert "hcloud_id" not in web


def test_parse_host_without_address_is_kept_without_ansible_host(tmp_path, monkeypatch):
    monkeypatch.setenv("HCLOUD_TOKEN", "unit")
    facts = [_facts("v6only", public_net={"ipv4": None, "ipv6": SERVER["public_net"]["ipv6"],
                                          "floating_ips": [], "firewalls": []})]
    config = {"plugin": "nixos_hetzner.vps.hcloud", "group": ""}
    plugin, inventory = _parse(tmp_path, config, facts)
    hostvars = inventory.get_host("v6only").get_vars()
    assert "ansible_host" not in hostvars
    assert hostvars["hcloud_ipv6"] == "2001:db8:42::1"
    assert "hcloud" not in inventory.groups


def test_parse_uses_inventory_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HCLOUD_TOKEN", "unit")
    config = {
        "plugin": "nixos_hetzner.vps.hcloud",
        "cache": True,
        "cache_plugin": "jsonfile",
        "cache_connection": str(tmp_path / "cache"),
        "cache_timeout": 3600,
    }
    first, inv1 = _parse(tmp_path, config, [_facts("web-1")])
    first.update_cache_if_changed()
    assert first.fetches == 1
    # A new plugin instance (a new ansible run) reads the cache, not the API.
    second, inv2 = _parse(tmp_path, config, [_facts("other")])
    assert second.fetches == 0
    assert inv2.get_host("web-1") is not None and inv2.get_host("other") is None
    # --flush-cache (cache=False) goes to the API again and refreshes the cache.
    third, inv3 = _parse(tmp_path, config, [_facts("other")], cache=False)
    assert third.fetches == 1 and inv3.get_host("other") is not None


def test_missing_token_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("HCLOUD_TOKEN", raising=False)
    source = tmp_path / "x.hcloud.yml"
    source.write_text(json.dumps({"plugin": "nixos_hetzner.vps.hcloud"}))
    plugin = load_plugin()
    with pytest.raises(Exception) as err:
        plugin.parse(InventoryData(), DataLoader(), str(source))
    assert "no API token" in str(err.value) and "HCLOUD_TOKEN" in str(err.value)


def test_verify_file_requires_hcloud_suffix(tmp_path):
    good = tmp_path / "prod.hcloud.yml"
    bad = tmp_path / "prod.yml"
    good.write_text("plugin: nixos_hetzner.vps.hcloud\n")
    bad.write_text("plugin: nixos_hetzner.vps.hcloud\n")
    plugin = load_plugin()
    assert plugin.verify_file(str(good))
    assert not plugin.verify_file(str(bad))
