"""``hcloud-lab``: run and inspect the Hetzner Cloud API emulator.

    hcloud-lab serve --state-dir DIR --port PORT --token TOKEN [--backend api|qemu] ...
    hcloud-lab status --state-dir DIR
    hcloud-lab down --state-dir DIR

Subcommands are registered by functions ``register(subparsers)``; ``lab.images.cli`` adds
``hcloud-lab images`` and ``lab.backends.vms`` adds ``hcloud-lab vms``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path

from .backends import vms
from .images import cli as images_cli

INFO_FILE = "lab.json"


def _kv(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k, v


def _parse_fault_actions(items) -> dict:
    out = {}
    for item in items or []:
        cmd, _, p = item.partition("=")
        out[cmd] = float(p) if p else 1.0
    return out


def register_serve(sub) -> None:
    p = sub.add_parser("serve", help="serve the emulated API on 127.0.0.1:PORT/v1")
    p.add_argument("--state-dir", required=True, type=Path,
                   help="directory for lab.sqlite, lab.json and backend files")
    p.add_argument("--port", type=int, default=8480, help="TCP port on 127.0.0.1 (0: any free)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.x.y.z)")
    p.add_argument("--token", action="append", required=True,
                   help="accepted bearer token (repeatable)")
    p.add_argument("--backend", default="api", help="server backend: api (default) or qemu")
    p.add_argument("--backend-opt", action="append", type=_kv, default=[], metavar="KEY=VALUE",
                   help="backend-specific option (repeatable)")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="factor applied to nominal action durations (0.01 = 100x faster)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to each /v1 answer")
    p.add_argument("--rate-limit", type=int, default=3600, help="token bucket size per token")
    p.add_argument("--rate-refill", type=float, default=1.0, help="bucket refill per second")
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="fraction of /v1 answers replaced by 500/502/503/504/timeout")
    p.add_argument("--fault-kinds", default="500,502,503,504,timeout",
                   help="comma list of fault kinds to draw from")
    p.add_argument("--fault-timeout", type=float, default=5.0,
                   help="seconds a 'timeout' fault holds the connection before closing it")
    p.add_argument("--fault-action", action="append", metavar="COMMAND[=P]",
                   help="make actions COMMAND (or '*') end in error with probability P (1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault decisions")
    p.add_argument("--allow-retired-types", action="store_true",
                   help="create servers of deprecated types past their unavailable_after "
                        "(tests of fleets that still run them)")
    p.add_argument("--ipv4-base", default="127.0.0.2",
                   help="first public IPv4 handed out (inside 127.0.0.0/8)")
    p.set_defaults(func=cmd_serve)


def _config(args):
    from .world import LabConfig
    kinds = []
    for k in args.fault_kinds.split(","):
        k = k.strip()
        if k:
            kinds.append(k if k == "timeout" else int(k))
    return LabConfig(time_scale=args.time_scale, latency=args.latency,
                     rate_limit=args.rate_limit, rate_refill=args.rate_refill,
                     fault_rate=args.fault_rate, fault_kinds=kinds,
                     fault_timeout=args.fault_timeout,
                     fault_actions=_parse_fault_actions(args.fault_action), seed=args.seed,
                     allow_retired_types=args.allow_retired_types)


def cmd_serve(args) -> int:
    from .backends import get_backend
    from .server import Lab, serve
    from .world import World

    if not args.host.startswith("127."):
        print(f"hcloud-lab: refusing to bind {args.host}: the lab serves loopback only",
              file=sys.stderr)
        return 2
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    cfg = _config(args)
    try:
        backend = get_backend(args.backend, state, **dict(args.backend_opt))
    except ValueError as exc:
        print(f"hcloud-lab: {exc}", file=sys.stderr)
        return 2
    world = World(state, backend, cfg, ipv4_base=args.ipv4_base)
    lab = Lab(world, args.token)
    try:
        httpd = serve(lab, args.host, args.port)
    except OSError as exc:
        print(f"hcloud-lab: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        world.close()
        backend.close()
        return 1
    port = httpd.server_address[1]
    endpoint = f"http://{args.host}:{port}/v1"
    world.resume_backend()
    info = {"pid": os.getpid(), "endpoint": endpoint, "port": port, "host": args.host,
            "backend": args.backend, "state_dir": str(state)}
    (state / INFO_FILE).write_text(json.dumps(info) + "\n")

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"endpoint {endpoint}", flush=True)
    print(f"state {state} backend {args.backend} pid {os.getpid()}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        try:
            backend.close()
        finally:
            world.close()
            try:
                (state / INFO_FILE).unlink()
            except FileNotFoundError:
                pass
    print("hcloud-lab: stopped", flush=True)
    sys.stderr.flush()
    # Do not wait for backend worker threads still blocked in a call (their actions are
    # ended in error at the next start); the backend's close() has stopped its VMs.
    os._exit(0)


def register_status(sub) -> None:
    p = sub.add_parser("status", help="show the servers of a running lab")
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    info_path = args.state_dir / INFO_FILE
    if not info_path.exists():
        print(f"no lab running for {args.state_dir} ({info_path} missing)", file=sys.stderr)
        return 1
    info = json.loads(info_path.read_text())
    base = info["endpoint"].rsplit("/v1", 1)[0]
    try:
        with urllib.request.urlopen(f"{base}/__lab/servers", timeout=10) as r:
            servers = json.load(r)["servers"]
        with urllib.request.urlopen(f"{base}/__lab/stats", timeout=10) as r:
            stats = json.load(r)
    except OSError as exc:
        print(f"lab at {base} (pid {info['pid']}) does not answer: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"lab": info, "servers": servers, "stats": stats}, indent=2))
        return 0
    print(f"endpoint {info['endpoint']}  backend {info['backend']}  pid {info['pid']}  "
          f"requests {stats['total']}  429s {stats['rate_limited']}")
    print(f"{'ID':>8}  {'NAME':<24} {'STATUS':<13} {'IPV4':<15} {'RESCUE':<7} {'BOOTED':<7} INFO")
    for s in servers:
        extra = " ".join(f"{k}={v}" for k, v in (s.get("backend") or {}).items()
                         if k != "backend")
        print(f"{s['id']:>8}  {s['name']:<24} {s['status']:<13} {s['ipv4']:<15} "
              f"{'yes' if s['rescue_enabled'] else 'no':<7} {str(s.get('booted') or '-'):<7} {extra}")
    return 0


def register_down(sub) -> None:
    p = sub.add_parser("down", help="stop the lab of a state dir and any VM it left behind")
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--timeout", type=float, default=60,
                   help="seconds to wait after SIGTERM before SIGKILL")
    p.set_defaults(func=cmd_down)


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie waiting for its parent counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def cmd_down(args) -> int:
    import time

    info_path = args.state_dir / INFO_FILE
    if info_path.exists():
        pid = json.loads(info_path.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + args.timeout
            while _alive(pid):
                if time.time() > deadline:
                    print(f"pid {pid} ignored SIGTERM for {args.timeout:g}s; sending SIGKILL")
                    os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.2)
        except ProcessLookupError:
            pass
        print(f"lab (pid {pid}) stopped")
        info_path.unlink(missing_ok=True)
    else:
        print(f"no lab running for {args.state_dir}")
    try:  # VMs a crashed qemu lab may have left running
        from .backends.qemu import kill_stale
    except ImportError:
        return 0
    killed = kill_stale(args.state_dir)
    if killed:
        print(f"killed stale VMs of servers {', '.join(map(str, killed))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcloud-lab", description="Run and inspect the Hetzner Cloud API emulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    register_serve(sub)
    register_status(sub)
    register_down(sub)
    images_cli.register(sub)
    vms.register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
