# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The ``zfs_dataset`` planner (pure): compare wanted properties with ``zfs get -Hp``
output and return a :class:`~._runner.Plan`, or raise :class:`~._zfs_values.PlanError`.

:func:`validate_dataset_request` checks a request before any command runs;
:func:`compare_properties` (also used for a pool's root dataset) compares
normalised values, mountpoints without the pool's altroot (see
:func:`mountpoint_needs_altroot`); :func:`plan_dataset` decides create, set, mount,
unmount or destroy.
"""

from __future__ import annotations

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Action, Plan
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import (
    CREATE_ONLY_PROPERTIES, SIZE_PROPERTIES, PlanError, canonical_property, format_value,
    is_user_property, normalise_value, validate_dataset_name, validate_dataset_property,
)


def _effective_mountpoint(value, altroot):
    """Strip the pool's altroot that ``zfs get`` prefixes to absolute mountpoints."""
    if altroot and altroot not in ("-", "/") and value.startswith("/"):
        root = altroot.rstrip("/")
        if value == root:
            return "/"
        if value.startswith(root + "/"):
            return value[len(root):]
    return value


def compare_properties(wanted, observed, kind, altroot=None, creating=False):
    """Compare wanted properties with ``parse_get`` output of an existing dataset.

    Returns ``(to_set, before, after)``; raises PlanError on a difference in a
    create-only property or on a property that does not apply to ``kind``.
    ``altroot`` is the pool's altroot (or None), needed for mountpoints.
    """
    to_set = {}
    before, after = {}, {}
    conflicts = []
    for prop, raw in wanted.items():
        want = normalise_value(prop, raw)
        if prop in observed:
            have, source = observed[prop]
        elif is_user_property(prop):
            have, source = "-", "-"
        else:
            raise PlanError("property %r does not apply to a %s" % (prop, kind))
        have_n = normalise_value(prop, have) if have != "-" or prop in SIZE_PROPERTIES else have
        if prop == "mountpoint":
            have_n = _effective_mountpoint(have_n, altroot)
        if prop == "refreservation" and want == "auto" and source == "local":
            want = have_n
        before[prop] = have_n
        after[prop] = want
        if have_n != want:
            if prop in CREATE_ONLY_PROPERTIES:
                conflicts.append("%s is %s, requested %s" % (prop, have_n, want))
            else:
                to_set[prop] = raw
    if conflicts:
        raise PlanError("properties that can only be set at creation differ: %s; ZFS cannot change "
                        "them on an existing dataset (recreate it, or change the request)" % "; ".join(conflicts))
    return to_set, before, after


def validate_dataset_request(name, wanted, kind="filesystem", volsize=None, state="present",
                             mounted=None):
    """Check names, properties and their values; returns the wanted properties keyed by
    canonical name (with ``volsize`` folded in). Raises PlanError; runs nothing."""
    validate_dataset_name(name)
    wanted = {canonical_property(k): v for k, v in (wanted or {}).items()}
    for prop, value in wanted.items():
        validate_dataset_property(prop, value)
    if state == "absent":
        return wanted
    if kind == "volume":
        if mounted is not None:
            raise PlanError("mounted applies only to filesystems; a volume is a block device (/dev/zvol/%s)" % name)
        for prop in ("mountpoint", "canmount", "recordsize"):
            if prop in wanted:
                raise PlanError("property %r does not apply to a volume" % prop)
        if volsize is not None:
            try:
                normalise_value("volsize", volsize)
            except ValueError as e:
                raise PlanError("volsize: %s" % e)
            if "volsize" in wanted and normalise_value("volsize", wanted["volsize"]) != normalise_value("volsize", volsize):
                raise PlanError("volsize given twice with different values")
            wanted["volsize"] = volsize
    elif volsize is not None or "volsize" in wanted or "volblocksize" in wanted:
        raise PlanError("volsize and volblocksize apply only to type: volume")
    return wanted


