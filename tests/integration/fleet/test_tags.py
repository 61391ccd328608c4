"""One tag per layer (issue 13, item 12): each layer's play carries its layer's tag, so
``site.yml --tags security`` runs that layer only (with its own read of the servers)."""
from __future__ import annotations

import re

from fleet_project import output, run, write_project


def play_tags(proc):
    return dict((m.group(1), m.group(2)) for m in
                re.finditer(r"play #\d+ \(.*?\): (.+?)\s+TAGS: \[(.*?)\]", proc.stdout))


def test_every_layer_has_its_tag(lab, tmp_path):
    project = write_project(tmp_path, lab)
    site = run(project, "site.yml", "--list-tags")
    assert site.returncode == 0, output(site)
    assert play_tags(site) == {"Hardware layer": "hardware", "Storage layer": "storage",
                               "Base layer": "base", "Security layer": "security",
                               "Services layer": "services", "Summary": "summary"}
    for playbook, tag in (("unlock.yml", "unlock"), ("rebuild.yml", "rebuild"), ("destroy.yml", "destroy")):
        proc = run(project, playbook, "--list-tags")
        assert proc.returncode == 0, output(proc)
        assert list(play_tags(proc).values()) == [tag], (playbook, proc.stdout)
