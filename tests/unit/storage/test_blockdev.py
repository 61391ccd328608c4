"""Device names and the data-safety probe (_blockdev)."""
import os

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import CommandError
from fakerunner import FakeRunner, TreeFS, cmd, fixture


# ------------------------------------------------------------------ parsers, real outputs
def test_parse_blkid_ext4():
    info = bd.parse_blkid_export(fixture("blkid_ext4.host.txt"))
    assert info["TYPE"] == "ext4" and info["LABEL"] == "data" and info["USAGE"] == "filesystem"
    assert [s.type for s in bd.blkid_signatures(info)] == ["ext4"]


def test_parse_blkid_gpt_is_partition_table():
    info = bd.parse_blkid_export(fixture("blkid_gpt.host.txt"))
    assert "TYPE" not in info and info["PTTYPE"] == "gpt"
    assert [s.type for s in bd.blkid_signatures(info)] == ["gpt"]


def test_parse_wipefs_gpt_lists_primary_backup_and_pmbr():
    sigs = bd.parse_wipefs_json(fixture("wipefs_gpt.host.json"))
    assert [(s["type"], s["offset"]) for s in sigs] == [
        ("gpt", "0x200"), ("gpt", "0x3fffe00"), ("PMBR", "0x1fe")]


def test_parse_wipefs_blank_and_empty():
    assert bd.parse_wipefs_json(fixture("wipefs_blank.host.json")) == []
    assert bd.parse_wipefs_json("") == []


# ------------------------------------------------------------------ probe + refusal
def _probe_table(dev, kind):
    blkid = fixture("blkid_%s.host.txt" % kind)
    return [cmd(["blkid", "-p", "-o", "export", dev], rc=0 if blkid else 2, out=blkid),
            cmd(["wipefs", "--no-act", "--json", dev], out=fixture("wipefs_%s.host.json" % kind))]


@pytest.mark.parametrize("kind,types", [
    ("ext4", ["ext4"]), ("swap", ["swap"]), ("gpt", ["gpt", "gpt", "PMBR"]), ("blank", [])])
def test_probe_signatures(kind, types):
    r = FakeRunner(_probe_table("/dev/sdb", kind))
    assert [s.type for s in bd.probe_signatures(r, "/dev/sdb")] == types
    r.assert_done()


def test_refuse_names_signature_and_override():
    r = FakeRunner(_probe_table("/dev/sdb", "ext4"))
    with pytest.raises(bd.DataSafetyError) as ei:
        bd.refuse_unless_blank(r, "/dev/sdb", force=False, action="format it as LUKS2")
    msg = str(ei.value)
    assert "found ext4 (label 'data') on '/dev/sdb'" in msg
    assert "set force: true to overwrite" in msg and "nothing was written" in msg
    assert [s.type for s in ei.value.signatures] == ["ext4"]
    r.assert_done()


def test_force_returns_what_will_be_overwritten():
    r = FakeRunner(_probe_table("/dev/sdb", "gpt"))
    sigs = bd.refuse_unless_blank(r, "/dev/sdb", force=True)
    assert {s.type for s in sigs} == {"gpt", "PMBR"}


def test_blank_passes():
    r = FakeRunner(_probe_table("/dev/sdb", "blank"))
    assert bd.refuse_unless_blank(r, "/dev/sdb", force=False) == []


def test_blkid_only_signature_counts():
    # blkid finds something that wipefs does not list: still refused
    r = FakeRunner([cmd(["blkid", "-p", "-o", "export", "/dev/sdc"], out="TYPE=zfs_member\nUSAGE=filesystem\nLABEL=tank\n"),
                    cmd(["wipefs", "--no-act", "--json", "/dev/sdc"], out="")])
    with pytest.raises(bd.DataSafetyError, match="zfs_member"):
        bd.refuse_unless_blank(r, "/dev/sdc", force=False)


def test_ambivalent_blkid_is_refused():
    r = FakeRunner([cmd(["blkid", "-p", "-o", "export", "/dev/sdc"], rc=8,
                        err="/dev/sdc: ambivalent result (probably more filesystems on the device, use wipefs(8) to see more details)"),
                    cmd(["wipefs", "--no-act", "--json", "/dev/sdc"], out="")])
    with pytest.raises(bd.DataSafetyError, match="ambivalent"):
        bd.refuse_unless_blank(r, "/dev/sdc", force=False)


def test_allowed_types():
    r = FakeRunner(_probe_table("/dev/sdb", "gpt"))
    assert bd.refuse_unless_blank(r, "/dev/sdb", force=False, allowed=("gpt", "PMBR"))


