"""zpool as command tables over a fake /dev and /sys tree. The fake runner fails on any
command it was not told about; the tree stands in for udev's by-id, by-partlabel and
/dev/mapper links."""
import os

import pytest

from fakerunner import FakeRunner, TreeFS, cmd, fixture

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import PlanError
from ansible_collections.nixos_hetzner.vps.plugins.modules import zpool as mod

T = "\t"
BYID = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_"


@pytest.fixture
def fs(tmp_path):
    dev = tmp_path / "dev"
    for d in ("disk/by-id", "disk/by-partlabel", "mapper"):
        (dev / d).mkdir(parents=True)
    sysb = tmp_path / "sys/class/block"
    sysb.mkdir(parents=True)
    for disk in ("sdb", "sdc", "sdd", "sde"):
        (dev / disk).write_text("")
        os.symlink("../../%s" % disk, dev / "disk/by-id" / ("scsi-0QEMU_QEMU_HARDDISK_" + disk))
        d = tmp_path / "sys/devices/pci0/host0" / disk
        d.mkdir(parents=True)
        os.symlink("../../devices/pci0/host0/" + disk, sysb / disk)
        for n in (1, 2, 9):
            part = "%s%d" % (disk, n)
            (dev / part).write_text("")
            (d / part).mkdir()
            (d / part / "partition").write_text("%d\n" % n)
            os.symlink("../../devices/pci0/host0/%s/%s" % (disk, part), sysb / part)
            os.symlink("../../%s" % part, dev / "disk/by-id" / ("scsi-0QEMU_QEMU_HARDDISK_%s-part%d" % (disk, n)))
    os.symlink("../../sdb2", dev / "disk/by-partlabel/luks-b")
    for i, name in enumerate(("crypt-b", "crypt-c")):
        (dev / ("dm-%d" % i)).write_text("")
        (tmp_path / "sys/devices/virtual/block" / ("dm-%d" % i)).mkdir(parents=True)
        os.symlink("../../devices/virtual/block/dm-%d" % i, sysb / ("dm-%d" % i))
        os.symlink("../dm-%d" % i, dev / "mapper" / name)
    return TreeFS(str(tmp_path))


def params(**kw):
    p = dict(name="rpool", state="present", vdevs=None, pool_properties={}, filesystem_properties={},
             altroot=None, mountpoint=None, compatibility=None, import_dirs=[], force=False)
    p.update(kw)
    return p


def status(*tree):
    """A ``zpool status -P -L`` text for rpool: tree entries are (indent, name)."""
    lines = ["  pool: rpool", " state: ONLINE", "config:", "",
             T + "NAME        STATE     READ WRITE CKSUM", T + "rpool       ONLINE       0     0     0"]
    for indent, name in tree:
        if name in ("logs", "cache", "spares", "special"):
            lines.append(T + name)
        else:
            lines.append(T + " " * indent + name + "  ONLINE       0     0     0")
    return "\n".join(lines + ["", "errors: No known data errors", ""])


POOL_GET = fixture("zpool_get_all.doc.txt")  # altroot /mnt, ashift 12, autotrim off
GET = cmd(["zpool", "get", "-Hp", "-o", "property,value,source", "all", "rpool"], out=POOL_GET)
NOPOOL = cmd(["zpool", "get", "-Hp", "-o", "property,value,source", "all", "rpool"], rc=1,
             err="cannot open 'rpool': no such pool\n")
STATUS_CMD = ["zpool", "status", "-P", "-L", "rpool"]
MIRROR_MAPPER = status((2, "mirror-0"), (4, "/dev/dm-0"), (4, "/dev/dm-1"), (0, "cache"), (2, "/dev/sdd1"))
MIRROR_VDEVS = [{"type": "mirror", "devices": ["/dev/mapper/crypt-b", "/dev/mapper/crypt-c"]},
                {"role": "cache", "devices": [BYID + "sdd"]}]


def run(fs, table, check=False, **kw):
    r = FakeRunner(table)
    res = mod.execute(params(**kw), check, r, fs)
    r.assert_done()
    return res, r


