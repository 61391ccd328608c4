"""Servers and their actions through the real hcloud library over HTTP."""
import ipaddress

import pytest
from hcloud import APIException
from hcloud.actions.domain import ActionFailedException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import Network, NetworkSubnet
from hcloud.placement_groups import PlacementGroup
from hcloud.server_types import ServerType

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND ci"


def create(c, name="srv", type_="cx23", image="debian-12", wait=True, **kw):
    r = c.servers.create(name=name, server_type=ServerType(name=type_), image=Image(name=image), **kw)
    if wait:
        r.action.wait_until_finished()
        for a in r.next_actions:
            a.wait_until_finished()
    return r


def fresh(c, sid):
    return c.servers.get_by_id(sid)


def api_error(fn, *args, **kw) -> APIException:
    with pytest.raises(APIException) as exc:
        fn(*args, **kw)
    return exc.value


def test_create_returns_action_next_actions_and_password(lab):
    c = lab.client()
    lab.configure(durations={"start_server": 50.0})  # 0.5 s: long enough to see "starting"
    r = create(c, wait=False)
    assert r.action.command == "create_server" and r.action.status == "running"
    assert [a.command for a in r.next_actions] == ["start_server"]
    assert r.root_password and len(r.root_password) >= 12
    assert r.server.status == "initializing"
    r.action.wait_until_finished()
    assert fresh(c, r.server.id).status == "starting"  # start_server runs after the create
    r.next_actions[0].wait_until_finished()
    s = fresh(c, r.server.id)
    assert s.status == "running" and s.image.name == "debian-12"
    assert s.server_type.name == "cx23" and s.primary_disk_size == 40
    assert s.location.name == "fsn1"


def test_create_with_ssh_keys_has_no_root_password(lab):
    c = lab.client()
    key = c.ssh_keys.create(name="ci", public_key=KEY)
    r = create(c, ssh_keys=[key], location=Location(name="hel1"), labels={"role": "web"})
    assert r.root_password is None
    s = fresh(c, r.server.id)
    assert s.location.name == "hel1" and s.labels == {"role": "web"}


def test_start_after_create_false_leaves_it_off(lab):
    c = lab.client()
    r = create(c, start_after_create=False)
    assert r.next_actions == []
    assert fresh(c, r.server.id).status == "off"


def test_arm_server_gets_arm_image(lab):
    c = lab.client()
    r = create(c, type_="cax11", image="debian-13", location=Location(name="nbg1"))
    s = fresh(c, r.server.id)
    assert s.server_type.architecture == "arm" and s.image.architecture == "arm"
    assert s.image.name == "debian-13"


def test_public_ips_are_unique_loopback_and_doc_ipv6(lab):
    c = lab.client()
    ips, nets = [], []
    for i in range(4):
        s = create(c, name=f"n{i}").server
        ips.append(s.public_net.ipv4.ip)
        nets.append(s.public_net.ipv6.network if hasattr(s.public_net.ipv6, "network")
                    else s.public_net.ipv6.ip)
    assert ips == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    assert len(set(nets)) == 4
    for n in nets:
        assert ipaddress.ip_network(n).subnet_of(ipaddress.ip_network("2001:db8::/32"))
    # a deleted server's address is free again
    c.servers.get_by_name("n1").delete().wait_until_finished()
    assert create(c, name="n9", wait=False).server.public_net.ipv4.ip == "127.0.0.3"


