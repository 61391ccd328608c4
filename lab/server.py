"""HTTP front of the emulator: routing, bearer auth, per-token rate limiting, fault
injection, latency, request statistics and the out-of-band ``/__lab`` endpoints.

Plain standard library: ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive.
"""
from __future__ import annotations

import email.utils
import gzip
import json
import socketserver
import threading
import time
import uuid
from collections import Counter
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from . import api
from .errors import APIError
from .world import LabConfig, World

API_PREFIX = "/v1"


class Router:
    """Matches ``(method, path)`` against the route table's templates."""

    def __init__(self, routes):
        self.static: dict[tuple, tuple] = {}
        self.dynamic: dict[tuple, list] = {}
        self.paths: dict[str, set] = {}
        for method, template, handler in routes:
            segs = template.strip("/").split("/")
            full = API_PREFIX + template
            self.paths.setdefault(full, set()).add(method)
            if any(s.startswith("{") for s in segs):
                self.dynamic.setdefault((method, len(segs)), []).append((segs, handler, full))
            else:
                self.static[(method, tuple(segs))] = (handler, {}, full)

    def match(self, method: str, path: str):
        segs = path.strip("/").split("/")
        hit = self.static.get((method, tuple(segs)))
        if hit:
            return hit
        for tsegs, handler, full in self.dynamic.get((method, len(segs)), ()):
            params = {}
            for t, s in zip(tsegs, segs):
                if t.startswith("{"):
                    if not s:
                        break
                    params[t[1:-1]] = s
                elif t != s:
                    break
            else:
                # a literal route (e.g. /servers/actions) wins over /servers/{id}
                return handler, params, full
        return None, None, None


class RateLimiter:
    """Token bucket per token: ``limit`` capacity, ``refill`` tokens per second."""

    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.buckets: dict[str, list] = {}
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.buckets.clear()

    def take(self, token: str) -> tuple[bool, int, int, int]:
        """-> (allowed, limit, remaining, reset unix time)."""
        limit, refill = int(self.cfg.rate_limit), float(self.cfg.rate_refill)
        now = time.time()
        with self.lock:
            b = self.buckets.get(token)
            if b is None:
                b = self.buckets[token] = [float(limit), now]
            level = min(float(limit), b[0] + (now - b[1]) * refill)
            allowed = level >= 1.0
            if allowed:
                level -= 1.0
            b[0], b[1] = level, now
        missing = limit - level
        reset = int(now + (missing / refill if refill > 0 else 0) + 0.999)
        return allowed, limit, int(level), reset


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.requests: Counter = Counter()
            self.statuses: Counter = Counter()
            self.total = 0
            self.rate_limited = 0
            self.faults = 0
            self.started = time.time()

    def count(self, key: str) -> None:
        with self.lock:
            self.requests[key] += 1
            self.total += 1

    def answered(self, status: int, fault: bool = False) -> None:
        with self.lock:
            self.statuses[str(status)] += 1
            if status == 429:
                self.rate_limited += 1
            if fault:
                self.faults += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {"total": self.total, "requests": dict(self.requests),
                    "statuses": dict(self.statuses), "rate_limited": self.rate_limited,
                    "faults": self.faults, "since": self.started}


FAULT_CODES = {500: ("server_error", "internal server error (fault injected by the lab)"),
               502: ("bad_gateway", "bad gateway (fault injected by the lab)"),
               503: ("unavailable", "service unavailable (fault injected by the lab)"),
               504: ("timeout", "gateway timeout (fault injected by the lab)")}


class Lab:
    """Everything one emulator process serves: world, router, limiter, stats, tokens."""

    def __init__(self, world: World, tokens: list[str]):
        self.world = world
        self.config = world.config
        self.tokens = set(tokens)
        self.router = Router(api.ROUTES)
        self.limiter = RateLimiter(self.config)
        self.stats = Stats()

    def configure(self, changes: dict) -> dict:
        cfg = self.config
        known = set(cfg.__dataclass_fields__)
        unknown = set(changes) - known
        if unknown:
            raise APIError(400, "invalid_input", f"unknown config keys: {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(sorted(known))}")
        for k, v in changes.items():
            setattr(cfg, k, v)
        if {"seed", "fault_rate", "fault_kinds", "fault_actions"} & set(changes):
            self.world.faults.reseed(cfg)
        if {"rate_limit", "rate_refill"} & set(changes):
            self.limiter.reset()
        return cfg.to_dict()


