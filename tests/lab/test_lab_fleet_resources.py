"""Floating IPs, snapshots and backups, reverse DNS, ISOs and server metrics through hcloud
over HTTP."""
from datetime import datetime, timedelta, timezone

import pytest
from hcloud import APIException
from hcloud.images import Image
from hcloud.isos import Iso
from hcloud.locations import Location
from hcloud.server_types import ServerType


def api_error(fn, *args, **kw) -> APIException:
    with pytest.raises(APIException) as exc:
        fn(*args, **kw)
    return exc.value


def server(c, name="srv", image="debian-13", type_="cx23", location="fsn1"):
    r = c.servers.create(name=name, server_type=ServerType(name=type_),
                         image=Image(id=image) if isinstance(image, int) else Image(name=image),
                         location=Location(name=location))
    for a in [r.action, *r.next_actions]:
        a.wait_until_finished()
    return c.servers.get_by_id(r.server.id)


# -- floating IPs --------------------------------------------------------------------------
def test_floating_ip_crud(lab):
    c = lab.client()
    r = c.floating_ips.create(type="ipv4", home_location=Location(name="nbg1"),
                              description="vip", labels={"role": "lb"}, name="vip")
    assert r.action is None
    f = r.floating_ip
    assert (f.type, f.home_location.name, f.server, f.description) == ("ipv4", "nbg1", None, "vip")
    assert f.ip.startswith("127.") and f.dns_ptr[0]["ip"] == f.ip
    assert c.floating_ips.get_by_name("vip").id == f.id
    assert [x.id for x in c.floating_ips.get_all(label_selector="role=lb")] == [f.id]
    f = c.floating_ips.update(f, description="vip2", labels={"role": "web"}, name="vip2")
    assert (f.description, f.labels, f.name) == ("vip2", {"role": "web"}, "vip2")
    six = c.floating_ips.create(type="ipv6", home_location=Location(name="fsn1")).floating_ip
    assert six.ip.endswith("::/64") and six.dns_ptr == []
    assert api_error(c.floating_ips.create, type="ipv5", home_location=Location(name="fsn1")) \
        .code == "invalid_input"
    assert api_error(c.floating_ips.create, type="ipv4").code == "invalid_input"
    c.floating_ips.change_protection(f, delete=True).wait_until_finished()
    assert api_error(c.floating_ips.delete, f).code == "protected"
    c.floating_ips.change_protection(f, delete=False).wait_until_finished()
    c.floating_ips.delete(f)
    c.floating_ips.delete(six)
    assert c.floating_ips.get_all() == []


def test_floating_ip_assign_move_unassign(lab):
    c = lab.client()
    a, b = server(c, "a"), server(c, "b")
    r = c.floating_ips.create(type="ipv4", server=a)
    assert r.action.command == "assign_floating_ip"
    r.action.wait_until_finished()
    f = r.floating_ip
    assert c.floating_ips.get_by_id(f.id).home_location.name == "fsn1"
    assert c.servers.get_by_id(a.id).public_net.floating_ips[0].id == f.id
    assert f.ip not in (a.public_net.ipv4.ip, b.public_net.ipv4.ip)
    c.floating_ips.assign(f, b).wait_until_finished()  # moved in one action
    assert c.floating_ips.get_by_id(f.id).server.id == b.id
    assert c.servers.get_by_id(a.id).public_net.floating_ips == []
    assert api_error(c.floating_ips.assign, f, b).code == "floating_ip_assigned"
    c.floating_ips.unassign(f).wait_until_finished()
    assert c.floating_ips.get_by_id(f.id).server is None
    c.floating_ips.assign(f, a).wait_until_finished()
    c.servers.delete(a).wait_until_finished()  # a deleted server frees its floating IP
    assert c.floating_ips.get_by_id(f.id).server is None


