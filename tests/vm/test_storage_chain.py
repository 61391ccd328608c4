"""The whole storage chain on real disks in the lab rescue VM, as the storage role runs it:
GPT partitions -> LUKS2 -> a pool on /dev/mapper/... -> datasets, first on one disk named
/dev/sdX, then on a second disk named by id.

One ansible-playbook run (tasks cost ~5 s under TCG):
  pass 1 builds everything (every task changed);
  pass 2 re-runs it and nothing changes;
  then the pools are exported and the LUKS mappings closed (as after a reboot into rescue);
  pass 3 opens the mappings and imports the pools (never creates them) and changes nothing else.
"""
from __future__ import annotations

import json

import pytest

from playbook_run import run_tasks

pytestmark = pytest.mark.vm

PASSPHRASE = "chain test passphrase"
LUKS_COST = {"pbkdf_memory": 32768, "pbkdf_iterations": 4, "pbkdf_parallel": 1}


def chain(tag, disk, pool, datasets, npass):
    """The tasks for one disk; every task is named '<pass> <tag> <step>'."""
    label = "luks-" + tag
    mapper = "/dev/mapper/crypt-" + tag
    tasks = [
        {"name": "%d %s gpt" % (npass, tag), "nixos_hetzner.vps.gpt_partitions": {
            "device": disk, "partitions": [
                {"number": 1, "name": "bios-" + tag, "type": "EF02", "size": "1M"},
                {"number": 2, "name": "esp-" + tag, "type": "EF00", "size": "32M"},
                {"number": 3, "name": label, "type": "8309", "size": "rest"}]}},
        {"name": "%d %s luks" % (npass, tag), "nixos_hetzner.vps.luks_device": dict(
            device="/dev/disk/by-partlabel/" + label, state="opened", name="crypt-" + tag,
            passphrase=PASSPHRASE, label="crypt" + tag, allow_discards=True, **LUKS_COST)},
        {"name": "%d %s pool" % (npass, tag), "nixos_hetzner.vps.zpool": {
            "name": pool, "vdevs": [{"devices": [mapper]}], "altroot": "/mnt", "mountpoint": "none",
            "pool_properties": {"ashift": 12, "autotrim": "on"},
            "filesystem_properties": {"compression": "lz4", "acltype": "posixacl", "xattr": "sa",
                                      "canmount": "off"}}},
    ]
    for i, (name, props) in enumerate(datasets):
        tasks.append({"name": "%d %s ds%d" % (npass, tag, i), "nixos_hetzner.vps.zfs_dataset": {
            "name": name, "properties": props}})
    return tasks


def test_storage_chain_on_two_disks(rescue_vm, tmp_path):
    first = rescue_vm.add_disk(size_mb=640)
    second = rescue_vm.add_disk(size_mb=640)
    try:
        rc, out, err = rescue_vm.ssh("readlink -f %s" % first, check=True)
        first_kernel = out.strip()  # /dev/sdX: the first chain uses the kernel name
        assert first_kernel.startswith("/dev/sd"), out
        plan = [
            ("a", first_kernel, "rpool", [
                ("rpool/root", {"mountpoint": "/", "canmount": "noauto"}),
                ("rpool/nix", {"mountpoint": "/nix", "atime": "off", "quota": "200M"}),
                ("rpool/home", {"mountpoint": "/home", "recordsize": "128K"})]),
            ("b", second, "data", [
                ("data/backup", {"mountpoint": "/srv/backup", "compression": "zstd", "quota": "100M"}),
                ("data/db", {"mountpoint": "/var/lib/db", "recordsize": "16K", "logbias": "throughput"})]),
        ]
        tasks = []
        for npass in (1, 2):
            for tag, disk, pool, datasets in plan:
                tasks += chain(tag, disk, pool, datasets, npass)
        tasks.append({"name": "reboot-like", "ansible.builtin.shell":
                      "zpool export rpool && zpool export data && cryptsetup close crypt-a && "
                      "cryptsetup close crypt-b && (zpool list -H -o name | grep -c -x -e rpool -e data || true)"})
        for tag, disk, pool, datasets in plan:
            tasks += chain(tag, disk, pool, datasets, 3)
        tasks.append({"name": "layout", "ansible.builtin.shell":
                      "zpool status -P -L rpool data; zfs list -H -o name,mountpoint -r rpool data",
                      "changed_when": False})
        inv = rescue_vm.inventory(tmp_path / "inv.ini")
        results = run_tasks(tasks, hosts="rescue", host="rescue", inventory=str(inv), timeout=1800)
        res = {r["_task"]: r for r in results}
        dump = json.dumps(results, indent=1, default=str)[-6000:]
        failed = [r["_task"] for r in results if r.get("failed")]
        assert not failed, dump

        names = [t["name"] for t in tasks]
        assert set(names) <= set(res), "missing results: %s" % sorted(set(names) - set(res))
        for name in names:
            if name in ("reboot-like", "layout"):
                continue
            npass, tag, step = name.split()
            changed = res[name]["changed"]
            if npass == "1":
                assert changed, name
            elif npass == "2":
                assert not changed, (name, res[name].get("diff"), res[name].get("commands"))
            elif step == "luks":
                assert changed, name  # opened again
            elif step == "pool":
                assert changed and res[name]["imported"] and not res[name]["created"], res[name]
            else:
                assert not changed, (name, res[name].get("diff"), res[name].get("commands"))
        assert res["reboot-like"]["stdout"].strip() == "0"
        # the pools sit on the LUKS mappings (dm devices), not on the raw partitions
        assert res["3 a pool"]["vdevs"][0]["devices"][0].startswith("/dev/dm-")
        assert res["3 b pool"]["vdevs"][0]["devices"][0].startswith("/dev/dm-")
        layout = res["layout"]["stdout"]
        assert "rpool/nix\t/mnt/nix" in layout and "data/db\t/mnt/var/lib/db" in layout
    finally:
        rescue_vm.ssh("zpool export -f rpool; zpool export -f data; cryptsetup close crypt-a; "
                      "cryptsetup close crypt-b; true")
        for d in (first, second):
            rescue_vm.remove_disk(d)
