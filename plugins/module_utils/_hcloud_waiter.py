# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""A batched waiter for Hetzner Cloud actions.

One job: wait for many actions at once. Each poll is ONE request,
``GET /actions?id=1&id=2…`` with at most 25 ids (the API's page size is respected),
so waiting for 50 server creations costs two requests per round, not fifty. Between
rounds the interval grows exponentially up to a cap. Rate limits (429 +
``RateLimit-Reset``), ``locked`` and 5xx answers are handled underneath by the client's
retry layer (``_hcloud_client.RetryingTransport``), so nothing is retried twice.

When the API reports ``progress`` and ``started`` (it does for long actions), the next poll
is timed for when the slowest-but-nearest action should finish, extrapolating its progress
linearly (conservatively: progress is rounded down by the API, so one point is added);
otherwise the interval backs off exponentially up to a cap. Several batches of one round
are fetched in parallel.

Every action gets a timeout from its ``command``: creating or rebuilding a server may take
minutes, a power action only seconds (``TIMEOUTS``; the caller may override per id).

Usage::

    waiter = ActionWaiter.for_client(client)
    outcome = waiter.wait([create["action"], *create["next_actions"]])
    outcome.raise_for_failures()      # or inspect outcome.failed / outcome.timed_out

``fetch``, ``sleep`` and ``clock`` are injectable so unit tests can drive the waiter with
a fake transport and a fake clock.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError

BATCH = 25
POLL_START = 0.2
POLL_FACTOR = 1.5
POLL_CAP = 1.0
#: Longest sleep planned from a progress estimate.
ESTIMATE_CAP = 10.0

#: Seconds to wait for an action, by command. Long for create/rebuild, short for power.
TIMEOUTS = {
    "create_server": 900.0,
    "rebuild_server": 900.0,
    "change_server_type": 1200.0,
    "create_image": 1800.0,
    "create_volume": 300.0,
    "resize_volume": 300.0,
    "delete_server": 300.0,
    "start_server": 120.0,
    "stop_server": 120.0,
    "shutdown_server": 180.0,
    "reboot_server": 120.0,
    "reset_server": 120.0,
    "enable_rescue": 120.0,
    "disable_rescue": 120.0,
}
DEFAULT_TIMEOUT = 300.0


def action_timeout(command):
    return TIMEOUTS.get(command or "", DEFAULT_TIMEOUT)


class WaitOutcome(object):
    """What became of the actions: ``finished`` / ``failed`` map id -> action dict,
    ``timed_out`` is a list of the last seen action dicts."""

    def __init__(self):
        self.finished = {}
        self.failed = {}
        self.timed_out = []
        self.polls = 0

    @property
    def ok(self):
        return not self.failed and not self.timed_out

    def errors(self):
        """One HcloudError-shaped dict (msg, code, details) per failed or timed-out action."""
        out = []
        for action in self.failed.values():
            err = action.get("error") or {}
            out.append(dict(
                msg="action %s (id %s) failed: %s" % (action.get("command"), action.get("id"),
                                                      err.get("message", "no message")),
                code=err.get("code") or "action_failed",
                details={"action": action}))
        for action in self.timed_out:
            out.append(dict(
                msg="action %s (id %s) did not finish within %ss" % (
                    action.get("command"), action.get("id"), int(action_timeout(action.get("command")))),
                code="action_timeout", details={"action": action}))
        return out

    def raise_for_failures(self, context=None):
        errors = self.errors()
        if errors:
            first = errors[0]
            msg = first["msg"] if len(errors) == 1 else "%d actions failed; first: %s" % (len(errors), first["msg"])
            if context:
                msg = context + ": " + msg
            raise HcloudError(msg, code=first["code"],
                              details={"errors": [dict(msg=e["msg"], code=e["code"], **e["details"]) for e in errors]})


def _parse_time(text):
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def estimate_remaining(action, now, seen=None):
    """Seconds until ``action`` should finish, from its progress, or None if unknown.

    ``seen`` is the wall time at which the caller first saw the action (just after issuing
    it). ``started`` may be rounded down to whole seconds, which would overstate the elapsed
    time; the later of the two is used, so the estimate errs towards polling early."""
    progress = action.get("progress")
    started = _parse_time(action.get("started"))
    if seen is not None:
        started = seen if started is None else max(started, seen)
    if not isinstance(progress, (int, float)) or started is None or not 0 < progress < 100:
        return None
    elapsed = now - started
    if elapsed <= 0:
        return None
    done = min(100.0, progress + 1.0)  # the API rounds progress down
    return elapsed * (100.0 - done) / done


def _as_dict(action):
    if action is None:
        return None
    if isinstance(action, dict):
        return action
    if isinstance(action, int):
        return {"id": action, "status": "running"}
    data = getattr(action, "data_model", action)  # hcloud BoundAction / Action
    return {"id": data.id, "command": getattr(data, "command", None),
            "status": getattr(data, "status", "running"), "error": getattr(data, "error", None),
            "progress": getattr(data, "progress", None)}


class ActionWaiter(object):
    def __init__(self, fetch, sleep=time.sleep, clock=time.monotonic, wall=time.time,
                 start=POLL_START, factor=POLL_FACTOR, cap=POLL_CAP, parallel=4):
        """``fetch(ids) -> list of action dicts`` makes one request for up to 25 ids.
        ``wall`` is the wall clock that the actions' ``started`` times are compared with."""
        self._fetch = fetch
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self.start, self.factor, self.cap = start, factor, cap
        self.parallel = parallel

    def _next_sleep(self, pending, interval, seen):
        now = self._wall()
        estimates = [e for e in (estimate_remaining(a, now, seen.get(aid))
                                 for aid, a in pending.items()) if e is not None]
        if estimates:
            return min(ESTIMATE_CAP, max(self.start, min(estimates)))
        return interval

    def _fetch_all(self, ids):
        batches = [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]
        if len(batches) == 1 or self.parallel <= 1:
            return [self._fetch(b) for b in batches]
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(batches))) as pool:
            return list(pool.map(self._fetch, batches))

    @classmethod
    def for_client(cls, client, **kwargs):
        def fetch(ids):
            data = client.request("GET", "/actions", params={"id": list(ids), "per_page": BATCH})
            return data.get("actions") or []
        return cls(fetch, **kwargs)

    def wait(self, actions, timeouts=None, on_done=None):
        """Wait for every action (dicts with ``id``/``command``/``status``, hcloud actions or
        bare ids). ``timeouts`` maps id -> seconds and overrides the per-command default.
        ``on_done(action)``, if given, is called as each action ends (success or error), from
        the polls the wait makes anyway: it costs no request. Returns a :class:`WaitOutcome`;
        never raises for a failed action."""
        outcome = WaitOutcome()
        timeouts = timeouts or {}
        seen = {}  # local: one waiter may serve several threads at once
        seen_at = self._wall()
        pending = {}
        started = self._clock()
        for action in actions:
            action = _as_dict(action)
            if action is None or action.get("id") is None:
                continue
            if action.get("status") == "success":
                outcome.finished[action["id"]] = action
            elif action.get("status") == "error":
                outcome.failed[action["id"]] = action
            else:
                pending[action["id"]] = action
                seen[action["id"]] = seen_at
        interval = self.start
        delay = self._next_sleep(pending, interval, seen)
        while pending:
            self._sleep(delay)
            interval = min(self.cap, interval * self.factor)
            for batch in self._fetch_all(sorted(pending)):
                for action in batch:
                    aid = action.get("id")
                    if aid not in pending:
                        continue
                    if action.get("status") in ("success", "error"):
                        (outcome.finished if action["status"] == "success" else outcome.failed)[aid] = action
                        del pending[aid]
                        if on_done is not None:
                            on_done(action)
                    else:
                        pending[aid] = dict(pending[aid], **action)
                outcome.polls += 1
            delay = self._next_sleep(pending, interval, seen)
            elapsed = self._clock() - started
            for aid in list(pending):
                action = pending[aid]
                limit = timeouts.get(aid, action_timeout(action.get("command")))
                if elapsed > limit:
                    outcome.timed_out.append(action)
                    del pending[aid]
        return outcome

    def wait_or_raise(self, actions, context=None, timeouts=None):
        """Like :meth:`wait`, but raise :class:`HcloudError` if any action failed."""
        outcome = self.wait(actions, timeouts=timeouts)
        outcome.raise_for_failures(context)
        return outcome
