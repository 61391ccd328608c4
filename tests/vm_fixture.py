"""Shared fixtures for tests that need a real VM (real kernel, cryptsetup, ZFS).

* ``rescue_vm`` (session): a booted lab rescue system (Debian from RAM with ZFS modules,
  cryptsetup, sgdisk, parted, python3) reachable over SSH as root.  Attributes ``host``,
  ``port``, ``user``, ``key_path``, ``console_log``; methods ``ssh(cmd, input=None,
  check=False) -> (rc, out, err)``, ``add_disk(size_mb=1024, serial=None) -> by-id path``
  (a blank virtio-scsi ``scsi-hd`` hot-plugged over QMP), ``remove_disk(path)`` and
  ``inventory(path) -> path`` (Ansible inventory; INI, or YAML if path ends in .yml/.yaml).
* ``blank_disk`` (function): a fresh blank disk on ``rescue_vm``, removed after the test
  (pools on it exported, LUKS mappings closed first).
* ``require_lab_image(kind)``: the cached image, or a clear skip (a failure when
  ``NIXOS_HETZNER_LAB_REQUIRE_VMS=1``, as in CI, where the images are built first).

Environment: ``NIXOS_HETZNER_LAB_VM_MEMORY`` (MiB, default 1536 for the rescue fixture),
``NIXOS_HETZNER_LAB_VM_CPUS`` (vCPUs, default 2, as the lab's qemu backend),
``NIXOS_HETZNER_LAB_BOOT_TIMEOUT`` (seconds to SSH, default 900: an idle machine boots in
well under a minute, a machine shared by many TCG guests can take minutes),
``NIXOS_HETZNER_LAB_CACHE`` (image cache).
"""
from __future__ import annotations

import os
import shlex
import shutil
import uuid
from pathlib import Path

import pytest

from lab.images import find_image
from lab.images.store import images_dir
from lab.vm import (RESCUE_APPEND, VM, Disk, VMError, free_loopback, make_qcow2,
                    rescue_initrd, ssh_keygen)

__all__ = ["rescue_vm", "blank_disk", "require_lab_image", "require_qemu", "RescueVM",
           "REQUIRE_ENV"]

REQUIRE_ENV = "NIXOS_HETZNER_LAB_REQUIRE_VMS"


