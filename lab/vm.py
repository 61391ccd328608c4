"""One qemu VM of the lab: direct kernel boot under TCG, virtio-scsi disks, user-mode
networking with host forwards bound to a loopback address, a serial console log, and a
QMP socket for power actions and disk hot-plug.  Used by the qemu backend of the
emulator and by the VM test fixtures.

Every boot is a new qemu process (``-no-reboot``): a guest-initiated reboot makes qemu
exit with a SHUTDOWN event whose reason is ``guest-reset``, and the owner decides what
boots next (the rescue system is armed for one boot only, as on Hetzner).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from qemu import qmp

QEMU = "qemu-system-x86_64"
ROOT_DISK_SERIAL = "drive-scsi0-0-0-0"   # what Hetzner Cloud's root disk reports
SSH_OPTS = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
    "-o", "IdentitiesOnly=yes",
]
# Console lines that mean the boot failed for good (shown by status and raised by waits).
BOOT_FAILURES = (
    "Dropping to a shell", "Kernel panic - not syncing", "Gave up waiting for root",
    "as root file system", "No init found", "No working init found",
)


# The guest CPU model under TCG.  Measured here (same image, same host load, side by
# side): with "-cpu max" (even with svm/vmx off) systemd-udevd, -networkd and -logind
# failed repeatedly and mounts ended in 'protocol' errors; with "qemu64" the same boot had
# no failed unit.  Debian 12 needs only the x86-64 baseline.
DEFAULT_CPU = "qemu64"


class VMError(RuntimeError):
    pass


class QMPError(VMError):
    pass


# ---------------------------------------------------------------- helpers

def loopback_free(host: str, ports: Iterable[int]) -> bool:
    """True if every port can be bound on host right now."""
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_loopback(prefix: str = "127.0.9.", ports: Iterable[int] = (22, 2222),
                  start: int = 2, stop: int = 254) -> str:
    """A 127.x.y.N address on which all ports are free (for test VMs)."""
    ports = tuple(ports)
    for n in range(start, stop + 1):
        host = f"{prefix}{n}"
        if loopback_free(host, ports):
            return host
    raise VMError(f"no free loopback address {prefix}{start}-{stop} for ports {ports}")


def ssh_keygen(path: Path, comment: str = "lab") -> Path:
    """An ed25519 key pair at path / path.pub (kept if it exists)."""
    path = Path(path)
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                        "-f", str(path)], check=True)
    return path


def host_keys(dirpath: Path) -> dict[str, bytes]:
    """SSH host keys for a guest (made on the host: ssh-keygen under TCG is slow).
    Returns {"/etc/ssh/ssh_host_<t>_key": data, ..."pub": data}."""
    dirpath.mkdir(parents=True, exist_ok=True)
    out = {}
    for t in ("ed25519", "ecdsa", "rsa"):
        key = dirpath / f"ssh_host_{t}_key"
        if not key.exists():
            extra = ["-b", "3072"] if t == "rsa" else []
            subprocess.run(["ssh-keygen", "-q", "-t", t, *extra, "-N", "", "-C", "root@lab",
                            "-f", str(key)], check=True)
        out[f"/etc/ssh/{key.name}"] = key.read_bytes()
        out[f"/etc/ssh/{key.name}.pub"] = (dirpath / f"{key.name}.pub").read_bytes()
    return out


def newc_archive(files: dict[str, tuple[bytes, int]], dirs: dict[str, int]) -> bytes:
    """An uncompressed newc cpio archive (as the kernel unpacks for an initramfs).
    files: path -> (data, mode); dirs: path -> mode.  Owner root."""
    buf = io.BytesIO()
    ino = [1000]

    def entry(name: str, mode: int, data: bytes = b"") -> None:
        ino[0] += 1
        nameb = name.encode() + b"\0"
        fields = [0x070701, ino[0], mode, 0, 0, 1, int(time.time()), len(data), 0, 0, 0, 0,
                  len(nameb), 0]
        hdr = "070701" + "".join(f"{v:08X}" for v in fields[1:])
        buf.write(hdr.encode() + nameb)
        buf.write(b"\0" * ((-buf.tell()) % 4))
        buf.write(data)
        buf.write(b"\0" * ((-buf.tell()) % 4))

    for d, mode in sorted(dirs.items()):
        entry(d.lstrip("/"), stat.S_IFDIR | mode)
    for f, (data, mode) in sorted(files.items()):
        entry(f.lstrip("/"), stat.S_IFREG | mode, data)
    entry("TRAILER!!!", 0)
    buf.write(b"\0" * ((-buf.tell()) % 512))
    return buf.getvalue()


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


def kill_pidfile(pidfile: Path, timeout: float = 10) -> bool:
    """Kills the qemu whose pid is in pidfile (only if it really is a qemu). True if one was
    running.  Used by `lab down` to clean up after a crashed lab."""
    try:
        pid = int(Path(pidfile).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"qemu-system" not in cmdline or str(pidfile).encode() not in cmdline:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


# ---------------------------------------------------------------- QMP

class QMP:
    """A synchronous face on ``qemu.qmp.QMPClient``: one connection, commands with a
    timeout, events collected in order (SHUTDOWN, RESET, DEVICE_DELETED, ...).  The client
    runs on the lab's QMP event loop, a daemon thread shared by every VM."""

    _loop: Optional[asyncio.AbstractEventLoop] = None
    _loop_lock = threading.Lock()

    def __init__(self, path: Path, timeout: float = 30):
        self.events: list[dict] = []
        self.closed = False
        self._cond = threading.Condition()
        self._tasks: list = []
        self._client = qmp.QMPClient(path.name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._run(self._client.connect(str(path)), timeout)
                break
            except (qmp.QMPError, OSError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise QMPError(f"cannot connect to QMP socket {path}: {exc}")
                time.sleep(0.1)
        listener = qmp.EventListener()
        self._client.register_listener(listener)
        self._run(self._start(listener), timeout)

    @classmethod
    def _event_loop(cls) -> asyncio.AbstractEventLoop:
        with cls._loop_lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, daemon=True, name="qmp").start()
                cls._loop = loop
            return cls._loop

    def _run(self, coro, timeout: float):
        fut = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout),
                                               self._event_loop())
        try:
            return fut.result(timeout + 5)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no answer in {timeout}s")

    async def _start(self, listener) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._collect(listener)), loop.create_task(self._watch())]

    async def _collect(self, listener) -> None:
        async for ev in listener:
            with self._cond:
                self.events.append(dict(ev))
                self._cond.notify_all()

    async def _watch(self) -> None:
        """Marks the connection closed when qemu hangs up (or close() is called)."""
        while self._client.runstate == qmp.Runstate.RUNNING:
            await self._client.runstate_changed()
        await asyncio.sleep(0)  # let events that came with the hang-up be collected
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def execute(self, cmd: str, timeout: float = 30, **args) -> object:
        if self.closed:
            raise QMPError(f"QMP {cmd}: qemu closed the connection")
        try:
            return self._run(self._client.execute(cmd, args or None), timeout)
        except qmp.ExecuteError as exc:
            raise QMPError(f"QMP {cmd} failed: {exc}")
        except TimeoutError:
            raise QMPError(f"QMP {cmd}: no reply in {timeout}s")
        except (qmp.QMPError, OSError, EOFError) as exc:
            raise QMPError(f"QMP {cmd}: qemu is gone ({exc or type(exc).__name__})")

    def wait_event(self, name: str, timeout: float,
                   pred: Callable[[dict], bool] = lambda e: True) -> Optional[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events:
                    if ev.get("event") == name and pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self._cond.wait(left)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._client.disconnect(), 5)
        with contextlib.suppress(Exception):
            for task in self._tasks:
                self._event_loop().call_soon_threadsafe(task.cancel)
        with self._cond:
            self.closed = True
            self._cond.notify_all()


