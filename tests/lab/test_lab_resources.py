"""SSH keys, firewalls, networks, volumes, placement groups and primary IPs through hcloud."""
import pytest
from hcloud import APIException
from hcloud.firewalls import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import NetworkRoute, NetworkSubnet
from hcloud.server_types import ServerType

KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIERERERERERERERERERERERERERERERERERERERERERE one"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVF two"


def api_error(fn, *args, **kw) -> APIException:
    with pytest.raises(APIException) as exc:
        fn(*args, **kw)
    return exc.value


def server(c, name="srv", labels=None, location="fsn1"):
    r = c.servers.create(name=name, server_type=ServerType(name="cx23"),
                         image=Image(name="debian-12"), labels=labels or {},
                         location=Location(name=location))
    for a in [r.action, *r.next_actions]:
        a.wait_until_finished()
    return c.servers.get_by_id(r.server.id)


# -- SSH keys ---------------------------------------------------------------------------
def test_ssh_keys_crud_and_fingerprint(lab):
    c = lab.client()
    k = c.ssh_keys.create(name="one", public_key=KEY1, labels={"o": "x"})
    assert k.fingerprint.count(":") == 15 and k.public_key == KEY1
    assert c.ssh_keys.get_by_fingerprint(k.fingerprint).id == k.id
    assert c.ssh_keys.get_by_name("one").id == k.id
    err = api_error(c.ssh_keys.create, name="again", public_key=KEY1)
    assert err.code == "uniqueness_error"
    assert err.details["fields"][0]["name"] == "public_key"
    err = api_error(c.ssh_keys.create, name="one", public_key=KEY2)
    assert err.code == "uniqueness_error"
    k = c.ssh_keys.update(k, name="uno", labels={"o": "y"})
    assert (k.name, k.labels) == ("uno", {"o": "y"})
    c.ssh_keys.delete(k)
    assert c.ssh_keys.get_all() == []


@pytest.mark.parametrize("key", ["", "garbage", "ssh-ed25519 !!!notbase64", "ssh-rsa AAAA"])
def test_ssh_key_bad_public_key(lab, key):
    err = api_error(lab.client().ssh_keys.create, name="bad", public_key=key)
    assert err.code == "invalid_input" and err.details["fields"][0]["name"] == "public_key"


# -- firewalls -------------------------------------------------------------------------------
def rules():
    return [FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0", "::/0"],
                         description="ssh"),
            FirewallRule(direction="in", protocol="icmp", source_ips=["0.0.0.0/0"])]


def test_firewall_rules_and_server_targets(lab):
    c = lab.client()
    s = server(c)
    resp = c.firewalls.create(name="fw", rules=rules(), labels={"a": "b"},
                              resources=[FirewallResource(type="server", server=s)])
    fw = resp.firewall
    assert [a.command for a in resp.actions] == ["apply_firewall"]
    for a in resp.actions:
        a.wait_until_finished()
    assert [(r.protocol, r.port) for r in fw.rules] == [("tcp", "22"), ("icmp", None)]
    assert fw.applied_to[0].server.id == s.id
    assert [f.firewall.id for f in c.servers.get_by_id(s.id).public_net.firewalls] == [fw.id]
    acts = c.firewalls.set_rules(fw, [FirewallRule(direction="out", protocol="udp", port="53",
                                                   destination_ips=["10.0.0.0/8"])])
    assert acts[0].command == "set_firewall_rules"
    fw = c.firewalls.get_by_id(fw.id)
    assert [(r.direction, r.protocol) for r in fw.rules] == [("out", "udp")]
    err = api_error(c.firewalls.apply_to_resources, fw, [FirewallResource(type="server", server=s)])
    assert err.code == "firewall_already_applied"
    assert api_error(c.firewalls.delete, fw).code == "resource_in_use"
    c.firewalls.remove_from_resources(fw, [FirewallResource(type="server", server=s)])
    assert c.servers.get_by_id(s.id).public_net.firewalls == []
    err = api_error(c.firewalls.remove_from_resources, fw, [FirewallResource(type="server", server=s)])
    assert err.code == "firewall_already_removed"
    c.firewalls.delete(fw)
    assert c.firewalls.get_all() == []


