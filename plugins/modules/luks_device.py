#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LUKS2 containers with cryptsetup: data-safe format, open/close, keys."""

from __future__ import annotations

DOCUMENTATION = r"""
module: luks_device
short_description: Data-safe LUKS2 containers (format, open, close, keys) with cryptsetup
version_added: 0.1.0
description:
  - Formats a device as LUKS2 (argon2id, C(aes-xts-plain64) with a 512-bit key by default),
    opens and closes it, sets its label, and adds and removes keys.
  - B(Data safety.) Before formatting, C(blkid -p) and C(wipefs --no-act) look for any
    signature (a filesystem, a partition table, LUKS, zfs_member, swap); when they find nothing,
    the device is read for backup copies of btrfs, ext2/3/4, LUKS2, ZFS and md metadata and
    for non-zero data in sampled blocks. If anything is found the module fails, saying what it
    found where, unless O(force=true). Nothing is written before that
    check, in check mode neither.
  - An existing container whose type, cipher, key size or sector size differs from the request
    is reported as an error, never ignored; a different O(label) is changed in place.
  - Passphrases go to C(cryptsetup) on stdin (C(--key-file -)) as the exact bytes, with no
    newline added. They never appear in argv, in results or in logs.
author: nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.attributes
options:
  device:
    description:
      - The block device holding (or to hold) the container, for example
        C(/dev/disk/by-partlabel/luks-root). Required except for O(state=closed) with O(name).
    type: path
    version_added: 0.1.0
  state:
    description:
      - C(present) formats the device if it is not LUKS yet and manages label and keys; it
        does not open or close anything.
      - C(opened) is C(present) and the mapping O(name) open on O(device) with the requested flags.
      - C(closed) closes the mapping O(name) (or every mapping on O(device)); it never formats.
      - C(absent) closes the mappings and erases the LUKS header (all key slots) and every
        signature; this destroys the data and needs O(force=true).
    type: str
    choices: [present, opened, closed, absent]
    default: present
    version_added: 0.1.0
  name:
    description: Name of the mapping, opened as C(/dev/mapper/<name>). Required for O(state=opened).
    type: str
    version_added: 0.1.0
  passphrase:
    description:
      - A key of the container, sent on stdin as exact bytes. Used to format, open and add keys.
      - On an existing container the key (this or O(keyfile)) is checked with
        C(cryptsetup open --test-passphrase) before anything else; a key no slot accepts fails
        the task and nothing is changed.
      - An empty passphrase (also after base64 decoding) is refused.
      - Mutually exclusive with O(keyfile).
    type: str
    version_added: 0.1.0
  keyfile:
    description: Path, on the target, of a key file that is a key of the container.
    type: path
    version_added: 0.1.0
  passphrase_encoding:
    description:
      - How O(passphrase), O(new_passphrase) and O(remove_passphrase) are given. C(text) means
        their UTF-8 bytes, C(base64) decodes them first (for binary keys).
    type: str
    choices: [text, base64]
    default: text
    version_added: 0.1.0
  new_passphrase:
    description: A passphrase to add as a key, if no key slot accepts it yet. Needs O(passphrase) or O(keyfile).
    type: str
    version_added: 0.1.0
  new_keyfile:
    description: A key file to add as a key, if no key slot accepts it yet. Needs O(passphrase) or O(keyfile).
    type: path
    version_added: 0.1.0
  remove_passphrase:
    description: A passphrase whose key slot is removed, if one accepts it.
    type: str
    version_added: 0.1.0
  remove_keyfile:
    description: A key file whose key slot is removed, if one accepts it.
    type: path
    version_added: 0.1.0
  force_remove_last_key:
    description: Allow removing the last key slot, which makes the data unrecoverable.
    type: bool
    default: false
    version_added: 0.1.0
  type:
    description: LUKS version of a new container; an existing container of another version is reported.
    type: str
    choices: [luks2]
    default: luks2
    version_added: 0.1.0
  cipher:
    description: Cipher of a new container; an existing container with another cipher is reported.
    type: str
    default: aes-xts-plain64
    version_added: 0.1.0
  key_size:
    description: Volume key size in bits (512 for AES-256 in XTS mode); a different existing one is reported.
    type: int
    default: 512
    version_added: 0.1.0
  hash:
    description: Hash used for the anti-forensic splitter and the digest of a new container.
    type: str
    default: sha256
    version_added: 0.1.0
  pbkdf:
    description: Key derivation function of new key slots.
    type: str
    choices: [argon2id, argon2i, pbkdf2]
    default: argon2id
    version_added: 0.1.0
  pbkdf_memory:
    description: Memory cost of argon2 for new key slots, in KiB. Omitted, cryptsetup benchmarks it.
    type: int
    version_added: 0.1.0
  pbkdf_iterations:
    description: Iterations (argon2 time cost) of new key slots, instead of benchmarking. Minimum 4 for argon2.
    type: int
    version_added: 0.1.0
  pbkdf_parallel:
    description: Parallel threads of argon2 for new key slots.
    type: int
    version_added: 0.1.0
  iter_time:
    description: Milliseconds the benchmark of new key slots aims for; ignored with O(pbkdf_iterations).
    type: int
    version_added: 0.1.0
  label:
    description: LUKS2 label. Set on format; a different label on an existing container is changed. Omitted, left as is.
    type: str
    version_added: 0.1.0
  sector_size:
    description: Encryption sector size of a new container; a different existing one is reported. Omitted, cryptsetup chooses.
    type: int
    choices: [512, 1024, 2048, 4096]
    version_added: 0.1.0
  allow_discards:
    description: Pass discards (TRIM) through the mapping. Omitted, left as is.
    type: bool
    version_added: 0.1.0
  perf_no_read_workqueue:
    description: Bypass dm-crypt's read work queue (better latency on SSDs). Omitted, left as is.
    type: bool
    version_added: 0.1.0
  perf_no_write_workqueue:
    description: Bypass dm-crypt's write work queue. Omitted, left as is.
    type: bool
    version_added: 0.1.0
  persistent:
    description:
      - Store the requested flags in the LUKS2 header too (C(--persistent)), so every later
        open (the initrd too) uses them.
    type: bool
    default: false
    version_added: 0.1.0
  force:
    description:
      - Format a device that holds signatures (their data is lost), and allow O(state=absent).
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - Key slot settings (pbkdf, memory, iterations) of existing slots are not compared.
  - Adding a key needs two secrets at once; the new key is written for the duration of that one
    command to a mode 0600 file in a RAM-backed directory (C(/run) or C(/dev/shm)), then
    overwritten and deleted.
seealso:
  - module: nixos_hetzner.vps.gpt_partitions
  - module: nixos_hetzner.vps.zpool
"""

