"""The emulated world: resources, actions, locks and their persistence in SQLite.

Every resource lives in memory (dicts keyed by id) and is written through to
``<state_dir>/lab.sqlite`` at the end of each mutating request, so a restart keeps the
world.  One re-entrant lock serialises all access; requests are short, so this is both
safe (50 parallel creates give 50 distinct ids and IPs) and fast enough.

``World`` is what the handlers of ``lab.api`` see.  It composes three parts:

* ``Store`` (``store.py``): the objects per kind, id counters, the SQLite write-through;
* ``Scheduler`` (``actions.py``): actions, resource locks and the backend calls they
  wait for, settled lazily when their time has come;
* ``Addresses`` (``addresses.py``): the public IPv4 and IPv6 allocation.

The configuration and fault injection are in ``config.py``, shared formats in
``common.py``.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional

from .. import catalog
from ..backends.base import Backend, ServerSpec, ServerTypeSpec, VolumeSpec
from ..errors import invalid, not_found
from ..selectors import SelectorError, label_errors, parse as parse_selector
from .actions import DURATIONS, Scheduler
from .addresses import Addresses
from .common import (HOSTNAME_LABEL, ID_BASE, KIND_LABEL, PROTECTABLE, default_ptr, is_hostname,
                     iso, ssh_fingerprint)
from .config import Faults, LabConfig
from .store import Store

__all__ = ["DURATIONS", "HOSTNAME_LABEL", "ID_BASE", "KIND_LABEL", "PROTECTABLE", "Faults",
           "LabConfig", "World", "default_ptr", "iso", "ssh_fingerprint"]


class World:
    def __init__(self, state_dir: Path, backend: Backend, config: Optional[LabConfig] = None,
                 ipv4_base: str = "127.0.0.2"):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self.config = config or LabConfig()
        self.faults = Faults(self.config)
        self.lock = threading.RLock()
        self.store = Store(self.state_dir)
        self.objs = self.store.objs
        self.cache = self.store.cache
        self.addresses = Addresses(self.objs, ipv4_base)
        self.actions = Scheduler(self)
        backend.notify = self.backend_event
        self.store.load()
        self.actions.resume()
        self.commit()

    # -- the parts' operations, as the handlers call them ----------------------------------
    def new_id(self, kind: str) -> int:
        return self.store.new_id(kind)

    def put(self, kind: str, obj: dict) -> dict:
        return self.store.put(kind, obj)

    def touch(self, kind: str, oid: int) -> None:
        self.store.touch(kind, oid)

    def remove(self, kind: str, oid: int) -> None:
        self.store.remove(kind, oid)

    def commit(self) -> None:
        self.store.commit()

    def new_action(self, command: str, resources: list[tuple[str, int]], **kw) -> dict:
        return self.actions.new(command, resources, **kw)

    def settle(self) -> None:
        self.actions.settle()

    def action_json(self, a: dict) -> dict:
        return self.actions.action_json(a)

    def check_lock(self, kind: str, oid: int) -> None:
        self.actions.check_lock(kind, oid)

    def is_locked(self, kind: str, oid: int) -> bool:
        return self.actions.is_locked(kind, oid)

    # -- backend -----------------------------------------------------------------------
    def backend_event(self, server_id: int, event: str, **data) -> None:
        """Events a backend reports on its own (``backend.notify``): ``"status"`` with
        ``status="off"|"running"`` when the guest powered off or rebooted by itself, and
        ``"rescue_used"`` when a boot consumed the rescue system.  A status event while an
        action runs on the server is ignored: the action's own outcome decides."""
        with self.lock:
            s = self.objs["server"].get(server_id)
            if s is None:
                return
            if event == "rescue_used":
                s["rescue_enabled"] = False
                s["_booted"] = "rescue"
            elif event == "status" and data.get("status") in ("off", "running"):
                if self.is_locked("server", server_id):
                    return
                s["status"] = data["status"]
                if data["status"] == "off":
                    s["_booted"] = None
            else:
                return
            self.touch("server", server_id)
            self.commit()

    def resume_backend(self) -> None:
        with self.lock:
            self.settle()
            servers = [self.server_spec(s) for s in self.objs["server"].values()]
            volumes = [self.volume_spec(v) for v in self.objs["volume"].values()]
        self.backend.resume(servers, volumes)

    def wipe(self) -> None:
        """Forget the whole world (POST /__lab/reset with world=true).  The backend is
        told to delete every server and volume first (synchronously)."""
        with self.lock:
            servers = [self.server_spec(s) for s in self.objs["server"].values()]
            volumes = [self.volume_spec(v) for v in self.objs["volume"].values()]
            images = list(self.objs["image"])
        calls = ([(self.backend.delete_image, iid) for iid in images]
                 + [(self.backend.delete_server, spec) for spec in servers]
                 + [(self.backend.delete_volume, vol) for vol in volumes])
        for fn, arg in calls:
            try:
                fn(arg)
            except Exception:  # noqa: BLE001 - a wipe goes on regardless
                pass
        with self.lock:
            self.store.clear()
            self.actions.clear()
            self.addresses.clear()
            self.commit()
            self.cache.clear()  # also when the world was empty (nothing to commit)

    def close(self) -> None:
        with self.lock:
            self.commit()
        self.actions.close()
        self.store.close()

    # -- resources ---------------------------------------------------------------------
    def get(self, kind: str, oid) -> dict:
        try:
            oid = int(oid)
        except (TypeError, ValueError):
            raise invalid({"id": f"{oid!r} is not a valid ID"})
        obj = self.objs[kind].get(oid)
        if obj is None:
            raise not_found(KIND_LABEL[kind], oid)
        return obj

    def find(self, kind: str, ref, field_name: str) -> dict:
        """Resolve an ID or a name given in a request body."""
        if isinstance(ref, dict):
            ref = ref.get("id", ref.get("name"))
        if isinstance(ref, bool) or ref is None:
            raise invalid({field_name: f"expected an ID or a name, got {ref!r}"})
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            obj = self.objs[kind].get(int(ref))
        else:
            obj = next((o for o in self.objs[kind].values() if o.get("name") == ref), None)
        if obj is None:
            raise invalid({field_name: f"{KIND_LABEL[kind]} {ref!r} not found"})
        return obj

    def name_taken(self, kind: str, name: str, exclude: Optional[int] = None) -> bool:
        return any(o["name"] == name and o["id"] != exclude for o in self.objs[kind].values())

    def new_primary_ip(self, ptype: str, datacenter: str, name: Optional[str] = None,
                       assignee: Optional[int] = None, auto_delete: bool = False,
                       labels: Optional[dict] = None) -> dict:
        pid = self.new_id("primary_ip")
        ip = self.addresses.ipv4() if ptype == "ipv4" else self.addresses.ipv6()
        return self.put("primary_ip", {
            "id": pid, "name": name or f"primary_ip-{pid}", "ip": ip, "type": ptype,
            "dns_ptr": [{"ip": ip, "dns_ptr": default_ptr(ip)}] if ptype == "ipv4" else [],
            "datacenter": datacenter, "blocked": False,
            "protection": {"delete": False}, "labels": labels or {}, "created": iso(time.time()),
            "assignee_id": assignee, "assignee_type": "server", "auto_delete": auto_delete,
        })

    # -- specs for the backend ---------------------------------------------------------
    def server_spec(self, s: dict) -> ServerSpec:
        st = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]
        dc = catalog.DATACENTER_BY_NAME[s["datacenter"]]
        img = catalog.IMAGE_BY_ID.get(s["image"]) if s.get("image") else None
        if img is None and s.get("image") in self.objs["image"]:
            img = {"name": f"snapshot:{s['image']}"}  # a backend restores its disk copy
        p4 = self.objs["primary_ip"].get(s.get("ipv4_id"))
        p6 = self.objs["primary_ip"].get(s.get("ipv6_id"))
        return ServerSpec(
            id=s["id"], name=s["name"], ipv4=p4["ip"] if p4 else "",
            ipv6_network=p6["ip"] if p6 else "",
            server_type=ServerTypeSpec(name=st["name"], cores=st["cores"],
                                       memory_gb=st["memory"], disk_gb=s["primary_disk_size"],
                                       architecture=st["architecture"], cpu_type=st["cpu_type"]),
            image=img["name"] if img else None, location=dc["location"]["name"],
            datacenter=dc["name"], ssh_keys=tuple(s.get("_ssh_keys", [])),
            user_data=s.get("_user_data"), labels=dict(s["labels"]),
            rescue_ssh_keys=tuple(s.get("_rescue_keys", [])),
            rescue_enabled=s["rescue_enabled"], status=s["status"],
            floating_ips=tuple(f["ip"] for f in self.objs["floating_ip"].values()
                               if f["server"] == s["id"] and f["type"] == "ipv4"))

    def volume_spec(self, v: dict) -> VolumeSpec:
        return VolumeSpec(id=v["id"], name=v["name"], size_gb=v["size"], location=v["location"],
                          format=v.get("format"), server_id=v.get("server"),
                          linux_device=f"/dev/disk/by-id/scsi-0HC_Volume_{v['id']}")

    # -- labels / names --------------------------------------------------------------------
    @staticmethod
    def check_labels(labels, field_name: str = "labels") -> dict:
        if labels is None:
            return {}
        errs = label_errors(labels)
        if errs:
            raise invalid({field_name: errs})
        return dict(labels)

    @staticmethod
    def check_name(name, field_name: str = "name", hostname: bool = False) -> str:
        if not isinstance(name, str) or not name:
            raise invalid({field_name: "is required and must be a non-empty string"})
        if hostname and not is_hostname(name):
            raise invalid({field_name: "must be a valid hostname (RFC 1123, at most 63 chars)"})
        if len(name) > 128:
            raise invalid({field_name: "is too long (at most 128 characters)"})
        return name

    @staticmethod
    def selector(expr: str, field_name: str = "label_selector"):
        try:
            return parse_selector(expr)
        except SelectorError as exc:
            raise invalid({field_name: str(exc)})
