"""Pytest fixtures for the Hetzner Cloud API emulator (``hcloud-lab``), shared by every suite.

tests/conftest.py imports everything from here, so any test can ask for:

``lab_server`` (session scope)
    One ``hcloud-lab serve`` subprocess (API backend, free port, temporary state dir,
    time scale 0.01 so a 20 s create takes 0.2 s), stopped at the end of the session.
``lab`` (function scope)
    The same server after ``reset(world=True)`` and the default configuration: an empty
    world, zeroed request counters, full rate-limit buckets, no faults, no latency.

Both yield a ``LabProcess``:

    lab.endpoint            "http://127.0.0.1:PORT/v1"  (give it to hcloud / modules)
    lab.token               "lab-token"
    lab.base                "http://127.0.0.1:PORT"     (for /__lab/...)
    lab.state_dir           Path of the lab's state (lab.sqlite, lab.json, lab.log)
    lab.client(**kw)        hcloud.Client on the lab (fast polling; kw go to hcloud.Client)
    lab.stats()             GET /__lab/stats -> {"total", "requests": {"GET /v1/servers": n,
                            ...}, "statuses", "rate_limited", "faults", "world", "config"}
    lab.calls(method, tpl)  count of one route, e.g. lab.calls("GET", "/v1/actions")
    lab.reset(world=True)   zero the counters (and wipe the world)
    lab.configure(**kw)     POST /__lab/config: time_scale, latency (s), rate_limit,
                            rate_refill (/s), fault_rate, fault_kinds ([500, 502, 503, 504,
                            "timeout"]), fault_timeout (s), fault_actions ({"create_server":
                            1.0}), seed, durations ({"create_server": 20.0})
    lab.request(method, path, body=None, token=..., raw=None)
                            raw HTTP without hcloud: -> (status, headers dict, parsed JSON
                            or None); ``path`` is relative to the endpoint ("/servers")
    lab.servers()           GET /__lab/servers (status, IPs, rescue, backend info)

``start_lab(**opts)`` (a context manager, not a fixture) starts a private server process
for tests that need their own: restarts and persistence (pass the same ``state_dir``),
other backends (``backend="qemu"``), other flags (``extra_args=[...]``).  Options:
``state_dir`` (default: a new temp dir, removed afterwards), ``token``, ``time_scale``,
``backend``, ``ipv4_base``, ``extra_args``, ``ready_timeout``, ``env``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOKEN = "lab-token"
DEFAULT_TIME_SCALE = 0.01
DEFAULT_CONFIG = {
    "time_scale": DEFAULT_TIME_SCALE, "latency": 0.0, "rate_limit": 3600, "rate_refill": 1.0,
    "fault_rate": 0.0, "fault_kinds": [500, 502, 503, 504, "timeout"], "fault_timeout": 5.0,
    "fault_actions": {}, "seed": 0, "durations": {}, "allow_retired_types": False,
}

__all__ = ["LabProcess", "start_lab", "lab_server", "lab", "DEFAULT_TOKEN"]


def _hcloud_lab_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "hcloud-lab"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "lab.cli"]


class LabProcess:
    def __init__(self, proc: subprocess.Popen, endpoint: str, token: str, state_dir: Path,
                 time_scale: float):
        self.proc = proc
        self.endpoint = endpoint
        self.base = endpoint.rsplit("/v1", 1)[0]
        self.token = token
        self.state_dir = state_dir
        self.time_scale = time_scale

    # -- API clients ---------------------------------------------------------------------
    def client(self, **kw):
        import hcloud
        kw.setdefault("poll_interval", 0.05)
        kw.setdefault("poll_max_retries", 2400)
        return hcloud.Client(token=kw.pop("token", self.token), api_endpoint=self.endpoint, **kw)

    def request(self, method: str, path: str, body=None, token: str | None = "",
                raw: bytes | None = None, timeout: float = 30):
        """Raw HTTP to ``endpoint + path``.  token="" means the lab's token, None none."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        tok = self.token if token == "" else token
        if tok is not None:
            req.add_header("Authorization", f"Bearer {tok}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, headers, payload = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, headers, payload = e.code, dict(e.headers), e.read()
        return status, headers, (json.loads(payload) if payload else None)

    # -- out of band ---------------------------------------------------------------------
    def _lab(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def stats(self) -> dict:
        return self._lab("GET", "/__lab/stats")

    def calls(self, method: str, template: str) -> int:
        return self.stats()["requests"].get(f"{method} {template}", 0)

    def reset(self, world: bool = True) -> None:
        self._lab("POST", "/__lab/reset", {"world": world, "stats": True})

    def configure(self, **kw) -> dict:
        return self._lab("POST", "/__lab/config", kw)

    def servers(self) -> list:
        return self._lab("GET", "/__lab/servers")["servers"]

    # -- lifecycle -------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@contextlib.contextmanager
def start_lab(state_dir: Path | str | None = None, token: str = DEFAULT_TOKEN,
              time_scale: float = DEFAULT_TIME_SCALE, backend: str = "api",
              ipv4_base: str | None = None, extra_args=(), ready_timeout: float = 60,
              env: dict | None = None):
    """Start ``hcloud-lab serve`` on a free port; yield a LabProcess; always stop it."""
    tmp = None
    if state_dir is None:
        tmp = tempfile.mkdtemp(prefix="hcloud-lab-")
        state_dir = tmp
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "lab.log"
    cmd = _hcloud_lab_cmd() + ["serve", "--state-dir", str(state_dir), "--port", "0",
                               "--token", token, "--backend", backend,
                               "--time-scale", str(time_scale)]
    if ipv4_base:
        cmd += ["--ipv4-base", ipv4_base]
    cmd += [str(a) for a in extra_args]
    penv = dict(os.environ)
    penv["PYTHONPATH"] = str(ROOT) + os.pathsep + penv.get("PYTHONPATH", "")
    penv.update(env or {})
    log = open(log_path, "ab")
    offset = log.tell()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), env=penv,
                            start_new_session=True)
    try:
        deadline = time.time() + ready_timeout
        endpoint = None
        while time.time() < deadline and endpoint is None:
            if proc.poll() is not None:
                break
            with open(log_path, "rb") as f:
                f.seek(offset)
                for line in f.read().decode(errors="replace").splitlines():
                    if line.startswith("endpoint "):
                        endpoint = line.split()[1]
            if endpoint is None:
                time.sleep(0.05)
        if endpoint is None:
            out = log_path.read_bytes()[offset:].decode(errors="replace")
            raise RuntimeError(f"hcloud-lab did not start (exit {proc.poll()}):\n{out}")
        yield LabProcess(proc, endpoint, token, state_dir, time_scale)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_server():
    with start_lab() as server:
        yield server


@pytest.fixture
def lab(lab_server):
    if not lab_server.alive():
        pytest.fail("the session's hcloud-lab process died; see "
                    + str(lab_server.state_dir / "lab.log"))
    lab_server.configure(**DEFAULT_CONFIG)
    lab_server.reset(world=True)
    yield lab_server
