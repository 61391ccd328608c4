"""The lab image store, the disk writer and the VM helpers, without booting a VM.

These run everywhere (no qemu boot, no root needed except where noted); the one that
writes a real server disk needs the cached disk image and is skipped (or fails under
NIXOS_HETZNER_LAB_REQUIRE_VMS=1) without it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.backends.qemu import QemuBackend, kill_stale
from lab.images import build as build_mod
from lab.images.disk import disk_holds_lab_image, mbr, write_server_disk
from lab.images.store import ImageMissing, find_image, list_images, require_image
from lab.vm import Disk, free_loopback, kill_pidfile, newc_archive
from vm_fixture import require_lab_image

needs = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("qemu-img", "sfdisk", "cpio", "debugfs", "mke2fs")),
    reason="needs qemu-img, sfdisk, cpio, debugfs, mke2fs")


# ------------------------------------------------------------------ the store

def _fake_image(root: Path, name: str, kind: str, built_at: float, files=True,
                recipe="r1") -> Path:
    d = root / "images" / name
    d.mkdir(parents=True)
    if files:
        for f in ["vmlinuz", "initrd.img"] + (["rootfs.ext4"] if kind == "disk" else []):
            (d / f).write_bytes(b"x")
    (d / "manifest.json").write_text(json.dumps({"kind": kind, "recipe": recipe,
                                                 "built_at": built_at}))
    return d


def test_store_takes_only_complete_images_newest_first(tmp_path, monkeypatch):
    monkeypatch.setenv("NIXOS_HETZNER_LAB_CACHE", str(tmp_path))
    assert find_image("rescue") is None
    with pytest.raises(ImageMissing, match="hcloud-lab images build --rescue"):
        require_image("rescue")
    # an interrupted build: a .tmp dir, even with every file, is never an image
    _fake_image(tmp_path, ".tmp-rescue-1-2", "rescue", 10)
    # a dir without its files (e.g. removed by hand) is not an image either
    _fake_image(tmp_path, "rescue-r1-aaa", "rescue", 20, files=False)
    assert find_image("rescue") is None
    old = _fake_image(tmp_path, "rescue-r1-bbb", "rescue", 30)
    new = _fake_image(tmp_path, "rescue-r2-ccc", "rescue", 40, recipe="r2")
    assert find_image("rescue").path == new
    assert find_image("rescue", recipe="r1").path == old
    assert [i.path for i in list_images("rescue")] == [new, old]
    assert find_image("disk") is None  # kinds do not mix
    with pytest.raises(ValueError):
        find_image("floppy")


def test_host_mirrors_reads_deb822_and_one_line_sources():
    deb822 = ("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\n\nTypes: deb\nURIs: http://sec.example/debian-security\n"
              "Suites: bookworm-security\nComponents: main\n\n"
              "Types: deb\nURIs: https://other.example/node\nSuites: nodistro\n")
    assert build_mod.host_mirrors([deb822]) == ("http://mirror.example/debian",
                                                "http://sec.example/debian-security")
    oneline = ("deb [arch=amd64] http://m2.example/debian/ bookworm main\n"
               "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    assert build_mod.host_mirrors([oneline])[0] == "http://m2.example/debian"
    assert build_mod.host_mirrors([]) == (build_mod.DEFAULT_MIRROR, build_mod.DEFAULT_SECURITY)


def test_recipe_enables_contrib_only_in_the_chroot_sources():
    lines = build_mod.source_lines()
    assert all(line.endswith("main contrib") for line in lines)
    assert {line.split()[2] for line in lines} == {"bookworm", "bookworm-updates",
                                                  "bookworm-security"}
    r = build_mod.recipe("rescue")
    assert "zfs-dkms" in r["packages"] and "cryptsetup" in r["packages"]
    assert build_mod.recipe_hash("rescue") != build_mod.recipe_hash("disk")


def test_images_status_cli_runs(tmp_path):
    env = dict(os.environ, NIXOS_HETZNER_LAB_CACHE=str(tmp_path))
    p = subprocess.run([str(Path(os.sys.executable).parent / "hcloud-lab"), "images", "status"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "rescue  not built" in p.stdout and "disk    not built" in p.stdout


# ------------------------------------------------------------------ disks

@needs
def test_mbr_has_one_partition_from_1mib_to_the_end(tmp_path):
    size = 40 * 10**9
    f = tmp_path / "d.raw"
    with open(f, "wb") as fh:
        fh.write(mbr(size))
        fh.truncate(size)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(f)], check=True,
                                      capture_output=True, text=True).stdout)["partitiontable"]
    assert table["label"] == "dos"
    (part,) = table["partitions"]
    assert part["start"] == 2048
    assert part["start"] + part["size"] == size // 512
    assert part["type"] == "83"
    with pytest.raises(Exception):
        mbr(512 * 100)


@needs
def test_disk_layout_detection(tmp_path):
    size = 256 * 2**20
    raw = tmp_path / "lab.raw"
    with open(raw, "wb") as fh:
        fh.write(mbr(size))
        fh.truncate(size)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-E", "offset=1048576", str(raw),
                    "200M"], check=True, capture_output=True)
    lab = tmp_path / "lab.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(lab)], check=True)
    assert disk_holds_lab_image(lab)
    blank = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "64M"], check=True)
    assert not disk_holds_lab_image(blank)
    # wiped partition 1 (what the storage layer does before partitioning anew)
    with open(raw, "r+b") as fh:
        fh.seek(2**20)
        fh.write(b"\0" * 4096)
    wiped = tmp_path / "wiped.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(wiped)], check=True)
    assert not disk_holds_lab_image(wiped)


@needs
@pytest.mark.vm  # needs the built disk image: runs in the VM phase, after the image build
def test_write_server_disk_injects_keys_hostname_and_host_keys(tmp_path):
    img = require_lab_image("disk")
    out = tmp_path / "disk.qcow2"
    hk = {"/etc/ssh/ssh_host_ed25519_key": b"PRIVATE\n",
          "/etc/ssh/ssh_host_ed25519_key.pub": b"ssh-ed25519 AAAA host\n"}
    write_server_disk(img, out, 3 * 10**9, ["ssh-ed25519 AAAAkey1 a", "ssh-rsa AAAAkey2 b "],
                      "web-1", hk)
    assert not out.with_name(out.name + ".tmp").exists()
    assert disk_holds_lab_image(out)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(out)],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["format"] == "qcow2" and info["virtual-size"] == 3 * 10**9
    raw = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "raw", str(out), str(raw)], check=True)
    target = f"{raw}?offset=1048576"

    def cat(path):
        return subprocess.run(["debugfs", "-R", f"cat {path}", target], check=True,
                              capture_output=True).stdout

    def mode(path):
        st = subprocess.run(["debugfs", "-R", f"stat {path}", target], check=True,
                            capture_output=True, text=True).stdout
        return st.split("Mode:")[1].split()[0], "User:     0" in st or "User:    0" in st

    assert cat("/root/.ssh/authorized_keys") == b"ssh-ed25519 AAAAkey1 a\nssh-rsa AAAAkey2 b\n"
    assert mode("/root/.ssh/authorized_keys") == ("0600", True)
    assert cat("/etc/hostname") == b"web-1\n"
    assert b"127.0.1.1 web-1" in cat("/etc/hosts")
    assert cat("/etc/ssh/ssh_host_ed25519_key") == b"PRIVATE\n"
    assert mode("/etc/ssh/ssh_host_ed25519_key")[0] == "0600"
    assert cat("/sbin/init") or cat("/lib/systemd/systemd")


# ------------------------------------------------------------------ VM helpers

@needs
def test_newc_archive_unpacks_with_cpio(tmp_path):
    data = newc_archive({"/root/.ssh/authorized_keys": (b"ssh-ed25519 AAAA x\n", 0o600),
                         "/etc/ssh/k": (b"", 0o644)},
                        {"/root": 0o700, "/root/.ssh": 0o700, "/etc": 0o755, "/etc/ssh": 0o755})
    assert len(data) % 512 == 0  # the zstd image that follows starts aligned
    (tmp_path / "a.cpio").write_bytes(data)
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet", "-F", str(tmp_path / "a.cpio")], cwd=dest,
                   check=True)
    f = dest / "root/.ssh/authorized_keys"
    assert f.read_bytes() == b"ssh-ed25519 AAAA x\n"
    assert f.stat().st_mode & 0o777 == 0o600
    assert (dest / "root/.ssh").stat().st_mode & 0o777 == 0o700
    assert (dest / "etc/ssh/k").read_bytes() == b""


def test_disk_by_id_names_match_hetzner():
    assert Disk(Path("x"), "drive-scsi0-0-0-0").by_id == \
        "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0"
    assert Disk(Path("x"), "4711", vendor="HC", product="Volume").by_id == \
        "/dev/disk/by-id/scsi-0HC_Volume_4711"


def test_kill_pidfile_only_kills_the_qemu_it_names(tmp_path):
    proc = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = tmp_path / "qemu.pid"
        pidfile.write_text(f"{proc.pid}\n")
        assert kill_pidfile(pidfile) is False  # not a qemu: left alone
        assert proc.poll() is None
        (tmp_path / "qemu" / "servers" / "5").mkdir(parents=True)
        (tmp_path / "qemu" / "servers" / "5" / "qemu.pid").write_text(f"{proc.pid}\n")
        assert kill_stale(tmp_path) == []
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_free_loopback_skips_busy_addresses():
    import socket
    host = free_loopback("127.0.11.", ports=(2222,))
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 2222))
        s.listen(1)
        other = free_loopback("127.0.11.", ports=(2222,))
        assert other != host
    finally:
        s.close()


def test_backend_rejects_a_budget_smaller_than_one_vm(tmp_path):
    with pytest.raises(ValueError, match="memory_budget_mb"):
        QemuBackend(tmp_path, vm_memory_mb=1024, memory_budget_mb=512)
    with pytest.raises(ValueError, match="vm_memory_mb"):
        QemuBackend(tmp_path, vm_memory_mb=64)


