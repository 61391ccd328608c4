"""Servers: the JSON shape, list/get/update, create and delete."""
from __future__ import annotations

import dataclasses
import secrets
import time

from .. import catalog
from ..errors import APIError, invalid, uniqueness
from ..world import World, default_ptr, iso
from .actions import resource_routes
from .base import (bool_field, check_protection, filtered, json_body, ok, paginate,
                   update_handler)
from .images import image_json
from .networks import alloc_private
from .placement_groups import placement_group_json
from .primary_ips import dc_of


def _firewalls_of(w: World, s: dict) -> list:
    out = []
    for fw in w.objs["firewall"].values():
        for t in fw["applied_to"]:
            if t["type"] == "server" and t["server"]["id"] == s["id"]:
                out.append(fw["id"]); break
            if t["type"] == "label_selector":
                sel = w.selector(t["label_selector"]["selector"])
                if sel.matches(s["labels"]):
                    out.append(fw["id"]); break
    return out


def server_json(w: World, s: dict) -> dict:
    st = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]
    dc = catalog.DATACENTER_BY_NAME[s["datacenter"]]
    p4 = w.objs["primary_ip"].get(s.get("ipv4_id"))
    p6 = w.objs["primary_ip"].get(s.get("ipv6_id"))
    ipv4 = None
    if p4:
        ptr = next((e["dns_ptr"] for e in p4["dns_ptr"] if e["ip"] == p4["ip"]),
                   default_ptr(p4["ip"]))
        ipv4 = {"id": p4["id"], "ip": p4["ip"], "blocked": False, "dns_ptr": ptr}
    ipv6 = {"id": p6["id"], "ip": p6["ip"], "blocked": False, "dns_ptr": p6["dns_ptr"]} if p6 else None
    pg = w.objs["placement_group"].get(s.get("placement_group"))
    return {
        "id": s["id"], "name": s["name"], "status": s["status"], "created": s["created"],
        "public_net": {"ipv4": ipv4, "ipv6": ipv6,
                       "floating_ips": [f["id"] for f in w.objs["floating_ip"].values()
                                        if f["server"] == s["id"]],
                       "firewalls": [{"id": f, "status": "applied"} for f in _firewalls_of(w, s)]},
        "private_net": s["private_net"],
        "server_type": st, "datacenter": dc, "location": dc["location"],
        "image": _server_image(w, s), "iso": catalog.ISO_BY_ID.get(s.get("_iso")),
        "rescue_enabled": s["rescue_enabled"], "locked": w.is_locked("server", s["id"]),
        "backup_window": s["backup_window"], "outgoing_traffic": 0, "ingoing_traffic": 0,
        "included_traffic": catalog.TRAFFIC_BY_NAME[st["name"]], "protection": s["protection"],
        "labels": s["labels"],
        "volumes": [v["id"] for v in w.objs["volume"].values() if v.get("server") == s["id"]],
        "load_balancers": [], "primary_disk_size": s["primary_disk_size"],
        "placement_group": placement_group_json(w, pg) if pg else None,
    }


def _server_image(w: World, s: dict):
    img = catalog.IMAGE_BY_ID.get(s.get("image")) or w.objs["image"].get(s.get("image"))
    return image_json(w, img) if img else None


def _sj(w, s):
    return server_json(w, s)


def list_servers(w, req):
    items = lambda: filtered(w, req, w.objs["server"].values(),  # noqa: E731
                             {"status": lambda o, v: o["status"] in v})
    return paginate(w, req, "servers", items, lambda o: server_json(w, o), cache_kind="server")


def get_server(w, req):
    return ok({"server": server_json(w, w.get("server", req.params["id"]))})


update_server = update_handler("server", server_json, hostname=True)


def resolve_image(w: World, ref, arch: str, field_name: str = "image") -> dict:
    if ref is None:
        raise invalid({field_name: "is required"})
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        img = catalog.IMAGE_BY_ID.get(int(ref)) or w.objs["image"].get(int(ref))
        if img is None:
            raise invalid({field_name: f"image {ref} not found"})
        if img["status"] != "available":
            raise APIError(412, "image_not_available",
                           f"image {ref} is {img['status']}; wait until it is available")
        if img["architecture"] != arch:
            raise invalid({field_name: f"image {ref} is for {img['architecture']}, the server "
                                       f"type needs {arch}"})
        return img
    for img in catalog.IMAGES:
        if img["name"] == ref and img["architecture"] == arch:
            return img
    raise invalid({field_name: f"image {ref!r} not found for architecture {arch}; known: "
                               + ", ".join(sorted({i['name'] for i in catalog.IMAGES}))})


def resolve_server_type(ref, field_name="server_type") -> dict:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        st = catalog.SERVER_TYPE_BY_ID.get(int(ref))
    else:
        st = catalog.SERVER_TYPE_BY_NAME.get(ref)
    if st is None:
        raise invalid({field_name: f"server type {ref!r} not found; known: "
                                   + ", ".join(catalog.SERVER_TYPE_BY_NAME)})
    return st


