"""The installed ZFS's property tables (``zpool get`` / ``zfs get`` usage) and feature
list (``zpool upgrade -v``) as parsers over captured text."""
import pytest

from fakerunner import FakeRunner, cmd, fixture

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _zfs_schema as zs


POOL = zs.parse_property_help(fixture("zpool_get_help.doc.txt"))
DATASET = zs.parse_property_help(fixture("zfs_get_help.doc.txt"))
FEATURES = zs.parse_features(fixture("zpool_upgrade_v.doc.txt"))
SCHEMA = {"pool": POOL, "dataset": DATASET, "features": FEATURES}


def test_tables_parse():
    assert POOL["failmode"] == {"editable": True, "values": "wait | continue | panic"}
    assert POOL["size"]["editable"] is False
    assert "feature@..." not in POOL
    assert DATASET["canmount"] == {"editable": True, "values": "on | off | noauto"}
    assert not any("@" in n for n in DATASET)
    assert FEATURES == {"async_destroy", "empty_bpobj", "lz4_compress", "encryption",
                        "zstd_compress", "large_dnode"}


@pytest.mark.parametrize("prop,value,ok", [
    ("compression", "zstd", True), ("compression", "zstd-19", True), ("compression", "zstd-20", False),
    ("compression", "zstd-fast-500", True), ("compression", "zstd-fast-11", False),
    ("compression", "gzip-9", True), ("compression", "fast", False), ("compression", "gzip-", False),
    ("dedup", "sha256,verify", True), ("dedup", "edonr", False), ("dedup", "edonr,verify", True),
    ("acltype", "posixacl", True), ("acltype", "posix", True), ("acltype", "acl", False),
    ("checksum", "noparity", True),
    ("mountpoint", "/srv/whatever", True), ("quota", "10G", True), ("sharenfs", "rw=@10.0.0.0/8", True),
    ("recordsize", "1M", True), ("copies", "4", False),
])
def test_dataset_values(prop, value, ok):
    assert zs.value_accepted(prop, DATASET[prop]["values"], value) is ok


@pytest.mark.parametrize("props,creating,problem", [
    ({"autotrim": "maybe"}, True, "autotrim='maybe': the installed ZFS accepts on | off"),
    ({"failmode": "bogus"}, True, "failmode='bogus'"),
    ({"feature@nonexistent": "enabled"}, True, "'feature@nonexistent' is not supported"),
    ({"feature@encryption": "active"}, True, "use enabled or disabled"),
    ({"feature@encryption": "disabled"}, False, "use enabled"),
    ({"nosuch": "1"}, True, "'nosuch' is unknown"),
])
def test_pool_problems(props, creating, problem):
    problems = zs.check_pool_properties(SCHEMA, props, creating)
    assert len(problems) == 1 and problem in problems[0], problems


def test_pool_and_dataset_values_that_pass():
    assert zs.check_pool_properties(SCHEMA, {"ashift": 12, "autotrim": True, "failmode": "continue",
                                             "feature@encryption": "enabled",
                                             "compatibility": "openzfs-2.1-linux"}, True) == []
    assert zs.check_dataset_properties(SCHEMA, {"compression": "zstd", "xattr": "sa", "canmount": False,
                                                "acltype": "posixacl", "org:key": "x y"}) == []
    assert zs.check_dataset_properties(SCHEMA, {"compression": "fast"}) == [
        "property compression='fast': the installed ZFS accepts " + DATASET["compression"]["values"]]


def test_read_schema_and_unreadable_output():
    table = [cmd(["zpool", "get"], rc=2, err=fixture("zpool_get_help.doc.txt")),
             cmd(["zfs", "get"], rc=2, err=fixture("zfs_get_help.doc.txt")),
             cmd(["zpool", "upgrade", "-v"], out=fixture("zpool_upgrade_v.doc.txt"))]
    r = FakeRunner(table)
    assert zs.read_schema(r) == SCHEMA
    r.assert_done()
    r = FakeRunner(table[:1] + [cmd(["zfs", "get"], rc=2, err="something else\n")] + table[2:])
    with pytest.raises(zs.SchemaError, match="'zfs get'; nothing was written"):
        zs.read_schema(r)
