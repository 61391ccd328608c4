#!/bin/sh
# mmdebstrap customize hook of the lab's stand-in system (run on the host, after the
# shared guest hook): $1 = the chroot, $2 = the directory with this file's siblings.
#
# The stand-in is a small Debian 12 that the lab installs where NixOS would go, so that
# everything after the install (reboot, unlock over the initrd's SSH, the booted system,
# day-2) runs for real. It is NOT NixOS and does not imitate NixOS's configuration: its
# sshd settings, users and units are its own. What it shares with NixOS is the protocol
# the collection depends on (docs/lab-vms.md, "The stand-in system").
set -eu
R="$1"
D="$2"
say() { echo "lab: $*"; }
in_root() { chroot "$R" env DEBIAN_FRONTEND=noninteractive LANG=C LC_ALL=C "$@"; }

say "stand-in system (not NixOS): configuring the chroot"
# The installed system runs its own sshd with the host key under /persist; lab-init
# (the provider image's key generator) is not part of it.
in_root systemctl disable lab-init.service >/dev/null 2>&1 || true
rm -f "$R/etc/ssh/sshd_config.d/lab.conf" "$R"/etc/ssh/ssh_host_*
cat > "$R/etc/ssh/sshd_config.d/00-standin.conf" <<'CONF'
# Lab stand-in system (not NixOS's sshd settings): the host key lives on the encrypted
# /persist dataset; admins log in with keys and use sudo; root does not log in.
HostKey /persist/etc/ssh/ssh_host_ed25519_key
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF
# The pool is imported by stage 1; its datasets are legacy mounts in /etc/fstab.
in_root systemctl mask zfs-import-cache.service zfs-import-scan.service zfs-mount.service \
    zfs-share.service zfs-zed.service zfs-volume-wait.service >/dev/null 2>&1 || true
# Smaller root (the installer copies and unpacks it into a TCG VM): no hardware database,
# no modules for file systems and hardware that a lab VM (or a Hetzner VM) does not have.
rm -rf "$R/usr/lib/udev/hwdb.d/"* "$R/usr/lib/udev/hwdb.bin" "$R/etc/udev/hwdb.bin"
KVER=$(ls "$R/lib/modules" | sort -V | tail -n1)
M="$R/lib/modules/$KVER/kernel"
for d in fs/btrfs fs/xfs fs/nfs fs/nfsd fs/ocfs2 fs/gfs2 fs/ceph fs/smb fs/cifs fs/f2fs \
    fs/jfs fs/reiserfs fs/nilfs2 fs/ubifs fs/udf fs/hfs fs/hfsplus fs/ntfs3 arch/x86/kvm; do
  rm -rf "${M:?}/$d"
done
in_root depmod -a "$KVER"
mkdir -p "$R/etc/standin"
install -m 0755 "$D/standin-configure" "$R/usr/local/sbin/standin-configure"
install -m 0755 "$D/standin-rebuild" "$R/usr/local/sbin/standin-rebuild"
printf '%%sudo ALL=(ALL:ALL) NOPASSWD: ALL\n' > "$R/etc/sudoers.d/standin-admins"
chmod 0440 "$R/etc/sudoers.d/standin-admins"
cat > "$R/etc/motd" <<'MOTD'

  nixos-hetzner lab STAND-IN system: Debian 12 on the encrypted pool, installed where
  NixOS would be. It proves the boot, unlock and day-2 paths, not NixOS's configuration.

MOTD

# ---- stage 1 (the initrd) ------------------------------------------------------------
# The same userland, started by systemd in initrd mode. Per-host files (crypttab, the
# import unit, sysroot.mount, keys, hostid) come in a second cpio written at install time.
S="$R/usr/lib/standin/initrd"
mkdir -p "$S/etc/systemd/system/initrd.target.wants" "$S/etc/ssh"
cat > "$S/etc/initrd-release" <<'REL'
NAME="nixos-hetzner lab stand-in stage 1 (not NixOS)"
ID=standin-initrd
REL
ln -sf lib/systemd/systemd "$S/init"
cat > "$S/etc/systemd/system/standin-initrd-sshd.service" <<'UNIT'
[Unit]
Description=Stand-in stage 1: OpenSSH for the LUKS unlock
DefaultDependencies=no
After=network.target systemd-networkd.service
Conflicts=initrd-switch-root.target shutdown.target
Before=initrd-switch-root.target shutdown.target
ConditionPathExists=/etc/initrd-release

[Service]
ExecStartPre=/bin/mkdir -p -m 0755 /run/sshd
ExecStart=/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config_initrd
Restart=always
RestartSec=1

[Install]
WantedBy=initrd.target
UNIT
ln -sf ../standin-initrd-sshd.service "$S/etc/systemd/system/initrd.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.service "$S/etc/systemd/system/initrd.target.wants/"
say "stand-in system configured"
