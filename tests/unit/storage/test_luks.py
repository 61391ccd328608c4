"""luks_device: cryptsetup parsers (real luksDump captures), and the module's command
tables (FakeRunner): format only blank devices, mismatches reported, keys with the
last-key guard, open/refresh/close/absent, secrets only on stdin."""
import json

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _luks as lk
from ansible_collections.nixos_hetzner.vps.plugins.modules import luks_device as mod
from fakerunner import ANY, FakeDevFS, FakeRunner, cmd, fixture

DEV = "/dev/disk/by-partlabel/luks"
PW = b"correct horse \xe2\x9c\x93"  # exact bytes, no newline
DUMP = fixture("luksdump_luks2.host.txt")       # label cryptroot, sector 4096, 1 slot
DUMP2 = fixture("luksdump_luks2_2keys.host.txt")  # 2 slots
STATUS = fixture("cryptsetup_status_active.doc.txt")
PBKDF = ["--pbkdf", "argon2id", "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4",
         "--pbkdf-parallel", "1"]


def params(**kw):
    p = dict((k, None) for k in mod.ARGUMENT_SPEC)
    p.update({k: v["default"] for k, v in mod.ARGUMENT_SPEC.items() if "default" in v})
    p.update(device=DEV, passphrase=PW.decode("utf-8"), pbkdf_memory=32768,
             pbkdf_iterations=4, pbkdf_parallel=1)
    p.update(kw)
    return p


def fs(busy=(), holders=None):
    return FakeDevFS(devices={"/dev/sdb2"}, links={DEV: "/dev/sdb2"}, busy=busy,
                     holders=holders)


def probe(kind):
    blkid = fixture("blkid_%s.host.txt" % kind)
    return [cmd(["blkid", "-p", "-o", "export", DEV], rc=0 if blkid else 2, out=blkid),
            cmd(["wipefs", "--no-act", "--json", DEV], out=fixture("wipefs_%s.host.json" % kind))]


#: the given passphrase is verified on an existing container before anything else
TEST_PW = cmd(["cryptsetup", "open", "--test-passphrase", "--key-file", "-", DEV], stdin=PW)

FORMAT = ["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--cipher",
          "aes-xts-plain64", "--key-size", "512", "--hash", "sha256"] + PBKDF + \
         ["--label", "cryptroot", "--sector-size", "4096", "--key-file", "-", DEV]


# ------------------------------------------------------------------ parsers
def test_parse_luksdump_luks2():
    d = lk.parse_luksdump(DUMP)
    assert d["version"] == 2 and d["label"] == "cryptroot" and d["cipher"] == "aes-xts-plain64"
    assert d["key_size"] == 512 and d["sector_size"] == 4096 and d["flags"] == []
    assert d["keyslots"][0]["pbkdf"] == "argon2id" and d["keyslots"][0]["memory"] == 32768
    assert sorted(lk.parse_luksdump(DUMP2)["keyslots"]) == [0, 1]


def test_parse_luksdump_luks1():
    d = lk.parse_luksdump(fixture("luksdump_luks1.host.txt"))
    assert d["version"] == 1 and d["cipher"] == "aes-cbc-essiv:sha256" and d["key_size"] == 256
    assert list(d["keyslots"]) == [0]


def test_parse_status():
    st = lk.parse_status(STATUS)
    assert st["active"] and st["device"] == "/dev/sdb2" and st["key_size"] == 512
    assert lk.active_flags(st) == {"allow_discards": True, "perf_no_read_workqueue": True,
                                   "perf_no_write_workqueue": False}


def test_header_mismatches():
    want = {"type": "luks2", "cipher": "aes-xts-plain64", "key_size": 512, "sector_size": None}
    assert lk.header_mismatches(want, lk.parse_luksdump(DUMP)) == []
    diffs = lk.header_mismatches(want, lk.parse_luksdump(fixture("luksdump_luks1.host.txt")))
    assert diffs == ["type is luks1, requested luks2",
                     "cipher is aes-cbc-essiv:sha256, requested aes-xts-plain64",
                     "key size is 256 bits, requested 512"]


def test_wanted_flags_omitted_means_keep():
    cur = {"allow_discards": True, "perf_no_read_workqueue": False, "perf_no_write_workqueue": True}
    assert lk.wanted_flags({"perf_no_read_workqueue": True}, cur) == {
        "allow_discards": True, "perf_no_read_workqueue": True, "perf_no_write_workqueue": True}


