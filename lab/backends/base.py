"""The server backend interface of the Hetzner Cloud API emulator.

The emulator (``lab.world`` and the handlers in ``lab.api``) owns the API world: ids,
names, labels, IPs, actions, locks, protection, pagination, persistence.  A *backend*
owns what a server *is*:

* ``api``  (``lab/backends/api.py``): nothing.  Servers exist only as rows in SQLite and
  every action finishes when its nominal duration (times the time scale) has passed.
* ``qemu`` (``lab/backends/qemu.py``): each server is a qemu VM, each volume a disk
  image, reachable over loopback at the server's public IPv4.

How the emulator drives a backend
=================================

1. The emulator validates the request, writes the new state into SQLite and creates the
   action (status ``running``, ``progress`` 0) before it calls the backend, so the HTTP
   answer never waits for a VM.
2. If ``backend.blocking`` is False (the API backend), the emulator calls the method
   inline while handling the request; it must return quickly and must not fail in normal
   use.  The action completes lazily: it has a finish time (``started + duration *
   time_scale``) and whoever reads the action or resource after that time settles it
   (status ``success``, progress 100) and applies the effects (e.g. server status
   ``running``).
3. If ``backend.blocking`` is True (the qemu backend), the emulator runs the method in a
   worker thread.  The action stays ``running`` until BOTH the nominal duration has passed
   AND the method has returned.  The method therefore blocks until the work is really done
   (the VM has booted to the point the API promises, the disk image is written, ...).
   * Return normally -> action ``success``, effects applied.
   * Raise ``BackendError("message")`` (or any exception) -> action ``error`` with
     ``error: {"code": "action_failed", "message": "<message>"}``; the effect of the
     action is not applied (e.g. a failed poweron leaves the server ``off``).
   Progress is reported by the emulator from elapsed time vs duration, capped at 99 %
   until the method has returned.
4. Next actions: a create's ``next_actions`` (``start_server``, ``attach_volume`` of
   volumes given at create, ...) start only when their parent action has finished: their
   backend calls (e.g. ``attach_volume``) are made after ``create_server`` returned, and
   if the parent fails they end in error without calling the backend.
5. Threads: the emulator never runs two calls for the same server (or the same volume) at
   once: a running action locks its resources (the API answers 423 ``locked``).  Calls
   for different servers may run concurrently from different worker threads, so a
   backend must protect its own shared structures.  Calls arrive in API order for any
   one resource.
6. Restart: the state survives in ``<state_dir>/lab.sqlite``.  After opening it the
   emulator calls ``resume(servers, volumes)`` once with everything that exists and the
   power state the API believes in, so a VM backend can restart VMs that were running.
   Actions that were still running when the emulator stopped are ended in ``error``
   (``"lab restarted while the action was running"``) for blocking backends, and are
   settled by time for non-blocking ones.
7. ``close()`` is called on SIGTERM/shutdown after the HTTP server stopped; it must stop
   every VM/process the backend started (the lab promises to leave nothing running).
   Worker threads still blocked in a backend call are not waited for: the process exits
   after ``close()`` returns, and those actions end in error at the next start.
8. ``POST /__lab/reset`` with ``world: true`` calls ``delete_server`` / ``delete_volume``
   synchronously for everything before forgetting the world.

Selecting a backend: ``hcloud-lab serve --backend api|qemu|package.module:Class``
(``--backend-opt KEY=VALUE`` pairs become constructor keyword arguments, as strings).

Rescue semantics, as the emulator applies them
==============================================

``enable_rescue`` sets the server's ``rescue_enabled`` (the API shows it at once) and
calls ``backend.enable_rescue(spec, ssh_keys)``.  It does NOT reboot.  The next boot —
``poweron`` from ``off``, ``reboot`` or ``reset`` — is called with ``rescue=True`` and the
emulator clears ``rescue_enabled`` when that boot action succeeds.  Booting with
``rescue=True`` means: boot the rescue system (a Linux with root SSH for the keys in
``spec.rescue_ssh_keys``), leaving the server's disk untouched.  ``disable_rescue`` clears
the flag and calls ``backend.disable_rescue(spec)``.

Public IPv4s are loopback addresses (127.0.0.2, 127.0.0.3, ... or from ``--ipv4-base``);
a VM backend is expected to make the VM's SSH (port 22) reachable at ``spec.ipv4:22``
(for instance a qemu user-net hostfwd bound to that address).  IPv6 values come from
2001:db8::/32 and are data only: never configure or contact them on the host.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional


class BackendError(Exception):
    """A backend operation failed.  The message becomes the action's error message, so
    make it say what went wrong and, where possible, what to do (it is shown to users of
    the API)."""


@dataclass(frozen=True)
class ServerTypeSpec:
    """The hardware of a server, copied from the emulator's server type catalog."""

    name: str            # "cx23", "cax11", ...
    cores: int
    memory_gb: float     # as the API reports it (e.g. 4.0)
    disk_gb: int         # local disk size in GB
    architecture: str    # "x86" or "arm"
    cpu_type: str = "shared"   # "shared" or "dedicated"


