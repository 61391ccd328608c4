"""gpt_partitions: sgdisk parser and planner (pure), the module's command table
(FakeRunner), and the real sgdisk on disk-image files."""
import os
import shutil
import subprocess

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _gpt as gpt
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Runner
from ansible_collections.nixos_hetzner.vps.plugins.modules import gpt_partitions as mod
from fakerunner import FakeDevFS, FakeRunner, cmd, fixture

BYID = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk1"
SPEC = [{"number": 1, "name": "bios", "type": "ef02", "size": "1M"},
        {"number": 2, "name": "luks", "type": "8309", "size": "rest"}]


# ---------------------------------------------------------------- parser
def test_parse_sgdisk_existing_table():
    geo = gpt.parse_sgdisk_print(fixture("sgdisk_p_gpt.host.txt"))
    assert geo["sectors"] == 131072 and geo["sector_size"] == 512 and not geo["new"]
    assert geo["last_usable"] == 131038
    assert geo["partitions"] == [
        {"number": 1, "start": 2048, "end": 4095, "type": "EF02", "name": "bios", "size": 1048576},
        {"number": 2, "start": 4096, "end": 131038, "type": "8309", "name": "luks",
         "size": (131038 - 4096 + 1) * 512}]


def test_parse_sgdisk_blank_and_mbr():
    assert gpt.parse_sgdisk_print(fixture("sgdisk_p_blank.host.txt"))["new"]
    assert gpt.parse_sgdisk_print(fixture("sgdisk_p_blank.host.txt"))["partitions"] == []
    mbr = gpt.parse_sgdisk_print(fixture("sgdisk_p_mbr.host.txt"))
    assert [p["name"] for p in mbr["partitions"]] == ["Linux filesystem", "Linux filesystem"]


# ---------------------------------------------------------------- spec / sizes
@pytest.mark.parametrize("value,expected", [
    ("1M", 1 << 20), ("512MiB", 512 << 20), ("20G", 20 << 30), ("1T", 1 << 40),
    (4096, 4096), ("rest", None), ("100%", None), (0, None), ("1.5G", 3 << 29)])
def test_parse_size(value, expected):
    assert gpt.parse_size(value) == expected


@pytest.mark.parametrize("parts,match", [
    ([], "at least one"),
    ([{"number": 0, "name": "a"}], "1..128"),
    ([{"number": 1, "name": "x" * 37}], "36"),
    ([{"number": 1, "name": "a", "type": "linux"}], "type code"),
    ([{"number": 1, "name": "a", "size": "10 parsecs"}], "invalid size"),
    ([{"number": 1, "name": "a"}, {"number": 1, "name": "b"}], "numbers must be unique"),
    ([{"number": 1, "name": "a", "size": "1M"}, {"number": 2, "name": "a"}], "names must be unique"),
    ([{"number": 1, "name": "a", "size": "rest"}, {"number": 2, "name": "b", "size": "1M"}],
     "only the last"),
])
def test_bad_spec(parts, match):
    with pytest.raises(gpt.SpecError, match=match):
        gpt.normalize_spec(parts)


def test_layout_and_does_not_fit():
    geo = gpt.parse_sgdisk_print(fixture("sgdisk_p_blank.host.txt"))
    placed = gpt.layout(gpt.normalize_spec(SPEC), geo)
    assert [(p["start"], p["end"]) for p in placed] == [(2048, 4095), (4096, 129023)]
    assert placed[1]["size_bytes"] % (1 << 20) == 0  # rest ends on a 1 MiB boundary
    with pytest.raises(gpt.SpecError, match="do not fit"):
        gpt.layout(gpt.normalize_spec([{"number": 1, "name": "a", "size": "1G"}]), geo)
    with pytest.raises(gpt.SpecError, match="multiple of the 512-byte"):
        gpt.layout(gpt.normalize_spec([{"number": 1, "name": "a", "size": 1000}]), geo)


