"""SSH keys."""
from __future__ import annotations

import time

from ..errors import invalid, uniqueness
from ..world import iso, ssh_fingerprint
from .actions import resource_routes
from .base import Response, json_body, list_and_get, ok, update_handler


def ssh_key_json(w, k):
    return {f: k[f] for f in ("id", "name", "fingerprint", "public_key", "labels", "created")}


list_ssh_keys, get_ssh_key = list_and_get(
    "ssh_key", "ssh_keys", ssh_key_json,
    {"fingerprint": lambda o, v: o["fingerprint"] in v})


def create_ssh_key(w, req):
    body = json_body(req)
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


update_ssh_key = update_handler("ssh_key", ssh_key_json)


ROUTES = resource_routes("ssh_keys", "ssh_key", list_ssh_keys, get_ssh_key, create_ssh_key,
                         update_ssh_key, delete_ssh_key)
