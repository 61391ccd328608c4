"""Volumes."""
from __future__ import annotations

import time

from .. import catalog
from ..errors import APIError, invalid, uniqueness
from ..world import iso
from .actions import resource_routes
from .base import (Response, change_protection_handler, check_protection, json_body,
                   list_and_get, ok, resource_action, update_handler)
from .primary_ips import dc_of


def volume_json(w, v):
    return {"id": v["id"], "name": v["name"], "server": v.get("server"),
            "location": catalog.LOCATION_BY_NAME[v["location"]], "size": v["size"],
            "linux_device": f"/dev/disk/by-id/scsi-0HC_Volume_{v['id']}",
            "format": v.get("format"), "protection": v["protection"], "labels": v["labels"],
            "status": v["status"], "created": v["created"]}


list_volumes, get_volume = list_and_get(
    "volume", "volumes", volume_json,
    {"status": lambda o, v: o["status"] in v})


def _size(body) -> int:
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 10 <= size <= 10240:
        raise invalid({"size": "must be an integer number of GB between 10 and 10240"})
    return size


def create_volume(w, req):
    body = json_body(req)
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
        if body.get("location") is not None and dc_of(w, {"location": body["location"]}) != server["datacenter"]:
            raise invalid({"location": "must match the server's location"})
    elif body.get("location") is not None:
        loc = catalog.DATACENTER_BY_NAME[dc_of(w, {"location": body["location"]})]["location"]["name"]
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
    return ok({"volume": volume_json(w, v), "action": w.action_json(a),
               "next_actions": [w.action_json(x) for x in nxt]}, 201)


update_volume = update_handler("volume", volume_json)


def delete_volume(w, req):
    v = w.get("volume", req.params["id"])
    check_protection(w, "volume", v)
    w.check_lock("volume", v["id"])
    if v.get("server") is not None:
        raise APIError(422, "resource_in_use", f"volume {v['id']} is attached to server "
                       f"{v['server']}; detach it first")
    spec = w.volume_spec(v)
    w.remove("volume", v["id"])
    w.new_action("delete_volume", [("volume", v["id"])],
                 backend_call=(w.backend.delete_volume, (spec,)))
    return Response(204)


_volume_action = resource_action("volume")


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


change_protection_volume = change_protection_handler("volume")


ROUTES = resource_routes("volumes", "volume", list_volumes, get_volume, create_volume,
                         update_volume, delete_volume, {
                             "attach": attach_volume, "detach": detach_volume,
                             "resize": resize_volume,
                             "change_protection": change_protection_volume})
