"""Primary IPs, and the reverse DNS entries that servers and floating IPs share."""
from __future__ import annotations

import ipaddress
import re
from typing import Optional

from .. import catalog
from ..errors import APIError, invalid, uniqueness
from ..world import World, default_ptr
from .actions import resource_routes
from .base import (Response, bool_field, change_protection_handler, check_protection,
                   json_body, list_and_get, ok, update_handler)


def dc_of(w: World, body: dict, default: Optional[str] = None) -> Optional[str]:
    """Datacenter name from body 'datacenter' or 'location' (names or ids)."""
    dc, loc = body.get("datacenter"), body.get("location")
    if dc is not None and loc is not None:
        raise invalid({"datacenter": "give either datacenter or location, not both"})
    if dc is not None:
        for d in catalog.DATACENTERS:
            if d["name"] == dc or str(d["id"]) == str(dc):
                return d["name"]
        raise invalid({"datacenter": f"unknown datacenter {dc!r}; known: "
                                     + ", ".join(d["name"] for d in catalog.DATACENTERS)})
    if loc is not None:
        for l in catalog.LOCATIONS:
            if l["name"] == loc or str(l["id"]) == str(loc):
                return catalog.DATACENTER_BY_LOCATION[l["name"]]["name"]
        raise invalid({"location": f"unknown location {loc!r}; known: "
                                   + ", ".join(catalog.LOCATION_BY_NAME)})
    return default


def primary_ip_json(w, p):
    dc = catalog.DATACENTER_BY_NAME[p["datacenter"]]
    return {"id": p["id"], "name": p["name"], "ip": p["ip"], "type": p["type"],
            "dns_ptr": p["dns_ptr"], "datacenter": dc, "location": dc["location"],
            "blocked": p["blocked"], "protection": p["protection"], "labels": p["labels"],
            "created": p["created"], "assignee_id": p["assignee_id"],
            "assignee_type": p["assignee_type"], "auto_delete": p["auto_delete"]}


list_primary_ips, get_primary_ip = list_and_get(
    "primary_ip", "primary_ips", primary_ip_json,
    {"ip": lambda o, v: o["ip"] in v})


def create_primary_ip(w, req):
    body = json_body(req)
    name = w.check_name(body.get("name"))
    ptype = body.get("type")
    if ptype not in ("ipv4", "ipv6"):
        raise invalid({"type": "must be 'ipv4' or 'ipv6'"})
    if body.get("assignee_type", "server") != "server":
        raise invalid({"assignee_type": "must be 'server'"})
    labels = w.check_labels(body.get("labels"))
    auto_delete = bool_field(body, "auto_delete", False)
    assignee = body.get("assignee_id")
    server = None
    if assignee is not None:
        server = w.get("server", assignee)
        dc = server["datacenter"]
        if dc_of(w, body) not in (None, dc):
            raise invalid({"datacenter": "must match the assignee's datacenter"})
        if server["status"] != "off":
            raise APIError(409, "server_not_stopped", "the server must be off to assign a primary IP")
        if server.get(f"{ptype}_id"):
            raise APIError(409, "server_has_ipv4" if ptype == "ipv4" else "server_has_ipv6",
                           f"server {server['id']} already has a primary {ptype}")
    else:
        dc = dc_of(w, body)
        if dc is None:
            raise invalid({"datacenter": "give assignee_id, datacenter or location"})
    if w.name_taken("primary_ip", name):
        raise uniqueness("name", f"primary IP name {name!r} is already used")
    p = w.new_primary_ip(ptype, dc, name=name, assignee=server["id"] if server else None,
                         auto_delete=auto_delete, labels=labels)
    action = None
    if server:
        server[f"{ptype}_id"] = p["id"]
        w.touch("server", server["id"])
        action = w.action_json(w.new_action("create_primary_ip", [("primary_ip", p["id"]),
                                                             ("server", server["id"])]))
    return ok({"primary_ip": primary_ip_json(w, p), "action": action}, 201)


update_primary_ip = update_handler("primary_ip", primary_ip_json, flags=("auto_delete",))


def delete_primary_ip(w, req):
    p = w.get("primary_ip", req.params["id"])
    check_protection(w, "primary_ip", p)
    if p["assignee_id"] is not None:
        raise APIError(422, "resource_in_use", f"primary IP {p['id']} is assigned to server "
                       f"{p['assignee_id']}; unassign it (server off) first")
    w.remove("primary_ip", p["id"])
    return Response(204)


