#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZFS pools with zpool: data-safe create, import, properties, export, destroy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: zpool
short_description: ZFS pools that are created once, imported when exported, and never overwrite data
version_added: 0.1.0
description:
  - Creates a ZFS pool with a given vdev layout (stripe, mirror, raidz1-3, plus log, cache, spare,
    special and dedup vdevs), pool properties (C(-o)), root dataset properties (C(-O)), altroot,
    mountpoint and compatibility.
  - On later runs the requested devices and the pool's devices (C(zpool status -P -L)) are compared
    after both are resolved to kernel devices, so C(/dev/disk/by-id/...), C(/dev/disk/by-partlabel/...),
    C(/dev/mapper/...) and C(/dev/sdX) names all match the same disk, and a whole disk matches the
    partition 1 that C(zpool create) put on it.
  - Settable pool and root dataset properties are updated. A different layout is reported as an
    error that lists the difference; it is never changed.
  - If no pool of that name is imported but an exported one exists, it is imported with
    C(zpool import -N) (and the altroot) instead of being created again.
  - Before C(zpool create) every device is probed with C(blkid -p) and C(wipefs --no-act), then, if
    they find nothing, for backup copies of btrfs, ext2/3/4, LUKS2, ZFS and md metadata and for
    non-zero data in sampled blocks; a device holding any of these is refused unless O(force=true).
    Nothing is written before that check.
  - Before any write (C(zpool create), C(zpool set), C(zfs set)) every pool property, C(feature@)
    and root dataset property value is checked against what the installed ZFS accepts (the
    property tables of C(zpool get) and C(zfs get), C(zpool upgrade -v)), and two names of one
    disk (the same device number), or a disk together with one of its partitions, are refused.
  - A whole disk that holds exactly what an interrupted C(zpool create) leaves (ZFS's own GPT with
    partition 1 C(zfs-<id>) type BF01, partition 9 type BF07, both without any signature or data)
    is used without O(force=true), and a warning says so.
  - Only O(state=absent) with O(force=true) destroys a pool.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Pool name.
    type: str
    required: true
    version_added: 0.1.0
  state:
    description:
      - C(present) creates or imports the pool and applies properties.
      - C(exported) exports an imported pool (C(zpool export)).
      - C(absent) destroys the pool (imported or exported) and all data on it; needs O(force=true).
    type: str
    choices: [present, absent, exported]
    default: present
    version_added: 0.1.0
  vdevs:
    description:
      - The pool layout. Required to create a pool; on an existing pool it is compared with the real
        layout, and left out means "do not check".
      - Devices are absolute paths; by-id, by-partlabel and /dev/mapper names are recommended.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      type:
        description: Kind of vdev. C(stripe) adds each device as its own top-level vdev.
        type: str
        choices: [stripe, mirror, raidz, raidz1, raidz2, raidz3]
        default: stripe
        version_added: 0.1.0
      role:
        description: What the vdev is for. C(cache) and C(spare) vdevs must be of type C(stripe).
        type: str
        choices: [data, log, cache, spare, special, dedup]
        default: data
        version_added: 0.1.0
      devices:
        description: Device paths of this vdev.
        type: list
        elements: str
        required: true
        version_added: 0.1.0
  pool_properties:
    description: Pool properties (C(zpool create -o), C(zpool set)), for example C(ashift),
      C(autotrim), C(feature@encryption). Properties left out are left as they are.
    type: dict
    default: {}
    version_added: 0.1.0
  filesystem_properties:
    description: Properties of the pool's root dataset (C(zpool create -O), C(zfs set)), for example
      C(compression), C(acltype), C(xattr), C(canmount). Properties left out are left as they are.
    type: dict
    default: {}
    version_added: 0.1.0
  altroot:
    description: Alternate root for creation and import (C(-R)); the pool's mountpoints are
      mounted below it. An imported pool with a different altroot is an error.
    type: path
    version_added: 0.1.0
  mountpoint:
    description: Mountpoint of the root dataset (C(zpool create -m)); compared without the altroot.
    type: str
    version_added: 0.1.0
  compatibility:
    description: The pool's C(compatibility) property (for example C(openzfs-2.1-linux), C(grub2),
      or C(off)), to limit the features a new pool enables.
    type: str
    version_added: 0.1.0
  import_dirs:
    description: Directories C(zpool import) searches for an exported pool (C(-d)); by default
      ZFS's own search path.
    type: list
    elements: path
    default: []
    version_added: 0.1.0
  force:
    description:
      - For O(state=present), create the pool even on devices that hold a signature (and pass
        C(-f) to C(zpool create)). The data on them is lost.
      - For O(state=absent), allow destroying the pool.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - Check mode runs the same reads, value checks and data-safety probe, and checks a creation with
    C(zpool create -n), which writes nothing.
  - Pool names are limited to 239 characters (ZFS keeps room for C(pool/$ORIGIN@$ORIGIN)).
