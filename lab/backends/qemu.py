"""The qemu backend of the lab: every server is a real qemu VM (TCG), every volume a qcow2.

Layout below ``<state_dir>/qemu/``::

    servers/<id>/disk.qcow2       the server's disk (MBR + ext4 Debian at create/rebuild)
    servers/<id>/console.log      serial console of every boot (appended, with markers)
    servers/<id>/bios.log         SeaBIOS debug output of the current boot
    servers/<id>/qemu.pid         pid of the running qemu (``down`` kills it after a crash)
    servers/<id>/hostkeys/        the server's SSH host keys (made on the host, injected)
    servers/<id>/rescue-initrd.img  the rescue initramfs of the last rescue boot
    volumes/<id>.qcow2            volumes
    snapshots/<id>.qcow2          snapshots and backups (create_image: a copy of the disk)

Booting: with ``rescue=True`` the cached rescue image (kernel + initramfs, with the rescue
keys prepended as a small cpio) boots from RAM.  Otherwise, if the disk still holds the
lab's Debian layout, the disk image's kernel boots it with ``root=/dev/sda1``; if not (the
storage layer wiped or re-partitioned it, or installed its own boot loader), the VM boots
the disk through SeaBIOS, so a disk without a boot loader stays in a failed boot and the
console log says so.

Every boot is one qemu process (``-no-reboot``).  A monitor thread per server watches for
qemu exiting by itself: a guest reboot starts the next boot (disk, or rescue if armed), a
guest power-off leaves the server off.  The emulator may set ``backend.notify =
fn(server_id, event, **data)`` to learn about those (events ``"status"`` with
``status="off"|"running"`` and ``"rescue_used"``).

Options (``hcloud-lab serve --backend qemu --backend-opt KEY=VALUE``):

* ``vm_memory_mb`` (1536): memory of each VM (as much as a rescue boot, so that the installed system sees the memory its host JSON was written with).
* ``rescue_memory_mb`` (1536): memory of a VM while it runs the rescue system, which lives
  in RAM (its tmpfs root is capped at half the memory by the kernel).
* ``memory_budget_mb`` (8192): total memory of all running VMs; a boot beyond it fails
  with a clear error (the action ends in ``error``).
* ``cpus`` (2): vCPUs per VM. Two boot to SSH in about 30 s under TCG where one takes
  about 50 s (benchmarks/bench_boot.py): udev, module loading and sshd run side by side.
* ``boot_timeout`` (120): seconds a boot may take to show the kernel banner.
* ``shutdown_timeout`` (90): seconds a guest may take to power off after ACPI.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from ..images.disk import DiskError, disk_holds_lab_image, write_server_disk
from ..images.store import ImageMissing, find_image, images_dir
from ..vm import (DISK_APPEND, RESCUE_APPEND, ROOT_DISK_SERIAL, VM, Disk, QMPError, VMError,
                  host_keys, kill_pidfile, make_qcow2, rescue_initrd)
from .base import Backend, BackendError, ServerSpec, ServerTypeSpec, VolumeSpec

GB = 10**9
GIB = 2**30


def kill_stale(state_dir: Path) -> list[int]:
    """Kills every qemu a (crashed) lab left running below state_dir; returns server ids.
    Safe to call at any time: only processes whose command line names their pidfile are
    touched."""
    killed = []
    root = Path(state_dir) / "qemu" / "servers"
    if root.is_dir():
        for pidfile in root.glob("*/qemu.pid"):
            if kill_pidfile(pidfile):
                with contextlib.suppress(ValueError):
                    killed.append(int(pidfile.parent.name))
            pidfile.unlink(missing_ok=True)
    return killed


class _Server:
    """Runtime state of one server's VM."""

    def __init__(self, sid: int, workdir: Path):
        self.id = sid
        self.workdir = workdir
        self.vm: Optional[VM] = None
        self.booted: Optional[str] = None      # "disk", "rescue", "bios"
        self.lock = threading.RLock()
        self.expect_exit = False               # set while the backend itself stops qemu
        self.rescue_armed = False
        self.rescue_keys: tuple[str, ...] = ()
        self.volumes: dict[int, Disk] = {}     # attached volumes
        self.monitor: Optional[threading.Thread] = None
        self.last_exit: Optional[str] = None
        self.spec: Optional[ServerSpec] = None

    @property
    def disk(self) -> Path:
        return self.workdir / "disk.qcow2"

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"


