"""destroy.yml tears the shared objects down too (issue 13, item 3): with the same
confirmation, only when no server of the fleet is left and the run covers the whole fleet,
and never what something else uses or what is protected."""
from __future__ import annotations

from fleet_project import FLEET, output, run, servers, shared_objects, write_project

NONE = {"firewalls": [], "placement_groups": [], "networks": [], "ssh_keys": []}
ALL = {"firewalls": ["t13-firewall"], "placement_groups": ["t13-spread"], "networks": ["t13-net"],
       "ssh_keys": ["t13-admin"]}


def test_destroy_tears_down_shared_objects_safely(lab, tmp_path):
    project = write_project(tmp_path, lab)
    assert run(project, "hardware.yml").returncode == 0
    assert shared_objects(lab) == ALL

    # Without the confirmation nothing at all is deleted.
    refused = run(project, "destroy.yml")
    assert refused.returncode != 0 and "destroy_confirm=%s" % FLEET in output(refused)
    assert len(servers(lab)) == 3 and shared_objects(lab) == ALL

    # A limited run deletes its servers but keeps what the others still use.
    limited = run(project, "destroy.yml", "-l", "db-1", "-e", "destroy_confirm=%s" % FLEET)
    assert limited.returncode == 0, output(limited)
    assert sorted(servers(lab)) == ["web-1", "web-2"]
    assert shared_objects(lab) == ALL
    assert "are outside this run (--limit)" in limited.stdout

    # A server outside the fleet that uses the firewall and the network keeps them; the
    # rest goes. A protected network is never deleted either.
    c = lab.client()
    import hcloud
    fw = c.firewalls.get_by_name("t13-firewall")
    net = c.networks.get_by_name("t13-net")
    other = c.servers.create(name="other-1", server_type=hcloud.server_types.ServerType(name="cx23"),
                             image=hcloud.images.Image(name="debian-12"), firewalls=[fw],
                             networks=[net]).server
    full = run(project, "destroy.yml", "-e", "destroy_confirm=%s" % FLEET)
    assert full.returncode == 0, output(full)
    assert servers(lab) == {}
    assert shared_objects(lab) == {"firewalls": ["t13-firewall"], "placement_groups": [],
                                   "networks": ["t13-net"], "ssh_keys": []}
    assert "firewall t13-firewall is in use: applied to servers %d" % other.id in full.stdout
    assert "network t13-net is in use: servers %d are attached" % other.id in full.stdout

    c.servers.delete(other)
    c.networks.change_protection(c.networks.get_by_name("t13-net"), delete=True).wait_until_finished()
    last = run(project, "destroy.yml", "-e", "destroy_confirm=%s" % FLEET)
    assert last.returncode == 0, output(last)
    assert shared_objects(lab) == {"firewalls": [], "placement_groups": [], "networks": ["t13-net"],
                                   "ssh_keys": []}
    assert "network t13-net is in use: it has delete protection" in last.stdout


def test_protected_server_keeps_the_shared_objects(lab, tmp_path):
    project = write_project(tmp_path, lab, host_vars={"db-1": {"hardware_protection": True}})
    assert run(project, "hardware.yml").returncode == 0
    proc = run(project, "destroy.yml", "-e", "destroy_confirm=%s" % FLEET)
    assert sorted(servers(lab)) == ["db-1"]
    assert shared_objects(lab) == ALL
    assert "servers db-1 are still in the fleet" in proc.stdout, output(proc)