def check_orderable(w: World, st: dict, location: str) -> None:
    """Refuse a server type that is not offered in ``location`` or no longer available
    there (deprecated past its ``unavailable_after``), as the API does: 400 invalid_input.
    ``--allow-retired-types`` (config ``allow_retired_types``) lets tests create servers of
    retired types, as fleets that bought them before the cut-off have."""
    entry = catalog.type_location(st, location)
    if entry is not None and w.config.allow_retired_types:
        return
    if entry is None:
        raise APIError(400, "invalid_input", "unsupported location for server type",
                       {"fields": [{"name": "server_type", "messages": [
                           f"server type {st['name']} is not offered in {location}"]}]})
    if not entry["available"]:
        dep = entry["deprecation"] or {}
        why = (f"server type {st['name']} is deprecated in {location} and was available "
               f"until {dep['unavailable_after']}" if dep else
               f"server type {st['name']} is currently not available in {location}")
        raise APIError(400, "invalid_input", f"unsupported location for server type: {why}",
                       {"fields": [{"name": "server_type", "messages": [why]}]})


def boot_patch(s: dict, rescue: bool) -> dict:
    p = {"status": "running", "_booted": "rescue" if rescue else "disk"}
    if rescue:
        p["rescue_enabled"] = False
    return p


def _placement_group(w: World, body: dict):
    if body.get("placement_group") is None:
        return None
    pg = w.find("placement_group", body["placement_group"], "placement_group")
    if len(placement_group_json(w, pg)["servers"]) >= 10:
        raise APIError(422, "placement_error", "a spread placement group holds at most 10 servers")
    return pg


def _attachments(w: World, body: dict, location: str) -> tuple[list, list, list]:
    """The networks, volumes and firewalls a new server is created with."""
    nets = [w.find("network", n, "networks") for n in (body.get("networks") or [])]
    for n in nets:
        if not n["subnets"]:
            raise invalid({"networks": f"network {n['id']} has no subnet"})
    vols = [w.find("volume", v, "volumes") for v in (body.get("volumes") or [])]
    for v in vols:
        if v.get("server") is not None:
            raise invalid({"volumes": f"volume {v['id']} is already attached"})
        if v["location"] != location:
            raise invalid({"volumes": f"volume {v['id']} is in {v['location']}, not "
                                      f"{location}"})
    fws = []
    for f in body.get("firewalls") or []:
        ref = f.get("firewall") if isinstance(f, dict) else f
        fws.append(w.find("firewall", ref, "firewalls"))
    return nets, vols, fws


def _public_net(w: World, body: dict) -> tuple[dict, dict]:
    """``public_net`` of a create: which of ipv4/ipv6 are wanted, and the free primary IPs
    given by reference."""
    pn = body.get("public_net") or {}
    if not isinstance(pn, dict):
        raise invalid({"public_net": "must be an object"})
    want = {"ipv4": pn.get("enable_ipv4", True), "ipv6": pn.get("enable_ipv6", True)}
    given = {}
    for t in ("ipv4", "ipv6"):
        if pn.get(t) is not None:
            p = w.find("primary_ip", pn[t], f"public_net.{t}")
            if p["type"] != t or p["assignee_id"] is not None:
                raise invalid({f"public_net.{t}": f"primary IP {p['id']} is not a free {t}"})
            given[t] = p
    return want, given


def _new_server(w: World, sid: int, name: str, st: dict, img: dict,
                dcname: str, labels: dict, keys: list, user_data, pg) -> dict:
    return w.put("server", {
        "id": sid, "name": name, "status": "initializing", "created": iso(time.time()),
        "labels": labels, "server_type": st["name"], "image": img["id"],
        "datacenter": dcname, "ipv4_id": None, "ipv6_id": None, "private_net": [],
        "rescue_enabled": False, "backup_window": None,
        "protection": {"delete": False, "rebuild": False},
        "placement_group": pg["id"] if pg else None, "primary_disk_size": st["disk"],
        "_ssh_keys": [k["public_key"] for k in keys], "_user_data": user_data,
        "_rescue_keys": [], "_booted": None,
    })