EXAMPLES = r"""
- name: Format (only if blank) and open the root container
  nixos_hetzner.vps.luks_device:
    device: /dev/disk/by-partlabel/luks-root
    state: opened
    name: crypt-root
    passphrase: "{{ vault_luks_passphrase }}"
    label: cryptroot
    pbkdf_memory: 1048576
    pbkdf_iterations: 4
    pbkdf_parallel: 4
    allow_discards: true
    perf_no_read_workqueue: true
    perf_no_write_workqueue: true
    persistent: true

- name: Add a recovery key, remove an old one
  nixos_hetzner.vps.luks_device:
    device: /dev/disk/by-partlabel/luks-root
    passphrase: "{{ vault_luks_passphrase }}"
    new_keyfile: /root/recovery.key
    remove_passphrase: "{{ old_passphrase }}"

- name: Close the mapping
  nixos_hetzner.vps.luks_device:
    name: crypt-root
    state: closed

- name: Destroy the container (all data on it is lost)
  nixos_hetzner.vps.luks_device:
    device: /dev/sdb2
    state: absent
    force: true
"""

RETURN = r"""
device:
  description: The device as given and its kernel name.
  returned: when O(device) is set
  type: dict
  sample: {"path": "/dev/disk/by-partlabel/luks-root", "realpath": "/dev/sda3"}
luks:
  description: The container as it is (in check mode, as it would be) after the run.
  returned: when the device holds (or would hold) a container
  type: dict
  sample: {"version": 2, "uuid": "b245bdb8-336d-4636-a554-df907e07f393", "label": "cryptroot",
           "cipher": "aes-xts-plain64", "key_size": 512, "sector_size": 4096, "keyslots": [0, 1],
           "header_flags": ["allow-discards"]}
name:
  description: The mapping name.
  returned: when O(name) is set
  type: str
  sample: crypt-root
mapper:
  description: Path of the opened mapping.
  returned: when O(state=opened)
  type: str
  sample: /dev/mapper/crypt-root
opened:
  description: Whether the mapping is open after the run.
  returned: when O(name) is set
  type: bool
  sample: true
flags:
  description: Flags of the open mapping.
  returned: when O(state=opened)
  type: dict
  sample: {"allow_discards": true, "perf_no_read_workqueue": true, "perf_no_write_workqueue": false}
overwritten_signatures:
  description: Signature types that were (or in check mode would be) destroyed because of O(force=true).
  returned: success
  type: list
  elements: str
  sample: ["ext4"]
actions:
  description: What was (or in check mode would be) done, in order.
  returned: success
  type: list
  elements: str
  sample: ["format", "add key", "open"]
commands:
  description:
    - Every command that was run, in order, reads included, as shell-quoted strings;
      secrets are never part of them.
    - In check mode only the reads and the probes run.
  returned: always
  type: list
  elements: str
  sample: ["cryptsetup isLuks /dev/sda3", "cryptsetup luksDump /dev/sda3"]
"""