# ---------------------------------------------------------------- VM

@dataclass
class Disk:
    """A virtio-scsi disk.  by_id is its /dev/disk/by-id link in the guest."""
    path: Path
    serial: str
    vendor: str = "QEMU"
    product: str = "QEMU HARDDISK"
    fmt: str = "qcow2"
    node: str = ""
    dev_id: str = ""

    @property
    def by_id(self) -> str:
        return "/dev/disk/by-id/scsi-0{}_{}_{}".format(
            self.vendor.replace(" ", "_"), self.product.replace(" ", "_"), self.serial)

    def blockdev(self) -> dict:
        return {"driver": self.fmt, "node-name": self.node,
                "file": {"driver": "file", "filename": str(self.path)}}

    def device(self) -> dict:
        return {"driver": "scsi-hd", "bus": "scsi0.0", "drive": self.node, "id": self.dev_id,
                "serial": self.serial, "vendor": self.vendor, "product": self.product}


def make_qcow2(path: Path, size_bytes: int) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size_bytes)],
                   check=True, capture_output=True)
    return Path(path)


class VM:
    """A qemu VM booted with -kernel/-initrd.  Call start(); then wait_ssh(); stop() in a
    finally.  workdir holds qmp.sock, qemu.pid, console.log and qemu.log."""

    def __init__(self, name: str, workdir: Path, *, kernel: Optional[Path],
                 initrd: Optional[Path], append: str,
                 host: str, memory_mb: int = 1024, cpus: int = 1,
                 forwards: Iterable[int] = (22, 2222), disks: Iterable[Disk] = (),
                 restrict_net: bool = True, pdeathsig: bool = False,
                 cpu: str = DEFAULT_CPU, user: str = "root",
                 key_path: Optional[Path] = None):
        self.name = name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # kernel None: boot the first disk through the BIOS (SeaBIOS), as real hardware does
        self.kernel = Path(kernel) if kernel else None
        self.initrd = Path(initrd) if initrd else None
        self.append = append
        self.host = host
        self.port = 22
        self.memory_mb, self.cpus, self.cpu = memory_mb, cpus, cpu
        self.forwards = tuple(forwards)
        self.disks: list[Disk] = []
        self._disk_seq = 0
        for d in disks:
            self._name_disk(d)
            self.disks.append(d)
        self.restrict_net = restrict_net
        self.pdeathsig = pdeathsig
        self.user = user
        self.key_path = Path(key_path) if key_path else None
        self.proc: Optional[subprocess.Popen] = None
        self.qmp: Optional[QMP] = None
        self.started_at = 0.0
        self.boot_seconds: Optional[float] = None

    # paths
    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"

    @property
    def bios_log(self) -> Path:
        return self.workdir / "bios.log"

    @property
    def pidfile(self) -> Path:
        return self.workdir / "qemu.pid"

    @property
    def qmp_path(self) -> Path:
        path = self.workdir / "qmp.sock"
        if len(str(path)) > 100:  # AF_UNIX paths are limited to 108 bytes
            short = Path("/tmp") / ("lab-qmp-" + hashlib.sha1(str(path).encode()).hexdigest()[:12])
            short.mkdir(mode=0o700, exist_ok=True)
            path = short / "qmp.sock"
        return path

    def _name_disk(self, d: Disk) -> None:
        self._disk_seq += 1
        if not d.node:
            d.node = f"disk{self._disk_seq}"
            while any(x.node == d.node for x in self.disks):
                self._disk_seq += 1
                d.node = f"disk{self._disk_seq}"
        if not d.dev_id:
            d.dev_id = f"scsi-{d.node}"

    def command(self) -> list[str]:
        hostfwd = ",".join(f"hostfwd=tcp:{self.host}:{p}-:{p}" for p in self.forwards)
        netdev = "user,id=net0" + (",restrict=on" if self.restrict_net else "")
        if hostfwd:
            netdev += "," + hostfwd
        cmd = [
            QEMU, "-name", self.name, "-nodefaults", "-no-user-config", "-display", "none",
            "-machine", "pc", "-accel", "tcg", "-cpu", self.cpu,
            "-smp", str(self.cpus), "-m", str(self.memory_mb), "-no-reboot",
            "-chardev", f"file,id=console,path={self.console_log},append=on",
            "-serial", "chardev:console",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-pidfile", str(self.pidfile),
            "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-rng-pci",
            "-device", "virtio-scsi-pci,id=scsi0",
            "-chardev", f"file,id=bios,path={self.bios_log}",
            "-device", "isa-debugcon,iobase=0x402,chardev=bios",
        ]
        if self.kernel is not None:
            cmd += ["-kernel", str(self.kernel), "-append", self.append]
            if self.initrd is not None:
                cmd += ["-initrd", str(self.initrd)]
        else:
            cmd += ["-boot", "order=c,strict=on"]
        for d in self.disks:
            props = ",".join(f"{k}={v}" for k, v in d.device().items() if k != "driver")
            cmd += ["-blockdev", json.dumps(d.blockdev()), "-device", "scsi-hd," + props]
        return cmd

    # lifecycle
    def start(self) -> None:
        if self.alive():
            raise VMError(f"{self.name} is already running (pid {self.proc.pid})")
        for p in (self.qmp_path, self.pidfile):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        if self.forwards and not loopback_free(self.host, self.forwards):
            raise VMError(f"{self.host} ports {self.forwards} are in use; another VM or a "
                          f"stale lab is bound there (try `hcloud-lab down`)")
        with open(self.console_log, "a") as f:
            f.write(f"\n===== lab: {self.name}: boot at {time.strftime('%Y-%m-%d %H:%M:%S')}"
                    f" kernel={self.kernel} initrd={self.initrd} append={self.append!r}\n")
        self._console_offset = self.console_log.stat().st_size
        log = open(self.workdir / "qemu.log", "ab")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=_set_pdeathsig if self.pdeathsig else os.setsid)
        log.close()
        self.started_at = time.monotonic()
        self.boot_seconds = None
        try:
            self.qmp = QMP(self.qmp_path, timeout=30)
        except QMPError:
            self.kill()
            raise VMError(f"{self.name}: qemu did not start: {self.qemu_log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_reason(self) -> Optional[str]:
        """After qemu exited: the SHUTDOWN reason (guest-shutdown, guest-reset, host-qmp-quit,
        host-signal, guest-panic...), or None if unknown."""
        if self.qmp is None:
            return None
        for ev in reversed(self.qmp.events):
            if ev.get("event") == "SHUTDOWN":
                return ev.get("data", {}).get("reason")
        return None

    def wait_exit(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def powerdown(self, timeout: float = 60) -> bool:
        """ACPI power button; True if the guest powered off within timeout."""
        if not self.alive():
            return True
        with contextlib.suppress(QMPError):
            self.qmp.execute("system_powerdown")  # type: ignore[union-attr]
        ok = self.wait_exit(timeout)
        if ok:
            self._closed()
        return ok

    def kill(self) -> None:
        """Hard power-off: quit via QMP, then SIGTERM, then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            if self.qmp is not None:
                with contextlib.suppress(QMPError):
                    self.qmp.execute("quit", timeout=5)
            if not self.wait_exit(5):
                with contextlib.suppress(ProcessLookupError):
                    self.proc.terminate()
                if not self.wait_exit(5):
                    with contextlib.suppress(ProcessLookupError):
                        self.proc.kill()
                    self.wait_exit(10)
        self._closed()

    stop = kill

    def _closed(self) -> None:
        if self.qmp is not None:
            self.qmp.close()
        for p in (self.qmp_path, self.pidfile):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    # console
    def console_text(self, whole: bool = False) -> str:
        try:
            with open(self.console_log, "rb") as f:
                if not whole:
                    f.seek(getattr(self, "_console_offset", 0))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def console_tail(self, lines: int = 30) -> str:
        return "\n".join(self.console_text().splitlines()[-lines:])

    def boot_failure(self) -> Optional[str]:
        """The console (or BIOS) line showing that this boot failed, if any."""
        for line in self.console_text().splitlines():
            if any(marker in line for marker in BOOT_FAILURES):
                return line.strip()
        bios = self.bios_text()
        for marker in ("No bootable device", "Boot failed"):
            if marker in bios:
                return f"BIOS: {marker}"
        return None

    def bios_text(self) -> str:
        try:
            return self.bios_log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_boot_started(self, timeout: float = 120) -> str:
        """Waits until the new boot has visibly started: the kernel printed its banner, or
        the BIOS handed over to / failed to find a boot loader.  Returns what was seen."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise VMError(f"{self.name}: qemu exited at boot (reason {self.exit_reason()})"
                              f": {self.qemu_log_tail()}")
            if "Linux version" in self.console_text():
                return "kernel"
            bios = self.bios_text()
            if self.kernel is not None and "Booting from ROM" in bios:
                return "kernel"
            if "No bootable device" in bios or "Boot failed" in bios:
                return "no-bootable-device"
            if self.kernel is None and "Booting from Hard Disk" in bios:
                return "bios"
            if time.monotonic() > deadline:
                raise VMError(f"{self.name}: the boot did not start in {timeout:.0f}s")
            time.sleep(0.25)

    def qemu_log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "qemu.log").read_text(errors="replace")[-2000:]
        return ""

    # ssh
    def ssh_command(self, cmd: str = "", user: Optional[str] = None) -> list[str]:
        if self.key_path is None:
            raise VMError("no key_path set for ssh")
        argv = ["ssh", *SSH_OPTS, "-i", str(self.key_path), "-p", str(self.port),
                f"{user or self.user}@{self.host}"]
        return argv + ([cmd] if cmd else [])

    def ssh(self, cmd: str, input: Optional[str | bytes] = None, check: bool = False,
            timeout: float = 600, user: Optional[str] = None) -> tuple[int, str, str]:
        data = input.encode() if isinstance(input, str) else input
        p = subprocess.run(self.ssh_command(cmd, user), input=data, capture_output=True,
                           timeout=timeout)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            raise VMError(f"ssh {self.host}: {cmd!r} failed (rc {p.returncode}): {err.strip()}"
                          f" {out.strip()}")
        return p.returncode, out, err

    def wait_ssh(self, timeout: float = 180) -> float:
        """Waits until `ssh true` works; returns the seconds since start.  Raises VMError with
        the console tail if qemu died, the boot failed, or the timeout passed."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise VMError(f"{self.name}: qemu exited during boot (reason "
                              f"{self.exit_reason()}); console:\n{self.console_tail()}\n"
                              f"{self.qemu_log_tail()}")
            failure = self.boot_failure()
            if failure:
                raise VMError(f"{self.name}: boot failed: {failure}\n{self.console_tail()}")
            if not loopback_free(self.host, (self.port,)):
                try:
                    rc, _, _ = self.ssh("true", timeout=30)
                except subprocess.TimeoutExpired:
                    rc = 255
                if rc == 0:
                    self.boot_seconds = time.monotonic() - self.started_at
                    return self.boot_seconds
            if time.monotonic() > deadline:
                raise VMError(f"{self.name}: no SSH on {self.host}:{self.port} after "
                              f"{timeout:.0f}s; console:\n{self.console_tail()}")
            time.sleep(1)

    # disks
    def hot_add(self, disk: Disk) -> Disk:
        if not self.alive() or self.qmp is None:
            raise VMError(f"{self.name} is not running")
        self._name_disk(disk)
        self.qmp.execute("blockdev-add", **disk.blockdev())
        try:
            self.qmp.execute("device_add", **disk.device())
        except QMPError:
            with contextlib.suppress(QMPError):
                self.qmp.execute("blockdev-del", **{"node-name": disk.node})
            raise
        self.disks.append(disk)
        return disk

    def hot_remove(self, disk: Disk, timeout: float = 60) -> None:
        if self.alive() and self.qmp is not None:
            n = len(self.qmp.events)
            self.qmp.execute("device_del", id=disk.dev_id)
            ev = self.qmp.wait_event(
                "DEVICE_DELETED", timeout,
                lambda e: e.get("data", {}).get("device") == disk.dev_id
                and self.qmp.events.index(e) >= n)  # type: ignore[union-attr]
            if ev is None:
                raise VMError(f"{self.name}: the guest did not release {disk.dev_id} in "
                              f"{timeout}s")
            self.qmp.execute("blockdev-del", **{"node-name": disk.node})
        self.disks = [d for d in self.disks if d.dev_id != disk.dev_id]

    def wait_guest_path(self, path: str, present: bool = True, timeout: float = 60) -> None:
        """Waits until path exists (or is gone) in the guest, rescanning SCSI hosts."""
        test = f"test -e {path}" if present else f"! test -e {path}"
        script = ("for h in /sys/class/scsi_host/host*/scan; do echo '- - -' > $h; done; "
                  "udevadm settle -t 10 >/dev/null 2>&1; " + test)
        deadline = time.monotonic() + timeout
        while True:
            rc, _, _ = self.ssh(script if present else "udevadm settle -t 10; " + test,
                                timeout=60)
            if rc == 0:
                return
            if time.monotonic() > deadline:
                state = "appear" if present else "go away"
                raise VMError(f"{self.name}: {path} did not {state} in the guest in "
                              f"{timeout}s")
            time.sleep(1)


# systemd settings for a guest that may be starved of CPU (TCG on a busy host): no unit
# gives up because a start took long or a daemon was restarted often.  Written into
# every guest by the lab (rescue: in the prepended cpio; disk: with debugfs at create).
GUEST_SYSTEMD_CONF = b"""# written by the nixos-hetzner lab: TCG guests on a busy host are slow
[Manager]
DefaultTimeoutStartSec=900
DefaultDeviceTimeoutSec=900
DefaultStartLimitIntervalSec=0
RuntimeWatchdogSec=0
"""
GUEST_UNIT_RESTART = b"""# written by the nixos-hetzner lab
[Unit]
StartLimitIntervalSec=0

