"""Places where the lab used to differ from the real API, through hcloud over HTTP: one
route per destination, attach_to_network's ip_range, the server actions change_alias_ips,
change_dns_ptr, reset_password and request_console, the default reverse DNS entry of a new
IPv4, error messages without Python dict text, and start_server running after the create."""
import pytest
from hcloud import APIException
from hcloud.firewalls import FirewallResource
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import NetworkRoute, NetworkSubnet
from hcloud.server_types import ServerType


def api_error(fn, *args, **kw) -> APIException:
    with pytest.raises(APIException) as exc:
        fn(*args, **kw)
    return exc.value


def server(c, name="srv", wait=True):
    r = c.servers.create(name=name, server_type=ServerType(name="cx23"),
                         image=Image(name="debian-13"), location=Location(name="fsn1"))
    if wait:
        for a in [r.action, *r.next_actions]:
            a.wait_until_finished()
    return c.servers.get_by_id(r.server.id)


def network(c, subnets=("10.0.1.0/24", "10.0.2.0/24")):
    return c.networks.create(name="net", ip_range="10.0.0.0/16", subnets=[
        NetworkSubnet(type="cloud", ip_range=r, network_zone="eu-central") for r in subnets])


def test_second_route_to_a_destination_is_refused(lab):
    c = lab.client()
    net = network(c)
    c.networks.add_route(net, NetworkRoute(destination="10.100.1.0/24",
                                           gateway="10.0.1.1")).wait_until_finished()
    err = api_error(c.networks.add_route, net,
                    NetworkRoute(destination="10.100.1.0/24", gateway="10.0.1.5"))
    assert err.code == "route_already_exists"
    assert "10.100.1.0/24" in err.message and "{" not in err.message
    routes = c.networks.get_by_id(net.id).routes
    assert [(r.destination, r.gateway) for r in routes] == [("10.100.1.0/24", "10.0.1.1")]
    # and at create: two routes to one destination are invalid input, nothing is written
    err = api_error(c.networks.create, name="two", ip_range="10.1.0.0/16", routes=[
        NetworkRoute(destination="10.200.0.0/24", gateway="10.1.0.2"),
        NetworkRoute(destination="10.200.0.0/24", gateway="10.1.0.3")])
    assert err.code == "invalid_input"
    assert [n.name for n in c.networks.get_all()] == ["net"]


def test_attach_to_network_honours_ip_range(lab):
    c = lab.client()
    net = network(c)
    s = server(c)
    s.power_off().wait_until_finished()
    err = api_error(c.servers.attach_to_network, s, net, ip_range="10.0.3.0/24")
    assert err.code == "invalid_input" and err.details["fields"][0]["name"] == "ip_range"
    err = api_error(c.servers.attach_to_network, s, net, ip_range="10.0.2.0/25")
    assert err.code == "invalid_input"
    c.servers.attach_to_network(s, net, ip_range="10.0.2.0/24").wait_until_finished()
    ip = c.servers.get_by_id(s.id).private_net[0].ip
    assert ip.startswith("10.0.2.") and ip != "10.0.2.1"


def test_change_alias_ips(lab):
    c = lab.client()
    net = network(c)
    s, t = server(c, "a"), server(c, "b")
    c.servers.attach_to_network(s, net, ip="10.0.1.5").wait_until_finished()
    c.servers.attach_to_network(t, net, ip="10.0.1.6").wait_until_finished()
    a = c.servers.change_alias_ips(s, net, ["10.0.1.10", "10.0.2.10"])
    assert a.command == "change_alias_ips"
    a.wait_until_finished()
    assert c.servers.get_by_id(s.id).private_net[0].alias_ips == ["10.0.1.10", "10.0.2.10"]
    assert api_error(c.servers.change_alias_ips, t, net, ["10.0.1.10"]).code == "ip_not_available"
    assert api_error(c.servers.change_alias_ips, t, net, ["10.9.9.9"]).code == "invalid_input"
    c.servers.change_alias_ips(s, net, []).wait_until_finished()
    assert c.servers.get_by_id(s.id).private_net[0].alias_ips == []
    other = c.networks.create(name="other", ip_range="10.5.0.0/16")
    err = api_error(c.servers.change_alias_ips, s, other, ["10.5.0.9"])
    assert err.code == "server_not_attached_to_network"


