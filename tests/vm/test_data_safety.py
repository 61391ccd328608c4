"""Data-safety suite on real disks in the lab rescue VM.

Eight disks hold, each: ext4, xfs, btrfs, swap, a GPT with partitions, an MBR, LUKS2
and a zfs_member (an exported pool on a partition). Every destructive module
(gpt_partitions, luks_device format, zpool create) runs on every one of them without
``force``: each must fail naming what it found and ``force: true``, and the SHA-256 of
every disk must be unchanged afterwards. Then each disk gets one module with
``force: true`` (rotating, so every module proceeds on several kinds) and it proceeds.

One ansible-playbook run for all of it (tasks cost ~5 s under TCG).
Set NH_CAPTURE_FIXTURES=1 to store the blkid/wipefs outputs under
tests/unit/storage/fixtures/*.vm.* for the parser unit tests.
"""
from __future__ import annotations

import gzip
import json
import os
import shlex
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

from ansible_runner import run_tasks  # noqa: E402

pytestmark = pytest.mark.vm

FIXTURES = HERE.parent / "unit" / "storage" / "fixtures"
DATA = HERE / "data"
PASS = "data safety passphrase"
LUKS_COST = {"pbkdf_memory": 8192, "pbkdf_iterations": 4, "pbkdf_parallel": 1}

# kind -> (shell that creates it on $D, the signature blkid/wipefs must report)
KINDS = {
    "ext4": ("mkfs.ext4 -q -F -L ds-ext4 $D", "ext4"),
    "xfs": (None, "xfs"),        # real mkfs.xfs superblock from tests/vm/data
    "btrfs": (None, "btrfs"),    # real mkfs.btrfs superblock from tests/vm/data
    "swap": ("mkswap -L ds-swap $D >/dev/null", "swap"),
    "gpt": ("sgdisk -n1:0:+8M -t1:8300 -c1:old-data -n2:0:0 -t2:8309 -c2:old-luks $D >/dev/null",
            "gpt"),
    "mbr": ("parted -s $D mklabel msdos mkpart primary 1MiB 20MiB", "dos"),
    "luks": ("printf %s | cryptsetup luksFormat --batch-mode --pbkdf-memory 8192 "
             "--pbkdf-force-iterations 4 --key-file - $D" % shlex.quote("old key"), "crypto_LUKS"),
    # zfs_member on a partition (a whole-disk vdev would get its own GPT)
    "zfs": ("sgdisk -n1:0:0 -t1:BF00 $D >/dev/null && udevadm settle && "
            "zpool create -f dszfs $D-part1 && zpool export dszfs", "zfs_member"),
}
MODULES = ("gpt_partitions", "luks_device", "zpool")
# the one forced module per kind
FORCED = {"ext4": "luks_device", "xfs": "zpool", "btrfs": "gpt_partitions",
          "swap": "luks_device", "gpt": "zpool", "mbr": "gpt_partitions",
          "luks": "gpt_partitions", "zfs": "luks_device"}


def module_args(module, kind, target, force):
    if module == "gpt_partitions":
        args = {"device": target, "partitions": [{"number": 1, "name": "new-" + kind,
                                                  "type": "8300"}]}
    elif module == "luks_device":
        args = dict(device=target, passphrase=PASS, **LUKS_COST)
    else:
        args = {"name": "ds" + kind + "new", "vdevs": [{"devices": [target]}],
                "mountpoint": "none"}
    if force:
        args["force"] = True
    return args