import base64

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _blockdev as bd
from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _luks as lk
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._runner import (
    Action, Plan, Runner, run_module)

ARGUMENT_SPEC = dict(
    device=dict(type="path"),
    state=dict(type="str", default="present", choices=["present", "opened", "closed", "absent"]),
    name=dict(type="str"),
    passphrase=dict(type="str", no_log=True),
    keyfile=dict(type="path"),
    passphrase_encoding=dict(type="str", default="text", choices=["text", "base64"], no_log=False),
    new_passphrase=dict(type="str", no_log=True),
    new_keyfile=dict(type="path"),
    remove_passphrase=dict(type="str", no_log=True),
    remove_keyfile=dict(type="path"),
    force_remove_last_key=dict(type="bool", default=False),
    type=dict(type="str", default="luks2", choices=["luks2"]),
    cipher=dict(type="str", default="aes-xts-plain64"),
    key_size=dict(type="int", default=512),
    hash=dict(type="str", default="sha256"),
    pbkdf=dict(type="str", default="argon2id", choices=["argon2id", "argon2i", "pbkdf2"]),
    pbkdf_memory=dict(type="int"),
    pbkdf_iterations=dict(type="int"),
    pbkdf_parallel=dict(type="int"),
    iter_time=dict(type="int"),
    label=dict(type="str"),
    sector_size=dict(type="int", choices=[512, 1024, 2048, 4096]),
    allow_discards=dict(type="bool"),
    perf_no_read_workqueue=dict(type="bool"),
    perf_no_write_workqueue=dict(type="bool"),
    persistent=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
)
MUTUALLY_EXCLUSIVE = [("passphrase", "keyfile"), ("new_passphrase", "new_keyfile"),
                      ("remove_passphrase", "remove_keyfile")]
REQUIRED_IF = [("state", "opened", ("name", "device")), ("state", "absent", ("device",)),
               ("state", "present", ("device",)), ("state", "closed", ("name", "device"), True)]

