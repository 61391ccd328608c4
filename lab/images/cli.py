"""``hcloud-lab images`` and ``hcloud-lab vms``: build and inspect the lab VM images, and
look at the VMs of a qemu-backed lab.

    hcloud-lab images build [--rescue] [--disk] [--standin] [--force]   build or reuse the cache
    hcloud-lab images status [--json]                        what is cached, where
    hcloud-lab images path KIND [--file NAME]                where a current image is
    hcloud-lab vms list --state-dir DIR [--json]             VMs, pids, IPs, console logs
    hcloud-lab vms console --state-dir DIR SERVER [-n N] [-f]  a server's console log
    hcloud-lab vms kill --state-dir DIR                      stop every VM a lab left behind
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .store import KINDS, cache_dir, images_dir, list_images


def register(sub) -> None:
    p = sub.add_parser("images", help="build and inspect the lab VM images (rescue, disk)")
    isub = p.add_subparsers(dest="images_command", required=True)

    b = isub.add_parser("build", help="build the images, or reuse the cached ones")
    b.add_argument("--rescue", action="store_true", help="the rescue image (ZFS, LUKS)")
    b.add_argument("--disk", action="store_true", help="the disk image (debian-12)")
    b.add_argument("--standin", action="store_true",
                   help="the stand-in system the lab installs where NixOS would go (not NixOS)")
    b.add_argument("--force", action="store_true",
                   help="build anew even if cached (re-resolves the package versions)")
    b.set_defaults(func=cmd_build)

    s = isub.add_parser("status", help="show the cached images")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    pa = isub.add_parser("path", help="print where a built image (or one of its files) is")
    pa.add_argument("kind", choices=KINDS)
    pa.add_argument("--file", help="one of the image's files, e.g. rootfs.tar.zst")
    pa.set_defaults(func=cmd_path)

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


# ------------------------------------------------------------------ images

def cmd_build(args) -> int:
    from .build import BuildError, build
    kinds = [k for k in KINDS if getattr(args, k)] or list(KINDS)
    t0 = time.monotonic()
    for kind in kinds:
        try:
            build(kind, force=args.force)
        except BuildError as exc:
            print(f"hcloud-lab images: building the {kind} image failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"hcloud-lab images: interrupted; no half-built {kind} image was kept",
                  file=sys.stderr)
            return 130
    print(f"images ready in {time.monotonic() - t0:.1f}s (cache {images_dir()})", flush=True)
    return 0


def cmd_path(args) -> int:
    from .build import recipe_hash
    from .store import find_image
    img = find_image(args.kind, recipe_hash(args.kind))
    if img is None:
        print(f"hcloud-lab images: no current {args.kind} image; build it with "
              f"`hcloud-lab images build --{args.kind}`", file=sys.stderr)
        return 1
    path = img.path / args.file if args.file else img.path
    if not path.exists():
        print(f"hcloud-lab images: {path} does not exist", file=sys.stderr)
        return 1
    print(path)
    return 0


def _describe(img) -> dict:
    m = img.manifest
    return {
        "kind": img.kind, "path": str(img.path), "recipe": m.get("recipe"),
        "packages_hash": m.get("packages_hash"), "kernel": m.get("kernel_version"),
        "built": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.get("built_at", 0))),
        "build_seconds": m.get("build_seconds"), "size_mib": round(img.size_bytes() / 2**20),
        "packages": len(m.get("packages", [])),
    }


def cmd_status(args) -> int:
    from .build import recipe_hash
    rows = []
    for kind in KINDS:
        imgs = list_images(kind)
        want = recipe_hash(kind)
        current = next((i for i in imgs if i.recipe == want), None)
        row = {"kind": kind, "current_recipe": want, "up_to_date": current is not None,
               "images": [_describe(i) for i in imgs]}
        rows.append(row)
    if args.json:
        print(json.dumps({"cache": str(cache_dir()), "images": rows}, indent=2))
        return 0
    print(f"cache {images_dir()}")
    for row in rows:
        if not row["images"]:
            print(f"  {row['kind']:<7} not built  (hcloud-lab images build --{row['kind']})")
            continue
        for d in row["images"]:
            state = "current" if d["recipe"] == row["current_recipe"] else \
                "stale recipe (rebuild: hcloud-lab images build --" + row["kind"] + ")"
            print(f"  {d['kind']:<7} {state}: kernel {d['kernel']}, {d['size_mib']} MiB, "
                  f"{d['packages']} packages, built {d['built']} in {d['build_seconds']}s")
            print(f"          {d['path']}")
    return 0


# ------------------------------------------------------------------ vms

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
    from ..backends.qemu import kill_stale
    killed = kill_stale(args.state_dir)
    print(f"stopped {len(killed)} VM(s)" + (f": servers {killed}" if killed else ""))
    return 0


def main(argv=None) -> int:  # python -m lab.images.cli ...
    parser = argparse.ArgumentParser(prog="hcloud-lab")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
