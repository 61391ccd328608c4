"""A separate 3-host project (groups web and db) that runs the collection's playbooks
against the lab API, as a user's project would: its own inventory and group_vars, the
playbooks from ``nixos_hetzner.vps`` (by path here; tests/integration/fleet/test_new_user.py
installs the built tarball instead)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PLAYBOOKS = ROOT / "playbooks"

FLEET = "t13"


def write_project(path: Path, lab, host_vars=None, group_vars=None, fleet=FLEET):
    """Inventory: web-1, web-2 (group web, nginx) and db-1 (group db, PostgreSQL)."""
    (path / "group_vars" / "nixos_hetzner").mkdir(parents=True, exist_ok=True)
    (path / "group_vars" / "web").mkdir(parents=True, exist_ok=True)
    (path / "group_vars" / "db").mkdir(parents=True, exist_ok=True)
    (path / "host_vars").mkdir(parents=True, exist_ok=True)
    (path / "hosts.yml").write_text(json.dumps({"nixos_hetzner": {"children": {
        "web": {"hosts": {"web-1": None, "web-2": None}},
        "db": {"hosts": {"db-1": None}}}}}))
    common = {
        "hcloud_api_endpoint": lab.endpoint, "hcloud_api_token": lab.token,
        "hardware_fleet": fleet, "hardware_protection": False, "hardware_rescue": False,
        "hardware_admin_key_path": str(path / "ssh" / "admin_ed25519"),
        "hardware_network": True,
        "base_hosts_dir": str(path / "hosts"), "base_secrets_dir": str(path / "secrets"),
    }
    common.update((group_vars or {}).get("nixos_hetzner", {}))
    (path / "group_vars" / "nixos_hetzner" / "main.yml").write_text(json.dumps(common))
    web = {"services_nginx": True, "services_nginx_acme_email": "ops@example.org"}
    web.update((group_vars or {}).get("web", {}))
    (path / "group_vars" / "web" / "main.yml").write_text(json.dumps(web))
    db = {"services_postgresql": True, "services_postgresql_allowed_cidrs": ["10.42.0.0/16"],
          "hardware_server_type": "cx33"}
    db.update((group_vars or {}).get("db", {}))
    (path / "group_vars" / "db" / "main.yml").write_text(json.dumps(db))
    for old in (path / "host_vars").glob("*.yml"):
        old.unlink()
    for host, hv in (host_vars or {}).items():
        (path / "host_vars" / ("%s.yml" % host)).write_text(json.dumps(hv))
    return path


def run(project: Path, playbook: str, *args, collections=None, playbook_dir=None, timeout=600):
    """ansible-playbook <playbook> in the project; returns the CompletedProcess."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections or (ROOT / ".collections")),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": str(project / ".ansible-tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PATH": "%s:%s" % (BIN, env.get("PATH", "")),
    })
    for var in ("HCLOUD_TOKEN", "HCLOUD_ENDPOINT", "ANSIBLE_CONFIG", "ANSIBLE_INVENTORY"):
        env.pop(var, None)
    pb = Path(playbook_dir or PLAYBOOKS) / playbook
    cmd = [str(BIN / "ansible-playbook"), "-i", str(project / "hosts.yml"), str(pb)] + list(args)
    return subprocess.run(cmd, cwd=str(project), env=env, capture_output=True, text=True,
                          timeout=timeout)


def output(proc) -> str:
    return proc.stdout + proc.stderr


def firewall_rules(lab, name="%s-firewall" % FLEET):
    """The firewall's rules as the API has them, in a comparable form (None if absent)."""
    status, _, body = lab.request("GET", "/firewalls?name=%s" % name)
    assert status == 200, body
    if not body["firewalls"]:
        return None
    return sorted(json.dumps(r, sort_keys=True) for r in body["firewalls"][0]["rules"])


def ports(rules):
    return sorted(set(json.loads(r).get("port") or json.loads(r)["protocol"] for r in rules or []))


def shared_objects(lab):
    out = {}
    for kind in ("firewalls", "placement_groups", "networks", "ssh_keys"):
        status, _, body = lab.request("GET", "/%s" % kind)
        assert status == 200, body
        out[kind] = sorted(x["name"] for x in body[kind])
    return out


def servers(lab):
    status, _, body = lab.request("GET", "/servers?label_selector=fleet%%3D%s" % FLEET)
    assert status == 200, body
    return dict((s["name"], s) for s in body["servers"])
