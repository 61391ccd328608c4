"""``hcloud-lab vms``: look at the VMs of a qemu-backed lab.

    hcloud-lab vms list --state-dir DIR [--json]             VMs, pids, IPs, console logs
    hcloud-lab vms console --state-dir DIR SERVER [-n N] [-f]  a server's console log
    hcloud-lab vms kill --state-dir DIR                      stop every VM a lab left behind
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def register(sub) -> None:
    v = sub.add_parser("vms", help="the VMs of a qemu-backed lab")
    vsub = v.add_subparsers(dest="vms_command", required=True)
    lst = vsub.add_parser("list", help="VMs with status, IP, pid and console log")
    lst.add_argument("--state-dir", required=True, type=Path)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_vms_list)
    con = vsub.add_parser("console", help="print a server's console log")
    con.add_argument("--state-dir", required=True, type=Path)
    con.add_argument("server", help="server id or name")
    con.add_argument("-n", "--lines", type=int, default=60, help="last N lines (0: all)")
    con.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    con.set_defaults(func=cmd_vms_console)
    kill = vsub.add_parser("kill", help="stop every VM below the state dir (after a crash)")
    kill.add_argument("--state-dir", required=True, type=Path)
    kill.set_defaults(func=cmd_vms_kill)


def _server_dirs(state_dir: Path) -> list[Path]:
    root = state_dir / "qemu" / "servers"
    if not root.is_dir():
        return []
    return sorted((d for d in root.iterdir() if d.is_dir() and d.name.isdigit()),
                  key=lambda d: int(d.name))


def _vm_row(d: Path) -> dict:
    meta = {}
    try:
        meta = json.loads((d / "server.json").read_text())
    except (OSError, ValueError):
        pass
    pid, running = None, False
    try:
        pid = int((d / "qemu.pid").read_text().split()[0])
        running = Path(f"/proc/{pid}").exists()
    except (OSError, ValueError, IndexError):
        pass
    booted = None
    if running:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            booted = "rescue" if any(b"rdinit=" in c for c in cmd) else \
                ("disk" if b"-kernel" in cmd else "bios")
        except OSError:
            pass
    return {"id": int(d.name), "name": meta.get("name"), "ipv4": meta.get("ipv4"),
            "vm": "running" if running else "stopped", "pid": pid if running else None,
            "booted": booted, "console_log": str(d / "console.log"),
            "disk": str(d / "disk.qcow2")}


def cmd_vms_list(args) -> int:
    rows = [_vm_row(d) for d in _server_dirs(args.state_dir)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no VMs below {args.state_dir}")
        return 0
    print(f"{'ID':>6}  {'NAME':<20} {'VM':<8} {'BOOTED':<7} {'IPV4':<15} {'PID':>7}  CONSOLE")
    for r in rows:
        print(f"{r['id']:>6}  {str(r['name'] or '-'):<20} {r['vm']:<8} "
              f"{str(r['booted'] or '-'):<7} {str(r['ipv4'] or '-'):<15} "
              f"{str(r['pid'] or '-'):>7}  {r['console_log']}")
    return 0


def cmd_vms_console(args) -> int:
    dirs = _server_dirs(args.state_dir)
    match = [d for d in dirs if d.name == args.server or _vm_row(d)["name"] == args.server]
    if not match:
        known = ", ".join(f"{r['id']} ({r['name']})" for r in map(_vm_row, dirs)) or "none"
        print(f"no server {args.server!r} below {args.state_dir}; known: {known}",
              file=sys.stderr)
        return 1
    log = match[0] / "console.log"
    if not log.exists():
        print(f"{log} does not exist yet (the server never booted)", file=sys.stderr)
        return 1
    lines = log.read_text(errors="replace").splitlines()
    if args.lines:
        lines = lines[-args.lines:]
    print("\n".join(lines), flush=True)
    if args.follow:
        with open(log, errors="replace") as f:
            f.seek(0, os.SEEK_END)
            try:
                while True:
                    chunk = f.read()
                    if chunk:
                        sys.stdout.write(chunk)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                return 0
    return 0


def cmd_vms_kill(args) -> int:
    from .qemu import kill_stale
    killed = kill_stale(args.state_dir)
    print(f"stopped {len(killed)} VM(s)" + (f": servers {killed}" if killed else ""))
    return 0
