"""``GET /servers/{id}/metrics`` with the API's series names and shapes.  The values
are modelled (a deterministic load curve per server, zero while it is not running).
"""
from __future__ import annotations

from .. import catalog
from ..errors import invalid
from ..world import iso
from .base import ok


METRIC_SERIES = {
    "cpu": ("cpu",),
    "disk": ("disk.0.iops.read", "disk.0.iops.write", "disk.0.bandwidth.read",
             "disk.0.bandwidth.write"),
    "network": ("network.0.pps.in", "network.0.pps.out", "network.0.bandwidth.in",
                "network.0.bandwidth.out"),
}
_METRIC_SCALE = {"cpu": 100.0, "iops": 400.0, "bandwidth": 4.0e6, "pps": 900.0}
MAX_METRIC_POINTS = 5000


def _when(value, field_name: str) -> float:
    from datetime import datetime
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid({field_name: f"{value!r} is not an ISO-8601 timestamp"})
    if dt.tzinfo is None:
        raise invalid({field_name: f"{value!r} needs a time zone (e.g. +00:00 or Z)"})
    return dt.timestamp()


def _metric_value(sid: int, series: str, ts: float, cores: int) -> float:
    import math
    import zlib
    kind = "cpu" if series == "cpu" else series.split(".")[2]
    phase = (zlib.crc32(f"{sid}:{series}".encode()) % 1000) / 1000.0
    wave = 0.5 + 0.35 * math.sin(2 * math.pi * (ts / 3600.0 + phase))
    noise = (zlib.crc32(f"{sid}:{series}:{int(ts)}".encode()) % 1000) / 1000.0 * 0.15
    value = _METRIC_SCALE[kind] * min(1.0, wave * 0.4 + noise)
    return value * cores if kind == "cpu" else value


def get_server_metrics(w, req):
    s = w.get("server", req.params["id"])
    types = [t for v in req.qs("type") for t in v.split(",") if t]
    if not types:
        raise invalid({"type": "is required: cpu, disk and/or network"})
    bad = [t for t in types if t not in METRIC_SERIES]
    if bad:
        raise invalid({"type": f"unknown metric type {bad[0]!r}; use cpu, disk or network"})
    if req.q("start") is None or req.q("end") is None:
        raise invalid({"start": "start and end are required"})
    start, end = _when(req.q("start"), "start"), _when(req.q("end"), "end")
    if end <= start:
        raise invalid({"end": "must be after start"})
    step = req.q("step")
    try:
        step = float(step) if step is not None else max(1.0, float(int((end - start) / 200)))
    except ValueError:
        raise invalid({"step": f"{step!r} is not a number of seconds"})
    if step <= 0:
        raise invalid({"step": "must be positive"})
    if (end - start) / step > MAX_METRIC_POINTS:
        raise invalid({"step": f"too many points; at most {MAX_METRIC_POINTS} per series"})
    cores = catalog.SERVER_TYPE_BY_NAME[s["server_type"]]["cores"]
    created = _when(s["created"], "created")
    running = s["status"] == "running"
    stamps = []
    t = start
    while t <= end:
        stamps.append(t)
        t += step
    series = {}
    for mtype in dict.fromkeys(types):
        for name in METRIC_SERIES[mtype]:
            series[name] = {"values": [
                [ts, f"{_metric_value(s['id'], name, ts, cores):.4f}"
                 if running and ts >= created else "0"] for ts in stamps]}
    return ok({"metrics": {"start": iso(start), "end": iso(end), "step": step,
                           "time_series": series}})


ROUTES = [("GET", "/servers/{id}/metrics", get_server_metrics)]
