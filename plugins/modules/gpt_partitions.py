#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative GPT partition table built with sgdisk."""

from __future__ import annotations

DOCUMENTATION = r"""
module: gpt_partitions
short_description: Declarative, data-safe GPT partition table (sgdisk)
version_added: 0.1.0
description:
  - Makes the GPT partition table of a whole disk match a declared list of partitions,
    built with C(sgdisk) in one command.
  - A blank disk gets the table. An identical table (same numbers, names, type codes and
    sizes) means no change. A different table, or any other signature found by
    C(blkid -p) or C(wipefs --no-act) (a filesystem, an MBR, LUKS, zfs_member, swap), or, when
    they find nothing, a backup copy of btrfs, ext2/3/4, LUKS2, ZFS or md metadata or non-zero
    data in sampled blocks, is refused unless O(force=true); nothing is written before that check.
  - A table that C(sgdisk) cannot read (for example a zeroed primary GPT with its backup intact)
    is refused like any other data unless O(force=true).
  - Returns the C(/dev/disk/by-partlabel) and C(/dev/disk/by-id) path of every partition.
  - Check mode runs C(sgdisk --pretend) with the planned command on a blank disk, so an
    impossible table fails in check mode too. When the disk is to be overwritten (O(force=true)),
    the dry run is skipped, since it would read the old content the real run erases first.
author: nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.attributes
options:
  device:
    description:
      - The whole disk, for example C(/dev/sda) or C(/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0).
        Prefer a by-id name, it does not change between boots.
    type: path
    required: true
    version_added: 0.1.0
  partitions:
    description:
      - The partitions, placed in order of O(partitions[].number), each aligned to 1 MiB.
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
    suboptions:
      number:
        description: Partition number, 1 to 128.
        type: int
        required: true
        version_added: 0.1.0
      name:
        description:
          - The GPT partition name (partlabel), 1 to 36 characters, unique on the disk. It
            becomes C(/dev/disk/by-partlabel/<name>).
        type: str
        required: true
        version_added: 0.1.0
      type:
        description:
          - sgdisk type code, for example C(EF02) (BIOS boot), C(EF00) (EFI system),
            C(8309) (Linux LUKS), C(BF00) (Solaris/ZFS), C(8300) (Linux filesystem),
            C(8200) (Linux swap).
        type: str
        default: "8300"
        version_added: 0.1.0
      size:
        description:
          - Size with a binary unit (C(1M), C(512M), C(20G), C(1T)) or in bytes, a multiple
            of the sector size.
          - C(rest) (the default) takes the rest of the disk, ending on the last 1 MiB boundary
            (so a LUKS2 container with 4096-byte sectors fits); only the last partition may.
        type: raw
        default: rest
        version_added: 0.1.0
      filesystem:
        description:
          - Make this file system on the partition (C(mkfs.vfat -F 32)), for example an ESP.
          - A partition that already holds a vfat file system is left as it is. A partition that
            holds anything else (a signature, a backup copy, non-zero sampled data) is refused
            like the disk itself, unless O(force=true).
        type: str
        choices: [vfat]
        version_added: 0.2.0
      label:
        description: File system label for O(partitions[].filesystem) (vfat, at most 11 characters).
        type: str
        version_added: 0.2.0
  force:
    description:
      - Overwrite a disk that holds a different partition table or any other signature.
        The old data becomes unreachable. The disk must still not be in use.
      - The signatures of the old partitions (C(wipefs --all) on each), the disk's own
        signatures and both copies of the old table (C(sgdisk --zap-all)) are erased before
        the new table is written.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - The table is compared by partition number, name, type code and size, not by start
    sector. A C(rest) partition must reach the end of the disk; after a disk was grown it
    is reported as a difference.
  - Needs C(sgdisk) (gdisk), C(blkid) and C(wipefs) (util-linux) on the target.
seealso:
  - module: nixos_hetzner.vps.luks_device
  - module: nixos_hetzner.vps.zpool
"""

EXAMPLES = r"""
- name: Partition the system disk (BIOS boot, ESP, LUKS for the pool)
  nixos_hetzner.vps.gpt_partitions:
    device: /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345678
    partitions:
      - {number: 1, name: bios, type: EF02, size: 1M}
      - {number: 2, name: esp, type: EF00, size: 512M}
      - {number: 3, name: luks-root, type: "8309", size: rest}
  register: parts

- name: Use the stable partition path
  ansible.builtin.debug:
    msg: "{{ parts.partitions[2].by_partlabel }}"

- name: Repartition a disk that held old data (destroys it)
  nixos_hetzner.vps.gpt_partitions:
    device: /dev/sdb
    partitions:
      - {number: 1, name: data, type: BF00}
    force: true
"""

