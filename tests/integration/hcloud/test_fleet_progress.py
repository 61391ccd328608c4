"""Progress of hcloud_fleet while it runs (issue 13, item 13): with progress_file, one line
per server as each of its actions ends and as it finishes, and one for the fleet at the end;
the lines come from the polls the waits make anyway, so the request count is the same as
without the file. Before, a fleet call was one silent task until every server was done."""
from __future__ import annotations

import re
from pathlib import Path

from playbook_run import run_tasks

F = "nixos_hetzner.vps.hcloud_fleet"


def env(lab):
    return {"HCLOUD_TOKEN": lab.token, "HCLOUD_ENDPOINT": lab.endpoint}


def servers(prefix, n, **over):
    return [dict({"name": "%s%d" % (prefix, i), "server_type": "cx23", "image": "debian-12",
                  "location": "fsn1"}, **over) for i in range(n)]


def test_progress_lines_per_server_and_no_extra_request(lab, tmp_path):
    plain = run_tasks([{"name": "without", F: {"fleet": "a", "servers": servers("a", 6)}}],
                      env=env(lab), expect_ok=True)[0]
    progress = tmp_path / "progress"
    rescue = servers("b", 6, state="rescue")
    r = run_tasks([{"name": "with", F: {"fleet": "b", "servers": servers("b", 6),
                                        "progress_file": str(progress)}},
                   {"name": "rescue", F: {"fleet": "b", "servers": rescue,
                                          "progress_file": str(progress) + "2"}},
                   {"name": "no-op", F: {"fleet": "b", "servers": servers("b", 6),
                                         "progress_file": str(progress) + "3"}}],
                  env=env(lab), expect_ok=True)
    assert r[0]["api_requests"] == plain["api_requests"]
    lines = progress.read_text().splitlines()
    for i in range(6):
        mine = [ln for ln in lines if ln.startswith("b%d: " % i)]
        assert mine[0] == "b%d: create_server done" % i, lines
        assert mine[-1] == "b%d: finished" % i, lines
    assert lines[-1] == "fleet: finished"
    rescued = Path(str(progress) + "2").read_text().splitlines()
    for i in range(6):
        steps = [ln.split(": ", 1)[1] for ln in rescued if ln.startswith("b%d: " % i)]
        assert "enable_rescue done" in steps and steps[-1] == "finished", rescued
    assert Path(str(progress) + "3").read_text().splitlines() == ["fleet: finished"]
    assert r[2]["api_requests"] == 1


def test_progress_says_fleet_failed(lab, tmp_path):
    progress = tmp_path / "progress"
    r = run_tasks([{"name": "bad", F: {"fleet": "c", "servers": servers("c", 1, server_type="nope"),
                                       "progress_file": str(progress)}}], env=env(lab))
    assert r[0]["failed"]
    assert progress.read_text().splitlines()[-1] == "fleet: failed"
    assert re.search(r"nope", r[0]["msg"])


def test_progress_is_closed_when_the_arguments_are_refused(lab, tmp_path):
    """A module that fails before it runs (here: an unknown option) still ends the file, so
    the role's per-host waits end at once instead of at hardware_fleet_timeout."""
    progress = tmp_path / "progress"
    r = run_tasks([{"name": "bad", F: {"fleet": "d", "servers": servers("d", 1),
                                       "no_such_option": 1, "progress_file": str(progress)}}],
                  env=env(lab))
    assert r[0]["failed"] and "no_such_option" in r[0]["msg"]
    assert progress.read_text().splitlines() == ["fleet: failed"]