def assign_primary_ip(w, req):
    p = w.get("primary_ip", req.params["id"])
    body = json_body(req)
    if body.get("assignee_type", "server") != "server":
        raise invalid({"assignee_type": "must be 'server'"})
    s = w.get("server", body.get("assignee_id"))
    if p["assignee_id"] is not None:
        raise APIError(409, "primary_ip_already_assigned", f"primary IP {p['id']} is already assigned")
    if s["status"] != "off":
        raise APIError(409, "server_not_stopped", "the server must be off to assign a primary IP")
    if s.get(f"{p['type']}_id"):
        raise APIError(409, f"server_has_{p['type']}", f"server {s['id']} already has a primary {p['type']}")
    if s["datacenter"] != p["datacenter"]:
        raise APIError(422, "primary_ip_datacenter_mismatch", "primary IP and server are in different datacenters")
    w.check_lock("server", s["id"])
    p["assignee_id"] = s["id"]
    s[f"{p['type']}_id"] = p["id"]
    w.touch("primary_ip", p["id"]); w.touch("server", s["id"])
    a = w.new_action("assign_primary_ip", [("primary_ip", p["id"]), ("server", s["id"])])
    return ok({"action": w.action_json(a)}, 201)


def unassign_primary_ip(w, req):
    p = w.get("primary_ip", req.params["id"])
    if p["assignee_id"] is None:
        raise APIError(409, "primary_ip_not_assigned", f"primary IP {p['id']} is not assigned")
    s = w.objs["server"].get(p["assignee_id"])
    if s is not None:
        if s["status"] != "off":
            raise APIError(409, "server_not_stopped", "the server must be off to unassign its primary IP")
        w.check_lock("server", s["id"])
        s[f"{p['type']}_id"] = None
        w.touch("server", s["id"])
    res = [("primary_ip", p["id"])] + ([("server", s["id"])] if s else [])
    p["assignee_id"] = None
    w.touch("primary_ip", p["id"])
    a = w.new_action("unassign_primary_ip", res)
    return ok({"action": w.action_json(a)}, 201)


def ptr_ip_of(p: dict, ip: str) -> bool:
    """Is ``ip`` the IPv4 of primary/floating IP ``p``, or inside its IPv6 network?"""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise invalid({"ip": f"{ip!r} is not an IP address"})
    if p["type"] == "ipv4":
        return addr == ipaddress.ip_address(p["ip"])
    return addr.version == 6 and addr in ipaddress.ip_network(p["ip"])


def _check_ptr(ptr) -> None:
    if ptr is None:
        return
    if not isinstance(ptr, str) or not ptr or len(ptr) > 255 or not re.fullmatch(
            r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?",
            ptr):
        raise invalid({"dns_ptr": f"{ptr!r} is not a valid hostname"})


def set_dns_ptr(p: dict, ip: str, ptr) -> None:
    """Set (or with ``None`` reset) the reverse entry of ``ip`` on a primary or floating IP.
    A reset IPv4 gets its default entry back; a reset IPv6 address has none."""
    _check_ptr(ptr)
    p["dns_ptr"] = [e for e in p["dns_ptr"] if e["ip"] != ip]
    if ptr is None and p["type"] == "ipv4":
        ptr = default_ptr(ip)
    if ptr:
        p["dns_ptr"].append({"ip": ip, "dns_ptr": ptr})


def change_dns_ptr_primary_ip(w, req):
    p = w.get("primary_ip", req.params["id"])
    body = json_body(req)
    ip = body.get("ip")
    if not isinstance(ip, str):
        raise invalid({"ip": "is required"})
    if not ptr_ip_of(p, ip):
        raise invalid({"ip": f"{ip} is not an address of primary IP {p['id']}"})
    if "dns_ptr" not in body:
        raise invalid({"dns_ptr": "is required (a hostname, or null to reset)"})
    set_dns_ptr(p, ip, body.get("dns_ptr"))
    w.touch("primary_ip", p["id"])
    a = w.new_action("change_dns_ptr", [("primary_ip", p["id"])])
    return ok({"action": w.action_json(a)}, 201)


change_protection_primary_ip = change_protection_handler("primary_ip")


ROUTES = resource_routes("primary_ips", "primary_ip", list_primary_ips, get_primary_ip,
                         create_primary_ip, update_primary_ip, delete_primary_ip, {
                             "assign": assign_primary_ip, "unassign": unassign_primary_ip,
                             "change_dns_ptr": change_dns_ptr_primary_ip,
                             "change_protection": change_protection_primary_ip})
