# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure planner for Hetzner Cloud private networks (module ``hcloud_network``).

One job: normalise a network's ip_range, subnets and routes the same way on both sides,
validate them, and say which API calls bring the network to the desired state. No API
calls here.

Subnets are keyed by their ``ip_range`` and routes by ``(destination, gateway)``; both
compare as sets. A subnet whose type or zone differs from the desired one at the same
ip_range is a conflict (the API cannot change it in place; delete it first).
"""

from __future__ import annotations

import ipaddress

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import Plan

SUBNET_TYPES = ("cloud", "server", "vswitch")
NETWORK_ZONES = ("eu-central", "us-east", "us-west", "ap-southeast")


def _net(value, where, problems, version=4):
    try:
        net = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        problems.append("%s: %r is not an IP network in CIDR form (e.g. 10.0.0.0/16)" % (where, value))
        return None
    if net.version != version:
        problems.append("%s: %r must be an IPv%d network" % (where, value, version))
        return None
    return str(net)


def _addr(value, where, problems):
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        problems.append("%s: %r is not an IP address" % (where, value))
        return None


def normalize_subnets(subnets, ip_range=None):
    """``(canonical subnets sorted by ip_range, problems)``; ``None`` stays ``None``."""
    if subnets is None:
        return None, []
    problems = []
    out = {}
    parent = ipaddress.ip_network(ip_range) if ip_range else None
    for i, subnet in enumerate(subnets):
        where = "subnets[%d]" % i
        if not isinstance(subnet, dict):
            problems.append("%s: a subnet must be a mapping with ip_range and network_zone" % where)
            continue
        if not subnet.get("ip_range"):
            problems.append("%s: ip_range is required (e.g. 10.0.1.0/24)" % where)
            continue
        rng = _net(subnet["ip_range"], where + ".ip_range", problems)
        stype = str(subnet.get("type") or "cloud").lower()
        if stype not in SUBNET_TYPES:
            problems.append("%s: type %r must be one of %s" % (where, stype, ", ".join(SUBNET_TYPES)))
        zone = subnet.get("network_zone")
        if not zone:
            problems.append("%s: network_zone is required (one of %s)" % (where, ", ".join(NETWORK_ZONES)))
        if stype == "vswitch" and not subnet.get("vswitch_id"):
            problems.append("%s: a vswitch subnet needs vswitch_id" % where)
        if rng and parent is not None and not ipaddress.ip_network(rng).subnet_of(parent):
            problems.append("%s: %s does not lie within the network's ip_range %s" % (where, rng, parent))
        if rng in out:
            problems.append("%s: ip_range %s is listed twice" % (where, rng))
        if rng:
            out[rng] = {"type": stype, "ip_range": rng, "network_zone": zone,
                        "vswitch_id": int(subnet["vswitch_id"]) if subnet.get("vswitch_id") else None}
    if problems:
        return None, problems
    return [out[k] for k in sorted(out)], []


def normalize_routes(routes):
    """``(canonical routes sorted, problems)``; ``None`` stays ``None``."""
    if routes is None:
        return None, []
    problems = []
    out = {}
    for i, route in enumerate(routes):
        where = "routes[%d]" % i
        if not isinstance(route, dict) or not route.get("destination") or not route.get("gateway"):
            problems.append("%s: a route needs destination (CIDR) and gateway (address)" % where)
            continue
        dest = _net(route["destination"], where + ".destination", problems)
        gw = _addr(route["gateway"], where + ".gateway", problems)
        if dest and gw:
            out[(dest, gw)] = {"destination": dest, "gateway": gw}
    if problems:
        return None, problems
    return [out[k] for k in sorted(out)], []


def validate_ip_range(ip_range):
    """``(canonical ip_range or None, problems)``."""
    if ip_range is None:
        return None, []
    problems = []
    rng = _net(ip_range, "ip_range", problems)
    if rng and not ipaddress.ip_network(rng).is_private:
        problems.append("ip_range %s must be a private range (RFC 1918, e.g. 10.0.0.0/16)" % rng)
    return (rng if not problems else None), problems


def observe_network(data):
    """The planner's view of an API network dict (``None`` stays ``None``)."""
    if data is None:
        return None
    subnets = []
    for s in data.get("subnets") or []:
        subnets.append({"type": s.get("type") or "cloud", "ip_range": str(ipaddress.ip_network(s["ip_range"])),
                        "network_zone": s.get("network_zone"),
                        "vswitch_id": s.get("vswitch_id") or None})
    routes = [{"destination": str(ipaddress.ip_network(r["destination"])),
               "gateway": str(ipaddress.ip_address(r["gateway"]))} for r in data.get("routes") or []]
    protection = data.get("protection") or {}
    return {
        "id": data.get("id"),
        "name": data.get("name"),
        "ip_range": str(ipaddress.ip_network(data["ip_range"])) if data.get("ip_range") else None,
        "labels": dict(data.get("labels") or {}),
        "subnets": sorted(subnets, key=lambda s: s["ip_range"]),
        "routes": sorted(routes, key=lambda r: (r["destination"], r["gateway"])),
        "expose_routes_to_vswitch": bool(data.get("expose_routes_to_vswitch", False)),
        "delete_protection": bool(protection.get("delete", False)),
        "servers": list(data.get("servers") or []),
    }


