# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure planners for Hetzner Cloud servers (``hcloud_server``) and fleets (``hcloud_fleet``).

One job: from a desired server (module options) and an observed one (the API's server
JSON) decide the steps, the diff and ``changed``. No API calls here.

Both sides are normalised to the same flat form (:func:`observe_server`,
:func:`desired_server`) before comparison: types, images and locations by name (or id as a
string), labels as str->str, firewalls and networks as sets of ids (names are resolved to
ids by the module, once per run, through ``refs``).

Rules (an omitted option, i.e. ``None``, never changes anything):

* ``server_type`` differs -> ``change_type``. A running server must be shut down for it
  and is booted again afterwards (``shutdown``, ``wait_off``, ``change_type``,
  ``power_on``), which only happens with ``allow_reboot``: without it the change is
  reported in ``Plan.pending`` and not carried out. The shutdown is graceful (ACPI); a
  server still running after ``shutdown_timeout`` seconds is powered off.
* ``labels`` differ -> ``update`` (the label set given is the complete set).
* ``backups`` -> ``enable_backup`` / ``disable_backup``.
* ``delete_protection`` / ``rebuild_protection`` -> ``change_protection``.
* ``firewalls`` / ``networks``: missing ones are applied / attached; others are left alone.
* ``location``, ``image`` (without ``state: rebuild``), ``placement_group``,
  ``enable_ipv4`` / ``enable_ipv6`` cannot change on an existing server: a difference is a
  *conflict* and the module fails, saying what to do.
