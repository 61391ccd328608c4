"""zfs_snapshot as command tables: take once, destroy, prune a series by createtxg."""
import pytest

from fakerunner import FakeRunner, cmd

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import PlanError
from ansible_collections.nixos_hetzner.vps.plugins.modules import zfs_snapshot as mod

SNAP = "rpool/local/root@blank"
LIST = ["zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name", SNAP]
SERIES = ["zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name,createtxg", "-d", "1", "rpool"]
MISSING = dict(rc=1, err="cannot open '%s': dataset does not exist\n" % SNAP)
#: out of creation order on purpose; an older series member of another prefix in between
LISTING = ("rpool@pre-rebuild-c\t300\nrpool@pre-rebuild-a\t100\nrpool@manual\t150\n"
           "rpool@pre-rebuild-b\t200\nrpool@pre-rebuild-d\t1000\n")


def params(**kw):
    p = dict(name=None, state="present", recursive=False, dataset=None, prefix=None, keep=None)
    p.update(kw)
    return p


def run(table, check=False, **kw):
    r = FakeRunner(table)
    res = mod.execute(params(**kw), check, r, None)
    r.assert_done()
    return res


def test_present_takes_the_snapshot_once():
    res = run([cmd(LIST, **MISSING), cmd(["zfs", "snapshot", SNAP])], name=SNAP)
    assert res["changed"] and res["diff"]["after"] == {"state": "present"}
    res = run([cmd(LIST, out=SNAP + "\n")], name=SNAP)
    assert not res["changed"] and res["destroyed"] == []


def test_present_check_mode_runs_no_write():
    res = run([cmd(LIST, **MISSING)], check=True, name=SNAP, recursive=True)
    assert res["changed"]


def test_absent_destroys_with_a_dry_run_in_check_mode():
    res = run([cmd(LIST, out=SNAP + "\n"), cmd(["zfs", "destroy", "-n", "-r", SNAP])], check=True,
              name=SNAP, state="absent", recursive=True)
    assert res["changed"] and res["destroyed"] == [SNAP]
    run([cmd(LIST, out=SNAP + "\n"), cmd(["zfs", "destroy", SNAP])], name=SNAP, state="absent")
    assert not run([cmd(LIST, **MISSING)], name=SNAP, state="absent")["changed"]


def test_prune_keeps_the_newest_of_the_series_only():
    res = run([cmd(SERIES, out=LISTING), cmd(["zfs", "destroy", "-r", "rpool@pre-rebuild-a"]),
               cmd(["zfs", "destroy", "-r", "rpool@pre-rebuild-b"])],
              state="pruned", dataset="rpool", prefix="pre-rebuild-", keep=2, recursive=True)
    assert res["destroyed"] == ["rpool@pre-rebuild-a", "rpool@pre-rebuild-b"]
    assert res["diff"]["after"] == {"snapshots": ["rpool@pre-rebuild-c", "rpool@pre-rebuild-d"]}
    res = run([cmd(SERIES, out=LISTING)], state="pruned", dataset="rpool", prefix="pre-rebuild-", keep=4)
    assert not res["changed"]


@pytest.mark.parametrize("kw,match", [
    (dict(name="rpool/local/root"), "use pool/dataset@snapshot"),
    (dict(name="rpool@a b"), "may contain only"),
    (dict(name="/rpool@x"), "invalid dataset name"),
    (dict(state="pruned", dataset="rpool", prefix="pre-", keep=0), "at least the newest"),
    (dict(state="pruned", dataset="rpool", prefix="", keep=1), "invalid prefix"),
])
def test_bad_requests_run_nothing(kw, match):
    with pytest.raises(PlanError, match=match):
        run([], **kw)


def test_prune_of_a_missing_dataset_is_an_error():
    with pytest.raises(PlanError, match="does not exist"):
        run([cmd(SERIES, rc=1, err="cannot open 'rpool': dataset does not exist\n")],
            state="pruned", dataset="rpool", prefix="pre-", keep=1)
