"""Fleet-wide objects cannot be hurt by --limit or by one host's failure (issue 13, items
1-3 and 6): the hardware playbook against the lab API from a separate 3-host project."""
from __future__ import annotations

from fleet_project import (
    firewall_rules, output, ports, run, servers, shared_objects, write_project,
)


def test_limit_and_failing_hosts_leave_the_shared_firewall_alone(lab, tmp_path):
    project = write_project(tmp_path, lab)
    first = run(project, "hardware.yml")
    assert first.returncode == 0, output(first)
    rules = firewall_rules(lab)
    assert ports(rules) == ["22", "2222", "443", "5432", "80", "icmp"]
    assert sorted(servers(lab)) == ["db-1", "web-1", "web-2"]
    before = shared_objects(lab)

    # 1. The original failure: -l db-1 left only ping, 22, 2222 and 5432.
    limited = run(project, "hardware.yml", "-l", "db-1")
    assert limited.returncode == 0, output(limited)
    assert firewall_rules(lab) == rules
    assert shared_objects(lab) == before

    # 2. The original failure: web-1 and web-2 failed validation, the play went on with
    # db-1 and the firewall lost 80 and 443. Now nothing shared is written.
    broken = run(project, "hardware.yml", "-e", "services_nginx_acme_email=")
    assert broken.returncode != 0
    assert "web-1: nginx needs an ACME contact address" in output(broken)
    assert "nothing shared" in output(broken)
    assert firewall_rules(lab) == rules

    # The same with the broken hosts outside the limit: their settings still count.
    broken_limited = run(project, "hardware.yml", "-l", "db-1", "-e", "services_nginx_acme_email=")
    assert broken_limited.returncode != 0
    assert firewall_rules(lab) == rules

    # One host failing its own validation (bad hardware settings) stops the others too.
    write_project(tmp_path, lab, host_vars={"web-2": {"hardware_labels": "not-a-mapping"}})
    one_bad = run(project, "hardware.yml", "-e", "{\"security_extra_ports\": [{\"port\": 8443}]}")
    assert one_bad.returncode != 0
    assert "web-2 failed validation, so nothing shared" in output(one_bad)
    assert firewall_rules(lab) == rules, "the extra port was written although web-2 failed"

    # A re-run without changes changes nothing.
    write_project(tmp_path, lab)
    again = run(project, "hardware.yml")
    assert again.returncode == 0, output(again)
    assert "changed=0" in again.stdout.split("PLAY RECAP")[-1], again.stdout[-3000:]


def test_bad_input_creates_nothing(lab, tmp_path):
    # 3. The original failure: the firewall, placement group and network were created first,
    # and only then did the validation of the servers fail.
    cases = [
        ({"db-1": {"hardware_server_type": "cx999"}}, "unknown server_type 'cx999'"),
        ({"db-1": {"hardware_location": "moon1"}}, "unknown location 'moon1'"),
        ({"db-1": {"hardware_image": "nixos-99"}}, "unknown image 'nixos-99'"),
        ({"db-1": {"hardware_labels": {"public": True}}}, "boolean, not a string"),
        ({"db-1": {"hardware_labels": {"bad key": "x"}}}, "'bad key'"),
        ({"web-2": {"hardware_server_name": "web-1"}}, "Server name web-1 is used by web-1 and web-2"),
    ]
    for host_vars, message in cases:
        project = write_project(tmp_path / str(len(message)), lab, host_vars=host_vars)
        proc = run(project, "hardware.yml")
        assert proc.returncode != 0, output(proc)
        assert message in output(proc), (message, output(proc)[-3000:])
        assert shared_objects(lab) == {"firewalls": [], "placement_groups": [], "networks": [],
                                       "ssh_keys": []}, message
        assert servers(lab) == {}


def test_check_mode_on_a_fresh_fleet(lab, tmp_path):
    # 6. The original failure: "unknown firewall 't13-firewall'; valid values: (none)".
    project = write_project(tmp_path, lab)
    proc = run(project, "hardware.yml", "--check", "--diff")
    assert proc.returncode == 0, output(proc)
    assert "web-1" in proc.stdout and "t13-firewall" in proc.stdout
    assert shared_objects(lab) == {"firewalls": [], "placement_groups": [], "networks": [],
                                   "ssh_keys": []}
    assert servers(lab) == {}