USER_ERRORS = (lk.LuksError, bd.DeviceError, bd.DataSafetyError)
WRONG_KEY_RC = 2  # cryptsetup: "No key available with this passphrase."


class Key(object):
    """A key: bytes for stdin, or a key-file path. ``None`` members mean 'not given'."""

    def __init__(self, data=None, path=None):
        self.data = data
        self.path = path

    def __bool__(self):
        return self.data is not None or self.path is not None

    def args(self):
        return lk.key_args(self.path)


def _secret(params, name):
    value = params.get(name)
    if value is None:
        return None
    if params.get("passphrase_encoding") == "base64":
        try:
            data = base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise lk.LuksError("%s is not valid base64 (passphrase_encoding: base64)" % name)
    else:
        data = value.encode("utf-8")
    if not data:
        raise lk.LuksError("%s is empty: an empty key is refused (cryptsetup would get no key "
                           "on stdin); give a non-empty passphrase or a keyfile, nothing was "
                           "changed" % name)
    return data


class Luks(object):
    """Decide, then act, one write at a time: a later decision reads what an earlier
    write made (the header of a container just formatted, whether a key opens it).
    Reads go through the runner in every mode; each write is an :class:`Action` of
    ``self.plan``, run at once and skipped in check mode (``self.write``)."""

    def __init__(self, params, check_mode, runner, fs):
        self.p = params
        self.check = check_mode
        self.runner = runner
        self.fs = fs
        self.plan = Plan()
        self.key_verified = False
        self.key = Key(_secret(params, "passphrase"), params.get("keyfile"))
        self.new_key = Key(_secret(params, "new_passphrase"), params.get("new_keyfile"))
        self.remove_key = Key(_secret(params, "remove_passphrase"), params.get("remove_keyfile"))
        self.want = dict((k, params.get(k)) for k in (
            "type", "cipher", "key_size", "hash", "pbkdf", "pbkdf_memory", "pbkdf_iterations",
            "pbkdf_parallel", "iter_time", "label", "sector_size"))

    # -- the seam ------------------------------------------------------------------
    def read(self, argv, key=None, **kw):
        return self.runner.run(argv, stdin=key.data if key else None, **kw)

    def write(self, action, argv, key=None, ok_rcs=(0,)):
        step = Action(argv, action, stdin=key.data if key else None, ok_rcs=ok_rcs)
        self.plan.actions.append(step)
        return step.run(self.runner, self.check)

    @property
    def actions(self):
        return [a.description for a in self.plan.actions]

    # -- reads -----------------------------------------------------------------------
    def is_luks(self, device):
        return self.read(["cryptsetup", "isLuks", device], check_rc=False).rc == 0

    def dump(self, device):
        return lk.parse_luksdump(self.read(["cryptsetup", "luksDump", device]).out)

    def status(self, name):
        res = self.read(["cryptsetup", "status", name], check_rc=False)
        st = lk.parse_status(res.out)
        st["active"] = res.rc == 0  # cryptsetup status: 0 active, 4 inactive/unknown
        return st

    def key_works(self, device, key):
        res = self.read(lk.test_key_argv(device, key.path), key=key, check_rc=True,
                        ok_rcs=(0, WRONG_KEY_RC))
        return res.rc == 0

    # -- states ----------------------------------------------------------------------
    def closed(self):
        names = [self.p["name"]] if self.p.get("name") else \
            self.fs.mapper_holders(self.p["device"])
        result = {"opened": False}
        for name in names:
            if self.status(name)["active"]:
                self.write("close %s" % name, ["cryptsetup", "close", name])
        if self.p.get("name"):
            result["name"] = self.p["name"]
        return result

    def absent(self, device):
        if not self.p["force"]:
            raise lk.LuksError(
                "state: absent erases the LUKS header of %r and with it all data on it; "
                "set force: true to confirm, nothing was changed" % device)
        if not self.is_luks(device):
            return {"opened": False}
        names = set(self.fs.mapper_holders(device))
        if self.p.get("name") and self.status(self.p["name"])["active"]:
            names.add(self.p["name"])
        for name in sorted(names):
            self.write("close %s" % name, ["cryptsetup", "close", name])
        self.write("erase", ["cryptsetup", "erase", "--batch-mode", device])
        self.write("wipe signatures", ["wipefs", "--all", device])
        return {"opened": False}

    def present(self, device):
        out = {"overwritten_signatures": []}
        existed = self.is_luks(device)
        if existed:
            dump = self.dump(device)
            before = dict(dump)
            diffs = lk.header_mismatches(self.want, dump)
            if diffs:
                raise lk.LuksError(
                    "the existing LUKS container on %r differs from the request: %s. These "
                    "cannot be changed in place; nothing was changed. Adjust the request to "
                    "match, or destroy the container (state: absent, force: true) and "
                    "format it again" % (device, "; ".join(diffs)))
            if self.key:
                # a wrong key must not pass unnoticed, nor come after a change
                if not self.key_works(device, self.key):
                    raise self._wrong_key(device)
                self.key_verified = True
            if self.p.get("label") is not None and dump["label"] != self.p["label"]:
                self.write("set label", ["cryptsetup", "config", "--label", self.p["label"],
                                         device])
                dump["label"] = self.p["label"]
        else:
            before = None
            if not self.key:
                raise lk.LuksError("%r is not a LUKS container; formatting it needs passphrase "
                                   "or keyfile" % device)
            sigs = bd.refuse_unless_blank(self.runner, device, self.p["force"],
                                          action="format it as LUKS2", fs=self.fs)
            if self.fs.is_busy(device):
                raise bd.DeviceError("device %r is in use; cannot format it, nothing was "
                                     "written" % device)
            out["overwritten_signatures"] = sorted(set(s.type for s in sigs))
            if sigs:
                self.write("wipe signatures", ["wipefs", "--all", device])
            self.write("format", lk.format_argv(device, self.want, self.key.path), key=self.key)
            if self.check:
                dump = {"version": 2, "uuid": None, "label": self.p.get("label"),
                        "subsystem": None, "flags": [], "cipher": self.want["cipher"],
                        "sector_size": self.want.get("sector_size"),
                        "key_size": self.want["key_size"], "keyslots": {0: {}}}
            else:
                dump = self.dump(device)
        # keys: add, then remove (the guard counts slots after the add)
        slots = len(dump["keyslots"])
        if self.new_key:
            if not self.key:
                raise lk.LuksError("adding a key needs an existing key: passphrase or keyfile")
            present = existed and self.key_works(device, self.new_key)
            if not present:
                self._add_key(device)
                slots += 1
        if self.remove_key:
            present = (existed or not self.check) and self.key_works(device, self.remove_key)
            if present:
                if slots <= 1 and not self.p["force_remove_last_key"]:
                    raise lk.LuksError(
                        "refusing to remove the last key slot of %r: the data would be "
                        "unrecoverable; add another key first or set force_remove_last_key: "
                        "true, nothing was changed" % device)
                self.write("remove key", ["cryptsetup", "luksRemoveKey", "--batch-mode"] +
                           self.remove_key.args() + [device], key=self.remove_key)
                slots -= 1
        if self.actions and not self.check and existed:
            dump = self.dump(device)
        out["luks_before"] = before
        out["luks"] = dump
        out["slots"] = slots
        return out

    def _add_key(self, device):
        argv = ["cryptsetup", "luksAddKey", "--batch-mode"] + lk.pbkdf_args(self.want) + \
            self.key.args() + [device]
        if self.new_key.path:
            res = self.write("add key", argv + [self.new_key.path], key=self.key,
                             ok_rcs=(0, WRONG_KEY_RC))
        elif self.check:
            res = self.write("add key", argv + ["<new key file>"], key=self.key)
        else:
            with lk.secret_file(self.new_key.data) as path:
                res = self.write("add key", argv + [path], key=self.key,
                                 ok_rcs=(0, WRONG_KEY_RC))
        if res is not None and res.rc == WRONG_KEY_RC:
            raise self._wrong_key(device)

    def opened(self, device, dump):
        name = self.p["name"]
        st = self.status(name)
        persistent = self.p["persistent"]
        if st["active"]:
            if st["device"] and not self.fs.same_device(st["device"], device):
                raise lk.LuksError("mapping %s is already open on %r, not on %r; close it "
                                   "first" % (name, st["device"], device))
            cur = lk.active_flags(st)
            want = lk.wanted_flags(self.p, cur)
            stale_header = persistent and any(
                lk.header_flags(dump)[k] != want[k] for k in lk.FLAGS
                if self.p.get(k) is not None)
            if want != cur or stale_header:
                self._need_key("change the flags of the open mapping %s" % name)
                self.write("refresh", lk.refresh_argv(name, want, persistent, self.key.path),
                           key=self.key)
            return want, st["active"]
        want = lk.wanted_flags(self.p, lk.header_flags(dump) if dump else {})
        self._need_key("open %r" % (device,))
        argv = lk.open_argv(device, name, want, persistent, self.key.path)
        if self.check and dump.get("uuid") and not self.key_verified and \
                not self.key_works(device, self.key):
            raise self._wrong_key(device)
        res = self.write("open", argv, key=self.key, ok_rcs=(0, WRONG_KEY_RC))
        if res is not None and res.rc == WRONG_KEY_RC:
            raise self._wrong_key(device)
        return want, False

    def _need_key(self, what):
        if not self.key:
            raise lk.LuksError("to %s a key is needed: set passphrase or keyfile" % what)

    @staticmethod
    def _wrong_key(device):
        return lk.LuksError("wrong passphrase or key file for %r: no key slot accepts it; "
                            "nothing was changed" % device)


