#!/bin/sh
# mmdebstrap customize hook shared by every lab image, run on the host: $1 = the chroot.
# The network (DHCP with systemd-networkd), lab-init (SSH host keys and root's keys
# before sshd), no machine-id, sshd settings.  Defines say, in_root and KVER for the
# image's own hook, which runs after it in the same shell.
# SC2012: the entries of lib/modules are plain kernel versions.
# shellcheck disable=SC2012

set -eu
R="$1"
say() { echo "lab: $*"; }
in_root() { chroot "$R" env DEBIAN_FRONTEND=noninteractive LANG=C LC_ALL=C "$@"; }
KVER=$(ls "$R/lib/modules" | sort -V | tail -n1)
[ -n "$KVER" ] || { echo "lab: no kernel in the chroot" >&2; exit 1; }
echo "$KVER" > "$R/etc/lab-kernel-version"
mkdir -p "$R/etc/systemd/network" "$R/usr/local/sbin" "$R/root/.ssh"
chmod 700 "$R/root/.ssh"
cat > "$R/etc/systemd/network/80-lab-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
in_root systemctl enable systemd-networkd.service >/dev/null
in_root systemctl mask systemd-networkd-wait-online.service apt-daily.timer \
    apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
    >/dev/null 2>&1 || true
cat > "$R/usr/local/sbin/lab-init" <<'EOF'
#!/bin/sh
# Lab guest set-up before sshd: host keys (the lab usually injects them) and root's keys.
ssh-keygen -A >/dev/null
chmod 700 /root/.ssh 2>/dev/null || true
[ -f /root/.ssh/authorized_keys ] && chmod 600 /root/.ssh/authorized_keys
if [ -x /usr/local/sbin/lab-init-local ]; then /usr/local/sbin/lab-init-local; fi
exit 0
EOF
chmod 755 "$R/usr/local/sbin/lab-init"
cat > "$R/etc/systemd/system/lab-init.service" <<'EOF'
[Unit]
Description=Lab: SSH host keys and authorized_keys
Before=ssh.service
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-init

[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable lab-init.service >/dev/null
rm -f "$R"/etc/ssh/ssh_host_*
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
printf 'PermitRootLogin prohibit-password\nUseDNS no\n' > "$R/etc/ssh/sshd_config.d/lab.conf"
