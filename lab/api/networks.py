"""Networks: subnets, routes, and the private addresses of attached servers."""
from __future__ import annotations

import ipaddress
import time
from typing import Callable, Optional

from .. import catalog
from ..errors import APIError, invalid, uniqueness
from ..world import World, iso
from .actions import resource_routes
from .base import (Response, change_protection_handler, check_protection, json_body,
                   list_and_get, ok, update_handler)


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


list_networks, get_network = list_and_get(
    "network", "networks", network_json)


def create_network(w, req):
    body = json_body(req)
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


update_network = update_handler("network", network_json,
                                flags=("expose_routes_to_vswitch",))


def delete_network(w, req):
    n = w.get("network", req.params["id"])
    check_protection(w, "network", n)
    if network_json(w, n)["servers"]:
        raise APIError(422, "resource_in_use", f"network {n['id']} still has servers attached")
    w.remove("network", n["id"])
    return Response(204)


def _network_action(command: str, fn: Callable):
    def handler(w, req):
        n = w.get("network", req.params["id"])
        fn(w, n, json_body(req))
        w.touch("network", n["id"])
        return ok({"action": w.action_json(w.new_action(command, [("network", n["id"])]))}, 201)
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
change_protection_network = change_protection_handler("network")


def alloc_private(w: World, s: dict, n: dict, ip: Optional[str], alias_ips: list,
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


ROUTES = resource_routes("networks", "network", list_networks, get_network, create_network,
                         update_network, delete_network, {
                             "add_subnet": add_subnet, "delete_subnet": delete_subnet,
                             "add_route": add_route, "delete_route": delete_route,
                             "change_ip_range": change_ip_range,
                             "change_protection": change_protection_network})
