"""Lab VM images: the rescue system (kernel + zstd initramfs that runs from RAM, with
ZFS modules built by zfs-dkms, cryptsetup, sshd and python3) and the disk image (a
minimal bootable Debian 12 that the qemu backend writes to a server's disk).

Both are built from Debian packages with mmdebstrap inside a build chroot (the host's
apt sources are never touched), and cached under ``cache_dir()``:

    <cache>/images/rescue-<recipe>-<packages>/{vmlinuz,initrd.img,manifest.json}
    <cache>/images/disk-<recipe>-<packages>/{vmlinuz,initrd.img,rootfs.ext4,manifest.json}

``<recipe>`` hashes the build recipe (package list, hook scripts, build version, mirror);
``<packages>`` hashes the resolved package versions of the built chroot (``dpkg-query``).
A build happens in a ``.tmp-*`` directory that is renamed into place only after the
manifest is written, so an interrupted build never looks complete.
"""
from .store import (  # noqa: F401
    Image,
    ImageMissing,
    cache_dir,
    find_image,
    require_image,
)
