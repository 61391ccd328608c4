"""zfs_dataset as command tables: the exact commands expected, in order, with canned
outputs. The fake runner fails on any other command."""
import pytest

from fakerunner import FakeRunner, cmd, fixture

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import CommandError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import PlanError
from ansible_collections.nixos_hetzner.vps.plugins.modules import zfs_dataset as mod

DS = "rpool/pg"


def params(**kw):
    p = dict(name=DS, state="present", type="filesystem", properties={}, volsize=None, sparse=False,
             create_parents=False, mounted=None, recursive=False, encryption_key=None)
    p.update(kw)
    return p


def get_cmd(name=DS, out=None, rc=0, err=""):
    return cmd(["zfs", "get", "-Hp", "-o", "property,value,source", "all", name], rc=rc, out=out or "",
               err=err)


def missing(name=DS):
    return get_cmd(name, rc=1, err="cannot open '%s': dataset does not exist\n" % name)


FS = fixture("zfs_get_all_fs.doc.txt")   # quota 10G local, recordsize 16K, compression lz4 inherited,
VOL = fixture("zfs_get_all_vol.doc.txt")  # mountpoint /mnt/var/lib/postgresql (altroot /mnt)


def run(table, check=False, **kw):
    r = FakeRunner(table)
    res = mod.execute(params(**kw), check, r, None)
    r.assert_done()
    return res, r


def test_noop_costs_one_zfs_process_for_six_properties():
    props = {"quota": "10G", "recordsize": "16K", "compression": "lz4", "atime": False, "xattr": "sa",
             "org.nixos-hetzner:backup": "daily"}
    res, r = run([get_cmd(out=FS)], properties=props)
    assert res["changed"] is False
    assert len(r.calls) == 1
    # sizes are reported normalised, inherited values count as equal
    assert res["properties"]["quota"] == "10737418240"
    assert res["diff"]["before"] == res["diff"]["after"]


def test_size_change_sets_only_what_differs():
    res, _ = run([get_cmd(out=FS), cmd(["zfs", "set", "compression=zstd", "quota=20G", DS])],
                 properties={"quota": "20G", "recordsize": "16384", "compression": "zstd"})
    assert res["changed"] is True
    assert res["diff"]["before"]["quota"] == "10737418240"
    assert res["diff"]["after"]["quota"] == str(20 * 2 ** 30)


def test_check_mode_runs_no_write():
    res, r = run([get_cmd(out=FS)], check=True, properties={"quota": "20G"})
    assert res["changed"] is True
    assert res["diff"]["after"]["quota"] == str(20 * 2 ** 30)
    assert len(r.calls) == 1


def test_user_property_not_set_yet():
    res, _ = run([get_cmd(out=FS), cmd(["zfs", "set", "org.x:owner=db", DS])],
                 properties={"org.x:owner": "db"})
    assert res["diff"]["before"]["org.x:owner"] == "-"


def test_aliases_are_canonicalised():
    res, _ = run([get_cmd(out=FS)], properties={"compress": "lz4", "recsize": "16K"})
    assert res["changed"] is False


def test_create_filesystem_unmounted_with_u():
    res, _ = run([missing(), cmd(["zfs", "create", "-u", "-o", "compression=lz4", "-o", "quota=10G", DS])],
                 properties={"quota": "10G", "compression": "lz4"})
    assert res["changed"] and res["diff"]["before"] == {"state": "absent"}
    assert res["properties"] == {"compression": "lz4", "quota": "10737418240"}


def test_create_check_mode_uses_dry_run():
    res, r = run([missing(), cmd(["zfs", "create", "-n", "-u", "-o", "atime=off", DS])], check=True,
                 properties={"atime": False})
    assert res["changed"] and res["diff"] == {"before": {"state": "absent"},
                                              "after": {"state": "present", "type": "filesystem", "atime": "off"}}


def test_create_and_mount_when_asked():
    run([missing(), cmd(["zfs", "create", "-p", "-u", DS]), cmd(["zfs", "mount", DS])],
        mounted=True, create_parents=True)


