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
from pathlib import Path

import pytest

from playbook_run import run_tasks

HERE = Path(__file__).resolve().parent
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


# ---------------------------------------------------------------------------- round two
# Issue 17: no write before validation, data that hides from blkid, interrupted creates.
# One playbook run again; every case reproduces a failure of the earlier code (a write
# before zpool failed, an overwrite of hidden data, a refusal of zpool's own leftover).
ZPOOL_BAD = {"autotrim": {"pool_properties": {"autotrim": "maybe"}},
             "failmode": {"pool_properties": {"failmode": "bogus"}},
             "feature": {"pool_properties": {"feature@nonexistent": "enabled"}},
             "compression": {"filesystem_properties": {"compression": "fast"}}}
# hidden kinds: shell that prepares $D (None: written from Python), what the refusal names
HIDDEN = {
    "btrfs-mirror": (None, "btrfs superblock copy"),
    "ext4-head-zeroed": ("mkfs.ext4 -q -F $D && dd if=/dev/zero of=$D bs=1M count=1 conv=notrunc,fsync status=none",
                         "ext2/3/4 backup superblock"),
    "random": ("dd if=/dev/urandom of=$D bs=1M count=8 seek=40 conv=notrunc,fsync status=none",
               "non-zero data"),
}
# (a LUKS2 header whose primary copy is zeroed needs no case here: blkid -p already finds
# the secondary copy; the probe's own check is covered by the unit tests)
# what `zpool create` leaves when it is killed after labelling the disk (zpool_label_disk)
ZFS_OWN_GPT = ("sgdisk -n1:2048:-8M -t1:BF01 -c1:zfs-0123456789abcdef -n9:0:0 -t9:BF07 $D >/dev/null "
               "&& udevadm settle")


