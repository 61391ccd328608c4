"""Writes the lab disk image onto a server's disk, and recognises what a disk holds.

A server disk is a qcow2 file holding: an MBR partition table with one Linux partition
from 1 MiB to the end of the disk (as Hetzner's debian-12 image has), and in it the cached
ext4 root filesystem of the disk image.  Root's authorized_keys, the SSH host keys and the
hostname are written into the filesystem with debugfs before the first boot (no loop
mounts, no root filesystem access from the host); the guest grows the filesystem to the
partition on its first boot.
"""
from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

from ..vm import guest_tuning_files
from .store import Image

PART_START = 2048          # sectors (1 MiB)
SECTOR = 512
EXT4_MAGIC = 0xEF53


class DiskError(RuntimeError):
    pass


def mbr(size_bytes: int, disk_id: int = 0x4C414221) -> bytes:
    """A DOS partition table with partition 1 (type 83, bootable) spanning the disk."""
    sectors = size_bytes // SECTOR
    count = min(sectors - PART_START, 0xFFFFFFFF)
    if count <= 0:
        raise DiskError(f"disk of {size_bytes} bytes is too small")
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        PART_START, count)
    table = entry + b"\0" * 48
    return b"\0" * 440 + struct.pack("<IH", disk_id, 0) + table + b"\x55\xaa"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise DiskError(f"{cmd[0]} failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")
    return p


def _debugfs_put(target: str, files: dict[str, tuple[bytes, int]], tmp: Path) -> None:
    """Writes files (path -> (data, mode)) into the ext4 at target, owned by root."""
    script = []
    for i, (path, (data, mode)) in enumerate(sorted(files.items())):
        src = tmp / f"f{i}"
        src.write_bytes(data)
        parent = os.path.dirname(path)
        script += [f"mkdir {parent}", f"rm {path}", f"write {src} {path}",
                   f"sif {path} mode 0{0o100000 | mode:o}", f"sif {path} uid 0",
                   f"sif {path} gid 0"]
    cmdfile = tmp / "debugfs.cmd"
    cmdfile.write_text("\n".join(script) + "\n")
    p = subprocess.run(["debugfs", "-w", "-f", str(cmdfile), target], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise DiskError(f"debugfs failed: {p.stderr.strip()[-800:]}")
    for path in files:
        check = subprocess.run(["debugfs", "-R", f"stat {path}", target], capture_output=True,
                               text=True)
        if "Inode:" not in check.stdout:
            raise DiskError(f"debugfs did not write {path}: {check.stderr.strip()[-300:]}")


def write_server_disk(image: Image, out: Path, size_bytes: int, authorized_keys: Iterable[str],
                      hostname: str, host_keys: dict[str, bytes]) -> Path:
    """Writes a fresh server disk (qcow2, size_bytes) with the disk image on partition 1.
    The result appears atomically at out (written to out.tmp first)."""
    rootfs = image.rootfs
    fs_size = rootfs.stat().st_size
    if size_bytes < PART_START * SECTOR + fs_size:
        raise DiskError(f"disk of {size_bytes // 10**9} GB is smaller than the image "
                        f"({fs_size // 2**20} MiB)")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="lab-disk-", dir=out.parent) as td:
        tmp = Path(td)
        raw = tmp / "disk.raw"
        with open(raw, "wb") as f:
            f.write(mbr(size_bytes))
            f.truncate(size_bytes)
        _run(["dd", f"if={rootfs}", f"of={raw}", "bs=1M", f"seek={PART_START * SECTOR // 2**20}",
              "conv=sparse,notrunc", "status=none"])
        keys = "".join(k.strip() + "\n" for k in authorized_keys if k.strip()).encode()
        files: dict[str, tuple[bytes, int]] = {
            "/root/.ssh/authorized_keys": (keys, 0o600),
            "/etc/hostname": (hostname.encode() + b"\n", 0o644),
            "/etc/hosts": (f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n"
                           f"::1 localhost ip6-localhost ip6-loopback\n".encode(), 0o644),
        }
        for path, data in host_keys.items():
            files[path] = (data, 0o644 if path.endswith(".pub") else 0o600)
        files.update(guest_tuning_files())
        _debugfs_put(f"{raw}?offset={PART_START * SECTOR}", files, tmp)
        part = out.with_name(out.name + ".tmp")
        _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(part)])
        os.replace(part, out)
    return out


def disk_holds_lab_image(disk: Path) -> bool:
    """True if the disk still has the lab layout: an MBR whose partition 1 starts at 1 MiB
    and holds an ext4 filesystem with /sbin/init.  Anything else (wiped, GPT with LUKS,
    a NixOS install) is booted through the BIOS instead of the lab's kernel."""
    with tempfile.TemporaryDirectory(prefix="lab-peek-") as td:
        head = Path(td) / "head.raw"
        p = subprocess.run(["qemu-img", "dd", "-O", "raw", f"if={disk}", f"of={head}",
                            "bs=65536", "count=17"], capture_output=True, text=True)
        if p.returncode != 0:
            return False
        data = head.read_bytes()
    if len(data) < PART_START * SECTOR + 2048 or data[510:512] != b"\x55\xaa":
        return False
    ptype = data[446 + 4]
    start = struct.unpack("<I", data[446 + 8:446 + 12])[0]
    if ptype != 0x83 or start != PART_START:
        return False
    sb = data[PART_START * SECTOR + 1024:PART_START * SECTOR + 2048]
    return struct.unpack("<H", sb[0x38:0x3A])[0] == EXT4_MAGIC
