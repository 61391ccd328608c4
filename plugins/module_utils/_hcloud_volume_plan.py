# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure planner for Hetzner Cloud volumes (module ``hcloud_volume``).

One job: compare a volume's desired size, location, attachment, labels, format and
protection with the API's answer and say which calls to make. No API calls here.

Sizes are whole GB on both sides. A volume can grow (``resize``) but never shrink, and
its location and filesystem format are fixed at creation: asking to change them is a
conflict the module reports, never a silent no-op.
"""

from __future__ import annotations

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import Plan

MIN_SIZE = 10
MAX_SIZE = 10240
FORMATS = ("none", "ext4", "xfs")
#: ``server`` value that means "not attached to any server".
DETACHED = 0


def validate(desired):
    """Problems with the desired volume, before anything is looked up."""
    problems = []
    size = desired.get("size")
    if size is not None and not MIN_SIZE <= int(size) <= MAX_SIZE:
        problems.append("size %s GB is out of range: a volume has %d to %d GB" % (size, MIN_SIZE, MAX_SIZE))
    fmt = desired.get("format")
    if fmt is not None and fmt not in FORMATS:
        problems.append("format %r must be one of %s" % (fmt, ", ".join(FORMATS)))
    return problems


def observe_volume(data):
    """The planner's view of an API volume dict (``None`` stays ``None``)."""
    if data is None:
        return None
    location = data.get("location")
    protection = data.get("protection") or {}
    return {
        "id": data.get("id"),
        "name": data.get("name"),
        "size": int(data.get("size") or 0),
        "location": location.get("name") if isinstance(location, dict) else location,
        "server": int(data["server"]) if data.get("server") else DETACHED,
        "labels": dict(data.get("labels") or {}),
        "format": data.get("format") or "none",
        "delete_protection": bool(protection.get("delete", False)),
        "linux_device": data.get("linux_device"),
        "status": data.get("status"),
    }


_FIELDS = ("name", "size", "location", "server", "labels", "format", "delete_protection")


def _view(vol):
    return dict((f, vol.get(f)) for f in _FIELDS)


def plan_volume(observed, desired, state, server_location=None):
    """Plan for one volume.

    ``desired``: ``name``, ``size``, ``location``, ``server`` (an id, :data:`DETACHED` for
    "detach", ``None`` for "leave as is"), ``labels``, ``format``, ``delete_protection`` and
    ``automount``. ``server_location`` is the location of the desired server, if any.
    Steps in the seam's order: ``create`` | ``update`` (labels), ``resize``, ``detach``,
    ``attach``, ``change_protection``; for ``absent``: ``detach`` (if attached), ``delete``.
    """
    if state == "absent":
        if observed is None:
            return Plan()
        steps = (["detach"] if observed["server"] != DETACHED else []) + ["delete"]
        plan = Plan(op="delete", steps=steps, before=_view(observed), after={})
        if observed["delete_protection"]:
            plan.conflicts.append("volume %s has delete protection; set delete_protection: false "
                                  "first" % observed["name"])
        return plan

    server = desired.get("server")
    if observed is None:
        location = desired.get("location")
        conflicts = []
        if not desired.get("size"):
            conflicts.append("size is required to create volume %s" % desired["name"])
        if server and location and server_location and location != server_location:
            conflicts.append("volume %s: location %s differs from the location %s of the server it "
                             "should be attached to" % (desired["name"], location, server_location))
        if not location:
            location = server_location if server else None
        if not location:
            conflicts.append("volume %s: give location (or a server to attach it to) to create it"
                             % desired["name"])
        after = {
            "name": desired["name"],
            "size": desired.get("size"),
            "location": location,
            "server": server or DETACHED,
            "labels": desired.get("labels") or {},
            "format": desired.get("format") or "none",
            "delete_protection": bool(desired.get("delete_protection")),
        }
        changes = dict(after, automount=bool(desired.get("automount")))
        steps = ["create"] + (["change_protection"] if after["delete_protection"] else [])
        return Plan(op="create", steps=steps, changes=changes, conflicts=conflicts, before={}, after=after)

    steps, changes, conflicts = [], {}, []
    after = _view(observed)
    name = observed["name"]
    if desired.get("labels") is not None and desired["labels"] != observed["labels"]:
        steps.append("update")
        changes["labels"] = after["labels"] = desired["labels"]
    size = desired.get("size")
    if size is not None and int(size) != observed["size"]:
        if int(size) > observed["size"]:
            steps.append("resize")
            changes["size"] = after["size"] = int(size)
        else:
            conflicts.append("volume %s has %d GB; it cannot shrink to %d GB (a volume can only grow)"
                             % (name, observed["size"], int(size)))
    if desired.get("location") is not None and desired["location"] != observed["location"]:
        conflicts.append("volume %s is in %s; a volume cannot move to %s (create a new one)"
                         % (name, observed["location"], desired["location"]))
    if desired.get("format") is not None and desired["format"] != observed["format"]:
        conflicts.append("volume %s has format %s; the format is set only when a volume is created "
                         "(requested %s)" % (name, observed["format"], desired["format"]))
    if server is not None and server != observed["server"]:
        if server != DETACHED and server_location and server_location != observed["location"]:
            conflicts.append("volume %s is in %s and cannot be attached to a server in %s"
                             % (name, observed["location"], server_location))
        if observed["server"] != DETACHED:
            steps.append("detach")
        if server != DETACHED:
            steps.append("attach")
            changes["automount"] = bool(desired.get("automount"))
        changes["server"] = after["server"] = server
    if desired.get("delete_protection") is not None and \
            bool(desired["delete_protection"]) != observed["delete_protection"]:
        steps.append("change_protection")
        changes["delete_protection"] = after["delete_protection"] = bool(desired["delete_protection"])
    return Plan(op="update" if steps else "none", steps=steps, changes=changes, conflicts=conflicts,
                before=_view(observed), after=after)
