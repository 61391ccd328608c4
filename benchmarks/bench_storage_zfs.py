#!/usr/bin/env python3
"""Benchmark: nixos_hetzner.vps.zfs_dataset / zpool vs community.general.zfs / zpool.

Everything runs in one lab rescue VM (real kernel, real OpenZFS), in one run, with both
sides executed by the same ansible-playbook (ansible-core 2.21 from benchmarks/.venv-peers,
which holds the peers from the PyPI package ``ansible`` 14.x; ours comes from .collections).

1. **zfs no-op.** 10 datasets with 6 properties each (compression, atime, xattr, quota,
   recordsize, reservation; three of them sizes written as ``1G``/``16K``/``8M``) exist;
   each module is run over all 10 with the same properties, ``--rounds`` times, alternating.
   A counting wrapper for ``zfs`` and ``zpool`` sits first on the tasks' PATH and logs every
   invocation, so we count the processes each module spawns, plus the ``zfs set`` calls
   (writes on a run that should change nothing) and the wall time of the playbook run.
2. **zpool re-run.** Each module creates a mirror pool and is run again with the same
   arguments, once over ``/dev/disk/by-id`` names and once over ``/dev/mapper`` names (two
   LUKS2 mappings). The outcome of the second run is recorded as it is (ok/changed/failed
   and the message).

Usage (from the repository root; needs the lab rescue image, see `hcloud-lab images`):

    .venv/bin/python benchmarks/bench_storage_zfs.py [--rounds 3] [--json benchmarks/out/bench_storage_zfs.json]

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
sys.path.insert(0, str(ROOT / "benchmarks"))
import peer_versions  # noqa: E402
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import playbook_run  # noqa: E402
from vm_fixture import boot_rescue  # noqa: E402

PEERS = ROOT / "benchmarks" / ".venv-peers"
COUNT_DIR = "/root/count"
PATH = COUNT_DIR + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROPS = {"compression": "lz4", "atime": "off", "xattr": "sa", "quota": "1G", "recordsize": "16K",
         "reservation": "8M"}
N_DATASETS = 10
WRAP = r'''
set -e
mkdir -p {d}/bin
: > {d}/log
for t in zfs zpool; do
  real=$(command -v $t)
  printf '#!/bin/sh\necho "%s $*" >> {d}/log\nexec %s "$@"\n' "$t" "$real" > {d}/bin/$t
  chmod +x {d}/bin/$t
done
'''.format(d=COUNT_DIR)


def ensure_peers():
    subprocess.run([str(ROOT / "benchmarks" / "setup-peers.sh")], check=True)
    playbook_run.BIN = PEERS / "bin"  # run both sides with the peer venv's ansible-playbook


def play(vm, inv, tasks):
    """One playbook run on the VM with the counting PATH; returns (results, seconds, calls)."""
    vm.ssh(": > %s/log" % COUNT_DIR, check=True)
    body = {"hosts": "rescue", "gather_facts": False, "environment": {"PATH": PATH}, "tasks": tasks}
    t0 = time.monotonic()
    results, proc = playbook_run.run_playbook(body, inventory=str(inv), host="rescue", timeout=1800)
    seconds = time.monotonic() - t0
    if not results:
        raise RuntimeError("ansible-playbook produced no results:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
    rc, out, err = vm.ssh("cat %s/log" % COUNT_DIR, check=True)
    calls = [line.split() for line in out.splitlines() if line.strip()]
    return results, seconds, calls


def dataset_tasks(side):
    names = ["bench/ds%02d" % i for i in range(N_DATASETS)]
    if side == "ours":
        task = {"nixos_hetzner.vps.zfs_dataset": {"name": "{{ item }}", "properties": PROPS}}
    else:
        task = {"community.general.zfs": {"name": "{{ item }}", "state": "present",
                                          "extra_zfs_properties": PROPS}}
    task.update(name="%s no-op" % side, loop=names)
    return [task]


def bench_datasets(vm, inv, rounds):
    disk = vm.add_disk(size_mb=1024)
    vm.ssh("zpool create -f bench %s" % disk, check=True)
    # set-up (not measured): the datasets, created by ours
    res, _, _ = play(vm, inv, dataset_tasks("ours"))
    assert not res[0].get("failed"), res[0]
    runs = {"ours": [], "peer": []}
    for r in range(rounds):
        for side in ("ours", "peer"):
            res, seconds, calls = play(vm, inv, dataset_tasks(side))
            items = res[0].get("results", [])
            runs[side].append({
                "seconds": round(seconds, 2),
                "processes": len(calls),
                "zfs": sum(1 for c in calls if c[0] == "zfs"),
                "zpool": sum(1 for c in calls if c[0] == "zpool"),
                "zfs_set": sum(1 for c in calls if c[:2] == ["zfs", "set"]),
                "changed_items": sum(1 for i in items if i.get("changed")),
                "failed": bool(res[0].get("failed")),
                "commands": [" ".join(c) for c in calls[:12]] if r == 0 else None,
            })
    vm.ssh("zpool destroy -f bench", check=True)
    vm.remove_disk(disk)
    summary = {}
    for side, rs in runs.items():
        summary[side] = {
            "median_seconds": statistics.median(x["seconds"] for x in rs),
            "median_processes": statistics.median(x["processes"] for x in rs),
            "processes_per_dataset": statistics.median(x["processes"] for x in rs) / N_DATASETS,
            "median_zfs_set": statistics.median(x["zfs_set"] for x in rs),
            "changed_items": [x["changed_items"] for x in rs],
            "runs": rs,
        }
    summary["ratio_processes"] = summary["peer"]["median_processes"] / max(1, summary["ours"]["median_processes"])
    summary["ratio_seconds"] = summary["peer"]["median_seconds"] / summary["ours"]["median_seconds"]
    return summary


def pool_tasks(side, name, devices):
    if side == "ours":
        args = {"name": name, "vdevs": [{"type": "mirror", "devices": devices}]}
        mod = "nixos_hetzner.vps.zpool"
    else:
        args = {"name": name, "vdevs": [{"type": "mirror", "disks": devices}]}
        mod = "community.general.zpool"
    return [{"name": "%s create" % side, mod: args, "ignore_errors": True},
            {"name": "%s re-run" % side, mod: args, "ignore_errors": True}]


def outcome(r):
    if r.get("failed"):
        return "failed: " + str(r.get("msg", ""))[:300]
    return "changed" if r.get("changed") else "ok (no change)"


def clear(vm, devices):
    """Destroy the pool and wipe the devices, so the next module starts from blank ones."""
    vm.ssh("zpool destroy -f benchpool 2>/dev/null; true")
    for d in devices:
        vm.ssh("for p in %s %s-part1 %s-part9; do [ -e $p ] && zpool labelclear -f $p 2>/dev/null; done; "
               "wipefs -a -q %s; true" % (d, d, d, d))
    vm.ssh("udevadm settle 2>/dev/null; true")


def bench_pools(vm, inv):
    d1, d2 = vm.add_disk(size_mb=512), vm.add_disk(size_mb=512)
    d3, d4 = vm.add_disk(size_mb=512), vm.add_disk(size_mb=512)
    # the key goes to a tmpfs file once: two commands cannot both read it from one stdin
    vm.ssh("umask 077; cat > /run/bench.key", input="bench-passphrase", check=True)
    for d, n in ((d3, "bench-a"), (d4, "bench-b")):
        vm.ssh("cryptsetup luksFormat --batch-mode --type luks2 --pbkdf argon2id --pbkdf-memory 32768 "
               "--pbkdf-force-iterations 4 --pbkdf-parallel 1 --key-file /run/bench.key %s && "
               "cryptsetup open --key-file /run/bench.key %s %s" % (d, d, n), check=True)
    cases = {"by-id": [d1, d2], "/dev/mapper": ["/dev/mapper/bench-a", "/dev/mapper/bench-b"]}
    out = {}
    for label, devices in cases.items():
        out[label] = {}
        for side in ("peer", "ours"):
            clear(vm, devices)
            res, seconds, calls = play(vm, inv, pool_tasks(side, "benchpool", devices))
            by = {r["_task"]: r for r in res}
            out[label][side] = {"create": outcome(by["%s create" % side]),
                                "re-run": outcome(by["%s re-run" % side])}
    clear(vm, cases["by-id"] + cases["/dev/mapper"])
    vm.ssh("cryptsetup close bench-a; cryptsetup close bench-b; true")
    for d in (d1, d2, d3, d4):
        vm.remove_disk(d)
    return out


def markdown(data):
    z = data["zfs"]
    o, p = z["ours"], z["peer"]
    lines = [
        "### zfs_dataset vs community.general.zfs: no-op over %d datasets x %d properties" % (N_DATASETS, len(PROPS)),
        "",
        "Both sides run by the same ansible-playbook (%s), %d rounds." % (
            peer_versions.describe("community.general", versions=data.get("peer_versions")), data["rounds"]),
        "",
        "| | processes (zfs+zpool) per run | per dataset | `zfs set` on a no-op | items reported changed | wall time, median (s) |",
        "|---|---|---|---|---|---|",
        "| nixos_hetzner.vps.zfs_dataset | %g | %g | %g | %s | %.1f |" % (
            o["median_processes"], o["processes_per_dataset"], o["median_zfs_set"], o["changed_items"], o["median_seconds"]),
        "| community.general.zfs | %g | %g | %g | %s | %.1f |" % (
            p["median_processes"], p["processes_per_dataset"], p["median_zfs_set"], p["changed_items"], p["median_seconds"]),
        "",
        "Ratio peer/ours: %.1fx the processes, %.2fx the wall time (medians of %d rounds)." % (
            z["ratio_processes"], z["ratio_seconds"], len(o["runs"])),
        "",
        "### zpool vs community.general.zpool: second run with the same arguments",
        "",
        "| devices | module | first run | second run |",
        "|---|---|---|---|",
    ]
    for label, sides in data["zpool"].items():
        for side, name in (("ours", "nixos_hetzner.vps.zpool"), ("peer", "community.general.zpool")):
            r = sides[side]
            lines.append("| %s | %s | %s | %s |" % (label, name, r["create"].replace("|", "/"),
                                                     r["re-run"].replace("|", "/").replace("\n", " ")))
    return "\n".join(lines)


def save(path, data):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "bench_storage_zfs.json"))
    args = ap.parse_args()
    ensure_peers()
    with tempfile.TemporaryDirectory(prefix="bench-zfs-") as tmp:
        vm = boot_rescue(Path(tmp) / "vm", name="bench-zfs")
        try:
            inv = vm.inventory(Path(tmp) / "inv.ini")
            vm.ssh("sh -s", input=WRAP, check=True)
            rc, ver, _ = vm.ssh("zfs version | head -1; uname -r")
            data = {"zfs_version": ver.split(), "rounds": args.rounds,
                    "peer_versions": peer_versions.read()}
            data["zfs"] = bench_datasets(vm, inv, args.rounds)
            save(args.json, data)  # keep the first part if the second one fails
            data["zpool"] = bench_pools(vm, inv)
        finally:
            vm.close()
    save(args.json, data)
    print(markdown(data))
    print("\n(zfs %s; raw data: %s)" % (" / ".join(data["zfs_version"]), args.json))


if __name__ == "__main__":
    main()
