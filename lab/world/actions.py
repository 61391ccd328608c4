"""Action scheduling.  Actions complete lazily: each has a finish time (nominal duration
x time scale) and is settled, with its effects (patches of resource fields), by the first
request after that time.  For blocking backends (see ``lab.backends.base``) an action
also waits for the backend call running in a worker thread; an action started ``after``
another (create -> next_actions) begins when its parent has finished."""
from __future__ import annotations

import heapq
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Optional

from ..errors import locked
from .common import KIND_LABEL, iso

if TYPE_CHECKING:
    from . import World

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


class Scheduler:
    def __init__(self, world: "World"):
        self.w = world
        self.heap: list = []
        self.locks: dict[tuple, int] = {}
        self.deferred: dict[int, tuple] = {}  # action id -> backend call waiting for a parent
        self.executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lab-backend") \
            if world.backend.blocking else None

    def resume(self) -> None:
        """After a load: re-schedule the running actions and take their locks again.  A
        blocking backend's call did not survive the restart: its action ends in error."""
        now = time.time()
        for a in self.w.objs["action"].values():
            if a["status"] != "running":
                continue
            if self.w.backend.blocking and a.get("_backend") in ("pending", "deferred"):
                a["_backend"] = "done"
                a["_backend_error"] = "lab restarted while the action was running"
                a["_finish_at"] = now
                self.w.touch("action", a["id"])
            heapq.heappush(self.heap, (a["_finish_at"], a["id"]))
            for kind, oid in a.get("_locks", []):
                self.locks[(kind, oid)] = a["id"]

    def check_lock(self, kind: str, oid: int) -> None:
        if self.is_locked(kind, oid):
            raise locked(KIND_LABEL[kind], oid)

    def is_locked(self, kind: str, oid: int) -> bool:
        aid = self.locks.get((kind, oid))
        return aid is not None and self.w.objs["action"].get(aid, {}).get("status") == "running"

    def new(self, command: str, resources: list[tuple[str, int]], *,
            locks: Optional[list[tuple[str, int]]] = None,
            on_success: Optional[list] = None, on_error: Optional[list] = None,
            backend_call: Optional[tuple[Callable, tuple]] = None,
            duration: Optional[float] = None, after: Optional[dict] = None) -> dict:
        """Create a running action.  ``after``: a parent action (create -> next_actions);
        this one then starts (and calls the backend) only when the parent has finished,
        and ends in error if the parent does."""
        w = self.w
        now = time.time()
        nominal = w.config.durations.get(command, DURATIONS.get(command, 1.0))
        if duration is None:
            duration = float(nominal) * w.config.time_scale
        a = {
            "id": w.new_id("action"), "command": command, "status": "running",
            "progress": 0, "started": iso(now), "finished": None,
            "resources": [{"id": oid, "type": kind} for kind, oid in resources],
            "error": None, "_t0": now, "_finish_at": now + duration, "_duration": duration,
            "_locks": [list(lk) for lk in (locks if locks is not None else [])],
            "_on_success": on_success or [], "_on_error": on_error or [],
            "_fail": w.faults.action_fails(command),
        }
        w.put("action", a)
        for kind, oid in a["_locks"]:
            self.locks[(kind, oid)] = a["id"]
        if after is not None and after["status"] == "running":
            a["_after"] = after["id"]
            after.setdefault("_children", []).append(a["id"])
            w.touch("action", after["id"])
            if backend_call is not None and not a["_fail"]:
                self.deferred[a["id"]] = backend_call
                a["_backend"] = "deferred"
            return a  # the parent's _finish starts it
        self._start(a, backend_call, now)
        return a

    def _start(self, a: dict, backend_call, now: float) -> None:
        if backend_call is not None and not a["_fail"]:
            fn, args = backend_call
            if self.w.backend.blocking:
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
        with self.w.lock:
            a = self.w.objs["action"].get(aid)
            if a is None or a["status"] != "running":
                return
            a["_backend"] = "done"
            a["_backend_error"] = err
            a["_finish_at"] = max(a["_finish_at"], time.time())
            heapq.heappush(self.heap, (a["_finish_at"], aid))
            self.w.touch("action", aid)
            self.settle()
            self.w.commit()

    def settle(self) -> None:
        """Finish every action whose time has come, applying its effects."""
        if not self.heap or self.heap[0][0] > time.time():
            return
        now = time.time()
        actions = self.w.objs["action"]
        while self.heap and self.heap[0][0] <= now:
            t, aid = heapq.heappop(self.heap)
            a = actions.get(aid)
            if a is None or a["status"] != "running" or a.get("_backend") in ("pending",
                                                                               "deferred"):
                continue
            parent = actions.get(a.get("_after"))
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
        self._apply(patches)
        for kind, oid in a["_locks"]:
            if self.locks.get((kind, oid)) == a["id"]:
                del self.locks[(kind, oid)]
                self.w.touch(kind, oid)
        self.w.touch("action", a["id"])
        for cid in a.get("_children", []):
            child = self.w.objs["action"].get(cid)
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

    def _apply(self, patches: list) -> None:
        """An action's effects: ``[kind, id, fields]`` updates an object, ``None`` fields
        remove it."""
        for kind, oid, fields in patches:
            obj = self.w.objs[kind].get(oid)
            if obj is None:
                continue
            if fields is None:
                self.w.remove(kind, oid)
            else:
                obj.update(fields)
                self.w.touch(kind, oid)

    @staticmethod
    def action_json(a: dict) -> dict:
        progress = a["progress"]
        if a["status"] == "running":
            span = a["_finish_at"] - a["_t0"]
            progress = 0 if span <= 0 else min(99, int(100 * (time.time() - a["_t0"]) / span))
        return {"id": a["id"], "command": a["command"], "status": a["status"],
                "progress": progress, "started": a["started"], "finished": a["finished"],
                "resources": a["resources"], "error": a["error"]}

    def clear(self) -> None:
        self.heap.clear()
        self.locks.clear()
        self.deferred.clear()

    def close(self) -> None:
        if self.executor:
            self.executor.shutdown(wait=False, cancel_futures=True)
