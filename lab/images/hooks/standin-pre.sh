#!/bin/sh
# Runs before common.sh in the stand-in's hook: the kernel modules of the rescue image
# ($2: its initramfs) into the chroot ($1).

set -eu
R="$1"
echo "lab: stand-in: kernel modules from the rescue image"
zstd -q -dc "$2" | (cd "$R" && cpio -idm --quiet 'usr/lib/modules/*')
