#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZFS snapshots with zfs: take one, destroy one, or keep only the newest of a series."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: zfs_snapshot
short_description: ZFS snapshots that are taken once, destroyed on request, and pruned by series
version_added: 0.1.0
description:
  - Takes a ZFS snapshot if it does not exist (O(state=present)), destroys it if it exists
    (O(state=absent)), or destroys the snapshots of one series beyond the newest O(keep)
    (O(state=pruned)).
  - A series is the snapshots of O(dataset) (not of its descendants) whose names begin with
    O(dataset)C(@)O(prefix). Newest means the latest creation transaction group, which orders
    snapshots exactly. Snapshots of other series are never touched.
  - Names are checked before any command runs.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.attributes
options:
  name:
    description:
      - The snapshot, C(pool/dataset@snapshot). Required for O(state=present) and O(state=absent).
    type: str
    version_added: 0.1.0
  state:
    description:
      - C(present) takes the snapshot (C(zfs snapshot)) unless it exists.
      - C(absent) destroys it (C(zfs destroy)) if it exists.
      - C(pruned) destroys the snapshots of the series O(dataset)C(@)O(prefix) beyond the newest O(keep).
    type: str
    choices: [present, absent, pruned]
    default: present
    version_added: 0.1.0
  recursive:
    description:
      - Also take, or destroy, the snapshot of the same name of every descendant dataset (C(-r)).
    type: bool
    default: false
    version_added: 0.1.0
  dataset:
    description: The dataset whose snapshots O(state=pruned) prunes.
    type: str
    version_added: 0.1.0
  prefix:
    description: With O(state=pruned), the start of the snapshot names (after the C(@)) of the series.
    type: str
    version_added: 0.1.0
  keep:
    description: With O(state=pruned), how many of the newest snapshots of the series are kept, at least 1.
    type: int
    version_added: 0.1.0
notes:
  - Check mode reads the snapshots and checks a destroy with C(zfs destroy -n); C(zfs snapshot)
    has no dry run, so a snapshot to take is only reported.
  - With O(recursive=true), O(state=present) looks only at the snapshot of the top dataset.
seealso:
  - module: nixos_hetzner.vps.zfs_dataset
  - module: nixos_hetzner.vps.zpool
"""

EXAMPLES = r"""
- name: Snapshot the pool before a rebuild
  nixos_hetzner.vps.zfs_snapshot:
    name: "rpool@pre-rebuild-{{ now(utc=true, fmt='%Y%m%dT%H%M%SZ') }}"
    recursive: true

- name: Keep the five newest pre-rebuild snapshots
  nixos_hetzner.vps.zfs_snapshot:
    state: pruned
    dataset: rpool
    prefix: pre-rebuild-
    keep: 5
    recursive: true

- name: The blank snapshot of the root dataset, taken once
  nixos_hetzner.vps.zfs_snapshot:
    name: rpool/local/root@blank
"""

RETURN = r"""
name:
  description: The snapshot name.
  returned: when O(name) is set
  type: str
  sample: rpool/local/root@blank
state:
  description: The requested state.
  returned: always
  type: str
  sample: present
destroyed:
  description: The snapshots that were (or in check mode would be) destroyed.
  returned: always
  type: list
  elements: str
  sample: ["rpool@pre-rebuild-20261201T101500Z"]
commands:
  description:
    - Every command that was run, in order, reads and dry runs included, as shell-quoted
      strings.
    - In check mode only the reads and the dry runs (C(zfs destroy -n)) run.
  returned: always
  type: list
  elements: str
  sample: ["zfs list -H -p -t snapshot -o name,createtxg -d 1 rpool", "zfs destroy -r rpool@pre-rebuild-20261201T101500Z"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import (
    CommandError, Runner, run_module)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_parse import parse_zfs_list
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_snapshot import (
    plan_prune, plan_snapshot, validate_prune, validate_snapshot_name,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import PlanError

ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    state=dict(type="str", choices=["present", "absent", "pruned"], default="present"),
    recursive=dict(type="bool", default=False),
    dataset=dict(type="str"),
    prefix=dict(type="str"),
    keep=dict(type="int"),
)
REQUIRED_IF = [("state", "present", ("name",)), ("state", "absent", ("name",)),
               ("state", "pruned", ("dataset", "prefix", "keep"))]

USER_ERRORS = (PlanError,)


def _list(runner, argv):
    """``zfs list`` output, or None when the dataset or snapshot does not exist."""
    res = runner.run(argv, check_rc=False)
    if res.rc != 0 and "does not exist" in (res.err or ""):
        return None
    if res.rc != 0:
        raise CommandError(res.argv, res.rc, res.out, res.err)
    return res.out


def execute(params, check_mode, runner, fs):
    """Decide, then act (``fs`` is unused). Returns the result dict; raises USER_ERRORS
    or CommandError."""
    state = params["state"]
    result = dict(changed=False, state=state)
    if state == "pruned":
        dataset = params["dataset"]
        validate_prune(dataset, params["prefix"], params["keep"])  # before any command
        out = _list(runner, ["zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name,createtxg",
                             "-d", "1", dataset])
        if out is None:
            raise PlanError("dataset %s does not exist: nothing to prune" % dataset)
        plan = plan_prune(dataset, parse_zfs_list(out), params["prefix"], params["keep"],
                          recursive=params["recursive"])
    else:
        name = params["name"]
        validate_snapshot_name(name)
        result["name"] = name
        out = _list(runner, ["zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name", name])
        plan = plan_snapshot(name, state, exists=bool(out and out.strip()),
                             recursive=params["recursive"])
    result.update(changed=plan.changed, diff=dict(before=plan.before, after=plan.after),
                  destroyed=[a.argv[-1] for a in plan.actions if a.argv[1] == "destroy"])
    plan.apply(runner, check_mode)
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=REQUIRED_IF)
    run_module(module, execute, USER_ERRORS, bd.DevFS(), runner_class=Runner)


if __name__ == "__main__":
    main()
