"""The lab's qemu backend, end to end: the real ``hcloud`` library talks to ``hcloud-lab
serve --backend qemu`` over HTTP, and every server is a real VM reached over SSH at its
127.0.x.y address.  Tests run in file order and share one lab (VM boots are expensive);
each test leaves its server in a known state for the next.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from lab.backends.qemu import kill_stale
from lab.vm import SSH_OPTS, ssh_keygen
from lab_fixture import start_lab
from vm_fixture import require_lab_image

pytestmark = [pytest.mark.vm, pytest.mark.slow]

IPV4_BASE = "127.0.10.2"
SSH_TIMEOUT = float(os.environ.get("NIXOS_HETZNER_LAB_SSH_TIMEOUT", "1500"))


# ------------------------------------------------------------------ helpers

class Guest:
    """SSH to a lab server as root with the test key."""

    def __init__(self, host: str, key: Path):
        self.host, self.key = host, key

    def ssh(self, cmd: str, timeout: float = 300, input: bytes | None = None):
        p = subprocess.run(["ssh", *SSH_OPTS, "-i", str(self.key), f"root@{self.host}", cmd],
                           capture_output=True, timeout=timeout, input=input)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def run(self, cmd: str, timeout: float = 600, input: bytes | None = None) -> str:
        rc, out, err = self.ssh(cmd, timeout, input)
        assert rc == 0, f"{cmd!r} failed on {self.host} (rc {rc}): {err}{out}"
        return out

    def wait(self, timeout: float = SSH_TIMEOUT, console: Path | None = None) -> float:
        t0 = time.monotonic()
        while True:
            try:
                if self.ssh("true", timeout=60)[0] == 0:
                    return time.monotonic() - t0
            except subprocess.TimeoutExpired:
                pass
            if console is not None and console.exists():
                boot = console.read_text(errors="replace").rsplit("===== lab:", 1)[-1]
                for marker in ("Kernel panic - not syncing", "Initramfs unpacking failed"):
                    if marker in boot:
                        pytest.fail(f"{self.host}: the boot failed ({marker}):\n"
                                    + "\n".join(boot.splitlines()[-30:]))
            if time.monotonic() - t0 > timeout:
                tail = ""
                if console is not None and console.exists():
                    tail = "\n".join(console.read_text(errors="replace").splitlines()[-40:])
                pytest.fail(f"no SSH on {self.host} after {timeout:.0f}s; console:\n{tail}")
            time.sleep(2)

    def down(self) -> bool:
        try:
            return self.ssh("true", timeout=20)[0] != 0
        except subprocess.TimeoutExpired:
            return True


def finish(action, client) -> None:
    """Waits for an action (bound or plain) and asserts it succeeded."""
    deadline = time.monotonic() + 900
    while True:
        a = client.actions.get_by_id(action.id)
        if a.status != "running":
            assert a.status == "success", f"action {a.command} ended {a.status}: {a.error}"
            return
        assert time.monotonic() < deadline, f"action {a.command} still running after 900s"
        time.sleep(1)


def backend_info(lab, server_id: int) -> dict:
    for s in lab.servers():
        if s["id"] == server_id:
            return s.get("backend") or {}
    raise AssertionError(f"server {server_id} not in /__lab/servers")


def pid_alive(pid) -> bool:
    return pid is not None and Path(f"/proc/{pid}").exists()


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def qlab(tmp_path_factory):
    require_lab_image("disk")
    require_lab_image("rescue")
    state = tmp_path_factory.mktemp("qlab")
    try:
        with start_lab(state_dir=state, backend="qemu", time_scale=0.01, ipv4_base=IPV4_BASE,
                       extra_args=["--backend-opt", "memory_budget_mb=3072"]) as lab:
            yield lab
    finally:
        kill_stale(state)  # nothing may outlive the test, even after a crash


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> Path:
    return ssh_keygen(tmp_path_factory.mktemp("keys") / "id_ed25519", "lab-vm-tests")


@pytest.fixture(scope="module")
def client(qlab):
    return qlab.client(poll_interval=1, poll_max_retries=900)


@pytest.fixture(scope="module")
def sshkey(client, key):
    return client.ssh_keys.create(name="vm-tests", public_key=key.with_suffix(".pub").read_text())


@pytest.fixture(scope="module")
def server1(client, sshkey, key, qlab):
    resp = client.servers.create(name="vm1", server_type=ServerType(name="cx23"),
                                 image=Image(name="debian-12"), ssh_keys=[sshkey],
                                 location=Location(name="fsn1"))
    for action in [resp.action, *resp.next_actions]:  # start_server runs after the create
        finish(action, client)
    server = client.servers.get_by_id(resp.server.id)
    guest = Guest(server.public_net.ipv4.ip, key)
    guest.wait(console=Path(backend_info(qlab, server.id)["console_log"]))
    return server, guest


# ------------------------------------------------------------------ tests

def test_create_boots_debian_with_the_requested_key_and_sda(server1, qlab):
    server, guest = server1
    assert server.status == "running"
    assert server.public_net.ipv4.ip.startswith("127.0.10.")
    out = guest.run("hostname; . /etc/os-release; echo $VERSION_CODENAME; "
                    "lsblk -bdno NAME,SIZE /dev/sda; readlink -f "
                    "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0; "
                    "findmnt -no SOURCE /")
    hostname, codename, sda, byid, root = out.split("\n")[:5]
    assert hostname == "vm1"
    assert codename == "bookworm"
    name, size = sda.split()
    assert name == "sda" and int(size) == 40 * 10**9  # cx23: 40 GB disk
    assert byid == "/dev/sda"
    assert root == "/dev/sda1"
    info = backend_info(qlab, server.id)
    assert info["vm"] == "running" and info["booted"] == "disk"
    assert pid_alive(info["pid"])
    assert Path(info["console_log"]).read_text(errors="replace").count("Linux version") >= 1


def test_volume_attaches_as_sdb_and_detaches(server1, client, qlab):
    server, guest = server1
    resp = client.volumes.create(size=10, name="vol1", location=Location(name="fsn1"))
    finish(resp.action, client)
    vol = resp.volume
    try:
        finish(vol.attach(server), client)
        dev = f"/dev/disk/by-id/scsi-0HC_Volume_{vol.id}"
        assert client.volumes.get_by_id(vol.id).linux_device == dev
        deadline = time.monotonic() + 120
        while guest.ssh(f"test -e {dev}")[0] != 0:
            assert time.monotonic() < deadline, guest.run("ls -l /dev/disk/by-id; lsblk")
            time.sleep(2)
        assert guest.run(f"readlink -f {dev}").strip() == "/dev/sdb"
        assert int(guest.run("lsblk -bdno SIZE /dev/sdb").strip()) == 10 * 2**30
        finish(vol.detach(), client)
        deadline = time.monotonic() + 120
        while guest.ssh("test -e /dev/sdb")[0] == 0:
            assert time.monotonic() < deadline, "sdb still present after detach"
            time.sleep(2)
    finally:
        v = client.volumes.get_by_id(vol.id)
        if v.server is not None:
            finish(v.detach(), client)
        v.delete()


def test_power_cycle(server1, client, qlab):
    server, guest = server1
    console = Path(backend_info(qlab, server.id)["console_log"])
    boot_id = guest.run("cat /proc/sys/kernel/random/boot_id").strip()

    finish(server.power_off(), client)
    assert client.servers.get_by_id(server.id).status == "off"
    info = backend_info(qlab, server.id)
    assert info["vm"] == "stopped"
    assert guest.down()

    finish(server.power_on(), client)
    assert client.servers.get_by_id(server.id).status == "running"
    guest.wait(console=console)
    boot2 = guest.run("cat /proc/sys/kernel/random/boot_id").strip()
    assert boot2 != boot_id

    finish(server.reboot(), client)  # ACPI reboot (Ctrl-Alt-Del): a new boot
    guest.wait(console=console)
    boot3 = guest.run("cat /proc/sys/kernel/random/boot_id").strip()
    assert boot3 != boot2

    finish(server.shutdown(), client)  # ACPI power button: the guest powers off
    assert client.servers.get_by_id(server.id).status == "off"
    assert backend_info(qlab, server.id)["vm"] == "stopped"
    finish(server.power_on(), client)
    guest.wait(console=console)


def test_rescue_luks_and_zfs_on_sda_then_failed_boot_then_rebuild(server1, client, sshkey,
                                                                 qlab):
    server, guest = server1
    console = Path(backend_info(qlab, server.id)["console_log"])
    resp = server.enable_rescue(type="linux64", ssh_keys=[sshkey.id])
    finish(resp.action, client)
    assert client.servers.get_by_id(server.id).rescue_enabled is True
    finish(server.reset(), client)
    # rescue is cleared once that boot happened, as the API documents
    assert client.servers.get_by_id(server.id).rescue_enabled is False
    assert backend_info(qlab, server.id)["booted"] == "rescue"
    guest.wait(console=console)
    assert guest.run("hostname").strip() == "rescue"
    assert guest.run("findmnt -no FSTYPE /").strip() in ("rootfs", "tmpfs", "ramfs")

    # real LUKS2 and real ZFS on the server's disk
    guest.run("wipefs -a /dev/sda", timeout=120)
    guest.run("cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 "
              "--pbkdf-force-iterations 1000 --key-file=- /dev/sda", input=b"lab-secret")
    guest.run("cryptsetup open --key-file=- /dev/sda crypt0", input=b"lab-secret")
    guest.run("zpool create -f -o ashift=12 -O mountpoint=none tank /dev/mapper/crypt0",
              timeout=600)
    guest.run("zfs create -o mountpoint=/mnt/data tank/data && echo hello > /mnt/data/f")
    dump = guest.run("cryptsetup luksDump /dev/sda")
    assert re.search(r"^Version:\s*2\s*$", dump, re.M), dump
    assert guest.run("zpool list -H -o name,health tank").split() == ["tank", "ONLINE"]
    assert guest.run("zpool get -H -o value ashift tank").strip() == "12"
    assert guest.run("cat /mnt/data/f").strip() == "hello"
    guest.run("zpool export tank && cryptsetup close crypt0")

    # The disk now holds LUKS, no boot loader: a normal boot fails visibly.
    finish(server.reset(), client)
    info = backend_info(qlab, server.id)
    assert info["booted"] == "bios"
    deadline = time.monotonic() + 120
    while "No bootable device" not in console.read_text(errors="replace"):
        assert time.monotonic() < deadline, "console log does not show the failed boot"
        time.sleep(1)
    assert guest.down()

    # Rebuild writes the disk image again and boots it.
    finish(server.rebuild(image=Image(name="debian-12")).action, client)
    guest.wait(console=console)
    assert guest.run("hostname").strip() == "vm1"
    assert backend_info(qlab, server.id)["booted"] == "disk"


def test_two_servers_side_by_side_the_second_created_off_then_rescued(server1, client, sshkey,
                                                                     key, qlab):
    """The second server is created with start_after_create=false (what hcloud_fleet does
    for a server that must start in rescue): it stays off, with no VM, until poweron, and
    enable_rescue + poweron boots the rescue system directly."""
    server, guest = server1
    resp = client.servers.create(name="vm2", server_type=ServerType(name="cx23"),
                                 image=Image(name="debian-12"), ssh_keys=[sshkey],
                                 location=Location(name="fsn1"), start_after_create=False)
    finish(resp.action, client)
    s2 = client.servers.get_by_id(resp.server.id)
    g2 = Guest(s2.public_net.ipv4.ip, key)
    try:
        assert s2.status == "off"
        assert backend_info(qlab, s2.id)["vm"] == "stopped"
        finish(s2.enable_rescue(type="linux64", ssh_keys=[sshkey.id]).action, client)
        finish(s2.power_on(), client)
        assert backend_info(qlab, s2.id)["booted"] == "rescue"
        assert s2.public_net.ipv4.ip != server.public_net.ipv4.ip
        assert s2.public_net.ipv4.ip.startswith("127.0.10.")
        g2.wait(console=Path(backend_info(qlab, s2.id)["console_log"]))
        assert g2.run("hostname").strip() == "rescue"
        # the disk image was written at create, never booted: its root is not in use
        assert g2.run("lsblk -nro NAME,MOUNTPOINT /dev/sda | awk '$2!=\"\"' | wc -l").strip() == "0"
        assert guest.run("hostname").strip() == "vm1"
        i1, i2 = backend_info(qlab, server.id), backend_info(qlab, s2.id)
        assert pid_alive(i1["pid"]) and pid_alive(i2["pid"]) and i1["pid"] != i2["pid"]
    finally:
        finish(s2.delete(), client)


def test_delete_stops_the_vm_and_removes_its_disk(server1, client, qlab):
    server, guest = server1
    info = backend_info(qlab, server.id)
    pid, disk = info["pid"], Path(info["disk"])
    assert pid_alive(pid) and disk.exists()
    finish(server.delete(), client)
    deadline = time.monotonic() + 30
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"qemu pid {pid} still running after delete"
        time.sleep(0.5)
    assert not disk.exists()
    assert not disk.parent.exists()
    assert guest.down()
    assert not list((qlab.state_dir / "qemu" / "servers").glob("*/qemu.pid"))