def test_floating_ip_reverse_dns(lab):
    c = lab.client()
    s = server(c)
    r = c.floating_ips.create(type="ipv4", server=s)
    r.action.wait_until_finished()
    f = r.floating_ip
    c.floating_ips.change_dns_ptr(f, f.ip, "vip.example.com").wait_until_finished()
    assert c.floating_ips.get_by_id(f.id).dns_ptr == [{"ip": f.ip, "dns_ptr": "vip.example.com"}]
    c.servers.change_dns_ptr(s, f.ip, "vip2.example.com").wait_until_finished()  # via server
    assert c.floating_ips.get_by_id(f.id).dns_ptr[0]["dns_ptr"] == "vip2.example.com"
    c.floating_ips.change_dns_ptr(f, f.ip, None).wait_until_finished()
    assert c.floating_ips.get_by_id(f.id).dns_ptr[0]["dns_ptr"].startswith("static.")
    six = c.floating_ips.create(type="ipv6", home_location=Location(name="fsn1")).floating_ip
    addr = six.ip.split("/")[0] + "1"
    c.floating_ips.change_dns_ptr(six, addr, "v6.example.com").wait_until_finished()
    assert c.floating_ips.get_by_id(six.id).dns_ptr == [{"ip": addr, "dns_ptr": "v6.example.com"}]
    assert api_error(c.floating_ips.change_dns_ptr, six, "2001:db9::1", "x.example.com").code \
        == "invalid_input"


# -- snapshots and backups ----------------------------------------------------------------------
def test_snapshot_create_update_rebuild_delete(lab):
    c = lab.client()
    s = server(c)
    r = c.servers.create_image(s, description="before upgrade", type="snapshot",
                               labels={"keep": "yes"})
    assert r.action.command == "create_image" and r.image.status == "creating"
    assert api_error(s.reboot).code == "locked"  # the server is locked while it runs
    r.action.wait_until_finished()
    img = c.images.get_by_id(r.image.id)
    assert (img.type, img.status, img.description, img.labels) == (
        "snapshot", "available", "before upgrade", {"keep": "yes"})
    assert img.created_from.id == s.id and img.bound_to is None
    assert img.disk_size == 40 and img.image_size > 0 and img.os_flavor == "debian"
    assert [i.id for i in c.images.get_all(type="snapshot")] == [img.id]
    assert img.id not in [i.id for i in c.images.get_all(type="system")]
    assert [i.id for i in c.images.get_all(label_selector="keep=yes")] == [img.id]
    img = c.images.update(img, description="golden", labels={"keep": "no"})
    assert (img.description, img.labels) == ("golden", {"keep": "no"})
    # rebuild from the snapshot, and a new server from it
    c.servers.rebuild(s, Image(id=img.id)).action.wait_until_finished()
    assert c.servers.get_by_id(s.id).image.id == img.id
    t = server(c, "clone", image=img.id)
    assert t.image.id == img.id and t.image.type == "snapshot"
    # protection, then delete; the snapshot outlives its server
    c.images.change_protection(img, delete=True).wait_until_finished()
    assert api_error(c.images.delete, img).code == "protected"
    c.images.change_protection(img, delete=False).wait_until_finished()
    c.servers.delete(s).wait_until_finished()
    assert c.images.get_by_id(img.id).created_from.id == s.id
    c.images.delete(img)
    assert api_error(c.images.get_by_id, img.id).code == "not_found"


def test_snapshot_errors(lab):
    c = lab.client()
    s = server(c)
    assert api_error(c.servers.create_image, s, type="golden").code == "invalid_input"
    assert api_error(c.servers.create_image, s, type="backup").code == "invalid_input"
    img = c.servers.create_image(s).image  # a snapshot of an x86 server is x86
    assert img.architecture == "x86"
    system = c.images.get_by_name_and_architecture("debian-13", "x86")
    assert api_error(c.images.delete, system).code == "forbidden"
    assert api_error(c.images.update, system, description="x").code == "forbidden"


def test_image_still_creating_cannot_be_used(lab):
    c = lab.client()
    s = server(c)
    lab.configure(durations={"create_image": 300.0})
    img = c.servers.create_image(s).image
    err = api_error(c.servers.create, name="early", server_type=ServerType(name="cx23"),
                    image=Image(id=img.id))
    assert err.code == "image_not_available"


