"""The actions of a server (``POST /servers/{id}/actions/<name>``)."""
from __future__ import annotations

import ipaddress
import secrets
import time

from .. import catalog
from ..backends.base import ServerTypeSpec
from ..errors import APIError, invalid, protected
from ..world import World, iso
from .actions import action_routes
from .base import bool_field, change_protection_handler, resource_action
from .images import image_json
from .networks import alloc_private
from .placement_groups import placement_group_json
from .primary_ips import ptr_ip_of, set_dns_ptr
from .servers import boot_patch, check_orderable, resolve_image, resolve_server_type


_server_action = resource_action("server")


def _power(command: str, method_name: str, target: str, transition: str):
    def fn(w, s, body):
        sid = s["id"]
        if s["status"] == target:  # nothing to do: quick success, backend not called
            return w.new_action(command, [("server", sid)], duration=0.0)
        before = s["status"]
        spec = w.server_spec(s)
        if target == "running":
            rescue = s["rescue_enabled"]
            call = (getattr(w.backend, method_name), (spec, rescue))
            success = boot_patch(s, rescue)
        else:
            call = (getattr(w.backend, method_name), (spec,))
            success = {"status": "off", "_booted": None}
        s["status"] = transition
        return w.new_action(command, [("server", sid)], locks=[("server", sid)],
                            on_success=[["server", sid, success]],
                            on_error=[["server", sid, {"status": before}]],
                            backend_call=call)
    fn.__name__ = command
    return fn


poweron = _server_action(_power("start_server", "power_on", "running", "starting"))
poweroff = _server_action(_power("stop_server", "power_off", "off", "stopping"))
shutdown = _server_action(_power("shutdown_server", "shutdown", "off", "stopping"))


def _reboot(command: str, method_name: str):
    def fn(w, s, body):
        sid = s["id"]
        before = s["status"]
        rescue = s["rescue_enabled"]
        spec = w.server_spec(s)
        if before == "off":
            s["status"] = "starting"
        return w.new_action(command, [("server", sid)], locks=[("server", sid)],
                            on_success=[["server", sid, boot_patch(s, rescue)]],
                            on_error=[["server", sid, {"status": before}]],
                            backend_call=(getattr(w.backend, method_name), (spec, rescue)))
    fn.__name__ = command
    return fn


reboot = _server_action(_reboot("reboot_server", "reboot"))
reset = _server_action(_reboot("reset_server", "reset"))


@_server_action
def rebuild(w, s, body):
    if s["protection"].get("rebuild"):
        raise protected("server", s["id"], "rebuild")
    st = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]
    img = resolve_image(w, body.get("image"), st["architecture"])
    if "user_data" in body:
        s["_user_data"] = body["user_data"]
    before = s["status"]
    s["status"] = "rebuilding"
    s["rescue_enabled"] = False
    spec = w.server_spec(s)
    a = w.new_action("rebuild_server", [("server", s["id"])], locks=[("server", s["id"])],
                     on_success=[["server", s["id"], {"status": "running", "image": img["id"],
                                                      "_booted": "disk"}]],
                     on_error=[["server", s["id"], {"status": "off" if before == "off" else before}]],
                     backend_call=(w.backend.rebuild,
                                   (spec, img["name"] or f"snapshot:{img['id']}")))
    return {"action": w.action_json(a),
            "root_password": None if s["_ssh_keys"] else secrets.token_urlsafe(15)}


@_server_action
def enable_rescue(w, s, body):
    rtype = body.get("type") or "linux64"
    if rtype not in ("linux64",):
        raise invalid({"type": "only 'linux64' is supported"})
    keys = [w.find("ssh_key", k, "ssh_keys")["public_key"] for k in (body.get("ssh_keys") or [])]
    s["rescue_enabled"] = True
    s["_rescue_keys"] = keys
    spec = w.server_spec(s)
    a = w.new_action("enable_rescue", [("server", s["id"])], locks=[("server", s["id"])],
                     on_error=[["server", s["id"], {"rescue_enabled": False}]],
                     backend_call=(w.backend.enable_rescue, (spec, keys)))
    return {"action": w.action_json(a), "root_password": secrets.token_urlsafe(15)}