def plan_dataset(name, state, observed, wanted=None, kind="filesystem", volsize=None,
                 sparse=False, recursive=False, create_parents=False, mounted=None,
                 altroot=None, key=None, children=None):
    """Decide what ``zfs_dataset`` does.

    ``observed`` is ``parse_get`` output for the dataset, or None if it does not
    exist. ``children`` (for ``state=absent``) lists descendants, including
    snapshots. ``mounted`` None means leave as is. ``key`` (the encryption key) goes
    to ``zfs create`` on stdin, never into argv.
    """
    wanted = validate_dataset_request(name, wanted, kind, volsize, state=state, mounted=mounted)
    if state == "absent":
        if observed is None:
            return Plan(before={"state": "absent"}, after={"state": "absent"})
        actions = []
        if children:
            if not recursive:
                raise PlanError("%s has %d descendant(s) (%s); state=absent without recursive: true "
                                "never destroys them" % (name, len(children), ", ".join(children[:5])
                                                         + (", ..." if len(children) > 5 else "")))
            argv = ["zfs", "destroy", "-r", name]
            actions.append(Action(argv, "destroy %s and its descendants" % name,
                                  check_argv=["zfs", "destroy", "-n", "-r", name]))
        else:
            actions.append(Action(["zfs", "destroy", name], "destroy %s" % name,
                                  check_argv=["zfs", "destroy", "-n", name]))
        return Plan(actions, before={"state": "present", "descendants": list(children or [])},
                    after={"state": "absent"})

    if observed is None:
        if kind == "volume" and "volsize" not in wanted:
            raise PlanError("creating volume %s needs volsize (e.g. volsize: 10G)" % name)
        argv = ["zfs", "create"]
        if create_parents:
            argv.append("-p")
        if kind == "volume":
            if sparse:
                argv.append("-s")
        else:
            argv.append("-u")
        for prop in sorted(wanted):
            if prop == "volsize":
                continue
            argv += ["-o", "%s=%s" % (prop, format_value(wanted[prop]))]
        if key is not None:
            if wanted.get("keylocation", "prompt") != "prompt":
                raise PlanError("encryption_key is given on stdin: keylocation must be 'prompt' or omitted")
            if "keyformat" not in wanted:
                raise PlanError("encryption_key needs properties.keyformat (passphrase, hex or raw)")
        if kind == "volume":
            argv += ["-V", str(normalise_value("volsize", wanted["volsize"]))]
        argv.append(name)
        check = None if key is not None else argv[:2] + ["-n"] + argv[2:]
        actions = [Action(argv, "create %s %s" % (kind, name), check_argv=check, stdin=key)]
        if mounted and kind == "filesystem":
            actions.append(Action(["zfs", "mount", name], "mount %s" % name))
        after = {"state": "present", "type": kind}
        after.update({p: normalise_value(p, v) for p, v in wanted.items()})
        if mounted is not None and kind == "filesystem":
            after["mounted"] = "yes" if mounted else "no"
        return Plan(actions, before={"state": "absent"}, after=after)

    have_type = observed.get("type", ("", ""))[0]
    if have_type and have_type != kind:
        raise PlanError("%s exists as a %s, requested a %s; ZFS cannot convert it" % (name, have_type, kind))
    to_set, before, after = compare_properties(wanted, observed, kind, altroot=altroot)
    before = dict(before, state="present")
    after = dict(after, state="present")
    actions = []
    if to_set:
        argv = ["zfs", "set"]
        argv += ["%s=%s" % (p, format_value(to_set[p])) for p in sorted(to_set)]
        argv.append(name)
        actions.append(Action(argv, "set %s on %s" % (", ".join(sorted(to_set)), name)))
    if mounted is not None and kind == "filesystem":
        is_mounted = observed.get("mounted", ("no", "-"))[0] == "yes"
        before["mounted"] = "yes" if is_mounted else "no"
        after["mounted"] = "yes" if mounted else "no"
        if mounted and not is_mounted:
            actions.append(Action(["zfs", "mount", name], "mount %s" % name))
        elif not mounted and is_mounted:
            actions.append(Action(["zfs", "unmount", name], "unmount %s" % name))
    return Plan(actions, before=before, after=after)


def mountpoint_needs_altroot(wanted, observed):
    """True when only the pool's altroot can tell whether a mountpoint differs.

    ``zfs get`` prints mountpoints with the altroot in front. When the wanted
    mountpoint equals the observed one (or is not absolute), no extra read is needed.
    """
    if observed is None or "mountpoint" not in wanted:
        return False
    want = normalise_value("mountpoint", wanted["mountpoint"])
    have = observed.get("mountpoint", ("-", "-"))[0]
    return want.startswith("/") and have.startswith("/") and normalise_value("mountpoint", have) != want