@dataclass(frozen=True)
class ServerSpec:
    """Everything a backend may need to know about one server.

    A fresh ``ServerSpec`` reflecting the current API state is passed to every call, so a
    backend need not keep its own copy of API data.
    """

    id: int
    name: str
    ipv4: str                      # e.g. "127.0.0.2" - loopback, unique in the lab
    ipv6_network: str              # e.g. "2001:db8:0:2::/64" - data only
    server_type: ServerTypeSpec
    image: Optional[str]           # image name ("debian-12"), None if unknown/snapshot
    location: str                  # "fsn1", ...
    datacenter: str                # "fsn1-dc14", ...
    ssh_keys: tuple[str, ...] = () # OpenSSH public key lines given at create/rebuild
    user_data: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    rescue_ssh_keys: tuple[str, ...] = ()  # keys of the last enable_rescue
    rescue_enabled: bool = False
    status: str = "off"            # API status at the time of the call
    power_on: bool = True          # create_server only: start_after_create
    floating_ips: tuple[str, ...] = ()  # loopback IPv4s of floating IPs assigned to it


@dataclass(frozen=True)
class VolumeSpec:
    """One volume.  ``server_id`` is the server it is attached to, or None."""

    id: int
    name: str
    size_gb: int
    location: str
    format: Optional[str] = None   # "ext4", "xfs" or None (unformatted)
    server_id: Optional[int] = None
    linux_device: str = ""         # "/dev/disk/by-id/scsi-0HC_Volume_<id>"


