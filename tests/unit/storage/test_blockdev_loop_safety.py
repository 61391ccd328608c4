"""Data safety on real block devices on the host: loop devices over image files holding
ext4, xfs, btrfs, swap, a GPT with partitions, an MBR and LUKS2. gpt_partitions and
luks_device (format) run on each through the real runner and the real /dev: each must
refuse, naming the signature (gpt_partitions on a GPT: the table differences; luks_device
on LUKS: it manages the existing container and writes nothing), and the device's SHA-256
must not change; then one forced
module per device proceeds. (zpool and zfs_member need ZFS: tests/vm/test_data_safety.py.)

Needs root, losetup with a free loop device, blkid, wipefs, sgdisk, cryptsetup and
mkfs.ext4/mkswap; skipped otherwise. The xfs and btrfs superblocks are real mkfs output
stored in tests/vm/data.
"""
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _gpt as gpt_mod
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Runner
from ansible_collections.nixos_hetzner.vps.plugins.modules import gpt_partitions, luks_device

DATA = Path(__file__).resolve().parents[2] / "vm" / "data"
TOOLS = ("losetup", "blkid", "wipefs", "sgdisk", "cryptsetup", "mkfs.ext4", "mkswap")


def _loop_ok():
    if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS):
        return False
    return subprocess.run(["losetup", "--find"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _loop_ok(), reason="needs root, a free loop device and "
                                + ", ".join(TOOLS))


def mbr(path):
    entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, 20480)
    with open(path, "r+b") as f:
        f.seek(440)
        f.write(struct.pack("<I", 0x1234abcd) + b"\0\0" + entry + b"\0" * 48 + b"\x55\xaa")


def head(path, kind):
    with open(path, "r+b") as f:
        f.write(gzip.decompress((DATA / ("%s-head.bin.gz" % kind)).read_bytes()))


PREPARE = {
    "ext4": (lambda p: subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "old", p], check=True), "ext4"),
    "xfs": (lambda p: head(p, "xfs"), "xfs"),
    "btrfs": (lambda p: head(p, "btrfs"), "btrfs"),
    "swap": (lambda p: subprocess.run(["mkswap", p], check=True, capture_output=True), "swap"),
    "gpt": (lambda p: subprocess.run(["sgdisk", "-n1:0:+8M", "-n2:0:0", p], check=True,
                                     capture_output=True), "gpt"),
    "mbr": (mbr, "dos"),
    "luks": (lambda p: subprocess.run(
        ["cryptsetup", "luksFormat", "--batch-mode", "--pbkdf-memory", "8192",
         "--pbkdf-force-iterations", "4", "--key-file", "-", p], input=b"old", check=True), "crypto_LUKS"),
}
FORCED = {"ext4": "luks", "xfs": "gpt", "btrfs": "luks", "swap": "gpt", "gpt": "luks",
          "mbr": "luks", "luks": "gpt"}


def sha(dev):
    h = hashlib.sha256()
    with open(dev, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gpt_params(dev, force):
    return {"device": dev, "force": force, "partitions": [{"number": 1, "name": "new", "type": "8300",
                                                           "size": "rest"}]}


def luks_params(dev, force):
    p = dict((k, None) for k in luks_device.ARGUMENT_SPEC)
    p.update({k: v["default"] for k, v in luks_device.ARGUMENT_SPEC.items() if "default" in v})
    p.update(device=dev, passphrase="new key", pbkdf_memory=8192, pbkdf_iterations=4,
             pbkdf_parallel=1, force=force)
    return p


def run(module, dev, force, check=False):
    if module == "gpt":
        return gpt_partitions.execute(gpt_params(dev, force), check, Runner(), bd.DevFS())
    return luks_device.execute(luks_params(dev, force), check, Runner(), bd.DevFS())


@pytest.fixture
def loopdev(tmp_path):
    devs = []

    def make(kind):
        img = tmp_path / ("%s.img" % kind)
        subprocess.run(["truncate", "-s", "48M", str(img)], check=True)
        PREPARE[kind][0](str(img))
        dev = subprocess.run(["losetup", "--find", "--show", str(img)], check=True,
                             capture_output=True, text=True).stdout.strip()
        devs.append(dev)
        return dev
    yield make
    for dev in devs:
        subprocess.run(["losetup", "-d", dev])


@pytest.mark.parametrize("kind", sorted(PREPARE))
def test_destructive_modules_refuse_then_force(kind, loopdev):
    dev = loopdev(kind)
    sig = PREPARE[kind][1]
    before = sha(dev)
    for module in ("gpt", "luks"):
        for check in (True, False):
            if module == "luks" and kind == "luks":
                # an existing container is managed, never formatted again; its key is
                # checked first, and "old" is not the module's passphrase
                with pytest.raises(luks_device.lk.LuksError, match="wrong passphrase"):
                    run(module, dev, False, check)
                continue
            if module == "gpt" and kind == "gpt":
                # a different GPT table: refused with the differences
                with pytest.raises(gpt_mod.TableMismatch) as ei:
                    run(module, dev, False, check)
                assert "different GPT table" in str(ei.value) and "force: true" in str(ei.value)
                continue
            with pytest.raises(bd.DataSafetyError) as ei:
                run(module, dev, False, check)
            msg = str(ei.value)
            assert ("found " in msg and sig in msg and "set force: true" in msg), (module, msg)
    assert sha(dev) == before, "a refused module changed the device"
    module = FORCED[kind]
    res = run(module, dev, True)
    assert res["changed"] and sig in res["overwritten_signatures"], res
    assert sha(dev) != before
    now = [s.type for s in bd.probe_signatures(Runner(), dev)]
    assert ("crypto_LUKS" if module == "luks" else "gpt") in now and sig not in now, now
    # and the forced result is stable: a re-run without force changes nothing
    assert not run(module, dev, False)["changed"]
