#!/bin/sh
# The disk image's part of the hook, after common.sh (same shell: R, say, in_root, KVER):
# hostname, fstab, first-boot growfs, a small initramfs for the lab's disk boot.

say "kernel $KVER"
echo debian > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 debian\n::1 localhost ip6-localhost\n' > "$R/etc/hosts"
printf '/dev/sda1 / ext4 errors=remount-ro 0 1\n' > "$R/etc/fstab"
cat > "$R/usr/local/sbin/lab-growfs" <<'EOF'
#!/bin/sh
# First boot of a lab server's disk: grow the root filesystem to its partition.
resize2fs "$(findmnt -no SOURCE /)" && touch /var/lib/lab-growfs-done
EOF
chmod 755 "$R/usr/local/sbin/lab-growfs"
cat > "$R/etc/systemd/system/lab-growfs.service" <<'EOF'
[Unit]
Description=Lab: grow the root filesystem to its partition (first boot)
ConditionPathExists=!/var/lib/lab-growfs-done
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lab-growfs

[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable lab-growfs.service >/dev/null
# Nested virtualisation is useless under TCG, and loading kvm costs boot time.
printf 'blacklist kvm\nblacklist kvm_amd\nblacklist kvm_intel\n' > "$R/etc/modprobe.d/lab-no-kvm.conf"
# A small initramfs with just what a lab disk boot needs (TCG unpacks every byte).
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$R/etc/initramfs-tools/conf.d/lab.conf"
printf 'virtio_pci\nvirtio_scsi\nsd_mod\next4\ncrc32c_generic\n' >> "$R/etc/initramfs-tools/modules"
in_root update-initramfs -c -k "$KVER" >/dev/null 2>&1 || in_root update-initramfs -u -k "$KVER"