class Backend(abc.ABC):
    """Base class of server backends.  See the module docstring for the calling rules.

    Constructor: ``Backend(state_dir: Path, **options)``; ``state_dir`` is the lab's state
    directory (the backend may create files below ``state_dir / <backend name>``) and
    ``options`` are backend-specific (from ``hcloud-lab serve --backend-opt KEY=VALUE``).
    """

    #: Backend name as used on the command line.
    name: str = "base"
    #: True: calls run in worker threads and actions wait for them (see module doc).
    blocking: bool = False
    #: Set by the emulator before any call: ``notify(server_id, event, **data)`` tells it
    #: what happened without an API action.  Events: ``"status"`` with
    #: ``status="off"|"running"`` (the guest powered off, or rebooted by itself; ignored
    #: while an action runs on the server) and ``"rescue_used"`` (a boot consumed the
    #: armed rescue system: ``rescue_enabled`` becomes false).  Thread-safe; never call
    #: it while holding a lock that a backend method called by the emulator also takes
    #: from the emulator's side (the emulator calls blocking backends without its lock).
    notify: Optional[Callable[..., None]] = None

    def __init__(self, state_dir: Path, **options: Any) -> None:
        self.state_dir = Path(state_dir)
        self.options = dict(options)

    # -- lifecycle -----------------------------------------------------------------
    def resume(self, servers: list[ServerSpec], volumes: list[VolumeSpec]) -> None:
        """Called once after start-up with every existing server (``spec.status`` is the
        API's belief: ``running`` or ``off``) and volume.  Default: nothing."""

    def close(self) -> None:
        """Stop everything this backend started (VMs, helper processes).  Idempotent."""

    # -- servers ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_server(self, spec: ServerSpec) -> None:
        """Create the server from ``spec.image`` with ``spec.ssh_keys`` authorised for root
        and ``spec.user_data`` as cloud-init user data, and power it on if
        ``spec.power_on`` (the API's start_after_create).  Return (blocking backends) when
        it is running (or, without power_on, when the disk is ready).  Action:
        ``create_server``."""

    @abc.abstractmethod
    def delete_server(self, spec: ServerSpec) -> None:
        """Power off hard and remove the server and its disk.  Must succeed even if the
        server is already off or half-created.  Action: ``delete_server``."""

    @abc.abstractmethod
    def power_on(self, spec: ServerSpec, rescue: bool) -> None:
        """Start a server that is off; boot the rescue system if ``rescue``."""

    @abc.abstractmethod
    def power_off(self, spec: ServerSpec) -> None:
        """Cut the power (hard).  The server is off when this returns."""

    @abc.abstractmethod
    def shutdown(self, spec: ServerSpec) -> None:
        """Send an ACPI shutdown request and wait until the guest is off (a blocking
        backend may give up after a timeout and raise BackendError)."""

    @abc.abstractmethod
    def reboot(self, spec: ServerSpec, rescue: bool) -> None:
        """Soft reboot (ACPI); next boot is the rescue system if ``rescue``.  A server that
        is off is started."""

    @abc.abstractmethod
    def reset(self, spec: ServerSpec, rescue: bool) -> None:
        """Hard reset; next boot is the rescue system if ``rescue``.  A server that is off
        is started."""

    @abc.abstractmethod
    def rebuild(self, spec: ServerSpec, image: str) -> None:
        """Re-image the server's disk from ``image`` (all data lost) and boot it
        (normal boot, rescue flag already cleared by the emulator).  ``spec.ssh_keys`` and
        ``spec.user_data`` are those from create."""

    @abc.abstractmethod
    def enable_rescue(self, spec: ServerSpec, ssh_keys: list[str]) -> None:
        """Arm the rescue system for the next boot with root SSH for ``ssh_keys``."""

    @abc.abstractmethod
    def disable_rescue(self, spec: ServerSpec) -> None:
        """Disarm the rescue system."""

    @abc.abstractmethod
    def change_type(self, spec: ServerSpec, new_type: ServerTypeSpec,
                    upgrade_disk: bool) -> None:
        """Change the hardware.  The server is off (the API enforces it) and stays off.
        ``upgrade_disk``: grow the disk to ``new_type.disk_gb``."""

    # -- volumes ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_volume(self, volume: VolumeSpec) -> None:
        """Create the volume's storage (and the filesystem if ``volume.format``).  If
        ``volume.server_id`` is set the volume is attached to it right after create (the
        emulator then also calls ``attach_volume``)."""

    @abc.abstractmethod
    def delete_volume(self, volume: VolumeSpec) -> None:
        """Remove the volume's storage.  It is detached (the API enforces it)."""

    @abc.abstractmethod
    def attach_volume(self, volume: VolumeSpec, server: ServerSpec) -> None:
        """Attach (hot-plug if running) the volume to the server, so that it appears as
        ``volume.linux_device`` in the guest where feasible."""

    @abc.abstractmethod
    def detach_volume(self, volume: VolumeSpec, server: ServerSpec) -> None:
        """Detach the volume from the server."""

    @abc.abstractmethod
    def resize_volume(self, volume: VolumeSpec, new_size_gb: int) -> None:
        """Grow the volume to ``new_size_gb`` (never shrinks; the API enforces it)."""

    # -- images, floating IPs, metrics (optional: the defaults do nothing) --------------
    def create_image(self, spec: ServerSpec, image_id: int) -> None:
        """Keep a copy of the server's disk as snapshot/backup ``image_id``.  A later
        ``create_server`` or ``rebuild`` with image ``"snapshot:<image_id>"`` restores it."""

    def delete_image(self, image_id: int) -> None:
        """Forget the disk copy of ``image_id``."""

    def assign_floating_ip(self, spec: ServerSpec, ip: str) -> None:
        """Make the server reachable at floating IPv4 ``ip`` too (like ``spec.ipv4``)."""

    def unassign_floating_ip(self, spec: ServerSpec, ip: str) -> None:
        """Stop answering at floating IPv4 ``ip`` for this server."""

    def metrics(self, spec: ServerSpec) -> Optional[dict[str, float]]:
        """Current counters of a running server, if cheap to read (``cpu_seconds``,
        ``disk_read_bytes``, ...); None lets the emulator model the series."""
        return None

    # -- introspection -----------------------------------------------------------------
    def server_info(self, spec: ServerSpec) -> dict[str, Any]:
        """Backend facts about one server for ``hcloud-lab status`` and
        ``GET /__lab/servers`` (e.g. ``{"console_log": "/path", "pid": 1234,
        "ssh": "127.0.0.2:22", "booted": "rescue"}``).  Values must be JSON-serialisable.
        Default: empty."""
        return {}

    def info(self) -> dict[str, Any]:
        """Backend-wide facts for ``GET /__lab/stats`` (e.g. images directory)."""
        return {"backend": self.name}
