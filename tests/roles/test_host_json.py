"""The base role's host JSON, rendered by real Ansible, validated against the flake's
schema (nix/schema/host.schema.json, with jsonschema) and against the flake's own
validator and dataset list (nix/lib, with nix-instantiate, when it is installed)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rolerun import ROOT, recap, run_playbook, write_inventory

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((ROOT / "nix/schema/host.schema.json").read_text())
PLAY = Path(__file__).with_name("host_json_play.yml")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW5vdC1yZWFsLWF0LWFsbA test@ctl"


def host(ipv4, ipv6_net, **extra):
    v = {
        "storage_disk_by_id": "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_%s" % ipv4.split(".")[-1],
        "base_architecture": "x86_64",
        "base_memory_mib": 4096,
        "hardware_server": {"id": 7, "ipv4": ipv4, "ipv6": ipv6_net.replace("/64", "1"),
                            "ipv6_network": ipv6_net, "labels": {}},
    }
    v.update(extra)
    return v


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostjson")
    inv = write_inventory(tmp / "inv.json", {
        "web-1": host("127.0.0.2", "2001:db8:0:2::/64",
                      services_nginx=True, services_nginx_acme_email="ops@example.org",
                      services_nginx_vhosts=[{"domain": "www.example.org",
                                              "aliases": ["example.org"],
                                              "root": "/var/www/example.org"}],
                      security_extra_ports=[{"port": 8443}, {"port": 51820, "protocol": "udp"}]),
        "db-1": host("127.0.0.3", "2001:db8:0:3::/64", base_nameservers=["2001:db8::53"],
                     services_postgresql=True, services_node_exporter=True,
                     services_node_exporter_allowed_cidrs=["10.42.0.0/16"]),
    }, {"base_hosts_dir": str(tmp / "hosts"), "hardware_fleet_public_keys": [KEY]})
    (tmp / "hosts").mkdir()
    first = run_playbook(PLAY, inv)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_playbook(PLAY, inv)
    assert second.returncode == 0, second.stdout + second.stderr
    docs = {p.stem: json.loads(p.read_text()) for p in (tmp / "hosts").glob("*.json")}
    return {"dir": tmp / "hosts", "docs": docs, "first": first, "second": second}


def test_both_hosts_written(rendered):
    assert sorted(rendered["docs"]) == ["db-1", "web-1"]
    assert recap(rendered["first"].stdout)["web-1"]["changed"] == 1


def test_second_render_changes_nothing(rendered):
    r = recap(rendered["second"].stdout)
    assert r["web-1"]["changed"] == 0 and r["db-1"]["changed"] == 0


@pytest.mark.parametrize("name", ["web-1", "db-1"])
def test_valid_against_the_flake_schema(rendered, name):
    jsonschema.Draft202012Validator(SCHEMA).validate(rendered["docs"][name])


def test_values(rendered):
    web, db = rendered["docs"]["web-1"], rendered["docs"]["db-1"]
    assert web["hostId"] == hashlib.sha256(b"web-1").hexdigest()[:8]
    assert web["hostId"] != db["hostId"]
    assert web["network"] == {"ipv4": {"address": "127.0.0.2"},
                              "ipv6": {"address": "2001:db8:0:2::1", "prefixLength": 64,
                                       "gateway": "fe80::1"}}
    # base_nameservers becomes network.nameservers; unset, the key is absent (the defaults)
    assert db["network"]["nameservers"] == ["2001:db8::53"]
    assert web["storage"]["disks"] == ["/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_2"]
    assert web["storage"]["luks"] == {"name": "cryptroot",
                                      "device": "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_2-part3"}
    assert web["storage"]["espDevice"].endswith("-part2")
    assert web["firewall"] == {"extraTcpPorts": [8443], "extraUdpPorts": [51820]}
    assert web["services"]["nginx"]["vhosts"] == [{"domain": "www.example.org",
                                                   "aliases": ["example.org"],
                                                   "root": "/var/www/example.org",
                                                   "proxyPass": None}]
    assert web["admins"] == [{"name": "admin", "sshKeys": [KEY]}]
    assert web["initrdUnlock"] == {"enable": True, "port": 2222, "authorizedKeys": [KEY],
                                   "hostKeyPath": "/persist/etc/secrets/initrd/ssh_host_ed25519_key"}
    # PostgreSQL only where enabled, with its dataset in the pool's list.
    assert web["services"]["postgresql"] == {"enable": False, "dataset": None}
    assert db["services"]["postgresql"] == {"enable": True, "dataset": "safe/postgres"}
    mounts = {d["name"]: d["mountpoint"] for d in db["storage"]["pool"]["datasets"]}
    assert mounts == {"local/root": "/", "local/nix": "/nix", "safe/home": "/home",
                      "safe/persist": "/persist", "safe/postgres": "/var/lib/postgresql"}
    assert "safe/postgres" not in {d["name"] for d in web["storage"]["pool"]["datasets"]}


def _nix(expr, tmp):
    env = dict(os.environ, NIX_STATE_DIR=str(tmp / "state"), NIX_CONF_DIR=str(tmp),
               XDG_CACHE_HOME=str(tmp / "cache"), HOME=str(tmp))
    return subprocess.run(["nix-instantiate", "--readonly-mode", "--eval", "--strict", "--json",
                           "-E", expr], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix-instantiate not installed")
@pytest.mark.parametrize("name", ["web-1", "db-1"])
def test_the_flake_accepts_it(rendered, name, tmp_path):
    """The flake's own validator (schema plus cross-field checks) reads the file, and the
    datasets it says the services need are the ones the role puts in the pool's list."""
    path = rendered["dir"] / ("%s.json" % name)
    expr = ('let lib = import ./nix/lib; h = lib.readHost "%s" %s; in '
            '{ inherit (h) hostname; need = lib.requiredDatasets h; }' % (name, path))
    r = _nix(expr, tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["hostname"] == name
    listed = {d["name"]: d["mountpoint"] for d in rendered["docs"][name]["storage"]["pool"]["datasets"]}
    for ds, want in out["need"].items():
        assert listed.get(ds) == want["mountpoint"]


def unreadable():
    v = host("127.0.0.2", "2001:db8:0:2::/64", hardware_stage="provisioned")
    for fact in ("storage_disk_by_id", "base_architecture", "base_memory_mib"):
        del v[fact]
    return v


def test_a_skipped_first_host_skips_nothing_for_the_others(tmp_path):
    # Issue 13, item 7: hosts at stage "provisioned" are skipped. The first host of the play
    # is one of them here, so a run_once task would have been skipped for every host (the
    # hosts directory was created run_once, and the hostId check ran run_once). It has none
    # of the facts that the role would read from the server, so it cannot be rendered.
    inv = write_inventory(tmp_path / "inv.json", {
        "a-provisioned": unreadable(),
        "b-rescue": host("127.0.0.3", "2001:db8:0:3::/64", hardware_stage="rescue"),
        "c-storage": host("127.0.0.4", "2001:db8:0:4::/64", hardware_stage="storage"),
    }, {"base_hosts_dir": str(tmp_path / "hosts"), "hardware_fleet_public_keys": [KEY]})
    proc = run_playbook(PLAY, inv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.stem for p in (tmp_path / "hosts").glob("*.json")) == ["b-rescue", "c-storage"]

    inv = write_inventory(tmp_path / "twins.json", {
        "a-provisioned": unreadable(),
        "b-rescue": host("127.0.0.3", "2001:db8:0:3::/64", base_host_id_seed="same"),
        "c-rescue": host("127.0.0.4", "2001:db8:0:4::/64", base_host_id_seed="same"),
    }, {"base_hosts_dir": str(tmp_path / "twins"), "hardware_fleet_public_keys": [KEY]})
    proc = run_playbook(PLAY, inv)
    assert proc.returncode != 0
    assert recap(proc.stdout)["b-rescue"]["failed"] == 1
    assert recap(proc.stdout)["c-rescue"]["failed"] == 1
    assert "b-rescue derived the same ZFS hostId" in proc.stdout
    assert "as c-rescue. Set base_host_id_seed" in proc.stdout