# ------------------------------------------------------------------ format
def test_format_blank_check_then_real():
    p = params(label="cryptroot", sector_size=4096)
    table = [cmd(["cryptsetup", "isLuks", DEV], rc=1)] + probe("blank")
    r = FakeRunner(table)
    res = mod.execute(p, True, r, fs())
    r.assert_done()
    assert res["changed"] and res["actions"] == ["format"]
    assert res["diff"]["before"]["luks"] is None and res["diff"]["after"]["luks"]["label"] == "cryptroot"

    r = FakeRunner(table + [cmd(FORMAT, stdin=PW), cmd(["cryptsetup", "luksDump", DEV], out=DUMP)])
    res = mod.execute(p, False, r, fs())
    r.assert_done()
    assert res["changed"] and res["luks"]["uuid"] == lk.parse_luksdump(DUMP)["uuid"]
    # the passphrase never reaches argv or the result
    assert all(PW.decode() not in " ".join(a) for a in r.argvs)
    assert PW.decode() not in json.dumps(res)


def test_existing_identical_is_no_change():
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW])
    res = mod.execute(params(label="cryptroot", sector_size=4096), False, r, fs())
    r.assert_done()
    assert not res["changed"] and res["actions"] == []


@pytest.mark.parametrize("kind,found", [
    ("ext4", "found ext4 (label 'data')"), ("xfs", "found xfs"), ("btrfs", "found btrfs"),
    ("swap", "found swap"), ("gpt", "found gpt, PMBR"), ("mbr", "found dos")])
def test_format_refused_on_signatures(kind, found):
    for check in (True, False):
        r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV], rc=1)] + probe(kind))
        with pytest.raises(bd.DataSafetyError) as ei:
            mod.execute(params(), check, r, fs())
        assert found in str(ei.value) and "set force: true to overwrite" in str(ei.value)
        r.assert_done()  # nothing ran after the probe


def test_format_with_force_wipes_first():
    f = [a for a in FORMAT if a not in ("--label", "cryptroot", "--sector-size", "4096")]
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV], rc=1)] + probe("ext4") + [
        cmd(["wipefs", "--all", DEV]), cmd(f, stdin=PW),
        cmd(["cryptsetup", "luksDump", DEV], out=DUMP)])
    res = mod.execute(params(force=True), False, r, fs())
    r.assert_done()
    assert res["overwritten_signatures"] == ["ext4"] and res["actions"] == ["wipe signatures", "format"]


def test_format_busy_device_refused():
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV], rc=1)] + probe("blank"))
    with pytest.raises(bd.DeviceError, match="in use"):
        mod.execute(params(), False, r, fs(busy={"/dev/sdb2"}))


def test_format_needs_a_key():
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV], rc=1)])
    with pytest.raises(lk.LuksError, match="needs passphrase or keyfile"):
        mod.execute(params(passphrase=None), False, r, fs())


def test_mismatch_reported_not_ignored():
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=fixture("luksdump_luks1.host.txt"))])
    with pytest.raises(lk.LuksError) as ei:
        mod.execute(params(), False, r, fs())
    assert "type is luks1, requested luks2" in str(ei.value)
    assert "cipher is aes-cbc-essiv:sha256" in str(ei.value)
    r.assert_done()
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP)])
    with pytest.raises(lk.LuksError, match="sector size is 4096, requested 512"):
        mod.execute(params(sector_size=512), False, r, fs())


def test_label_difference_is_changed():
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW,
                    cmd(["cryptsetup", "config", "--label", "newlabel", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP.replace("cryptroot", "newlabel"))])
    res = mod.execute(params(label="newlabel"), False, r, fs())
    r.assert_done()
    assert res["changed"] and res["luks"]["label"] == "newlabel"
    assert res["diff"]["before"]["luks"]["label"] == "cryptroot"


def test_base64_passphrase_exact_bytes():
    import base64
    raw = b"\x00\xffbin\n"
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV], rc=1)] + probe("blank") + [
        cmd(ANY_FORMAT, stdin=raw), cmd(["cryptsetup", "luksDump", DEV], out=DUMP)])
    mod.execute(params(passphrase=base64.b64encode(raw).decode(), passphrase_encoding="base64"),
                False, r, fs())
    r.assert_done()


ANY_FORMAT = ["cryptsetup", "luksFormat"] + [ANY] * 19 + [DEV]


# ------------------------------------------------------------------ keys
NEW = b"second key"