@pytest.mark.parametrize("body,field", [
    ({"name": "bad_name!", "server_type": "cx23", "image": "debian-12"}, "name"),
    ({"name": "x" * 64, "server_type": "cx23", "image": "debian-12"}, "name"),
    ({"server_type": "cx23", "image": "debian-12"}, "name"),
    ({"name": "a", "server_type": "cx999", "image": "debian-12"}, "server_type"),
    ({"name": "a", "server_type": "cx23", "image": "windows-95"}, "image"),
    ({"name": "a", "server_type": "cx23", "image": 114690389}, "image"),  # arm image on x86
    ({"name": "a", "server_type": "cax11", "image": "debian-12", "location": "ash"}, "server_type"),
    ({"name": "a", "server_type": "cx23", "image": "debian-12", "location": "mars"}, "location"),
    ({"name": "a", "server_type": "cx23", "image": "debian-12", "ssh_keys": ["nope"]}, "ssh_keys"),
    ({"name": "a", "server_type": "cx23", "image": "debian-12", "labels": {"b@d": "x"}}, "labels"),
    ({"name": "a", "server_type": "cx23", "image": "debian-12", "start_after_create": "yes"},
     "start_after_create"),
])
def test_create_invalid_input_names_the_field(lab, body, field):
    st, _, resp = lab.request("POST", "/servers", body)
    assert st == 400, resp
    assert resp["error"]["code"] == "invalid_input"
    assert resp["error"]["details"]["fields"][0]["name"] == field
    assert lab.request("GET", "/servers")[2]["servers"] == []  # nothing written


def test_duplicate_name_is_uniqueness_error(lab):
    c = lab.client()
    create(c, name="dup", wait=False)
    err = api_error(create, c, name="dup", wait=False)
    assert err.code == "uniqueness_error"
    s = fresh(c, c.servers.get_by_name("dup").id)
    other = create(c, name="other", wait=False).server
    err = api_error(c.servers.update, other, name="dup")
    assert err.code == "uniqueness_error"
    assert s.name == "dup"