[Service]
Restart=always
RestartSec=2
"""


def guest_tuning_files() -> dict[str, tuple[bytes, int]]:
    files = {"/etc/systemd/system.conf.d/lab-tcg.conf": (GUEST_SYSTEMD_CONF, 0o644)}
    for unit in ("systemd-udevd", "systemd-networkd", "systemd-logind", "ssh"):
        files[f"/etc/systemd/system/{unit}.service.d/lab-restart.conf"] = \
            (GUEST_UNIT_RESTART, 0o644)
    return files


def rescue_initrd(image_initrd: Path, out: Path, authorized_keys: Iterable[str],
                  keys_dir: Path) -> Path:
    """The rescue initramfs for one boot: a small cpio with root's authorized_keys and SSH
    host keys, followed by the cached zstd rescue image (the kernel unpacks both)."""
    keys = "".join(k.strip() + "\n" for k in authorized_keys if k.strip()).encode()
    files = {"/root/.ssh/authorized_keys": (keys, 0o600)}
    for path, data in host_keys(keys_dir).items():
        files[path] = (data, 0o644 if path.endswith(".pub") else 0o600)
    files.update(guest_tuning_files())
    # The rescue root is the kernel's initramfs tmpfs, limited to half the RAM; the image
    # fills most of that.  lab-init (before sshd) runs this to give / room to work in.
    files["/usr/local/sbin/lab-init-local"] = (
        b"#!/bin/sh\nmount -o remount,size=85% / 2>/dev/null || true\n", 0o755)
    dirs = {"/root": 0o700, "/root/.ssh": 0o700}
    for path in files:
        parent = os.path.dirname(path)
        while parent not in ("/", "") and parent not in dirs:
            dirs[parent] = 0o755
            parent = os.path.dirname(parent)
    head = newc_archive(files, dirs)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f, open(image_initrd, "rb") as src:
        f.write(head)
        shutil.copyfileobj(src, f, 4 << 20)
    os.replace(tmp, out)
    return out


# Long systemd timeouts: on a loaded host a TCG guest is slow, and a unit that times out
# (networkd, logind) would cost SSH.
_COMMON_APPEND = ("console=ttyS0,115200 net.ifnames=0 "
                  "systemd.default_timeout_start_sec=900 systemd.default_device_timeout_sec=900 "
                  "systemd.service_watchdogs=0")
RESCUE_APPEND = "rdinit=/sbin/init " + _COMMON_APPEND
DISK_APPEND = "root=/dev/sda1 ro " + _COMMON_APPEND
