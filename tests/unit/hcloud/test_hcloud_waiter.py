"""The batched action waiter with a fake transport and a fake clock."""
from __future__ import annotations

import pytest

from hcloud_fake_transport import make_fake_client, response
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_waiter import (
    ActionWaiter,
    action_timeout,
)


class FakeActions(object):
    """Actions that finish after a given number of polls; records every fetch."""

    def __init__(self, finish_after, fail=(), command="create_server"):
        self.finish_after = dict(finish_after)
        self.fail = set(fail)
        self.command = command
        self.fetches = []
        self.polls = dict((i, 0) for i in finish_after)

    def fetch(self, ids):
        self.fetches.append(list(ids))
        out = []
        for i in ids:
            self.polls[i] += 1
            status = "running"
            if self.polls[i] >= self.finish_after[i]:
                status = "error" if i in self.fail else "success"
            out.append({"id": i, "command": self.command, "status": status,
                        "error": {"code": "boom", "message": "it broke"} if status == "error" else None})
        return out


class Clock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s

    def __call__(self):
        return self.now


def test_polls_at_most_25_ids_per_request_and_each_action_once_per_round():
    actions = FakeActions(dict((i, 3) for i in range(1, 61)))
    clock = Clock()
    waiter = ActionWaiter(actions.fetch, sleep=clock.sleep, clock=clock)
    outcome = waiter.wait([{"id": i, "status": "running", "command": "create_server"} for i in range(1, 61)])
    assert outcome.ok and len(outcome.finished) == 60
    assert all(len(f) <= 25 for f in actions.fetches)
    assert len(actions.fetches) == 3 * 3  # 3 rounds x ceil(60/25) requests
    assert sorted(i for f in actions.fetches for i in f) == sorted(list(range(1, 61)) * 3)


def test_backoff_grows_and_is_capped():
    actions = FakeActions({1: 12})
    clock = Clock()
    waiter = ActionWaiter(actions.fetch, sleep=clock.sleep, clock=clock, start=0.2, factor=2, cap=1.0)
    waiter.wait([1])
    assert clock.sleeps[:4] == [0.2, 0.4, 0.8, 1.0]
    assert max(clock.sleeps) == 1.0 and len(clock.sleeps) == 12


def test_finished_actions_are_not_polled():
    actions = FakeActions({2: 1})
    clock = Clock()
    waiter = ActionWaiter(actions.fetch, sleep=clock.sleep, clock=clock)
    outcome = waiter.wait([{"id": 1, "status": "success"}, {"id": 2, "status": "running"}])
    assert actions.fetches == [[2]] and set(outcome.finished) == {1, 2}


def test_failed_action_is_reported_with_code_and_details():
    actions = FakeActions({1: 1, 2: 2}, fail={2})
    clock = Clock()
    waiter = ActionWaiter(actions.fetch, sleep=clock.sleep, clock=clock)
    outcome = waiter.wait([1, 2])
    assert set(outcome.finished) == {1} and set(outcome.failed) == {2}
    with pytest.raises(HcloudError) as exc:
        outcome.raise_for_failures("creating web2")
    assert exc.value.code == "boom"
    assert exc.value.msg.startswith("creating web2: action create_server (id 2) failed: it broke")
    assert exc.value.details["errors"][0]["action"]["id"] == 2


def test_timeout_depends_on_the_command():
    assert action_timeout("create_server") > action_timeout("start_server")
    assert action_timeout("rebuild_server") > action_timeout("reboot_server")
    actions = FakeActions({1: 10 ** 6}, command="start_server")
    clock = Clock()
    waiter = ActionWaiter(actions.fetch, sleep=clock.sleep, clock=clock)
    outcome = waiter.wait([{"id": 1, "status": "running", "command": "start_server"}])
    assert [a["id"] for a in outcome.timed_out] == [1]
    assert action_timeout("start_server") < clock.now < action_timeout("start_server") + 2
    assert outcome.errors()[0]["code"] == "action_timeout"


def test_waiter_uses_get_actions_with_ids_through_the_client():
    seen = []
    client, session, sleeps = make_fake_client([
        ("GET", "/actions", response(200, {"actions": [
            {"id": 7, "command": "start_server", "status": "success"},
            {"id": 8, "command": "start_server", "status": "success"}]}),
         lambda p, j: seen.append(p)),
    ])
    waiter = ActionWaiter.for_client(client, sleep=lambda s: None)
    outcome = waiter.wait([7, 8])
    assert outcome.ok
    assert seen[0]["id"] == [7, 8]


@pytest.mark.parametrize("started", ["1970-01-01T00:16:40+00:00",   # exact
                                     "1970-01-01T00:16:39+00:00"])  # rounded down a second
def test_progress_times_the_next_poll_for_the_expected_finish(started):
    # A 5 s action that reports linear progress (rounded down) and its start time.
    clock = Clock()
    start_wall = 1000.0
    fetches = []

    def fetch(ids):
        fetches.append(clock.now)
        elapsed = clock.now
        if elapsed >= 5.0:
            return [{"id": 1, "status": "success", "command": "create_server"}]
        return [{"id": 1, "status": "running", "command": "create_server",
                 "progress": int(100 * elapsed / 5.0), "started": started}]

    waiter = ActionWaiter(fetch, sleep=clock.sleep, clock=clock, wall=lambda: start_wall + clock.now)
    outcome = waiter.wait([{"id": 1, "status": "running", "command": "create_server"}])
    assert outcome.ok
    assert len(fetches) <= 5, fetches          # a fixed 0.2-1 s backoff would need 7+
    assert fetches[-1] <= 5.0 + 0.25, fetches  # and it does not overshoot the finish
    assert all(b > a for a, b in zip(fetches, fetches[1:]))


def test_estimate_remaining():
    from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_waiter import (
        estimate_remaining)
    a = {"progress": 49, "started": "2026-01-01T00:00:00+00:00"}
    import datetime
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    assert abs(estimate_remaining(a, t0 + 10) - 10.0) < 1e-6  # 50 % after 10 s: 10 s left
    assert estimate_remaining({"progress": 0, "started": "2026-01-01T00:00:00Z"}, t0 + 1) is None
    assert estimate_remaining({"progress": 50}, t0) is None
