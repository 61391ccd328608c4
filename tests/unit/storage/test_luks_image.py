"""luks_device against the real cryptsetup, on disk-image files on the host (no
device-mapper needed for format, label and keys; open/close run in the lab VM tests).
Skipped when cryptsetup is not installed."""
import hashlib
import os
import shutil
import subprocess

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _luks as lk
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Runner
from ansible_collections.nixos_hetzner.vps.plugins.modules import luks_device as mod

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("cryptsetup", "blkid", "wipefs", "mkfs.ext4")),
    reason="needs cryptsetup (cryptsetup-bin), blkid, wipefs and mkfs.ext4")

PW = "image pass \u00e4"


class FileFS(bd.DevFS):
    def is_block(self, path):
        return os.path.isfile(path)

    def is_busy(self, path):
        return False

    def mapper_holders(self, path):
        return []


def params(img, **kw):
    p = dict((k, None) for k in mod.ARGUMENT_SPEC)
    p.update({k: v["default"] for k, v in mod.ARGUMENT_SPEC.items() if "default" in v})
    p.update(device=str(img), passphrase=PW, pbkdf_memory=8192, pbkdf_iterations=4,
             pbkdf_parallel=1, label="imgtest", sector_size=4096)
    p.update(kw)
    return p


def run(p, check=False):
    return mod.execute(p, check, Runner(), FileFS())


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def img(tmp_path):
    path = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "40M", str(path)], check=True)
    return path


def test_check_real_check_real_and_exact_passphrase(img):
    assert [run(params(img), c)["changed"] for c in (True, False, True, False)] == \
        [True, True, False, False]
    dump = lk.parse_luksdump(subprocess.run(["cryptsetup", "luksDump", str(img)],
                                            capture_output=True, text=True).stdout)
    assert (dump["version"], dump["cipher"], dump["key_size"], dump["label"],
            dump["sector_size"]) == (2, "aes-xts-plain64", 512, "imgtest", 4096)
    assert dump["keyslots"][0]["pbkdf"] == "argon2id" and dump["keyslots"][0]["memory"] == 8192
    ok = lambda data: subprocess.run(  # noqa: E731
        ["cryptsetup", "open", "--test-passphrase", "--key-file", "-", str(img)],
        input=data).returncode
    assert ok(PW.encode()) == 0
    assert ok(PW.encode() + b"\n") != 0  # exact bytes: a newline is a different key


def test_ext4_refused_unchanged_then_forced(img):
    subprocess.run(["mkfs.ext4", "-q", str(img)], check=True)
    before = sha(img)
    for check in (True, False):
        with pytest.raises(bd.DataSafetyError, match="found ext4"):
            run(params(img), check)
    assert sha(img) == before
    res = run(params(img, force=True))
    assert res["changed"] and res["overwritten_signatures"] == ["ext4"]
    sigs = bd.probe_signatures(Runner(), str(img))
    assert [s.type for s in sigs] == ["crypto_LUKS", "crypto_LUKS"]  # primary + secondary header


def test_keys_label_guard_and_mismatch(img):
    run(params(img))
    res = run(params(img, new_passphrase="second"))
    assert res["changed"] and res["luks"]["keyslots"] == [0, 1]
    assert not run(params(img, new_passphrase="second"))["changed"]
    res = run(params(img, passphrase="second", remove_passphrase=PW))
    assert res["changed"] and res["luks"]["keyslots"] == [1]
    with pytest.raises(lk.LuksError, match="last key slot"):
        run(params(img, passphrase="second", remove_passphrase="second"))
    res = run(params(img, passphrase="second", label="renamed"))
    assert res["changed"] and res["luks"]["label"] == "renamed"
    with pytest.raises(lk.LuksError, match="sector size is 4096, requested 512"):
        run(params(img, passphrase="second", label="renamed", sector_size=512))
    with pytest.raises(lk.LuksError, match="cipher is aes-xts-plain64, requested aes-cbc"):
        run(params(img, passphrase="second", cipher="aes-cbc-essiv:sha256"))


def test_absent_with_force_erases(img):
    run(params(img))
    res = run(params(img, state="absent", force=True))
    assert res["changed"]
    assert bd.probe_signatures(Runner(), str(img)) == []
    assert not run(params(img, state="absent", force=True))["changed"]