def test_compare_identical_and_different():
    geo = gpt.parse_sgdisk_print(fixture("sgdisk_p_gpt.host.txt"))
    assert gpt.compare(gpt.normalize_spec(SPEC), geo) == []
    other = [{"number": 1, "name": "boot", "type": "EF00", "size": "2M"},
             {"number": 3, "name": "luks", "size": "rest"}]
    diffs = gpt.compare(gpt.normalize_spec(other), geo)
    assert "partition 1: name is 'bios', requested 'boot'" in diffs
    assert "partition 1: type is EF02, requested EF00" in diffs
    assert any(d.startswith("partition 1: size is 1M") for d in diffs)
    assert "partition 2 (luks) exists but is not requested" in diffs
    assert "partition 3 (luks) is missing" in diffs


# ---------------------------------------------------------------- module, command tables
def _probe(kind, dev=BYID):
    blkid = fixture("blkid_%s.host.txt" % kind)
    return [cmd(["blkid", "-p", "-o", "export", dev], rc=0 if blkid else 2, out=blkid),
            cmd(["wipefs", "--no-act", "--json", dev], out=fixture("wipefs_%s.host.json" % kind))]


CREATE = ["sgdisk", "--clear", "--set-alignment=2048",
          "--new=1:2048:4095", "--typecode=1:EF02", "--change-name=1:bios",
          "--new=2:4096:129023", "--typecode=2:8309", "--change-name=2:luks", BYID]


def _fs(busy=()):
    return FakeDevFS(devices={"/dev/sdb"}, links={BYID: "/dev/sdb"}, busy=busy)


def _params(**kw):
    p = {"device": BYID, "partitions": SPEC, "force": False}
    p.update(kw)
    return p