def test_type_change_needs_opt_in_and_marks_the_host(lab, tmp_path):
    # 4. The original failure: changing cx23 to cx33 ran a hard poweroff, change_type and
    # poweron, and the diff showed only the type.
    import json
    types = [t["name"] for t in lab.request("GET", "/server_types")[2]["server_types"]
             if t["architecture"] == "x86" and not t.get("deprecated")]
    small, big = "cx23", "cx33"
    assert small in types and big in types
    project = write_project(tmp_path, lab, host_vars={"web-1": {"hardware_server_type": small}})
    assert run(project, "hardware.yml").returncode == 0
    (project / "report.yml").write_text(json.dumps([
        {"ansible.builtin.import_playbook": "nixos_hetzner.vps.hardware"},
        {"name": "Report", "hosts": "nixos_hetzner", "gather_facts": False, "tasks": [
            {"ansible.builtin.debug": {"msg": "POWER {{ inventory_hostname }}={{ hardware_power_cycled }}"}}]}]))
    write_project(tmp_path, lab, host_vars={"web-1": {"hardware_server_type": big}})
    plain = run(project, "report.yml", "--diff", playbook_dir=project)
    assert plain.returncode == 0, output(plain)
    assert "cx23 -> cx33 needs a reboot" in output(plain) and "hardware_allow_reboot" in output(plain)
    assert servers(lab)["web-1"]["server_type"]["name"] == small
    assert lab.calls("POST", "/v1/servers/{id}/actions/poweroff") == 0
    assert "POWER web-1=False" in plain.stdout

    opted = run(project, "report.yml", "--diff", "-e", "hardware_allow_reboot=true", playbook_dir=project)
    assert opted.returncode == 0, output(opted)
    assert servers(lab)["web-1"]["server_type"]["name"] == big
    # web-2 sets no type: it keeps the role default, not web-1's value (the fleet's servers
    # used to be described from the first host's variables).
    assert servers(lab)["web-2"]["server_type"]["name"] == small
    assert "graceful shutdown (power off after 60 s), change_type, power on" in opted.stdout
    assert lab.calls("POST", "/v1/servers/{id}/actions/shutdown") == 1, opted.stdout
    assert lab.calls("POST", "/v1/servers/{id}/actions/poweroff") == 0
    assert "POWER web-1=True" in opted.stdout
    assert "POWER web-2=False" in opted.stdout and "POWER db-1=False" in opted.stdout


def recap(proc):
    """{host: changed count} from the PLAY RECAP."""
    import re
    out = {}
    for line in proc.stdout.split("PLAY RECAP")[-1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def test_changed_is_counted_on_the_host_that_changed(lab, tmp_path):
    # 14. The original failure: every change of the fleet task was counted on the first host.
    project = write_project(tmp_path, lab, group_vars={"nixos_hetzner": {"hardware_placement_group": False,
                                                                         "hardware_network": False}})
    first = run(project, "hardware.yml")
    assert first.returncode == 0, output(first)
    assert all(n >= 1 for n in recap(first).values()), recap(first)
    write_project(tmp_path, lab, host_vars={"db-1": {"hardware_labels": {"tier": "data"}}},
                  group_vars={"nixos_hetzner": {"hardware_placement_group": False, "hardware_network": False}})
    second = run(project, "hardware.yml")
    assert second.returncode == 0, output(second)
    assert recap(second) == {"web-1": 0, "web-2": 0, "db-1": 1}, second.stdout[-2500:]


def test_ssh_key_without_public_key_is_a_clear_error(lab, tmp_path):
    # 10. The original failure: a key without public_key was a Jinja error.
    project = write_project(tmp_path, lab, group_vars={"nixos_hetzner": {
        "hardware_ssh_keys": [{"name": "ops"}]}})
    proc = run(project, "hardware.yml")
    assert proc.returncode != 0
    assert "public_key" in output(proc) and "hardware_ssh_keys" in output(proc)
    assert "required" in output(proc), output(proc)[-2000:]
    assert shared_objects(lab) == {"firewalls": [], "placement_groups": [], "networks": [],
                                   "ssh_keys": []}