@_server_action
def disable_rescue(w, s, body):
    s["rescue_enabled"] = False
    s["_rescue_keys"] = []
    spec = w.server_spec(s)
    return w.new_action("disable_rescue", [("server", s["id"])], locks=[("server", s["id"])],
                        backend_call=(w.backend.disable_rescue, (spec,)))


@_server_action
def change_type(w, s, body):
    st = resolve_server_type(body.get("server_type"))
    upgrade = bool_field(body, "upgrade_disk")
    if upgrade is None:
        raise invalid({"upgrade_disk": "is required (true or false)"})
    cur = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]
    if st["architecture"] != cur["architecture"]:
        raise invalid({"server_type": f"cannot change architecture {cur['architecture']} -> "
                                      f"{st['architecture']}"})
    check_orderable(w, st, catalog.DATACENTER_BY_NAME[s["datacenter"]]["location"]["name"])
    if s["status"] != "off":
        raise APIError(409, "server_not_stopped", f"server {s['id']} must be off to change its type")
    if st["disk"] < s["primary_disk_size"]:
        raise invalid({"server_type": f"{st['name']} has a {st['disk']} GB disk, smaller than the "
                                      f"server's {s['primary_disk_size']} GB"})
    new = ServerTypeSpec(name=st["name"], cores=st["cores"], memory_gb=st["memory"],
                         disk_gb=st["disk"] if upgrade else s["primary_disk_size"],
                         architecture=st["architecture"], cpu_type=st["cpu_type"])
    patch = {"server_type": st["name"]}
    if upgrade:
        patch["primary_disk_size"] = st["disk"]
    return w.new_action("change_server_type", [("server", s["id"])], locks=[("server", s["id"])],
                        on_success=[["server", s["id"], patch]],
                        backend_call=(w.backend.change_type, (w.server_spec(s), new, upgrade)))


@_server_action
def enable_backup(w, s, body):
    s["backup_window"] = "22-02"
    return w.new_action("enable_backup", [("server", s["id"])], locks=[("server", s["id"])])


@_server_action
def disable_backup(w, s, body):
    s["backup_window"] = None
    return w.new_action("disable_backup", [("server", s["id"])], locks=[("server", s["id"])])


@_server_action
def attach_to_network(w, s, body):
    n = w.find("network", body.get("network"), "network")
    if any(pn["network"] == n["id"] for pn in s["private_net"]):
        raise APIError(409, "server_already_attached",
                       f"server {s['id']} is already attached to network {n['id']}")
    alias = _alias_ips(w, s, n, body.get("alias_ips") or [])
    s["private_net"].append(alloc_private(w, s, n, body.get("ip"), alias, body.get("ip_range")))
    return w.new_action("attach_to_network", [("server", s["id"]), ("network", n["id"])],
                        locks=[("server", s["id"])])


def _alias_ips(w: World, s: dict, n: dict, alias) -> list:
    """Validate alias IPs for server ``s`` in network ``n``: addresses of a subnet, not the
    gateway, not used by another server (nor as its main IP)."""
    if not isinstance(alias, list) or not all(isinstance(a, str) for a in alias):
        raise invalid({"alias_ips": "must be a list of IP addresses"})
    subnets = [ipaddress.ip_network(sn["ip_range"]) for sn in n["subnets"]]
    gateway = str(ipaddress.ip_network(n["ip_range"]).network_address + 1)
    taken = {x for o in w.objs["server"].values() if o["id"] != s["id"]
             for pn in o["private_net"] if pn["network"] == n["id"]
             for x in [pn["ip"], *pn["alias_ips"]]}
    own = next((pn["ip"] for pn in s["private_net"] if pn["network"] == n["id"]), None)
    for a in alias:
        try:
            addr = ipaddress.ip_address(a)
        except ValueError:
            raise invalid({"alias_ips": f"{a!r} is not an IP address"})
        if not any(addr in sn for sn in subnets) or a == gateway:
            raise invalid({"alias_ips": f"{a} is not a usable address of network {n['id']}"})
        if a in taken or a == own:
            raise APIError(409, "ip_not_available", f"IP {a} is already used in network {n['id']}")
    if len(set(alias)) != len(alias):
        raise invalid({"alias_ips": "contains duplicates"})
    return list(alias)


