"""The base layer on servers that are not in the rescue system (issue 13, item 7).

On the API-only lab (hardware_rescue: false) every server stays at stage "provisioned":
it runs the provider image, not the rescue system. The storage layer skips such a server
and says why; the base layer stopped UNREACHABLE at "Resolve the system disk" and the
summary never printed. Both layers decide on the same observable fact, the server's stage.
"""
from __future__ import annotations

from fleet_project import output, run, write_project


def test_site_skips_base_on_provisioned_servers_and_prints_the_summary(lab, tmp_path):
    project = write_project(tmp_path, lab)
    proc = run(project, "site.yml")
    out = output(proc)
    assert proc.returncode == 0, out
    assert "UNREACHABLE" not in out and "unreachable=1" not in out
    assert "Resolve the system disk" not in out
    for host in ("web-1", "web-2", "db-1"):
        assert ("%s is at stage provisioned; the base layer only runs in the rescue system"
                % host) in out
    assert "TASK [Print the summary]" in out
    assert "stage=provisioned" in out
    assert not (project / "hosts").exists()
