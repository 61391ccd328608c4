"""zpool, zfs_dataset and zfs_snapshot on real disks in the lab rescue VM (real kernel,
real OpenZFS).

One ansible-playbook run holds the whole sequence (an Ansible task costs ~5 s under TCG):
check, real, check, real for each module; what ZFS really did (ashift, bytes, mounts
under the altroot); bad input; snapshots taken once, a series pruned to its newest;
export, then re-import instead of re-creation; destruction
only with force. The outputs of zpool/zfs read in the VM are saved under
tests/unit/storage/fixtures/*.vm.txt for the parser unit tests.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from playbook_run import run_tasks

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "storage" / "fixtures"
pytestmark = pytest.mark.vm

ZP = "nixos_hetzner.vps.zpool"
ZD = "nixos_hetzner.vps.zfs_dataset"
ZS = "nixos_hetzner.vps.zfs_snapshot"


def by_name(results):
    out = {}
    for r in results:
        assert r["_task"] not in out, "task names must be unique: %s" % r["_task"]
        out[r["_task"]] = r
    return out


def ccrr(name, module, args):
    """Four tasks: check, real, check, real (named '<name> 1..4')."""
    return [{"name": "%s %d" % (name, i + 1), module: args, "check_mode": i in (0, 2), "diff": True}
            for i in range(4)]


def assert_ccrr(res, name):
    got = [(res["%s %d" % (name, i)].get("failed", False), res["%s %d" % (name, i)]["changed"])
           for i in range(1, 5)]
    assert got == [(False, True), (False, True), (False, False), (False, False)], \
        json.dumps([res["%s %d" % (name, i)] for i in range(1, 5)], indent=1, default=str)[-4000:]


def save_fixture(name, text):
    """With NH_CAPTURE_FIXTURES=1, keep an output captured in the VM for the parser unit tests."""
    if os.environ.get("NH_CAPTURE_FIXTURES") == "1":
        (FIXTURES / name).write_text(text)


def sh(name, command):
    return {"name": name, "ansible.builtin.shell": command, "changed_when": False}


def failing(name, module, args):
    return {"name": name, module: args, "ignore_errors": True}


def test_zpool_and_zfs_dataset_on_real_disks(rescue_vm, tmp_path):
    a = rescue_vm.add_disk(size_mb=512)
    b = rescue_vm.add_disk(size_mb=512)
    spare = rescue_vm.add_disk(size_mb=256)
    try:
        inv = rescue_vm.inventory(tmp_path / "inv.ini")
        pool = {"name": "tank", "vdevs": [{"type": "mirror", "devices": [a, b]}],
                "pool_properties": {"ashift": 12, "autotrim": "on"},
                "filesystem_properties": {"compression": "lz4", "xattr": "sa", "canmount": "off"},
                "mountpoint": "/", "altroot": "/mnt", "compatibility": "openzfs-2.1-linux"}
        fs_props = {"mountpoint": "/srv/data", "quota": "100M", "recordsize": "16K", "compression": "zstd",
                    "atime": False, "org.nixos-hetzner:role": "test"}
        tasks = []
        tasks += ccrr("pool", ZP, pool)
        tasks += ccrr("fs", ZD, {"name": "tank/data", "properties": fs_props, "mounted": True})
        tasks += ccrr("vol", ZD, {"name": "tank/vol", "type": "volume", "volsize": "64M",
                                  "properties": {"volblocksize": "16K", "compression": "off"}})
        tasks += [
            {"name": "child", ZD: {"name": "tank/data/child"}},
            sh("facts", "zpool get -Hp -o value ashift tank; zfs get -Hp -o value quota,recordsize tank/data; "
                        "findmnt -n -o TARGET /mnt/srv/data; zfs get -Hp -o value volsize,volblocksize tank/vol"),
            sh("capture status", "zpool status -P -L tank"),
            sh("capture pool get", "zpool get -Hp -o property,value,source all tank"),
            sh("capture fs get", "zfs get -Hp -o property,value,source all tank/data"),
            sh("capture vol get", "zfs get -Hp -o property,value,source all tank/vol"),
            failing("bad unknown property", ZD, {"name": "tank/x", "properties": {"compresion": "lz4"}}),
            failing("bad create-only", ZD, {"name": "tank/vol", "type": "volume",
                                            "properties": {"volblocksize": "8K"}}),
            failing("bad pool name", ZP, {"name": "mirror1", "vdevs": [{"devices": [spare]}]}),
            failing("bad vdev spec", ZP, {"name": "other", "vdevs": [{"type": "raidz2", "devices": [spare]}]}),
            failing("bad missing device", ZP, {"name": "other", "vdevs": [{"devices": ["/dev/disk/by-id/nope"]}]}),
            failing("bad device in use", ZP, {"name": "other", "vdevs": [{"devices": [a]}]}),
            failing("bad layout", ZP, dict(pool, vdevs=[{"devices": [a]}, {"devices": [b]}])),
            failing("absent with children", ZD, {"name": "tank/data", "state": "absent"}),
        ]
        tasks += ccrr("snap", ZS, {"name": "tank/data@blank"})
        tasks += [{"name": "series %d" % i, ZS: {"name": "tank@pre-%d" % i, "recursive": True}}
                  for i in (1, 2, 3)]
        tasks += [{"name": "manual", ZS: {"name": "tank@manual"}}]
        tasks += ccrr("prune", ZS, {"state": "pruned", "dataset": "tank", "prefix": "pre-", "keep": 2,
                                    "recursive": True})
        tasks += [sh("after prune", "zfs list -H -t snapshot -o name -r tank")]
        tasks += ccrr("snap absent", ZS, {"name": "tank/data@blank", "state": "absent"})
        tasks += [
            sh("export", "zpool export tank && zpool import"),
            {"name": "reimport", ZP: pool},
            {"name": "reimport again", ZP: pool},
            sh("after import", "zpool get -Hp -o value altroot tank; zfs get -Hp -o value mounted tank/data"),
            failing("absent without force", ZP, {"name": "tank", "state": "absent"}),
            {"name": "absent", ZP: {"name": "tank", "state": "absent", "force": True}},
            {"name": "absent again", ZP: {"name": "tank", "state": "absent", "force": True}},
            sh("gone", "zpool list -H -o name; zpool import 2>&1; true"),
        ]
        res = by_name(run_tasks(tasks, hosts="rescue", host="rescue", inventory=str(inv), timeout=1200))

        assert_ccrr(res, "pool")
        assert res["pool 2"]["created"] is True
        assert res["pool 4"]["vdevs"][0]["type"] == "mirror"
        assert_ccrr(res, "fs")
        assert_ccrr(res, "vol")
        assert res["fs 4"]["properties"]["quota"] == str(100 * 2 ** 20)
        assert res["fs 4"]["properties"]["mountpoint"] == "/srv/data"

        facts = res["facts"]["stdout"].split()
        # ashift 12; quota and recordsize in bytes; mounted below the altroot; volume size/blocksize
        assert facts == ["12", str(100 * 2 ** 20), "16384", "/mnt/srv/data", str(64 * 2 ** 20), "16384"]

        save_fixture("zpool_status_mirror_byid.vm.txt", res["capture status"]["stdout"] + "\n")
        save_fixture("zpool_get_all.vm.txt", res["capture pool get"]["stdout"] + "\n")
        save_fixture("zfs_get_all_fs.vm.txt", res["capture fs get"]["stdout"] + "\n")
        save_fixture("zfs_get_all_vol.vm.txt", res["capture vol get"]["stdout"] + "\n")

        expect = {
            "bad unknown property": "unknown property 'compresion'",
            "bad create-only": "volblocksize is 16384, requested 8192",
            "bad pool name": "invalid pool name",
            "bad vdev spec": "at least 3 devices",
            "bad missing device": "does not exist",
            "bad device in use": "in use",
            "bad layout": "different layout",
            "absent with children": "descendant",
            "absent without force": "set force: true",
        }
        for name, text in expect.items():
            r = res[name]
            assert r.get("failed") and text in r.get("msg", ""), (name, r.get("msg"))
            assert not r.get("changed"), name

        assert_ccrr(res, "snap")
        assert_ccrr(res, "prune")
        assert res["prune 1"]["destroyed"] == res["prune 2"]["destroyed"] == ["tank@pre-1"]
        assert "zfs destroy -n -r tank@pre-1" in res["prune 1"]["commands"], res["prune 1"]
        left = res["after prune"]["stdout"].split()
        assert not [n for n in left if n.endswith("@pre-1")], left
        assert {"tank@manual", "tank@pre-2", "tank@pre-3", "tank/data@blank", "tank/data/child@pre-3"} <= set(left)
        assert_ccrr(res, "snap absent")

        save_fixture("zpool_import_list.vm.txt", res["export"]["stdout"] + "\n")
        assert "pool: tank" in res["export"]["stdout"]
        assert res["reimport"]["changed"] and res["reimport"]["imported"] and not res["reimport"]["created"]
        assert not res["reimport again"]["changed"], res["reimport again"]
        assert res["after import"]["stdout"].split() == ["/mnt", "no"]  # -N: imported, nothing mounted

        assert res["absent"]["changed"] and not res["absent again"]["changed"]
        assert "tank" not in res["gone"]["stdout"].split()
    finally:
        rescue_vm.ssh("zpool destroy -f tank 2>/dev/null; zpool destroy -f other 2>/dev/null; true")
        for d in (a, b, spare):
            rescue_vm.remove_disk(d)
