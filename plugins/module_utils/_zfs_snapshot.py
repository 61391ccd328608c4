# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""The ``zfs_snapshot`` planner (pure): take a snapshot, destroy one, or prune a series.

:func:`plan_snapshot` decides for one snapshot whether it exists; :func:`plan_prune`
takes the ``zfs list -H -p -t snapshot -o name,createtxg -d 1`` listing of a dataset
and destroys the snapshots of one series (a name prefix) beyond the newest ``keep``,
newest by creation transaction group, which orders snapshots exactly (the creation
time has one-second steps). Both return a :class:`~._runner.Plan` or raise
:class:`~._zfs_values.PlanError`.
"""

from __future__ import annotations

import re

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import Action, Plan
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import (
    MAX_DATASET_NAME_LEN, PlanError, validate_dataset_name,
)

_SNAPSHOT_COMPONENT = re.compile(r"^[A-Za-z0-9_.:-]+$")


def validate_snapshot_name(name):
    """``dataset@snapshot``: ZFS's rules for both parts. Raises PlanError."""
    dataset, at, snap = (name or "").partition("@")
    if not at or not snap or "@" in snap:
        raise PlanError("invalid snapshot name %r: use pool/dataset@snapshot" % (name,))
    validate_dataset_name(dataset)
    if not _SNAPSHOT_COMPONENT.match(snap):
        raise PlanError("invalid snapshot name %r: the part after '@' may contain only letters, "
                        "digits, '_', '-', '.', ':'" % (name,))
    if len(name) > MAX_DATASET_NAME_LEN:
        raise PlanError("invalid snapshot name %r...: %d characters, ZFS allows at most %d"
                        % (name[:20], len(name), MAX_DATASET_NAME_LEN))


def plan_snapshot(name, state, exists, recursive=False):
    """Take (``present``) or destroy (``absent``) the snapshot ``name``; ``exists``
    says whether ``zfs list`` found it. ``recursive`` snapshots (or destroys) the
    same-named snapshot of every descendant too."""
    flag = ["-r"] if recursive else []
    now = "present" if exists else "absent"
    if state == "present" and not exists:
        # zfs snapshot has no dry run; check mode runs nothing
        return Plan([Action(["zfs", "snapshot"] + flag + [name], "snapshot %s" % name)],
                    before={"state": now}, after={"state": "present"})
    if state == "absent" and exists:
        return Plan([Action(["zfs", "destroy"] + flag + [name], "destroy %s" % name,
                            check_argv=["zfs", "destroy", "-n"] + flag + [name])],
                    before={"state": now}, after={"state": "absent"})
    return Plan(before={"state": now}, after={"state": now})


def validate_prune(dataset, prefix, keep):
    """The request of a prune: the dataset's name, a prefix, ``keep`` of 1 or more."""
    validate_dataset_name(dataset)
    if not prefix or not _SNAPSHOT_COMPONENT.match(prefix):
        raise PlanError("invalid prefix %r: a non-empty start of a snapshot name (letters, "
                        "digits, '_', '-', '.', ':')" % (prefix,))
    if keep is None or keep < 1:
        raise PlanError("keep is %r: pruning keeps at least the newest snapshot (keep: 1 or "
                        "more); destroy a single snapshot with state: absent" % (keep,))


def plan_prune(dataset, listed, prefix, keep, recursive=False):
    """Destroy the snapshots ``<dataset>@<prefix>...`` beyond the newest ``keep``.

    ``listed``: ``(name, createtxg)`` pairs of the dataset's own snapshots (``zfs list
    -d 1``). Snapshots of other series are never touched."""
    validate_prune(dataset, prefix, keep)
    start = "%s@%s" % (dataset, prefix)
    try:
        series = sorted((int(txg), name) for name, txg in listed if name.startswith(start))
    except ValueError:
        raise PlanError("unexpected zfs list output (createtxg not a number): %r" % (listed,))
    names = [name for _txg, name in series]
    doomed = names[:-keep]
    flag = ["-r"] if recursive else []
    actions = [Action(["zfs", "destroy"] + flag + [name], "destroy %s" % name,
                      check_argv=["zfs", "destroy", "-n"] + flag + [name]) for name in doomed]
    return Plan(actions, before={"snapshots": names}, after={"snapshots": names[len(doomed):]})
