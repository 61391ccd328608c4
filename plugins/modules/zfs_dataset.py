#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZFS filesystems and volumes with zfs: create, set properties, mount, destroy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: zfs_dataset
short_description: ZFS filesystems and volumes, read with one command and compared after normalisation
version_added: 0.1.0
description:
  - Creates, updates and destroys ZFS filesystems and volumes.
  - The current state is read with a single C(zfs get -Hp -o property,value,source all) call, so
    a run that changes nothing costs one C(zfs) process per dataset, however many properties are
    checked.
  - Sizes are compared in bytes (C(10G) equals C(10737418240), C(none) equals C(0)); a value is
    equal whether it is set locally, inherited or a default, so a property that already has the
    wanted value through inheritance is left alone.
  - Mountpoints are compared without the pool's altroot, which C(zfs get) prints in front of
    them; the pool's altroot is read (one C(zpool get)) only when the two differ otherwise.
  - Filesystems are created with C(zfs create -u), so nothing is mounted unless O(mounted=true).
  - Properties that can only be set at creation (C(encryption), C(keyformat), C(pbkdf2iters),
    C(casesensitivity), C(normalization), C(utf8only), C(volblocksize)) are compared; a
    difference is an error, the module never tries to set them on an existing dataset.
  - Unknown and read-only property names are refused before any command runs.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Full dataset name, C(pool/path/to/dataset).
    type: str
    required: true
    version_added: 0.1.0
  state:
    description:
      - C(present) creates the dataset if needed and sets the requested properties.
      - C(absent) destroys it. A dataset with descendants (children or snapshots) is only
        destroyed with O(recursive=true).
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
  type:
    description: Kind of dataset. An existing dataset of the other kind is an error.
    type: str
    choices: [filesystem, volume]
    default: filesystem
    version_added: 0.1.0
  properties:
    description:
      - ZFS properties, native (C(compression), C(quota), C(mountpoint) ...) or user
        properties (C(module:name)). Properties left out are left as they are.
      - Sizes may use suffixes (C(10G), C(128K)); booleans become C(on)/C(off).
    type: dict
    default: {}
    version_added: 0.1.0
  volsize:
    description: Size of a volume (O(type=volume)); required to create one. Same as C(properties.volsize).
    type: str
    version_added: 0.1.0
  sparse:
    description: Create the volume without a reservation (C(zfs create -s)). Only used at creation.
    type: bool
    default: false
    version_added: 0.1.0
  create_parents:
    description: Create missing parent datasets (C(zfs create -p)). Only used at creation.
    type: bool
    default: false
    version_added: 0.1.0
  mounted:
    description:
      - C(true) mounts the filesystem (C(zfs mount)), C(false) unmounts it. Left out, the mount
        state is left as is (and a new filesystem stays unmounted).
      - Under a pool imported with an altroot, the filesystem is mounted below the altroot.
    type: bool
    version_added: 0.1.0
  recursive:
    description: With O(state=absent), also destroy descendants (C(zfs destroy -r)).
    type: bool
    default: false
    version_added: 0.1.0
  encryption_key:
    description:
      - Key for a new encrypted dataset, fed to C(zfs create) on stdin as the exact bytes given
        (never on the command line). Needs C(properties.encryption) and C(properties.keyformat);
        C(keylocation) must be C(prompt) or left out. Only used at creation.
    type: str
    version_added: 0.1.0
notes:
  - Check mode runs the planner and reads the system; a destroy is checked with C(zfs destroy -n)
    and a create with C(zfs create -n), both of which change nothing.
  - To give a property back to inheritance use C(zfs inherit); leaving it out of O(properties)
    means "leave as is".
seealso:
  - module: nixos_hetzner.vps.zpool
"""

EXAMPLES = r"""
- name: Dataset for PostgreSQL, unmounted until the installer mounts it
  nixos_hetzner.vps.zfs_dataset:
    name: rpool/safe/postgres
    properties:
      mountpoint: /var/lib/postgresql
      recordsize: 16K
      compression: lz4
      atime: "off"
      quota: 20G
      "org.nixos-hetzner:backup": daily

- name: A 4 GiB sparse volume for swap
  nixos_hetzner.vps.zfs_dataset:
    name: rpool/swap
    type: volume
    volsize: 4G
    sparse: true
    properties:
      volblocksize: 4K
      logbias: throughput
      sync: always

- name: Encrypted dataset, key on stdin
  nixos_hetzner.vps.zfs_dataset:
    name: rpool/secret
    properties:
      encryption: aes-256-gcm
      keyformat: passphrase
    encryption_key: "{{ vault_zfs_secret }}"