def _view(dump, slots=None):
    if not dump:
        return None
    return {"version": dump["version"], "uuid": dump["uuid"], "label": dump["label"],
            "cipher": dump["cipher"], "key_size": dump["key_size"],
            "sector_size": dump["sector_size"], "keyslots": sorted(dump["keyslots"]),
            "header_flags": dump["flags"]}


def execute(params, check_mode, runner, fs):
    """Decide, then act. Returns the result dict; raises USER_ERRORS or CommandError."""
    luks = Luks(params, check_mode, runner, fs)
    state = params["state"]
    device = params.get("device")
    result = {}
    if device:
        bd.require_device(fs, device, allow_busy=True)
        result["device"] = {"path": device, "realpath": fs.canonical(device)}
    if state == "closed":
        result.update(luks.closed())
        before_after = ({"opened": bool(luks.actions)}, {"opened": False})
    elif state == "absent":
        result.update(luks.absent(device))
        before_after = ({"luks": "erase" in luks.actions}, {"luks": False})
    else:
        out = luks.present(device)
        result["luks"] = _view(out["luks"])
        result["overwritten_signatures"] = out["overwritten_signatures"]
        before = {"luks": _view(out["luks_before"])}
        after = {"luks": result["luks"]}
        if state == "opened":
            name = params["name"]
            flags, was_open = luks.opened(device, out["luks"])
            result.update(name=name, mapper="/dev/mapper/%s" % name, opened=True, flags=flags)
            before["opened"] = was_open
            after.update(opened=True, flags=flags)
        before_after = (before, after)
    result["changed"] = bool(luks.actions)
    result["actions"] = luks.actions
    result["diff"] = {"before": before_after[0], "after": before_after[1]}
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=MUTUALLY_EXCLUSIVE, required_if=REQUIRED_IF)
    run_module(module, execute, USER_ERRORS, bd.DevFS(), runner_class=Runner)


if __name__ == "__main__":
    main()
