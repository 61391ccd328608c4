"""The emulated world: resources, actions, locks and their persistence in SQLite.

Every resource lives in memory (dicts keyed by id) and is written through to
``<state_dir>/lab.sqlite`` at the end of each mutating request, so a restart keeps the
world.  One re-entrant lock serialises all access; requests are short, so this is both
safe (50 parallel creates give 50 distinct ids and IPs) and fast enough.

Actions complete lazily: each has a finish time (nominal duration x time scale) and is
settled, with its effects (patches of resource fields), by the first request after that
time.  For blocking backends (see ``lab.backends.base``) an action also waits for the
backend call running in a worker thread.
"""
from __future__ import annotations

import base64
import hashlib
import heapq
import ipaddress
import json
import random
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from . import catalog
from .backends.base import Backend, ServerSpec, ServerTypeSpec, VolumeSpec
from .errors import APIError, invalid, locked, not_found
from .selectors import SelectorError, label_errors, parse as parse_selector

# Nominal durations in seconds (before the time scale) per action command.
DURATIONS = {
    "create_server": 20.0, "start_server": 3.0, "stop_server": 3.0, "shutdown_server": 5.0,
    "reboot_server": 5.0, "reset_server": 3.0, "rebuild_server": 15.0,
    "enable_rescue": 1.0, "disable_rescue": 1.0, "change_server_type": 10.0,
    "attach_to_network": 2.0, "detach_from_network": 2.0,
    "add_to_placement_group": 1.0, "remove_from_placement_group": 1.0,
    "change_protection": 0.5, "enable_backup": 1.0, "disable_backup": 1.0,
    "delete_server": 2.0, "create_volume": 3.0, "attach_volume": 2.0,
    "detach_volume": 2.0, "resize_volume": 2.0, "delete_volume": 1.0,
    "set_firewall_rules": 1.0, "apply_firewall": 1.0, "remove_firewall": 1.0,
    "add_subnet": 1.0, "delete_subnet": 1.0, "add_route": 1.0, "delete_route": 1.0,
    "change_ip_range": 1.0, "assign_primary_ip": 1.0, "unassign_primary_ip": 1.0,
    "change_dns_ptr": 1.0, "create_primary_ip": 1.0,
    "assign_floating_ip": 1.0, "unassign_floating_ip": 1.0,
    "create_image": 10.0, "change_alias_ips": 1.0, "reset_password": 2.0,
    "request_console": 0.5, "attach_iso": 1.0, "detach_iso": 1.0,
}

ID_BASE = {
    "server": 1_000_000, "ssh_key": 2_000_000, "firewall": 3_000_000, "network": 4_000_000,
    "volume": 5_000_000, "placement_group": 6_000_000, "primary_ip": 7_000_000,
    "floating_ip": 8_000_000, "action": 10_000_000, "image": 400_000_000,
}
KIND_LABEL = {
    "server": "server", "ssh_key": "SSH key", "firewall": "firewall", "network": "network",
    "volume": "volume", "placement_group": "placement group", "primary_ip": "primary IP",
    "floating_ip": "floating IP", "image": "image", "action": "action",
}
PROTECTABLE = {"server", "volume", "network", "primary_ip", "floating_ip", "image"}
HOSTNAME_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).replace(microsecond=0).isoformat()


def default_ptr(ip: str) -> str:
    """The reverse entry Hetzner gives a new IPv4 address."""
    return "static." + ".".join(reversed(ip.split("."))) + ".clients.your-server.de"


def _is_hostname(name: str) -> bool:
    return bool(re.fullmatch(rf"{HOSTNAME_LABEL}(\.{HOSTNAME_LABEL})*", name)) and len(name) <= 63


def ssh_fingerprint(public_key: str) -> str:
    """MD5 fingerprint (colon hex) of an OpenSSH public key line; ValueError if invalid."""
    parts = public_key.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ValueError("not an OpenSSH public key (expected 'TYPE BASE64 [COMMENT]')")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except Exception:
        raise ValueError("the key's base64 part is not valid base64")
    if len(blob) < 20:
        raise ValueError("the key's base64 part is too short")
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