seealso:
  - module: nixos_hetzner.vps.zfs_dataset
  - module: nixos_hetzner.vps.luks_device
"""

EXAMPLES = r"""
- name: Mirror on two LUKS mappings, mounted under /mnt for the installer
  nixos_hetzner.vps.zpool:
    name: rpool
    vdevs:
      - type: mirror
        devices:
          - /dev/mapper/crypt-sda
          - /dev/mapper/crypt-sdb
    pool_properties:
      ashift: 12
      autotrim: "on"
    filesystem_properties:
      compression: zstd
      acltype: posixacl
      xattr: sa
      canmount: "off"
    mountpoint: none
    altroot: /mnt
    compatibility: openzfs-2.1-linux

- name: Single disk by id, with a cache device
  nixos_hetzner.vps.zpool:
    name: tank
    vdevs:
      - devices: [/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_data1]
      - role: cache
        devices: [/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_cache1]

- name: Export before rebooting into the installed system
  nixos_hetzner.vps.zpool:
    name: rpool
    state: exported

- name: Destroy a scratch pool and everything on it
  nixos_hetzner.vps.zpool:
    name: scratch
    state: absent
    force: true
"""

RETURN = r"""
name:
  description: The pool name.
  returned: always
  type: str
  sample: rpool
state:
  description: The requested state.
  returned: always
  type: str
  sample: present
created:
  description: Whether the pool was (or in check mode would be) created.
  returned: always
  type: bool
  sample: false
imported:
  description: Whether an exported pool was (or in check mode would be) imported.
  returned: always
  type: bool
  sample: false
vdevs:
  description: The pool's layout as C(zpool status -P -L) reports it after the run
    (role, type and real device paths).
  returned: when the pool exists after the run and check mode did not skip the read
  type: list
  elements: dict
  sample: [{"role": "data", "type": "mirror", "devices": ["/dev/dm-0", "/dev/dm-1"]}]
signatures:
  description: Signatures found on devices that O(force=true) allowed to overwrite, by device.
  returned: when a pool is created
  type: dict
  sample: {"/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_d1": ["ext4"]}