def test_round_two_validation_hidden_data_interrupted_create(rescue_vm, tmp_path):
    disks = {}
    names = ("values", "zfs-gpt", "kill", "mbr", "gpt-backup", "luks-key") + tuple(HIDDEN)
    try:
        for name in names:
            disks[name] = rescue_vm.add_disk(size_mb=128)
        d = disks
        kname = rescue_vm.ssh("readlink -f %s" % d["values"], check=True)[1].strip()
        prep = {
            "values": "ln -sfn %s /root/ds-alias" % d["values"],
            "zfs-gpt": ZFS_OWN_GPT,
            "mbr": KINDS["mbr"][0],
            "gpt-backup": "sgdisk -n1:0:+8M -c1:old $D >/dev/null && "
                          "dd if=/dev/zero of=$D bs=512 count=34 conv=notrunc,fsync status=none",
            "luks-key": KINDS["luks"][0] + " && cryptsetup config --label oldlabel $D",
        }
        prep.update((k, v[0]) for k, v in HIDDEN.items() if v[0])
        for name, script in prep.items():
            rescue_vm.ssh("D=%s; %s" % (d[name], script), check=True)
        sb = gzip.decompress((DATA / "btrfs-head.bin.gz").read_bytes())[0x10000:0x11000]
        rescue_vm.ssh("dd of=%s bs=4096 seek=%d conv=notrunc,fsync status=none"
                      % (d["btrfs-mirror"], (64 << 20) // 4096), input=sb, check=True)
        rescue_vm.ssh("udevadm settle; sync", check=True)
        _, help_out, _ = rescue_vm.ssh("zfs version; zpool get 2>&1 | head -12")
        print("installed ZFS and the head of its property table:\n" + help_out)

        kept = [d[n] for n in ("values", "luks-key") + tuple(HIDDEN)]
        sums = "sha256sum %s" % " ".join(kept)
        zp = "nixos_hetzner.vps.zpool"
        tasks = [{"name": "sums before", "ansible.builtin.command": sums, "changed_when": False}]
        # 1. zpool: values checked before any write, in check mode too
        for case, props in ZPOOL_BAD.items():
            for check in (False, True):
                tasks.append(dict({"name": "bad %s %s" % (case, check), "check_mode": check,
                                   "ignore_errors": True,
                                   zp: dict(name="dsbad", vdevs=[{"devices": [d["values"]]}], **props)}))
        tasks.append({"name": "alias by-id and kernel name", "ignore_errors": True,
                      zp: {"name": "dsalias", "vdevs": [{"type": "mirror", "devices": [d["values"], kname]}]}})
        tasks.append({"name": "alias symlink", "ignore_errors": True,
                      zp: {"name": "dsalias", "vdevs": [{"devices": [d["values"]]},
                                                        {"devices": ["/root/ds-alias"]}]}})
        tasks.append({"name": "long pool name", "ignore_errors": True,
                      zp: {"name": "p" * 300, "vdevs": [{"devices": [d["values"]]}]}})
        # 4. smaller defects
        tasks.append({"name": "path with a trailing space", "ignore_errors": True,
                      "nixos_hetzner.vps.gpt_partitions": {"device": d["values"] + " ", "partitions": [
                          {"number": 1, "name": "x", "type": "8300"}]}})
        tasks.append({"name": "empty passphrase", "ignore_errors": True,
                      "nixos_hetzner.vps.luks_device": dict(device=d["values"], passphrase="", **LUKS_COST)})
        tasks.append({"name": "wrong passphrase with a label", "ignore_errors": True,
                      "nixos_hetzner.vps.luks_device": dict(device=d["luks-key"], passphrase="not the key 17",
                                                            label="newlabel")})
        tasks.append({"name": "wrong passphrase", "ignore_errors": True,
                      "nixos_hetzner.vps.luks_device": dict(device=d["luks-key"], passphrase="not the key 17")})
        # 3. data blkid and wipefs do not see: every destructive module refuses
        for kind in HIDDEN:
            for module in MODULES:
                tasks.append({"name": "hidden %s %s" % (module, kind), "ignore_errors": True,
                              "nixos_hetzner.vps." + module: module_args(module, kind.replace("-", ""),
                                                                         d[kind], False)})
        tasks.append({"name": "sums after", "ansible.builtin.command": sums, "changed_when": False})
        # a zeroed primary GPT with its backup: the standard refusal, then force
        gb = {"device": d["gpt-backup"], "partitions": [{"number": 1, "name": "new", "type": "8300"}]}
        tasks.append({"name": "sum gpt-backup", "ansible.builtin.command": "sha256sum " + d["gpt-backup"],
                      "changed_when": False})
        tasks.append({"name": "gpt backup refused", "ignore_errors": True,
                      "nixos_hetzner.vps.gpt_partitions": gb})
        tasks.append({"name": "gpt backup refused check", "ignore_errors": True, "check_mode": True,
                      "nixos_hetzner.vps.gpt_partitions": gb})
        tasks.append({"name": "sum gpt-backup after", "ansible.builtin.command": "sha256sum " + d["gpt-backup"],
                      "changed_when": False})
        tasks.append({"name": "gpt backup forced", "ignore_errors": True,
                      "nixos_hetzner.vps.gpt_partitions": dict(gb, force=True)})
        # check mode with force on an MBR predicts the real run
        mb = {"device": d["mbr"], "partitions": [{"number": 1, "name": "new", "type": "8300"}], "force": True}
        tasks.append({"name": "mbr forced check", "ignore_errors": True, "check_mode": True,
                      "nixos_hetzner.vps.gpt_partitions": mb})
        tasks.append({"name": "mbr forced", "ignore_errors": True, "nixos_hetzner.vps.gpt_partitions": mb})
        # 2. an interrupted zpool create converges without force
        tasks.append({"name": "zfs own gpt check", "ignore_errors": True, "check_mode": True,
                      zp: {"name": "dsconv", "vdevs": [{"devices": [d["zfs-gpt"]]}], "mountpoint": "none"}})
        tasks.append({"name": "zfs own gpt", "ignore_errors": True,
                      zp: {"name": "dsconv", "vdevs": [{"devices": [d["zfs-gpt"]]}], "mountpoint": "none"}})
        for i, delay in enumerate(("0.2", "0.6", "1.5")):
            tasks.append({"name": "kill %d" % i, "changed_when": False, "ansible.builtin.shell":
                          "D=%s; zpool destroy dskill 2>/dev/null; wipefs -qa $D-part1 $D-part9 2>/dev/null; "
                          "sgdisk --zap-all $D >/dev/null 2>&1; wipefs -qa $D; udevadm settle; "
                          "(zpool create -m none dskill0 $D & p=$!; sleep %s; kill -9 $p; wait) >/dev/null 2>&1; "
                          "udevadm settle; zpool export dskill0 2>/dev/null; "
                          "echo $(sgdisk -p $D 2>&1 | tail -2 | tr -s ' ') / $(blkid -p -o value -s TYPE $D-part1)"
                          % (d["kill"], delay)})
            tasks.append({"name": "after kill %d" % i, "ignore_errors": True,
                          zp: {"name": "dskill", "vdevs": [{"devices": [d["kill"]]}], "mountpoint": "none"}})
        inv = rescue_vm.inventory(tmp_path / "inv.ini")
        results = run_tasks(tasks, hosts="rescue", host="rescue", inventory=str(inv), timeout=1800)
        res = dict((r["_task"], r) for r in results)
        dump = json.dumps(results, indent=1, default=str)[-8000:]
        assert set(t["name"] for t in tasks) <= set(res), dump
        for t in tasks:  # what each case did, for the log
            r = res[t["name"]]
            print("%-40s failed=%-5s changed=%-5s %s" % (t["name"][:40], bool(r.get("failed")),
                                                         bool(r.get("changed")), (r.get("msg") or "")[:150]))

        for case in ZPOOL_BAD:
            for check in (False, True):
                r = res["bad %s %s" % (case, check)]
                assert r.get("failed") and not r.get("changed"), (case, check, r)
                assert "nothing was written" in r["msg"], r["msg"]
                assert not any(c.startswith("zpool create") for c in r.get("commands", [])), r
        for name in ("alias by-id and kernel name", "alias symlink"):
            assert res[name].get("failed") and "are the same disk" in res[name]["msg"], res[name]
        assert "ZFS allows at most 239" in res["long pool name"]["msg"], res["long pool name"]
        assert repr(d["values"] + " ") in res["path with a trailing space"]["msg"]
        assert "passphrase is empty" in res["empty passphrase"]["msg"], res["empty passphrase"]
        for name in ("wrong passphrase with a label", "wrong passphrase"):
            assert res[name].get("failed") and "wrong passphrase" in res[name]["msg"], res[name]
        for kind, (_, what) in HIDDEN.items():
            for module in MODULES:
                r = res["hidden %s %s" % (module, kind)]
                assert r.get("failed") and not r.get("changed"), (module, kind, r)
                assert r["msg"].startswith("found ") and what in r["msg"], (module, kind, r["msg"])
                assert "force: true" in r["msg"], r["msg"]
        assert res["sums before"]["stdout"] == res["sums after"]["stdout"], dump

        for name in ("gpt backup refused", "gpt backup refused check"):
            r = res[name]
            assert r.get("failed") and r["msg"].startswith("found gpt at 0x") and "force: true" in r["msg"], r
        assert res["sum gpt-backup"]["stdout"] == res["sum gpt-backup after"]["stdout"]
        assert res["gpt backup forced"]["changed"] and not res["gpt backup forced"].get("failed")
        for name in ("mbr forced check", "mbr forced"):
            assert not res[name].get("failed") and res[name]["changed"], res[name]

        for name in ("zfs own gpt check", "zfs own gpt"):
            r = res[name]
            assert not r.get("failed") and r["changed"] and r["created"], r
            assert any("interrupted zpool create" in w for w in r.get("warnings", [])), r
        for i in range(3):
            r = res["after kill %d" % i]
            print("kill %d left: %s -> %s" % (i, res["kill %d" % i]["stdout"],
                                              "created" if not r.get("failed") else r["msg"][:160]))
            # converged, or (when the kill came after the pool label was written) the
            # standard refusal: never a raw zpool error after a partial write
            assert (not r.get("failed") and r["created"]) or \
                (r["msg"].startswith("found ") and "force: true" in r["msg"]), r
            if not r.get("failed"):
                rescue_vm.ssh("zpool destroy dskill")
    finally:
        rescue_vm.ssh("for p in dsconv dskill dskill0 dsbad dsalias; do zpool export -f $p 2>/dev/null; "
                      "done; rm -f /root/ds-alias; true")
        for disk in disks.values():
            rescue_vm.remove_disk(disk)
