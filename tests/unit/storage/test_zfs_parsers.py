"""Pure parsers, value normalisation and layout checks of the ZFS module_utils, against captured (``*.vm.txt``) and
documented-format (``*.doc.txt``) outputs."""
import pytest

from fakerunner import FIXTURES, fixture

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _size, _zfs_parse, _zfs_pool, _zfs_values


@pytest.mark.parametrize("text,expected", [
    ("10G", 10 * 2 ** 30), ("10g", 10 * 2 ** 30), ("10GB", 10 * 2 ** 30), ("10GiB", 10 * 2 ** 30),
    ("128K", 131072), ("1.5K", 1536), ("512", 512), ("1T", 2 ** 40), (4096, 4096), ("0", 0),
])
def test_parse_size(text, expected):
    assert _size.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["ten", "10Q", "-1G", "", "1..5G", True])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        _size.parse_size(bad)


@pytest.mark.parametrize("prop,value,expected", [
    ("quota", "10G", "10737418240"),
    ("quota", "none", "0"),
    ("refreservation", "auto", "auto"),
    ("recordsize", "16K", "16384"),
    ("snapshot_limit", "none", str(2 ** 64 - 1)),
    ("mountpoint", "/var/lib/", "/var/lib"),
    ("mountpoint", "/", "/"),
    ("atime", False, "off"),
    ("compression", "lz4", "lz4"),
])
def test_normalise_value(prop, value, expected):
    assert _zfs_values.normalise_value(prop, value) == expected


def test_parse_get_fs():
    props = _zfs_parse.parse_get(fixture(_pick("zfs_get_all_fs")))
    assert props["type"] == ("filesystem", "-")
    assert props["compression"][1].startswith("inherited from")
    assert props["quota"][0].isdigit()
    # one line per property, nothing lost
    assert len(props) == len([l for l in fixture(_pick("zfs_get_all_fs")).splitlines() if l.strip()])


def test_parse_get_keeps_tabs_in_values_and_names():
    out = _zfs_parse.parse_get("rpool/a\tcomment:x\tsome\tvalue\tlocal\n", with_name=True)
    assert out == {"rpool/a": {"comment:x": ("some\tvalue", "local")}}
    out = _zfs_parse.parse_get("org:note\tsome\tvalue\tlocal\n")
    assert out == {"org:note": ("some\tvalue", "local")}


def test_parse_get_rejects_garbage():
    with pytest.raises(ValueError):
        _zfs_parse.parse_get("no tabs here\n")


def _pick(stem):
    """Prefer an output captured in the lab VM over the documented-format one."""
    for suffix in (".vm.txt", ".doc.txt"):
        if (FIXTURES / (stem + suffix)).exists():
            return stem + suffix
    raise FileNotFoundError(stem)


def test_status_mirror_with_log_cache_spare():
    st = _zfs_parse.parse_zpool_status(fixture("zpool_status_mirror_mapper.doc.txt"))
    assert st["pool"] == "rpool" and st["state"] == "ONLINE"
    assert st["vdevs"] == [
        {"role": "data", "type": "mirror", "devices": ["/dev/dm-0", "/dev/dm-1"]},
        {"role": "log", "type": "disk", "devices": ["/dev/sdd1"]},
        {"role": "cache", "type": "disk", "devices": ["/dev/sde1"]},
        {"role": "spare", "type": "disk", "devices": ["/dev/sdf1"]},
    ]


def test_status_raidz2_special_and_missing_device():
    st = _zfs_parse.parse_zpool_status(fixture("zpool_status_raidz_special_degraded.doc.txt"))
    assert st["state"] == "DEGRADED"
    assert st["vdevs"] == [
        {"role": "data", "type": "raidz2", "devices": ["/dev/sdb1", "/dev/sdc1", "/dev/sdd1"]},
        {"role": "data", "type": "disk", "devices": ["/dev/sdh1"]},
        {"role": "special", "type": "mirror", "devices": ["/dev/sde1", "/dev/sdf1"]},
    ]


def test_status_captured_in_lab():
    """Every status captured from the lab parses, and its leaves are absolute paths (-P -L)."""
    captured = sorted(FIXTURES.glob("zpool_status_*.vm.txt"))
    if not captured:
        pytest.skip("no zpool status captured from the lab VM yet")
    for path in captured:
        st = _zfs_parse.parse_zpool_status(path.read_text())
        assert st["vdevs"], path.name
        for v in st["vdevs"]:
            assert all(d.startswith("/dev/") for d in v["devices"]), (path.name, v)


def test_status_without_config_is_an_error():
    with pytest.raises(ValueError):
        _zfs_parse.parse_zpool_status("cannot open 'x': no such pool\n")


def test_import_list():
    pools = _zfs_parse.parse_zpool_import_list(fixture("zpool_import_list.doc.txt"))
    assert pools == [{"name": "rpool", "id": "15243170565834046591", "state": "ONLINE"},
                     {"name": "old", "id": "777", "state": "UNAVAIL"}]
    assert _zfs_parse.parse_zpool_import_list("") == []


def test_pool_get():
    props = _zfs_parse.parse_get(fixture(_pick("zpool_get_all")))
    assert props["ashift"][0] == "12"
    assert props["feature@async_destroy"][0] in ("enabled", "active")


@pytest.mark.parametrize("name", ["rpool", "tank", "data-1", "a.b:c_d"])
def test_pool_names_ok(name):
    _zfs_values.validate_pool_name(name)


