"""Actions: the global list, the per-resource action routes, and the helper that
builds a resource's route table.
"""
from __future__ import annotations

from typing import Optional

from ..errors import not_found
from ..world import World
from .base import ACTION_SORT_FIELDS, Request, Response, int_field, ok, paginate


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
        want = {int_field(i, "id") for i in ids}
        acts = [a for a in acts if a["id"] in want]
    status = req.qs("status")
    if status:
        acts = [a for a in acts if a["status"] in status]
    return paginate(w, req, "actions", acts, w.action_json, ACTION_SORT_FIELDS)


def list_actions(w, req):
    ids = req.qs("id")
    if ids:  # the batched wait of every client: look the ids up directly
        acts = w.objs["action"]
        found = {acts[i]["id"]: acts[i] for i in (int_field(x, "id") for x in ids) if i in acts}
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
            oid = int_field(req.params["id"], "id")
            if not any(r["type"] == kind and r["id"] == oid for r in a["resources"]):
                raise not_found("action", a["id"])
        return ok({"action": w.action_json(a)})
    return list_, get_


def resource_routes(plural: str, kind: str, list_, get_, create_=None, update_=None,
                    delete_=None, actions: Optional[dict] = None) -> list:
    """The routes ``(method, path template, handler)`` of a resource: list, get and those
    of ``create_``, ``update_``, ``delete_`` and ``actions`` (name -> handler) given."""
    routes = [("GET", f"/{plural}", list_), ("GET", f"/{plural}/{{id}}", get_)]
    if create_:
        routes.append(("POST", f"/{plural}", create_))
    if update_:
        routes.append(("PUT", f"/{plural}/{{id}}", update_))
    if delete_:
        routes.append(("DELETE", f"/{plural}/{{id}}", delete_))
    if actions is not None:
        routes += action_routes(plural, kind, actions)
    return routes


def action_routes(plural: str, kind: str, actions: dict) -> list:
    """The action routes of a resource: its action lists and ``POST .../actions/<name>``."""
    la, ga = _resource_actions(kind)
    routes = [("GET", f"/{plural}/actions", la),
              ("GET", f"/{plural}/actions/{{action_id}}", ga),
              ("GET", f"/{plural}/{{id}}/actions", la),
              ("GET", f"/{plural}/{{id}}/actions/{{action_id}}", ga)]
    for name, fn in actions.items():
        routes.append(("POST", f"/{plural}/{{id}}/actions/{name}", fn))
    return routes


ROUTES = [("GET", "/actions", list_actions), ("GET", "/actions/{id}", get_action)]