def test_mount_state_of_existing():
    res, _ = run([get_cmd(out=FS), cmd(["zfs", "mount", DS])], mounted=True)
    assert res["diff"]["before"]["mounted"] == "no"
    res, _ = run([get_cmd(out=FS)], mounted=False)
    assert not res["changed"]


def test_create_volume():
    run([missing("rpool/swap"), cmd(["zfs", "create", "-s", "-o", "volblocksize=4K", "-V", "4294967296", "rpool/swap"])],
        name="rpool/swap", type="volume", volsize="4G", sparse=True, properties={"volblocksize": "4K"})


def test_volume_noop_and_resize():
    res, _ = run([get_cmd("rpool/swap", out=VOL)], name="rpool/swap", type="volume", volsize="4G",
                 properties={"volblocksize": "4K", "sync": "always"})
    assert not res["changed"]
    run([get_cmd("rpool/swap", out=VOL), cmd(["zfs", "set", "volsize=8G", "rpool/swap"])],
        name="rpool/swap", type="volume", volsize="8G")


def test_volume_needs_size_to_be_created():
    with pytest.raises(PlanError, match="needs volsize"):
        run([missing("rpool/v")], name="rpool/v", type="volume")


def test_create_only_property_difference_is_an_error_and_writes_nothing():
    r = FakeRunner([get_cmd("rpool/swap", out=VOL)])
    with pytest.raises(PlanError, match=r"volblocksize is 4096, requested 16384.*cannot change"):
        mod.execute(params(name="rpool/swap", type="volume", properties={"volblocksize": "16K"}), False, r, None)
    r = FakeRunner([get_cmd(out=FS)])
    with pytest.raises(PlanError, match="casesensitivity is sensitive, requested insensitive"):
        mod.execute(params(properties={"casesensitivity": "insensitive", "quota": "1G"}), False, r, None)
    assert all(c[0][1] == "get" for c in r.calls)


def test_type_mismatch():
    r = FakeRunner([get_cmd(out=VOL)])
    with pytest.raises(PlanError, match="exists as a volume"):
        mod.execute(params(), False, r, None)


@pytest.mark.parametrize("props,msg", [
    ({"compresion": "lz4"}, "unknown property 'compresion'"),
    ({"used": "1G"}, "read-only"),
    ({"quota": "lots"}, "not a size"),
    ({"bad key:x": "1"}, "invalid user property"),
])
def test_bad_input_runs_no_command(props, msg):
    r = FakeRunner([])
    with pytest.raises(PlanError, match=msg):
        mod.execute(params(properties=props), False, r, None)
    assert r.calls == []


def test_bad_name_runs_no_command():
    for state in ("present", "absent"):
        r = FakeRunner([])
        with pytest.raises(PlanError, match="invalid dataset name"):
            mod.execute(params(name="rpool/a@snap", state=state), False, r, None)


def test_volume_options_on_filesystem():
    with pytest.raises(PlanError, match="only to type: volume"):
        mod.execute(params(volsize="1G"), False, FakeRunner([]), None)
    with pytest.raises(PlanError, match="mounted applies only to filesystems"):
        mod.execute(params(type="volume", volsize="1G", mounted=True), False, FakeRunner([]), None)
    with pytest.raises(PlanError, match="does not apply to a volume"):
        mod.execute(params(type="volume", volsize="1G", properties={"mountpoint": "/x"}), False, FakeRunner([]), None)


