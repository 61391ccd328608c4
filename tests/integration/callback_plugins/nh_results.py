"""Aggregate callback for tests/integration/playbook_run.py (a test helper, not part of
the collection): appends one JSON object per task result (ok, failed, skipped,
unreachable) to the file named by NH_RESULTS_FILE."""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: nh_results
type: aggregate
short_description: write task results as JSON lines (test helper)
description: Writes one JSON line per task result to the file named by NH_RESULTS_FILE.
requirements: []
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "nh_results"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, status, result):
        path = os.environ.get("NH_RESULTS_FILE")
        if not path:
            return
        data = dict(result._result)
        entry = {"task": result._task.get_name(), "host": result._host.get_name(),
                 "status": status, "result": data}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)