class LabHandler(socketserver.StreamRequestHandler):
    """A small HTTP/1.1 handler (keep-alive, Content-Length bodies).  The standard
    BaseHTTPRequestHandler parses headers with the email package, which costs more
    than the whole API request; this one parses them with str.partition."""

    server: "LabHTTPServer"
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections are dropped after this

    @property
    def lab(self) -> Lab:
        return self.server.lab

    def handle(self):
        self.close_connection = False
        while not self.close_connection:
            try:
                line = self.rfile.readline(65537)
            except (OSError, ValueError):
                return
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            parts = line.decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                self.command, self.version = "GET", "HTTP/1.0"
                self.headers = {}
                self.close_connection = True
                self._send(400, {"error": {"code": "bad_request",
                                           "message": "malformed HTTP request line"}})
                return
            self.command, self.path, self.version = parts
            headers = {}
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            self.headers = headers
            conn = headers.get("connection", "").lower()
            self.close_connection = (conn == "close" if self.version == "HTTP/1.1"
                                     else conn != "keep-alive")
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._dispatch()

    # -- plumbing ---------------------------------------------------------------
    def _send(self, status: int, body, headers: Optional[dict] = None,
              gz_cache: Optional[dict] = None) -> None:
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        else:
            data = json.dumps(body).encode()
        headers = dict(headers or {})
        if len(data) > 1024 and "gzip" in self.headers.get("accept-encoding", ""):
            # like the real API behind its proxy: gzip when the client accepts it
            if gz_cache is not None:
                if "gz" not in gz_cache:
                    gz_cache["gz"] = gzip.compress(data, 6, mtime=0)
                data = gz_cache["gz"]
            else:
                data = gzip.compress(data, 1, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        head = [f"HTTP/1.1 {status} {reason}",
                f"Date: {email.utils.formatdate(usegmt=True)}"]
        if data or status != 204:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(data)}")
        for k, v in headers.items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            out += data
        self.wfile.write(out)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        try:
            n = int(self.headers.get("content-length") or 0)
        except ValueError:
            self.close_connection = True
            return b""
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/__lab"):
                self._lab(url)
            else:
                self._api(url)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- /v1 ------------------------------------------------------------------------
    def _api(self, url):
        raw = self._read_body()
        path = url.path
        handler, params, template = (None, None, None)
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            handler, params, template = self.lab.router.match(self.command, path[len(API_PREFIX):])
        self.lab.stats.count(f"{self.command} {template or '<unmatched>'}")
        headers = {"X-Correlation-Id": uuid.uuid4().hex[:16]}
        if self._refused(headers):
            return
        if handler is None:
            methods = self.lab.router.paths.get(path)
            msg = (f"method {self.command} is not allowed on {path}" if methods
                   else f"no such API route: {self.command} {path}")
            return self._error(APIError(404, "not_found", msg), headers)
        body = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return self._error(APIError(400, "json_error", f"invalid JSON in the request "
                                            f"body: {exc}"), headers)
        host = self.headers.get("host") or "%s:%d" % self.server.server_address[:2]
        req = api.Request(self.command, path, parse_qs(url.query, keep_blank_values=True),
                          body, params, base=f"http://{host}")
        self._call(handler, req, headers)

    def _refused(self, headers: dict) -> bool:
        """Token, rate limit, injected faults and latency, before any route runs: True
        when the request was answered (or dropped) here."""
        auth = self.headers.get("authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        allowed, limit, remaining, reset = self.lab.limiter.take(token or "<none>")
        headers.update({"RateLimit-Limit": limit, "RateLimit-Remaining": remaining,
                        "RateLimit-Reset": reset})
        if token not in self.lab.tokens:
            self._error(APIError(401, "unauthorized", "unable to authenticate: "
                                 "wrong or missing bearer token"), headers)
            return True
        if not allowed:
            self._error(APIError(429, "rate_limit_exceeded", "limit of "
                                 f"{limit} requests per token exceeded; retry after "
                                 "RateLimit-Reset"), headers)
            return True
        fault = self.lab.world.faults.request_fault()
        if fault == "timeout":
            self.lab.stats.answered(0, fault=True)
            time.sleep(float(self.lab.config.fault_timeout))
            self.close_connection = True
            return True
        if fault is not None:
            code, msg = FAULT_CODES.get(int(fault), ("server_error", "fault injected by the lab"))
            self._error(APIError(int(fault), code, msg), headers, fault=True)
            return True
        if self.lab.config.latency > 0:
            time.sleep(float(self.lab.config.latency))
        return False

    def _call(self, handler, req: api.Request, headers: dict) -> None:
        """Run a route's handler on the world (settled before, committed after)."""
        w = self.lab.world
        try:
            with w.lock:
                w.settle()
                try:
                    resp = handler(w, req)
                finally:
                    w.commit()
        except APIError as err:
            return self._error(err, headers)
        except Exception as exc:  # noqa: BLE001 - a bug; answer like the API would
            import traceback
            traceback.print_exc()
            return self._error(APIError(500, "server_error", f"internal error: {exc}"), headers)
        headers.update(resp.headers)
        self.lab.stats.answered(resp.status)
        self._send(resp.status, resp.body, headers, resp.memo)

    def _error(self, err: APIError, headers: dict, fault: bool = False):
        self.lab.stats.answered(err.status, fault=fault)
        self._send(err.status, err.payload(), headers)

    # -- /__lab ----------------------------------------------------------------------
    def _lab(self, url):
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return self._send(400, {"error": {"code": "json_error", "message": str(exc)}})
        route = (self.command, url.path.rstrip("/"))
        w = self.lab.world
        try:
            if route == ("GET", "/__lab/health"):
                return self._send(200, {"ok": True})
            if route == ("GET", "/__lab/stats"):
                snap = self.lab.stats.snapshot()
                with w.lock:
                    snap["world"] = {k: len(v) for k, v in w.objs.items()}
                snap["config"] = self.lab.config.to_dict()
                snap["backend"] = w.backend.info()
                return self._send(200, snap)
            if route == ("POST", "/__lab/reset"):
                if body.get("world"):
                    w.wipe()
                if body.get("stats", True):
                    self.lab.stats.reset()
                self.lab.limiter.reset()
                w.faults.reseed(self.lab.config)
                return self._send(200, {"ok": True})
            if route == ("GET", "/__lab/config"):
                return self._send(200, self.lab.config.to_dict())
            if route == ("POST", "/__lab/config"):
                return self._send(200, self.lab.configure(body))
            if route == ("GET", "/__lab/servers"):
                return self._send(200, {"servers": self._servers()})
        except APIError as err:
            return self._send(err.status, err.payload())
        self._send(404, {"error": {"code": "not_found",
                                   "message": f"no such lab route: {self.command} {url.path}"}})

    def _servers(self) -> list:
        """``GET /__lab/servers``: each server with its spec and the backend's view."""
        w = self.lab.world
        with w.lock:
            w.settle()
            w.commit()
            rows = []
            for s in w.objs["server"].values():
                spec = w.server_spec(s)
                rows.append({"id": s["id"], "name": s["name"], "status": s["status"],
                             "ipv4": spec.ipv4, "ipv6": spec.ipv6_network,
                             "rescue_enabled": s["rescue_enabled"],
                             "booted": s.get("_booted"),
                             "server_type": s["server_type"], "image": spec.image,
                             "locked": w.is_locked("server", s["id"]), "spec": spec})
        for r in rows:
            spec = r.pop("spec")
            try:
                r["backend"] = w.backend.server_info(spec)
            except Exception as exc:  # noqa: BLE001
                r["backend"] = {"error": str(exc)}
        return rows


class LabHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, lab: Lab):
        self.lab = lab
        super().__init__(address, LabHandler)


def serve(lab: Lab, host: str, port: int) -> LabHTTPServer:
    return LabHTTPServer((host, port), lab)