# ----------------------------------------------------------------------------------------
@dataclass
class LabConfig:
    """Runtime configuration; every field can be changed through POST /__lab/config."""

    time_scale: float = 1.0
    latency: float = 0.0               # seconds added to every /v1 answer
    rate_limit: int = 3600             # bucket size per token
    rate_refill: float = 1.0           # tokens per second
    fault_rate: float = 0.0            # fraction of /v1 answers replaced by a fault
    fault_kinds: list = field(default_factory=lambda: [500, 502, 503, 504, "timeout"])
    fault_timeout: float = 5.0         # seconds a "timeout" fault holds the connection
    fault_actions: dict = field(default_factory=dict)  # command -> probability of error
    seed: int = 0
    durations: dict = field(default_factory=dict)      # command -> nominal seconds
    allow_retired_types: bool = False  # create servers of deprecated, unavailable types

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Faults:
    """Seeded fault decisions.  Two streams (requests, actions) so that both are
    reproducible for a seed independently of each other."""

    def __init__(self, cfg: LabConfig):
        self.reseed(cfg)

    def reseed(self, cfg: LabConfig) -> None:
        self.cfg = cfg
        self.req_rng = random.Random(f"{cfg.seed}:requests")
        self.act_rng = random.Random(f"{cfg.seed}:actions")
        self.lock = threading.Lock()

    def request_fault(self):
        if self.cfg.fault_rate <= 0:
            return None
        with self.lock:
            roll = self.req_rng.random()
            kind = self.req_rng.choice(self.cfg.fault_kinds) if self.cfg.fault_kinds else 500
        return kind if roll < self.cfg.fault_rate else None

    def action_fails(self, command: str) -> bool:
        p = self.cfg.fault_actions.get(command, self.cfg.fault_actions.get("*", 0))
        if not p:
            return False
        with self.lock:
            return self.act_rng.random() < float(p)


