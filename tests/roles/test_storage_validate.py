"""A bad LUKS passphrase fails the storage layer with the rule it broke, and never with the
passphrase itself. (The check used to run under no_log, so the reason was replaced by
"the output has been hidden".)"""
from rolerun import run_playbook, write_inventory, ROOT

PLAY = ROOT / "tests" / "roles" / "storage_validate_play.yml"
SECRET = "short-pw"


def run(tmp_path, **host_vars):
    inv = write_inventory(tmp_path / "inv.json", {"st-1": host_vars})
    return run_playbook(PLAY, inv)


def test_a_short_passphrase_names_the_rule_not_the_secret(tmp_path):
    res = run(tmp_path, storage_luks_passphrase=SECRET)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "at least 12 characters" in out, out[-2000:]
    assert "output has been hidden" not in out
    assert SECRET not in out


def test_an_empty_passphrase_says_it_is_not_set(tmp_path):
    res = run(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "storage_luks_passphrase is not set" in out, out[-2000:]


def test_a_good_passphrase_passes_and_other_errors_are_shown(tmp_path):
    good = "correct horse battery"
    assert run(tmp_path, storage_luks_passphrase=good).returncode == 0
    res = run(tmp_path, storage_luks_passphrase=good, storage_altroot="mnt")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "storage_altroot" in out and good not in out, out[-2000:]
