#!/usr/bin/env python3
"""Boot to SSH of the lab VM images under TCG: the rescue system and the debian-12 disk
image, each booted ``--rounds`` times one after another (nothing else of ours running), with
the median and the range. The target of the lab VM issue is at most 40 s.

The clock starts when qemu is started and stops at the first SSH command that succeeds
(``lab.vm.VM.wait_ssh``), so it includes the kernel, the initramfs unpack, systemd and sshd.
It also reports the host's load average before each boot, because TCG speed is the CPU
share qemu gets.

Usage (root; needs the cached images, ``hcloud-lab images build``):

    .venv/bin/python benchmarks/bench_boot.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.images.disk import write_server_disk  # noqa: E402
from lab.images.store import require_image  # noqa: E402
from lab.vm import (DISK_APPEND, RESCUE_APPEND, ROOT_DISK_SERIAL, VM, Disk,  # noqa: E402
                    free_loopback, host_keys, rescue_initrd, ssh_keygen)


def boot(kind: str, workdir: Path, key: Path, cpus: int = 1) -> float:
    pub = key.with_suffix(".pub").read_text()
    if kind == "rescue":
        img = require_image("rescue")
        initrd = rescue_initrd(img.initrd, workdir / "rescue-initrd.img", [pub],
                               workdir / "hostkeys")
        vm = VM("bench-rescue", workdir, kernel=img.kernel, initrd=initrd,
                append=RESCUE_APPEND, host=free_loopback("127.0.8."), memory_mb=1536, cpus=cpus,
                forwards=(22,), pdeathsig=True, key_path=key)
    else:
        img = require_image("disk")
        disk = write_server_disk(img, workdir / "disk.qcow2", 40 * 10**9, [pub], "bench",
                                 host_keys(workdir / "hostkeys"))
        vm = VM("bench-disk", workdir, kernel=img.kernel, initrd=img.initrd,
                append=DISK_APPEND, host=free_loopback("127.0.8."), memory_mb=1024, cpus=cpus,
                forwards=(22,), pdeathsig=True, key_path=key,
                disks=[Disk(path=disk, serial=ROOT_DISK_SERIAL, node="root", dev_id="root")])
    try:
        vm.start()
        return vm.wait_ssh(timeout=900)
    finally:
        vm.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=1, help="vCPUs per VM (the lab's default is 1)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-boot-") as tmp:
        key = ssh_keygen(Path(tmp) / "id_ed25519", comment="bench-boot")
        for kind in ("rescue", "disk"):
            times, loads = [], []
            for r in range(args.rounds):
                loads.append(os.getloadavg()[0])
                times.append(boot(kind, Path(tmp) / f"{kind}-{r}", key, args.cpus))
                print(f"{kind} boot {r + 1}: {times[-1]:.1f} s to SSH (load {loads[-1]:.2f})",
                      flush=True)
            rows.append((kind, statistics.median(times), min(times), max(times),
                         statistics.median(loads)))
    print(f"\nvCPUs per VM: {args.cpus}")
    print("\n| image | boot to SSH, median (s) | range (s) | load average before |")
    print("|---|---|---|---|")
    for kind, med, lo, hi, load in rows:
        print(f"| {kind} | {med:.1f} | {lo:.1f}–{hi:.1f} | {load:.2f} |")


if __name__ == "__main__":
    main()
