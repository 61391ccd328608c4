"""The rescue stage label is set only once the rescue system answers, and a wait for it
says what it waits for (issue 13, item 8), against the lab API.

The lab without VMs has no SSH. For the path where the rescue system answers, the hosts
use ansible_connection=local and a stand-in ``findmnt`` that reports a RAM root file
system: it stands in for the rescue system, so the role's flow around it (wait, check,
marker, label) runs for real against the lab API. The VM molecule scenarios boot real
rescue systems."""
from __future__ import annotations

import os
import re
import stat

from fleet_project import output, run, servers, write_project

STAGE = "nixos-hetzner/stage"


def test_unreachable_rescue_fails_clearly_and_leaves_the_stage(lab, tmp_path):
    # The original failure: a silent wait of up to 900 s, and the stage label "rescue"
    # although rescue was never reached.
    project = write_project(tmp_path, lab, group_vars={"nixos_hetzner": {
        "hardware_rescue": True, "hardware_ssh_timeout": 3, "ansible_user": "root"}})
    proc = run(project, "hardware.yml")
    assert proc.returncode != 0
    out = output(proc)
    assert "is booting into the rescue system; waiting up to 3 s for SSH as root@127." in out
    assert "no SSH answer from 127." in out and "hardware_rescue: false" in out
    assert sorted(servers(lab)) == ["db-1", "web-1", "web-2"]
    assert set(s["labels"][STAGE] for s in servers(lab).values()) == {"provisioned"}


def test_stage_label_after_the_rescue_system_answered(lab, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "findmnt").write_text("#!/bin/sh\necho tmpfs\n")
    (fake / "findmnt").chmod(stat.S_IRWXU)
    project = write_project(tmp_path / "p", lab, group_vars={"nixos_hetzner": {
        "hardware_rescue": True, "ansible_connection": "local",
        "hardware_rescue_marker": str(tmp_path / "markers") + "/{{ inventory_hostname }}/rescue"}})
    env_path = "%s:%s" % (fake, os.environ["PATH"])
    old = os.environ["PATH"]
    os.environ["PATH"] = env_path
    try:
        first = run(project, "hardware.yml")
        assert first.returncode == 0, output(first)
        assert set(s["labels"][STAGE] for s in servers(lab).values()) == {"rescue"}
        assert "db-1: created, booted into rescue" in first.stdout
        # Progress (issue 13, item 13): the fleet call runs in the background and each host
        # reports its own server as it gets there, one line per host, not one silent task.
        wait = first.stdout.split("Wait until this host's server is provisioned", 1)[1]
        wait = wait.split("TASK [", 1)[0]
        assert sorted(re.findall(r"^ok: \[(\S+) -> localhost\]", wait, re.M)) == ["db-1", "web-1", "web-2"]
        resets = lab.calls("POST", "/v1/servers/{id}/actions/enable_rescue")
        # A re-run finds each marker and sends nobody to rescue again.
        second = run(project, "hardware.yml")
        assert second.returncode == 0, output(second)
        assert lab.calls("POST", "/v1/servers/{id}/actions/enable_rescue") == resets
        assert set(s["labels"][STAGE] for s in servers(lab).values()) == {"rescue"}
    finally:
        os.environ["PATH"] = old
