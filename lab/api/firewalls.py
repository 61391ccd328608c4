"""Firewalls: rules, and the servers or label selectors they apply to."""
from __future__ import annotations

import ipaddress
import re
import time

from ..errors import APIError, invalid, uniqueness
from ..world import iso
from .actions import resource_routes
from .base import Response, json_body, list_and_get, ok, update_handler


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


list_firewalls, get_firewall = list_and_get(
    "firewall", "firewalls", firewall_json)


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
        acts.append(w.action_json(w.new_action(command, res)))
    return acts


def create_firewall(w, req):
    body = json_body(req)
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


update_firewall = update_handler("firewall", firewall_json)


def delete_firewall(w, req):
    f = w.get("firewall", req.params["id"])
    if f["applied_to"]:
        raise APIError(422, "resource_in_use", f"firewall {f['id']} is still applied; remove "
                       "it from its resources first")
    w.remove("firewall", f["id"])
    return Response(204)


def set_rules(w, req):
    f = w.get("firewall", req.params["id"])
    f["rules"] = _check_rules(json_body(req).get("rules", []))
    w.touch("firewall", f["id"])
    acts = [w.action_json(w.new_action("set_firewall_rules", [("firewall", f["id"])]))]
    acts += _fw_actions(w, f, "apply_firewall",
                        [t for t in f["applied_to"] if t["type"] == "server"])
    return ok({"actions": acts}, 201)


def apply_to_resources(w, req):
    f = w.get("firewall", req.params["id"])
    targets = _targets(w, json_body(req).get("apply_to"), "apply_to")
    for t in targets:
        if any(_same_target(t, x) for x in f["applied_to"]):
            raise APIError(409, "firewall_already_applied",
                           f"firewall {f['id']} is already applied to {_target_text(t)}")
    f["applied_to"].extend(targets)
    w.touch("firewall", f["id"])
    return ok({"actions": _fw_actions(w, f, "apply_firewall", targets)}, 201)


def remove_from_resources(w, req):
    f = w.get("firewall", req.params["id"])
    targets = _targets(w, json_body(req).get("remove_from"), "remove_from")
    for t in targets:
        if not any(_same_target(t, x) for x in f["applied_to"]):
            raise APIError(409, "firewall_already_removed",
                           f"firewall {f['id']} is not applied to {_target_text(t)}")
    f["applied_to"] = [x for x in f["applied_to"] if not any(_same_target(t, x) for t in targets)]
    w.touch("firewall", f["id"])
    return ok({"actions": _fw_actions(w, f, "remove_firewall", targets)}, 201)


ROUTES = resource_routes("firewalls", "firewall", list_firewalls, get_firewall,
                         create_firewall, update_firewall, delete_firewall, {
                             "set_rules": set_rules, "apply_to_resources": apply_to_resources,
                             "remove_from_resources": remove_from_resources})
