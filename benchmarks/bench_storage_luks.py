#!/usr/bin/env python3
"""Benchmark: nixos_hetzner.vps.luks_device vs community.crypto.luks_device.

Everything runs in one lab rescue VM (real kernel, dm-crypt), in one run, with both sides
executed by the same ansible-playbook (ansible-core 2.21 from benchmarks/.venv-peers, which
holds community.crypto from the PyPI package ``ansible`` 14.x; ours comes from .collections).

1. **Data safety.** Two identical disks hold an ext4 filesystem with a file on it. Each
   module is asked for ``state: present`` with a passphrase (no force). Recorded as is:
   did the task fail or succeed, did the disk's SHA-256 change, what does ``blkid -p``
   find afterwards (ext4 or crypto_LUKS).
2. **No-op re-run.** Each side has its own LUKS2 container, already open; each module is
   re-run ``state: opened`` over it five times per playbook, ``--rounds`` playbooks per
   side, alternating. A counting wrapper on PATH logs every ``cryptsetup``, ``blkid``,
   ``wipefs``, ``lsblk`` and ``dmsetup`` the modules spawn; wall time per playbook run.

Usage (from the repository root; needs the lab rescue image, see `hcloud-lab images`):

    .venv/bin/python benchmarks/bench_storage_luks.py [--rounds 3] [--json benchmarks/out/bench_storage_luks.json]

It prints a Markdown summary for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import peer_versions  # noqa: E402
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import playbook_run  # noqa: E402
from vm_fixture import boot_rescue  # noqa: E402

PEERS = ROOT / "benchmarks" / ".venv-peers"
COUNT_DIR = "/root/count-luks"
TOOLS = ("cryptsetup", "blkid", "wipefs", "lsblk", "dmsetup")
PATH = COUNT_DIR + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASS = "benchmark passphrase"
COST = {"pbkdf_memory": 32768, "pbkdf_iterations": 4, "pbkdf_parallel": 1}
WRAP = r'''
set -e
mkdir -p {d}/bin
: > {d}/log
for t in {tools}; do
  real=$(command -v $t) || continue
  printf '#!/bin/sh\necho "%s $*" >> {d}/log\nexec %s "$@"\n' "$t" "$real" > {d}/bin/$t
  chmod +x {d}/bin/$t
done
'''.format(d=COUNT_DIR, tools=" ".join(TOOLS))


def ensure_peers():
    subprocess.run([str(ROOT / "benchmarks" / "setup-peers.sh")], check=True)
    playbook_run.BIN = PEERS / "bin"  # both sides run with the peer venv's ansible-playbook


def play(vm, inv, tasks):
    """One playbook run with the counting PATH; returns (results, seconds, calls)."""
    vm.ssh(": > %s/log" % COUNT_DIR, check=True)
    body = {"hosts": "rescue", "gather_facts": False, "environment": {"PATH": PATH},
            "tasks": tasks}
    t0 = time.monotonic()
    results, proc = playbook_run.run_playbook(body, inventory=str(inv), host="rescue",
                                                timeout=1800)
    seconds = time.monotonic() - t0
    if not results:
        raise RuntimeError("ansible-playbook produced no results:\n%s\n%s"
                           % (proc.stdout[-3000:], proc.stderr[-3000:]))
    _, out, _ = vm.ssh("cat %s/log" % COUNT_DIR, check=True)
    calls = [line.split() for line in out.splitlines() if line.strip()]
    return results, seconds, calls


def ours(device, **kw):
    args = dict(device=device, passphrase=PASS, **COST)
    args.update(kw)
    return {"nixos_hetzner.vps.luks_device": args}


def peer(device, **kw):
    args = dict(device=device, passphrase=PASS, pbkdf={"memory": COST["pbkdf_memory"],
                                                        "iteration_count": COST["pbkdf_iterations"],
                                                        "parallel": COST["pbkdf_parallel"],
                                                        "algorithm": "argon2id"})
    args.update(kw)
    return {"community.crypto.luks_device": args}


def sha_and_type(vm, dev):
    _, out, _ = vm.ssh("sha256sum %s | cut -d' ' -f1; blkid -p -o value -s TYPE %s" % (dev, dev))
    lines = out.split()
    return lines[0], (lines[1] if len(lines) > 1 else "(nothing)")


def outcome(res):
    if res.get("failed"):
        return "failed: " + " ".join(str(res.get("msg", "")).split())[:220]
    return "changed" if res.get("changed") else "ok (no change)"


def run_bench(vm, tmp, rounds):
    """Both measurements on a booted rescue VM; returns the report dict."""
    report = {"rounds": rounds, "peer_versions": peer_versions.read()}
    inv = vm.inventory(tmp / "inv.ini")
    vm.ssh(WRAP, check=True)
    # 1. data safety on ext4
    a, b = vm.add_disk(size_mb=64), vm.add_disk(size_mb=64)
    for dev in (a, b):
        vm.ssh("mkfs.ext4 -q -F -L precious %s && mkdir -p /mnt/x && mount %s /mnt/x && "
               "echo important > /mnt/x/data.txt && umount /mnt/x && sync" % (dev, dev),
               check=True)
    before = {"ours": sha_and_type(vm, a), "peer": sha_and_type(vm, b)}
    tasks = [dict(name="ours", ignore_errors=True, **ours(a)),
             dict(name="peer", ignore_errors=True, **peer(b))]
    results, _, _ = play(vm, inv, tasks)
    res = dict((r["_task"], r) for r in results)
    after = {"ours": sha_and_type(vm, a), "peer": sha_and_type(vm, b)}
    report["ext4"] = dict((side, {
        "outcome": outcome(res[side]),
        "disk_changed": before[side][0] != after[side][0],
        "blkid_before": before[side][1], "blkid_after": after[side][1]})
        for side in ("ours", "peer"))

    # 2. no-op re-run of state: opened
    c, d = vm.add_disk(size_mb=64), vm.add_disk(size_mb=64)
    setup = [dict(name="setup ours", **ours(c, state="opened", name="bench-ours")),
             dict(name="setup peer", **peer(d, state="opened", name="bench-peer"))]
    results, _, _ = play(vm, inv, setup)
    bad = [r for r in results if r.get("failed")]
    if bad:
        raise RuntimeError("setup failed: %s" % json.dumps(bad, default=str)[:3000])
    runs = {"ours": [], "peer": []}
    for _ in range(rounds):
        for side, dev, name, make in (("ours", c, "bench-ours", ours),
                                      ("peer", d, "bench-peer", peer)):
            tasks = [dict(name="%s %d" % (side, i), **make(dev, state="opened", name=name))
                     for i in range(5)]
            results, seconds, calls = play(vm, inv, tasks)
            runs[side].append({
                "seconds": seconds, "calls": len(calls),
                "changed": sum(1 for r in results if r.get("changed")),
                "failed": sum(1 for r in results if r.get("failed")),
                "by_tool": dict((t, sum(1 for c_ in calls if c_[0] == t)) for t in TOOLS)})
    report["noop"] = dict((side, {
        "median_seconds_per_5": statistics.median(r["seconds"] for r in rs),
        "processes_per_task": statistics.median(r["calls"] for r in rs) / 5.0,
        "by_tool_per_5": rs[0]["by_tool"], "changed": rs[0]["changed"],
        "failed": rs[0]["failed"], "runs": rs}) for side, rs in runs.items())
    vm.ssh("cryptsetup close bench-ours; cryptsetup close bench-peer; true")
    for dev in (a, b, c, d):
        vm.remove_disk(dev)
    return report


def run_host_loop(tmp):
    """Measurement 1 only, on the host: two loop devices over ext4 image files (real
    block devices; luksFormat needs no device-mapper). A fallback for when no lab VM
    can boot; the report says so."""
    devs = []
    try:
        for side in ("ours", "peer"):
            img = tmp / ("%s.img" % side)
            subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "precious", str(img)], check=True)
            dev = subprocess.run(["losetup", "--find", "--show", str(img)], check=True,
                                 capture_output=True, text=True).stdout.strip()
            devs.append(dev)

        def state(dev):
            sha = subprocess.run(["sha256sum", dev], capture_output=True, text=True).stdout.split()[0]
            typ = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", dev],
                                 capture_output=True, text=True).stdout.strip() or "(nothing)"
            return sha, typ
        before = {"ours": state(devs[0]), "peer": state(devs[1])}
        tasks = [dict(name="ours", ignore_errors=True, **ours(devs[0])),
                 dict(name="peer", ignore_errors=True, **peer(devs[1]))]
        results, proc = playbook_run.run_playbook(
            {"hosts": "localhost", "gather_facts": False, "tasks": tasks}, host="localhost")
        res = dict((r["_task"], r) for r in results)
        after = {"ours": state(devs[0]), "peer": state(devs[1])}
        return {"where": "host loop devices (%s)" % ", ".join(devs), "ext4": dict((side, {
            "outcome": outcome(res[side]), "disk_changed": before[side][0] != after[side][0],
            "blkid_before": before[side][1], "blkid_after": after[side][1]})
            for side in ("ours", "peer"))}
    finally:
        for dev in devs:
            subprocess.run(["losetup", "-d", dev])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--host-loop", action="store_true",
                    help="only the ext4 data-safety comparison, on host loop devices (no VM)")
    args = ap.parse_args()
    ensure_peers()
    if args.host_loop:
        with tempfile.TemporaryDirectory(prefix="bench-luks-") as tmp:
            report = run_host_loop(Path(tmp))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=1))
        print(markdown(report))
        return
    with tempfile.TemporaryDirectory(prefix="bench-luks-") as tmp:
        tmp = Path(tmp)
        vm = boot_rescue(tmp / "vm", name="bench-luks")
        try:
            report = run_bench(vm, tmp, args.rounds)
        finally:
            vm.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    print(markdown(report))


def markdown(r):
    e, n = r["ext4"], r.get("noop")
    if "where" in r:
        where = ("`benchmarks/bench_storage_luks.py --host-loop`, on %s, both modules run by "
                 "the same ansible-playbook (%s)." % (r["where"], peer_versions.describe(
                     "community.crypto", versions=r.get("peer_versions"))))
    else:
        where = ("`benchmarks/bench_storage_luks.py --rounds %d`, one lab rescue VM, both "
                 "modules run by the same ansible-playbook (%s)." % (r["rounds"], peer_versions.describe(
                     "community.crypto", versions=r.get("peer_versions"))))
    lines = [
        "### luks_device vs community.crypto.luks_device",
        "",
        where,
        "",
        "**A disk holding ext4**, `state: present` with a passphrase, no force:",
        "",
        "| module | outcome | disk changed | blkid -p before → after |",
        "|---|---|---|---|",
    ]
    for side, label in (("ours", "nixos_hetzner.vps.luks_device"),
                        ("peer", "community.crypto.luks_device")):
        x = e[side]
        lines.append("| %s | %s | %s | %s → %s |" % (label, x["outcome"].replace("|", "/"),
                                                       "yes" if x["disk_changed"] else "no",
                                                       x["blkid_before"], x["blkid_after"]))
    if not n:
        return "\n".join(lines)
    lines += [
        "",
        "**No-op re-run** of `state: opened` on an open container (5 tasks per playbook, "
        "median of %d playbooks per side):" % r["rounds"],
        "",
        "| module | wall time / 5 tasks (median) | processes per task | changed | failed |",
        "|---|---|---|---|---|",
    ]
    for side, label in (("ours", "nixos_hetzner.vps.luks_device"),
                        ("peer", "community.crypto.luks_device")):
        x = n[side]
        tools = ", ".join("%s %g" % (t, c / 5.0) for t, c in x["by_tool_per_5"].items() if c)
        lines.append("| %s | %.1f s | %.1f (%s) | %d/5 | %d/5 |" % (
            label, x["median_seconds_per_5"], x["processes_per_task"], tools or "-",
            x["changed"], x["failed"]))
    ratio = n["peer"]["median_seconds_per_5"] / max(n["ours"]["median_seconds_per_5"], 1e-9)
    lines += ["", "Wall-time ratio peer/ours: %.2f." % ratio]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