#: the installed ZFS's property tables and features, read before any write
SCHEMA = [cmd(["zpool", "get"], rc=2, err=fixture("zpool_get_help.doc.txt")),
          cmd(["zfs", "get"], rc=2, err=fixture("zfs_get_help.doc.txt")),
          cmd(["zpool", "upgrade", "-v"], out=fixture("zpool_upgrade_v.doc.txt"))]


def blank(dev):
    return [cmd(["blkid", "-p", "-o", "export", dev], rc=2),
            cmd(["wipefs", "--no-act", "--json", dev], out="")]


def test_rerun_over_mapper_and_by_id_whole_disk_is_a_noop(fs):
    res, r = run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)], vdevs=MIRROR_VDEVS, altroot="/mnt",
                 pool_properties={"ashift": 12, "feature@lz4_compress": "enabled"})
    assert res["changed"] is False and r.argvs == [GET["argv"], STATUS_CMD]
    assert res["vdevs"][0] == {"role": "data", "type": "mirror", "devices": ["/dev/dm-0", "/dev/dm-1"]}


def test_same_devices_by_other_names_match(fs):
    st = status((2, "/dev/sdb2"), (2, "/dev/sdc1"))
    vdevs = [{"devices": ["/dev/disk/by-partlabel/luks-b", BYID + "sdc-part1"]}]
    res, _ = run(fs, [GET, cmd(STATUS_CMD, out=st)], vdevs=vdevs)
    assert not res["changed"]


def test_partition_2_is_not_the_whole_disk(fs):
    st = status((2, "/dev/sdb2"))
    with pytest.raises(PlanError, match=r"different layout.*requested but not in the pool: data disk \[/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_sdb\]"):
        run(fs, [GET, cmd(STATUS_CMD, out=st)], vdevs=[{"devices": [BYID + "sdb"]}])


def test_layout_change_is_an_error_with_the_difference(fs):
    vdevs = [{"type": "mirror", "devices": ["/dev/mapper/crypt-b", "/dev/mapper/crypt-c", BYID + "sde"]}]
    r = FakeRunner([GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)])
    with pytest.raises(PlanError) as e:
        mod.execute(params(vdevs=vdevs), False, r, fs)
    msg = str(e.value)
    assert "requested but not in the pool: data mirror" in msg
    assert "in the pool but not requested: data mirror [/dev/dm-0, /dev/dm-1]; cache disk [/dev/sdd1]" in msg
    r.assert_done()


def test_missing_requested_device(fs):
    with pytest.raises(PlanError, match="device '/dev/mapper/nope' does not exist"):
        run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)],
            vdevs=[{"type": "mirror", "devices": ["/dev/mapper/nope", "/dev/mapper/crypt-c"]}])


def test_settable_properties_are_updated(fs):
    res, _ = run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)] + SCHEMA + [
                      cmd(["zpool", "set", "autotrim=on", "rpool"]),
                      cmd(["zpool", "set", "compatibility=openzfs-2.1-linux", "rpool"])],
                 pool_properties={"autotrim": "on", "ashift": "12"}, compatibility="openzfs-2.1-linux")
    assert res["changed"]
    assert res["diff"]["before"]["pool_properties"]["autotrim"] == "off"


def test_check_mode_does_not_set(fs):
    res, r = run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)] + SCHEMA, check=True, pool_properties={"autotrim": True})
    assert res["changed"] and res["diff"]["after"]["pool_properties"]["autotrim"] == "on"
    assert not any(a[:2] == ["zpool", "set"] for a in r.argvs)


def test_feature_cannot_be_disabled(fs):
    with pytest.raises(PlanError, match="never disabled"):
        run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)], pool_properties={"feature@lz4_compress": "disabled"})


def test_root_dataset_properties_and_mountpoint_under_altroot(fs):
    zget = cmd(["zfs", "get", "-Hp", "-o", "property,value,source", "all", "rpool"],
               out="mountpoint\t/mnt\tlocal\ncompression\tlz4\tlocal\ncanmount\toff\tlocal\n")
    res, _ = run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER), zget], mountpoint="/",
                 filesystem_properties={"compression": "lz4", "canmount": "off"})
    assert not res["changed"]
    run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER), zget] + SCHEMA +
        [cmd(["zfs", "set", "compression=zstd", "mountpoint=none", "rpool"])],
        mountpoint="none", filesystem_properties={"compression": "zstd"})


