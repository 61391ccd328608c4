"""The one command runner: C locale, secrets on stdin as exact bytes, errors with
command and stderr. Runs real processes (sh, cat, env): no mocks."""
import json

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import (
    Action, CommandError, Plan, Runner, cmdline)
from fakerunner import ANY, FakeRunner, cmd


@pytest.fixture
def module():
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={})


@pytest.mark.parametrize("make", ["subprocess", "module"])
def test_c_locale(make, request, monkeypatch):
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    runner = Runner(request.getfixturevalue("module")) if make == "module" else Runner()
    res = runner.run(["env"])
    env = dict(l.split("=", 1) for l in res.out.splitlines() if "=" in l)
    assert env["LANG"] == "C" and env["LC_ALL"] == "C" and env["LC_MESSAGES"] == "C"


@pytest.mark.parametrize("make", ["subprocess", "module"])
def test_stdin_exact_bytes_no_newline(make, request):
    runner = Runner(request.getfixturevalue("module")) if make == "module" else Runner()
    secret = b"p\xc3\xa4ss word\n\x00end"  # trailing/embedded specials survive
    res = runner.run(["sh", "-c", "od -An -c"], stdin=secret)
    expected = Runner().run(["od", "-An", "-c"], stdin=secret).out
    assert res.out == expected
    res = runner.run(["wc", "-c"], stdin=b"abc")
    assert res.out.strip() == "3"  # no newline appended


def test_text_stdin_is_utf8():
    assert Runner().run(["wc", "-c"], stdin="ä").out.strip() == "2"


def test_error_carries_command_and_stderr():
    with pytest.raises(CommandError) as ei:
        Runner().run(["sh", "-c", "echo boom >&2; exit 3"])
    e = ei.value
    assert e.rc == 3 and "boom" in str(e) and "sh -c" in str(e)
    kw = e.to_fail_kwargs()
    assert kw["rc"] == 3 and kw["stderr"].strip() == "boom"


def test_error_never_shows_stdin():
    with pytest.raises(CommandError) as ei:
        Runner().run(["sh", "-c", "cat >/dev/null; exit 1"], stdin=b"hunter2-secret")
    assert "hunter2" not in str(ei.value)
    assert "hunter2" not in json.dumps(ei.value.to_fail_kwargs())


def test_check_rc_false_and_ok_rcs():
    assert Runner().run(["sh", "-c", "exit 2"], check_rc=False).rc == 2
    assert Runner().run(["sh", "-c", "exit 2"], ok_rcs=(0, 2)).rc == 2


def test_missing_binary_is_command_error():
    with pytest.raises(CommandError) as ei:
        Runner().run(["/nonexistent/tool", "x"])
    assert ei.value.rc == 127


def test_secret_in_argv_refused_before_running():
    fake = FakeRunner([])  # would fail on any command
    with pytest.raises(ValueError, match="secret"):
        fake.run(["cryptsetup", "open", "--key", "correct horse"], stdin=b"correct horse")
    with pytest.raises(ValueError):
        fake.run(["tool", "--x=correct horse battery"], secrets=["correct horse"])
    assert fake.calls == []
    # a short passphrase that happens to be a substring of a device name is fine
    fake = FakeRunner([cmd(["cat", "/dev/sdx"])])
    fake.run(["cat", "/dev/sdx"], stdin=b"x")


def test_string_argv_rejected():
    with pytest.raises(TypeError):
        Runner().run("ls -l")


def test_log_records_argv_not_stdin():
    log = []
    Runner(log=log).run(["true"], stdin=b"s3cret-value")
    assert log == [("true",)]


def test_fakerunner_fails_on_unexpected_and_leftover():
    fake = FakeRunner([cmd(["a", ANY]), cmd(["b"], rc=1, err="bad")])
    fake.run(["a", "anything"])
    with pytest.raises(AssertionError, match="unexpected command"):
        fake.run(["c"])
    fake = FakeRunner([cmd(["a"]), cmd(["b"])])
    fake.run(["a"])
    with pytest.raises(AssertionError, match="never ran"):
        fake.assert_done()
    with pytest.raises(CommandError, match="bad"):
        FakeRunner([cmd(["b"], rc=1, err="bad")]).run(["b"])
    with pytest.raises(AssertionError, match="stdin"):
        FakeRunner([cmd(["b"], stdin=b"x1")]).run(["b"], stdin=b"x2")
    with pytest.raises(AssertionError, match="table exhausted"):
        FakeRunner([]).run(["z"])


def test_cmdline_quotes():
    assert cmdline(["a", "b c"]) == "a 'b c'"


def test_plan_runs_writes_for_real_and_only_dry_runs_in_check_mode():
    plan = Plan([Action(["zpool", "create", "p", "/dev/sdb"], "create p",
                        check_argv=["zpool", "create", "-n", "p", "/dev/sdb"]),
                 Action(["zfs", "create", "p/secret"], "create p/secret", stdin=b"key bytes"),
                 Action(["sgdisk", "--zap-all", "/dev/sdb"], "zap", ok_rcs=(0, 2))])
    assert plan.changed and plan.commands[0] == ["zpool", "create", "p", "/dev/sdb"]
    check = FakeRunner([cmd(["zpool", "create", "-n", "p", "/dev/sdb"])])
    plan.apply(check, check_mode=True)
    check.assert_done()
    real = FakeRunner([cmd(["zpool", "create", "p", "/dev/sdb"], stdin=False),
                       cmd(["zfs", "create", "p/secret"], stdin=b"key bytes"),
                       cmd(["sgdisk", "--zap-all", "/dev/sdb"], rc=2)])
    plan.apply(real, check_mode=False)
    real.assert_done()
    with pytest.raises(CommandError, match="rc=3"):
        Action(["sgdisk", "--zap-all", "/dev/sdb"], "zap", ok_rcs=(0, 2)).run(
            FakeRunner([cmd(["sgdisk", "--zap-all", "/dev/sdb"], rc=3)]), False)
    assert "key bytes" not in repr(plan.actions[1])
