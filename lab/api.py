"""Handlers of the emulated Hetzner Cloud API v1, and the route table that maps
(method, path template) to them.  The same templates label the request counters of
``GET /__lab/stats``.

A handler is ``fn(world, req) -> Response``; it runs with ``world.lock`` held, after due
actions were settled, and the caller commits the world afterwards.  Errors are raised as
``APIError``.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlencode

from . import catalog
from .backends.base import ServerTypeSpec
from .errors import APIError, invalid, not_found, protected, uniqueness
from .world import KIND_LABEL, PROTECTABLE, World, default_ptr, iso, ssh_fingerprint


@dataclass
class Request:
    method: str
    path: str
    query: dict            # name -> list of values
    body: Any
    params: dict = field(default_factory=dict)
    base: str = ""           # "http://host:port" as the client addressed us (Link URLs)

    def q(self, name: str, default=None):
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qs(self, name: str) -> list:
        return self.query.get(name, [])


@dataclass
class Response:
    status: int
    body: Any = None          # dict, bytes (raw JSON) or None (no content)
    headers: dict = field(default_factory=dict)
    memo: Optional[dict] = None  # for cached answers: the compressed body, once computed


def ok(body, status: int = 200) -> Response:
    return Response(status, body)


def _body(req: Request) -> dict:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise invalid({"body": "the request body must be a JSON object"})
    return req.body


def _bool(body: dict, key: str, default=None):
    v = body.get(key, default)
    if v is not None and not isinstance(v, bool):
        raise invalid({key: "must be a boolean"})
    return v


def _int(val, field_name: str) -> int:
    if isinstance(val, bool) or not isinstance(val, (int, str)):
        raise invalid({field_name: f"must be an integer, got {val!r}"})
    try:
        return int(val)
    except ValueError:
        raise invalid({field_name: f"must be an integer, got {val!r}"})


# ---------------------------------------------------------------------------------------
# Listing: filters, sort, pagination, Link header
SORT_FIELDS = {"id", "name", "created"}
ACTION_SORT_FIELDS = {"id", "command", "status", "started", "finished", "progress"}


def paginate(w: World, req: Request, key: str, items, to_json: Callable,
             sort_fields=SORT_FIELDS, cache_kind: Optional[str] = None) -> Response:
    """One page of ``items`` (an iterable, or a callable returning one) as the API lists it.
    With ``cache_kind`` the serialised answer is cached until the world changes."""
    if cache_kind:
        ck = ("list", req.base, req.path, tuple(sorted((k, tuple(v)) for k, v in req.query.items())))
        hit = w.cache.get(ck)
        if hit is None:
            hit = w.cache[ck] = _paginate(w, req, key, items() if callable(items) else items,
                                          to_json, sort_fields, cache_kind)
            hit.memo = {}
        return hit
    return _paginate(w, req, key, items() if callable(items) else items, to_json, sort_fields,
                     None)


def _paginate(w: World, req: Request, key: str, items, to_json: Callable, sort_fields,
              cache_kind: Optional[str]) -> Response:
    items = list(items)
    try:
        page = int(req.q("page", 1))
        per_page = int(req.q("per_page", 25))
    except ValueError:
        raise invalid({"page": "page and per_page must be integers"})
    if page < 1:
        raise invalid({"page": "must be at least 1"})
    if per_page < 1:
        raise invalid({"per_page": "must be at least 1"})
    per_page = min(per_page, 50)
    sorts = req.qs("sort")
    for spec in reversed(sorts):
        fname, _, direction = spec.partition(":")
        if fname not in sort_fields or direction not in ("", "asc", "desc"):
            raise invalid({"sort": f"cannot sort by {spec!r}; use one of "
                                   f"{', '.join(sorted(sort_fields))} with :asc or :desc"})
        items = sorted(items, key=lambda o: (o.get(fname) is None, o.get(fname) or 0),
                       reverse=(direction == "desc"))
    total = len(items)
    last = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    meta = {"pagination": {
        "page": page, "per_page": per_page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < last else None,
        "last_page": last, "total_entries": total}}
    if cache_kind:
        parts = []
        for o in chunk:
            ck = (cache_kind, o["id"])
            frag = w.cache.get(ck)
            if frag is None:
                frag = w.cache[ck] = json.dumps(to_json(o), separators=(",", ":")).encode()
            parts.append(frag)
        body = (b'{"' + key.encode() + b'":[' + b",".join(parts) + b'],"meta":'
                + json.dumps(meta).encode() + b"}")
    else:
        body = {key: [to_json(o) for o in chunk], "meta": meta}
    links = []
    base = {k: v for k, v in req.query.items() if k != "page"}

    def link(p, rel):
        q = [(k, x) for k, vs in base.items() for x in vs] + [("page", p)]
        links.append(f'<{req.base}{req.path}?{urlencode(q)}>; rel="{rel}"')
    if page > 1:
        link(page - 1, "prev")
    if page < last:
        link(page + 1, "next")
    link(last, "last")
    return Response(200, body, {"Link": ", ".join(links)})


def filtered(w: World, req: Request, items, extra: Optional[dict] = None) -> list:
    """Apply the common filters: name, label_selector, plus per-kind ``extra``:
    query name -> function(obj, values) -> bool."""
    out = list(items)
    name = req.q("name")
    if name is not None:
        out = [o for o in out if o.get("name") == name]
    sel = req.q("label_selector")
    if sel is not None:
        s = w.selector(sel)
        out = [o for o in out if s.matches(o.get("labels", {}))]
    for qname, pred in (extra or {}).items():
        vals = req.qs(qname)
        if vals:
            out = [o for o in out if pred(o, vals)]
    return out


# ---------------------------------------------------------------------------------------
# Catalogs
def _catalog_handlers(key: str, one: str, items: list, extra=None):
    def list_(w, req):
        return paginate(w, req, key, filtered(w, req, items, extra), lambda o: o)

    def get_(w, req):
        ident = _int(req.params["id"], "id")
        for o in items:
            if o["id"] == ident:
                return ok({one: o})
        raise not_found(one.replace("_", " "), ident)
    return list_, get_


def _image_filter_arch(o, vals):
    return o["architecture"] in vals


list_server_types, get_server_type = _catalog_handlers("server_types", "server_type",
                                                       catalog.SERVER_TYPES)
list_locations, get_location = _catalog_handlers("locations", "location", catalog.LOCATIONS)
list_datacenters, get_datacenter = _catalog_handlers("datacenters", "datacenter",
                                                     catalog.DATACENTERS)
def image_json(w: World, img: dict) -> dict:
    """A system image (catalog) or a snapshot/backup (world) as the API shows it."""
    if img["id"] in catalog.IMAGE_BY_ID:
        return img
    return {k: v for k, v in img.items() if not k.startswith("_")}


def _images(w: World) -> list:
    return catalog.IMAGES + list(w.objs["image"].values())


def list_images(w, req):
    items = filtered(w, req, _images(w), {
        "architecture": _image_filter_arch,
        "type": lambda o, v: o["type"] in v,
        "status": lambda o, v: o["status"] in v,
        "bound_to": lambda o, v: str(o["bound_to"]) in v})
    if req.q("include_deprecated", "false") != "true":
        items = [o for o in items if not o.get("deprecated")]
    return paginate(w, req, "images", items, lambda o: image_json(w, o))


def _get_any_image(w: World, ref) -> dict:
    ident = _int(ref, "id")
    img = catalog.IMAGE_BY_ID.get(ident) or w.objs["image"].get(ident)
    if img is None:
        raise not_found("image", ident)
    return img


def get_image(w, req):
    return ok({"image": image_json(w, _get_any_image(w, req.params["id"]))})


def _user_image(w: World, ref) -> dict:
    img = _get_any_image(w, ref)
    if img["id"] in catalog.IMAGE_BY_ID:
        raise APIError(403, "forbidden", f"image {img['id']} is a system image and cannot "
                                         "be changed")
    return img


def update_image(w, req):
    img = _user_image(w, req.params["id"])
    body = _body(req)
    if "description" in body:
        if not isinstance(body["description"], str):
            raise invalid({"description": "must be a string"})
        img["description"] = body["description"]
    if "type" in body:
        if body["type"] != "snapshot":
            raise invalid({"type": "can only be changed to 'snapshot' (from a backup)"})
        img["type"], img["bound_to"] = "snapshot", None
    if "labels" in body:
        img["labels"] = w.check_labels(body["labels"])
    w.touch("image", img["id"])
    return ok({"image": image_json(w, img)})


def delete_image(w, req):
    img = _user_image(w, req.params["id"])
    _check_protection(w, "image", img)
    w.check_lock("image", img["id"])
    w.remove("image", img["id"])
    w.new_action("delete_image", [("image", img["id"])],
                 backend_call=(w.backend.delete_image, (img["id"],)))
    return Response(204)


def change_protection_image(w, req):
    _user_image(w, req.params["id"])
    return _change_protection("image")(w, req)


# ---------------------------------------------------------------------------------------
# ISOs (read-only catalog; attach_iso / detach_iso are server actions)
def list_isos(w, req):
    items = filtered(w, req, catalog.ISOS)
    archs = req.qs("architecture")
    if archs:
        wildcard = req.q("include_architecture_wildcard", "false") == "true"
        items = [o for o in items if o["architecture"] in archs
                 or (wildcard and o["architecture"] is None)]
    return paginate(w, req, "isos", items, lambda o: o)


def get_iso(w, req):
    ident = _int(req.params["id"], "id")
    iso_ = catalog.ISO_BY_ID.get(ident)
    if iso_ is None:
        raise not_found("iso", ident)
    return ok({"iso": iso_})


# ---------------------------------------------------------------------------------------
# Actions
def _actions_for(w: World, kind: Optional[str], oid: Optional[int]) -> list:
    acts = list(w.objs["action"].values())
    if kind is not None:
        acts = [a for a in acts
                if any(r["type"] == kind and (oid is None or r["id"] == oid)
                       for r in a["resources"])]
    return acts


def _list_actions(w: World, req: Request, acts: list) -> Response:
    ids = req.qs("id")
    if ids:
        want = {_int(i, "id") for i in ids}
        acts = [a for a in acts if a["id"] in want]
    status = req.qs("status")
    if status:
        acts = [a for a in acts if a["status"] in status]
    return paginate(w, req, "actions", acts, w.action_json, ACTION_SORT_FIELDS)


def list_actions(w, req):
    ids = req.qs("id")
    if ids:  # the batched wait of every client: look the ids up directly
        acts = w.objs["action"]
        found = {acts[i]["id"]: acts[i] for i in (_int(x, "id") for x in ids) if i in acts}
        return _list_actions(w, req, list(found.values()))
    return _list_actions(w, req, _actions_for(w, None, None))


def get_action(w, req):
    return ok({"action": w.action_json(w.get("action", req.params["id"]))})


def _resource_actions(kind: str):
    def list_(w, req):
        oid = None
        if "id" in req.params:
            oid = w.get(kind, req.params["id"])["id"]
        return _list_actions(w, req, _actions_for(w, kind, oid))

    def get_(w, req):
        a = w.get("action", req.params["action_id"])
        if "id" in req.params:
            oid = _int(req.params["id"], "id")
            if not any(r["type"] == kind and r["id"] == oid for r in a["resources"]):
                raise not_found("action", a["id"])
        return ok({"action": w.action_json(a)})
    return list_, get_


def _act(w: World, a: dict) -> dict:
    return w.action_json(a)


# ---------------------------------------------------------------------------------------
# Generic update / delete
def _update(kind: str, key: str, to_json: Callable, extra: Optional[Callable] = None,
            hostname: bool = False):
    def handler(w, req):
        o = w.get(kind, req.params["id"])
        body = _body(req)
        if "name" in body:
            name = w.check_name(body["name"], hostname=hostname)
            if w.name_taken(kind, name, o["id"]):
                raise uniqueness("name", f"{KIND_LABEL[kind]} name {name!r} is already used")
            o["name"] = name
        if "labels" in body:
            o["labels"] = w.check_labels(body["labels"])
        if extra:
            extra(w, o, body)
        w.touch(kind, o["id"])
        return ok({key: to_json(w, o)})
    return handler


def _check_protection(w, kind, o, what="delete"):
    if kind in PROTECTABLE and o.get("protection", {}).get(what):
        raise protected(KIND_LABEL[kind], o["id"], what)


def _change_protection(kind: str, fields=("delete",)):
    def handler(w, req):
        o = w.get(kind, req.params["id"])
        body = _body(req)
        new = dict(o["protection"])
        for f in fields:
            v = _bool(body, f)
            if v is not None:
                new[f] = v
        if kind == "server" and new["delete"] != new["rebuild"]:
            raise invalid({"rebuild": "delete and rebuild protection must have the same value"})
        a = w.new_action("change_protection", [(kind, o["id"])],
                         on_success=[[kind, o["id"], {"protection": new}]])
        o["protection"] = new
        w.touch(kind, o["id"])
        return ok({"action": _act(w, a)}, 201)
    return handler


# ---------------------------------------------------------------------------------------
# SSH keys
def ssh_key_json(w, k):
    return {f: k[f] for f in ("id", "name", "fingerprint", "public_key", "labels", "created")}


def list_ssh_keys(w, req):
    items = filtered(w, req, w.objs["ssh_key"].values(),
                     {"fingerprint": lambda o, v: o["fingerprint"] in v})
    return paginate(w, req, "ssh_keys", items, lambda o: ssh_key_json(w, o))


def get_ssh_key(w, req):
    return ok({"ssh_key": ssh_key_json(w, w.get("ssh_key", req.params["id"]))})


def create_ssh_key(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"))
    pk = body.get("public_key")
    if not isinstance(pk, str) or not pk.strip():
        raise invalid({"public_key": "is required"})
    try:
        fp = ssh_fingerprint(pk)
    except ValueError as exc:
        raise invalid({"public_key": str(exc)})
    labels = w.check_labels(body.get("labels"))
    if w.name_taken("ssh_key", name):
        raise uniqueness("name", f"SSH key name {name!r} is already used")
    if any(k["fingerprint"] == fp for k in w.objs["ssh_key"].values()):
        raise uniqueness("public_key", "SSH key with the same fingerprint already exists")
    k = w.put("ssh_key", {"id": w.new_id("ssh_key"), "name": name, "fingerprint": fp,
                          "public_key": pk.strip(), "labels": labels,
                          "created": iso(time.time())})
    return ok({"ssh_key": ssh_key_json(w, k)}, 201)


def delete_ssh_key(w, req):
    k = w.get("ssh_key", req.params["id"])
    w.remove("ssh_key", k["id"])
    return Response(204)


update_ssh_key = _update("ssh_key", "ssh_key", ssh_key_json)


# ---------------------------------------------------------------------------------------
# Placement groups
def placement_group_json(w, g):
    servers = [s["id"] for s in w.objs["server"].values() if s.get("placement_group") == g["id"]]
    return {"id": g["id"], "name": g["name"], "labels": g["labels"], "type": g["type"],
            "servers": servers, "created": g["created"]}


def list_placement_groups(w, req):
    items = filtered(w, req, w.objs["placement_group"].values(),
                     {"type": lambda o, v: o["type"] in v})
    return paginate(w, req, "placement_groups", items, lambda o: placement_group_json(w, o))


def get_placement_group(w, req):
    return ok({"placement_group": placement_group_json(
        w, w.get("placement_group", req.params["id"]))})


def create_placement_group(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"))
    if body.get("type", "spread") != "spread":
        raise invalid({"type": "must be 'spread'"})
    labels = w.check_labels(body.get("labels"))
    if w.name_taken("placement_group", name):
        raise uniqueness("name", f"placement group name {name!r} is already used")
    g = w.put("placement_group", {"id": w.new_id("placement_group"), "name": name,
                                  "labels": labels, "type": "spread",
                                  "created": iso(time.time())})
    return ok({"placement_group": placement_group_json(w, g), "action": None}, 201)


def delete_placement_group(w, req):
    g = w.get("placement_group", req.params["id"])
    if any(s.get("placement_group") == g["id"] for s in w.objs["server"].values()):
        raise APIError(422, "resource_in_use", f"placement group {g['id']} still has servers; "
                       "remove them from the group first")
    w.remove("placement_group", g["id"])
    return Response(204)


update_placement_group = _update("placement_group", "placement_group", placement_group_json)


# ---------------------------------------------------------------------------------------
# Primary IPs
def _dc_of(w: World, body: dict, default: Optional[str] = None) -> Optional[str]:
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


def list_primary_ips(w, req):
    items = filtered(w, req, w.objs["primary_ip"].values(),
                     {"ip": lambda o, v: o["ip"] in v})
    return paginate(w, req, "primary_ips", items, lambda o: primary_ip_json(w, o))


def get_primary_ip(w, req):
    return ok({"primary_ip": primary_ip_json(w, w.get("primary_ip", req.params["id"]))})


def create_primary_ip(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"))
    ptype = body.get("type")
    if ptype not in ("ipv4", "ipv6"):
        raise invalid({"type": "must be 'ipv4' or 'ipv6'"})
    if body.get("assignee_type", "server") != "server":
        raise invalid({"assignee_type": "must be 'server'"})
    labels = w.check_labels(body.get("labels"))
    auto_delete = _bool(body, "auto_delete", False)
    assignee = body.get("assignee_id")
    server = None
    if assignee is not None:
        server = w.get("server", assignee)
        dc = server["datacenter"]
        if _dc_of(w, body) not in (None, dc):
            raise invalid({"datacenter": "must match the assignee's datacenter"})
        if server["status"] != "off":
            raise APIError(409, "server_not_stopped", "the server must be off to assign a primary IP")
        if server.get(f"{ptype}_id"):
            raise APIError(409, "server_has_ipv4" if ptype == "ipv4" else "server_has_ipv6",
                           f"server {server['id']} already has a primary {ptype}")
    else:
        dc = _dc_of(w, body)
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
        action = _act(w, w.new_action("create_primary_ip", [("primary_ip", p["id"]),
                                                             ("server", server["id"])]))
    return ok({"primary_ip": primary_ip_json(w, p), "action": action}, 201)


def _primary_ip_extra(w, p, body):
    if "auto_delete" in body:
        p["auto_delete"] = _bool(body, "auto_delete")


update_primary_ip = _update("primary_ip", "primary_ip", primary_ip_json, _primary_ip_extra)


def delete_primary_ip(w, req):
    p = w.get("primary_ip", req.params["id"])
    _check_protection(w, "primary_ip", p)
    if p["assignee_id"] is not None:
        raise APIError(422, "resource_in_use", f"primary IP {p['id']} is assigned to server "
                       f"{p['assignee_id']}; unassign it (server off) first")
    w.remove("primary_ip", p["id"])
    return Response(204)


def assign_primary_ip(w, req):
    p = w.get("primary_ip", req.params["id"])
    body = _body(req)
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
    return ok({"action": _act(w, a)}, 201)


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
    return ok({"action": _act(w, a)}, 201)


def _ptr_ip_of(p: dict, ip: str) -> bool:
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


def _set_dns_ptr(p: dict, ip: str, ptr) -> None:
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
    body = _body(req)
    ip = body.get("ip")
    if not isinstance(ip, str):
        raise invalid({"ip": "is required"})
    if not _ptr_ip_of(p, ip):
        raise invalid({"ip": f"{ip} is not an address of primary IP {p['id']}"})
    if "dns_ptr" not in body:
        raise invalid({"dns_ptr": "is required (a hostname, or null to reset)"})
    _set_dns_ptr(p, ip, body.get("dns_ptr"))
    w.touch("primary_ip", p["id"])
    a = w.new_action("change_dns_ptr", [("primary_ip", p["id"])])
    return ok({"action": _act(w, a)}, 201)


# ---------------------------------------------------------------------------------------
# Servers
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


update_server = _update("server", "server", server_json, hostname=True)


def _resolve_image(w: World, ref, arch: str, field_name: str = "image") -> dict:
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


def _resolve_server_type(ref, field_name="server_type") -> dict:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        st = catalog.SERVER_TYPE_BY_ID.get(int(ref))
    else:
        st = catalog.SERVER_TYPE_BY_NAME.get(ref)
    if st is None:
        raise invalid({field_name: f"server type {ref!r} not found; known: "
                                   + ", ".join(catalog.SERVER_TYPE_BY_NAME)})
    return st


def _check_orderable(w: World, st: dict, location: str) -> None:
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


def _boot_patch(s: dict, rescue: bool) -> dict:
    p = {"status": "running", "_booted": "rescue" if rescue else "disk"}
    if rescue:
        p["rescue_enabled"] = False
    return p


def create_server(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"), hostname=True)
    st = _resolve_server_type(body.get("server_type"))
    img = _resolve_image(w, body.get("image"), st["architecture"])
    dcname = _dc_of(w, body, default="fsn1-dc14")
    dc = catalog.DATACENTER_BY_NAME[dcname]
    _check_orderable(w, st, dc["location"]["name"])
    labels = w.check_labels(body.get("labels"))
    keys = [w.find("ssh_key", k, "ssh_keys") for k in (body.get("ssh_keys") or [])]
    user_data = body.get("user_data")
    if user_data is not None and (not isinstance(user_data, str) or len(user_data) > 32768):
        raise invalid({"user_data": "must be a string of at most 32 KiB"})
    start = _bool(body, "start_after_create", True)
    pg = None
    if body.get("placement_group") is not None:
        pg = w.find("placement_group", body["placement_group"], "placement_group")
        if len(placement_group_json(w, pg)["servers"]) >= 10:
            raise APIError(422, "placement_error", "a spread placement group holds at most 10 servers")
    nets = [w.find("network", n, "networks") for n in (body.get("networks") or [])]
    for n in nets:
        if not n["subnets"]:
            raise invalid({"networks": f"network {n['id']} has no subnet"})
    vols = [w.find("volume", v, "volumes") for v in (body.get("volumes") or [])]
    for v in vols:
        if v.get("server") is not None:
            raise invalid({"volumes": f"volume {v['id']} is already attached"})
        if v["location"] != dc["location"]["name"]:
            raise invalid({"volumes": f"volume {v['id']} is in {v['location']}, not "
                                      f"{dc['location']['name']}"})
    fws = []
    for f in body.get("firewalls") or []:
        ref = f.get("firewall") if isinstance(f, dict) else f
        fws.append(w.find("firewall", ref, "firewalls"))
    pn = body.get("public_net") or {}
    if not isinstance(pn, dict):
        raise invalid({"public_net": "must be an object"})
    want4 = pn.get("enable_ipv4", True)
    want6 = pn.get("enable_ipv6", True)
    given = {}
    for t in ("ipv4", "ipv6"):
        if pn.get(t) is not None:
            p = w.find("primary_ip", pn[t], f"public_net.{t}")
            if p["type"] != t or p["assignee_id"] is not None:
                raise invalid({f"public_net.{t}": f"primary IP {p['id']} is not a free {t}"})
            given[t] = p
    if w.name_taken("server", name):
        raise uniqueness("name", f"server name {name!r} is already used")

    now = time.time()
    sid = w.new_id("server")
    s = {
        "id": sid, "name": name, "status": "initializing", "created": iso(now),
        "labels": labels, "server_type": st["name"], "image": img["id"],
        "datacenter": dcname, "ipv4_id": None, "ipv6_id": None, "private_net": [],
        "rescue_enabled": False, "backup_window": None,
        "protection": {"delete": False, "rebuild": False},
        "placement_group": pg["id"] if pg else None, "primary_disk_size": st["disk"],
        "_ssh_keys": [k["public_key"] for k in keys], "_user_data": user_data,
        "_rescue_keys": [], "_booted": None,
    }
    w.put("server", s)
    for t, want in (("ipv4", want4), ("ipv6", want6)):
        if t in given:
            given[t]["assignee_id"] = sid
            w.touch("primary_ip", given[t]["id"])
            s[f"{t}_id"] = given[t]["id"]
        elif want:
            s[f"{t}_id"] = w.new_primary_ip(t, dcname, assignee=sid, auto_delete=True)["id"]
    for n in nets:
        s["private_net"].append(_alloc_private(w, s, n, None, []))
    for f in fws:
        f["applied_to"].append({"type": "server", "server": {"id": sid}})
        w.touch("firewall", f["id"])
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
                                on_success=[["server", sid, _boot_patch(s, False)]],
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
    return ok({"server": server_json(w, s), "action": _act(w, action),
               "next_actions": [_act(w, a) for a in nxt],
               "root_password": None if keys else secrets.token_urlsafe(15)}, 201)


def delete_server(w, req):
    s = w.get("server", req.params["id"])
    _check_protection(w, "server", s)
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
        w.reserved_ips[ip] = a["id"]
    return ok({"action": _act(w, a)})


def _server_action(fn: Callable):
    """Wrap a server action: load the server, refuse when locked, return 201 {action}."""
    def handler(w, req):
        s = w.get("server", req.params["id"])
        w.check_lock("server", s["id"])
        w.request_base = req.base
        result = fn(w, s, _body(req))
        w.touch("server", s["id"])
        if isinstance(result, dict) and "action" in result:
            return ok(result, 201)
        return ok({"action": _act(w, result)}, 201)
    handler.__name__ = fn.__name__
    return handler


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
            success = _boot_patch(s, rescue)
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
                            on_success=[["server", sid, _boot_patch(s, rescue)]],
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
    img = _resolve_image(w, body.get("image"), st["architecture"])
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
    return {"action": _act(w, a),
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
    return {"action": _act(w, a), "root_password": secrets.token_urlsafe(15)}


@_server_action
def disable_rescue(w, s, body):
    s["rescue_enabled"] = False
    s["_rescue_keys"] = []
    spec = w.server_spec(s)
    return w.new_action("disable_rescue", [("server", s["id"])], locks=[("server", s["id"])],
                        backend_call=(w.backend.disable_rescue, (spec,)))


@_server_action
def change_type(w, s, body):
    st = _resolve_server_type(body.get("server_type"))
    upgrade = _bool(body, "upgrade_disk")
    if upgrade is None:
        raise invalid({"upgrade_disk": "is required (true or false)"})
    cur = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]
    if st["architecture"] != cur["architecture"]:
        raise invalid({"server_type": f"cannot change architecture {cur['architecture']} -> "
                                      f"{st['architecture']}"})
    _check_orderable(w, st, catalog.DATACENTER_BY_NAME[s["datacenter"]]["location"]["name"])
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


def _alloc_private(w: World, s: dict, n: dict, ip: Optional[str], alias_ips: list,
                   ip_range: Optional[str] = None) -> dict:
    used = {pn["ip"] for o in w.objs["server"].values() for pn in o["private_net"]
            if pn["network"] == n["id"]}
    used |= {a for o in w.objs["server"].values() for pn in o["private_net"]
             if pn["network"] == n["id"] for a in pn["alias_ips"]}
    subnets = [ipaddress.ip_network(sn["ip_range"]) for sn in n["subnets"]
               if sn["type"] in ("cloud", "server")]
    if not subnets:
        raise APIError(422, "no_subnet_available_in_network_zone",
                       f"network {n['id']} has no cloud subnet; add one first")
    if ip_range is not None:
        try:
            want = ipaddress.ip_network(ip_range)
        except (ValueError, TypeError):
            raise invalid({"ip_range": f"{ip_range!r} is not an IP network in CIDR notation"})
        if want not in subnets:
            raise invalid({"ip_range": f"{ip_range} is not a subnet of network {n['id']}; "
                                       "subnets: " + ", ".join(map(str, subnets))})
        subnets = [want]
    gateway = str(ipaddress.ip_network(n["ip_range"]).network_address + 1)
    if ip is not None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise invalid({"ip": f"{ip!r} is not an IP address"})
        if not any(addr in sn for sn in subnets) or ip in used or ip == gateway:
            raise APIError(409, "ip_not_available", f"IP {ip} is not available in network {n['id']}")
        chosen = ip
    else:
        chosen = None
        for sn in subnets:
            for h in sn.hosts():
                hs = str(h)
                if hs != gateway and hs not in used and int(h) - int(sn.network_address) >= 2:
                    chosen = hs
                    break
            if chosen:
                break
        if chosen is None:
            raise APIError(422, "ip_not_available", f"network {n['id']} has no free IP")
    mac = "86:00:00:%02x:%02x:%02x" % ((s["id"] >> 16) & 255, (s["id"] >> 8) & 255,
                                       (s["id"] + n["id"]) & 255)
    return {"network": n["id"], "ip": chosen, "alias_ips": list(alias_ips or []),
            "mac_address": mac}


@_server_action
def attach_to_network(w, s, body):
    n = w.find("network", body.get("network"), "network")
    if any(pn["network"] == n["id"] for pn in s["private_net"]):
        raise APIError(409, "server_already_attached",
                       f"server {s['id']} is already attached to network {n['id']}")
    alias = _alias_ips(w, s, n, body.get("alias_ips") or [])
    s["private_net"].append(_alloc_private(w, s, n, body.get("ip"), alias, body.get("ip_range")))
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
        if p is not None and _ptr_ip_of(p, ip):
            _set_dns_ptr(p, ip, body["dns_ptr"])
            w.touch("primary_ip", p["id"])
            return w.new_action("change_dns_ptr", [("server", s["id"])])
    fip = next((f for f in w.objs["floating_ip"].values()
                if f["server"] == s["id"] and _ptr_ip_of(f, ip)), None)
    if fip is not None:
        _set_dns_ptr(fip, ip, body["dns_ptr"])
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
    return {"image": image_json(w, img), "action": _act(w, a)}


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
    return {"action": _act(w, a), "root_password": secrets.token_urlsafe(15)}


@_server_action
def request_console(w, s, body):
    """A VNC-over-websocket console: the URL is data only (loopback, nothing serves it)."""
    a = w.new_action("request_console", [("server", s["id"])])
    token = secrets.token_urlsafe(24)
    host = (getattr(w, "request_base", "") or "http://127.0.0.1").replace("http://", "ws://")
    return {"action": _act(w, a), "password": secrets.token_urlsafe(12),
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


change_protection_server = _change_protection("server", ("delete", "rebuild"))


# ---------------------------------------------------------------------------------------
# Volumes
def volume_json(w, v):
    return {"id": v["id"], "name": v["name"], "server": v.get("server"),
            "location": catalog.LOCATION_BY_NAME[v["location"]], "size": v["size"],
            "linux_device": f"/dev/disk/by-id/scsi-0HC_Volume_{v['id']}",
            "format": v.get("format"), "protection": v["protection"], "labels": v["labels"],
            "status": v["status"], "created": v["created"]}


def list_volumes(w, req):
    items = filtered(w, req, w.objs["volume"].values(),
                     {"status": lambda o, v: o["status"] in v})
    return paginate(w, req, "volumes", items, lambda o: volume_json(w, o))


def get_volume(w, req):
    return ok({"volume": volume_json(w, w.get("volume", req.params["id"]))})


def _size(body) -> int:
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 10 <= size <= 10240:
        raise invalid({"size": "must be an integer number of GB between 10 and 10240"})
    return size


def create_volume(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"))
    size = _size(body)
    labels = w.check_labels(body.get("labels"))
    fmt = body.get("format")
    if fmt not in (None, "ext4", "xfs"):
        raise invalid({"format": "must be 'ext4' or 'xfs'"})
    server = None
    if body.get("server") is not None:
        server = w.get("server", body["server"])
        w.check_lock("server", server["id"])
        loc = catalog.DATACENTER_BY_NAME[server["datacenter"]]["location"]["name"]
        if body.get("location") is not None and _dc_of(w, {"location": body["location"]}) != server["datacenter"]:
            raise invalid({"location": "must match the server's location"})
    elif body.get("location") is not None:
        loc = catalog.DATACENTER_BY_NAME[_dc_of(w, {"location": body["location"]})]["location"]["name"]
    else:
        raise invalid({"location": "give a location or a server"})
    if w.name_taken("volume", name):
        raise uniqueness("name", f"volume name {name!r} is already used")
    vid = w.new_id("volume")
    v = w.put("volume", {"id": vid, "name": name, "server": None, "location": loc,
                         "size": size, "format": fmt, "protection": {"delete": False},
                         "labels": labels, "status": "creating", "created": iso(time.time())})
    spec = w.volume_spec(v)
    a = w.new_action("create_volume", [("volume", vid)], locks=[("volume", vid)],
                     on_success=[["volume", vid, {"status": "available"}]],
                     on_error=[["volume", vid, {"status": "available"}]],
                     backend_call=(w.backend.create_volume, (spec,)))
    nxt = []
    if server:
        v["server"] = server["id"]
        nxt.append(w.new_action("attach_volume", [("volume", vid), ("server", server["id"])],
                                locks=[("volume", vid), ("server", server["id"])], after=a,
                                backend_call=(w.backend.attach_volume,
                                              (w.volume_spec(v), w.server_spec(server)))))
    return ok({"volume": volume_json(w, v), "action": _act(w, a),
               "next_actions": [_act(w, x) for x in nxt]}, 201)


update_volume = _update("volume", "volume", volume_json)


def delete_volume(w, req):
    v = w.get("volume", req.params["id"])
    _check_protection(w, "volume", v)
    w.check_lock("volume", v["id"])
    if v.get("server") is not None:
        raise APIError(422, "resource_in_use", f"volume {v['id']} is attached to server "
                       f"{v['server']}; detach it first")
    spec = w.volume_spec(v)
    w.remove("volume", v["id"])
    w.new_action("delete_volume", [("volume", v["id"])],
                 backend_call=(w.backend.delete_volume, (spec,)))
    return Response(204)


def _volume_action(fn):
    def handler(w, req):
        v = w.get("volume", req.params["id"])
        w.check_lock("volume", v["id"])
        a = fn(w, v, _body(req))
        w.touch("volume", v["id"])
        return ok({"action": _act(w, a)}, 201)
    return handler


@_volume_action
def attach_volume(w, v, body):
    s = w.get("server", body.get("server"))
    if v.get("server") is not None:
        raise APIError(409, "volume_already_attached",
                       f"volume {v['id']} is already attached to server {v['server']}")
    if catalog.DATACENTER_BY_NAME[s["datacenter"]]["location"]["name"] != v["location"]:
        raise invalid({"server": f"server {s['id']} is not in the volume's location {v['location']}"})
    w.check_lock("server", s["id"])
    call = (w.backend.attach_volume, (w.volume_spec(v), w.server_spec(s)))
    return w.new_action("attach_volume", [("volume", v["id"]), ("server", s["id"])],
                        locks=[("volume", v["id"]), ("server", s["id"])],
                        on_success=[["volume", v["id"], {"server": s["id"]}]],
                        backend_call=call)


@_volume_action
def detach_volume(w, v, body):
    if v.get("server") is None:
        raise APIError(409, "volume_not_attached", f"volume {v['id']} is not attached")
    s = w.objs["server"].get(v["server"])
    if s is not None:
        w.check_lock("server", s["id"])
    locks = [("volume", v["id"])] + ([("server", s["id"])] if s else [])
    call = (w.backend.detach_volume, (w.volume_spec(v), w.server_spec(s))) if s else None
    return w.new_action("detach_volume", locks, locks=locks,
                        on_success=[["volume", v["id"], {"server": None}]], backend_call=call)


@_volume_action
def resize_volume(w, v, body):
    size = _size(body)
    if size <= v["size"]:
        raise invalid({"size": f"must be larger than the current size {v['size']} GB "
                               "(volumes can only grow)"})
    return w.new_action("resize_volume", [("volume", v["id"])], locks=[("volume", v["id"])],
                        on_success=[["volume", v["id"], {"size": size}]],
                        backend_call=(w.backend.resize_volume, (w.volume_spec(v), size)))


change_protection_volume = _change_protection("volume")


# ---------------------------------------------------------------------------------------
# Firewalls
PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")


def _check_rules(rules) -> list:
    if not isinstance(rules, list):
        raise invalid({"rules": "must be a list"})
    out = []
    for i, r in enumerate(rules):
        f = f"rules[{i}]"
        if not isinstance(r, dict):
            raise invalid({f: "must be an object"})
        d, proto = r.get("direction"), r.get("protocol")
        if d not in ("in", "out"):
            raise invalid({f"{f}.direction": "must be 'in' or 'out'"})
        if proto not in PROTOCOLS:
            raise invalid({f"{f}.protocol": f"must be one of {', '.join(PROTOCOLS)}"})
        port = r.get("port")
        if proto in ("tcp", "udp"):
            if not isinstance(port, str) or not re.fullmatch(r"any|\d{1,5}(-\d{1,5})?", port):
                raise invalid({f"{f}.port": "is required for tcp/udp: a port, a range "
                                            "'80-85' or 'any'"})
            nums = [int(x) for x in port.split("-")] if port != "any" else []
            if any(not 1 <= x <= 65535 for x in nums) or (len(nums) == 2 and nums[0] > nums[1]):
                raise invalid({f"{f}.port": f"port {port!r} is out of range 1-65535"})
        elif port is not None:
            raise invalid({f"{f}.port": f"must be empty for protocol {proto}"})
        ips_field = "source_ips" if d == "in" else "destination_ips"
        ips = r.get(ips_field) or []
        if not ips:
            raise invalid({f"{f}.{ips_field}": f"is required for direction {d}"})
        for ip in ips:
            try:
                ipaddress.ip_network(ip, strict=False)
            except (ValueError, TypeError):
                raise invalid({f"{f}.{ips_field}": f"{ip!r} is not an IP network"})
        out.append({"direction": d, "protocol": proto, "port": port,
                    "source_ips": list(r.get("source_ips") or []) if d == "in" else [],
                    "destination_ips": list(r.get("destination_ips") or []) if d == "out" else [],
                    "description": r.get("description")})
    return out


def firewall_json(w, f):
    applied = []
    for t in f["applied_to"]:
        if t["type"] == "server":
            applied.append({"type": "server", "server": {"id": t["server"]["id"]}})
        else:
            sel = w.selector(t["label_selector"]["selector"])
            applied.append({"type": "label_selector",
                            "label_selector": {"selector": t["label_selector"]["selector"]},
                            "applied_to_resources": [
                                {"type": "server", "server": {"id": s["id"]}}
                                for s in w.objs["server"].values() if sel.matches(s["labels"])]})
    return {"id": f["id"], "name": f["name"], "labels": f["labels"], "created": f["created"],
            "rules": f["rules"], "applied_to": applied}


def list_firewalls(w, req):
    items = filtered(w, req, w.objs["firewall"].values())
    return paginate(w, req, "firewalls", items, lambda o: firewall_json(w, o))


def get_firewall(w, req):
    return ok({"firewall": firewall_json(w, w.get("firewall", req.params["id"]))})


def _targets(w, items, field_name) -> list:
    if not isinstance(items, list):
        raise invalid({field_name: "must be a list"})
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, dict):
            raise invalid({f"{field_name}[{i}]": "must be an object"})
        if t.get("type") == "server":
            sid = (t.get("server") or {}).get("id")
            if sid is None or int(sid) not in w.objs["server"]:
                raise APIError(404, "firewall_resource_not_found",
                               f"server {sid} of {field_name}[{i}] not found")
            out.append({"type": "server", "server": {"id": int(sid)}})
        elif t.get("type") == "label_selector":
            sel = (t.get("label_selector") or {}).get("selector")
            w.selector(sel or "", f"{field_name}[{i}].label_selector.selector")
            out.append({"type": "label_selector", "label_selector": {"selector": sel}})
        else:
            raise invalid({f"{field_name}[{i}].type": "must be 'server' or 'label_selector'"})
    return out


def _target_text(t) -> str:
    if t["type"] == "server":
        return f"server {t['server']['id']}"
    return f"label selector '{t['label_selector']['selector']}'"


def _same_target(a, b) -> bool:
    if a["type"] != b["type"]:
        return False
    if a["type"] == "server":
        return a["server"]["id"] == b["server"]["id"]
    return a["label_selector"]["selector"] == b["label_selector"]["selector"]


def _target_resources(t):
    if t["type"] == "server":
        return [("firewall_target_server", t["server"]["id"])]
    return []


def _fw_actions(w, f, command, targets) -> list:
    acts = []
    for t in targets:
        res = [("firewall", f["id"])]
        if t["type"] == "server":
            res.append(("server", t["server"]["id"]))
        acts.append(_act(w, w.new_action(command, res)))
    return acts


def create_firewall(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"))
    labels = w.check_labels(body.get("labels"))
    rules = _check_rules(body.get("rules") or [])
    targets = _targets(w, body.get("apply_to") or [], "apply_to")
    if w.name_taken("firewall", name):
        raise uniqueness("name", f"firewall name {name!r} is already used")
    f = w.put("firewall", {"id": w.new_id("firewall"), "name": name, "labels": labels,
                           "created": iso(time.time()), "rules": rules, "applied_to": targets})
    return ok({"firewall": firewall_json(w, f),
               "actions": _fw_actions(w, f, "apply_firewall", targets)}, 201)


update_firewall = _update("firewall", "firewall", firewall_json)


def delete_firewall(w, req):
    f = w.get("firewall", req.params["id"])
    if f["applied_to"]:
        raise APIError(422, "resource_in_use", f"firewall {f['id']} is still applied; remove "
                       "it from its resources first")
    w.remove("firewall", f["id"])
    return Response(204)


def set_rules(w, req):
    f = w.get("firewall", req.params["id"])
    f["rules"] = _check_rules(_body(req).get("rules", []))
    w.touch("firewall", f["id"])
    acts = [_act(w, w.new_action("set_firewall_rules", [("firewall", f["id"])]))]
    acts += _fw_actions(w, f, "apply_firewall",
                        [t for t in f["applied_to"] if t["type"] == "server"])
    return ok({"actions": acts}, 201)


def apply_to_resources(w, req):
    f = w.get("firewall", req.params["id"])
    targets = _targets(w, _body(req).get("apply_to"), "apply_to")
    for t in targets:
        if any(_same_target(t, x) for x in f["applied_to"]):
            raise APIError(409, "firewall_already_applied",
                           f"firewall {f['id']} is already applied to {_target_text(t)}")
    f["applied_to"].extend(targets)
    w.touch("firewall", f["id"])
    return ok({"actions": _fw_actions(w, f, "apply_firewall", targets)}, 201)


def remove_from_resources(w, req):
    f = w.get("firewall", req.params["id"])
    targets = _targets(w, _body(req).get("remove_from"), "remove_from")
    for t in targets:
        if not any(_same_target(t, x) for x in f["applied_to"]):
            raise APIError(409, "firewall_already_removed",
                           f"firewall {f['id']} is not applied to {_target_text(t)}")
    f["applied_to"] = [x for x in f["applied_to"] if not any(_same_target(t, x) for t in targets)]
    w.touch("firewall", f["id"])
    return ok({"actions": _fw_actions(w, f, "remove_firewall", targets)}, 201)


# ---------------------------------------------------------------------------------------
# Networks
def _net(value, field_name):
    try:
        n = ipaddress.ip_network(value)
    except (ValueError, TypeError):
        raise invalid({field_name: f"{value!r} is not an IP network in CIDR notation"})
    if n.version != 4 or not n.is_private:
        raise invalid({field_name: f"{value} must be a private IPv4 network (RFC 1918)"})
    return n


def _check_subnet(n: dict, sub, field_name: str) -> dict:
    if not isinstance(sub, dict):
        raise invalid({field_name: "must be an object"})
    stype = sub.get("type")
    if stype not in ("cloud", "server", "vswitch"):
        raise invalid({f"{field_name}.type": "must be cloud, server or vswitch"})
    zone = sub.get("network_zone")
    zones = {l["network_zone"] for l in catalog.LOCATIONS}
    if zone not in zones:
        raise invalid({f"{field_name}.network_zone": f"must be one of {', '.join(sorted(zones))}"})
    whole = ipaddress.ip_network(n["ip_range"])
    if sub.get("ip_range") is None:
        taken = [ipaddress.ip_network(s["ip_range"]) for s in n["subnets"]]
        rng = next((c for c in whole.subnets(new_prefix=max(whole.prefixlen, 24))
                    if not any(c.overlaps(t) for t in taken)), None)
        if rng is None:
            raise APIError(422, "ip_range_exhausted", f"network {n['id']} has no free /24 left")
    else:
        rng = _net(sub["ip_range"], f"{field_name}.ip_range")
        if not rng.subnet_of(whole):
            raise invalid({f"{field_name}.ip_range": f"{rng} is not inside the network's {whole}"})
        if any(rng.overlaps(ipaddress.ip_network(s["ip_range"])) for s in n["subnets"]):
            raise APIError(409, "overlapping_ip_range", f"subnet {rng} overlaps an existing subnet")
    return {"type": stype, "ip_range": str(rng), "network_zone": zone,
            "gateway": str(whole.network_address + 1),
            "vswitch_id": sub.get("vswitch_id") if stype == "vswitch" else None}


def _check_route(n: dict, route, field_name: str) -> dict:
    if not isinstance(route, dict):
        raise invalid({field_name: "must be an object"})
    dest = route.get("destination")
    try:
        dn = ipaddress.ip_network(dest)
        gw = ipaddress.ip_address(route.get("gateway"))
    except (ValueError, TypeError):
        raise invalid({field_name: "needs destination (CIDR) and gateway (IP)"})
    if gw not in ipaddress.ip_network(n["ip_range"]):
        raise invalid({f"{field_name}.gateway": f"{gw} must be inside {n['ip_range']}"})
    return {"destination": str(dn), "gateway": str(gw)}


def network_json(w, n):
    return {"id": n["id"], "name": n["name"], "ip_range": n["ip_range"],
            "subnets": n["subnets"], "routes": n["routes"],
            "servers": [s["id"] for s in w.objs["server"].values()
                        if any(pn["network"] == n["id"] for pn in s["private_net"])],
            "load_balancers": [], "protection": n["protection"], "labels": n["labels"],
            "created": n["created"], "expose_routes_to_vswitch": n["expose_routes_to_vswitch"]}


def list_networks(w, req):
    return paginate(w, req, "networks", filtered(w, req, w.objs["network"].values()),
                    lambda o: network_json(w, o))


def get_network(w, req):
    return ok({"network": network_json(w, w.get("network", req.params["id"]))})


def create_network(w, req):
    body = _body(req)
    name = w.check_name(body.get("name"))
    rng = _net(body.get("ip_range"), "ip_range")
    labels = w.check_labels(body.get("labels"))
    if w.name_taken("network", name):
        raise uniqueness("name", f"network name {name!r} is already used")
    n = {"id": 0, "name": name, "ip_range": str(rng), "subnets": [], "routes": [],
         "protection": {"delete": False}, "labels": labels, "created": iso(time.time()),
         "expose_routes_to_vswitch": bool(body.get("expose_routes_to_vswitch", False))}
    for i, sub in enumerate(body.get("subnets") or []):
        n["subnets"].append(_check_subnet(n, sub, f"subnets[{i}]"))
    for i, r in enumerate(body.get("routes") or []):
        r = _check_route(n, r, f"routes[{i}]")
        if any(x["destination"] == r["destination"] for x in n["routes"]):
            raise invalid({f"routes[{i}].destination": f"{r['destination']} has a route "
                                                       "already (one route per destination)"})
        n["routes"].append(r)
    n["id"] = w.new_id("network")
    w.put("network", n)
    return ok({"network": network_json(w, n)}, 201)


def _network_extra(w, n, body):
    if "expose_routes_to_vswitch" in body:
        n["expose_routes_to_vswitch"] = _bool(body, "expose_routes_to_vswitch")


update_network = _update("network", "network", network_json, _network_extra)


def delete_network(w, req):
    n = w.get("network", req.params["id"])
    _check_protection(w, "network", n)
    if network_json(w, n)["servers"]:
        raise APIError(422, "resource_in_use", f"network {n['id']} still has servers attached")
    w.remove("network", n["id"])
    return Response(204)


def _network_action(command: str, fn: Callable):
    def handler(w, req):
        n = w.get("network", req.params["id"])
        fn(w, n, _body(req))
        w.touch("network", n["id"])
        return ok({"action": _act(w, w.new_action(command, [("network", n["id"])]))}, 201)
    return handler


def _add_subnet(w, n, body):
    n["subnets"].append(_check_subnet(n, body, "subnet"))


def _delete_subnet(w, n, body):
    rng = body.get("ip_range")
    if not any(s["ip_range"] == rng for s in n["subnets"]):
        raise invalid({"ip_range": f"network {n['id']} has no subnet {rng!r}"})
    net = ipaddress.ip_network(rng)
    for s in w.objs["server"].values():
        for pn in s["private_net"]:
            if pn["network"] == n["id"] and ipaddress.ip_address(pn["ip"]) in net:
                raise APIError(422, "resource_in_use", f"subnet {rng} still has server {s['id']}")
    n["subnets"] = [s for s in n["subnets"] if s["ip_range"] != rng]


def _add_route(w, n, body):
    r = _check_route(n, body, "route")
    same = next((x for x in n["routes"] if x["destination"] == r["destination"]), None)
    if same is not None:
        raise APIError(409, "route_already_exists",
                       f"network {n['id']} already has a route to {r['destination']} "
                       f"(via {same['gateway']}); delete it first")
    n["routes"].append(r)


def _delete_route(w, n, body):
    r = _check_route(n, body, "route")
    if r not in n["routes"]:
        raise invalid({"destination": f"network {n['id']} has no route to "
                                      f"{r['destination']} via {r['gateway']}"})
    n["routes"].remove(r)


def _change_ip_range(w, n, body):
    rng = _net(body.get("ip_range"), "ip_range")
    old = ipaddress.ip_network(n["ip_range"])
    if not old.subnet_of(rng):
        raise invalid({"ip_range": f"the new range must contain the old one ({old})"})
    n["ip_range"] = str(rng)


add_subnet = _network_action("add_subnet", _add_subnet)
delete_subnet = _network_action("delete_subnet", _delete_subnet)
add_route = _network_action("add_route", _add_route)
delete_route = _network_action("delete_route", _delete_route)
change_ip_range = _network_action("change_ip_range", _change_ip_range)
change_protection_network = _change_protection("network")
change_protection_primary_ip = _change_protection("primary_ip")


# ---------------------------------------------------------------------------------------
# Floating IPs
def floating_ip_json(w, f):
    return {"id": f["id"], "name": f["name"], "description": f["description"], "ip": f["ip"],
            "type": f["type"], "server": f["server"], "dns_ptr": f["dns_ptr"],
            "home_location": catalog.LOCATION_BY_NAME[f["home_location"]],
            "blocked": False, "protection": f["protection"], "labels": f["labels"],
            "created": f["created"]}


def list_floating_ips(w, req):
    items = filtered(w, req, w.objs["floating_ip"].values())
    return paginate(w, req, "floating_ips", items, lambda o: floating_ip_json(w, o))


def get_floating_ip(w, req):
    return ok({"floating_ip": floating_ip_json(w, w.get("floating_ip", req.params["id"]))})


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
    body = _body(req)
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
        loc = catalog.DATACENTER_BY_NAME[_dc_of(w, {"location": loc})]["location"]["name"]
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
    ip = w.alloc_ipv4() if ftype == "ipv4" else w.alloc_ipv6(floating=True)
    f = w.put("floating_ip", {
        "id": fid, "name": name or f"floating_ip-{fid}", "description": desc, "ip": ip,
        "type": ftype, "server": None, "home_location": loc,
        "dns_ptr": [{"ip": ip, "dns_ptr": default_ptr(ip)}] if ftype == "ipv4" else [],
        "protection": {"delete": False}, "labels": labels, "created": iso(time.time())})
    action = _act(w, _fip_assign(w, f, server)) if server is not None else None
    return ok({"floating_ip": floating_ip_json(w, f), "action": action}, 201)


def _floating_ip_extra(w, f, body):
    if "description" in body:
        if body["description"] is not None and not isinstance(body["description"], str):
            raise invalid({"description": "must be a string"})
        f["description"] = body["description"]


update_floating_ip = _update("floating_ip", "floating_ip", floating_ip_json, _floating_ip_extra)


def delete_floating_ip(w, req):
    f = w.get("floating_ip", req.params["id"])
    _check_protection(w, "floating_ip", f)
    w.check_lock("floating_ip", f["id"])
    s = w.objs["server"].get(f["server"]) if f["server"] is not None else None
    w.remove("floating_ip", f["id"])
    if s is not None:  # an assigned floating IP is unassigned by the delete
        w.new_action("unassign_floating_ip", [("floating_ip", f["id"]), ("server", s["id"])],
                     backend_call=(w.backend.unassign_floating_ip, (w.server_spec(s), f["ip"])))
    return Response(204)


def _fip_action(fn):
    def handler(w, req):
        f = w.get("floating_ip", req.params["id"])
        w.check_lock("floating_ip", f["id"])
        a = fn(w, f, _body(req))
        w.touch("floating_ip", f["id"])
        return ok({"action": _act(w, a)}, 201)
    return handler


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
    if not _ptr_ip_of(f, ip):
        raise invalid({"ip": f"{ip} is not an address of floating IP {f['id']}"})
    if "dns_ptr" not in body:
        raise invalid({"dns_ptr": "is required (a hostname, or null to reset)"})
    _set_dns_ptr(f, ip, body["dns_ptr"])
    return w.new_action("change_dns_ptr", [("floating_ip", f["id"])])


change_protection_floating_ip = _change_protection("floating_ip")


# ---------------------------------------------------------------------------------------
# Metrics: GET /servers/{id}/metrics with the API's series names and shapes.  The values
# are modelled (a deterministic load curve per server, zero while it is not running).
METRIC_SERIES = {
    "cpu": ("cpu",),
    "disk": ("disk.0.iops.read", "disk.0.iops.write", "disk.0.bandwidth.read",
             "disk.0.bandwidth.write"),
    "network": ("network.0.pps.in", "network.0.pps.out", "network.0.bandwidth.in",
                "network.0.bandwidth.out"),
}
_METRIC_SCALE = {"cpu": 100.0, "iops": 400.0, "bandwidth": 4.0e6, "pps": 900.0}
MAX_METRIC_POINTS = 5000


def _when(value, field_name: str) -> float:
    from datetime import datetime
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid({field_name: f"{value!r} is not an ISO-8601 timestamp"})
    if dt.tzinfo is None:
        raise invalid({field_name: f"{value!r} needs a time zone (e.g. +00:00 or Z)"})
    return dt.timestamp()


def _metric_value(sid: int, series: str, ts: float, cores: int) -> float:
    import math
    import zlib
    kind = "cpu" if series == "cpu" else series.split(".")[2]
    phase = (zlib.crc32(f"{sid}:{series}".encode()) % 1000) / 1000.0
    wave = 0.5 + 0.35 * math.sin(2 * math.pi * (ts / 3600.0 + phase))
    noise = (zlib.crc32(f"{sid}:{series}:{int(ts)}".encode()) % 1000) / 1000.0 * 0.15
    value = _METRIC_SCALE[kind] * min(1.0, wave * 0.4 + noise)
    return value * cores if kind == "cpu" else value


def get_server_metrics(w, req):
    s = w.get("server", req.params["id"])
    types = [t for v in req.qs("type") for t in v.split(",") if t]
    if not types:
        raise invalid({"type": "is required: cpu, disk and/or network"})
    bad = [t for t in types if t not in METRIC_SERIES]
    if bad:
        raise invalid({"type": f"unknown metric type {bad[0]!r}; use cpu, disk or network"})
    if req.q("start") is None or req.q("end") is None:
        raise invalid({"start": "start and end are required"})
    start, end = _when(req.q("start"), "start"), _when(req.q("end"), "end")
    if end <= start:
        raise invalid({"end": "must be after start"})
    step = req.q("step")
    try:
        step = float(step) if step is not None else max(1.0, float(int((end - start) / 200)))
    except ValueError:
        raise invalid({"step": f"{step!r} is not a number of seconds"})
    if step <= 0:
        raise invalid({"step": "must be positive"})
    if (end - start) / step > MAX_METRIC_POINTS:
        raise invalid({"step": f"too many points; at most {MAX_METRIC_POINTS} per series"})
    cores = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]["cores"]
    created = _when(s["created"], "created")
    running = s["status"] == "running"
    stamps = []
    t = start
    while t <= end:
        stamps.append(t)
        t += step
    series = {}
    for mtype in dict.fromkeys(types):
        for name in METRIC_SERIES[mtype]:
            series[name] = {"values": [
                [ts, f"{_metric_value(s['id'], name, ts, cores):.4f}"
                 if running and ts >= created else "0"] for ts in stamps]}
    return ok({"metrics": {"start": iso(start), "end": iso(end), "step": step,
                           "time_series": series}})


# ---------------------------------------------------------------------------------------
# The route table: (method, path template, handler).  Templates are those of the public
# API; {id} and {action_id} are integers.
def _resource_routes(plural: str, kind: str, list_, get_, create_=None, update_=None,
                     delete_=None, actions: Optional[dict] = None):
    routes = [("GET", f"/{plural}", list_), ("GET", f"/{plural}/{{id}}", get_)]
    if create_:
        routes.append(("POST", f"/{plural}", create_))
    if update_:
        routes.append(("PUT", f"/{plural}/{{id}}", update_))
    if delete_:
        routes.append(("DELETE", f"/{plural}/{{id}}", delete_))
    if actions is not None:
        la, ga = _resource_actions(kind)
        routes += [("GET", f"/{plural}/actions", la),
                   ("GET", f"/{plural}/actions/{{action_id}}", ga),
                   ("GET", f"/{plural}/{{id}}/actions", la),
                   ("GET", f"/{plural}/{{id}}/actions/{{action_id}}", ga)]
        for name, fn in actions.items():
            routes.append(("POST", f"/{plural}/{{id}}/actions/{name}", fn))
    return routes


ROUTES = (
    [("GET", "/actions", list_actions), ("GET", "/actions/{id}", get_action)]
    + _resource_routes("servers", "server", list_servers, get_server, create_server,
                       update_server, delete_server, {
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
                           "enable_backup": enable_backup, "disable_backup": disable_backup})
    + _resource_routes("ssh_keys", "ssh_key", list_ssh_keys, get_ssh_key, create_ssh_key,
                       update_ssh_key, delete_ssh_key)
    + _resource_routes("firewalls", "firewall", list_firewalls, get_firewall, create_firewall,
                       update_firewall, delete_firewall, {
                           "set_rules": set_rules, "apply_to_resources": apply_to_resources,
                           "remove_from_resources": remove_from_resources})
    + _resource_routes("networks", "network", list_networks, get_network, create_network,
                       update_network, delete_network, {
                           "add_subnet": add_subnet, "delete_subnet": delete_subnet,
                           "add_route": add_route, "delete_route": delete_route,
                           "change_ip_range": change_ip_range,
                           "change_protection": change_protection_network})
    + _resource_routes("volumes", "volume", list_volumes, get_volume, create_volume,
                       update_volume, delete_volume, {
                           "attach": attach_volume, "detach": detach_volume,
                           "resize": resize_volume, "change_protection": change_protection_volume})
    + _resource_routes("placement_groups", "placement_group", list_placement_groups,
                       get_placement_group, create_placement_group, update_placement_group,
                       delete_placement_group)
    + _resource_routes("primary_ips", "primary_ip", list_primary_ips, get_primary_ip,
                       create_primary_ip, update_primary_ip, delete_primary_ip, {
                           "assign": assign_primary_ip, "unassign": unassign_primary_ip,
                           "change_dns_ptr": change_dns_ptr_primary_ip,
                           "change_protection": change_protection_primary_ip})
    + _resource_routes("server_types", "server_type", list_server_types, get_server_type)
    + _resource_routes("locations", "location", list_locations, get_location)
    + _resource_routes("datacenters", "datacenter", list_datacenters, get_datacenter)
    + _resource_routes("images", "image", list_images, get_image, None, update_image,
                       delete_image, {"change_protection": change_protection_image})
    + _resource_routes("isos", "iso", list_isos, get_iso)
    + _resource_routes("floating_ips", "floating_ip", list_floating_ips, get_floating_ip,
                       create_floating_ip, update_floating_ip, delete_floating_ip, {
                           "assign": assign_floating_ip, "unassign": unassign_floating_ip,
                           "change_dns_ptr": change_dns_ptr_floating_ip,
                           "change_protection": change_protection_floating_ip})
    + [("GET", "/servers/{id}/metrics", get_server_metrics)]
)