RETURN = r"""
device:
  description: The disk as given and its kernel name.
  returned: always
  type: dict
  sample: {"path": "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0", "realpath": "/dev/sda", "by_id": "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0"}
partitions:
  description: The partitions as they are (or, in check mode, will be) on the disk.
  returned: success
  type: list
  elements: dict
  sample:
    - number: 1
      name: bios
      type: EF02
      size: 1M
      size_bytes: 1048576
      start: 2048
      end: 4095
      device: /dev/sda1
      by_partlabel: /dev/disk/by-partlabel/bios
      by_id: /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_disk0-part1
differences:
  description: How the existing table differed from the requested one (only with O(force=true)
    would such a table be rewritten).
  returned: success
  type: list
  elements: str
  sample: ["partition 2: size is 10G (10737418240 bytes), requested 20G (21474836480 bytes)"]
filesystems_made:
  description: Numbers of the partitions that got (or in check mode would get) their O(partitions[].filesystem).
  returned: success
  type: list
  elements: int
  sample: [2]
overwritten_signatures:
  description: Signature types that were (or in check mode would be) overwritten because of O(force=true).
  returned: success
  type: list
  elements: str
  sample: ["ext4"]
commands:
  description:
    - Every command that was run, in order, reads and dry runs included, as shell-quoted
      strings; secrets are never part of them.
    - In check mode only the reads, the probes and the dry run C(sgdisk --pretend) run.
  returned: always
  type: list
  elements: str
  sample: ["blkid -p -o export /dev/sda", "wipefs --no-act --json /dev/sda", "sgdisk -p /dev/sda"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _gpt as gpt
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import (
    Action, Plan, Runner, run_module)

ARGUMENT_SPEC = dict(
    device=dict(type="path", required=True),
    partitions=dict(type="list", elements="dict", required=True, options=dict(
        number=dict(type="int", required=True),
        name=dict(type="str", required=True),
        type=dict(type="str", default="8300"),
        size=dict(type="raw", default="rest"),
        filesystem=dict(type="str", choices=["vfat"]),
        label=dict(type="str"),
    )),
    force=dict(type="bool", default=False),
)

USER_ERRORS = (gpt.SpecError, gpt.TableMismatch, bd.DeviceError, bd.DataSafetyError)


def _result_partitions(placed, disk_real, by_id):
    out = []
    for p in placed:
        size_bytes = p.get("size_bytes", p.get("size"))
        out.append({
            "number": p["number"], "name": p["name"], "type": p["type"],
            "size": gpt.human(size_bytes), "size_bytes": size_bytes,
            "start": p["start"], "end": p["end"],
            "device": bd.partition_path(disk_real, p["number"]),
            "by_partlabel": "%s/%s" % (bd.BY_PARTLABEL, p["name"]),
            "by_id": bd.partition_path(by_id, p["number"]) if by_id else None,
        })
    return out


def _read_table(runner, fs, device, sigs, force):
    """The disk's table and geometry from ``sgdisk -p``. When sgdisk reads no valid table
    (for example a zeroed primary GPT whose backup survives) the disk is refused like any
    other data unless ``force``; with force the geometry of a blank disk is used, since
    the real run wipes the disk before it writes the new table."""
    res = runner.run(["sgdisk", "-p", device], check_rc=False)
    if res.rc == 0:
        return gpt.parse_sgdisk_print(res.out)
    if not force:
        found = ", ".join("%s at %s" % (s.type, s.offset) if s.offset else s.type
                          for s in sigs) or "a partition table"
        reason = ((res.out or "") + (res.err or "")).strip().splitlines()
        raise bd.DataSafetyError(
            "found %s on %r (blkid -p / wipefs --no-act), and sgdisk reads no valid GPT from "
            "it (%s): refusing to write a GPT table, nothing was written. If this data may be "
            "destroyed, set force: true to overwrite"
            % (found, device, reason[-1] if reason else "rc=%d" % res.rc), device, sigs)
    return gpt.blank_geometry(fs.size(device), fs.sector_size(device), unreadable=True)


def _filesystems(spec, check_mode, runner, fs, disk_real, force, fresh):
    """Make the requested file systems on partitions that do not hold them yet. Each
    partition passes the same data gate as the disk. ``fresh``: the table is new (in
    check mode the partitions do not exist yet, so there is nothing to probe)."""
    made = []
    for p in spec:
        if not p.get("filesystem"):
            continue
        part = bd.partition_path(disk_real, p["number"])
        if not (check_mode and fresh):
            sigs = bd.probe_signatures(runner, part, fs)
            if sigs and set(s.type for s in sigs) == {p["filesystem"]}:
                continue
            bd.check_signatures(part, sigs, force, action="make a %s file system on it" % p["filesystem"])
        made.append(p["number"])
        Action(["mkfs.vfat", "-F", "32"] + (["-n", p["label"]] if p.get("label") else []) + [part],
               "make a vfat file system on %s" % part).run(runner, check_mode)
    return made


def _table_writes(plan, geo, device, real, fs):
    """The writes of a new table. A recreate first erases the old partitions'
    signatures (their blocks stay where they were), the disk's own, and the tables
    wipefs can leave (a damaged GPT's backup, an MBR on an image file); rc 2 is
    sgdisk's "kernel still uses the old table", checked after the write. Check mode
    runs sgdisk's dry run for a create only: it reads the disk as it is, and a recreate
    wipes it first, so a dry run on the old content (an MBR: "Non-GPT disk") would not
    predict it."""
    actions = []
    if plan["action"] == "recreate":
        for old in geo.get("partitions", []):
            part = bd.partition_path(real, old["number"])
            if fs.exists(part):
                actions.append(Action(["wipefs", "--all", part], "wipe signatures of %s" % part))
        actions.append(Action(["wipefs", "--all", device], "wipe signatures of %s" % device))
        actions.append(Action(["sgdisk", "--zap-all", device], "erase both tables of %s" % device,
                              ok_rcs=(0, 2)))
    pretend = gpt.create_argv(device, plan["placed"], pretend=True)
    actions.append(Action(gpt.create_argv(device, plan["placed"]), "write the table of %s" % device,
                          check_argv=pretend if plan["action"] == "create" else None))
    return Plan(actions)


def execute(params, check_mode, runner, fs):
    """Decide, then act. Returns the result dict; raises USER_ERRORS or CommandError."""
    device = params["device"]
    spec = gpt.normalize_spec(params["partitions"])          # validate first
    bd.require_device(fs, device, allow_busy=True)
    real = fs.canonical(device)
    by_id = device if device.startswith(bd.BY_ID + "/") else fs.preferred_by_id(device)
    sigs = bd.probe_signatures(runner, device, fs)
    bd.check_signatures(device, sigs, params["force"], action="write a GPT table",
                        allowed=gpt.GPT_SIGNATURES)
    geo = _read_table(runner, fs, device, sigs, params["force"])
    plan = gpt.plan(spec, geo, sigs, params["force"])
    result = {
        "changed": plan["action"] != "none",
        "device": {"path": device, "realpath": real, "by_id": by_id},
        "differences": plan["differences"],
        "overwritten_signatures": plan["overwrite"],
        "diff": {"before": {"device": device, "signatures": sorted(set(s.type for s in sigs)),
                            "partitions": gpt.table_view(plan["before"])},
                 "after": {"device": device, "signatures": ["PMBR", "gpt"],
                           "partitions": gpt.table_view(plan["placed"])}},
    }
    if plan["action"] == "none":
        placed = [dict(p, size_bytes=p["size"]) for p in geo["partitions"]]
        result["partitions"] = _result_partitions(placed, real, by_id)
        result["filesystems_made"] = _filesystems(spec, check_mode, runner, fs, real, params["force"], False)
        result["changed"] = bool(result["filesystems_made"])
        return result
    if fs.is_busy(device):
        raise bd.DeviceError(
            "disk %r (%s) is in use (a partition is mounted, swap, an open LUKS mapping or "
            "in a ZFS pool); cannot rewrite its table, nothing was written" % (device, real))
    _table_writes(plan, geo, device, real, fs).apply(runner, check_mode)
    if check_mode:
        result["partitions"] = _result_partitions(plan["placed"], real, by_id)
        result["filesystems_made"] = _filesystems(spec, check_mode, runner, fs, real, params["force"], True)
        return result
    runner.run(["udevadm", "settle", "--timeout=30"], check_rc=False)
    after = gpt.parse_sgdisk_print(runner.run(["sgdisk", "-p", device]).out)
    left = gpt.compare(spec, after)
    if left:
        raise gpt.SpecError("sgdisk wrote a table that differs from the request: %s"
                            % "; ".join(left))
    placed = [dict(p, size_bytes=p["size"]) for p in after["partitions"]]
    result["partitions"] = _result_partitions(placed, real, by_id)
    result["filesystems_made"] = _filesystems(spec, check_mode, runner, fs, real, params["force"], True)
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, execute, USER_ERRORS, bd.DevFS(), runner_class=Runner)


if __name__ == "__main__":
    main()