commands:
  description:
    - Every command that was run, in order, reads and dry runs included, as shell-quoted
      strings; secrets are never part of them.
    - In check mode only the reads, the probes and the dry run C(zpool create -n) run.
  returned: always
  type: list
  elements: str
  sample: ["zpool get -Hp -o property,value,source all rpool", "zpool status -P -L rpool", "zpool set autotrim=on rpool"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._gpt import parse_sgdisk_print
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import (
    Action, CommandError, Plan, Runner, run_module)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_parse import (
    parse_get, parse_zpool_import_list, parse_zpool_status,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_pool import (
    check_distinct_devices, device_id, import_argv, interrupted_create_layout, plan_pool_create,
    plan_pool_existing, validate_pool_request,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_schema import (
    SchemaError, check_dataset_properties, check_pool_properties, read_schema,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._zfs_values import PlanError

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent", "exported"], default="present"),
    vdevs=dict(type="list", elements="dict", options=dict(
        type=dict(type="str", choices=["stripe", "mirror", "raidz", "raidz1", "raidz2", "raidz3"],
                  default="stripe"),
        role=dict(type="str", choices=["data", "log", "cache", "spare", "special", "dedup"],
                  default="data"),
        devices=dict(type="list", elements="str", required=True),
    )),
    pool_properties=dict(type="dict", default={}),
    filesystem_properties=dict(type="dict", default={}),
    altroot=dict(type="path"),
    mountpoint=dict(type="str"),
    compatibility=dict(type="str"),
    import_dirs=dict(type="list", elements="path", default=[]),
    force=dict(type="bool", default=False),
)

USER_ERRORS = (PlanError, bd.DeviceError, bd.DataSafetyError, SchemaError)


class PoolReader(object):
    """The reads of the zpool module (each one command)."""

    def __init__(self, runner, name):
        self.runner = runner
        self.name = name

    def pool_props(self):
        res = self.runner.run(["zpool", "get", "-Hp", "-o", "property,value,source", "all", self.name],
                              check_rc=False)
        if res.rc != 0:
            if "no such pool" in (res.err or ""):
                return None
            raise CommandError(res.argv, res.rc, res.out, res.err)
        return parse_get(res.out)

    def status(self):
        return parse_zpool_status(self.runner.run(["zpool", "status", "-P", "-L", self.name]).out)

    def fs_props(self):
        return parse_get(self.runner.run(
            ["zfs", "get", "-Hp", "-o", "property,value,source", "all", self.name]).out)

    def importable(self, dirs):
        argv = ["zpool", "import"]
        for d in dirs:
            argv += ["-d", d]
        res = self.runner.run(argv, check_rc=False)
        if res.rc != 0 and "no pools available" not in (res.err or "") + (res.out or ""):
            raise CommandError(res.argv, res.rc, res.out, res.err)
        found = [p for p in parse_zpool_import_list(res.out) if p["name"] == self.name]
        if len(found) > 1:
            raise PlanError("%d exported pools are named %s (ids %s): import the right one by id by hand"
                            % (len(found), self.name, ", ".join(p["id"] or "?" for p in found)))
        return found[0] if found else None


def _plan_existing(reader, params, wanted_pool, fs, props=None):
    props = props if props is not None else reader.pool_props()
    status = reader.status()
    wants_fs = bool(params["filesystem_properties"]) or bool(params["mountpoint"])
    plan = plan_pool_existing(
        params["name"], props, wanted_pool, status=status, vdevs=params["_vdevs"],
        resolve_requested=lambda p: _resolve_requested(fs, p),
        resolve_observed=lambda p: device_id(fs, p),
        fs_props=reader.fs_props() if wants_fs else None,
        wanted_fs_props=params["filesystem_properties"], mountpoint=params["mountpoint"],
        altroot=params["altroot"])
    return plan, status


def _resolve_requested(fs, path):
    if not fs.exists(path):
        raise PlanError("device %r does not exist; check the name (ls -l /dev/disk/by-id)" % (path,))
    return device_id(fs, path)


def _interrupted_create(runner, fs, disk, sigs):
    """What a disk with ZFS's own GPT (see ``interrupted_create_layout``) holds inside it:
    None when the disk does not have that layout; an empty list when partitions 1 and 9
    hold nothing, not even a pool label or data the sampling probe sees (exactly what a
    killed ``zpool create`` leaves); else one "partition N holds ..." per finding. All reads."""
    if not set(s.type for s in sigs) <= {"gpt", "PMBR"}:
        return None
    res = runner.run(["sgdisk", "-p", disk], check_rc=False)
    # sgdisk opens the disk for writing; on close udev re-reads the table and the
    # partition nodes disappear for a moment
    runner.run(["udevadm", "settle", "--timeout=30"], check_rc=False)
    if res.rc != 0 or not interrupted_create_layout(
            [s.type for s in sigs], parse_sgdisk_print(res.out)["partitions"]):
        return None
    found = []
    for number in (1, 9):
        part = bd.partition_path(disk, number)
        if not fs.exists(part):
            found.append("partition %d (%r) is missing" % (number, part))
            continue
        inside = bd.probe_signatures(runner, part, fs)
        if inside:
            found.append("partition %d holds %s" % (number, bd.describe_signatures(inside)))
            break  # one finding decides; reading partition 9 adds nothing
    return found


def _check_values(runner, wanted_pool, wanted_fs, creating):
    """Check every pool property, feature and root dataset property value against the
    installed ZFS (read-only), so that no write starts that ZFS would refuse halfway."""
    schema = read_schema(runner)
    problems = check_pool_properties(schema, wanted_pool, creating) + \
        check_dataset_properties(schema, wanted_fs)
    if problems:
        raise PlanError("%s; nothing was written" % "; ".join(problems))


def execute(params, check_mode, runner, fs):
    """Decide, then act. Returns the result dict; raises USER_ERRORS or CommandError."""
    name = params["name"]
    state = params["state"]
    result = dict(changed=False, name=name, state=state, created=False, imported=False)
    wanted_pool = dict(params["pool_properties"] or {})
    if params["compatibility"] is not None:
        wanted_pool["compatibility"] = params["compatibility"]
    wanted_fs = dict(params["filesystem_properties"] or {})
    vdevs = None
    if params["vdevs"] is not None:
        vdevs = [dict(type=v.get("type") or "stripe", role=v.get("role") or "data",
                      devices=v.get("devices") or []) for v in params["vdevs"]]
    params = dict(params, filesystem_properties=wanted_fs)
    params["_vdevs"] = validate_pool_request(name, vdevs, wanted_pool, wanted_fs) if state == "present" \
        else validate_pool_request(name, None, {}, {})
    reader = PoolReader(runner, name)
    props = reader.pool_props()

    if state == "exported":
        plan = Plan([Action(["zpool", "export", name], "export %s" % name)] if props else [],
                    before={"state": "present" if props else "not imported"},
                    after={"state": "exported" if props else "not imported"})
        plan.apply(runner, check_mode)
        result.update(changed=plan.changed, diff=dict(before=plan.before, after=plan.after))
        return result

    if state == "absent":
        found = None if props else reader.importable(params["import_dirs"])
        if not props and not found:
            result["diff"] = dict(before={"state": "absent"}, after={"state": "absent"})
            return result
        if not params["force"]:
            raise PlanError("state=absent destroys pool %s and all its data; set force: true to do it"
                            % name)
        actions = []
        if not props:
            actions.append(Action(import_argv(name, found["id"], dirs=params["import_dirs"]),
                                  "import %s to destroy it" % name))
            result["imported"] = True
        actions.append(Action(["zpool", "destroy", "-f", name], "destroy %s" % name))
        plan = Plan(actions, before={"state": "present" if props else "exported"}, after={"state": "absent"})
        plan.apply(runner, check_mode)
        result.update(changed=True, diff=dict(before=plan.before, after=plan.after))
        return result

    # state == present
    if props is not None:
        plan, status = _plan_existing(reader, params, wanted_pool, fs, props)
        if plan.changed:
            _check_values(runner, wanted_pool, wanted_fs, creating=False)
        plan.apply(runner, check_mode)
        result.update(changed=plan.changed, vdevs=status["vdevs"],
                      diff=dict(before=plan.before, after=plan.after))
        return result

    found = reader.importable(params["import_dirs"])
    if found:
        result.update(changed=True, imported=True)
        before = {"state": "exported"}
        if check_mode:
            # the properties of a pool not yet imported cannot be read; importing is the
            # one write check mode can tell
            result["diff"] = dict(before=before, after={"state": "present"})
            return result
        Action(import_argv(name, found["id"], altroot=params["altroot"], dirs=params["import_dirs"]),
               "import %s" % name).run(runner, check_mode)
        plan, status = _plan_existing(reader, params, wanted_pool, fs)
        if plan.changed:
            _check_values(runner, wanted_pool, wanted_fs, creating=False)
        plan.apply(runner, check_mode)
        result.update(vdevs=status["vdevs"], diff=dict(before=before, after=plan.after))
        return result

    if params["_vdevs"] is None:
        raise PlanError("pool %s does not exist (not imported, and zpool import finds no exported pool "
                        "of that name): give vdevs to create it" % name)
    devices = [d for v in params["_vdevs"] for d in v["devices"]]
    for dev in devices:
        bd.require_device(fs, dev)
    check_distinct_devices(params["_vdevs"], lambda p: (fs.identity(p), device_id(fs, p)))
    _check_values(runner, wanted_pool, wanted_fs, creating=True)
    signatures = {}
    warnings = []
    for dev in devices:
        sigs = bd.probe_signatures(runner, dev, fs)
        inside = _interrupted_create(runner, fs, dev, sigs) if sigs and not params["force"] else None
        if inside == []:
            warnings.append(
                "%r holds only the GPT that an interrupted zpool create writes (partition 1 "
                "'zfs-<id>' BF01, partition 9 BF07, no pool label, nothing else): creating the "
                "pool over it" % (dev,))
            continue
        action = "create pool %s on it" % name
        if inside:
            # ZFS's own partitions with something in them: a pool, or a create killed after
            # it had begun writing its label; either way not ours to overwrite unasked
            action += (" (it has ZFS's own partitions and %s: a pool (zpool import lists it) "
                       "or a zpool create stopped after it began writing)" % "; ".join(inside))
        bd.check_signatures(dev, sigs, params["force"], action=action)
        if sigs:
            signatures[dev] = [s.type for s in sigs]
    if warnings:
        result["warnings"] = warnings
    plan = plan_pool_create(name, params["_vdevs"], wanted_pool, wanted_fs, altroot=params["altroot"],
                            mountpoint=params["mountpoint"], force=params["force"])
    plan.apply(runner, check_mode)
    result.update(changed=True, created=True, signatures=signatures,
                  diff=dict(before=plan.before, after=plan.after))
    if not check_mode:
        result["vdevs"] = reader.status()["vdevs"]
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, execute, USER_ERRORS, bd.DevFS(), runner_class=Runner, echo=("name",))


if __name__ == "__main__":
    main()
