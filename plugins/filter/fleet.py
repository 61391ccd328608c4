# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet-wide computations of the roles, as pure functions.

Each filter takes the fleet's hosts, their variables (``hostvars``, or any mapping of host
name to a mapping of variables) and, where a host may leave a setting to its role, that
role's defaults. None of them reads anything else, so each can be tested with plain dicts.

- ``fleet_settings_problems``: the checks of the fleet as a whole (hardware layer).
- ``fleet_service_rules``: the firewall rules of every host's services (services layer).
- ``fleet_firewall_rules``: the rules of the shared firewall (security layer).
- ``fleet_server``: one host's desired server for ``hcloud_fleet`` (hardware layer).
- ``fleet_rescue_labels``: the stage labels of the servers whose rescue system answered.
- ``fleet_call_failed``: whether an answer of ``hcloud_fleet`` is a failure.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

EVERYONE = ["0.0.0.0/0", "::/0"]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# A boot into rescue that outlasts the module's wait for its action is not a failure: the
# wait for SSH gives it hardware_ssh_timeout.
RESCUE_COMMANDS = ("enable_rescue", "reset_server", "start_server")


def _bool(value):
    return boolean(value, strict=False)


def _plain(value):
    """A copy made of plain dicts and lists (hostvars may hand out lazy containers, whose
    items are templated only when read one by one)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json(value):
    return json.dumps(_plain(value), default=str)


def _setting(hostvars, host, name, defaults):
    """A host's own value of a setting, else the role default (never another host's)."""
    hv = hostvars[host]
    return _plain(hv[name] if name in hv else defaults[name])


def _is_list(value):
    return isinstance(value, (list, tuple))


def fleet_settings_problems(members, play_hosts, hostvars, wide_vars, pattern):
    """What keeps the fleet from being written, as sentences (empty: nothing).

    ``members``: the hosts of the fleet's inventory pattern ``pattern``; ``play_hosts``:
    the play's hosts; ``wide_vars``: the settings that must be the same on every member.
    """
    members, play_hosts = list(members), list(play_hosts)
    out = []
    outside = [h for h in play_hosts if h not in members]
    if outside:
        out.append(
            "Hosts %s of the play are not in the fleet's inventory pattern hardware_fleet_hosts=%s "
            "(hosts %s): set hardware_fleet_hosts to the pattern of the whole fleet, so that "
            "what the hosts share is computed from all of them."
            % (", ".join(outside), pattern, ", ".join(members)))
    for var in wide_vars:
        by_value = {}
        for h in members:
            value = _json(hostvars[h][var]) if var in hostvars[h] else "(the default)"
            by_value.setdefault(value, []).append(h)
        if len(by_value) > 1:
            values = "; ".join("%s: %s" % (", ".join(hosts), value) for value, hosts in by_value.items())
            out.append("The fleet-wide setting %s differs between hosts (%s): set it once for the "
                       "whole fleet (group_vars of %s)." % (var, values, pattern))
    by_name = {}
    for h in members:
        name = hostvars[h]["hardware_server_name"] if "hardware_server_name" in hostvars[h] else h
        by_name.setdefault(name, []).append(h)
    for name, hosts in by_name.items():
        if len(hosts) > 1:
            out.append("Server name %s is used by %s." % (name, " and ".join(hosts)))
    return out


def _rule(port, source_ips, description, protocol="tcp"):
    return {"direction": "in", "protocol": protocol, "port": str(port),
            "source_ips": list(source_ips), "description": description}


def fleet_service_rules(hosts, hostvars, defaults):
    """{'rules': {host: [rules]}, 'problems': [sentences]}: the ports that the services of
    every host need in the shared firewall, and every host's bad services settings."""
    rules, problems = {}, []
    for h in hosts:
        get = functools.partial(_setting, hostvars, h, defaults=defaults)
        nginx = _bool(get("services_nginx"))
        email = get("services_nginx_acme_email")
        pg, pg_cidrs = _bool(get("services_postgresql")), get("services_postgresql_allowed_cidrs")
        ne, ne_cidrs = _bool(get("services_node_exporter")), get("services_node_exporter_allowed_cidrs")
        if nginx and not (isinstance(email, str) and EMAIL.match(email)):
            problems.append("%s: nginx needs an ACME contact address in services_nginx_acme_email (got %s)"
                            % (h, _json(email)))
        for name, value in (("services_postgresql_allowed_cidrs", pg_cidrs),
                            ("services_node_exporter_allowed_cidrs", ne_cidrs)):
            if not _is_list(value):
                problems.append("%s: %s must be a list of networks" % (h, name))
        r = []
        if nginx:
            r.append(_rule(80, EVERYONE, "nginx http"))
            r.append(_rule(443, EVERYONE, "nginx https"))
        if pg and _is_list(pg_cidrs) and pg_cidrs:
            r.append(_rule(5432, pg_cidrs, "postgresql"))
        if ne and _is_list(ne_cidrs) and ne_cidrs:
            r.append(_rule(9100, ne_cidrs, "node exporter"))
        rules[h] = r
    return {"rules": rules, "problems": problems}