- name: Remove a dataset and everything below it
  nixos_hetzner.vps.zfs_dataset:
    name: rpool/scratch
    state: absent
    recursive: true
"""

RETURN = r"""
name:
  description: The dataset name.
  returned: always
  type: str
  sample: rpool/safe/postgres
state:
  description: The state after the run (C(present) or C(absent)).
  returned: always
  type: str
  sample: present
properties:
  description: The requested properties as they are (or would be) after the run, normalised as
    C(zfs get -Hp) prints them (sizes in bytes, mountpoints without the altroot).
  returned: when O(state=present)
  type: dict
  sample: {"compression": "lz4", "quota": "21474836480", "mountpoint": "/var/lib/postgresql"}
commands:
  description:
    - Every command that was run, in order, reads and dry runs included, as shell-quoted
      strings; secrets are never part of them.
    - In check mode only the reads and the dry runs (C(zfs create -n), C(zfs destroy -n)) run.
  returned: always
  type: list
  elements: str
  sample: ["zfs get -Hp -o property,value,source all rpool/safe/postgres", "zfs set quota=20G rpool/safe/postgres"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import (
    CommandError, Runner, run_module)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_dataset import (
    mountpoint_needs_altroot, plan_dataset, validate_dataset_request,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_parse import parse_get, parse_zfs_list
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import PlanError

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    type=dict(type="str", choices=["filesystem", "volume"], default="filesystem"),
    properties=dict(type="dict", default={}),
    volsize=dict(type="str"),
    sparse=dict(type="bool", default=False),
    create_parents=dict(type="bool", default=False),
    mounted=dict(type="bool"),
    recursive=dict(type="bool", default=False),
    encryption_key=dict(type="str", no_log=True),
)

USER_ERRORS = (PlanError,)


def _missing(res):
    return res.rc != 0 and "does not exist" in (res.err or "")


def read_dataset(runner, name):
    """One ``zfs get`` call: ``parse_get`` output, or None if there is no such dataset."""
    res = runner.run(["zfs", "get", "-Hp", "-o", "property,value,source", "all", name], check_rc=False)
    if _missing(res):
        return None
    if res.rc != 0:
        raise CommandError(res.argv, res.rc, res.out, res.err)
    return parse_get(res.out)


def read_pool_altroot(runner, pool):
    res = runner.run(["zpool", "get", "-Hp", "-o", "value", "altroot", pool])
    value = res.out.strip()
    return None if value in ("", "-") else value


def execute(params, check_mode, runner, fs):
    """Decide, then act (``fs`` is unused: a dataset is no block device). Returns the
    result dict; raises USER_ERRORS or CommandError."""
    name = params["name"]
    state = params["state"]
    result = dict(changed=False, name=name, state=state)
    validate_dataset_request(name, {}, state="absent")  # the name, before any command
    if state == "absent":
        res = runner.run(["zfs", "list", "-H", "-p", "-o", "name,type", "-t", "all", "-r", name],
                         check_rc=False)
        if _missing(res):
            observed, children = None, []
        elif res.rc != 0:
            raise CommandError(res.argv, res.rc, res.out, res.err)
        else:
            listed = parse_zfs_list(res.out)
            observed = {"type": (listed[0][1], "-")} if listed else None
            children = [n for n, _kind in listed if n != name]
        plan = plan_dataset(name, "absent", observed, children=children, recursive=params["recursive"])
    else:
        # Validate the request before reading anything (bad input never costs a command).
        wanted = validate_dataset_request(name, params["properties"], params["type"], params["volsize"],
                                          mounted=params["mounted"])
        observed = read_dataset(runner, name)
        altroot = None
        if mountpoint_needs_altroot(wanted, observed):
            altroot = read_pool_altroot(runner, name.split("/")[0])
        plan = plan_dataset(name, "present", observed, wanted=wanted, kind=params["type"],
                            volsize=params["volsize"], sparse=params["sparse"],
                            create_parents=params["create_parents"], mounted=params["mounted"],
                            altroot=altroot, key=params["encryption_key"])
        result["properties"] = {k: v for k, v in plan.after.items() if k not in ("state", "type", "mounted")}
    result["diff"] = dict(before=plan.before, after=plan.after)
    result["changed"] = plan.changed
    plan.apply(runner, check_mode)
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, execute, USER_ERRORS, bd.DevFS(), runner_class=Runner, echo=("name",))


if __name__ == "__main__":
    main()