_FIELDS = ("name", "ip_range", "labels", "subnets", "routes", "expose_routes_to_vswitch", "delete_protection")


def _view(net):
    return dict((f, net.get(f)) for f in _FIELDS)


def plan_network(observed, desired, state):
    """Plan for one network.

    ``desired``: ``name``, ``ip_range``, ``labels``, ``subnets``, ``routes``,
    ``expose_routes_to_vswitch``, ``delete_protection`` - each ``None`` when omitted.
    Steps in the seam's order: ``create`` | ``update`` (labels, expose_routes_to_vswitch),
    ``change_ip_range``, ``delete_route``, ``delete_subnet``, ``add_subnet``, ``add_route``,
    ``change_protection``; or for ``absent``: ``delete``. The subnets/routes to add and delete
    are in ``changes``.
    """
    if state == "absent":
        if observed is None:
            return Plan()
        plan = Plan(op="delete", steps=["delete"], before=_view(observed), after={})
        if observed["delete_protection"]:
            plan.conflicts.append("network %s has delete protection; set delete_protection: false "
                                  "first" % observed["name"])
        return plan

    if observed is None:
        after = {
            "name": desired["name"],
            "ip_range": desired.get("ip_range"),
            "labels": desired.get("labels") or {},
            "subnets": desired.get("subnets") or [],
            "routes": desired.get("routes") or [],
            "expose_routes_to_vswitch": bool(desired.get("expose_routes_to_vswitch")),
            "delete_protection": bool(desired.get("delete_protection")),
        }
        plan = Plan(op="create", steps=["create"], changes=dict(after), before={}, after=after)
        if not desired.get("ip_range"):
            plan.conflicts.append("ip_range is required to create network %s (e.g. 10.0.0.0/16)"
                                  % desired["name"])
        if after["delete_protection"]:
            plan.steps.append("change_protection")
        return plan

    steps, changes, conflicts = [], {}, []
    after = _view(observed)
    update = {}
    if desired.get("labels") is not None and desired["labels"] != observed["labels"]:
        update["labels"] = desired["labels"]
    if desired.get("expose_routes_to_vswitch") is not None and \
            bool(desired["expose_routes_to_vswitch"]) != observed["expose_routes_to_vswitch"]:
        update["expose_routes_to_vswitch"] = bool(desired["expose_routes_to_vswitch"])
    if update:
        steps.append("update")
        changes["update"] = update
        after.update(update)
    if desired.get("ip_range") is not None and desired["ip_range"] != observed["ip_range"]:
        want = ipaddress.ip_network(desired["ip_range"])
        have = ipaddress.ip_network(observed["ip_range"])
        if have.subnet_of(want):
            steps.append("change_ip_range")
            changes["ip_range"] = desired["ip_range"]
            after["ip_range"] = desired["ip_range"]
        else:
            conflicts.append("ip_range of network %s can only grow to a range that contains %s "
                             "(requested %s)" % (observed["name"], have, want))
    if desired.get("routes") is not None:
        want = dict(((r["destination"], r["gateway"]), r) for r in desired["routes"])
        have = dict(((r["destination"], r["gateway"]), r) for r in observed["routes"])
        delete = [have[k] for k in sorted(set(have) - set(want))]
        add = [want[k] for k in sorted(set(want) - set(have))]
        if delete:
            steps.append("delete_route")
            changes["delete_routes"] = delete
        after["routes"] = desired["routes"]
    else:
        add = []
    if desired.get("subnets") is not None:
        want = dict((s["ip_range"], s) for s in desired["subnets"])
        have = dict((s["ip_range"], s) for s in observed["subnets"])
        delete_s = [have[k] for k in sorted(set(have) - set(want))]
        add_s = [want[k] for k in sorted(set(want) - set(have))]
        for key in sorted(set(want) & set(have)):
            w, h = want[key], have[key]
            for field in ("type", "network_zone", "vswitch_id"):
                if w.get(field) is not None and w.get(field) != h.get(field):
                    conflicts.append("subnet %s of network %s has %s %r, requested %r; a subnet "
                                     "cannot be changed in place (remove it from subnets, then add "
                                     "it back)" % (key, observed["name"], field, h.get(field), w.get(field)))
        if delete_s:
            steps.append("delete_subnet")
            changes["delete_subnets"] = delete_s
        if add_s:
            steps.append("add_subnet")
            changes["add_subnets"] = add_s
        after["subnets"] = desired["subnets"]
    if add:
        steps.append("add_route")
        changes["add_routes"] = add
    if desired.get("delete_protection") is not None and \
            bool(desired["delete_protection"]) != observed["delete_protection"]:
        steps.append("change_protection")
        changes["delete_protection"] = bool(desired["delete_protection"])
        after["delete_protection"] = bool(desired["delete_protection"])
    if desired.get("name") is not None and desired["name"] != observed["name"]:
        conflicts.append("network name %r differs from %r" % (desired["name"], observed["name"]))
    return Plan(op="update" if steps else "none", steps=steps, changes=changes, conflicts=conflicts,
                before=_view(observed), after=after)