def test_backups_belong_to_their_server(lab):
    c = lab.client()
    s = server(c)
    c.servers.enable_backup(s).wait_until_finished()
    r = c.servers.create_image(s, type="backup")
    r.action.wait_until_finished()
    b = c.images.get_by_id(r.image.id)
    assert b.type == "backup" and b.bound_to.id == s.id
    assert [i.id for i in c.images.get_all(type="backup", bound_to=[str(s.id)])] == [b.id]
    keep = c.servers.create_image(s, type="backup")
    keep.action.wait_until_finished()
    kept = c.images.update(keep.image, type="snapshot")  # a backup turned into a snapshot
    assert kept.type == "snapshot" and kept.bound_to is None
    c.servers.delete(s).wait_until_finished()
    assert api_error(c.images.get_by_id, b.id).code == "not_found"  # went with the server
    assert c.images.get_by_id(kept.id).type == "snapshot"


# -- ISOs ---------------------------------------------------------------------------------------
def test_isos_catalog_and_attach(lab):
    c = lab.client()
    isos = c.isos.get_all()
    assert len(isos) >= 4 and all(i.type == "public" for i in isos)
    x86 = c.isos.get_all(architecture=["x86"])
    assert x86 and all(i.architecture == "x86" for i in x86)
    nixos = c.isos.get_by_name("nixos-minimal-25.11-x86_64-linux.iso")
    assert c.isos.get_by_id(nixos.id).name == nixos.name
    s = server(c)
    c.servers.attach_iso(s, nixos).wait_until_finished()
    assert c.servers.get_by_id(s.id).iso.id == nixos.id
    arm = c.isos.get_by_name("nixos-minimal-25.11-aarch64-linux.iso")
    assert api_error(c.servers.attach_iso, s, arm).code == "invalid_input"
    assert api_error(c.servers.attach_iso, s, Iso(name="nope.iso")).code == "invalid_input"
    c.servers.detach_iso(s).wait_until_finished()
    assert c.servers.get_by_id(s.id).iso is None
    c.servers.detach_iso(s).wait_until_finished()  # nothing attached: still a success


# -- metrics ------------------------------------------------------------------------------------
def test_server_metrics_shapes(lab):
    c = lab.client()
    s = server(c, type_="cx33")
    end = datetime.now(timezone.utc)
    start = end - timedelta(minutes=10)
    m = c.servers.get_metrics(s, type=["cpu", "disk", "network"], start=start, end=end,
                              step=60).metrics
    assert set(m.time_series) == {
        "cpu", "disk.0.iops.read", "disk.0.iops.write", "disk.0.bandwidth.read",
        "disk.0.bandwidth.write", "network.0.pps.in", "network.0.pps.out",
        "network.0.bandwidth.in", "network.0.bandwidth.out"}
    cpu = m.time_series["cpu"]["values"]
    assert len(cpu) == 11 and m.step == 60
    assert all(isinstance(t, float) and isinstance(v, str) for t, v in cpu)
    assert cpu[-1][0] - cpu[0][0] == 600
    recent = [float(v) for t, v in cpu if t >= s.created.timestamp()]
    assert recent and all(0 <= v <= 400 for v in recent)  # 4 cores: at most 400 %
    assert any(v > 0 for v in recent)
    again = c.servers.get_metrics(s, type="cpu", start=start, end=end, step=60).metrics
    assert again.time_series["cpu"] == m.time_series["cpu"]  # deterministic
    s.power_off().wait_until_finished()
    off = c.servers.get_metrics(s, type="cpu", start=start, end=end, step=60).metrics
    assert {v for _, v in off.time_series["cpu"]["values"]} == {"0"}


def test_server_metrics_bad_input(lab):
    c = lab.client()
    s = server(c)
    end = datetime.now(timezone.utc)
    assert api_error(c.servers.get_metrics, s, type="ram", start=end - timedelta(hours=1),
                     end=end).code == "invalid_input"
    assert api_error(c.servers.get_metrics, s, type="cpu", start=end,
                     end=end - timedelta(hours=1)).code == "invalid_input"
    assert api_error(c.servers.get_metrics, s, type="cpu", start=end - timedelta(days=30),
                     end=end, step=1).code == "invalid_input"
    st, _, body = lab.request("GET", f"/servers/{s.id}/metrics?type=cpu")
    assert st == 400 and body["error"]["code"] == "invalid_input"
