"""The nixos_hetzner.vps.hcloud inventory against the lab API, through the real
ansible-inventory: one paginated list call (counted by the lab), label_selector,
connect_with, constructed groups, hostvars prefix and inventory caching."""
import json
import os
import subprocess
import sys
from pathlib import Path

from resource_support import lab_env, make_servers

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def inventory(lab, tmp_path, config, name="lab.hcloud.yml", extra_env=None):
    source = tmp_path / name
    source.write_text(json.dumps(dict({"plugin": "nixos_hetzner.vps.hcloud"}, **config)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_INVENTORY_ENABLED="nixos_hetzner.vps.hcloud", ANSIBLE_NOCOLOR="1",
               **lab_env(lab))
    env.update(extra_env or {})
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return plain(json.loads(proc.stdout)), proc


def plain(value):
    """ansible-inventory marks API strings as untrusted (never templated) with
    ``{"__ansible_unsafe": "..."}`` in its JSON; unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hostvars(data, host):
    return plain(data["_meta"]["hostvars"][host])


def group_hosts(data, group):
    return sorted(data.get(group, {}).get("hosts", []))


def list_requests(lab):
    stats = lab.stats()
    return stats_requests(stats, "GET", "/servers")


def stats_requests(stats, method, path):
    """Requests the lab counted for ``method path`` (list calls only, not /servers/{id})."""
    return int((stats.get("requests") or {}).get("%s /v1%s" % (method, path), 0))


def test_inventory_one_paginated_list_with_constructed_groups(lab, tmp_path):
    # 55 servers: more than one page of 50, so the list call needs two requests.
    web = make_servers(lab, ["web-%02d" % i for i in range(50)], labels={"fleet": "web", "role": "frontend"},
                       wait=False)
    make_servers(lab, ["db-%d" % i for i in range(4)], labels={"fleet": "web", "role": "db"}, wait=False)
    make_servers(lab, ["other"], labels={"fleet": "other"}, wait=False)
    before = list_requests(lab)
    data, _ = inventory(lab, tmp_path, {
        "label_selector": "fleet=web",
        "hostvars_prefix": "hx_",
        "keyed_groups": [{"key": "hx_labels.role", "prefix": "role"}],
        "groups": {"databases": "hx_labels.role == 'db'"},
        "compose": {"nixos_role": "hx_labels.role"},
    })
    assert list_requests(lab) - before == 2  # 54 matching servers = 2 pages, nothing else
    assert len(group_hosts(data, "hcloud")) == 54 and "other" not in group_hosts(data, "hcloud")
    assert group_hosts(data, "role_db") == ["db-0", "db-1", "db-2", "db-3"]
    assert group_hosts(data, "databases") == ["db-0", "db-1", "db-2", "db-3"]
    assert len(group_hosts(data, "role_frontend")) == 50
    hv = hostvars(data, "web-00")
    assert hv["ansible_host"] == web[0].public_net.ipv4.ip
    assert hv["hx_id"] == web[0].id and hv["hx_labels"]["fleet"] == "web"
    assert hv["nixos_role"] == "frontend" and "hcloud_id" not in hv


def test_inventory_connect_with_and_status(lab, tmp_path):
    (server,) = make_servers(lab, ["v6"], labels={"fleet": "v6"})
    data, _ = inventory(lab, tmp_path, {"label_selector": "fleet=v6", "connect_with": "public_ipv6"})
    hv = hostvars(data, "v6")
    assert hv["ansible_host"] == hv["hcloud_ipv6"]
    assert hv["hcloud_ipv6"].endswith("::1") and hv["hcloud_ipv6_network"].endswith("/64")
    # No private network: the host is kept, without ansible_host, and a warning names it.
    data, proc = inventory(lab, tmp_path, {"label_selector": "fleet=v6", "connect_with": "private_ipv4"})
    assert "ansible_host" not in hostvars(data, "v6")
    assert "v6 has no private_ipv4 address" in proc.stderr
    # Status filter goes to the API: a stopped-only selection is empty.
    data, _ = inventory(lab, tmp_path, {"label_selector": "fleet=v6", "status": ["off"]})
    assert group_hosts(data, "hcloud") == []


def test_inventory_cache(lab, tmp_path):
    make_servers(lab, ["cached"], labels={"fleet": "c"}, wait=False)
    config = {"label_selector": "fleet=c", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(tmp_path / "cache"), "cache_timeout": 3600}
    first, _ = inventory(lab, tmp_path, config)
    assert group_hosts(first, "hcloud") == ["cached"]
    before = list_requests(lab)
    make_servers(lab, ["late"], labels={"fleet": "c"}, wait=False)
    second, _ = inventory(lab, tmp_path, config)
    assert list_requests(lab) == before  # answered from the cache
    assert group_hosts(second, "hcloud") == ["cached"]


def test_inventory_bad_token_is_clear(lab, tmp_path):
    source = tmp_path / "bad.hcloud.yml"
    source.write_text(json.dumps({"plugin": "nixos_hetzner.vps.hcloud"}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_INVENTORY_ENABLED="nixos_hetzner.vps.hcloud", ANSIBLE_INVENTORY_UNPARSED_FAILED="1",
               HCLOUD_TOKEN="wrong-token", HCLOUD_ENDPOINT=lab.endpoint)
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "listing servers failed" in proc.stderr and "unauthorized" in proc.stderr.lower()