def test_blank_disk_check_then_real():
    r = FakeRunner(_probe("blank") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_blank.host.txt")),
        cmd(CREATE[:1] + ["--pretend"] + CREATE[1:])])
    res = mod.execute(_params(), True, r, _fs())
    r.assert_done()
    assert res["changed"] and res["partitions"][1]["by_partlabel"] == "/dev/disk/by-partlabel/luks"
    assert res["partitions"][1]["by_id"] == BYID + "-part2"
    assert res["partitions"][0]["device"] == "/dev/sdb1"
    assert res["diff"]["before"]["partitions"] == []

    r = FakeRunner(_probe("blank") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_blank.host.txt")),
        cmd(CREATE),
        cmd(["udevadm", "settle", "--timeout=30"]),
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt"))])
    res = mod.execute(_params(), False, r, _fs())
    r.assert_done()
    assert res["changed"] and [p["size"] for p in res["partitions"]] == ["1M", "61.98M"]
    assert res["partitions"][1]["size_bytes"] == (131038 - 4096 + 1) * 512


def test_identical_table_is_no_change_even_when_in_use():
    r = FakeRunner(_probe("gpt") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt"))])
    res = mod.execute(_params(), False, r, _fs(busy={"/dev/sdb"}))
    r.assert_done()
    assert not res["changed"] and res["differences"] == []
    assert res["diff"]["before"] == res["diff"]["after"] or \
        [p["name"] for p in res["diff"]["before"]["partitions"]] == ["bios", "luks"]


def test_different_table_refused_without_force():
    spec = [{"number": 1, "name": "data", "type": "BF00"}]
    r = FakeRunner(_probe("gpt") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt"))])
    with pytest.raises(gpt.TableMismatch, match="different GPT table.*set force: true"):
        mod.execute(_params(partitions=spec), False, r, _fs())
    r.assert_done()  # nothing after the read


def test_different_table_with_force_rewrites():
    spec = [{"number": 1, "name": "data", "type": "BF00"}]
    new = ["sgdisk", "--clear", "--set-alignment=2048", "--new=1:2048:129023",
           "--typecode=1:BF00", "--change-name=1:data", BYID]
    after = fixture("sgdisk_p_blank.host.txt").replace(
        "Creating new GPT entries in memory.\n", "") + \
        "   1            2048          131038   63.0 MiB    BF00  data\n"
    r = FakeRunner(_probe("gpt") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt")),
        cmd(["wipefs", "--all", BYID]), cmd(["sgdisk", "--zap-all", BYID]), cmd(new),
        cmd(["udevadm", "settle", "--timeout=30"]),
        cmd(["sgdisk", "-p", BYID], out=after)])
    res = mod.execute(_params(partitions=spec, force=True), False, r, _fs())
    r.assert_done()
    assert res["changed"] and res["overwritten_signatures"] == ["PMBR", "gpt"]


@pytest.mark.parametrize("kind,found", [("ext4", "ext4 (label 'data')"), ("mbr", "dos"),
                                        ("luks", "crypto_LUKS (label 'cryptroot')"), ("swap", "swap"),
                                        ("xfs", "xfs (label 'x')"), ("btrfs", "btrfs (label 'b')")])
def test_foreign_signature_refused_before_any_write(kind, found):
    r = FakeRunner(_probe(kind))
    with pytest.raises(bd.DataSafetyError) as ei:
        mod.execute(_params(), False, r, _fs())
    assert "found %s on %r" % (found, BYID) in str(ei.value)
    assert "set force: true" in str(ei.value)
    r.assert_done()


def test_busy_disk_refused_even_with_force():
    r = FakeRunner(_probe("ext4") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_ext4.host.txt"))])
    with pytest.raises(bd.DeviceError, match="in use"):
        mod.execute(_params(force=True), False, r, _fs(busy={"/dev/sdb"}))
    r.assert_done()


def test_missing_device_runs_nothing():
    with pytest.raises(bd.DeviceError, match="does not exist"):
        mod.execute(_params(device="/dev/disk/by-id/nope"), False, FakeRunner([]), _fs())


def test_bad_spec_runs_nothing():
    with pytest.raises(gpt.SpecError):
        mod.execute(_params(partitions=[{"number": 1, "name": "a", "type": "zz"}]),
                    False, FakeRunner([]), _fs())


# ---------------------------------------------------------------- real sgdisk on image files
class FileFS(bd.DevFS):
    """Regular files stand in for block devices (the host has no spare disks)."""

    def is_block(self, path):
        return os.path.isfile(path)

    def is_busy(self, path):
        return False


needs_tools = pytest.mark.skipif(not all(shutil.which(t) for t in ("sgdisk", "blkid", "wipefs")),
                                 reason="needs sgdisk, blkid and wipefs")


@needs_tools
def test_real_sgdisk_check_real_check_real(tmp_path):
    img = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
    params = _params(device=str(img))
    changed = []
    for check in (True, False, True, False):
        res = mod.execute(params, check, Runner(), FileFS())
        changed.append(res["changed"])
    assert changed == [True, True, False, False]
    out = subprocess.run(["sgdisk", "-p", str(img)], capture_output=True, text=True).stdout
    geo = gpt.parse_sgdisk_print(out)
    assert [(p["number"], p["name"], p["type"]) for p in geo["partitions"]] == [
        (1, "bios", "EF02"), (2, "luks", "8309")]


@needs_tools
def test_real_ext4_image_unchanged_when_refused(tmp_path):
    if not shutil.which("mkfs.ext4"):
        pytest.skip("needs mkfs.ext4")
    img = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(img)], check=True)
    before = img.read_bytes()
    for check in (True, False):
        with pytest.raises(bd.DataSafetyError, match="found ext4"):
            mod.execute(_params(device=str(img)), check, Runner(), FileFS())
    assert img.read_bytes() == before
    res = mod.execute(_params(device=str(img), force=True), False, Runner(), FileFS())
    assert res["changed"] and res["overwritten_signatures"] == ["ext4"]
    assert img.read_bytes() != before
    assert not mod.execute(_params(device=str(img)), False, Runner(), FileFS())["changed"]


def test_unreadable_gpt_signature_not_rewritten_without_force():
    # wipefs sees a GPT header, sgdisk reads no table (damaged): refuse, unless force
    r = FakeRunner(_probe("gpt") + [
        cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_blank.host.txt"))])
    with pytest.raises(gpt.TableMismatch, match="no valid GPT table"):
        mod.execute(_params(), False, r, _fs())
    r.assert_done()


def _sha(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_tools
def test_real_zeroed_primary_gpt_with_backup_is_refused_then_forced(tmp_path):
    img = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
    subprocess.run(["sgdisk", "-n1:0:+8M", "-c1:old", str(img)], check=True, capture_output=True)
    with open(img, "r+b") as f:  # PMBR and primary GPT gone, backup at the end intact
        f.write(b"\0" * 34 * 512)
    before = _sha(img)
    for check in (True, False):
        with pytest.raises(bd.DataSafetyError) as ei:
            mod.execute(_params(device=str(img)), check, Runner(), FileFS())
        msg = str(ei.value)
        assert msg.startswith("found gpt at 0x3fffe00 on %r" % str(img)), msg
        assert "nothing was written" in msg and "set force: true" in msg
    assert _sha(img) == before
    changed = [mod.execute(_params(device=str(img), force=True), check, Runner(), FileFS())["changed"]
               for check in (True, False)]
    assert changed == [True, True] and _sha(img) != before
    assert not mod.execute(_params(device=str(img)), False, Runner(), FileFS())["changed"]


@needs_tools
def test_real_mbr_with_force_check_mode_predicts_the_run(tmp_path):
    img = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
    entry = bytes([0, 0, 2, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (40960).to_bytes(4, "little")
    with open(img, "r+b") as f:  # an MBR with one Linux partition (what mkfs.vfat or parted leave)
        f.seek(446)
        f.write(entry)
        f.seek(510)
        f.write(b"\x55\xaa")
    before = _sha(img)
    res = mod.execute(_params(device=str(img), force=True), True, Runner(), FileFS())
    assert res["changed"] and res["overwritten_signatures"] == ["dos"] and _sha(img) == before
    res = mod.execute(_params(device=str(img), force=True), False, Runner(), FileFS())
    assert res["changed"] and res["overwritten_signatures"] == ["dos"]


# ---------------------------------------------------------------- a file system on a partition (the ESP)
ESP_SPEC = [{"number": 1, "name": "bios", "type": "ef02", "size": "1M"},
            {"number": 2, "name": "luks", "type": "8309", "size": "rest", "filesystem": "vfat", "label": "ESP"}]


def _vfat(dev):
    return [cmd(["blkid", "-p", "-o", "export", dev], out="LABEL=ESP\nTYPE=vfat\nUSAGE=filesystem\n"),
            cmd(["wipefs", "--no-act", "--json", dev],
                out='{"signatures": [{"device": "x", "offset": "0x52", "type": "vfat", "uuid": null, "label": "ESP"}]}')]


@pytest.mark.parametrize("check", [False, True])
def test_filesystem_made_on_a_blank_partition_and_kept_later(check):
    table = _probe("gpt") + [cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt"))] + \
        _probe("blank", "/dev/sdb2") + ([] if check else [cmd(["mkfs.vfat", "-F", "32", "-n", "ESP", "/dev/sdb2"])])
    r = FakeRunner(table)
    res = mod.execute(_params(partitions=ESP_SPEC), check, r, _fs())
    r.assert_done()
    assert res["changed"] and res["filesystems_made"] == [2]
    r = FakeRunner(_probe("gpt") + [cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt"))] +
                   _vfat("/dev/sdb2"))
    res = mod.execute(_params(partitions=ESP_SPEC), check, r, _fs())
    assert not res["changed"] and res["filesystems_made"] == []


def test_filesystem_refused_on_a_partition_holding_data():
    r = FakeRunner(_probe("gpt") + [cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_gpt.host.txt"))] +
                   _probe("ext4", "/dev/sdb2"))
    with pytest.raises(bd.DataSafetyError, match="found ext4 .* on '/dev/sdb2'.*make a vfat file system"):
        mod.execute(_params(partitions=ESP_SPEC), False, r, _fs())
    r.assert_done()


def test_filesystem_on_a_new_table_in_check_mode_is_predicted():
    r = FakeRunner(_probe("blank") + [cmd(["sgdisk", "-p", BYID], out=fixture("sgdisk_p_blank.host.txt")),
                                      cmd(CREATE[:1] + ["--pretend"] + CREATE[1:])])
    res = mod.execute(_params(partitions=ESP_SPEC), True, r, _fs())
    r.assert_done()
    assert res["changed"] and res["filesystems_made"] == [2]


def test_label_without_filesystem_is_refused():
    with pytest.raises(gpt.SpecError, match="label needs filesystem"):
        gpt.normalize_spec([{"number": 1, "name": "a", "label": "X"}])