def _skip_or_fail(msg: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{msg} ({REQUIRE_ENV}=1, so this is a failure, not a skip)")
    pytest.skip(msg)


def require_qemu() -> None:
    missing = [t for t in ("qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen")
               if shutil.which(t) is None]
    if missing:
        _skip_or_fail(f"VM tests need {', '.join(missing)}: run scripts/install-deps.sh")


def require_lab_image(kind: str):
    """The cached lab image of this kind ('rescue' or 'disk'), or skip/fail clearly."""
    require_qemu()
    img = find_image(kind)
    if img is None:
        _skip_or_fail(f"the lab {kind} image is not built (cache {images_dir()}); build it "
                      f"with `hcloud-lab images build --{kind}` (or `make test`, which builds "
                      f"it first)")
    return img


_GUEST_RELEASE = r'''
dev=$(readlink -f "$1") || exit 0
base=$(basename "$dev")
[ -e "/sys/block/$base" ] || exit 0
holders=$(ls /sys/block/$base/holders /sys/block/$base/$base*/holders 2>/dev/null | grep '^dm-' | sort -u)
pats="/dev/$base"
for h in $holders; do pats="$pats /dev/$h"; done
for p in $(zpool list -H -o name 2>/dev/null); do
  for pat in $pats; do
    if zpool status -LP "$p" 2>/dev/null | grep -q "$pat"; then zpool export -f "$p" || zpool destroy -f "$p"; break; fi
  done
done
for h in $holders; do
  name=$(cat /sys/block/$h/dm/name)
  umount -l "/dev/mapper/$name" 2>/dev/null
  cryptsetup close "$name" 2>/dev/null || dmsetup remove -f "$name" 2>/dev/null
done
for part in /dev/$base /dev/$base[0-9]*; do umount -l "$part" 2>/dev/null; done
sync
echo 1 > /sys/block/$base/device/delete
'''


class RescueVM:
    """A booted rescue VM (see the module docstring)."""

    user = "root"

    def __init__(self, vm: VM, workdir: Path):
        self.vm = vm
        self.workdir = workdir
        self.host = vm.host
        self.port = vm.port
        self.key_path = vm.key_path
        self._disks: dict[str, Disk] = {}

    @property
    def console_log(self) -> Path:
        return self.vm.console_log

    def ssh(self, cmd: str, input=None, check: bool = False, timeout: float = 900):
        return self.vm.ssh(cmd, input=input, check=check, timeout=timeout)

    def add_disk(self, size_mb: int = 1024, serial: str | None = None) -> str:
        serial = serial or "lab" + uuid.uuid4().hex[:10]
        if serial in {d.serial for d in self._disks.values()}:
            raise VMError(f"a disk with serial {serial} is already attached")
        path = make_qcow2(self.workdir / f"disk-{serial}.qcow2", size_mb * 2**20)
        disk = self.vm.hot_add(Disk(path=path, serial=serial))
        try:
            self.vm.wait_guest_path(disk.by_id, present=True, timeout=90)
        except Exception:
            self._unplug(disk)
            raise
        self._disks[disk.by_id] = disk
        return disk.by_id

    def remove_disk(self, path: str) -> None:
        disk = self._disks.pop(path, None)
        if disk is None:
            raise VMError(f"{path} is not a disk added by add_disk()")
        self._unplug(disk)

    def _unplug(self, disk: Disk) -> None:
        try:
            if self.vm.alive():
                self.ssh("sh -s " + shlex.quote(disk.by_id), input=_GUEST_RELEASE, timeout=120)
                self.vm.hot_remove(disk, timeout=60)
                self.vm.wait_guest_path(disk.by_id, present=False, timeout=60)
        finally:
            disk.path.unlink(missing_ok=True)

    def inventory(self, path, host_name: str = "rescue", group: str = "rescue",
                  extra_vars: dict | None = None) -> Path:
        path = Path(path)
        ssh_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
        hostvars = {
            "ansible_host": self.host, "ansible_port": self.port, "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(self.key_path),
            "ansible_ssh_common_args": ssh_args, "ansible_ssh_pipelining": True,
            "ansible_pipelining": True, "ansible_python_interpreter": "/usr/bin/python3",
        }
        hostvars.update(extra_vars or {})
        if path.suffix in (".yml", ".yaml"):
            import json  # JSON is YAML; no YAML writer needed
            data = {"all": {"children": {group: {"hosts": {host_name: hostvars}}}}}
            path.write_text(json.dumps(data, indent=2) + "\n")
        else:
            def fmt(v):
                if isinstance(v, bool):
                    return "true" if v else "false"
                s = str(v)
                return f"'{s}'" if " " in s else s
            line = " ".join(f"{k}={fmt(v)}" for k, v in hostvars.items())
            path.write_text(f"[{group}]\n{host_name} {line}\n")
        return path

    def close(self) -> None:
        try:
            self.vm.kill()
        finally:
            for d in self._disks.values():
                d.path.unlink(missing_ok=True)
            self._disks.clear()


def boot_rescue(workdir: Path, memory_mb: int | None = None, host: str | None = None,
                name: str = "rescue-fixture") -> RescueVM:
    """Boots the cached rescue image in a fresh VM and waits for SSH (raises VMError)."""
    img = require_lab_image("rescue")
    workdir.mkdir(parents=True, exist_ok=True)
    key = ssh_keygen(workdir / "id_ed25519", comment="lab-rescue-fixture")
    initrd = rescue_initrd(img.initrd, workdir / "rescue-initrd.img",
                           [(workdir / "id_ed25519.pub").read_text()], workdir / "hostkeys")
    memory_mb = memory_mb or int(os.environ.get("NIXOS_HETZNER_LAB_VM_MEMORY", "1536"))
    vm = VM(name, workdir, kernel=img.kernel, initrd=initrd, append=RESCUE_APPEND,
            host=host or free_loopback("127.0.9."), memory_mb=memory_mb,
            cpus=int(os.environ.get("NIXOS_HETZNER_LAB_VM_CPUS", "2")), forwards=(22,),
            pdeathsig=True, key_path=key)
    rv = RescueVM(vm, workdir)
    try:
        vm.start()
        vm.wait_ssh(timeout=float(os.environ.get("NIXOS_HETZNER_LAB_BOOT_TIMEOUT", "900")))
    except BaseException:
        rv.close()
        raise
    return rv


@pytest.fixture(scope="session")
def rescue_vm(tmp_path_factory):
    """A booted rescue VM shared by the session; killed at the end whatever happens."""
    require_lab_image("rescue")
    rv = boot_rescue(tmp_path_factory.mktemp("rescue-vm"))
    try:
        yield rv
    finally:
        rv.close()


@pytest.fixture
def blank_disk(rescue_vm):
    """A blank 1 GiB disk on the rescue VM (by-id path), removed after the test."""
    path = rescue_vm.add_disk(size_mb=1024)
    try:
        yield path
    finally:
        rescue_vm.remove_disk(path)
