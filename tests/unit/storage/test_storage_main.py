"""main() of gpt_partitions and luks_device through a real AnsibleModule: argument
validation, exit/fail JSON, secrets absent from results, diff only with --diff."""
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nixos_hetzner.vps.plugins.modules import gpt_partitions, luks_device
from fakerunner import FakeDevFS, FakeRunner, cmd, fixture

DEV = "/dev/disk/by-partlabel/luks"


def run_main(mod, args, table, fsobj, monkeypatch, capsys):
    fake = {}

    def factory(module, log=None):
        fake["r"] = FakeRunner(table, log=log)
        return fake["r"]

    monkeypatch.setattr(mod, "Runner", factory)
    monkeypatch.setattr(mod.bd, "DevFS", lambda: fsobj)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    out = json.loads(capsys.readouterr().out)
    return out, fake.get("r")


def test_luks_main_format_result_and_no_secret(monkeypatch, capsys):
    fs = FakeDevFS(devices={"/dev/sdb2"}, links={DEV: "/dev/sdb2"})
    table = [cmd(["cryptsetup", "isLuks", DEV], rc=1),
             cmd(["blkid", "-p", "-o", "export", DEV], rc=2),
             cmd(["wipefs", "--no-act", "--json", DEV], out=fixture("wipefs_blank.host.json")),
             cmd(["cryptsetup", "luksFormat"] + [__import__("fakerunner").ANY] * 13 + [DEV],
                 stdin=b"top secret pw"),
             cmd(["cryptsetup", "luksDump", DEV], out=fixture("luksdump_luks2.host.txt"))]
    out, r = run_main(luks_device, {"device": DEV, "passphrase": "top secret pw",
                                    "_ansible_diff": True}, table, fs, monkeypatch, capsys)
    r.assert_done()
    assert out["changed"] and not out.get("failed")
    assert "top secret pw" not in json.dumps(out)
    assert out["commands"][0] == "cryptsetup isLuks " + DEV
    assert out["diff"]["after"]["luks"]["cipher"] == "aes-xts-plain64"


def test_luks_main_arg_errors(monkeypatch, capsys):
    fs = FakeDevFS()
    out, r = run_main(luks_device, {"state": "opened", "device": DEV}, [], fs, monkeypatch, capsys)
    assert out["failed"] and "name" in out["msg"]
    out, r = run_main(luks_device, {"device": DEV, "passphrase": "long-pass-1", "keyfile": "/k"}, [], fs,
                      monkeypatch, capsys)
    assert out["failed"] and "mutually exclusive" in out["msg"]


def test_luks_main_user_error_is_fail_json(monkeypatch, capsys):
    out, r = run_main(luks_device, {"device": "/dev/sdz", "passphrase": "long-pass-2"}, [], FakeDevFS(),
                      monkeypatch, capsys)
    assert out["failed"] and "does not exist" in out["msg"] and out["commands"] == []


def test_gpt_main_no_diff_without_flag_and_command_error(monkeypatch, capsys):
    byid = "/dev/disk/by-id/scsi-X"
    fs = FakeDevFS(devices={"/dev/sdb"}, links={byid: "/dev/sdb"})
    parts = [{"number": 1, "name": "bios", "type": "EF02", "size": "1M"},
             {"number": 2, "name": "luks", "type": "8309"}]
    table = [cmd(["blkid", "-p", "-o", "export", byid], out=fixture("blkid_gpt.host.txt")),
             cmd(["wipefs", "--no-act", "--json", byid], out=fixture("wipefs_gpt.host.json")),
             cmd(["sgdisk", "-p", byid], out=fixture("sgdisk_p_gpt.host.txt"))]
    out, r = run_main(gpt_partitions, {"device": byid, "partitions": parts}, table, fs,
                      monkeypatch, capsys)
    assert not out["changed"] and "diff" not in out
    assert out["partitions"][1]["by_id"] == byid + "-part2"
    table = [cmd(["blkid", "-p", "-o", "export", byid], rc=4, err="blkid: I/O error")]
    out, r = run_main(gpt_partitions, {"device": byid, "partitions": parts}, table, fs,
                      monkeypatch, capsys)
    assert out["failed"] and "I/O error" in out["msg"] and out["rc"] == 4


def test_zpool_main_commands_are_every_command_run(monkeypatch, capsys):
    from ansible_collections.nixos_hetzner.vps.plugins.modules import zpool
    get = ["zpool", "get", "-Hp", "-o", "property,value,source", "all", "rpool"]
    table = [cmd(get, out=fixture("zpool_get_all.doc.txt")),
             cmd(["zpool", "export", "rpool"])]
    out, r = run_main(zpool, {"name": "rpool", "state": "exported"}, table, FakeDevFS(),
                      monkeypatch, capsys)
    r.assert_done()
    assert out["changed"] and "diff" not in out
    assert out["commands"] == [" ".join(get), "zpool export rpool"]
    # a refused request: fail_json with the pool name and the commands run so far
    table = [cmd(get, out=fixture("zpool_get_all.doc.txt"))]
    out, r = run_main(zpool, {"name": "rpool", "state": "absent"}, table, FakeDevFS(),
                      monkeypatch, capsys)
    assert out["failed"] and "set force: true" in out["msg"] and out["name"] == "rpool"
    assert out["commands"] == [" ".join(get)]


def test_zfs_dataset_main_check_mode_runs_the_dry_run_only(monkeypatch, capsys):
    from ansible_collections.nixos_hetzner.vps.plugins.modules import zfs_dataset
    ds = "rpool/safe/postgres"
    table = [cmd(["zfs", "get", "-Hp", "-o", "property,value,source", "all", ds], rc=1,
                 err="cannot open '%s': dataset does not exist\n" % ds),
             cmd(["zfs", "create", "-n", "-u", "-o", "atime=off", ds])]
    out, r = run_main(zfs_dataset, {"name": ds, "properties": {"atime": False},
                                    "_ansible_check_mode": True, "_ansible_diff": True},
                      table, FakeDevFS(), monkeypatch, capsys)
    r.assert_done()
    assert out["changed"] and out["diff"]["after"]["atime"] == "off"
    assert out["commands"][-1] == "zfs create -n -u -o atime=off " + ds