def fleet_firewall_rules(hosts, hostvars, defaults, settings, services):
    """The shared firewall's rules, or an error that names every bad setting of the fleet.

    ``settings``: the fleet-wide security settings (security_ssh_allowed_cidrs,
    security_initrd_ssh_port, security_initrd_ssh_allowed_cidrs, security_icmp);
    ``services``: fleet_service_rules' answer (its rules join the firewall's, its problems
    the error). Each host adds its security_extra_ports (its own, else ``defaults``)."""
    problems, extra = list(services.get("problems") or []), []
    for h in hosts:
        ports = _setting(hostvars, h, "security_extra_ports", defaults)
        if not _is_list(ports):
            problems.append("%s: security_extra_ports must be a list of {port: N, protocol: tcp|udp}" % h)
            continue
        for p in ports:
            if (not isinstance(p, Mapping) or "port" not in p
                    or p.get("protocol", "tcp") not in ("tcp", "udp")):
                problems.append("%s: security_extra_ports item %s needs port: N and protocol tcp or udp"
                                % (h, _json(p)))
                continue
            extra.append(_rule(p["port"], p.get("source_ips", EVERYONE), p.get("description", "extra port"),
                               protocol=p.get("protocol", "tcp")))
    base = [_rule(22, settings["security_ssh_allowed_cidrs"], "ssh"),
            _rule(settings["security_initrd_ssh_port"], settings["security_initrd_ssh_allowed_cidrs"],
                  "initrd ssh unlock")]
    if _bool(settings["security_icmp"]):
        base.append({"direction": "in", "protocol": "icmp", "source_ips": list(EVERYONE),
                     "description": "ping"})
    if problems:
        raise AnsibleFilterError(
            "Bad settings, nothing shared (firewall, placement group, network, SSH keys) was written: %s."
            % "; ".join(problems))
    rules = services.get("rules") or {}
    out = []
    for rule in base + [r for h in rules for r in rules[h]] + extra:
        if rule not in out:
            out.append(rule)
    return out


def fleet_server(settings):
    """One host's server as hcloud_fleet describes it, from that host's own settings:
    name, server_type, image, location, enable_ipv6, protection, ssh_keys, allow_reboot,
    shutdown_timeout, and the shared objects it joins (firewall, placement_group,
    network: a name, or None for none)."""
    s = settings
    server = {
        "name": s["name"],
        "server_type": s["server_type"],
        "image": s["image"],
        "location": s["location"],
        "enable_ipv6": _bool(s["enable_ipv6"]),
        "delete_protection": _bool(s["protection"]),
        "rebuild_protection": _bool(s["protection"]),
        "ssh_keys": list(s["ssh_keys"]),
        "allow_reboot": _bool(s["allow_reboot"]),
        "shutdown_timeout": int(s["shutdown_timeout"]),
    }
    if s.get("firewall"):
        server["firewalls"] = [s["firewall"]]
    if s.get("placement_group"):
        server["placement_group"] = s["placement_group"]
    if s.get("network"):
        server["private_networks"] = [s["network"]]
    return server


def fleet_rescue_labels(hosts, hostvars, stage_label):
    """The servers whose rescue system answered (hardware_rescue_reached), with their
    labels and the stage label set to rescue, for one hcloud_fleet call."""
    out = []
    for h in hosts:
        hv = hostvars[h]
        if "hardware_rescue_reached" in hv and _bool(hv["hardware_rescue_reached"]):
            server = hv["hardware_desired_server"]
            labels = dict(server.get("labels") or {})
            labels[stage_label] = "rescue"
            out.append({"name": server["name"], "labels": labels})
    return out


def fleet_call_failed(answer):
    """Whether hcloud_fleet's answer (its result, or the async job's status) is a failure.
    A boot into rescue that took longer than the module's wait for the action is not."""
    if not isinstance(answer, Mapping):
        raise AnsibleFilterError("fleet_call_failed: the answer must be a mapping, got %r" % (answer,))
    if not _bool(answer.get("failed", False)):
        return False
    failed = answer.get("failed_servers")
    if failed is None or "servers" not in answer:
        return True
    for item in failed.values():
        if item.get("code") != "action_timeout":
            return True
        command = ((item.get("details") or {}).get("action") or {}).get("command", "")
        if command not in RESCUE_COMMANDS:
            return True
    return False


class FilterModule:
    def filters(self):
        return {
            "fleet_settings_problems": fleet_settings_problems,
            "fleet_service_rules": fleet_service_rules,
            "fleet_firewall_rules": fleet_firewall_rules,
            "fleet_server": fleet_server,
            "fleet_rescue_labels": fleet_rescue_labels,
            "fleet_call_failed": fleet_call_failed,
        }
