"""The data-safety probe beyond blkid/wipefs: backup copies of btrfs, ext2/3/4, LUKS2, ZFS
and md metadata, and sampled non-zero data, on image files (real mkfs.ext4 and cryptsetup
images where the host has the tools, synthetic ones built from the on-disk formats
otherwise)."""
import os
import shutil
import struct
import subprocess

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _probe as pr
from ansible_collections.nixos_hetzner.vps.plugins.modules import luks_device, zpool
from fakerunner import FakeDevFS, FakeRunner, cmd

MIB = 1 << 20


def image(tmp_path, size, writes=()):
    """A sparse image of ``size`` bytes with ``writes`` [(offset, bytes)]."""
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.truncate(size)
        for off, data in writes:
            f.seek(off)
            f.write(data)
    return path


def probe(path):
    fs = bd.DevFS()
    return bd.probe_contents(fs, str(path))


def zero(path, length, offset=0):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\0" * length)


def test_blank_image_holds_nothing(tmp_path):
    assert probe(image(tmp_path, 300 * MIB)) == []
    assert pr.sample_offsets(300 * MIB)[0] == 0 and len(pr.sample_offsets(300 * MIB)) == pr.SAMPLES
    assert pr.sample_offsets(300 * MIB)[-1] == 300 * MIB - pr.SAMPLE_SIZE


def test_btrfs_mirror_superblock_at_64_mib(tmp_path):
    sb = b"\0" * 0x40 + b"_BHRfS_M"
    found = probe(image(tmp_path, 128 * MIB, [(64 * MIB, sb)]))
    assert [(s.type, s.offset, s.detail) for s in found] == [("btrfs", "0x4000000", "btrfs superblock copy")]


@pytest.mark.skipif(not shutil.which("mkfs.ext4"), reason="needs mkfs.ext4")
@pytest.mark.parametrize("block", ["1024", "4096"])
def test_real_ext4_with_its_first_mib_zeroed(tmp_path, block):
    path = image(tmp_path, 300 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", block, str(path)], check=True)
    zero(path, MIB)
    found = probe(path)
    assert found[0].type == "ext4" and "backup superblock of block group 1" in found[0].detail
    expected = (8192 + 1) * 1024 if block == "1024" else 32768 * 4096
    assert found[0].offset == "%#x" % expected


def test_ext_magic_without_matching_group_is_not_a_superblock(tmp_path):
    sb = bytearray(0x5c)
    sb[0x38:0x3a] = b"\x53\xef"
    struct.pack_into("<I", sb, 0x18, 2)
    struct.pack_into("<H", sb, 0x5a, 7)  # claims group 7, lies at group 1
    found = probe(image(tmp_path, 300 * MIB, [(32768 * 4096, bytes(sb))]))
    assert "ext4" not in [s.type for s in found]


@pytest.mark.skipif(not shutil.which("cryptsetup"), reason="needs cryptsetup")
def test_real_luks2_secondary_header(tmp_path):
    path = image(tmp_path, 32 * MIB)
    subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf-memory", "8192",
                    "--pbkdf-force-iterations", "4", "--key-file", "-", str(path)], input=b"k", check=True)
    zero(path, 16 * 1024)  # the primary header's binary part
    found = probe(path)
    assert ("crypto_LUKS", "0x4000") in [(s.type, s.offset) for s in found]


@pytest.mark.parametrize("endian", ["<", ">"])
def test_zfs_labels_at_the_end(tmp_path, endian):
    size = 100 * MIB + 4096  # not a multiple of the label size
    l3 = size - size % (256 * 1024) - 256 * 1024
    ub = struct.pack(endian + "Q", 0x00bab10c)
    found = probe(image(tmp_path, size, [(l3 + 128 * 1024 + 5 * 1024, ub)]))
    assert [(s.type, s.detail) for s in found] == [("zfs_member", "ZFS label L3 (uberblock)")]


@pytest.mark.parametrize("version", ["0.90", "1.0"])
def test_md_superblocks_at_the_end(tmp_path, version):
    size = 64 * MIB + 12 * 1024
    off = (size & ~(64 * 1024 - 1)) - 64 * 1024 if version == "0.90" else ((size // 512 - 16) & ~7) * 512
    found = probe(image(tmp_path, size, [(off, struct.pack("<I", 0xa92b4efc))]))
    assert [(s.type, s.detail) for s in found] == [("linux_raid_member", "md %s superblock" % version)]


def test_random_data_without_a_signature_is_found_by_sampling(tmp_path):
    size = 200 * MIB
    offs = pr.sample_offsets(size)
    found = probe(image(tmp_path, size, [(offs[17] + 100, os.urandom(16))]))
    assert [s.type for s in found] == ["data"]
    assert found[0].describe() == "data (non-zero data in 1 of 48 sampled blocks, the first at %#x)" % offs[17]


def test_sampling_is_skipped_on_a_crypt_mapping(tmp_path):
    class CryptFS(bd.DevFS):
        def is_crypt_mapping(self, path):
            return True
    path = image(tmp_path, 64 * MIB, [(32 * MIB, b"x")])
    assert bd.probe_contents(CryptFS(), str(path)) == []


BLANK = [cmd(["blkid", "-p", "-o", "export", "/dev/sdb"], rc=2),
         cmd(["wipefs", "--no-act", "--json", "/dev/sdb"], out="")]


@pytest.mark.parametrize("check", [False, True])
def test_modules_refuse_what_only_the_probe_sees(check):
    fs = FakeDevFS(devices={"/dev/sdb"})
    fs.images = {"/dev/sdb": b"\0" * (64 * MIB + 0x40) + b"_BHRfS_M" + b"\0" * MIB}
    msg = r"found btrfs \(btrfs superblock copy at 0x4000000\) on '/dev/sdb' \(backup locations"
    r = FakeRunner([cmd(["cryptsetup", "isLuks", "/dev/sdb"], rc=1)] + BLANK)
    p = dict((k, None) for k in luks_device.ARGUMENT_SPEC)
    p.update({k: v["default"] for k, v in luks_device.ARGUMENT_SPEC.items() if "default" in v})
    p.update(device="/dev/sdb", passphrase="pw")
    with pytest.raises(bd.DataSafetyError, match=msg + ".*set force: true"):
        luks_device.execute(p, check, r, fs)
    r.assert_done()
    assert r.argvs[-1][0] == "wipefs"  # nothing after the probe
