"""Floating IPs."""
from __future__ import annotations

import time

from .. import catalog
from ..errors import APIError, invalid, uniqueness
from ..world import default_ptr, iso
from .actions import resource_routes
from .base import (Response, change_protection_handler, check_protection, json_body,
                   list_and_get, ok, resource_action, update_handler)
from .primary_ips import dc_of, ptr_ip_of, set_dns_ptr


def floating_ip_json(w, f):
    return {"id": f["id"], "name": f["name"], "description": f["description"], "ip": f["ip"],
            "type": f["type"], "server": f["server"], "dns_ptr": f["dns_ptr"],
            "home_location": catalog.LOCATION_BY_NAME[f["home_location"]],
            "blocked": False, "protection": f["protection"], "labels": f["labels"],
            "created": f["created"]}


list_floating_ips, get_floating_ip = list_and_get(
    "floating_ip", "floating_ips", floating_ip_json)


def _fip_assign(w, f, s) -> dict:
    """Assign ``f`` to server ``s`` (moving it from another server): one action, the
    backend is told to stop answering on the old server and to answer on the new one."""
    old = w.objs["server"].get(f["server"]) if f["server"] is not None else None
    old_spec = w.server_spec(old) if old else None
    f["server"] = s["id"]
    w.touch("floating_ip", f["id"])
    spec = w.server_spec(s)

    def call():
        if old_spec is not None:
            w.backend.unassign_floating_ip(old_spec, f["ip"])
        w.backend.assign_floating_ip(spec, f["ip"])
    return w.new_action("assign_floating_ip", [("floating_ip", f["id"]), ("server", s["id"])],
                        locks=[("floating_ip", f["id"])], backend_call=(call, ()))


def create_floating_ip(w, req):
    body = json_body(req)
    ftype = body.get("type")
    if ftype not in ("ipv4", "ipv6"):
        raise invalid({"type": "must be 'ipv4' or 'ipv6'"})
    labels = w.check_labels(body.get("labels"))
    desc = body.get("description")
    if desc is not None and not isinstance(desc, str):
        raise invalid({"description": "must be a string"})
    server = w.get("server", body["server"]) if body.get("server") is not None else None
    loc = body.get("home_location")
    if loc is not None:
        loc = catalog.DATACENTER_BY_NAME[dc_of(w, {"location": loc})]["location"]["name"]
    elif server is not None:
        loc = catalog.DATACENTER_BY_NAME[server["datacenter"]]["location"]["name"]
    else:
        raise invalid({"home_location": "give home_location or server"})
    name = body.get("name")
    if name is not None:
        name = w.check_name(name)
        if w.name_taken("floating_ip", name):
            raise uniqueness("name", f"floating IP name {name!r} is already used")
    fid = w.new_id("floating_ip")
    ip = w.addresses.ipv4() if ftype == "ipv4" else w.addresses.ipv6(floating=True)
    f = w.put("floating_ip", {
        "id": fid, "name": name or f"floating_ip-{fid}", "description": desc, "ip": ip,
        "type": ftype, "server": None, "home_location": loc,
        "dns_ptr": [{"ip": ip, "dns_ptr": default_ptr(ip)}] if ftype == "ipv4" else [],
        "protection": {"delete": False}, "labels": labels, "created": iso(time.time())})
    action = w.action_json(_fip_assign(w, f, server)) if server is not None else None
    return ok({"floating_ip": floating_ip_json(w, f), "action": action}, 201)


def _floating_ip_extra(w, f, body):
    if "description" in body:
        if body["description"] is not None and not isinstance(body["description"], str):
            raise invalid({"description": "must be a string"})
        f["description"] = body["description"]


update_floating_ip = update_handler("floating_ip", floating_ip_json, _floating_ip_extra)


def delete_floating_ip(w, req):
    f = w.get("floating_ip", req.params["id"])
    check_protection(w, "floating_ip", f)
    w.check_lock("floating_ip", f["id"])
    s = w.objs["server"].get(f["server"]) if f["server"] is not None else None
    w.remove("floating_ip", f["id"])
    if s is not None:  # an assigned floating IP is unassigned by the delete
        w.new_action("unassign_floating_ip", [("floating_ip", f["id"]), ("server", s["id"])],
                     backend_call=(w.backend.unassign_floating_ip, (w.server_spec(s), f["ip"])))
    return Response(204)


_fip_action = resource_action("floating_ip")


@_fip_action
def assign_floating_ip(w, f, body):
    s = w.get("server", body.get("server"))
    if f["server"] == s["id"]:
        raise APIError(409, "floating_ip_assigned",
                       f"floating IP {f['id']} is already assigned to server {s['id']}")
    return _fip_assign(w, f, s)


@_fip_action
def unassign_floating_ip(w, f, body):
    s = w.objs["server"].get(f["server"]) if f["server"] is not None else None
    f["server"] = None
    res = [("floating_ip", f["id"])] + ([("server", s["id"])] if s else [])
    call = (w.backend.unassign_floating_ip, (w.server_spec(s), f["ip"])) if s else None
    return w.new_action("unassign_floating_ip", res, locks=[("floating_ip", f["id"])],
                        backend_call=call)


@_fip_action
def change_dns_ptr_floating_ip(w, f, body):
    ip = body.get("ip")
    if not isinstance(ip, str):
        raise invalid({"ip": "is required"})
    if not ptr_ip_of(f, ip):
        raise invalid({"ip": f"{ip} is not an address of floating IP {f['id']}"})
    if "dns_ptr" not in body:
        raise invalid({"dns_ptr": "is required (a hostname, or null to reset)"})
    set_dns_ptr(f, ip, body["dns_ptr"])
    return w.new_action("change_dns_ptr", [("floating_ip", f["id"])])


change_protection_floating_ip = change_protection_handler("floating_ip")


ROUTES = resource_routes("floating_ips", "floating_ip", list_floating_ips, get_floating_ip,
                         create_floating_ip, update_floating_ip, delete_floating_ip, {
                             "assign": assign_floating_ip, "unassign": unassign_floating_ip,
                             "change_dns_ptr": change_dns_ptr_floating_ip,
                             "change_protection": change_protection_floating_ip})
