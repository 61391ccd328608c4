# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The ``zpool`` planner (pure): vdev layouts, device identity and pool properties.

Devices are compared by kernel name after resolving by-id, by-partlabel and
/dev/mapper links (:func:`device_id`, :func:`compare_topology`); a whole disk
matches the partition 1 that ``zpool create`` puts on it. :func:`plan_pool_create`
and :func:`plan_pool_existing` return a :class:`~._runner.Plan` or raise
:class:`~._zfs_values.PlanError`. Only :func:`device_id` reads anything (files under
``/sys``); no function here runs a command.
"""

from __future__ import annotations

import os
import re

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Action, Plan
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_dataset import compare_properties
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import (
    POOL_CREATE_ONLY_PROPERTIES, POOL_SETTABLE_PROPERTIES, PlanError, format_value,
    normalise_value, validate_dataset_property, validate_pool_name,
)


VDEV_TYPES = ("stripe", "mirror", "raidz1", "raidz2", "raidz3")
VDEV_ROLES = ("data", "log", "cache", "spare", "special", "dedup")
_MIN_DEVICES = {"mirror": 2, "raidz1": 2, "raidz2": 3, "raidz3": 4, "stripe": 1}


class DeviceId:
    """A block device as the kernel names it: ``sdb1`` with parent ``sdb`` and partition 1."""

    __slots__ = ("name", "parent", "partition")

    def __init__(self, name, parent=None, partition=None):
        self.name = name
        self.parent = parent
        self.partition = partition

    def __repr__(self):
        return "DeviceId(%r, %r, %r)" % (self.name, self.parent, self.partition)

    def __eq__(self, other):
        return isinstance(other, DeviceId) and (self.name, self.parent, self.partition) == (
            other.name, other.parent, other.partition)

    def __hash__(self):
        return hash(self.name)


def validate_vdevs(vdevs):
    """Check a requested topology; returns it normalised (type raidz -> raidz1, role default data)."""
    if not vdevs:
        raise PlanError("vdevs is empty: a pool needs at least one data vdev")
    out = []
    seen = {}
    for i, v in enumerate(vdevs):
        kind = (v.get("type") or "stripe").lower()
        if kind == "raidz":
            kind = "raidz1"
        role = (v.get("role") or "data").lower()
        devices = list(v.get("devices") or [])
        where = "vdevs[%d]" % i
        if kind not in VDEV_TYPES:
            raise PlanError("%s: unknown type %r (use one of %s)" % (where, kind, ", ".join(VDEV_TYPES)))
        if role not in VDEV_ROLES:
            raise PlanError("%s: unknown role %r (use one of %s)" % (where, role, ", ".join(VDEV_ROLES)))
        if not devices:
            raise PlanError("%s: no devices" % where)
        if len(devices) < _MIN_DEVICES[kind]:
            raise PlanError("%s: %s needs at least %d devices, got %d" % (where, kind, _MIN_DEVICES[kind], len(devices)))
        if role in ("cache", "spare") and kind != "stripe":
            raise PlanError("%s: %s devices cannot be in a %s; use type: stripe" % (where, role, kind))
        if role in ("log", "special", "dedup") and kind.startswith("raidz"):
            raise PlanError("%s: %s vdevs can be single devices or mirrors, not %s" % (where, role, kind))
        for d in devices:
            if not str(d).startswith("/"):
                raise PlanError("%s: device %r is not an absolute path (use /dev/disk/by-id/..., "
                                "/dev/mapper/... or /dev/sdX)" % (where, d))
            if d in seen:
                raise PlanError("%s: device %r is also in %s" % (where, d, seen[d]))
            seen[d] = where
        out.append({"role": role, "type": kind, "devices": devices})
    if not any(v["role"] == "data" for v in out):
        raise PlanError("vdevs has no data vdev (role: data)")
    return out


def check_distinct_devices(vdevs, identify):
    """Refuse two names of one device, and a disk together with one of its partitions.

    ``identify(path)`` returns ``(identity, DeviceId)``: the identity compares equal for
    every name of one device (``DevFS.identity``: the device number), the DeviceId
    gives the kernel name and parent disk. Raises PlanError; runs nothing."""
    seen = []
    for i, v in enumerate(vdevs):
        for path in v["devices"]:
            ident, dev = identify(path)
            for other_where, other_path, other_ident, other_dev in seen:
                if ident == other_ident:
                    raise PlanError(
                        "vdevs[%d]: device %r and %r in %s are the same disk (%s); give each "
                        "device once, nothing was written" % (i, path, other_path, other_where, dev.name))
                if dev.parent and dev.parent == other_dev.name or \
                        other_dev.parent and other_dev.parent == dev.name:
                    part, disk = (path, other_path) if dev.parent else (other_path, path)
                    raise PlanError(
                        "vdevs: %r is a partition of %r, which is also requested; zpool create "
                        "would repartition the whole disk. Nothing was written" % (part, disk))
            seen.append(("vdevs[%d]" % i, path, ident, dev))


_ZFS_LABEL_NAME = re.compile(r"^zfs-[0-9a-f]{16}$")


def interrupted_create_layout(signature_types, partitions):
    """Is this the GPT that ``zpool create`` writes on a whole disk before anything else?

    ``signature_types``: what blkid/wipefs found on the disk; ``partitions``:
    ``_gpt.parse_sgdisk_print`` partitions. True only for exactly ZFS's own labelling
    (``zpool_label_disk``): partition 1 type BF01 named ``zfs-<16 hex digits>`` and
    partition 9 type BF07, and no signature but the GPT and its protective MBR. The
    caller also checks that both partitions are blank (no pool label was written)."""
    if not signature_types or not set(signature_types) <= {"gpt", "PMBR"}:
        return False
    by_number = dict((p["number"], p) for p in partitions)
    if sorted(by_number) != [1, 9]:
        return False
    return by_number[1]["type"] == "BF01" and bool(_ZFS_LABEL_NAME.match(by_number[1]["name"])) \
        and by_number[9]["type"] == "BF07"


def vdev_argv(vdevs):
    """The vdev part of ``zpool create``: ``mirror a b log c cache d ...``."""
    argv = []
    data = [v for v in vdevs if v["role"] == "data"]
    for v in data:
        if v["type"] != "stripe":
            argv.append(v["type"])
        argv += v["devices"]
    for role in ("special", "dedup", "log", "cache", "spare"):
        group = [v for v in vdevs if v["role"] == role]
        if not group:
            continue
        argv.append(role)
        for v in group:
            if v["type"] != "stripe":
                argv.append(v["type"])
            argv += v["devices"]
    return argv


def _explode(vdevs):
    """Turn a topology into comparable items: stripes become single-disk vdevs."""
    items = []
    for v in vdevs:
        if v["type"] in ("stripe", "disk"):
            for d in v["devices"]:
                items.append((v["role"], "disk", (d,)))
        else:
            items.append((v["role"], v["type"], tuple(v["devices"])))
    return items


def _matches(requested, observed):
    """Does the observed leaf device stand for the requested device?

    Either the same kernel device, or partition 1 of a requested whole disk
    (``zpool create`` on a whole disk puts its data in partition 1).
    """
    if requested.name == observed.name:
        return True
    return requested.partition is None and observed.parent == requested.name and observed.partition == 1


def compare_topology(requested, observed, resolve_requested, resolve_observed):
    """Compare a requested topology with ``parse_zpool_status`` vdevs.

    ``resolve_*`` map a path to a :class:`DeviceId` (the module resolves symlinks
    and reads sysfs; tests pass dicts). Returns a list of human-readable
    differences; empty means the layouts are the same.
    """
    req = [(r, t, tuple(resolve_requested(d) for d in ds), ds) for r, t, ds in _explode(requested)]
    obs = [(r, t, tuple(resolve_observed(d) for d in ds), ds) for r, t, ds in _explode(observed)]
    unmatched_obs = list(obs)
    missing = []
    for role, kind, ids, paths in req:
        found = None
        for cand in unmatched_obs:
            crole, ckind, cids, _cpaths = cand
            if crole != role or ckind != kind or len(cids) != len(ids):
                continue
            left = list(cids)
            ok = True
            for rid in ids:
                hit = next((o for o in left if _matches(rid, o)), None)
                if hit is None:
                    ok = False
                    break
                left.remove(hit)
            if ok:
                found = cand
                break
        if found is None:
            missing.append("%s %s [%s]" % (role, kind, ", ".join(paths)))
        else:
            unmatched_obs.remove(found)
    diffs = []
    if missing:
        diffs.append("requested but not in the pool: " + "; ".join(missing))
    if unmatched_obs:
        diffs.append("in the pool but not requested: " + "; ".join(
            "%s %s [%s]" % (r, t, ", ".join(p)) for r, t, _ids, p in unmatched_obs))
    return diffs


def compare_pool_properties(wanted, observed):
    """Returns ``(to_set, before, after)`` for pool properties; raises PlanError on the impossible."""
    to_set, before, after = {}, {}, {}
    for prop, raw in wanted.items():
        want = format_value(raw)
        if prop not in observed:
            raise PlanError("unknown pool property %r" % prop)
        have = observed[prop][0]
        if prop.startswith("feature@"):
            have_n = "enabled" if have in ("enabled", "active") else have
            before[prop], after[prop] = have_n, want
            if have_n != want:
                if want != "enabled":
                    raise PlanError("%s is %s: a pool feature can only be enabled, never disabled" % (prop, have))
                to_set[prop] = want
            continue
        if prop in POOL_CREATE_ONLY_PROPERTIES:
            if have != want:
                raise PlanError("pool property %s is %s, requested %s: it is fixed at import time "
                                "(export the pool and re-run)" % (prop, have, want))
            continue
        if prop not in POOL_SETTABLE_PROPERTIES:
            raise PlanError("pool property %r is read-only" % prop)
        if prop == "cachefile" and want == "none" and have == "-":
            have = "none"
        before[prop], after[prop] = have, want
        if have != want:
            to_set[prop] = want
    return to_set, before, after


def validate_pool_request(name, vdevs, pool_properties, filesystem_properties):
    validate_pool_name(name)
    for prop in pool_properties:
        if prop.startswith("feature@"):
            continue
        if prop not in POOL_SETTABLE_PROPERTIES and prop not in POOL_CREATE_ONLY_PROPERTIES:
            raise PlanError("unknown or read-only pool property %r" % prop)
        if prop == "altroot":
            raise PlanError("give altroot with the altroot option, not as a pool property")
    for prop, value in filesystem_properties.items():
        validate_dataset_property(prop, value)
    return validate_vdevs(vdevs) if vdevs is not None else None


def plan_pool_create(name, vdevs, pool_properties, filesystem_properties, altroot=None,
                     mountpoint=None, force=False):
    """The ``zpool create`` action (its ``-n`` twin is the check-mode dry run)."""
    opts = []
    if force:
        opts.append("-f")
    for prop in sorted(pool_properties):
        opts += ["-o", "%s=%s" % (prop, format_value(pool_properties[prop]))]
    for prop in sorted(filesystem_properties):
        opts += ["-O", "%s=%s" % (prop, format_value(filesystem_properties[prop]))]
    if altroot:
        opts += ["-R", altroot]
    if mountpoint:
        opts += ["-m", mountpoint]
    spec = vdev_argv(vdevs)
    argv = ["zpool", "create"] + opts + [name] + spec
    check = ["zpool", "create", "-n"] + opts + [name] + spec
    after = {"state": "present", "vdevs": vdevs}
    after.update({"pool_properties": {k: format_value(v) for k, v in pool_properties.items()}})
    after.update({"filesystem_properties": {k: normalise_value(k, v) for k, v in filesystem_properties.items()}})
    return Plan([Action(argv, "create pool %s" % name, check_argv=check)],
                before={"state": "absent"}, after=after)


def import_argv(name, pool_id=None, altroot=None, dirs=()):
    argv = ["zpool", "import", "-N"]
    if altroot:
        argv += ["-R", altroot]
    for d in dirs:
        argv += ["-d", d]
    argv.append(pool_id or name)
    return argv


def plan_pool_existing(name, pool_props, wanted_pool_props, status=None, vdevs=None,
                       resolve_requested=None, resolve_observed=None, fs_props=None,
                       wanted_fs_props=None, mountpoint=None, altroot=None):
    """Plan the changes to an imported pool.

    ``pool_props``: ``parse_get`` of ``zpool get -Hp ... all``; ``status``:
    ``parse_zpool_status`` (needed when ``vdevs`` is given); ``fs_props``:
    ``parse_get`` of the root dataset (needed for ``wanted_fs_props``/``mountpoint``).
    A layout difference is an error that lists the difference: ZFS cannot turn
    one layout into another in place.
    """
    before = {"state": "present"}
    after = {"state": "present"}
    have_altroot = pool_props.get("altroot", ("-", "-"))[0]
    if altroot and have_altroot.rstrip("/") != altroot.rstrip("/"):
        raise PlanError("pool %s is imported with altroot %s, requested %s: export it and re-run "
                        "(altroot is set at import time)" % (name, have_altroot, altroot))
    if vdevs is not None:
        diffs = compare_topology(vdevs, status["vdevs"], resolve_requested, resolve_observed)
        if diffs:
            raise PlanError("pool %s exists with a different layout; zpool cannot change it in place "
                            "(use zpool add/attach by hand, or destroy it with state: absent and force): %s"
                            % (name, " | ".join(diffs)))
    to_set, b, a = compare_pool_properties(wanted_pool_props, pool_props)
    if b:
        before["pool_properties"], after["pool_properties"] = b, a
    actions = [Action(["zpool", "set", "%s=%s" % (p, to_set[p]), name], "set pool property %s" % p)
               for p in sorted(to_set)]
    wanted_fs = dict(wanted_fs_props or {})
    if mountpoint:
        wanted_fs["mountpoint"] = mountpoint
    if wanted_fs:
        fs_set, b, a = compare_properties(wanted_fs, fs_props, "filesystem",
                                          altroot=None if have_altroot == "-" else have_altroot)
        before["filesystem_properties"], after["filesystem_properties"] = b, a
        if fs_set:
            argv = ["zfs", "set"] + ["%s=%s" % (p, format_value(fs_set[p])) for p in sorted(fs_set)] + [name]
            actions.append(Action(argv, "set root dataset properties %s" % ", ".join(sorted(fs_set))))
    return Plan(actions, before=before, after=after)


def device_id(fs, path):
    """Resolve ``path`` (by-id, by-partlabel, /dev/mapper, /dev/sdX) to a :class:`DeviceId`.

    ``fs`` is a ``_blockdev.DevFS``; the partition number and parent disk come from
    ``/sys/class/block/<name>`` (under ``fs.root``, so tests can fake it). Reads
    files only; runs no command.
    """
    real = fs.canonical(path)
    name = os.path.basename(real)
    sysdir = fs._host("/sys/class/block/" + name)
    partition = parent = None
    try:
        with open(os.path.join(sysdir, "partition")) as fh:
            partition = int(fh.read().strip())
        parent = os.path.basename(os.path.dirname(os.path.realpath(sysdir)))
    except (OSError, ValueError):
        pass
    return DeviceId(name, parent, partition)