def test_add_key_only_if_missing_and_new_key_not_in_argv():
    base = [cmd(["cryptsetup", "isLuks", DEV]), cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW]
    test_new = ["cryptsetup", "open", "--test-passphrase", "--key-file", "-", DEV]
    # already a key: nothing to do
    r = FakeRunner(base + [cmd(test_new, stdin=NEW)])
    res = mod.execute(params(new_passphrase=NEW.decode()), False, r, fs())
    r.assert_done()
    assert not res["changed"]
    # missing: luksAddKey with the existing key on stdin, the new one in a 0600 temp file
    seen = {}

    class Capture(FakeRunner):
        def _exec(self, argv, data):
            if argv[1] == "luksAddKey":
                import os
                import stat
                path = argv[-1]
                seen["mode"] = stat.S_IMODE(os.stat(path).st_mode)
                seen["content"] = open(path, "rb").read()
                seen["path"] = path
            return FakeRunner._exec(self, argv, data)

    add = ["cryptsetup", "luksAddKey", "--batch-mode"] + PBKDF + ["--key-file", "-", DEV, ANY]
    r = Capture(base + [cmd(test_new, rc=2, err="No key available with this passphrase."),
                        cmd(add, stdin=PW), cmd(["cryptsetup", "luksDump", DEV], out=DUMP2)])
    res = mod.execute(params(new_passphrase=NEW.decode()), False, r, fs())
    r.assert_done()
    assert res["changed"] and res["luks"]["keyslots"] == [0, 1]
    assert seen["mode"] == 0o600 and seen["content"] == NEW
    import os
    assert not os.path.exists(seen["path"])  # removed afterwards


def test_remove_key_and_last_key_guard():
    test_rm = ["cryptsetup", "open", "--test-passphrase", "--key-file", "-", DEV]
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW,
                    cmd(test_rm, stdin=b"old")])
    with pytest.raises(lk.LuksError, match="last key slot"):
        mod.execute(params(remove_passphrase="old"), False, r, fs())
    r.assert_done()
    rm = ["cryptsetup", "luksRemoveKey", "--batch-mode", "--key-file", "-", DEV]
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP2), TEST_PW,
                    cmd(test_rm, stdin=b"old"), cmd(rm, stdin=b"old"),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP)])
    res = mod.execute(params(remove_passphrase="old"), False, r, fs())
    r.assert_done()
    assert res["actions"] == ["remove key"]
    # not a key (any more): no change
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]),
                    cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW,
                    cmd(test_rm, rc=2, stdin=b"old")])
    assert not mod.execute(params(remove_passphrase="old"), False, r, fs())["changed"]


# ------------------------------------------------------------------ open / close / absent
BASE = [cmd(["cryptsetup", "isLuks", DEV]), cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW]


def test_open_then_no_change():
    p = params(state="opened", name="crypt0", allow_discards=True, perf_no_read_workqueue=True)
    opn = ["cryptsetup", "open", "--type", "luks2", "--allow-discards",
           "--perf-no_read_workqueue", "--key-file", "-", DEV, "crypt0"]
    r = FakeRunner(BASE + [cmd(["cryptsetup", "status", "crypt0"], rc=4,
                               out="/dev/mapper/crypt0 is inactive.\n"),
                           cmd(opn, stdin=PW)])
    res = mod.execute(p, False, r, fs())
    r.assert_done()
    assert res["changed"] and res["mapper"] == "/dev/mapper/crypt0"
    assert res["diff"]["before"]["opened"] is False
    r = FakeRunner(BASE + [cmd(["cryptsetup", "status", "crypt0"], out=STATUS)])
    res = mod.execute(p, False, r, fs())
    r.assert_done()
    assert not res["changed"] and res["flags"]["allow_discards"]


WRONG_PW = [cmd(["cryptsetup", "isLuks", DEV]), cmd(["cryptsetup", "luksDump", DEV], out=DUMP),
            cmd(["cryptsetup", "open", "--test-passphrase", "--key-file", "-", DEV], rc=2,
                err="No key available with this passphrase.")]


@pytest.mark.parametrize("state,kw", [("opened", {"name": "crypt0"}), ("present", {"label": "other"}),
                                      ("present", {})])
@pytest.mark.parametrize("check", [False, True])
def test_wrong_passphrase_fails_before_any_change(state, kw, check):
    # a wrong key is reported in every state and mode, before the label or a mapping changes
    r = FakeRunner(WRONG_PW)
    with pytest.raises(lk.LuksError, match="wrong passphrase or key file for '%s'" % DEV):
        mod.execute(params(state=state, **kw), check, r, fs())
    r.assert_done()


