"""Placement groups (spread, at most 10 servers)."""
from __future__ import annotations

import time

from ..errors import APIError, invalid, uniqueness
from ..world import iso
from .actions import resource_routes
from .base import Response, json_body, list_and_get, ok, update_handler


def placement_group_json(w, g):
    servers = [s["id"] for s in w.objs["server"].values() if s.get("placement_group") == g["id"]]
    return {"id": g["id"], "name": g["name"], "labels": g["labels"], "type": g["type"],
            "servers": servers, "created": g["created"]}


list_placement_groups, get_placement_group = list_and_get(
    "placement_group", "placement_groups", placement_group_json,
    {"type": lambda o, v: o["type"] in v})


def create_placement_group(w, req):
    body = json_body(req)
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


update_placement_group = update_handler("placement_group", placement_group_json)


ROUTES = resource_routes("placement_groups", "placement_group", list_placement_groups,
                         get_placement_group, create_placement_group, update_placement_group,
                         delete_placement_group)
