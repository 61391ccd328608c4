# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure planner for Hetzner Cloud firewalls (module ``hcloud_firewall``).

One job: normalise firewall rules and apply_to targets the same way on both sides (the
module's options and the API's answer), validate them, and compare. No API calls here.

A rule is canonical when: ``direction`` is ``in``/``out`` (default ``in``); ``protocol``
is lower case; ``port`` is a string (``"80"``, ``"1024-2048"``, ``"any"``) for tcp/udp and
``None`` otherwise; the address lists hold networks in the API's own form
(``ipaddress.ip_network(..., strict=False)``), sorted, without duplicates; an empty
``description`` is ``None``. Hetzner firewalls are allow lists, so the order of rules
does not matter: rule sets compare as sorted lists.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import Plan

DIRECTIONS = ("in", "out")
PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")
PORT_PROTOCOLS = ("tcp", "udp")


def _port(value, where, problems):
    if value is None or value == "":
        problems.append("%s: protocol tcp and udp need a port (e.g. '22', '1024-2048' or 'any')" % where)
        return None
    text = str(value).strip().lower()
    if text == "any":
        return "any"
    parts = text.split("-")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        problems.append("%s: port %r must be a number, a range 'low-high' or 'any'" % (where, value))
        return None
    numbers = [int(p) for p in parts]
    if not all(1 <= n <= 65535 for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
        problems.append("%s: port %r must lie within 1-65535 (and low <= high)" % (where, value))
        return None
    if len(numbers) == 2 and numbers[0] == numbers[1]:
        return str(numbers[0])
    return "-".join(str(n) for n in numbers)


def _networks(values, where, problems):
    out = set()
    for value in values or []:
        try:
            out.add(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            problems.append("%s: %r is not an IP address or network (e.g. 0.0.0.0/0, ::/0, "
                            "192.0.2.0/24)" % (where, value))
    return sorted(out)


def normalize_rule(rule, index=0, problems=None):
    """The canonical form of one rule (an option item or an API rule dict).

    Problems are appended to ``problems`` (a list) so that every bad rule is reported at once."""
    problems = problems if problems is not None else []
    where = "rules[%d]" % index
    if not isinstance(rule, dict):
        problems.append("%s: a rule must be a mapping, got %r" % (where, rule))
        return None
    direction = str(rule.get("direction") or "in").lower()
    if direction not in DIRECTIONS:
        problems.append("%s: direction %r must be one of %s" % (where, direction, ", ".join(DIRECTIONS)))
    protocol = str(rule.get("protocol") or "").lower()
    if protocol not in PROTOCOLS:
        problems.append("%s: protocol %r must be one of %s" % (where, rule.get("protocol"), ", ".join(PROTOCOLS)))
    port = None
    if protocol in PORT_PROTOCOLS:
        port = _port(rule.get("port"), where, problems)
    elif rule.get("port") not in (None, ""):
        problems.append("%s: protocol %s takes no port (got %r)" % (where, protocol, rule.get("port")))
    source = _networks(rule.get("source_ips"), where + ".source_ips", problems)
    destination = _networks(rule.get("destination_ips"), where + ".destination_ips", problems)
    if direction == "in":
        if not source:
            problems.append("%s: an incoming rule needs source_ips (e.g. ['0.0.0.0/0', '::/0'])" % where)
        if destination:
            problems.append("%s: an incoming rule takes no destination_ips" % where)
    elif direction == "out":
        if not destination:
            problems.append("%s: an outgoing rule needs destination_ips (e.g. ['0.0.0.0/0', '::/0'])" % where)
        if source:
            problems.append("%s: an outgoing rule takes no source_ips" % where)
    description = rule.get("description") or None
    return {
        "direction": direction,
        "protocol": protocol,
        "port": port,
        "source_ips": source,
        "destination_ips": destination,
        "description": description,
    }


def _rule_key(rule):
    return (rule["direction"], rule["protocol"], rule["port"] or "", tuple(rule["source_ips"]),
            tuple(rule["destination_ips"]), rule["description"] or "")


def normalize_rules(rules):
    """``(canonical sorted rules, problems)``; ``rules=None`` (omitted) gives ``(None, [])``."""
    if rules is None:
        return None, []
    problems = []
    out = [normalize_rule(rule, i, problems) for i, rule in enumerate(rules)]
    if problems:
        return None, problems
    unique = {}
    for rule in out:
        unique[_rule_key(rule)] = rule
    return [unique[k] for k in sorted(unique)], []


def rule_to_api(rule):
    """A canonical rule as the API's request body wants it."""
    body = {"direction": rule["direction"], "protocol": rule["protocol"],
            "source_ips": list(rule["source_ips"]), "destination_ips": list(rule["destination_ips"])}
    if rule["port"] is not None:
        body["port"] = rule["port"]
    if rule["description"]:
        body["description"] = rule["description"]
    return body


def observe_firewall(data):
    """The planner's view of an API firewall dict (``None`` stays ``None``)."""
    if data is None:
        return None
    rules, problems = normalize_rules(data.get("rules") or [])
    if problems:  # the API never returns invalid rules; keep them visible anyway
        rules = [dict(r) for r in data.get("rules") or []]
    servers, selectors = [], []
    for target in data.get("applied_to") or []:
        if target.get("type") == "server" and target.get("server"):
            servers.append(int(target["server"]["id"]))
        elif target.get("type") == "label_selector" and target.get("label_selector"):
            selectors.append(str(target["label_selector"]["selector"]))
    return {
        "id": data.get("id"),
        "name": data.get("name"),
        "labels": dict(data.get("labels") or {}),
        "rules": rules,
        "servers": sorted(set(servers)),
        "label_selectors": sorted(set(selectors)),
    }


def apply_to_api(servers=(), label_selectors=()):
    """The ``apply_to`` / ``remove_from`` list of the API for servers (ids) and selectors."""
    out = [{"type": "server", "server": {"id": int(sid)}} for sid in servers]
    out += [{"type": "label_selector", "label_selector": {"selector": sel}} for sel in label_selectors]
    return out


def _view(fw):
    return {"name": fw.get("name"), "labels": fw.get("labels") or {}, "rules": fw.get("rules") or [],
            "servers": fw.get("servers") or [], "label_selectors": fw.get("label_selectors") or []}


def plan_firewall(observed, desired, state):
    """Plan for one firewall.

    ``observed``: :func:`observe_firewall` output or ``None``. ``desired``: ``name``,
    ``labels``, ``rules`` (canonical), ``servers`` (ids), ``label_selectors`` - each
    ``None`` when omitted (leave as is). Steps, in the order the seam runs them:

    * ``create`` (body in ``changes``), or ``update`` (labels), ``set_rules``,
      ``apply_to`` (``changes['apply_servers']``/``['apply_selectors']``), ``remove_from``
      (``changes['remove_servers']``/``['remove_selectors']``);
    * for ``absent``: ``remove_from`` every target, then ``delete``.
    """
    if state == "absent":
        if observed is None:
            return Plan()
        steps = []
        changes = {}
        if observed["servers"] or observed["label_selectors"]:
            steps.append("remove_from")
            changes["remove_servers"] = list(observed["servers"])
            changes["remove_selectors"] = list(observed["label_selectors"])
        steps.append("delete")
        return Plan(op="delete", steps=steps, changes=changes, before=_view(observed), after={})

    if observed is None:
        after = {
            "name": desired["name"],
            "labels": desired.get("labels") or {},
            "rules": desired.get("rules") or [],
            "servers": sorted(set(desired.get("servers") or [])),
            "label_selectors": sorted(set(desired.get("label_selectors") or [])),
        }
        return Plan(op="create", steps=["create"], changes=after, before={}, after=after)

    steps = []
    changes = {}
    after = _view(observed)
    if desired.get("labels") is not None and desired["labels"] != observed["labels"]:
        steps.append("update")
        changes["labels"] = desired["labels"]
        after["labels"] = desired["labels"]
    if desired.get("rules") is not None and desired["rules"] != observed["rules"]:
        steps.append("set_rules")
        changes["rules"] = desired["rules"]
        after["rules"] = desired["rules"]
    apply_servers, remove_servers, apply_sel, remove_sel = [], [], [], []
    if desired.get("servers") is not None:
        want = set(desired["servers"])
        have = set(observed["servers"])
        apply_servers, remove_servers = sorted(want - have), sorted(have - want)
        after["servers"] = sorted(want)
    if desired.get("label_selectors") is not None:
        want = set(desired["label_selectors"])
        have = set(observed["label_selectors"])
        apply_sel, remove_sel = sorted(want - have), sorted(have - want)
        after["label_selectors"] = sorted(want)
    if apply_servers or apply_sel:
        steps.append("apply_to")
        changes["apply_servers"], changes["apply_selectors"] = apply_servers, apply_sel
    if remove_servers or remove_sel:
        steps.append("remove_from")
        changes["remove_servers"], changes["remove_selectors"] = remove_servers, remove_sel
    return Plan(op="update" if steps else "none", steps=steps, changes=changes,
                before=_view(observed), after=after)