def test_power_cycle_and_statuses(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    # long enough to observe the transitional statuses even on a loaded machine
    lab.configure(durations={"stop_server": 300.0, "start_server": 300.0})
    a = s.power_off()
    assert a.command == "stop_server"
    assert fresh(c, s.id).status == "stopping"
    a.wait_until_finished()
    assert fresh(c, s.id).status == "off"
    a = s.power_on()
    assert a.command == "start_server" and fresh(c, s.id).status == "starting"
    a.wait_until_finished()
    assert fresh(c, s.id).status == "running"
    lab.configure(durations={})
    s.shutdown().wait_until_finished()
    assert fresh(c, s.id).status == "off"
    s.reboot().wait_until_finished()          # a reboot starts a server that is off
    assert fresh(c, s.id).status == "running"
    a = s.reset()
    assert a.command == "reset_server"
    a.wait_until_finished()
    assert fresh(c, s.id).status == "running"
    # poweron on a running server succeeds at once and changes nothing
    a = s.power_on()
    assert a.status == "success" and fresh(c, s.id).status == "running"


def test_conflicting_action_is_423_locked(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    lab.configure(durations={"stop_server": 300.0})  # 3 s at the fixture's time scale
    a = s.power_off()
    assert fresh(c, s.id).locked is True
    for call in (s.power_on, s.reset, s.reboot, s.delete, s.enable_backup):
        err = api_error(call)
        assert err.code == "locked", call
    st, _, body = lab.request("POST", f"/servers/{s.id}/actions/poweron")
    assert st == 423
    a.wait_until_finished()
    assert fresh(c, s.id).locked is False
    s.power_on().wait_until_finished()


def test_locked_while_creating(lab):
    c = lab.client()
    lab.configure(durations={"create_server": 300.0})
    r = create(c, wait=False)
    assert api_error(r.server.reboot).code == "locked"
    r.action.wait_until_finished()
    r.next_actions[0].wait_until_finished()
    r.server.reboot().wait_until_finished()


def test_rescue_is_used_by_the_next_boot_then_cleared(lab):
    c = lab.client()
    key = c.ssh_keys.create(name="ci", public_key=KEY)
    s = fresh(c, create(c).server.id)
    r = s.enable_rescue(ssh_keys=[key.id])
    assert r.root_password
    r.action.wait_until_finished()
    assert fresh(c, s.id).rescue_enabled is True
    s.reset().wait_until_finished()
    assert fresh(c, s.id).rescue_enabled is False
    assert {x["name"]: x["booted"] for x in lab.servers()}["srv"] == "rescue"
    s.reboot().wait_until_finished()
    assert {x["name"]: x["booted"] for x in lab.servers()}["srv"] == "disk"
    # enable then disable: the next boot is a normal one
    s.enable_rescue().action.wait_until_finished()
    s.disable_rescue().wait_until_finished()
    assert fresh(c, s.id).rescue_enabled is False
    # rescue is also consumed by a poweron from off
    s.power_off().wait_until_finished()
    s.enable_rescue().action.wait_until_finished()
    s.power_on().wait_until_finished()
    assert fresh(c, s.id).rescue_enabled is False
    assert {x["name"]: x["booted"] for x in lab.servers()}["srv"] == "rescue"


def test_rebuild(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    lab.configure(durations={"rebuild_server": 300.0})
    r = s.rebuild(Image(name="ubuntu-24.04"))
    assert r.action.command == "rebuild_server" and r.root_password
    assert fresh(c, s.id).status == "rebuilding"
    r.action.wait_until_finished()
    s = fresh(c, s.id)
    assert s.status == "running" and s.image.name == "ubuntu-24.04"
    assert api_error(s.rebuild, Image(name="nope")).code == "invalid_input"


def test_change_type_needs_off_and_respects_disk(lab):
    c = lab.client()
    s = fresh(c, create(c, type_="cx33").server.id)
    err = api_error(s.change_type, ServerType(name="cx43"), upgrade_disk=True)
    assert err.code == "server_not_stopped"
    s.power_off().wait_until_finished()
    err = api_error(s.change_type, ServerType(name="cx23"), upgrade_disk=False)
    assert err.code == "invalid_input"  # 40 GB disk < 80 GB in use
    err = api_error(s.change_type, ServerType(name="cax21"), upgrade_disk=False)
    assert err.code == "invalid_input"  # no architecture change
    s.change_type(ServerType(name="cx43"), upgrade_disk=False).wait_until_finished()
    s = fresh(c, s.id)
    assert s.server_type.name == "cx43" and s.primary_disk_size == 80 and s.status == "off"
    s.change_type(ServerType(name="cx53"), upgrade_disk=True).wait_until_finished()
    assert fresh(c, s.id).primary_disk_size == 320


def test_protection_blocks_delete_and_rebuild(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    s.change_protection(delete=True, rebuild=True).wait_until_finished()
    assert fresh(c, s.id).protection == {"delete": True, "rebuild": True}
    err = api_error(s.delete)
    assert err.code == "protected"
    assert api_error(s.rebuild, Image(name="debian-12")).code == "protected"
    s.change_protection(delete=False, rebuild=False).wait_until_finished()
    s.delete().wait_until_finished()
    assert c.servers.get_by_name("srv") is None


def test_backups(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    s.enable_backup().wait_until_finished()
    assert fresh(c, s.id).backup_window
    s.disable_backup().wait_until_finished()
    assert fresh(c, s.id).backup_window is None


def test_networks_attach_detach(lab):
    c = lab.client()
    net = c.networks.create(name="net", ip_range="10.0.0.0/16", subnets=[
        NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")])
    s = fresh(c, create(c).server.id)
    s.attach_to_network(net).wait_until_finished()
    s = fresh(c, s.id)
    assert [(p.network.id, p.ip) for p in s.private_net] == [(net.id, "10.0.1.2")]
    assert c.networks.get_by_id(net.id).servers[0].id == s.id
    err = api_error(s.attach_to_network, net)
    assert err.code == "server_already_attached"
    s2 = fresh(c, create(c, name="two").server.id)
    s2.attach_to_network(net, ip="10.0.1.50").wait_until_finished()
    assert fresh(c, s2.id).private_net[0].ip == "10.0.1.50"
    s3 = fresh(c, create(c, name="three").server.id)
    assert api_error(s3.attach_to_network, net, ip="10.0.1.50").code == "ip_not_available"
    s.detach_from_network(net).wait_until_finished()
    assert fresh(c, s.id).private_net == []
    assert api_error(s.detach_from_network, net).code == "server_not_attached_to_network"
    # create with networks
    r = create(c, name="four", networks=[net])
    assert "attach_to_network" in [a.command for a in r.next_actions]
    assert fresh(c, r.server.id).private_net[0].network.id == net.id


def test_placement_groups(lab):
    c = lab.client()
    pg = c.placement_groups.create(name="spread", type="spread").placement_group
    s = fresh(c, create(c).server.id)
    assert api_error(s.add_to_placement_group, pg).code == "server_not_stopped"
    s.power_off().wait_until_finished()
    s.add_to_placement_group(pg).wait_until_finished()
    assert fresh(c, s.id).placement_group.id == pg.id
    assert c.placement_groups.get_by_id(pg.id).servers == [s.id]
    assert api_error(s.add_to_placement_group, pg).code == "server_already_in_placement_group"
    s.remove_from_placement_group().wait_until_finished()
    assert fresh(c, s.id).placement_group is None
    r = create(c, name="in-pg", placement_group=PlacementGroup(id=pg.id))
    assert fresh(c, r.server.id).placement_group.id == pg.id


def test_delete_frees_ips_and_returns_action(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    a = s.delete()
    assert a.command == "delete_server"
    assert c.servers.get_by_id is not None
    st, _, body = lab.request("GET", f"/servers/{s.id}")
    assert st == 404
    assert c.primary_ips.get_all() == []


def test_actions_lists_and_batched_get(lab):
    c = lab.client()
    r1 = create(c, name="a1")
    r2 = create(c, name="a2")
    ids = [r1.action.id, r2.action.id]
    st, _, body = lab.request("GET", f"/actions?id={ids[0]}&id={ids[1]}")
    assert st == 200 and sorted(a["id"] for a in body["actions"]) == sorted(ids)
    assert all(a["status"] == "success" and a["progress"] == 100 and a["finished"]
               for a in body["actions"])
    s1 = fresh(c, r1.server.id)
    cmds = [a.command for a in s1.get_actions(sort=["id:asc"])]
    assert cmds == ["create_server", "start_server"]
    assert c.servers.get_actions_list(s1, status=["running"]).actions == []
    st, _, body = lab.request("GET", f"/servers/{s1.id}/actions/{r1.action.id}")
    assert st == 200 and body["action"]["command"] == "create_server"
    st, _, body = lab.request("GET", f"/servers/{s1.id}/actions/{r2.action.id}")
    assert st == 404
    st, _, body = lab.request("GET", "/servers/actions?sort=id:desc&per_page=1")
    assert body["actions"][0]["resources"][0]["type"] == "server"
    assert c.actions.get_by_id(r1.action.id).command == "create_server"


def test_running_action_reports_progress(lab):
    c = lab.client()
    lab.configure(durations={"create_server": 300.0})  # 3 s
    r = create(c, wait=False)
    import time
    time.sleep(0.6)
    a = c.actions.get_by_id(r.action.id)
    assert a.status == "running" and 10 <= a.progress <= 99 and a.finished is None
    a.wait_until_finished()
    assert c.actions.get_by_id(a.id).progress == 100


def test_injected_action_failure_surfaces_in_hcloud(lab):
    c = lab.client()
    s = fresh(c, create(c).server.id)
    lab.configure(fault_actions={"reboot_server": 1.0})
    a = s.reboot()
    with pytest.raises(ActionFailedException) as exc:
        a.wait_until_finished()
    assert exc.value.action.error["code"] == "action_failed"
    assert fresh(c, s.id).status == "running" and fresh(c, s.id).locked is False


def test_network_object_is_usable_by_reference(lab):
    c = lab.client()
    net = c.networks.create(name="bynet", ip_range="10.9.0.0/16", subnets=[
        NetworkSubnet(type="cloud", ip_range="10.9.0.0/24", network_zone="eu-central")])
    s = fresh(c, create(c).server.id)
    s.attach_to_network(Network(id=net.id)).wait_until_finished()
    assert fresh(c, s.id).private_net[0].ip == "10.9.0.2"
