"""gpt_partitions and luks_device on a real disk in the lab rescue VM (real kernel,
dm-crypt, udev): check, real, check, real for each; what is on the disk afterwards
(sgdisk, luksDump, cryptsetup status); keys with the last-key guard; close and reopen;
bad input (wrong passphrase, partition in use, missing device, mismatched container,
absent without force) fails clearly with nothing written.

One ansible-playbook run (tasks cost ~5 s under TCG). Set NH_CAPTURE_FIXTURES=1 to
store the outputs under tests/unit/storage/fixtures/*.vm.* for the parser tests.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from playbook_run import run_tasks

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.vm

FIXTURES = HERE.parent / "unit" / "storage" / "fixtures"
GPT = "nixos_hetzner.vps.gpt_partitions"
LUKS = "nixos_hetzner.vps.luks_device"
PASS = "first passphrase \u00e4"
SECOND = "second passphrase"
COST = {"pbkdf_memory": 32768, "pbkdf_iterations": 4, "pbkdf_parallel": 1}


def ccrr(name, module, args):
    return [{"name": "%s %d" % (name, i + 1), module: args, "check_mode": i in (0, 2),
             "diff": True} for i in range(4)]


def sh(name, command):
    return {"name": name, "ansible.builtin.shell": command, "changed_when": False}


def failing(name, module, args):
    return {"name": name, module: args, "ignore_errors": True}


def test_gpt_and_luks_on_a_real_disk(rescue_vm, tmp_path):
    disk = rescue_vm.add_disk(size_mb=256)
    part = "/dev/disk/by-partlabel/vmluks"
    try:
        parts = [{"number": 1, "name": "vmbios", "type": "EF02", "size": "1M"},
                 {"number": 2, "name": "vmesp", "type": "EF00", "size": "16M"},
                 {"number": 3, "name": "vmluks", "type": "8309", "size": "rest"}]
        luks = dict(device=part, state="opened", name="vmcrypt", passphrase=PASS,
                    label="vmlabel", sector_size=4096, allow_discards=True,
                    perf_no_read_workqueue=True, persistent=True, **COST)
        tasks = ccrr("gpt", GPT, {"device": disk, "partitions": parts})
        tasks += ccrr("luks", LUKS, luks)
        tasks += [
            sh("sgdisk", "sgdisk -p %s" % disk),
            sh("dump", "cryptsetup luksDump %s" % part),
            sh("status", "cryptsetup status vmcrypt"),
            sh("lsblk", "lsblk -J -o NAME,TYPE,FSTYPE,PARTLABEL %s" % disk),
            # keys
            {"name": "add key", LUKS: dict(device=part, passphrase=PASS, new_passphrase=SECOND, **COST)},
            {"name": "add key again", LUKS: dict(device=part, passphrase=PASS, new_passphrase=SECOND, **COST)},
            {"name": "remove first", LUKS: dict(device=part, passphrase=SECOND, remove_passphrase=PASS)},
            failing("remove last", LUKS, dict(device=part, passphrase=SECOND, remove_passphrase=SECOND)),
            # bad input while the mapping is open
            failing("gpt in use", GPT, {"device": disk, "force": True,
                                        "partitions": [{"number": 1, "name": "other"}]}),
            failing("gpt missing device", GPT, {"device": "/dev/disk/by-id/scsi-0QEMU_nope",
                                                "partitions": parts}),
            failing("luks mismatch", LUKS, dict(device=part, passphrase=SECOND,
                                                cipher="aes-cbc-essiv:sha256")),
            failing("luks absent no force", LUKS, {"device": part, "state": "absent"}),
        ]
        tasks += ccrr("close", LUKS, {"name": "vmcrypt", "state": "closed"})
        tasks += [
            failing("open wrong passphrase", LUKS, dict(device=part, state="opened", name="vmcrypt",
                                                        passphrase=PASS)),
            {"name": "open second", LUKS: dict(device=part, state="opened", name="vmcrypt",
                                               passphrase=SECOND)},
            sh("status reopened", "cryptsetup status vmcrypt"),
            failing("gpt different no force", GPT, {"device": disk, "partitions": [
                {"number": 1, "name": "other"}]}),
            sh("sgdisk unchanged", "sgdisk -p %s" % disk),
            {"name": "absent", LUKS: {"device": part, "state": "absent", "force": True}},
            {"name": "absent again", LUKS: {"device": part, "state": "absent", "force": True}},
            sh("blkid after absent", "blkid -p -o export %s; echo rc=$?" % part),
            sh("isLuks after absent", "cryptsetup isLuks %s; echo rc=$?" % part),
        ]
        inv = rescue_vm.inventory(tmp_path / "inv.ini")
        results = run_tasks(tasks, hosts="rescue", host="rescue", inventory=str(inv), timeout=1800)
        res = dict((r["_task"], r) for r in results)
        dump = json.dumps(results, indent=1, default=str)[-8000:]
        assert set(t["name"] for t in tasks) <= set(res), dump

        for name in ("gpt", "luks", "close"):
            got = [(bool(res["%s %d" % (name, i)].get("failed")), res["%s %d" % (name, i)]["changed"])
                   for i in range(1, 5)]
            assert got == [(False, True), (False, True), (False, False), (False, False)], \
                (name, [res["%s %d" % (name, i)] for i in range(1, 5)])
        # check mode and diff report the same table as the real run made
        assert res["gpt 1"]["diff"]["after"]["partitions"] == res["gpt 2"]["diff"]["after"]["partitions"]
        g = res["gpt 4"]
        assert [p["by_partlabel"] for p in g["partitions"]] == [
            "/dev/disk/by-partlabel/vmbios", "/dev/disk/by-partlabel/vmesp", part]
        assert g["partitions"][2]["by_id"] == disk + "-part3"
        sg = res["sgdisk"]["stdout"]
        assert "EF02  vmbios" in sg and "EF00  vmesp" in sg and "8309  vmluks" in sg

        d = res["dump"]["stdout"]
        for want in ("Version:       \t2", "cipher: aes-xts-plain64", "sector: 4096 [bytes]",
                     "Key:        512 bits", "PBKDF:      argon2id", "Memory:     32768",
                     "Label:         \tvmlabel"):
            assert want in d, (want, d)
        assert "allow-discards" in d and "no-read-workqueue" in d  # persistent flags
        st = res["status"]["stdout"]
        assert "is active" in st and "discards" in st and "no_read_workqueue" in st
        assert res["luks 2"]["mapper"] == "/dev/mapper/vmcrypt"
        assert PASS not in json.dumps(results)  # no_log: never in results

        assert res["add key"]["changed"] and res["add key"]["luks"]["keyslots"] == [0, 1]
        assert not res["add key again"]["changed"]
        assert res["remove first"]["changed"] and res["remove first"]["luks"]["keyslots"] == [1]
        assert res["remove last"].get("failed") and "last key slot" in res["remove last"]["msg"]

        assert res["gpt in use"].get("failed") and "in use" in res["gpt in use"]["msg"]
        assert res["gpt missing device"].get("failed") and \
            "does not exist" in res["gpt missing device"]["msg"]
        assert res["luks mismatch"].get("failed") and \
            "cipher is aes-xts-plain64, requested aes-cbc-essiv:sha256" in res["luks mismatch"]["msg"]
        assert res["luks absent no force"].get("failed") and \
            "force: true" in res["luks absent no force"]["msg"]
        assert res["open wrong passphrase"].get("failed") and \
            "wrong passphrase" in res["open wrong passphrase"]["msg"]
        assert res["open second"]["changed"]
        # flags were stored in the header (persistent), so a plain open has them too
        assert "discards" in res["status reopened"]["stdout"]
        assert res["gpt different no force"].get("failed") and \
            "different GPT table" in res["gpt different no force"]["msg"]
        assert res["sgdisk unchanged"]["stdout"] == sg
        assert res["absent"]["changed"] and not res["absent again"]["changed"]
        # nothing left on the partition: blkid still reports the GPT entry (PART_ENTRY_*),
        # but no content signature (TYPE=...) and cryptsetup no longer sees a header
        blk = res["blkid after absent"]["stdout"].splitlines()
        assert not [ln for ln in blk if ln.startswith(("TYPE=", "UUID=", "LABEL="))], blk
        assert "rc=1" in res["isLuks after absent"]["stdout"], res["isLuks after absent"]

        if os.environ.get("NH_CAPTURE_FIXTURES") == "1":
            (FIXTURES / "sgdisk_p_gpt3.vm.txt").write_text(sg + "\n")
            (FIXTURES / "luksdump_luks2.vm.txt").write_text(d + "\n")
            (FIXTURES / "cryptsetup_status_active.vm.txt").write_text(st + "\n")
            (FIXTURES / "lsblk_gpt3.vm.json").write_text(res["lsblk"]["stdout"] + "\n")
    finally:
        rescue_vm.ssh("cryptsetup close vmcrypt 2>/dev/null; true")
        rescue_vm.remove_disk(disk)
