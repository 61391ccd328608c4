"""The installed half, for real, on one lab VM: site.yml takes a server from nothing to
installed (the lab's STAND-IN system, not NixOS, booted from the encrypted pool through
GRUB, unlocked by the role over the initrd's SSH), then the day-2 drills run through the
collection's own playbooks against that one server, in file order, sharing its boots:

  re-run            site.yml again: 0 changed, no rescue
  reboot + unlock   an API reboot, then playbooks/unlock.yml alone; in the same boot:
    MITM            the initrd answers with a key that is not the pinned one: nothing sent
  wrong passphrase  a clear error naming the host; no key slot touched; then the right one
  power loss        a hard reset during the boot, then unlock
  type change       site.yml with another server type: power cycle, unlock, up again
  snapshots         playbooks/rebuild.yml: snapshot before the (stand-in) rebuild, pruned

The stand-in speaks NixOS's systemd stage-1 protocol (systemd-cryptsetup from crypttab,
sshd on the initrd port with the pinned key, systemd-tty-ask-password-agent); it proves
the collection's unlock and day-2 code, not NixOS's configuration (docs/lab-vms.md).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lab.backends.qemu import kill_stale
from lab.vm import ssh_keygen
from lab_fixture import start_lab
from vm_fixture import require_lab_image

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.timeout(5400)]

ROOT = Path(__file__).resolve().parents[2]
IPV4_BASE = os.environ.get("NIXOS_HETZNER_DRILL_IPV4_BASE", "127.0.30.2")
HOST = "drill-1"
PASSPHRASE = "drill-test-only-passphrase"


def recap(out: str) -> dict:
    """{host: {ok, changed, unreachable, failed, ...}} from a PLAY RECAP."""
    rows = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", out.split("PLAY RECAP")[-1], re.M):
        rows[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return rows


class Fleet:
    """A one-host lab fleet: its inventory, its lab and the playbook runner."""

    def __init__(self, lab, work: Path, types: tuple[str, str]):
        self.lab, self.work, self.types = lab, work, types
        self.seconds: list[tuple[str, int, int]] = []  # (playbook and args, seconds, rc)
        self.inv = work / "inventory"
        self.secrets = work / "secrets"
        (self.inv / "group_vars" / "nixos_hetzner").mkdir(parents=True)
        key = ssh_keygen(work / "admin_ed25519", "drill-admin")
        self.key = key
        lab_vars = (ROOT / "inventories/lab/group_vars/nixos_hetzner/main.yml").read_text()
        lab_vars = lab_vars.replace("{{ inventory_dir }}/../..", str(ROOT))
        lab_vars = lab_vars.replace(f"{ROOT}/.lab/secrets", str(self.secrets))
        lab_vars = lab_vars.replace(f"{ROOT}/.lab/hosts", str(work / "hosts"))
        lab_vars = lab_vars.replace(f"{ROOT}/.lab/ssh/admin_ed25519", str(key))
        lab_vars = lab_vars.replace('"{{ vault_storage_luks_passphrase }}"', PASSPHRASE)
        lab_vars = "".join(line for line in lab_vars.splitlines(keepends=True)
                           if not line.startswith(("hcloud_api_endpoint:", "hardware_fleet:")))
        (self.inv / "group_vars/nixos_hetzner/main.yml").write_text(
            lab_vars + f"\nhcloud_api_endpoint: {lab.endpoint}\nhardware_fleet: drills\n")
        self.set_type(types[0])

    def set_type(self, server_type: str) -> None:
        """The inventory's server type (what a user edits for a type change)."""
        (self.inv / "hosts.yml").write_text(
            f"nixos_hetzner:\n  hosts:\n    {HOST}:\n      hardware_server_type: {server_type}\n")

    def play(self, playbook: str, *args: str, timeout: float = 3600) -> tuple[int, str]:
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
        argv = ["ansible-playbook", str(ROOT / playbook), "-i", str(self.inv / "hosts.yml"),
                *args]
        t0 = time.monotonic()
        n = len(list(self.work.glob("run-*.log")))
        log = self.work / f"run-{n:02d}-{Path(playbook).stem}.log"
        with open(log, "w") as f:  # written as it runs: `tail -f` shows the progress
            f.write(f"$ {' '.join(argv)}\n")
            f.flush()
            p = subprocess.run(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                               text=True, timeout=timeout)
            f.write(f"\n# {time.monotonic() - t0:.0f}s, rc {p.returncode}\n")
        out = log.read_text()
        self.seconds.append((f"{Path(playbook).name} {' '.join(args)}".strip(),
                             round(time.monotonic() - t0), p.returncode))
        print(f"{playbook} {' '.join(args)}: rc {p.returncode} in {time.monotonic() - t0:.0f}s")
        return p.returncode, out

    def client(self):
        return self.lab.client(poll_interval=1, poll_max_retries=900)

    def server(self):
        return self.client().servers.get_by_name(HOST)

    def admin_ssh(self, cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """As the admin, with the pinned system host key (what the role pinned)."""
        s = self.server()
        return subprocess.run(
            ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={self.secrets / HOST / 'known_hosts'}",
             "-o", "ConnectTimeout=15", "-i", str(self.key),
             f"admin@{s.public_net.ipv4.ip}", cmd],
            capture_output=True, text=True, timeout=timeout)

    def initrd_ssh(self, cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """As root in the initrd, with the initrd host key the role generated (its own
        known_hosts file: the MITM drill changes the role's pin)."""
        s = self.server()
        ip = s.public_net.ipv4.ip
        known = self.work / "test_initrd_known_hosts"
        pub = (self.secrets / HOST / "initrd_ssh_host_ed25519_key.pub").read_text().strip()
        known.write_text(f"[{ip}]:2222 {pub}\n")
        return subprocess.run(
            ["ssh", "-p", "2222", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={known}",
             "-o", "ConnectTimeout=15", "-i", str(self.key),
             f"root@{s.public_net.ipv4.ip}", cmd],
            capture_output=True, text=True, timeout=timeout)

    def wait_initrd_question(self, timeout: float = 900) -> None:
        """Until the initrd answers and systemd-cryptsetup waits for the passphrase."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                p = self.initrd_ssh("ls /run/systemd/ask-password/ | grep -c '^ask\\.'")
                if p.returncode == 0 and int(p.stdout.strip() or 0) > 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(3)
        raise AssertionError(f"no passphrase question in the initrd within {timeout}s; "
                             f"console: {self.console_tail()}")

    def console_tail(self, n: int = 40) -> str:
        s = self.server()
        log = self.lab.state_dir / "qemu" / "servers" / str(s.id) / "console.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no console log)"

    def boots(self) -> list[str]:
        s = self.server()
        log = self.lab.state_dir / "qemu" / "servers" / str(s.id) / "console.log"
        return re.findall(r"===== lab: .*? boot at", log.read_text(errors="replace"))

    def wait_action(self, action) -> None:
        action.wait_until_finished(max_retries=900)


def current_types(lab) -> tuple[str, str]:
    """Two x86 server types the lab sells today with disks of at least 40 GB."""
    client = lab.client()
    usable = []
    for st in client.server_types.get_all():
        dep = getattr(st, "deprecation", None)
        if st.architecture == "x86" and st.disk >= 40 and not dep and st.memory >= 4:
            usable.append(st)
    # smallest first, so that the type change goes to a disk at least as big: Hetzner
    # refuses a change to a smaller disk (the hardware layer says so before any power-off)
    usable.sort(key=lambda st: (st.memory, st.cores, st.disk, st.name))
    bigger = [st for st in usable[1:] if st.disk >= usable[0].disk] if usable else []
    assert usable and bigger, f"the lab sells fewer than two usable types: {usable}"
    return usable[0].name, bigger[0].name


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    for kind in ("rescue", "disk", "standin"):
        require_lab_image(kind)
    work = tmp_path_factory.mktemp("drills")
    state = work / "lab"
    try:
        with start_lab(state_dir=state, backend="qemu", time_scale=0.01, ipv4_base=IPV4_BASE,
                       extra_args=["--backend-opt", "memory_budget_mb=3072"]) as lab:
            f = Fleet(lab, work, current_types(lab))
            t0 = time.monotonic()
            rc, out = f.play("site.yml")
            f.install_seconds = time.monotonic() - t0
            f.install = (rc, out)
            yield f
            for what, secs, rc in f.seconds:
                print(f"drill timing: {secs:5d} s  rc {rc}  {what}")
    finally:
        kill_stale(state)
        keep = os.environ.get("NIXOS_HETZNER_DRILL_LOGS")
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.qcow2", "*.img", "*.sock"))


# ------------------------------------------------------------------ the install


def test_site_installs_the_server(fleet):
    rc, out = fleet.install
    assert rc == 0, out[-6000:]
    assert recap(out)[HOST]["failed"] == 0
    s = fleet.server()
    assert s.labels["nixos-hetzner/stage"] == "installed"
    assert not s.rescue_enabled
    assert "stage=installed" in out
    # the booted system: the stand-in, from the pool's root dataset, reached as the admin
    # with the host key the role generated and pinned
    p = fleet.admin_ssh("findmnt -no FSTYPE,SOURCE /; sudo -n zpool list -H -o name,health; "
                        "hostname; cat /etc/initrd-release 2>/dev/null || echo no-initrd-release")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert lines[0].split() == ["zfs", "rpool/local/root"]
    assert lines[1].split() == ["rpool", "ONLINE"]
    assert lines[2] == HOST and lines[3] == "no-initrd-release"
    # the pool's hostid is the host JSON's hostId
    host_json = json.loads((fleet.work / "hosts" / f"{HOST}.json").read_text())
    p = fleet.admin_ssh("hostid")
    assert p.stdout.strip() == host_json["hostId"]
    # root cannot log in to the installed system
    s_ip = s.public_net.ipv4.ip
    p = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-i", str(fleet.key),
                        f"root@{s_ip}", "true"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0


def test_rerun_changes_nothing_and_never_rescues(fleet):
    boots = len(fleet.boots())
    rc, out = fleet.play("site.yml")
    assert rc == 0, out[-6000:]
    assert recap(out)[HOST]["changed"] == 0, out[-6000:]
    assert len(fleet.boots()) == boots
    assert not fleet.server().rescue_enabled


# ------------------------------------------------------------------ one reboot, four drills


def test_reboot_then_mitm_then_unlock(fleet):
    before = fleet.admin_ssh("sudo -n cryptsetup luksDump /dev/disk/by-partlabel/rpool-luks")
    assert before.returncode == 0, before.stderr
    fleet.wait_action(fleet.server().reboot())
    fleet.wait_initrd_question()

    # MITM: the pinned key is not the one the initrd presents
    pub = fleet.secrets / HOST / "initrd_ssh_host_ed25519_key.pub"
    real = pub.read_text()
    other = ssh_keygen(fleet.work / "other_ed25519", "mitm")
    pub.write_text(other.with_suffix(".pub").read_text())
    try:
        rc, out = fleet.play("playbooks/unlock.yml")
    finally:
        pub.write_text(real)
    assert rc != 0
    assert HOST in out and "did not present the pinned initrd host key" in out
    assert "passphrase was NOT sent" in out
    assert PASSPHRASE not in out
    fleet.wait_initrd_question(timeout=120)  # still waiting: nothing was answered

    # the right passphrase: unlock.yml alone brings the server back
    rc, out = fleet.play("playbooks/unlock.yml")
    assert rc == 0, out[-6000:]
    assert PASSPHRASE not in out
    after = fleet.admin_ssh("sudo -n cryptsetup luksDump /dev/disk/by-partlabel/rpool-luks")
    assert after.stdout == before.stdout  # no key slot, no header field changed


def test_wrong_passphrase_then_the_right_one(fleet):
    fleet.wait_action(fleet.server().reboot())
    fleet.wait_initrd_question()
    # from a file, not from argv: the command line is in the log the assertions read
    wrong = fleet.work / "wrong-passphrase.yml"
    wrong.write_text("storage_luks_passphrase: not-the-passphrase\n")
    rc, out = fleet.play("playbooks/unlock.yml", "-e", f"@{wrong}")
    assert rc != 0
    assert HOST in out and "rejected the passphrase" in out and "no key slot was touched" in out
    assert "not-the-passphrase" not in out
    fleet.wait_initrd_question(timeout=120)
    rc, out = fleet.play("playbooks/unlock.yml")
    assert rc == 0, out[-6000:]
    # unlock.yml on a host that is up: nothing to do
    rc, out = fleet.play("playbooks/unlock.yml")
    assert rc == 0 and recap(out)[HOST]["changed"] == 0, out[-4000:]


def test_power_loss_during_boot_then_unlock(fleet):
    client = fleet.client()
    s = fleet.server()
    fleet.wait_action(client.servers.reset(s))
    time.sleep(8)  # somewhere in BIOS, GRUB or stage 1
    fleet.wait_action(client.servers.reset(s))
    rc, out = fleet.play("playbooks/unlock.yml")
    assert rc == 0, out[-6000:]
    p = fleet.admin_ssh("sudo -n zpool status -x rpool")
    assert p.returncode == 0 and "healthy" in p.stdout, p.stdout + p.stderr


def test_type_change_power_cycles_then_unlocks(fleet):
    old, new = fleet.types
    boots = len(fleet.boots())
    # without the opt-in: reported, not done, the server keeps running
    fleet.set_type(new)
    rc, out = fleet.play("playbooks/hardware.yml")
    assert rc == 0, out[-6000:]
    assert "needs a reboot" in out and fleet.server().server_type.name == old
    assert len(fleet.boots()) == boots
    rc, out = fleet.play("site.yml", "-e", "hardware_allow_reboot=true")
    assert rc == 0, out[-6000:]
    assert fleet.server().server_type.name == new
    assert len(fleet.boots()) > boots
    p = fleet.admin_ssh("findmnt -no SOURCE /")
    assert p.stdout.strip() == "rpool/local/root"
    rc, out = fleet.play("site.yml", "-e", "hardware_allow_reboot=true")
    assert rc == 0 and recap(out)[HOST]["changed"] == 0, out[-6000:]


def test_snapshot_before_rebuild_is_taken_and_pruned(fleet):
    names = []
    # rebuild.yml, and services.yml alone (both reach the installed host as the admin)
    for playbook, exporter in [("playbooks/rebuild.yml", "true"),
                               ("playbooks/services.yml", "false"),
                               ("playbooks/rebuild.yml", "true")]:
        rc, out = fleet.play(playbook, "-e", f"services_node_exporter={exporter}",
                             "-e", "services_snapshot_keep=2")
        assert rc == 0, out[-6000:]
        assert "Snapshot the pool before the switch" in out
        p = fleet.admin_ssh("sudo -n zfs list -H -t snapshot -o name -s creation -d 1 rpool")
        names.append([n for n in p.stdout.split() if "@pre-rebuild-" in n])
        time.sleep(1.1)  # snapshot names are per second
    assert [len(n) for n in names] == [1, 2, 2]
    assert names[2][0] == names[1][1] and names[0][0] not in names[2]
    # recursive: every dataset has the newest one
    p = fleet.admin_ssh(f"sudo -n zfs list -H -t snapshot -o name | grep -c '@{names[2][-1].split('@')[1]}$'")
    assert int(p.stdout.strip()) >= 5
    # the rebuild step ran after each snapshot (the stand-in records it; it is not NixOS)
    p = fleet.admin_ssh("cat /var/lib/standin/rebuilds")
    assert p.stdout.count(f"/etc/nixos#{HOST}") == 3