def test_root_dataset_create_only_property_is_an_error(fs):
    zget = cmd(["zfs", "get", "-Hp", "-o", "property,value,source", "all", "rpool"],
               out="encryption\toff\tdefault\n")
    with pytest.raises(PlanError, match="encryption is off"):
        run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER), zget], filesystem_properties={"encryption": "on"})


def test_wrong_altroot_is_reported(fs):
    with pytest.raises(PlanError, match="imported with altroot /mnt, requested /target"):
        run(fs, [GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)], altroot="/target")


# ------------------------------------------------------------------ import
IMPORT_LIST = cmd(["zpool", "import"], out=fixture("zpool_import_list.doc.txt"))


def test_exported_pool_is_imported_not_created(fs):
    res, r = run(fs, [NOPOOL, IMPORT_LIST,
                      cmd(["zpool", "import", "-N", "-R", "/mnt", "15243170565834046591"]),
                      GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)],
                 vdevs=MIRROR_VDEVS, altroot="/mnt")
    assert res["changed"] and res["imported"] and not res["created"]
    assert not any(c[0][:2] == ["zpool", "create"] for c in r.calls)


def test_exported_pool_check_mode(fs):
    res, _ = run(fs, [NOPOOL, IMPORT_LIST], check=True, vdevs=MIRROR_VDEVS)
    assert res["imported"] and res["diff"] == {"before": {"state": "exported"}, "after": {"state": "present"}}


def test_import_dirs(fs):
    run(fs, [NOPOOL, cmd(["zpool", "import", "-d", "/dev/mapper"], out=fixture("zpool_import_list.doc.txt")),
             cmd(["zpool", "import", "-N", "-d", "/dev/mapper", "15243170565834046591"]),
             GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)], import_dirs=["/dev/mapper"])


def test_two_exported_pools_with_the_name(fs):
    listing = fixture("zpool_import_list.doc.txt").replace("pool: old", "pool: rpool")
    with pytest.raises(PlanError, match="2 exported pools are named rpool"):
        run(fs, [NOPOOL, cmd(["zpool", "import"], out=listing)], vdevs=MIRROR_VDEVS)


# ------------------------------------------------------------------ create
NO_IMPORT = cmd(["zpool", "import"], rc=1, err="no pools available to import\n")


def test_create_on_blank_devices(fs):
    argv = ["zpool", "create", "-o", "ashift=12", "-o", "compatibility=openzfs-2.1-linux",
            "-O", "compression=zstd", "-O", "xattr=sa", "-R", "/mnt", "-m", "none", "rpool",
            "mirror", "/dev/mapper/crypt-b", "/dev/mapper/crypt-c", "cache", BYID + "sdd"]
    table = [NOPOOL, NO_IMPORT] + blank("/dev/mapper/crypt-b") + blank("/dev/mapper/crypt-c") + \
        blank(BYID + "sdd") + [cmd(argv), cmd(STATUS_CMD, out=MIRROR_MAPPER)]
    table = table[:2] + SCHEMA + table[2:]
    res, _ = run(fs, table, vdevs=MIRROR_VDEVS, pool_properties={"ashift": 12}, altroot="/mnt",
                 mountpoint="none", compatibility="openzfs-2.1-linux",
                 filesystem_properties={"compression": "zstd", "xattr": "sa"})
    assert res["created"] and res["changed"] and res["signatures"] == {}


def test_create_check_mode_is_a_dry_run(fs):
    vdevs = [{"devices": [BYID + "sdb"]}]
    table = [NOPOOL, NO_IMPORT] + SCHEMA + blank(BYID + "sdb") + [cmd(["zpool", "create", "-n", "rpool", BYID + "sdb"])]
    res, _ = run(fs, table, check=True, vdevs=vdevs)
    assert res["created"] and res["diff"]["after"]["vdevs"] == [
        {"role": "data", "type": "stripe", "devices": [BYID + "sdb"]}]