class QemuBackend(Backend):
    name = "qemu"
    blocking = True

    def __init__(self, state_dir: Path, **options: Any) -> None:
        super().__init__(state_dir, **options)
        self.root = self.state_dir / "qemu"
        (self.root / "servers").mkdir(parents=True, exist_ok=True)
        (self.root / "volumes").mkdir(parents=True, exist_ok=True)
        self.vm_memory_mb = int(options.get("vm_memory_mb", 1536))
        # the rescue system lives in RAM (its tmpfs root is capped at half the memory)
        self.rescue_memory_mb = int(options.get("rescue_memory_mb",
                                                max(1536, self.vm_memory_mb)))
        self.memory_budget_mb = int(options.get("memory_budget_mb", 8192))
        self.cpus = int(options.get("cpus", 2))
        self.boot_timeout = float(options.get("boot_timeout", 120))
        self.shutdown_timeout = float(options.get("shutdown_timeout", 90))
        if self.vm_memory_mb < 256:
            raise ValueError("vm_memory_mb must be at least 256 (the rescue system runs "
                             "from RAM)")
        if self.memory_budget_mb < self.vm_memory_mb:
            raise ValueError(f"memory_budget_mb ({self.memory_budget_mb}) is smaller than "
                             f"one VM (vm_memory_mb={self.vm_memory_mb})")
        for tool in ("qemu-system-x86_64", "qemu-img", "debugfs", "ssh-keygen"):
            if shutil.which(tool) is None:
                raise ValueError(f"the qemu backend needs {tool}; run scripts/install-deps.sh")
        self.servers: dict[int, _Server] = {}
        self.lock = threading.RLock()
        self.budget_lock = threading.Lock()
        self.notify: Optional[Callable[..., None]] = None
        self.closed = False
        kill_stale(self.state_dir)  # a previous lab that crashed

    # ------------------------------------------------------------------ helpers
    def _srv(self, sid: int) -> _Server:
        with self.lock:
            s = self.servers.get(sid)
            if s is None:
                s = _Server(sid, self.root / "servers" / str(sid))
                s.workdir.mkdir(parents=True, exist_ok=True)
                self.servers[sid] = s
            return s

    def _volume_path(self, vid: int) -> Path:
        return self.root / "volumes" / f"{vid}.qcow2"

    def _emit(self, sid: int, event: str, **data: Any) -> None:
        if self.notify is not None:
            with contextlib.suppress(Exception):
                self.notify(sid, event, **data)

    def _image(self, kind: str):
        img = find_image(kind)
        if img is None:
            raise BackendError(str(ImageMissing(kind)))
        return img

    def _memory_in_use(self, exclude: Optional[int] = None) -> int:
        with self.lock:
            return sum(s.vm.memory_mb for s in self.servers.values()
                       if s.id != exclude and s.vm is not None and s.vm.alive())

    def _volume_disk(self, vid: int) -> Disk:
        return Disk(path=self._volume_path(vid), serial=str(vid), vendor="HC",
                    product="Volume", node=f"vol{vid}", dev_id=f"vol{vid}")

    # ------------------------------------------------------------------ boot & stop
    def _boot(self, s: _Server, spec: ServerSpec, rescue: bool) -> str:
        """Starts a new qemu for s (which must be stopped) and waits until the boot began."""
        if self.closed:
            raise BackendError("the lab is shutting down")
        with self.budget_lock:
            used = self._memory_in_use(exclude=s.id)
            need = self.rescue_memory_mb if rescue else self.vm_memory_mb
            if used + need > self.memory_budget_mb:
                running = sum(1 for x in self.servers.values()
                              if x.id != s.id and x.vm is not None and x.vm.alive())
                raise BackendError(
                    f"lab memory budget exhausted: {running} VMs already use {used} MiB of "
                    f"{self.memory_budget_mb} MiB and one more needs {need} MiB. "
                    f"Power off or delete a server, or restart the lab with --backend-opt "
                    f"memory_budget_mb=<MiB>")
            keys_dir = s.workdir / "hostkeys"
            if rescue:
                img = self._image("rescue")
                keys = spec.rescue_ssh_keys or s.rescue_keys or spec.ssh_keys
                initrd = rescue_initrd(img.initrd, s.workdir / "rescue-initrd.img", keys,
                                       keys_dir)
                kernel, append, booted = img.kernel, RESCUE_APPEND, "rescue"
            elif s.disk.exists() and disk_holds_lab_image(s.disk):
                img = self._image("disk")
                kernel, initrd, append, booted = img.kernel, img.initrd, DISK_APPEND, "disk"
            else:
                kernel, initrd, append, booted = None, None, "", "bios"
            disks = []
            if s.disk.exists():
                disks.append(Disk(path=s.disk, serial=ROOT_DISK_SERIAL, node="root",
                                  dev_id="root"))
            for vid in sorted(s.volumes):
                disks.append(self._volume_disk(vid))
            vm = VM(f"lab-{spec.name}-{s.id}", s.workdir, kernel=kernel, initrd=initrd,
                    append=append, host=spec.ipv4, memory_mb=need,
                    cpus=self.cpus, forwards=(22, 2222), disks=disks)
            try:
                vm.start()
            except VMError as exc:
                raise BackendError(f"server {spec.name}: {exc}")
            s.vm, s.booted, s.spec, s.expect_exit = vm, booted, spec, False
            for fip in spec.floating_ips:
                self._forward(s, fip, add=True)
        if rescue:
            s.rescue_armed = False
            self._emit(s.id, "rescue_used")
        self._start_monitor(s)
        try:
            seen = vm.wait_boot_started(self.boot_timeout)
        except VMError as exc:
            raise BackendError(f"server {spec.name}: {exc}")
        if seen == "no-bootable-device":
            with open(s.console_log, "a") as f:
                f.write("lab: BIOS: No bootable device (the disk holds no boot loader and "
                        "no lab image); the server stays in this failed boot.\n")
        return seen

    def _stop(self, s: _Server, graceful: bool = False) -> None:
        vm = s.vm
        if vm is None:
            return
        s.expect_exit = True
        if graceful and vm.alive():
            if vm.powerdown(self.shutdown_timeout):
                return
            raise BackendError(f"server {s.id}: the guest did not power off within "
                               f"{self.shutdown_timeout:.0f}s of the ACPI request; use "
                               f"poweroff to cut the power")
        vm.kill()

    def _start_monitor(self, s: _Server) -> None:
        vm = s.vm

        def watch() -> None:
            assert vm is not None and vm.proc is not None
            vm.proc.wait()
            reason = vm.exit_reason()
            with s.lock:
                if s.vm is not vm or s.expect_exit or self.closed:
                    return
                s.last_exit = reason
                vm._closed()
                if reason == "guest-reset" and s.spec is not None:
                    spec = s.spec
                    try:
                        self._boot(s, spec, rescue=s.rescue_armed)
                        return
                    except Exception as exc:  # noqa: BLE001 - reported in the console log
                        with contextlib.suppress(OSError), open(s.console_log, "a") as f:
                            f.write(f"lab: reboot failed: {exc}\n")
                s.vm = None
                s.booted = None
            self._emit(s.id, "status", status="off", reason=reason)

        t = threading.Thread(target=watch, daemon=True, name=f"lab-vm-monitor-{s.id}")
        s.monitor = t
        t.start()

    # ------------------------------------------------------------------ lifecycle
    def resume(self, servers: list[ServerSpec], volumes: list[VolumeSpec]) -> None:
        for v in volumes:
            if v.server_id is not None and self._volume_path(v.id).exists():
                self._srv(v.server_id).volumes[v.id] = self._volume_disk(v.id)
        for spec in servers:
            s = self._srv(spec.id)
            s.spec = spec
            s.rescue_keys = spec.rescue_ssh_keys
            if spec.status == "running":
                with s.lock:
                    try:
                        self._boot(s, spec, rescue=False)
                    except BackendError as exc:
                        with contextlib.suppress(OSError), open(s.console_log, "a") as f:
                            f.write(f"lab: could not resume: {exc}\n")
                        self._emit(spec.id, "status", status="off", reason=str(exc))

    def close(self) -> None:
        self.closed = True
        with self.lock:
            servers = list(self.servers.values())
        for s in servers:
            s.expect_exit = True
            if s.vm is not None:
                with contextlib.suppress(Exception):
                    s.vm.kill()
        kill_stale(self.state_dir)

    # ------------------------------------------------------------------ servers
    def _write_disk(self, s: _Server, spec: ServerSpec, size_gb: int,
                    image: Optional[str] = None) -> None:
        if self._restore_snapshot(s, image or spec.image, size_gb):
            return
        img = self._image("disk")
        try:
            write_server_disk(img, s.disk, size_gb * GB, spec.ssh_keys, spec.name,
                              host_keys(s.workdir / "hostkeys"))
        except (DiskError, OSError, subprocess.SubprocessError) as exc:
            raise BackendError(f"writing the disk of server {spec.name} failed: {exc}")

    def create_server(self, spec: ServerSpec) -> None:
        # Every image name boots the lab's Debian 12 disk image (documented in lab-vms.md).
        s = self._srv(spec.id)
        with s.lock:
            self._stop(s)
            s.spec = spec
            self._write_disk(s, spec, spec.server_type.disk_gb)
            (s.workdir / "server.json").write_text(json.dumps(
                {"id": spec.id, "name": spec.name, "ipv4": spec.ipv4,
                 "image": spec.image, "disk_gb": spec.server_type.disk_gb}) + "\n")
            # start_after_create=false: the disk is written, the server stays off (so that
            # enable_rescue + poweron boots straight into rescue, as on Hetzner Cloud).
            if spec.power_on:
                self._boot(s, spec, rescue=False)

    def delete_server(self, spec: ServerSpec) -> None:
        with self.lock:
            s = self.servers.pop(spec.id, None)
        if s is None:
            s = _Server(spec.id, self.root / "servers" / str(spec.id))
        with s.lock:
            self._stop(s)
            if s.vm is not None and s.vm.alive():
                raise BackendError(f"server {spec.name}: qemu did not stop")
            kill_pidfile(s.workdir / "qemu.pid")
            shutil.rmtree(s.workdir, ignore_errors=True)
            if s.workdir.exists():
                raise BackendError(f"could not remove {s.workdir}")

    def power_on(self, spec: ServerSpec, rescue: bool) -> None:
        s = self._srv(spec.id)
        with s.lock:
            if s.vm is not None and s.vm.alive():
                return
            self._boot(s, spec, rescue)

    def power_off(self, spec: ServerSpec) -> None:
        s = self._srv(spec.id)
        with s.lock:
            self._stop(s)
            s.vm, s.booted = None, None

    def shutdown(self, spec: ServerSpec) -> None:
        s = self._srv(spec.id)
        with s.lock:
            self._stop(s, graceful=True)
            s.vm, s.booted = None, None

    def reboot(self, spec: ServerSpec, rescue: bool) -> None:
        s = self._srv(spec.id)
        with s.lock:
            vm = s.vm
            if vm is not None and vm.alive():
                # Ctrl-Alt-Del: systemd reboots; -no-reboot turns that into a qemu exit.
                s.expect_exit = True
                with contextlib.suppress(QMPError):
                    assert vm.qmp is not None
                    vm.qmp.execute("send-key", keys=[{"type": "qcode", "data": "ctrl"},
                                                     {"type": "qcode", "data": "alt"},
                                                     {"type": "qcode", "data": "delete"}])
                if not vm.wait_exit(self.shutdown_timeout):
                    vm.kill()  # the guest ignored it (e.g. a failed boot): reset
                vm._closed()
            self._boot(s, spec, rescue)

    def reset(self, spec: ServerSpec, rescue: bool) -> None:
        s = self._srv(spec.id)
        with s.lock:
            self._stop(s)
            self._boot(s, spec, rescue)

    def rebuild(self, spec: ServerSpec, image: str) -> None:
        s = self._srv(spec.id)
        with s.lock:
            self._stop(s)
            size_gb = spec.server_type.disk_gb
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(subprocess.run(
                    ["qemu-img", "info", "--output=json", "-U", str(s.disk)],
                    capture_output=True, text=True).stdout)
                size_gb = max(size_gb, int(info["virtual-size"]) // GB)
            self._write_disk(s, spec, size_gb, image)
            self._boot(s, spec, rescue=False)

    def enable_rescue(self, spec: ServerSpec, ssh_keys: list[str]) -> None:
        s = self._srv(spec.id)
        with s.lock:
            s.rescue_armed = True
            s.rescue_keys = tuple(ssh_keys)
            if not ssh_keys:
                s.rescue_keys = spec.ssh_keys
            self._image("rescue")  # fail early and clearly if it is not built

    def disable_rescue(self, spec: ServerSpec) -> None:
        s = self._srv(spec.id)
        with s.lock:
            s.rescue_armed = False

    def change_type(self, spec: ServerSpec, new_type: ServerTypeSpec,
                    upgrade_disk: bool) -> None:
        s = self._srv(spec.id)
        with s.lock:
            if upgrade_disk and s.disk.exists():
                p = subprocess.run(["qemu-img", "resize", "-q", str(s.disk),
                                    str(new_type.disk_gb * GB)], capture_output=True, text=True)
                if p.returncode != 0:
                    raise BackendError(f"growing the disk failed: {p.stderr.strip()}")

    # ------------------------------------------------------------------ volumes
    def create_volume(self, volume: VolumeSpec) -> None:
        path = self._volume_path(volume.id)
        size = volume.size_gb * GIB
        tmp = path.with_name(path.name + ".tmp")
        try:
            if volume.format in ("ext4", "xfs"):
                raw = path.with_name(path.name + ".raw")
                try:
                    with open(raw, "wb") as f:
                        f.truncate(size)
                    mkfs = (["mkfs.ext4", "-q", "-F", str(raw)] if volume.format == "ext4"
                            else ["mkfs.xfs", "-q", "-f", str(raw)])
                    if shutil.which(mkfs[0]) is None:
                        raise BackendError(f"{volume.format} volumes need {mkfs[0]} on the "
                                           f"lab host (apt-get install xfsprogs)")
                    p = subprocess.run(mkfs, capture_output=True, text=True)
                    if p.returncode != 0:
                        raise BackendError(f"{mkfs[0]} failed: {p.stderr.strip()}")
                    p = subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2",
                                        str(raw), str(tmp)], capture_output=True, text=True)
                    if p.returncode != 0:
                        raise BackendError(f"qemu-img convert failed: {p.stderr.strip()}")
                finally:
                    raw.unlink(missing_ok=True)
            else:
                make_qcow2(tmp, size)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def delete_volume(self, volume: VolumeSpec) -> None:
        self._volume_path(volume.id).unlink(missing_ok=True)

    def attach_volume(self, volume: VolumeSpec, server: ServerSpec) -> None:
        s = self._srv(server.id)
        with s.lock:
            if volume.id in s.volumes:
                return
            if not self._volume_path(volume.id).exists():
                raise BackendError(f"volume {volume.name} has no storage")
            disk = self._volume_disk(volume.id)
            if s.vm is not None and s.vm.alive():
                try:
                    s.vm.hot_add(disk)
                except VMError as exc:
                    raise BackendError(f"hot-plugging volume {volume.name} failed: {exc}")
                if s.booted in ("disk", "rescue"):
                    self._guest_rescan(s)
            s.volumes[volume.id] = disk

    def _guest_rescan(self, s: _Server) -> None:
        """Nothing to do: the guest's virtio-scsi driver sees hot-plugged LUNs itself.
        (Kept as the one place to add a rescan if a guest kernel ever needs it.)"""

    def detach_volume(self, volume: VolumeSpec, server: ServerSpec) -> None:
        s = self._srv(server.id)
        with s.lock:
            disk = s.volumes.pop(volume.id, None)
            if disk is None:
                return
            if s.vm is not None and s.vm.alive():
                try:
                    s.vm.hot_remove(disk, timeout=60)
                except VMError as exc:
                    s.volumes[volume.id] = disk
                    raise BackendError(f"detaching volume {volume.name} failed: {exc}")

    def resize_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        size = new_size_gb * GIB
        attached = None
        with self.lock:
            for s in self.servers.values():
                if volume.id in s.volumes and s.vm is not None and s.vm.alive():
                    attached = s
        if attached is not None:
            try:
                assert attached.vm is not None and attached.vm.qmp is not None
                attached.vm.qmp.execute("block_resize", **{"node-name": f"vol{volume.id}",
                                                           "size": size})
                return
            except (VMError, AssertionError) as exc:
                raise BackendError(f"resizing volume {volume.name} failed: {exc}")
        p = subprocess.run(["qemu-img", "resize", "-q", str(self._volume_path(volume.id)),
                            str(size)], capture_output=True, text=True)
        if p.returncode != 0:
            raise BackendError(f"resizing volume {volume.name} failed: {p.stderr.strip()}")

    # ------------------------------------------------------- snapshots, floating IPs
    def _snapshot_path(self, image_id: int) -> Path:
        return self.root / "snapshots" / f"{image_id}.qcow2"

    def create_image(self, spec: ServerSpec, image_id: int) -> None:
        """A real copy of the disk.  A running VM is paused for the copy (``stop`` drains
        and flushes its block devices), so the snapshot is what the guest had written."""
        s = self._srv(spec.id)
        dst = self._snapshot_path(image_id)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".part")
        with s.lock:
            if not s.disk.exists():
                raise BackendError(f"server {spec.name} has no disk to snapshot")
            vm = s.vm if s.vm is not None and s.vm.alive() else None
            paused = False
            try:
                if vm is not None and vm.qmp is not None:
                    vm.qmp.execute("stop")
                    paused = True
                p = subprocess.run(["qemu-img", "convert", "-U", "-q", "-f", "qcow2", "-O",
                                    "qcow2", str(s.disk), str(tmp)],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    raise BackendError(f"snapshot of {spec.name} failed: {p.stderr.strip()}")
                os.replace(tmp, dst)
            finally:
                tmp.unlink(missing_ok=True)
                if paused:
                    with contextlib.suppress(QMPError):
                        vm.qmp.execute("cont")

    def delete_image(self, image_id: int) -> None:
        self._snapshot_path(image_id).unlink(missing_ok=True)

    def _restore_snapshot(self, s: _Server, image: Optional[str], size_gb: int) -> bool:
        """Write the server's disk from ``snapshot:<id>`` (a copy, grown to ``size_gb``);
        False if ``image`` is not a snapshot."""
        if not image or not image.startswith("snapshot:"):
            return False
        src = self._snapshot_path(int(image.split(":", 1)[1]))
        if not src.exists():
            raise BackendError(f"snapshot {image} has no disk copy in {src.parent}")
        s.workdir.mkdir(parents=True, exist_ok=True)
        tmp = s.disk.with_suffix(".part")
        for cmd in (["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", str(src),
                     str(tmp)],
                    ["qemu-img", "resize", "-q", "-f", "qcow2", str(tmp), str(size_gb * GB)]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0 and "shrink" not in p.stderr:
                tmp.unlink(missing_ok=True)
                raise BackendError(f"restoring {image} failed: {p.stderr.strip()}")
        os.replace(tmp, s.disk)
        return True

    def _forward(self, s: _Server, ip: str, add: bool) -> None:
        """Forward (or stop forwarding) the VM's SSH ports on floating IPv4 ``ip``, as the
        primary IPv4 is forwarded (qemu user networking: hostfwd_add/hostfwd_remove)."""
        vm = s.vm
        if vm is None or not vm.alive() or vm.qmp is None:
            return  # applied at the next boot (spec.floating_ips)
        for port in (22, 2222):
            cmd = (f"hostfwd_add net0 tcp:{ip}:{port}-:{port}" if add
                   else f"hostfwd_remove net0 tcp:{ip}:{port}")
            out = vm.qmp.execute("human-monitor-command", **{"command-line": cmd})
            if add and out and "could not" in str(out).lower():
                raise BackendError(f"forwarding {ip}:{port} to server {s.id} failed: {out}")

    def assign_floating_ip(self, spec: ServerSpec, ip: str) -> None:
        s = self._srv(spec.id)
        with s.lock:
            self._forward(s, ip, add=True)

    def unassign_floating_ip(self, spec: ServerSpec, ip: str) -> None:
        s = self._srv(spec.id)
        with s.lock:
            self._forward(s, ip, add=False)

    # ------------------------------------------------------------------ introspection
    def server_info(self, spec: ServerSpec) -> dict[str, Any]:
        s = self.servers.get(spec.id)
        workdir = self.root / "servers" / str(spec.id)
        info: dict[str, Any] = {
            "console_log": str(workdir / "console.log"),
            "disk": str(workdir / "disk.qcow2"),
            "ssh": f"{spec.ipv4}:22",
        }
        if s is not None:
            vm = s.vm
            running = vm is not None and vm.alive()
            info.update({
                "vm": "running" if running else "stopped",
                "pid": vm.proc.pid if running and vm and vm.proc else None,
                "booted": s.booted if running else None,
                "rescue_armed": s.rescue_armed,
                "memory_mb": vm.memory_mb if running and vm else 0,
                "volumes": sorted(s.volumes),
                "last_exit": s.last_exit,
            })
            if running and vm is not None:
                info["boot_failure"] = vm.boot_failure()
                if vm.boot_seconds is not None:
                    info["boot_seconds"] = round(vm.boot_seconds, 1)
        else:
            info["vm"] = "stopped"
        return info

    def info(self) -> dict[str, Any]:
        rescue, disk = find_image("rescue"), find_image("disk")
        with self.lock:
            running = [s.id for s in self.servers.values() if s.vm is not None and s.vm.alive()]
        return {
            "backend": self.name,
            "images_dir": str(images_dir()),
            "rescue_image": str(rescue.path) if rescue else None,
            "disk_image": str(disk.path) if disk else None,
            "vm_memory_mb": self.vm_memory_mb,
            "memory_budget_mb": self.memory_budget_mb,
            "memory_in_use_mb": self._memory_in_use(),
            "running_vms": running,
            "state_dir": str(self.root),
        }
