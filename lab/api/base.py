"""Requests and answers of the emulated API, and what every resource shares: body
field checks, listing (filters, sort, pagination, Link header), and the generic update
and change_protection handlers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlencode

from ..errors import invalid, protected, uniqueness
from ..world import KIND_LABEL, PROTECTABLE, World


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


def json_body(req: Request) -> dict:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise invalid({"body": "the request body must be a JSON object"})
    return req.body


def bool_field(body: dict, key: str, default=None):
    v = body.get(key, default)
    if v is not None and not isinstance(v, bool):
        raise invalid({key: "must be a boolean"})
    return v


def int_field(val, field_name: str) -> int:
    if isinstance(val, bool) or not isinstance(val, (int, str)):
        raise invalid({field_name: f"must be an integer, got {val!r}"})
    try:
        return int(val)
    except ValueError:
        raise invalid({field_name: f"must be an integer, got {val!r}"})


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


def update_handler(kind: str, to_json: Callable, extra: Optional[Callable] = None,
                   hostname: bool = False, flags: tuple = ()):
    """``PUT /<kind>s/{id}``: name (unique per kind; a hostname with ``hostname``), labels,
    the boolean fields ``flags``, and what ``extra(w, obj, body)`` handles."""
    def handler(w, req):
        o = w.get(kind, req.params["id"])
        body = json_body(req)
        if "name" in body:
            name = w.check_name(body["name"], hostname=hostname)
            if w.name_taken(kind, name, o["id"]):
                raise uniqueness("name", f"{KIND_LABEL[kind]} name {name!r} is already used")
            o["name"] = name
        if "labels" in body:
            o["labels"] = w.check_labels(body["labels"])
        for flag in flags:
            if flag in body:
                o[flag] = bool_field(body, flag)
        if extra:
            extra(w, o, body)
        w.touch(kind, o["id"])
        return ok({kind: to_json(w, o)})
    return handler


def check_protection(w, kind, o, what="delete"):
    if kind in PROTECTABLE and o.get("protection", {}).get(what):
        raise protected(KIND_LABEL[kind], o["id"], what)


def change_protection_handler(kind: str, fields=("delete",)):
    def handler(w, req):
        o = w.get(kind, req.params["id"])
        body = json_body(req)
        new = dict(o["protection"])
        for f in fields:
            v = bool_field(body, f)
            if v is not None:
                new[f] = v
        if kind == "server" and new["delete"] != new["rebuild"]:
            raise invalid({"rebuild": "delete and rebuild protection must have the same value"})
        a = w.new_action("change_protection", [(kind, o["id"])],
                         on_success=[[kind, o["id"], {"protection": new}]])
        o["protection"] = new
        w.touch(kind, o["id"])
        return ok({"action": w.action_json(a)}, 201)
    return handler


def list_and_get(kind: str, plural: str, to_json: Callable, filters: Optional[dict] = None):
    """The list and get handlers of a kind kept in the world: the list with the common
    filters plus ``filters`` (see ``filtered``), each object shown as ``to_json(w, obj)``."""
    def list_(w, req):
        items = filtered(w, req, w.objs[kind].values(), filters)
        return paginate(w, req, plural, items, lambda o: to_json(w, o))

    def get_(w, req):
        return ok({kind: to_json(w, w.get(kind, req.params["id"]))})
    return list_, get_


def resource_action(kind: str):
    """Decorator of ``fn(w, obj, body)``, an action of a resource: load the object, refuse
    when it is locked, answer 201 with the action (or with ``fn``'s dict when it returns
    one that holds the action)."""
    def wrap(fn: Callable):
        def handler(w, req):
            o = w.get(kind, req.params["id"])
            w.check_lock(kind, o["id"])
            w.request_base = req.base
            result = fn(w, o, json_body(req))
            w.touch(kind, o["id"])
            if isinstance(result, dict) and "action" in result:
                return ok(result, 201)
            return ok({"action": w.action_json(result)}, 201)
        handler.__name__ = fn.__name__
        return handler
    return wrap