def _create_actions(w: World, s: dict, start: bool, nets: list, vols: list):
    """create_server, then its next actions: start_server (if started), one
    attach_to_network per network and one attach_volume per volume."""
    sid = s["id"]
    spec = dataclasses.replace(w.server_spec(s), power_on=start)
    # As in the API, start_server is a next action: it begins when create_server has
    # finished (the server is "starting" meanwhile) and takes its own time.
    action = w.new_action("create_server", [("server", sid)], locks=[("server", sid)],
                          on_success=[["server", sid, {"status": "starting" if start
                                                       else "off"}]],
                          on_error=[["server", sid, {"status": "off"}]],
                          backend_call=(w.backend.create_server, (spec,)))
    nxt = []
    if start:
        nxt.append(w.new_action("start_server", [("server", sid)], locks=[("server", sid)],
                                on_success=[["server", sid, boot_patch(s, False)]],
                                on_error=[["server", sid, {"status": "off"}]],
                                after=action))
    for n in nets:
        nxt.append(w.new_action("attach_to_network", [("server", sid), ("network", n["id"])],
                                duration=0.0, after=action))
    for v in vols:
        v["server"] = sid
        w.touch("volume", v["id"])
        nxt.append(w.new_action("attach_volume", [("volume", v["id"]), ("server", sid)],
                                locks=[("volume", v["id"]), ("server", sid)], after=action,
                                backend_call=(w.backend.attach_volume,
                                              (w.volume_spec(v), spec))))
    return action, nxt


def create_server(w, req):
    body = json_body(req)
    name = w.check_name(body.get("name"), hostname=True)
    st = resolve_server_type(body.get("server_type"))
    img = resolve_image(w, body.get("image"), st["architecture"])
    dcname = dc_of(w, body, default="fsn1-dc14")
    location = catalog.DATACENTER_BY_NAME[dcname]["location"]["name"]
    check_orderable(w, st, location)
    labels = w.check_labels(body.get("labels"))
    keys = [w.find("ssh_key", k, "ssh_keys") for k in (body.get("ssh_keys") or [])]
    user_data = body.get("user_data")
    if user_data is not None and (not isinstance(user_data, str) or len(user_data) > 32768):
        raise invalid({"user_data": "must be a string of at most 32 KiB"})
    start = bool_field(body, "start_after_create", True)
    pg = _placement_group(w, body)
    nets, vols, fws = _attachments(w, body, location)
    want, given = _public_net(w, body)
    if w.name_taken("server", name):
        raise uniqueness("name", f"server name {name!r} is already used")

    sid = w.new_id("server")
    s = _new_server(w, sid, name, st, img, dcname, labels, keys, user_data, pg)
    for t in ("ipv4", "ipv6"):
        if t in given:
            given[t]["assignee_id"] = sid
            w.touch("primary_ip", given[t]["id"])
            s[f"{t}_id"] = given[t]["id"]
        elif want[t]:
            s[f"{t}_id"] = w.new_primary_ip(t, dcname, assignee=sid, auto_delete=True)["id"]
    for n in nets:
        s["private_net"].append(alloc_private(w, s, n, None, []))
    for f in fws:
        f["applied_to"].append({"type": "server", "server": {"id": sid}})
        w.touch("firewall", f["id"])
    action, nxt = _create_actions(w, s, start, nets, vols)
    return ok({"server": server_json(w, s), "action": w.action_json(action),
               "next_actions": [w.action_json(a) for a in nxt],
               "root_password": None if keys else secrets.token_urlsafe(15)}, 201)


def delete_server(w, req):
    s = w.get("server", req.params["id"])
    check_protection(w, "server", s)
    w.check_lock("server", s["id"])
    spec = w.server_spec(s)
    sid = s["id"]
    freed = []
    for t in ("ipv4_id", "ipv6_id"):
        p = w.objs["primary_ip"].get(s.get(t))
        if p:
            if p["auto_delete"]:
                w.remove("primary_ip", p["id"])
                if p["type"] == "ipv4":
                    freed.append(p["ip"])
            else:
                p["assignee_id"] = None
                w.touch("primary_ip", p["id"])
    for v in w.objs["volume"].values():
        if v.get("server") == sid:
            v["server"] = None
            w.touch("volume", v["id"])
    for f in w.objs["floating_ip"].values():
        if f["server"] == sid:
            f["server"] = None
            w.touch("floating_ip", f["id"])
    for img in list(w.objs["image"].values()):
        if img["type"] == "backup" and img["bound_to"] == sid:  # backups go with the server
            w.remove("image", img["id"])
            w.new_action("delete_image", [("image", img["id"])],
                         backend_call=(w.backend.delete_image, (img["id"],)))
    for f in w.objs["firewall"].values():
        before = len(f["applied_to"])
        f["applied_to"] = [t for t in f["applied_to"]
                           if not (t["type"] == "server" and t["server"]["id"] == sid)]
        if len(f["applied_to"]) != before:
            w.touch("firewall", f["id"])
    w.remove("server", sid)
    a = w.new_action("delete_server", [("server", sid)],
                     backend_call=(w.backend.delete_server, (spec,)))
    for ip in freed:
        w.addresses.reserve(ip, a["id"])
    return ok({"action": w.action_json(a)})


ROUTES = resource_routes("servers", "server", list_servers, get_server, create_server,
                         update_server, delete_server)