@pytest.mark.parametrize("key", ["passphrase", "new_passphrase", "remove_passphrase"])
def test_empty_passphrase_is_refused_before_any_command(key):
    r = FakeRunner([])
    with pytest.raises(lk.LuksError, match="%s is empty" % key):
        mod.execute(params(**{key: ""}), False, r, fs())
    import base64
    with pytest.raises(lk.LuksError, match="passphrase is empty"):
        mod.execute(params(passphrase=base64.b64encode(b"").decode(), passphrase_encoding="base64"),
                    False, r, fs())
    assert r.calls == []


def test_runner_gives_commands_dev_null_not_the_module_stdin():
    import os
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _runner
    saved = os.dup(0)
    try:
        _runner.Runner(module=object())
        assert os.path.samestat(os.fstat(0), os.stat(os.devnull))
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def test_open_flags_differ_refresh_persistent():
    p = params(state="opened", name="crypt0", perf_no_write_workqueue=True, persistent=True)
    ref = ["cryptsetup", "refresh", "--allow-discards", "--perf-no_read_workqueue",
           "--perf-no_write_workqueue", "--persistent", "--key-file", "-", "crypt0"]
    r = FakeRunner(BASE + [cmd(["cryptsetup", "status", "crypt0"], out=STATUS),
                           cmd(ref, stdin=PW)])
    res = mod.execute(p, False, r, fs())
    r.assert_done()
    assert res["actions"] == ["refresh"]


def test_open_on_other_device_is_error():
    r = FakeRunner(BASE + [cmd(["cryptsetup", "status", "crypt0"],
                               out=STATUS.replace("/dev/sdb2", "/dev/sdc1"))])
    with pytest.raises(lk.LuksError, match="already open on '/dev/sdc1'"):
        mod.execute(params(state="opened", name="crypt0"), False, r, fs())


def test_closed():
    r = FakeRunner([cmd(["cryptsetup", "status", "crypt0"], out=STATUS),
                    cmd(["cryptsetup", "close", "crypt0"])])
    res = mod.execute(params(state="closed", name="crypt0", device=None), False, r, fs())
    r.assert_done()
    assert res["changed"]
    r = FakeRunner([cmd(["cryptsetup", "status", "crypt0"], rc=4)])
    assert not mod.execute(params(state="closed", name="crypt0", device=None), False, r, fs())["changed"]


def test_absent_needs_force_and_closes_holders():
    with pytest.raises(lk.LuksError, match="force: true"):
        mod.execute(params(state="absent"), False, FakeRunner([]), fs())
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV]), cmd(["cryptsetup", "close", "crypt0"]),
                    cmd(["cryptsetup", "erase", "--batch-mode", DEV]),
                    cmd(["wipefs", "--all", DEV])])
    res = mod.execute(params(state="absent", force=True), False, r,
                      fs(holders={"/dev/sdb2": ["crypt0"]}))
    r.assert_done()
    assert res["changed"]
    r = FakeRunner([cmd(["cryptsetup", "isLuks", DEV], rc=1)])
    assert not mod.execute(params(state="absent", force=True), False, r, fs())["changed"]


def test_missing_device_runs_nothing():
    with pytest.raises(bd.DeviceError, match="does not exist"):
        mod.execute(params(device="/dev/sdz"), False, FakeRunner([]), fs())


# ------------------------------------------------------------------ secret file
def test_secret_file_is_private_and_removed():
    import os
    import stat
    with lk.secret_file(b"abc\n") as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert open(path, "rb").read() == b"abc\n"
    assert not os.path.exists(path)


def test_add_key_with_wrong_existing_key():
    base = [cmd(["cryptsetup", "isLuks", DEV]), cmd(["cryptsetup", "luksDump", DEV], out=DUMP), TEST_PW]
    test_new = ["cryptsetup", "open", "--test-passphrase", "--key-file", "-", DEV]
    add = ["cryptsetup", "luksAddKey", "--batch-mode"] + PBKDF + ["--key-file", "-", DEV, ANY]
    r = FakeRunner(base + [cmd(test_new, rc=2), cmd(add, rc=2,
                                                     err="No key available with this passphrase.")])
    with pytest.raises(lk.LuksError, match="wrong passphrase"):
        mod.execute(params(new_passphrase=NEW.decode()), False, r, fs())