@pytest.mark.parametrize("sig", ["ext4", "xfs", "btrfs", "swap", "gpt", "mbr", "luks"])
def test_create_refuses_a_device_holding_data(fs, sig):
    dev = BYID + "sdc"
    probe = [cmd(["blkid", "-p", "-o", "export", dev], out=fixture("blkid_%s.host.txt" % sig)),
             cmd(["wipefs", "--no-act", "--json", dev], out=fixture("wipefs_%s.host.json" % sig))]
    if sig == "gpt":  # a GPT is read to tell it from an interrupted zpool create
        probe += [cmd(["sgdisk", "-p", dev], out=fixture("sgdisk_p_gpt.host.txt")), SETTLE]
    r = FakeRunner([NOPOOL, NO_IMPORT] + SCHEMA + blank(BYID + "sdb") + probe)
    with pytest.raises(bd.DataSafetyError, match=r"found .* on '%s'.*set force: true" % dev):
        mod.execute(params(vdevs=[{"type": "mirror", "devices": [BYID + "sdb", dev]}]), False, r, fs)
    r.assert_done()  # nothing after the probe: no zpool create
    # the same refusal in check mode
    r = FakeRunner([NOPOOL, NO_IMPORT] + SCHEMA + blank(BYID + "sdb") + probe)
    with pytest.raises(bd.DataSafetyError):
        mod.execute(params(vdevs=[{"type": "mirror", "devices": [BYID + "sdb", dev]}]), True, r, fs)


def test_create_zfs_member_refused_and_forced(fs):
    dev = BYID + "sdb"
    probe = [cmd(["blkid", "-p", "-o", "export", dev], out="TYPE=zfs_member\nLABEL=old\nUSAGE=filesystem\n"),
             cmd(["wipefs", "--no-act", "--json", dev], out="")]
    with pytest.raises(bd.DataSafetyError, match="zfs_member"):
        run(fs, [NOPOOL, NO_IMPORT] + SCHEMA + probe, vdevs=[{"devices": [dev]}])
    res, _ = run(fs, [NOPOOL, NO_IMPORT] + SCHEMA + probe + [cmd(["zpool", "create", "-f", "rpool", dev]),
                                                     cmd(STATUS_CMD, out=status((2, "/dev/sdb1")))],
                 vdevs=[{"devices": [dev]}], force=True)
    assert res["signatures"] == {dev: ["zfs_member"]}
    assert res["vdevs"] == [{"role": "data", "type": "disk", "devices": ["/dev/sdb1"]}]


def test_create_device_in_use_or_missing(fs):
    fs.busy = ("/dev/sdb",)
    with pytest.raises(bd.DeviceError, match="in use"):
        run(fs, [NOPOOL, NO_IMPORT], vdevs=[{"devices": [BYID + "sdb"]}])
    with pytest.raises(bd.DeviceError, match="does not exist"):
        run(fs, [NOPOOL, NO_IMPORT], vdevs=[{"devices": ["/dev/disk/by-id/nope"]}])


def test_no_pool_and_no_vdevs(fs):
    with pytest.raises(PlanError, match="give vdevs to create it"):
        run(fs, [NOPOOL, NO_IMPORT])


@pytest.mark.parametrize("kw,msg", [
    (dict(name="mirror"), "invalid pool name"),
    (dict(name="2pool"), "invalid pool name"),
    (dict(vdevs=[{"type": "raidz2", "devices": ["/dev/sdb", "/dev/sdc"]}]), "at least 3"),
    (dict(vdevs=[{"devices": ["/dev/sdb"]}], pool_properties={"bogus": 1}), "unknown or read-only pool property"),
    (dict(vdevs=[{"devices": ["/dev/sdb"]}], pool_properties={"size": 1}), "unknown or read-only pool property"),
    (dict(vdevs=[{"devices": ["/dev/sdb"]}], filesystem_properties={"compresion": "lz4"}), "unknown property"),
])
def test_bad_input_runs_no_command(fs, kw, msg):
    r = FakeRunner([])
    with pytest.raises(PlanError, match=msg):
        mod.execute(params(**kw), False, r, fs)
    assert r.calls == []


# ------------------------------------------------------------------ absent / exported
def test_absent_needs_force(fs):
    with pytest.raises(PlanError, match="set force: true"):
        run(fs, [GET], state="absent")