def test_firewall_label_selector_targets(lab):
    c = lab.client()
    web = server(c, "web", {"role": "web"})
    db = server(c, "db", {"role": "db"})
    fw = c.firewalls.create(name="fw-web", rules=rules()).firewall
    c.firewalls.apply_to_resources(fw, [FirewallResource(
        type="label_selector", label_selector=FirewallResourceLabelSelector(selector="role=web"))])
    fw = c.firewalls.get_by_id(fw.id)
    sel = fw.applied_to[0]
    assert sel.type == "label_selector" and sel.label_selector.selector == "role=web"
    assert [r.server.id for r in sel.applied_to_resources] == [web.id]
    assert [f.firewall.id for f in c.servers.get_by_id(web.id).public_net.firewalls] == [fw.id]
    assert c.servers.get_by_id(db.id).public_net.firewalls == []
    # relabelling a server moves it into the selector
    c.servers.update(db, labels={"role": "web"})
    assert len(c.firewalls.get_by_id(fw.id).applied_to[0].applied_to_resources) == 2
    err = api_error(c.firewalls.apply_to_resources, fw, [FirewallResource(
        type="label_selector", label_selector=FirewallResourceLabelSelector(selector="role in ("))])
    assert err.code == "invalid_input"


@pytest.mark.parametrize("rule,field", [
    ({"direction": "sideways", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"]}, "direction"),
    ({"direction": "in", "protocol": "smtp", "port": "25", "source_ips": ["0.0.0.0/0"]}, "protocol"),
    ({"direction": "in", "protocol": "tcp", "source_ips": ["0.0.0.0/0"]}, "port"),
    ({"direction": "in", "protocol": "tcp", "port": "70000", "source_ips": ["0.0.0.0/0"]}, "port"),
    ({"direction": "in", "protocol": "icmp", "port": "1", "source_ips": ["0.0.0.0/0"]}, "port"),
    ({"direction": "in", "protocol": "tcp", "port": "22", "source_ips": []}, "source_ips"),
    ({"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["300.1.1.1/8"]}, "source_ips"),
])
def test_firewall_bad_rules(lab, rule, field):
    st, _, body = lab.request("POST", "/firewalls", {"name": "fw", "rules": [rule]})
    assert st == 400 and body["error"]["code"] == "invalid_input"
    assert body["error"]["details"]["fields"][0]["name"] == f"rules[0].{field}"
    assert lab.request("GET", "/firewalls")[2]["firewalls"] == []


# -- networks ---------------------------------------------------------------------------------
def test_networks_subnets_routes(lab):
    c = lab.client()
    net = c.networks.create(name="net", ip_range="10.0.0.0/16", subnets=[
        NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")],
        routes=[NetworkRoute(destination="192.168.0.0/24", gateway="10.0.1.1")])
    assert net.subnets[0].gateway == "10.0.0.1"
    assert net.routes[0].destination == "192.168.0.0/24"
    c.networks.add_subnet(net, NetworkSubnet(type="cloud", ip_range="10.0.2.0/24",
                                             network_zone="eu-central")).wait_until_finished()
    err = api_error(c.networks.add_subnet, net, NetworkSubnet(
        type="cloud", ip_range="10.0.2.0/25", network_zone="eu-central"))
    assert err.code == "overlapping_ip_range"
    err = api_error(c.networks.add_subnet, net, NetworkSubnet(
        type="cloud", ip_range="10.5.0.0/24", network_zone="eu-central"))
    assert err.code == "invalid_input"
    c.networks.add_route(net, NetworkRoute(destination="172.16.0.0/12", gateway="10.0.1.9"))
    c.networks.delete_route(net, NetworkRoute(destination="192.168.0.0/24", gateway="10.0.1.1"))
    c.networks.delete_subnet(net, NetworkSubnet(ip_range="10.0.2.0/24"))
    c.networks.change_ip_range(net, "10.0.0.0/8").wait_until_finished()
    net = c.networks.get_by_id(net.id)
    assert net.ip_range == "10.0.0.0/8"
    assert [s.ip_range for s in net.subnets] == ["10.0.1.0/24"]
    assert [r.destination for r in net.routes] == ["172.16.0.0/12"]
    assert api_error(c.networks.create, name="net", ip_range="10.1.0.0/16").code == "uniqueness_error"
    assert api_error(c.networks.create, name="pub", ip_range="8.8.0.0/16").code == "invalid_input"
    c.networks.change_protection(net, delete=True).wait_until_finished()
    assert api_error(c.networks.delete, net).code == "protected"
    c.networks.change_protection(net, delete=False).wait_until_finished()
    c.networks.update(net, name="renamed", labels={"x": "y"})
    c.networks.delete(net)
    assert c.networks.get_all() == []


def test_network_in_use_cannot_be_deleted(lab):
    c = lab.client()
    net = c.networks.create(name="net", ip_range="10.0.0.0/16", subnets=[
        NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")])
    s = server(c)
    s.attach_to_network(net).wait_until_finished()
    assert api_error(c.networks.delete, net).code == "resource_in_use"
    assert api_error(c.networks.delete_subnet, net, NetworkSubnet(ip_range="10.0.1.0/24")).code \
        == "resource_in_use"


# -- volumes --------------------------------------------------------------------------------------
def test_volume_lifecycle(lab):
    c = lab.client()
    s = server(c)
    r = c.volumes.create(size=10, name="data", location=Location(name="fsn1"), format="ext4",
                         labels={"k": "v"})
    assert r.action.command == "create_volume" and r.next_actions == []
    assert r.volume.status == "creating"
    r.action.wait_until_finished()
    v = c.volumes.get_by_id(r.volume.id)
    assert v.status == "available" and v.linux_device == f"/dev/disk/by-id/scsi-0HC_Volume_{v.id}"
    assert v.format == "ext4" and v.location.name == "fsn1"
    v.attach(s).wait_until_finished()
    assert c.volumes.get_by_id(v.id).server.id == s.id
    assert c.servers.get_by_id(s.id).volumes[0].id == v.id
    assert api_error(v.attach, s).code == "volume_already_attached"
    assert api_error(v.delete).code == "resource_in_use"
    assert api_error(v.resize, 10).code == "invalid_input"
    v.resize(20).wait_until_finished()
    assert c.volumes.get_by_id(v.id).size == 20
    v.detach().wait_until_finished()
    assert c.volumes.get_by_id(v.id).server is None
    assert api_error(v.detach).code == "volume_not_attached"
    v.change_protection(delete=True).wait_until_finished()
    assert api_error(v.delete).code == "protected"
    v.change_protection(delete=False).wait_until_finished()
    v.update(name="renamed")
    assert v.delete() is True
    assert c.volumes.get_all() == []


def test_volume_create_attached_and_errors(lab):
    c = lab.client()
    s = server(c)
    r = c.volumes.create(size=15, name="attached", server=s, automount=False)
    assert [a.command for a in r.next_actions] == ["attach_volume"]
    r.action.wait_until_finished()
    for a in r.next_actions:
        a.wait_until_finished()
    assert c.volumes.get_by_id(r.volume.id).server.id == s.id
    hel = server(c, "hel", location="hel1")
    lab.configure(durations={"create_volume": 300.0})
    r = c.volumes.create(size=10, name="fsn", location=Location(name="fsn1"))
    v = r.volume
    assert api_error(v.attach, hel).code == "locked"  # create_volume still running
    r.action.wait_until_finished()
    assert api_error(v.attach, hel).code == "invalid_input"  # other location
    for body, field in [({"name": "x", "size": 5, "location": "fsn1"}, "size"),
                        ({"name": "x", "size": 10}, "location"),
                        ({"name": "x", "size": 10, "location": "fsn1", "format": "ntfs"}, "format")]:
        st, _, resp = lab.request("POST", "/volumes", body)
        assert st == 400 and resp["error"]["details"]["fields"][0]["name"] == field


def test_volume_attach_locks_the_volume(lab):
    c = lab.client()
    s = server(c)
    v = c.volumes.create(size=10, name="v", location=Location(name="fsn1"))
    v.action.wait_until_finished()
    lab.configure(durations={"attach_volume": 300.0})
    a = v.volume.attach(s)
    assert api_error(v.volume.resize, 30).code == "locked"
    assert api_error(s.reboot).code == "locked"
    a.wait_until_finished()


# -- placement groups --------------------------------------------------------------------------
def test_placement_group_crud(lab):
    c = lab.client()
    pg = c.placement_groups.create(name="pg", type="spread", labels={"a": "1"}).placement_group
    assert pg.type == "spread" and pg.servers == []
    assert c.placement_groups.get_by_name("pg").id == pg.id
    assert api_error(c.placement_groups.create, name="pg", type="spread").code == "uniqueness_error"
    st, _, body = lab.request("POST", "/placement_groups", {"name": "x", "type": "cluster"})
    assert st == 400 and body["error"]["details"]["fields"][0]["name"] == "type"
    r = c.servers.create(name="member", server_type=ServerType(name="cx23"),
                         image=Image(name="debian-12"), placement_group=pg)
    for a in [r.action, *r.next_actions]:
        a.wait_until_finished()
    assert api_error(c.placement_groups.delete, pg).code == "resource_in_use"
    c.placement_groups.update(pg, name="pg2")
    r.server.delete().wait_until_finished()
    c.placement_groups.delete(pg)
    assert c.placement_groups.get_all() == []


# -- primary IPs ----------------------------------------------------------------------------------
def test_primary_ips(lab):
    c = lab.client()
    s = server(c)
    auto = c.primary_ips.get_all()
    assert {p.type for p in auto} == {"ipv4", "ipv6"}
    assert all(p.assignee_id == s.id and p.auto_delete for p in auto)
    p = c.primary_ips.create(type="ipv4", name="spare", location=Location(name="fsn1")).primary_ip
    assert p.assignee_id is None and p.ip.startswith("127.")
    assert p.ip != s.public_net.ipv4.ip
    assert c.primary_ips.get_by_name("spare").id == p.id
    assert api_error(p.assign, s.id, "server").code == "server_not_stopped"
    s.power_off().wait_until_finished()
    assert api_error(p.assign, s.id, "server").code == "server_has_ipv4"
    old = c.primary_ips.get_by_id(s.public_net.primary_ipv4.id)
    old.unassign().wait_until_finished()
    assert c.servers.get_by_id(s.id).public_net.ipv4 is None
    p.assign(s.id, "server").wait_until_finished()
    assert c.servers.get_by_id(s.id).public_net.ipv4.ip == p.ip
    assert api_error(p.delete).code == "resource_in_use"
    p.change_dns_ptr(p.ip, "host.example.com").wait_until_finished()
    assert c.primary_ips.get_by_id(p.id).dns_ptr == [{"ip": p.ip, "dns_ptr": "host.example.com"}]
    old.change_protection(delete=True).wait_until_finished()
    assert api_error(old.delete).code == "protected"
    old.change_protection(delete=False).wait_until_finished()
    c.primary_ips.update(old, auto_delete=False, name="kept")
    assert old.delete() is True
    st, _, body = lab.request("POST", "/primary_ips", {"name": "x", "type": "ipv5",
                                                        "location": "fsn1"})
    assert st == 400 and body["error"]["details"]["fields"][0]["name"] == "type"


def test_server_create_with_existing_primary_ip(lab):
    c = lab.client()
    p = c.primary_ips.create(type="ipv4", name="mine", location=Location(name="fsn1")).primary_ip
    st, _, body = lab.request("POST", "/servers", {
        "name": "withip", "server_type": "cx23", "image": "debian-12", "location": "fsn1",
        "public_net": {"enable_ipv4": True, "enable_ipv6": False, "ipv4": p.id}})
    assert st == 201, body
    assert body["server"]["public_net"]["ipv4"]["ip"] == p.ip
    assert body["server"]["public_net"]["ipv6"] is None
    assert c.primary_ips.get_by_id(p.id).assignee_id == body["server"]["id"]


def test_catalog_lookups(lab):
    c = lab.client()
    assert c.server_types.get_by_name("ccx13").cpu_type == "dedicated"
    st = c.server_types.get_by_id(c.server_types.get_by_name("cax11").id)
    assert {l.location.name for l in st.locations} == {"fsn1", "nbg1", "hel1"}
    assert c.locations.get_by_name("sin").network_zone == "ap-southeast"
    assert c.images.get_by_id(c.images.get_by_name_and_architecture("ubuntu-24.04", "x86").id).os_flavor == "ubuntu"
    assert c.datacenters.get_by_name("ash-dc1").location.name == "ash"
    st, _, body = lab.request("GET", "/images?architecture=arm&per_page=50")
    assert body["images"] and all(i["architecture"] == "arm" for i in body["images"])


def test_per_resource_action_lists(lab):
    c = lab.client()
    s = server(c)
    v = c.volumes.create(size=10, name="v", location=Location(name="fsn1"))
    v.action.wait_until_finished()
    v.volume.attach(s).wait_until_finished()
    net = c.networks.create(name="n", ip_range="10.0.0.0/16")
    c.networks.add_subnet(net, NetworkSubnet(type="cloud", ip_range="10.0.3.0/24",
                                             network_zone="eu-central")).wait_until_finished()
    fw = c.firewalls.create(name="f", rules=rules()).firewall
    c.firewalls.set_rules(fw, rules())
    assert [a.command for a in c.volumes.get_actions(v.volume, sort=["id"])] == [
        "create_volume", "attach_volume"]
    assert [a.command for a in c.networks.get_actions(net)] == ["add_subnet"]
    assert [a.command for a in c.firewalls.get_actions(fw)] == ["set_firewall_rules"]
    for path, command in (("/volumes/actions", "attach_volume"),
                          ("/networks/actions", "add_subnet"),
                          ("/firewalls/actions", "set_firewall_rules")):
        st, _, body = lab.request("GET", path + "?sort=id:desc")
        assert st == 200 and body["actions"][0]["command"] == command, path
    st, _, body = lab.request("GET", f"/volumes/{v.volume.id}/actions?status=running")
    assert st == 200 and body["actions"] == []
    st, _, body = lab.request("GET", f"/volumes/{v.volume.id + 1}/actions")
    assert st == 404
