#!/usr/bin/env python3
"""Emulator throughput: GET /servers?per_page=50 with 500 servers in the world.

Starts its own ``hcloud-lab serve`` (API backend, temp state dir, free port, tiny time
scale, rate limit out of the way), creates the servers, waits until they are running,
then runs several rounds of a bounded load: C client processes, each with one keep-alive
HTTP/1.1 connection, request as fast as they can for D seconds.  Each request asks for a
different page (1..10), so the whole fleet is serialised.  Reports per round req/s and
latency, and the median over rounds.  ``--write`` puts the figures into the
"## Emulator throughput" section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_emulator.py [--servers 500] [--rounds 5]
        [--duration 3] [--clients 4] [--write]
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def start_lab(state: Path) -> tuple[subprocess.Popen, str, int]:
    exe = Path(sys.executable).parent / "hcloud-lab"
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "lab.cli"]) + [
        "serve", "--state-dir", str(state), "--port", "0", "--token", TOKEN,
        "--time-scale", "0.001", "--rate-limit", "100000000", "--rate-refill", "1000000"]
    log = open(state / "lab.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        text = (state / "lab.log").read_text(errors="replace")
        m = re.search(r"^endpoint http://([\d.]+):(\d+)/v1", text, re.M)
        if m:
            return proc, m.group(1), int(m.group(2))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"hcloud-lab did not start:\n{(state / 'lab.log').read_text()}")


def call(host, port, method, path, body=None):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    data = json.dumps(body) if body is not None else None
    conn.request(method, path, body=data, headers={"Authorization": f"Bearer {TOKEN}",
                                                    "Content-Type": "application/json"})
    r = conn.getresponse()
    payload = json.loads(r.read() or b"null")
    conn.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path} -> {r.status} {payload}")
    return payload


def populate(host, port, n: int) -> None:
    def one(i):
        call(host, port, "POST", "/v1/servers",
             {"name": f"bench-{i:04d}", "server_type": "cx23", "image": "debian-12",
              "labels": {"bench": "yes", "shard": str(i % 7)}})
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    deadline = time.time() + 120
    while time.time() < deadline:
        running = call(host, port, "GET", "/v1/servers?status=running&per_page=1")
        if running["meta"]["pagination"]["total_entries"] == n:
            return
        time.sleep(0.2)
    raise SystemExit("servers did not reach running")


def worker(host, port, duration, pages, start_at, gzip_ok, q):
    """One keep-alive connection, requests back to back.  A lean raw-socket client so
    that the load generator spends less CPU than the server it measures; every 50th
    answer is fully decoded and checked to hold 50 servers."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb")
    extra = "Accept-Encoding: gzip, deflate\r\n" if gzip_ok else ""
    reqs = [(f"GET /v1/servers?per_page=50&page={p} HTTP/1.1\r\nHost: {host}:{port}\r\n"
             f"Authorization: Bearer {TOKEN}\r\n{extra}\r\n").encode()
            for p in range(1, pages + 1)]
    lat = []
    errors = 0
    i = os.getpid()
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    n = 0
    while True:
        t0 = time.perf_counter()
        if time.time() >= end:
            break
        sock.sendall(reqs[i % pages])
        i += 1
        status = f.readline()
        length, gz = 0, False
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            k, _, v = h.partition(b":")
            k = k.lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"content-encoding":
                gz = v.strip() == b"gzip"
        body = f.read(length)
        n += 1
        if not status.startswith(b"HTTP/1.1 200"):
            errors += 1
        elif n % 50 == 1:
            data = gzip.decompress(body) if gz else body
            if json.loads(data)["servers"].__len__() != 50:
                errors += 1
        lat.append(time.perf_counter() - t0)
    sock.close()
    q.put((lat, errors))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_round(host, port, clients, duration, pages, server_pid, gzip_ok=True) -> dict:
    q = mp.Queue()
    cpu0 = cpu_seconds(server_pid)
    start_at = time.time() + 0.5
    procs = [mp.Process(target=worker, args=(host, port, duration, pages, start_at, gzip_ok, q))
             for _ in range(clients)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    cpu = cpu_seconds(server_pid) - cpu0
    lat = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    return {"requests": len(lat), "errors": errors, "rps": len(lat) / duration,
            "p50_ms": 1000 * lat[len(lat) // 2],
            "p95_ms": 1000 * lat[int(len(lat) * 0.95)],
            "cpu_ms": 1000 * cpu / max(1, len(lat))}


def write_results(text: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    doc = path.read_text()
    start = doc.index("## Emulator throughput")
    nxt = doc.find("\n## ", start + 5)
    end = nxt + 1 if nxt != -1 else len(doc)
    path.write_text(doc[:start] + text.rstrip() + "\n\n" + doc[end:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    proc, host, port = start_lab(state)
    try:
        t0 = time.time()
        populate(host, port, args.servers)
        setup_s = time.time() - t0
        pages = max(1, -(-args.servers // 50))
        rounds, plain = [], []
        for i in range(args.rounds):
            # alternate: gzip (what hcloud-python and hcloud-cli send) and identity
            r = run_round(host, port, args.clients, args.duration, pages, proc.pid, False)
            plain.append(r)
            print(f"round {i + 1} identity: {r['rps']:.0f} req/s  p50 {r['p50_ms']:.1f} ms  "
                  f"p95 {r['p95_ms']:.1f} ms  server CPU {r['cpu_ms']:.2f} ms/req  "
                  f"errors {r['errors']}", flush=True)
            r = run_round(host, port, args.clients, args.duration, pages, proc.pid, True)
            rounds.append(r)
            print(f"round {i + 1} gzip: {r['rps']:.0f} req/s  p50 {r['p50_ms']:.1f} ms  "
                  f"p95 {r['p95_ms']:.1f} ms  server CPU {r['cpu_ms']:.2f} ms/req  errors {r['errors']}",
                  flush=True)
        stats = call(host, port, "GET", "/__lab/stats")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(state, ignore_errors=True)
    med = statistics.median(r["rps"] for r in rounds)
    p50 = statistics.median(r["p50_ms"] for r in rounds)
    p95 = statistics.median(r["p95_ms"] for r in rounds)
    errors = sum(r["errors"] for r in rounds + plain)
    med_plain = statistics.median(r["rps"] for r in plain)
    cpu = statistics.median(r["cpu_ms"] for r in rounds + plain)
    counted = stats["requests"].get("GET /v1/servers", 0)
    verdict = "meets" if med >= 500 else "MISSES"
    print(f"median {med:.0f} req/s (target 500: {verdict}), p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"errors {errors}; identity (no gzip) median {med_plain:.0f} req/s; server CPU "
          f"{cpu:.2f} ms/req; populate {args.servers} servers {setup_s:.1f} s; "
          f"lab counted {counted} GET /v1/servers")
    if args.write:
        date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rows = "\n".join(
            f"| {i + 1} | {mode} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['cpu_ms']:.2f} | {r['errors']} |"
            for i in range(len(rounds))
            for mode, r in (("identity", plain[i]), ("gzip", rounds[i])))
        write_results(f"""## Emulator throughput

Script: `benchmarks/bench_emulator.py` (run: `.venv/bin/python benchmarks/bench_emulator.py
--write`). Date: {date}. Machine: {os.cpu_count()} cores (shared with other work),
Python {platform.python_version()}.

Method: one `hcloud-lab serve` (API backend, stdlib ThreadingHTTPServer, SQLite state)
with {args.servers} servers created through the API and running; then {args.rounds} rounds
of {args.duration:g} s in which {args.clients} client processes, each on one keep-alive HTTP/1.1
connection over loopback, send `GET /v1/servers?per_page=50&page=N` back to back (pages
1..{pages} in turn, every answer 50 servers, about 140 kB of JSON). Each round runs twice:
with `Accept-Encoding: gzip` (what hcloud-python's requests and hcloud-cli's Go client
send; the lab then answers gzip like the real API) and without (identity). Server CPU is
the lab process's utime+stime per request from /proc. The load generator is a lean
raw-socket client (every 50th answer is decoded and checked to hold 50 servers).

| round | encoding | req/s | p50 ms | p95 ms | server CPU ms/req | errors |
|---|---|---|---|---|---|---|
{rows}

**Median (gzip): {med:.0f} req/s** (target 500 req/s: {verdict}), p50 {p50:.1f} ms, p95
{p95:.1f} ms; **median (identity): {med_plain:.0f} req/s**. Median server CPU {cpu:.2f} ms per
request, i.e. one core could serve about {1000 / cpu:.0f} req/s. The machine was shared with
other work during the run (load average {os.getloadavg()[0]:.1f}), so these are lower bounds.
The lab's own counter (`GET /__lab/stats`) saw {counted} `GET /v1/servers` requests.
Creating the {args.servers} servers (8 parallel clients) took {setup_s:.1f} s.
""")
        print("wrote benchmarks/RESULTS.md")
    return 0 if min(med, med_plain) >= 500 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
