"""Aggregate callback for benchmarks/bench_fleet.py (a benchmark helper, not part of the
collection): records when plays and task results happen. It writes one JSON line per event
(play start, task start, each host's result, end of the run) with a wall-clock time to the
file named by BENCH_TIMING_FILE, so the benchmark can tell the time spent in the task from
Ansible's own start-up."""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timing
type: aggregate
short_description: write event times as JSON lines (benchmark helper)
description: Writes one JSON line per play, task and result event to BENCH_TIMING_FILE.
requirements: []
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, event, **data):
        path = os.environ.get("BENCH_TIMING_FILE")
        if not path:
            return
        data.update(event=event, t=time.time())
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(data, default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._write("play_start")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write("task_start", task=task.get_name())

    def _result(self, status, result):
        self._write("result", status=status, host=result._host.get_name(),
                    changed=bool(result._result.get("changed")),
                    msg=str(result._result.get("msg", ""))[:500] if status != "ok" else "")

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        self._write("end")