@pytest.mark.parametrize("name", ["", "1pool", "mirror", "mirror2", "raidz", "spare", "log", "c0t0",
                                  "po ol", "pool/x", "-x"])
def test_pool_names_bad(name):
    with pytest.raises(_zfs_values.PlanError, match="invalid pool name"):
        _zfs_values.validate_pool_name(name)


@pytest.mark.parametrize("name", ["rpool/a@snap", "rpool//a", "/rpool/a", "rpool/a b", "rpool/"])
def test_dataset_names_bad(name):
    with pytest.raises(_zfs_values.PlanError, match="invalid dataset name"):
        _zfs_values.validate_dataset_name(name)


def test_vdev_argv_order():
    vdevs = _zfs_pool.validate_vdevs([
        {"type": "mirror", "devices": ["/dev/a", "/dev/b"]},
        {"role": "cache", "devices": ["/dev/c"]},
        {"role": "log", "type": "mirror", "devices": ["/dev/d", "/dev/e"]},
        {"role": "special", "type": "mirror", "devices": ["/dev/f", "/dev/g"]},
        {"role": "spare", "devices": ["/dev/h"]},
    ])
    assert _zfs_pool.vdev_argv(vdevs) == ["mirror", "/dev/a", "/dev/b", "special", "mirror", "/dev/f", "/dev/g",
                                  "log", "mirror", "/dev/d", "/dev/e", "cache", "/dev/c", "spare", "/dev/h"]


@pytest.mark.parametrize("vdevs,msg", [
    ([], "empty"),
    ([{"type": "mirror", "devices": ["/dev/a"]}], "at least 2"),
    ([{"type": "raidz3", "devices": ["/dev/a", "/dev/b", "/dev/c"]}], "at least 4"),
    ([{"type": "raid5", "devices": ["/dev/a"]}], "unknown type"),
    ([{"devices": ["sda"]}], "not an absolute path"),
    ([{"devices": ["/dev/a"]}, {"type": "mirror", "devices": ["/dev/a", "/dev/b"]}], "also in"),
    ([{"role": "cache", "devices": ["/dev/a"]}], "no data vdev"),
    ([{"devices": ["/dev/a"]}, {"role": "cache", "type": "mirror", "devices": ["/dev/b", "/dev/c"]}], "cannot be in a mirror"),
    ([{"devices": ["/dev/a"]}, {"role": "log", "type": "raidz1", "devices": ["/dev/b", "/dev/c"]}], "not raidz1"),
])
def test_impossible_vdev_specs(vdevs, msg):
    with pytest.raises(_zfs_values.PlanError, match=msg):
        _zfs_pool.validate_vdevs(vdevs)


def test_topology_matches_through_names_and_whole_disk():
    ids = {
        "/dev/disk/by-id/scsi-X": _zfs_pool.DeviceId("sdb"),
        "/dev/mapper/crypt0": _zfs_pool.DeviceId("dm-0"),
        "/dev/disk/by-partlabel/zfs": _zfs_pool.DeviceId("sdc2", "sdc", 2),
        "/dev/sdb1": _zfs_pool.DeviceId("sdb1", "sdb", 1),
        "/dev/dm-0": _zfs_pool.DeviceId("dm-0"),
        "/dev/sdc2": _zfs_pool.DeviceId("sdc2", "sdc", 2),
    }
    requested = _zfs_pool.validate_vdevs([{"type": "mirror", "devices": ["/dev/mapper/crypt0", "/dev/disk/by-id/scsi-X"]},
                                  {"devices": ["/dev/disk/by-partlabel/zfs"]}])
    observed = [{"role": "data", "type": "mirror", "devices": ["/dev/sdb1", "/dev/dm-0"]},
                {"role": "data", "type": "disk", "devices": ["/dev/sdc2"]}]
    assert _zfs_pool.compare_topology(requested, observed, ids.get, ids.get) == []
    # a partition that is not partition 1 of the whole disk does not match it
    ids["/dev/sdb1"] = _zfs_pool.DeviceId("sdb3", "sdb", 3)
    diffs = _zfs_pool.compare_topology(requested, observed, ids.get, ids.get)
    assert len(diffs) == 2 and "mirror" in diffs[0]


def test_topology_difference_is_described():
    ids = lambda p: _zfs_pool.DeviceId(p.rsplit("/", 1)[1])  # noqa: E731
    requested = _zfs_pool.validate_vdevs([{"type": "mirror", "devices": ["/dev/a", "/dev/b"]}])
    observed = [{"role": "data", "type": "disk", "devices": ["/dev/a"]},
                {"role": "data", "type": "disk", "devices": ["/dev/b"]}]
    diffs = _zfs_pool.compare_topology(requested, observed, ids, ids)
    assert diffs == ["requested but not in the pool: data mirror [/dev/a, /dev/b]",
                     "in the pool but not requested: data disk [/dev/a]; data disk [/dev/b]"]


def test_acltype_aliases_compare_equal_to_what_zfs_reports():
    # Found in the lab VM: `-O acltype=posixacl` reads back as `posix`, and the pool
    # module re-set it on every run until both sides were normalised.
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import normalise_value
    assert normalise_value("acltype", "posixacl") == normalise_value("acltype", "posix") == "posix"
    assert normalise_value("acltype", "noacl") == "off"
    assert normalise_value("xattr", "sa") == "sa"