def test_probe_error_propagates():
    r = FakeRunner([cmd(["blkid", "-p", "-o", "export", "/dev/sdz"], rc=4, err="blkid: error: /dev/sdz: No such file or directory")])
    with pytest.raises(CommandError, match="No such file"):
        bd.probe_signatures(r, "/dev/sdz")


# ------------------------------------------------------------------ names
@pytest.fixture
def tree(tmp_path):
    dev = tmp_path / "dev"
    for d in ("disk/by-id", "disk/by-partlabel", "mapper"):
        (dev / d).mkdir(parents=True)
    for n in ("sda", "sda1", "sda2", "sdb", "dm-0"):
        (dev / n).write_text("")
    os.symlink("../../sda", dev / "disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0")
    os.symlink("../../sda", dev / "disk/by-id/wwn-0x5000c500a0b1c2d3")
    os.symlink("../../sda2", dev / "disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0-part2")
    os.symlink("../../sda2", dev / "disk/by-partlabel/luks")
    os.symlink("../dm-0", dev / "mapper/crypt0")
    return TreeFS(str(tmp_path))


def test_canonical_all_names_agree(tree):
    for name in ("/dev/sda2", "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0-part2",
                 "/dev/disk/by-partlabel/luks"):
        assert tree.canonical(name) == "/dev/sda2"
    assert tree.canonical("/dev/mapper/crypt0") == "/dev/dm-0"
    assert tree.same_device("/dev/disk/by-id/wwn-0x5000c500a0b1c2d3", "/dev/sda")
    assert not tree.same_device("/dev/sda", "/dev/sdb")


def test_aliases_and_preferred_by_id(tree):
    a = tree.aliases("/dev/disk/by-partlabel/luks")
    assert a == {"realpath": "/dev/sda2",
                 "by_id": ["/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0-part2"],
                 "by_partlabel": ["/dev/disk/by-partlabel/luks"], "mapper": None}
    assert tree.aliases("/dev/dm-0")["mapper"] == "/dev/mapper/crypt0"
    assert tree.preferred_by_id("/dev/sda") == "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0"
    assert tree.preferred_by_id("/dev/sdb") is None


def test_partition_path():
    assert bd.partition_path("/dev/sda", 2) == "/dev/sda2"
    assert bd.partition_path("/dev/nvme0n1", 1) == "/dev/nvme0n1p1"
    assert bd.partition_path("/dev/disk/by-id/scsi-X", 3) == "/dev/disk/by-id/scsi-X-part3"


def test_require_device(tree):
    bd.require_device(tree, "/dev/sdb")
    with pytest.raises(bd.DeviceError, match="does not exist"):
        bd.require_device(tree, "/dev/sdz")
    with pytest.raises(bd.DeviceError, match="absolute"):
        bd.require_device(tree, "sdb")
    tree.busy = ("/dev/sda2",)
    with pytest.raises(bd.DeviceError, match="in use"):
        bd.require_device(tree, "/dev/disk/by-partlabel/luks")
    bd.require_device(tree, "/dev/disk/by-partlabel/luks", allow_busy=True)


def test_real_devfs_regular_file_is_not_block(tmp_path):
    f = tmp_path / "x"
    f.write_text("")
    fs = bd.DevFS()
    assert fs.exists(str(f)) and not fs.is_block(str(f)) and not fs.is_busy(str(f))


# ------------------------------------------------------------------ outputs captured in the lab VM
VM_KINDS = {"ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs", "swap": "swap", "gpt": "gpt",
            "mbr": "dos", "luks": "crypto_LUKS", "zfs": "zfs_member"}


@pytest.mark.parametrize("kind", sorted(VM_KINDS))
def test_vm_captures_refused(kind):
    """blkid -p / wipefs outputs captured on real disks in the lab rescue VM
    (tests/vm/test_data_safety.py with NH_CAPTURE_FIXTURES=1)."""
    dev = "/dev/disk/by-id/scsi-X"
    blkid = fixture("blkid_%s.vm.txt" % kind)
    r = FakeRunner([cmd(["blkid", "-p", "-o", "export", dev], out=blkid),
                    cmd(["wipefs", "--no-act", "--json", dev], out=fixture("wipefs_%s.vm.json" % kind))])
    with pytest.raises(bd.DataSafetyError) as ei:
        bd.refuse_unless_blank(r, dev, force=False)
    assert VM_KINDS[kind] in str(ei.value) and "set force: true" in str(ei.value)


def test_vm_zfs_member_has_all_labels():
    sigs = bd.parse_wipefs_json(fixture("wipefs_zfs.vm.json"))
    assert {s["type"] for s in sigs} == {"zfs_member"} and len(sigs) >= 2
    info = bd.parse_blkid_export(fixture("blkid_zfs.vm.txt"))
    assert info["TYPE"] == "zfs_member" and info["LABEL"] == "dszfs"