@_server_action
def change_alias_ips(w, s, body):
    n = w.find("network", body.get("network"), "network")
    pn = next((x for x in s["private_net"] if x["network"] == n["id"]), None)
    if pn is None:
        raise APIError(409, "server_not_attached_to_network",
                       f"server {s['id']} is not attached to network {n['id']}")
    if "alias_ips" not in body:
        raise invalid({"alias_ips": "is required"})
    pn["alias_ips"] = _alias_ips(w, s, n, body["alias_ips"])
    return w.new_action("change_alias_ips", [("server", s["id"]), ("network", n["id"])],
                        locks=[("server", s["id"])])


@_server_action
def change_dns_ptr_server(w, s, body):
    """Reverse DNS of the server's primary IPv4 or of an address in its IPv6 network;
    stored on the primary IP, as the API keeps it there."""
    ip = body.get("ip")
    if not isinstance(ip, str):
        raise invalid({"ip": "is required"})
    if "dns_ptr" not in body:
        raise invalid({"dns_ptr": "is required (a hostname, or null to reset)"})
    for t in ("ipv4_id", "ipv6_id"):
        p = w.objs["primary_ip"].get(s.get(t))
        if p is not None and ptr_ip_of(p, ip):
            set_dns_ptr(p, ip, body["dns_ptr"])
            w.touch("primary_ip", p["id"])
            return w.new_action("change_dns_ptr", [("server", s["id"])])
    fip = next((f for f in w.objs["floating_ip"].values()
                if f["server"] == s["id"] and ptr_ip_of(f, ip)), None)
    if fip is not None:
        set_dns_ptr(fip, ip, body["dns_ptr"])
        w.touch("floating_ip", fip["id"])
        return w.new_action("change_dns_ptr", [("server", s["id"])])
    raise invalid({"ip": f"{ip} is not an address of server {s['id']}"})


@_server_action
def create_image(w, s, body):
    """Snapshot (or backup) of the server's disk: an image ``creating`` until the action
    has finished; the server is locked meanwhile.  A blocking backend copies the disk."""
    itype = body.get("type") or "snapshot"
    if itype not in ("snapshot", "backup"):
        raise invalid({"type": "must be 'snapshot' or 'backup'"})
    if itype == "backup" and not s["backup_window"]:
        raise invalid({"type": f"server {s['id']} has no backups enabled; enable them "
                               "first (enable_backup)"})
    desc = body.get("description")
    if desc is not None and not isinstance(desc, str):
        raise invalid({"description": "must be a string"})
    labels = w.check_labels(body.get("labels"))
    st = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]
    src = catalog.IMAGE_BY_ID.get(s.get("image")) or w.objs["image"].get(s.get("image")) or {}
    iid = w.new_id("image")
    now = time.time()
    img = w.put("image", {
        "id": iid, "type": itype, "status": "creating", "name": None,
        "description": desc if desc is not None else f"{s['name']}-{iso(now)}",
        "image_size": None, "disk_size": s["primary_disk_size"], "created": iso(now),
        "created_from": {"id": s["id"], "name": s["name"]},
        "bound_to": s["id"] if itype == "backup" else None,
        "os_flavor": src.get("os_flavor", "unknown"), "os_version": src.get("os_version"),
        "rapid_deploy": False, "protection": {"delete": False}, "deprecated": None,
        "deprecation": None, "deleted": None, "labels": labels,
        "architecture": st["architecture"]})
    size = round(min(s["primary_disk_size"], 2.0 + s["primary_disk_size"] * 0.02), 2)
    a = w.new_action("create_image", [("server", s["id"]), ("image", iid)],
                     locks=[("server", s["id"]), ("image", iid)],
                     on_success=[["image", iid, {"status": "available", "image_size": size}]],
                     on_error=[["image", iid, None]],
                     backend_call=(w.backend.create_image, (w.server_spec(s), iid)))
    return {"image": image_json(w, img), "action": w.action_json(a)}