def test_mountpoint_under_altroot_is_compared_without_it():
    # observed /mnt/var/lib/postgresql: the altroot is read once to tell that /var/lib/postgresql is equal
    res, _ = run([get_cmd(out=FS), cmd(["zpool", "get", "-Hp", "-o", "value", "altroot", "rpool"], out="/mnt\n")],
                 properties={"mountpoint": "/var/lib/postgresql/"})
    assert not res["changed"] and res["properties"]["mountpoint"] == "/var/lib/postgresql"
    # a real difference is still a difference
    run([get_cmd(out=FS), cmd(["zpool", "get", "-Hp", "-o", "value", "altroot", "rpool"], out="/mnt\n"),
         cmd(["zfs", "set", "mountpoint=/srv/pg", DS])], properties={"mountpoint": "/srv/pg"})
    # without altroot, the path as printed must match
    run([get_cmd(out=FS), cmd(["zpool", "get", "-Hp", "-o", "value", "altroot", "rpool"], out="-\n"),
         cmd(["zfs", "set", "mountpoint=/var/lib/postgresql", DS])], properties={"mountpoint": "/var/lib/postgresql"})
    # equal as printed: no extra read
    run([get_cmd(out=FS)], properties={"mountpoint": "/mnt/var/lib/postgresql"})


def test_encryption_key_goes_to_stdin_only():
    key = "correct horse battery"
    res, r = run([missing("rpool/secret"),
                  cmd(["zfs", "create", "-u", "-o", "encryption=on", "-o", "keyformat=passphrase", "rpool/secret"],
                      stdin=key.encode())],
                 name="rpool/secret", properties={"encryption": "on", "keyformat": "passphrase"}, encryption_key=key)
    assert key not in repr(res)
    # check mode does not feed the key anywhere, and does not dry-run with it
    res, r = run([missing("rpool/secret")], check=True, name="rpool/secret",
                 properties={"encryption": "on", "keyformat": "passphrase"}, encryption_key=key)
    assert res["changed"] and all(c[1] in (None, b"") for c in r.calls)


def test_encryption_key_needs_keyformat():
    with pytest.raises(PlanError, match="keyformat"):
        run([missing("rpool/secret")], name="rpool/secret", properties={"encryption": "on"}, encryption_key="12345678")


def test_unexpected_get_error_is_reported():
    r = FakeRunner([get_cmd(rc=1, err="cannot open 'rpool/pg': pool I/O is currently suspended\n")])
    with pytest.raises(CommandError, match="suspended"):
        mod.execute(params(), False, r, None)


# ------------------------------------------------------------------ absent
def list_cmd(out="", rc=0, err=""):
    return cmd(["zfs", "list", "-H", "-p", "-o", "name,type", "-t", "all", "-r", DS], out=out, rc=rc, err=err)


def test_absent_when_missing():
    res, _ = run([list_cmd(rc=1, err="cannot open 'rpool/pg': dataset does not exist\n")], state="absent")
    assert not res["changed"]


def test_absent_leaf():
    res, _ = run([list_cmd(out="rpool/pg\tfilesystem\n"), cmd(["zfs", "destroy", DS])], state="absent")
    assert res["changed"]


def test_absent_never_destroys_children_without_recursive():
    r = FakeRunner([list_cmd(out="rpool/pg\tfilesystem\nrpool/pg/wal\tfilesystem\nrpool/pg@daily\tsnapshot\n")])
    with pytest.raises(PlanError, match=r"2 descendant\(s\) \(rpool/pg/wal, rpool/pg@daily\).*recursive: true"):
        mod.execute(params(state="absent"), False, r, None)
    r.assert_done()


def test_absent_recursive_and_its_check_mode():
    listing = "rpool/pg\tfilesystem\nrpool/pg/wal\tfilesystem\n"
    run([list_cmd(out=listing), cmd(["zfs", "destroy", "-r", DS])], state="absent", recursive=True)
    res, _ = run([list_cmd(out=listing), cmd(["zfs", "destroy", "-n", "-r", DS])], check=True,
                 state="absent", recursive=True)
    assert res["changed"] and res["diff"]["after"] == {"state": "absent"}


def test_dataset_name_length_is_checked_up_front():
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _zfs_values
    _zfs_values.validate_dataset_name("rpool/" + "d" * 249)  # 255 characters
    with pytest.raises(_zfs_values.PlanError, match="256 characters, ZFS allows at most 255 including the pool"):
        _zfs_values.validate_dataset_name("rpool/" + "d" * 250)