def test_destructive_modules_refuse_signed_disks(rescue_vm, tmp_path):
    disks = {}
    try:
        for kind in KINDS:
            disks[kind] = rescue_vm.add_disk(size_mb=128)  # zpool needs >= 64M after partitioning
        targets = dict((k, d + "-part1" if k == "zfs" else d) for k, d in disks.items())
        # prepare
        for kind, (script, _) in KINDS.items():
            d = disks[kind]
            if script is None:
                data = gzip.decompress((DATA / ("%s-head.bin.gz" % kind)).read_bytes())
                rescue_vm.ssh("dd of=%s bs=1M conv=notrunc,fsync status=none" % d, input=data,
                              check=True)
            else:
                rescue_vm.ssh("D=%s; %s" % (d, script), check=True)
        rescue_vm.ssh("udevadm settle; sync", check=True)
        capture = {}
        for kind, target in targets.items():
            _, b, _ = rescue_vm.ssh("blkid -p -o export %s" % target)
            _, w, _ = rescue_vm.ssh("wipefs --no-act --json %s" % target, check=True)
            capture[kind] = (b, w)
            types = [s["type"] for s in json.loads(w or '{"signatures": []}')["signatures"]]
            assert KINDS[kind][1] in types or ("TYPE=%s" % KINDS[kind][1]) in b \
                or ("PTTYPE=%s" % KINDS[kind][1]) in b, (kind, b, w)
        if os.environ.get("NH_CAPTURE_FIXTURES") == "1":
            for kind, (b, w) in capture.items():
                (FIXTURES / ("blkid_%s.vm.txt" % kind)).write_text(b)
                (FIXTURES / ("wipefs_%s.vm.json" % kind)).write_text(w)
        devs = " ".join(targets[k] for k in KINDS)
        sums = "sha256sum %s" % devs

        tasks = [{"name": "sums before", "ansible.builtin.command": sums, "changed_when": False}]
        for kind, target in targets.items():
            for module in MODULES:
                tasks.append({"name": "refuse %s %s" % (module, kind),
                              "nixos_hetzner.vps." + module: module_args(module, kind, target, False),
                              "ignore_errors": True})
        tasks.append({"name": "sums after", "ansible.builtin.command": sums, "changed_when": False})
        for kind, target in targets.items():
            module = FORCED[kind]
            tasks.append({"name": "force %s %s" % (module, kind),
                          "nixos_hetzner.vps." + module: module_args(module, kind, target, True),
                          "ignore_errors": True})
        tasks.append({"name": "sums forced", "ansible.builtin.command": sums, "changed_when": False})
        tasks.append({"name": "blkid forced", "ansible.builtin.shell":
                      "for d in %s; do echo \"$d $(blkid -p -o value -s TYPE -s PTTYPE $d | "
                      "tr '\\n' ' ')\"; done" % devs, "changed_when": False})
        inv = rescue_vm.inventory(tmp_path / "inv.ini")
        results = run_tasks(tasks, hosts="rescue", host="rescue", inventory=str(inv), timeout=1800)
        res = dict((r["_task"], r) for r in results)
        dump = json.dumps(results, indent=1, default=str)[-8000:]
        assert set(t["name"] for t in tasks) <= set(res), dump

        for kind in KINDS:
            sig = KINDS[kind][1]
            for module in MODULES:
                r = res["refuse %s %s" % (module, kind)]
                if (module, kind) == ("luks_device", "luks"):
                    # an existing container is managed, never formatted again; its key is
                    # checked first and "old key" is not the module's passphrase
                    assert r.get("failed") and "wrong passphrase" in r["msg"], r
                    continue
                if (module, kind) == ("gpt_partitions", "gpt"):
                    assert r.get("failed") and "different GPT table" in r["msg"], r
                    assert "force: true" in r["msg"], r
                    continue
                assert r.get("failed"), ("not refused", module, kind, r)
                assert "found" in r["msg"] and sig in r["msg"], (module, kind, r["msg"])
                assert "force: true" in r["msg"], (module, kind, r["msg"])
                assert not r.get("changed"), (module, kind, r)
        assert res["sums before"]["stdout"] == res["sums after"]["stdout"], dump

        before = dict(reversed(l.split()) for l in res["sums before"]["stdout"].splitlines())
        forced = dict(reversed(l.split()) for l in res["sums forced"]["stdout"].splitlines())
        kinds_now = dict((l.split()[0], l.split()[1:]) for l in res["blkid forced"]["stdout"].splitlines())
        expect = {"luks_device": "crypto_LUKS", "gpt_partitions": "gpt", "zpool": None}
        for kind, target in targets.items():
            module = FORCED[kind]
            r = res["force %s %s" % (module, kind)]
            assert not r.get("failed") and r["changed"], (module, kind, r)
            assert forced[target] != before[target], (module, kind)
            if expect[module]:
                assert expect[module] in kinds_now[target], (module, kind, kinds_now[target])
            if module != "zpool":
                assert sig_in(r["overwritten_signatures"], KINDS[kind][1]), (module, kind, r)
    finally:
        rescue_vm.ssh("for p in dszfs dsxfsnew dsgptnew; do zpool export -f $p 2>/dev/null; done; true")
        for d in disks.values():
            rescue_vm.remove_disk(d)


def sig_in(types, sig):
    return sig in types
