#!/bin/sh
# The rescue image's part of the hook, after common.sh (same shell: R, say, in_root,
# KVER): ZFS modules built with dkms, then the toolchain purged (PURGE_LIST is replaced
# at build time), drivers a VM does not have removed, the imports of pools masked.
# SC2016: '${Package}' is dpkg-query's format; SC2086, SC2116: $toolchain is a
# list of package names, split on purpose (and joined on one line for the log).
# shellcheck disable=SC2016,SC2086,SC2116

say "kernel $KVER"
if ! find "$R/lib/modules/$KVER" -name 'zfs.ko*' | grep -q .; then
    say "building ZFS modules with dkms for $KVER (about 4-5 minutes)"
    in_root dkms autoinstall -k "$KVER"
fi
find "$R/lib/modules/$KVER" -name 'zfs.ko*' | grep -q . \
    || { echo "lab: dkms built no zfs.ko for $KVER" >&2; exit 1; }
say "ZFS modules built; removing the build toolchain"
cp -a "$R/lib/modules/$KVER/updates" "$R/root/lab-updates"
# The kernel headers are never auto-removed (APT::NeverAutoRemove), so name the
# toolchain explicitly; its libraries then go with --autoremove.
toolchain=$(in_root dpkg-query -W -f '${Package}\n' | grep -E \
    '^(PURGE_LIST|linux-headers-.*|linux-kbuild-.*|linux-compiler-.*|gcc|gcc-12|cpp|cpp-12|make|dpkg-dev|libc6-dev|binutils|patch|perl|libdpkg-perl)$' || true)
say "purging: $(echo $toolchain)"
in_root apt-get purge -y -q --autoremove $toolchain
for t in zpool zfs cryptsetup sgdisk parted python3 sshd wipefs blkid mkfs.ext4 mkfs.vfat; do
    in_root sh -c "command -v $t" >/dev/null || { echo "lab: $t missing after the purge" >&2; exit 1; }
done
rm -rf "$R/usr/src/"* "$R/var/lib/dkms" "$R/usr/lib/udev/hwdb.d/"*
# Hardware a lab VM (and a Hetzner Cloud VM) does not have: smaller image, faster boot.
M="$R/lib/modules/$KVER/kernel"
rm -rf "$M/drivers/gpu" "$M/drivers/infiniband" "$M/drivers/media" "$M/drivers/usb" \
    "$M/drivers/net/wireless" "$M/drivers/net/ethernet" "$M/drivers/bluetooth" \
    "$M/drivers/staging" "$M/sound" "$M/net/wireless" "$M/net/mac80211" "$M/net/bluetooth" \
    "$M/fs/ocfs2" "$M/fs/gfs2" "$M/fs/ceph" "$M/fs/smb" "$M/fs/cifs" "$M/fs/nfsd"
rm -rf "$R/lib/modules/$KVER/updates"
mv "$R/root/lab-updates" "$R/lib/modules/$KVER/updates"
in_root depmod -a "$KVER"
in_root modinfo -k "$KVER" zfs | grep -E '^(version|vermagic)' | sed 's/^/lab: zfs module /'
echo rescue > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 rescue\n::1 localhost ip6-localhost\n' > "$R/etc/hosts"
: > "$R/etc/fstab"
# Hetzner's rescue does not import pools by itself; the storage layer does that.
in_root systemctl mask zfs-import-cache.service zfs-import-scan.service zfs-mount.service \
    zfs-share.service zfs-zed.service zfs-volume-wait.service >/dev/null 2>&1 || true
cat > "$R/etc/motd" <<'EOF'

  nixos-hetzner lab rescue system (Debian, runs from RAM): zfs, cryptsetup, sgdisk, parted.

EOF
