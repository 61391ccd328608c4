# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure reading of server-type deprecations, as the API reports them.

One job: turn a server type's ``locations[].deprecation`` / ``available`` (and, on older
answers, the type-level ``deprecation``) into a refusal for a create or a rescale that the
API would reject, and into a warning for servers that already run on a deprecated type.
Nothing here talks to the API; callers pass the raw server-type dicts they already have.
"""

from __future__ import annotations


def _entry(server_type, location):
    for e in server_type.get("locations") or []:
        if e.get("name") == location or (e.get("location") or {}).get("name") == location:
            return e
    return None


def _deprecation(server_type, location):
    """(deprecation dict or None, available or None) of ``server_type`` in ``location``."""
    e = _entry(server_type, location) if location else None
    if e is not None:
        return e.get("deprecation"), e.get("available")
    return server_type.get("deprecation"), None


def create_problem(server_type, location, server):
    """Why server ``server`` cannot be created with (or changed to) ``server_type`` in
    ``location`` (None: it can).  ``location`` None: any location the type is offered in."""
    if not isinstance(server_type, dict):
        return None
    name = server_type.get("name")
    entries = server_type.get("locations") or []
    if location is None:
        if entries and not any(e.get("available", True) for e in entries):
            dep = server_type.get("deprecation") or next(
                (e.get("deprecation") for e in entries if e.get("deprecation")), None)
            return ("%s: server type %s is no longer available in any location%s; choose a "
                    "current type" % (server, name, _until(dep)))
        return None
    if entries and _entry(server_type, location) is None:
        return "%s: server type %s is not offered in %s" % (server, name, location)
    dep, available = _deprecation(server_type, location)
    if available is False:
        state = "deprecated" if dep else "not available"
        return ("%s: server type %s is %s in %s%s; choose a current type (for example the "
                "replacement series)" % (server, name, state, location, _until(dep)))
    return None


def deprecation_warning(server_type, location, server):
    """A warning for a server that exists (or is about to be created) on a deprecated type;
    None if the type is not deprecated in ``location``."""
    if not isinstance(server_type, dict):
        return None
    dep, _available = _deprecation(server_type, location)
    if not dep:
        return None
    return ("server %s uses server type %s, deprecated in %s since %s%s; it keeps running, but "
            "new servers of this type cannot be ordered, so plan a change_type to a current type"
            % (server, server_type.get("name"), location or "its location",
               dep.get("announced", "?"), _until(dep)))


def _until(dep):
    if dep and dep.get("unavailable_after"):
        return " (orderable until %s)" % dep["unavailable_after"]
    return ""