@_server_action
def attach_iso(w, s, body):
    ref = body.get("iso")
    iso_ = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        iso_ = catalog.ISO_BY_ID.get(int(ref))
    elif isinstance(ref, str):
        iso_ = next((i for i in catalog.ISOS if i["name"] == ref), None)
    if iso_ is None:
        raise invalid({"iso": f"ISO {ref!r} not found"})
    arch = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]["architecture"]
    if iso_["architecture"] not in (None, arch):
        raise invalid({"iso": f"ISO {iso_['name']} is for {iso_['architecture']}, the server "
                              f"is {arch}"})
    s["_iso"] = iso_["id"]
    return w.new_action("attach_iso", [("server", s["id"])], locks=[("server", s["id"])])


@_server_action
def detach_iso(w, s, body):
    s["_iso"] = None  # detaching when none is attached succeeds as well
    return w.new_action("detach_iso", [("server", s["id"])], locks=[("server", s["id"])])


@_server_action
def reset_password(w, s, body):
    a = w.new_action("reset_password", [("server", s["id"])], locks=[("server", s["id"])])
    return {"action": w.action_json(a), "root_password": secrets.token_urlsafe(15)}


@_server_action
def request_console(w, s, body):
    """A VNC-over-websocket console: the URL is data only (loopback, nothing serves it)."""
    a = w.new_action("request_console", [("server", s["id"])])
    token = secrets.token_urlsafe(24)
    host = (getattr(w, "request_base", "") or "http://127.0.0.1").replace("http://", "ws://")
    return {"action": w.action_json(a), "password": secrets.token_urlsafe(12),
            "wss_url": f"{host}/__lab/console?server_id={s['id']}&token={token}"}


@_server_action
def detach_from_network(w, s, body):
    n = w.find("network", body.get("network"), "network")
    if not any(pn["network"] == n["id"] for pn in s["private_net"]):
        raise APIError(409, "server_not_attached_to_network",
                       f"server {s['id']} is not attached to network {n['id']}")
    s["private_net"] = [pn for pn in s["private_net"] if pn["network"] != n["id"]]
    return w.new_action("detach_from_network", [("server", s["id"]), ("network", n["id"])],
                        locks=[("server", s["id"])])


@_server_action
def add_to_placement_group(w, s, body):
    g = w.find("placement_group", body.get("placement_group"), "placement_group")
    if s.get("placement_group") is not None:
        raise APIError(409, "server_already_in_placement_group",
                       f"server {s['id']} is already in placement group {s['placement_group']}")
    if s["status"] != "off":
        raise APIError(409, "server_not_stopped",
                       f"server {s['id']} must be off to be added to a placement group")
    if len(placement_group_json(w, g)["servers"]) >= 10:
        raise APIError(422, "placement_error", "a spread placement group holds at most 10 servers")
    s["placement_group"] = g["id"]
    return w.new_action("add_to_placement_group", [("server", s["id"]),
                                                   ("placement_group", g["id"])],
                        locks=[("server", s["id"])])


@_server_action
def remove_from_placement_group(w, s, body):
    if s.get("placement_group") is None:
        raise APIError(409, "server_not_in_placement_group",
                       f"server {s['id']} is not in a placement group")
    gid = s["placement_group"]
    s["placement_group"] = None
    return w.new_action("remove_from_placement_group", [("server", s["id"]),
                                                        ("placement_group", gid)],
                        locks=[("server", s["id"])])


change_protection_server = change_protection_handler("server", ("delete", "rebuild"))


# The actions of ``POST /servers/{id}/actions/<name>``, by name.
ACTIONS = {
    "poweron": poweron, "poweroff": poweroff, "shutdown": shutdown,
    "reboot": reboot, "reset": reset, "rebuild": rebuild,
    "enable_rescue": enable_rescue, "disable_rescue": disable_rescue,
    "change_type": change_type, "attach_to_network": attach_to_network,
    "detach_from_network": detach_from_network,
    "add_to_placement_group": add_to_placement_group,
    "remove_from_placement_group": remove_from_placement_group,
    "change_protection": change_protection_server,
    "change_alias_ips": change_alias_ips,
    "change_dns_ptr": change_dns_ptr_server,
    "reset_password": reset_password,
    "request_console": request_console,
    "create_image": create_image, "attach_iso": attach_iso,
    "detach_iso": detach_iso,
    "enable_backup": enable_backup, "disable_backup": disable_backup,
}

ROUTES = action_routes("servers", "server", ACTIONS)