* ``ssh_keys`` and ``user_data`` only matter at creation (and for rescue / rebuild); the API
  does not report them, so they cannot be compared (see the modules' notes).
"""

from __future__ import annotations

import ipaddress

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import Plan
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    label_problems,
    normalize_labels,
)

STATES = ("present", "absent", "started", "stopped", "restarted", "rebuild", "rescue")
FLEET_STATES = ("present", "absent", "started", "stopped", "rescue")


def server_option_spec(states):
    """The argument spec of one server, shared by hcloud_server (top level) and
    hcloud_fleet (each item of ``servers``); only the allowed ``state`` values differ."""
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=list(states)),
        server_type=dict(type="str"),
        upgrade_disk=dict(type="bool", default=False),
        image=dict(type="str"),
        location=dict(type="str"),
        ssh_keys=dict(type="list", elements="str", no_log=False),
        labels=dict(type="dict"),
        firewalls=dict(type="list", elements="str"),
        private_networks=dict(type="list", elements="str", aliases=["networks"]),
        placement_group=dict(type="str"),
        user_data=dict(type="str"),
        enable_ipv4=dict(type="bool"),
        enable_ipv6=dict(type="bool"),
        backups=dict(type="bool"),
        delete_protection=dict(type="bool"),
        rebuild_protection=dict(type="bool"),
        allow_reboot=dict(type="bool", default=False),
        shutdown_timeout=dict(type="int", default=60),
    )


#: The fields that describe a server in diffs and facts, in display order.
FIELDS = ("name", "server_type", "image", "location", "labels", "backups", "delete_protection",
          "rebuild_protection", "placement_group", "enable_ipv4", "enable_ipv6", "firewalls",
          "networks", "status", "rescue_enabled")
IMMUTABLE = {
    "location": "the location of an existing server cannot change; delete and re-create it",
    "image": "an existing server keeps its image; use state=rebuild to reinstall it",
    "placement_group": "the placement group of an existing server cannot be changed by this module",
    "enable_ipv4": "a public IPv4 can only be chosen when the server is created",
    "enable_ipv6": "a public IPv6 can only be chosen when the server is created",
}
#: Desired options that are passed through at creation only and never compared.
CREATE_ONLY = ("ssh_keys", "user_data")


def _ref_name(obj):
    """``{"id": 3, "name": "x"}`` -> ``"x"`` (or ``"3"`` if it has no name); None stays None."""
    if not obj:
        return None
    if isinstance(obj, dict):
        if obj.get("name"):
            return str(obj["name"])
        if obj.get("id") is not None:
            return str(obj["id"])
        return None
    return str(obj)


def ipv6_address(network):
    """``"2001:db8::/64"`` -> ``"2001:db8::1"`` (the address Hetzner routes to the server)."""
    if not network:
        return None
    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return None
    return str(net.network_address + 1)


def observe_server(raw):
    """The API's server JSON -> the flat, normalised form used by the planners."""
    if raw is None:
        return None
    public = raw.get("public_net") or {}
    protection = raw.get("protection") or {}
    ipv4 = public.get("ipv4") or None
    ipv6 = public.get("ipv6") or None
    stype = raw.get("server_type") or {}
    return {
        "id": raw.get("id"),
        "name": raw.get("name"),
        "status": raw.get("status"),
        "server_type": _ref_name(stype),
        "server_type_id": stype.get("id") if isinstance(stype, dict) else None,
        "architecture": stype.get("architecture") if isinstance(stype, dict) else None,
        "image": _ref_name(raw.get("image")),
        "image_id": (raw.get("image") or {}).get("id"),
        "location": _ref_name(raw.get("location")) or _ref_name(
            ((raw.get("datacenter") or {}).get("location"))),
        "created": raw.get("created"),
        "labels": dict(raw.get("labels") or {}),
        "backups": raw.get("backup_window") is not None,
        "backup_window": raw.get("backup_window"),
        "delete_protection": bool(protection.get("delete")),
        "rebuild_protection": bool(protection.get("rebuild")),
        "placement_group": _ref_name(raw.get("placement_group")),
        "enable_ipv4": ipv4 is not None,
        "enable_ipv6": ipv6 is not None,
        "ipv4": ipv4.get("ip") if ipv4 else None,
        "ipv6_network": ipv6.get("ip") if ipv6 else None,
        "ipv6": ipv6_address(ipv6.get("ip")) if ipv6 else None,
        "firewalls": sorted(str(f.get("id")) for f in (public.get("firewalls") or [])),
        "networks": sorted(str(n.get("network")) for n in (raw.get("private_net") or [])),
        "private_networks": [{"network": n.get("network"), "ip": n.get("ip"),
                              "alias_ips": list(n.get("alias_ips") or []),
                              "mac_address": n.get("mac_address")}
                             for n in (raw.get("private_net") or [])],
        "private_ipv4": ((raw.get("private_net") or [{}])[0]).get("ip"),
        "rescue_enabled": bool(raw.get("rescue_enabled")),
        "primary_disk_size": raw.get("primary_disk_size"),
        "locked": bool(raw.get("locked")),
    }


def desired_server(params):
    """Module options (one server) -> the flat desired form. ``None`` means "leave as is"."""
    def _list(value):
        return None if value is None else [str(v) for v in value]

    def _str(value):
        return None if value is None else str(value)

    return {
        "name": params.get("name"),
        "state": params.get("state") or "present",
        "server_type": _str(params.get("server_type")),
        "image": _str(params.get("image")),
        "location": _str(params.get("location")),
        "labels": normalize_labels(params.get("labels")),
        # The labels as given, for validation: normalize_labels turns True into "True",
        # which would hide a boolean that the API refuses.
        "given_labels": params.get("labels"),
        "backups": params.get("backups"),
        "delete_protection": params.get("delete_protection"),
        "rebuild_protection": params.get("rebuild_protection"),
        "placement_group": _str(params.get("placement_group")),
        "enable_ipv4": params.get("enable_ipv4"),
        "enable_ipv6": params.get("enable_ipv6"),
        "firewalls": _list(params.get("firewalls")),
        "networks": _list(params.get("private_networks", params.get("networks"))),
        "ssh_keys": _list(params.get("ssh_keys")),
        "user_data": params.get("user_data"),
        "upgrade_disk": bool(params.get("upgrade_disk")),
        "allow_reboot": bool(params.get("allow_reboot")),
        "shutdown_timeout": int(params.get("shutdown_timeout") or 60),
    }


def validate_server(desired, where=None):
    """Pure checks of one desired server; returns a list of problems."""
    prefix = (where + ": ") if where else ""
    problems = []
    name = desired.get("name")
    if not name:
        problems.append(prefix + "name is required")
    elif len(name) > 63 or not all(c.isalnum() or c in "-." for c in name) or not name[0].isalnum() \
            or not name[-1].isalnum():
        problems.append(prefix + "name %r is not a valid hostname (letters, digits, '-' and '.', "
                                 "at most 63 characters, starting and ending with a letter or digit)" % name)
    problems.extend(prefix + p for p in label_problems(desired.get("given_labels", desired.get("labels"))))
    if desired.get("state") == "rebuild" and not desired.get("image"):
        problems.append(prefix + "state=rebuild needs image (the image to reinstall from)")
    dp, rp = desired.get("delete_protection"), desired.get("rebuild_protection")
    if dp is not None and rp is not None and dp != rp:
        problems.append(prefix + "delete_protection and rebuild_protection must have the same value "
                                 "(a Hetzner Cloud API rule)")
    return problems


def _same(want, obs_name, obs_id=None):
    return want == obs_name or (obs_id is not None and want == str(obs_id))


def _resolve(values, refs):
    """Names -> ids (as strings) through ``refs``; unknown names stay as given."""
    if values is None:
        return None
    refs = refs or {}
    return sorted(set(str(refs.get(v, v)) for v in values))


def plan_server(observed, desired, refs=None):
    """Plan for one server.

    ``observed``: :func:`observe_server` output or None. ``desired``: :func:`desired_server`
    output. ``refs``: ``{"firewalls": {name: id}, "networks": {name: id}}`` (ids map to
    themselves and may be omitted). Returns a :class:`Plan` whose ``steps`` are, in order,
    names from: create, delete, power_off, change_type, power_on, update, enable_backup,
    disable_backup, change_protection, apply_firewalls, attach_networks, rebuild, reboot,
    enable_rescue, reset. ``changes`` holds the field changes, ``after`` the server after
    the plan (for diff and check-mode facts)."""
    refs = refs or {}
    state = desired.get("state") or "present"
    want_fw = _resolve(desired.get("firewalls"), refs.get("firewalls"))
    want_net = _resolve(desired.get("networks"), refs.get("networks"))

    if observed is None:
        if state == "absent":
            return Plan(before={}, after={})
        after = {"name": desired["name"]}
        for field in ("server_type", "image", "location", "labels", "backups", "delete_protection",
                      "rebuild_protection", "placement_group", "enable_ipv4", "enable_ipv6"):
            if desired.get(field) is not None:
                after[field] = desired[field]
        if want_fw is not None:
            after["firewalls"] = want_fw
        if want_net is not None:
            after["networks"] = want_net
        missing = [f for f in ("server_type", "image") if not desired.get(f)]
        conflicts = ["server %s does not exist and cannot be created without %s"
                     % (desired["name"], " and ".join(missing))] if missing else []
        steps = ["create"]
        if desired.get("backups"):
            steps.append("enable_backup")
        if desired.get("delete_protection") or desired.get("rebuild_protection"):
            steps.append("change_protection")
        if state == "rescue":
            steps += ["enable_rescue", "power_on"]
        after["status"] = "off" if state in ("stopped", "rescue") else "running"
        if state == "rescue":
            after["status"] = "running"
            after["rescue_enabled"] = True
        return Plan(op="create", changes=after, steps=steps, conflicts=conflicts,
                    before={}, after=after)

    before = dict((f, observed.get(f)) for f in FIELDS if f in observed)
    if state == "absent":
        return Plan(op="delete", steps=["delete"], before=before, after={})

    after = dict(before)
    changes = {}
    steps = []
    conflicts = []
    name = observed.get("name")
    for field, why in sorted(IMMUTABLE.items()):
        want = desired.get(field)
        if want is None or (field == "image" and state == "rebuild"):
            continue
        have = observed.get(field)
        if field == "image" and have is None:
            continue  # the image was deleted; nothing to compare with
        if isinstance(want, bool):
            differs = bool(have) != want
        elif field == "image":
            differs = not _same(want, have, observed.get("image_id"))
        else:
            differs = want != have
        if differs:
            conflicts.append("server %s: %s is %r, requested %r: %s" % (name, field, have, want, why))

    running = observed.get("status") == "running"
    want_type = desired.get("server_type")
    pending = []
    if want_type is not None and not _same(want_type, observed.get("server_type"),
                                           observed.get("server_type_id")):
        if running and not desired.get("allow_reboot"):
            # A power cycle leaves an encrypted host waiting for its passphrase: opt-in only.
            pending.append("server %s: server_type %s -> %s needs a reboot (shutdown, change_type, "
                           "power on), so it was not done; set allow_reboot=true to allow it"
                           % (name, observed.get("server_type"), want_type))
        else:
            changes["server_type"] = after["server_type"] = want_type
            if running:
                steps += ["shutdown", "wait_off"]
            steps.append("change_type")
            if running and state not in ("stopped",):
                steps.append("power_on")
                after["reboot"] = ("graceful shutdown (power off after %d s), change_type, power on"
                                   % desired.get("shutdown_timeout", 60))
            elif running:
                after["reboot"] = ("graceful shutdown (power off after %d s), change_type; stays off"
                                   % desired.get("shutdown_timeout", 60))
    labels = desired.get("labels")
    if labels is not None and labels != observed.get("labels"):
        changes["labels"] = after["labels"] = labels
        steps.append("update")
    if desired.get("backups") is not None and desired["backups"] != observed.get("backups"):
        changes["backups"] = after["backups"] = desired["backups"]
        steps.append("enable_backup" if desired["backups"] else "disable_backup")
    prot = {}
    for field in ("delete_protection", "rebuild_protection"):
        if desired.get(field) is not None and desired[field] != observed.get(field):
            prot[field] = desired[field]
    if prot:
        changes.update(prot)
        after.update(prot)
        steps.append("change_protection")
        if after.get("delete_protection") != after.get("rebuild_protection"):
            conflicts.append("server %s: delete_protection and rebuild_protection must have the same "
                             "value (a Hetzner Cloud API rule); set both" % name)
    if want_fw is not None:
        missing = [f for f in want_fw if f not in (observed.get("firewalls") or [])]
        if missing:
            changes["firewalls"] = missing
            after["firewalls"] = sorted(set(observed.get("firewalls") or []) | set(missing))
            steps.append("apply_firewalls")
    if want_net is not None:
        missing = [n for n in want_net if n not in (observed.get("networks") or [])]
        if missing:
            changes["networks"] = missing
            after["networks"] = sorted(set(observed.get("networks") or []) | set(missing))
            steps.append("attach_networks")

    # Power state and one-shot actions come last, after the configuration changes.
    status_after = "running" if (running or "power_on" in steps) else observed.get("status")
    if ("power_off" in steps or "shutdown" in steps) and "power_on" not in steps:
        status_after = "off"
    if state == "started" and status_after != "running":
        steps.append("power_on")
        status_after = "running"
    elif state == "stopped" and status_after == "running":
        steps.append("power_off")
        status_after = "off"
    elif state == "restarted":
        steps.append("reboot" if status_after == "running" else "power_on")
        status_after = "running"
    elif state == "rebuild":
        if observed.get("rebuild_protection") and not prot.get("rebuild_protection") is False:
            conflicts.append("server %s has rebuild protection; set rebuild_protection=false "
                             "(and delete_protection=false) to rebuild it" % name)
        steps.append("rebuild")
        changes["image"] = after["image"] = desired["image"]
    elif state == "rescue":
        # The API cannot tell whether a server currently runs the rescue system (booting
        # into it clears rescue_enabled), so rescue acts on every run, like restarted.
        steps.append("enable_rescue")
        steps.append("reset" if status_after == "running" else "power_on")
        status_after = "running"
        after["rescue_enabled"] = True
    if status_after != observed.get("status"):
        changes["status"] = status_after
    after["status"] = status_after
    # Keep the order stable: remove accidental duplicates, preserving the first occurrence.
    seen = set()
    steps = [s for s in steps if not (s in seen or seen.add(s))]
    plan = Plan(op="update" if steps else "none", changes=changes, steps=steps,
                conflicts=conflicts, before=before, after=after)
    plan.pending = pending
    return plan


def type_change_problem(observed, server_type):
    """Why the API would refuse to change ``observed`` (a flat server) to ``server_type``
    (the catalog's type dict), known before anything is powered off; None: it would not.

    A change keeps the disk (``upgrade_disk: false``) or grows it, so the new type's disk
    must hold the server's current one; the architecture cannot change."""
    if not isinstance(server_type, dict) or not observed:
        return None
    name, target = observed.get("name"), server_type.get("name")
    arch, have = server_type.get("architecture"), observed.get("architecture")
    if arch and have and arch != have:
        return ("%s: server type %s is %s, the server is %s; the architecture of a server "
                "cannot change (nothing was changed or powered off)" % (name, target, arch, have))
    disk, size = server_type.get("disk"), observed.get("primary_disk_size")
    if disk is not None and size is not None and int(disk) < int(size):
        return ("%s: server type %s has a %s GB disk, smaller than the server's %s GB disk; "
                "a disk cannot shrink, so choose a type with at least %s GB (nothing was "
                "changed or powered off)" % (name, target, disk, size, size))
    return None


def reboots(plan):
    """Whether carrying out ``plan`` boots the server again (it will wait for an unlock if
    its disk is encrypted): a reboot, a reset, or an off/on cycle of a running server."""
    steps = plan.steps if plan is not None else []
    return ("reboot" in steps or "reset" in steps
            or (("shutdown" in steps or "power_off" in steps) and "power_on" in steps))


class FleetPlan(object):
    """The plan of a whole fleet: one :class:`Plan` per server name, plus prunes."""

    def __init__(self, plans, prune, protected, conflicts, problems):
        self.plans = plans          # name -> Plan (for every listed server)
        self.prune = prune          # observed flat servers to delete
        self.protected = protected  # observed flat servers kept because of delete protection
        self.conflicts = conflicts
        self.problems = problems

    @property
    def creates(self):
        return [n for n, p in self.plans.items() if p.op == "create"]

    @property
    def updates(self):
        return [n for n, p in self.plans.items() if p.op == "update"]

    @property
    def deletes(self):
        return [n for n, p in self.plans.items() if p.op == "delete"] + [s["name"] for s in self.prune]

    @property
    def changed(self):
        return bool(self.prune) or any(p.changed for p in self.plans.values())

    @property
    def diff(self):
        before, after = {}, {}
        for name, plan in sorted(self.plans.items()):
            if plan.changed:
                if plan.before:
                    before[name] = plan.before
                if plan.after:
                    after[name] = plan.after
        for server in self.prune:
            before[server["name"]] = dict((f, server.get(f)) for f in FIELDS if f in server)
        return {"before": {"servers": before}, "after": {"servers": after}}

    @property
    def pending(self):
        """{name: [sentence, ...]} for the changes that need an opt-in and are not done."""
        return dict((n, list(p.pending)) for n, p in sorted(self.plans.items()) if p.pending)

    def summary(self):
        return {"create": sorted(self.creates), "update": sorted(self.updates),
                "delete": sorted(self.deletes),
                "unchanged": sorted(n for n, p in self.plans.items() if not p.changed),
                "kept_protected": sorted(s["name"] for s in self.protected),
                "rebooted": sorted(n for n, p in self.plans.items() if reboots(p)),
                "pending": sorted(self.pending)}


def fleet_labels(fleet, labels):
    """The labels a fleet member carries: the given labels plus ``fleet=<fleet>``."""
    out = dict(labels or {})
    out["fleet"] = fleet
    return out


def plan_fleet(observed_servers, desired_servers, fleet, prune=False, refs=None):
    """Plan a fleet. ``observed_servers``: flat servers listed by ``fleet=<fleet>`` (plus any
    same-named servers found otherwise). ``desired_servers``: :func:`desired_server` dicts
    whose labels already include the fleet label (see :func:`fleet_labels`). Servers that
    are observed but not desired are deleted only with ``prune`` and never when they have
    delete protection."""
    problems = []
    seen = set()
    for i, desired in enumerate(desired_servers):
        where = "servers[%d] (%s)" % (i, desired.get("name"))
        problems.extend(validate_server(desired, where))
        if desired.get("state") not in FLEET_STATES:
            problems.append("%s: state %r is not one of %s" % (
                where, desired.get("state"), ", ".join(FLEET_STATES)))
        if desired.get("name") in seen:
            problems.append("%s: the name is listed twice" % where)
        seen.add(desired.get("name"))
    by_name = dict((s["name"], s) for s in observed_servers)
    plans = {}
    conflicts = []
    for desired in desired_servers:
        plan = plan_server(by_name.get(desired["name"]), desired, refs)
        plans[desired["name"]] = plan
        conflicts.extend(plan.conflicts)
    prune_list, protected = [], []
    for server in observed_servers:
        if server["name"] in plans:
            continue
        if server.get("labels", {}).get("fleet") != fleet:
            continue
        if not prune:
            continue
        if server.get("delete_protection"):
            protected.append(server)
        else:
            prune_list.append(server)
    return FleetPlan(plans, prune_list, protected, conflicts, problems)


#: The one shape of a server's facts: what hcloud_server and hcloud_fleet return, what
#: hcloud_server_info lists and what the hcloud inventory sets as host variables (prefixed).
FACT_FIELDS = ("id", "name", "status", "created", "server_type", "architecture", "image", "location",
               "ipv4", "ipv6", "ipv6_network", "private_ipv4", "private_networks", "labels",
               "rescue_enabled", "backups", "backup_window", "delete_protection",
               "rebuild_protection", "placement_group", "firewalls", "primary_disk_size")


def public_server(flat):
    """The facts of one server in the collection's one shape (:data:`FACT_FIELDS`), from
    :func:`observe_server` output; every field is present (None when ``flat`` is None)."""
    flat = flat or {}
    return dict((f, flat.get(f)) for f in FACT_FIELDS)


def server_from_api(raw):
    """The API's server JSON -> :func:`public_server` (the info module and the inventory)."""
    return public_server(observe_server(raw))


def server_facts(flat, plan=None):
    """The facts a module returns per server: :func:`public_server` plus the outcome. ``flat``
    is :func:`observe_server` output (or None for a server that does not exist yet); in check
    mode, ``plan.after`` fills in what would be."""
    facts = public_server(flat)
    if plan is not None and plan.after:
        for field, value in plan.after.items():
            if field in facts and (flat is None or field in plan.changes or field == "status"):
                facts[field] = value
    return with_outcome(facts, plan.steps if plan is not None else [],
                        plan.pending if plan is not None else [])


def with_outcome(facts, steps, pending):
    """Add ``rebooted`` (the task boots, or booted, the server again: see :func:`reboots`)
    and ``pending_changes`` (what needs an opt-in and was not done) to server facts."""
    facts["rebooted"] = reboots(Plan(steps=steps))
    facts["pending_changes"] = list(pending or [])
    return facts