# ----------------------------------------------------------------------------------------
class World:
    def __init__(self, state_dir: Path, backend: Backend, config: Optional[LabConfig] = None,
                 ipv4_base: str = "127.0.0.2"):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self.config = config or LabConfig()
        self.faults = Faults(self.config)
        self.ipv4_base = int(ipaddress.IPv4Address(ipv4_base))
        if not ipaddress.IPv4Address(ipv4_base).is_loopback:
            raise ValueError(f"--ipv4-base {ipv4_base} is not inside 127.0.0.0/8")
        self.lock = threading.RLock()
        self.objs: dict[str, dict[int, dict]] = {k: {} for k in ID_BASE}
        self.counters = dict(ID_BASE)
        self.heap: list = []
        self.locks: dict[tuple, int] = {}
        self.deferred: dict[int, tuple] = {}  # action id -> backend call waiting for a parent
        self.reserved_ips: dict[str, int] = {}  # IPv4 of a deleted server -> its delete action
        self.dirty: set = set()
        self.version = 0
        self.cache: dict = {}
        self.executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lab-backend") \
            if backend.blocking else None
        backend.notify = self.backend_event
        self.db = sqlite3.connect(self.state_dir / "lab.sqlite", check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT, id INTEGER, data TEXT,"
                        " PRIMARY KEY (kind, id))")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._load()

    # -- persistence -----------------------------------------------------------------
    def _load(self) -> None:
        for kind, oid, data in self.db.execute("SELECT kind, id, data FROM objects"):
            if kind in self.objs:
                self.objs[kind][oid] = json.loads(data)
        for key, value in self.db.execute("SELECT key, value FROM meta"):
            if key.startswith("counter:"):
                self.counters[key[8:]] = int(value)
        now = time.time()
        for a in self.objs["action"].values():
            if a["status"] != "running":
                continue
            if self.backend.blocking and a.get("_backend") in ("pending", "deferred"):
                a["_backend"] = "done"
                a["_backend_error"] = "lab restarted while the action was running"
                a["_finish_at"] = now
                self.dirty.add(("action", a["id"]))
            heapq.heappush(self.heap, (a["_finish_at"], a["id"]))
            for kind, oid in a.get("_locks", []):
                self.locks[(kind, oid)] = a["id"]
        for kind in self.objs:  # keep dicts ordered by id
            self.objs[kind] = dict(sorted(self.objs[kind].items()))
        self.commit()

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

    def commit(self) -> None:
        """Write dirty objects and counters to SQLite (one transaction)."""
        if not self.dirty:
            return
        self.version += 1
        self.cache.clear()
        cur = self.db.cursor()
        cur.execute("BEGIN")
        for kind, oid in self.dirty:
            obj = self.objs[kind].get(oid)
            if obj is None:
                cur.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, oid))
            else:
                cur.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?)",
                            (kind, oid, json.dumps(obj)))
        for kind, value in self.counters.items():
            cur.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (f"counter:{kind}", str(value)))
        cur.execute("COMMIT")
        self.dirty.clear()

    def wipe(self) -> None:
        """Forget the whole world (POST /__lab/reset with world=true).  The backend is
        told to delete every server and volume first (synchronously)."""
        with self.lock:
            servers = [self.server_spec(s) for s in self.objs["server"].values()]
            volumes = [self.volume_spec(v) for v in self.objs["volume"].values()]
            images = list(self.objs["image"])
        for iid in images:
            try:
                self.backend.delete_image(iid)
            except Exception:  # noqa: BLE001 - a wipe goes on regardless
                pass
        for spec in servers:
            try:
                self.backend.delete_server(spec)
            except Exception:  # noqa: BLE001 - a wipe goes on regardless
                pass
        for vol in volumes:
            try:
                self.backend.delete_volume(vol)
            except Exception:  # noqa: BLE001
                pass
        with self.lock:
            for kind in self.objs:
                for oid in list(self.objs[kind]):
                    self.dirty.add((kind, oid))
                self.objs[kind].clear()
            self.heap.clear()
            self.locks.clear()
            self.deferred.clear()
            self.reserved_ips.clear()
            self.counters = dict(ID_BASE)
            self.commit()
            self.version += 1
            self.cache.clear()

    def close(self) -> None:
        with self.lock:
            self.commit()
        if self.executor:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.db.close()

    # -- helpers ---------------------------------------------------------------------
    def new_id(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]

    def put(self, kind: str, obj: dict) -> dict:
        self.objs[kind][obj["id"]] = obj
        self.dirty.add((kind, obj["id"]))
        return obj

    def touch(self, kind: str, oid: int) -> None:
        self.dirty.add((kind, oid))

    def remove(self, kind: str, oid: int) -> None:
        self.objs[kind].pop(oid, None)
        self.dirty.add((kind, oid))

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

    def check_lock(self, kind: str, oid: int) -> None:
        aid = self.locks.get((kind, oid))
        if aid is not None and self.objs["action"].get(aid, {}).get("status") == "running":
            raise locked(KIND_LABEL[kind], oid)

    def is_locked(self, kind: str, oid: int) -> bool:
        aid = self.locks.get((kind, oid))
        return aid is not None and self.objs["action"].get(aid, {}).get("status") == "running"

    # -- actions ---------------------------------------------------------------------
    def new_action(self, command: str, resources: list[tuple[str, int]], *,
                   locks: Optional[list[tuple[str, int]]] = None,
                   on_success: Optional[list] = None, on_error: Optional[list] = None,
                   backend_call: Optional[tuple[Callable, tuple]] = None,
                   duration: Optional[float] = None, after: Optional[dict] = None) -> dict:
        """Create a running action.  ``after``: a parent action (create -> next_actions);
        this one then starts (and calls the backend) only when the parent has finished,
        and ends in error if the parent does."""
        now = time.time()
        nominal = self.config.durations.get(command, DURATIONS.get(command, 1.0))
        if duration is None:
            duration = float(nominal) * self.config.time_scale
        a = {
            "id": self.new_id("action"), "command": command, "status": "running",
            "progress": 0, "started": iso(now), "finished": None,
            "resources": [{"id": oid, "type": kind} for kind, oid in resources],
            "error": None, "_t0": now, "_finish_at": now + duration, "_duration": duration,
            "_locks": [list(lk) for lk in (locks if locks is not None else [])],
            "_on_success": on_success or [], "_on_error": on_error or [],
            "_fail": self.faults.action_fails(command),
        }
        self.put("action", a)
        for kind, oid in a["_locks"]:
            self.locks[(kind, oid)] = a["id"]
        if after is not None and after["status"] == "running":
            a["_after"] = after["id"]
            after.setdefault("_children", []).append(a["id"])
            self.touch("action", after["id"])
            if backend_call is not None and not a["_fail"]:
                self.deferred[a["id"]] = backend_call
                a["_backend"] = "deferred"
            return a  # the parent's _finish starts it
        self._start(a, backend_call, now)
        return a

    def _start(self, a: dict, backend_call, now: float) -> None:
        if backend_call is not None and not a["_fail"]:
            fn, args = backend_call
            if self.backend.blocking:
                a["_backend"] = "pending"
                self.executor.submit(self._backend_worker, a["id"], fn, args)
            else:
                a["_backend"] = "done"
                try:
                    fn(*args)
                except Exception as exc:  # noqa: BLE001 - becomes the action's error
                    a["_backend_error"] = str(exc) or repr(exc)
        elif a.get("_backend") == "deferred":
            a["_backend"] = "done"
        if a.get("_backend") != "pending":
            if a["_finish_at"] <= now:
                self._finish(a, now)
            else:
                heapq.heappush(self.heap, (a["_finish_at"], a["id"]))

    def _backend_worker(self, aid: int, fn: Callable, args: tuple) -> None:
        err = None
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - becomes the action's error
            err = str(exc) or repr(exc)
        with self.lock:
            a = self.objs["action"].get(aid)
            if a is None or a["status"] != "running":
                return
            a["_backend"] = "done"
            a["_backend_error"] = err
            a["_finish_at"] = max(a["_finish_at"], time.time())
            heapq.heappush(self.heap, (a["_finish_at"], aid))
            self.touch("action", aid)
            self.settle()
            self.commit()

    def settle(self) -> None:
        """Finish every action whose time has come, applying its effects."""
        if not self.heap or self.heap[0][0] > time.time():
            return
        now = time.time()
        while self.heap and self.heap[0][0] <= now:
            t, aid = heapq.heappop(self.heap)
            a = self.objs["action"].get(aid)
            if a is None or a["status"] != "running" or a.get("_backend") in ("pending",
                                                                               "deferred"):
                continue
            parent = self.objs["action"].get(a.get("_after"))
            if parent is not None and parent["status"] == "running":
                continue  # the parent's _finish re-schedules it
            self._finish(a, max(t, a["_finish_at"]))

    def _finish(self, a: dict, when: float) -> None:
        err = a.get("_backend_error")
        if a.get("_fail"):
            err = err or "action failed (fault injected by the lab)"
        if err:
            a["status"] = "error"
            a["error"] = {"code": "action_failed", "message": err}
            patches = a["_on_error"]
        else:
            a["status"] = "success"
            a["progress"] = 100
            patches = a["_on_success"]
        a["finished"] = iso(when)
        for kind, oid, fields in patches:
            obj = self.objs[kind].get(oid)
            if obj is None:
                continue
            if fields is None:
                self.remove(kind, oid)
            else:
                obj.update(fields)
                self.touch(kind, oid)
        for kind, oid in a["_locks"]:
            if self.locks.get((kind, oid)) == a["id"]:
                del self.locks[(kind, oid)]
                self.touch(kind, oid)
        self.touch("action", a["id"])
        for cid in a.get("_children", []):
            child = self.objs["action"].get(cid)
            if child is None or child["status"] != "running":
                continue
            call = self.deferred.pop(cid, None)
            child["_t0"] = when
            child["_finish_at"] = when + child.get("_duration", 0.0)
            if err:
                child["_backend"] = "done"
                child["_backend_error"] = f"{a['command']} failed: {err}"
                call = None
            self._start(child, call, when)

    def action_json(self, a: dict) -> dict:
        progress = a["progress"]
        if a["status"] == "running":
            span = a["_finish_at"] - a["_t0"]
            progress = 0 if span <= 0 else min(99, int(100 * (time.time() - a["_t0"]) / span))
        return {"id": a["id"], "command": a["command"], "status": a["status"],
                "progress": progress, "started": a["started"], "finished": a["finished"],
                "resources": a["resources"], "error": a["error"]}

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

    # -- address allocation ----------------------------------------------------------------
    def alloc_ipv4(self) -> str:
        used = {int(ipaddress.IPv4Address(p["ip"]))
                for kind in ("primary_ip", "floating_ip") for p in self.objs[kind].values()
                if p["type"] == "ipv4"}
        # a deleted server's address stays taken until its delete action has finished
        # (a VM backend may still be tearing down the VM bound to it)
        for ip, aid in list(self.reserved_ips.items()):
            if self.objs["action"].get(aid, {}).get("status") == "running":
                used.add(int(ipaddress.IPv4Address(ip)))
            else:
                del self.reserved_ips[ip]
        n = self.ipv4_base
        while n in used or (n & 0xFF) in (0, 1, 255):
            n += 1
        if n >= int(ipaddress.IPv4Address("127.255.255.255")):
            raise APIError(412, "resource_unavailable", "the lab's loopback IPv4 pool is exhausted")
        return str(ipaddress.IPv4Address(n))

    def alloc_ipv6(self, floating: bool = False) -> str:
        kind = "floating_ip" if floating else "primary_ip"
        used = {p["ip"] for p in self.objs[kind].values() if p["type"] == "ipv6"}
        n = len(used) + 1
        base = 0x8000 if floating else 0  # floating /64s: 2001:db8:8000::/33
        while True:
            net = f"2001:db8:{base | ((n >> 16) & 0x7FFF):x}:{n & 0xFFFF:x}::/64"
            if net not in used:
                return net
            n += 1

    def new_primary_ip(self, ptype: str, datacenter: str, name: Optional[str] = None,
                       assignee: Optional[int] = None, auto_delete: bool = False,
                       labels: Optional[dict] = None) -> dict:
        pid = self.new_id("primary_ip")
        ip = self.alloc_ipv4() if ptype == "ipv4" else self.alloc_ipv6()
        return self.put("primary_ip", {
            "id": pid, "name": name or f"primary_ip-{pid}", "ip": ip, "type": ptype,
            "dns_ptr": [{"ip": ip, "dns_ptr": default_ptr(ip)}] if ptype == "ipv4" else [],
            "datacenter": datacenter, "blocked": False,
            "protection": {"delete": False}, "labels": labels or {}, "created": iso(time.time()),
            "assignee_id": assignee, "assignee_type": "server", "auto_delete": auto_delete,
        })

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
        if hostname and not _is_hostname(name):
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
