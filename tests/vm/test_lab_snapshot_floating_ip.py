"""The qemu backend's snapshots and floating IPs, through hcloud over HTTP and SSH into a real
VM: ``create_image`` keeps a real copy of the disk (a file written before the snapshot comes
back after a rebuild from it, a later change does not), and an assigned floating IPv4 reaches
the VM on loopback like its primary IPv4 (and stops reaching it when unassigned).  One server,
two boots."""
from __future__ import annotations

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

IPV4_BASE = "127.0.12.2"


def ssh(host: str, key: Path, cmd: str, timeout: float = 60):
    p = subprocess.run(["ssh", *SSH_OPTS, "-i", str(key), f"root@{host}", cmd],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout


def wait_ssh(host: str, key: Path, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ssh(host, key, "true", timeout=30)[0] == 0:
                return
        except subprocess.TimeoutExpired:
            pass
        assert time.monotonic() < deadline, f"no SSH on {host} after {timeout:.0f}s"
        time.sleep(2)


def finish(client, *actions) -> None:
    for action in actions:
        deadline = time.monotonic() + 900
        while True:
            a = client.actions.get_by_id(action.id)
            if a.status != "running":
                assert a.status == "success", f"{a.command} ended {a.status}: {a.error}"
                break
            assert time.monotonic() < deadline, f"{a.command} still running after 900 s"
            time.sleep(1)


def test_snapshot_is_a_disk_copy_and_floating_ip_reaches_the_vm(tmp_path_factory):
    require_lab_image("disk")
    key = ssh_keygen(tmp_path_factory.mktemp("keys") / "id_ed25519", "lab-snapshot-test")
    state = tmp_path_factory.mktemp("qlab-snap")
    try:
        with start_lab(state_dir=state, backend="qemu", time_scale=0.01, ipv4_base=IPV4_BASE,
                       extra_args=["--backend-opt", "memory_budget_mb=1536"]) as lab:
            c = lab.client(poll_interval=1, poll_max_retries=900)
            sk = c.ssh_keys.create(name="snap", public_key=key.with_suffix(".pub").read_text())
            r = c.servers.create(name="snap1", server_type=ServerType(name="cx23"),
                                 image=Image(name="debian-13"), ssh_keys=[sk],
                                 location=Location(name="fsn1"))
            finish(c, r.action, *r.next_actions)
            server = c.servers.get_by_id(r.server.id)
            ip = server.public_net.ipv4.ip
            wait_ssh(ip, key)
            assert ssh(ip, key, "echo before-snapshot > /root/marker && sync")[0] == 0

            snap = c.servers.create_image(server, description="marker", type="snapshot")
            finish(c, snap.action)
            copy = state / "qemu" / "snapshots" / f"{snap.image.id}.qcow2"
            info = subprocess.run(["qemu-img", "info", "-U", str(copy)], capture_output=True,
                                  text=True)
            assert info.returncode == 0 and "qcow2" in info.stdout
            # the VM was paused for the copy only: it still answers
            assert ssh(ip, key, "echo after-snapshot > /root/marker && sync")[0] == 0

            fip = c.floating_ips.create(type="ipv4", server=server)
            finish(c, fip.action)
            vip = fip.floating_ip.ip
            assert vip != ip and vip.startswith("127.")
            rc, out = ssh(vip, key, "hostname; cat /root/marker")
            assert rc == 0 and out.split() == ["snap1", "after-snapshot"]
            finish(c, c.floating_ips.unassign(fip.floating_ip))
            try:
                rc = ssh(vip, key, "true", timeout=20)[0]
            except subprocess.TimeoutExpired:
                rc = None
            assert rc != 0, f"{vip} still reaches the VM after unassign"
            finish(c, c.floating_ips.assign(fip.floating_ip, server))

            reb = c.servers.rebuild(server, Image(id=snap.image.id))
            finish(c, reb.action)
            wait_ssh(ip, key)
            rc, out = ssh(ip, key, "cat /root/marker")
            assert rc == 0 and out.strip() == "before-snapshot"  # the disk came from the copy
            rc, out = ssh(vip, key, "hostname")  # the floating IP is forwarded again at boot
            assert rc == 0 and out.strip() == "snap1"

            c.images.delete(snap.image)
            deadline = time.monotonic() + 60
            while copy.exists():
                assert time.monotonic() < deadline, f"{copy} still there after the delete"
                time.sleep(1)
            finish(c, c.servers.delete(server))
    finally:
        kill_stale(state)