def test_absent_destroys_with_force(fs):
    res, _ = run(fs, [GET, cmd(["zpool", "destroy", "-f", "rpool"])], state="absent", force=True)
    assert res["changed"]
    res, _ = run(fs, [GET], check=True, state="absent", force=True)
    assert res["changed"] and res["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}


def test_absent_exported_pool_is_imported_then_destroyed(fs):
    run(fs, [NOPOOL, IMPORT_LIST, cmd(["zpool", "import", "-N", "15243170565834046591"]),
             cmd(["zpool", "destroy", "-f", "rpool"])], state="absent", force=True)


def test_absent_when_nothing(fs):
    res, _ = run(fs, [NOPOOL, NO_IMPORT], state="absent", force=True)
    assert not res["changed"]


def test_exported(fs):
    res, _ = run(fs, [GET, cmd(["zpool", "export", "rpool"])], state="exported")
    assert res["changed"]
    res, _ = run(fs, [NOPOOL], state="exported")
    assert not res["changed"]


# ------------------------------------------------------------------ validation before any write
@pytest.mark.parametrize("kw,msg", [
    (dict(pool_properties={"autotrim": "maybe"}), r"autotrim='maybe'"),
    (dict(pool_properties={"failmode": "bogus"}), r"failmode='bogus'"),
    (dict(pool_properties={"feature@nonexistent": "enabled"}), r"'feature@nonexistent' is not supported"),
    (dict(filesystem_properties={"compression": "fast"}), r"compression='fast'"),
])
@pytest.mark.parametrize("check", [False, True])
def test_bad_values_are_refused_before_the_probe_and_create(fs, kw, msg, check):
    # the same refusal in check mode: a check run never reports "changed" for a create that fails
    r = FakeRunner([NOPOOL, NO_IMPORT] + SCHEMA)
    with pytest.raises(PlanError, match=msg + r".*nothing was written"):
        mod.execute(params(vdevs=[{"devices": [BYID + "sdb"]}], **kw), check, r, fs)
    r.assert_done()


def test_bad_value_on_an_existing_pool_sets_nothing(fs):
    r = FakeRunner([GET, cmd(STATUS_CMD, out=MIRROR_MAPPER)] + SCHEMA)
    with pytest.raises(PlanError, match="failmode='bogus'"):
        mod.execute(params(pool_properties={"autotrim": "on", "failmode": "bogus"}), False, r, fs)
    r.assert_done()


@pytest.mark.parametrize("devices", [
    [BYID + "sdb", "/dev/sdb"],
    ["/dev/sdc", "LINK"],
    [BYID + "sdb-part1", "/dev/sdb1"],
])
def test_two_names_of_one_disk_are_refused_before_any_command(fs, tmp_path, devices):
    link = tmp_path / "dev" / "mydisk"
    os.symlink("sdc", link)
    devices = ["/dev/mydisk" if d == "LINK" else d for d in devices]
    r = FakeRunner([NOPOOL, NO_IMPORT])
    with pytest.raises(PlanError, match=r"device %r and %r in vdevs\[0\] are the same disk" % (devices[1], devices[0])):
        mod.execute(params(vdevs=[{"devices": devices[:1]}, {"devices": devices[1:]}]), False, r, fs)
    r.assert_done()


def test_disk_and_its_partition_are_refused(fs):
    r = FakeRunner([NOPOOL, NO_IMPORT])
    with pytest.raises(PlanError, match=r"'/dev/sdb2' is a partition of '%s'" % (BYID + "sdb")):
        mod.execute(params(vdevs=[{"type": "mirror", "devices": [BYID + "sdb", "/dev/sdb2"]}]), False, r, fs)


def test_devfs_identity_uses_the_device_number(tmp_path):
    assert bd.DevFS().identity("/dev/null") == bd.DevFS().identity("/dev/null")
    f = tmp_path / "f"
    f.write_text("")
    os.symlink("f", tmp_path / "g")
    assert bd.DevFS().identity(str(tmp_path / "g")) == ("path", str(f))


@pytest.mark.parametrize("name,ok", [("p" * 239, True), ("p" * 240, False), ("p" * 300, False)])
def test_pool_name_length(fs, name, ok):
    r = FakeRunner([])
    if ok:
        mod.validate_pool_request(name, None, {}, {})
        return
    with pytest.raises(PlanError, match="characters, ZFS allows at most 239"):
        mod.execute(params(name=name), False, r, fs)
    assert r.calls == []


# ------------------------------------------------------------------ an interrupted zpool create
SGDISK_ZFS = """Disk /dev/sdb: 262144 sectors, 128.0 MiB
Sector size (logical/physical): 512/512 bytes
Disk identifier (GUID): 1D7C7A47-7E4B-D84B-8B13-2E3F4C1B0D6A
Partition table holds up to 128 entries
Main partition table begins at sector 2 and ends at sector 33
First usable sector is 34, last usable sector is 262110
Partitions will be aligned on 2048-sector boundaries
Total free space is 4029 sectors (2.0 MiB)

Number  Start (sector)    End (sector)  Size       Code  Name
   1            2048          241663   117.0 MiB   BF01  zfs-5c2d1e0f9a8b7c6d
   9          241664          258047   8.0 MiB     BF07  
"""
SETTLE = cmd(["udevadm", "settle", "--timeout=30"])
GPT_PROBE = [cmd(["blkid", "-p", "-o", "export", BYID + "sdb"], out="PTUUID=1d7c\nPTTYPE=gpt\n"),
             cmd(["wipefs", "--no-act", "--json", BYID + "sdb"], out=fixture("wipefs_gpt.host.json"))]


def test_interrupted_create_layout_is_recognised_exactly():
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _gpt, _zfs_pool
    parts = _gpt.parse_sgdisk_print(SGDISK_ZFS)["partitions"]
    assert _zfs_pool.interrupted_create_layout(["gpt", "PMBR"], parts)
    assert not _zfs_pool.interrupted_create_layout(["gpt", "PMBR", "ext4"], parts)
    assert not _zfs_pool.interrupted_create_layout([], parts)
    renamed = [dict(p, name="data") if p["number"] == 1 else p for p in parts]
    assert not _zfs_pool.interrupted_create_layout(["gpt"], renamed)
    assert not _zfs_pool.interrupted_create_layout(["gpt"], parts + [dict(parts[0], number=2)])
    assert not _zfs_pool.interrupted_create_layout(["gpt"], [dict(p, type="8300") for p in parts])


@pytest.mark.parametrize("check", [False, True])
def test_interrupted_create_converges_without_force(fs, check):
    create = ["zpool", "create"] + (["-n"] if check else []) + ["rpool", BYID + "sdb"]
    table = [NOPOOL, NO_IMPORT] + SCHEMA + GPT_PROBE + [cmd(["sgdisk", "-p", BYID + "sdb"], out=SGDISK_ZFS), SETTLE] + \
        blank(BYID + "sdb-part1") + blank(BYID + "sdb-part9") + [cmd(create)] + \
        ([] if check else [cmd(STATUS_CMD, out=status((2, "/dev/sdb1")))])
    res, _ = run(fs, table, check=check, vdevs=[{"devices": [BYID + "sdb"]}])
    assert res["changed"] and res["created"]
    assert "holds only the GPT that an interrupted zpool create writes" in res["warnings"][0]


def test_interrupted_create_with_a_pool_label_is_refused(fs):
    label = [cmd(["blkid", "-p", "-o", "export", BYID + "sdb-part1"], out="TYPE=zfs_member\nLABEL=rpool\n"),
             cmd(["wipefs", "--no-act", "--json", BYID + "sdb-part1"], out="")]
    table = [NOPOOL, NO_IMPORT] + SCHEMA + GPT_PROBE + [cmd(["sgdisk", "-p", BYID + "sdb"], out=SGDISK_ZFS), SETTLE] + label
    with pytest.raises(bd.DataSafetyError, match="found gpt, PMBR on '%s'.*set force: true" % (BYID + "sdb")) as e:
        run(fs, table, vdevs=[{"devices": [BYID + "sdb"]}])
    # the refusal says what is inside, not only the disk's own table (a zpool create killed
    # after it began writing its label left this in the lab VM)
    assert "ZFS's own partitions and partition 1 holds zfs_member" in str(e.value)
    assert "zpool import" in str(e.value)