def test_server_change_dns_ptr_and_default_entry(lab):
    c = lab.client()
    s = server(c)
    ip = s.public_net.ipv4.ip
    default = "static." + ".".join(reversed(ip.split("."))) + ".clients.your-server.de"
    assert s.public_net.ipv4.dns_ptr == default
    c.servers.change_dns_ptr(s, ip, "web1.example.com").wait_until_finished()
    s = c.servers.get_by_id(s.id)
    assert s.public_net.ipv4.dns_ptr == "web1.example.com"
    p = c.primary_ips.get_by_id(s.public_net.primary_ipv4.id)
    assert p.dns_ptr == [{"ip": ip, "dns_ptr": "web1.example.com"}]
    v6 = s.public_net.ipv6.ip.split("/")[0] + "1"
    c.servers.change_dns_ptr(s, v6, "web1.example.com").wait_until_finished()
    assert {"ip": v6, "dns_ptr": "web1.example.com"} in \
        c.servers.get_by_id(s.id).public_net.ipv6.dns_ptr
    c.servers.change_dns_ptr(s, ip, None).wait_until_finished()  # reset: default again
    assert c.servers.get_by_id(s.id).public_net.ipv4.dns_ptr == default
    assert api_error(c.servers.change_dns_ptr, s, "192.0.2.7", "x.example.com").code == \
        "invalid_input"
    assert api_error(c.servers.change_dns_ptr, s, ip, "not a host!").code == "invalid_input"


def test_new_ipv4_primary_ip_has_its_default_reverse_entry(lab):
    c = lab.client()
    p4 = c.primary_ips.create(type="ipv4", name="p4", location=Location(name="fsn1")).primary_ip
    assert p4.dns_ptr == [{"ip": p4.ip, "dns_ptr": "static." + ".".join(
        reversed(p4.ip.split("."))) + ".clients.your-server.de"}]
    assert p4.dns_ptr[0]["dns_ptr"]  # the client that read dns_ptr[0] no longer crashes
    p6 = c.primary_ips.create(type="ipv6", name="p6", location=Location(name="fsn1")).primary_ip
    assert p6.dns_ptr == []
    err = api_error(c.primary_ips.change_dns_ptr, p4, "127.9.9.9", "x.example.com")
    assert err.code == "invalid_input"


def test_reset_password_and_request_console(lab):
    c = lab.client()
    s = server(c)
    r = c.servers.reset_password(s)
    assert r.action.command == "reset_password" and len(r.root_password) >= 12
    r.action.wait_until_finished()
    con = c.servers.request_console(s)
    assert con.action.command == "request_console"
    assert con.wss_url.startswith("ws://127.0.0.1:") and f"server_id={s.id}" in con.wss_url
    assert con.password


def test_error_messages_have_no_python_dict_text(lab):
    c = lab.client()
    s = server(c)
    fw = c.firewalls.create(name="fw", resources=[FirewallResource(type="server", server=s)])
    err = api_error(c.firewalls.apply_to_resources, fw.firewall,
                    [FirewallResource(type="server", server=s)])
    assert err.code == "firewall_already_applied"
    assert err.message == f"firewall {fw.firewall.id} is already applied to server {s.id}"
    err = api_error(c.firewalls.remove_from_resources, fw.firewall,
                    [FirewallResource(type="label_selector",
                                      label_selector=__import__("hcloud").firewalls
                                      .FirewallResourceLabelSelector(selector="a=b"))])
    assert err.message.endswith("is not applied to label selector 'a=b'")
    net = network(c, ("10.0.1.0/24",))
    err = api_error(c.networks.delete_route, net,
                    NetworkRoute(destination="10.9.0.0/24", gateway="10.0.1.1"))
    assert "{" not in err.message and "10.9.0.0/24 via 10.0.1.1" in err.message


def test_start_server_runs_after_the_create(lab):
    c = lab.client()
    lab.configure(durations={"create_server": 30.0, "start_server": 30.0})  # 0.3 s each
    r = c.servers.create(name="seq", server_type=ServerType(name="cx23"),
                         image=Image(name="debian-13"))
    start = r.next_actions[0]
    assert start.command == "start_server" and start.status == "running"
    r.action.wait_until_finished()
    assert c.actions.get_by_id(start.id).status == "running"  # not finished alongside
    assert c.servers.get_by_id(r.server.id).status == "starting"
    start.wait_until_finished()
    create_done = c.actions.get_by_id(r.action.id).finished
    start_done = c.actions.get_by_id(start.id).finished
    assert start_done >= create_done
    assert c.servers.get_by_id(r.server.id).status == "running"
