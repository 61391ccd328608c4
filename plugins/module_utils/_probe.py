# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Data that ``blkid -p`` and ``wipefs`` do not see: backup copies and plain contents.

``blkid`` and ``wipefs`` look for primary signatures. Several formats keep further
copies elsewhere, which survive when the start of a device is zeroed and from which
the data can be recovered:

* btrfs: mirror superblocks at 64 MiB and 256 GiB (magic ``_BHRfS_M`` at 0x40);
* ext2/3/4: backup superblocks at the start of block groups 1 and the powers of 3, 5
  and 7 (magic 0xEF53 at 0x38; the copy records its block size and group number);
* LUKS2: the secondary header at 16 KiB .. 4 MiB (magic ``SKUL\\xba\\xbe``);
* ZFS: labels L2 and L3 in the last 512 KiB (uberblock magic 0x00bab10c);
* md: 0.90 and 1.0 superblocks at the end of the device (magic 0xa92b4efc).

:func:`probe_backups` checks each of them, and :func:`sample` reads a few dozen small
blocks spread over the device: a device whose samples are not all zero holds data
(a fresh Hetzner volume reads as zeros; the remains of an erased LUKS container do not).

Both are pure functions of ``read(offset, length) -> bytes`` and the device size, so
unit tests run them on synthetic images; modules pass ``DevFS.read_at``.
"""

from __future__ import annotations

import struct

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

BTRFS_SUPERBLOCKS = (64 * KIB, 64 * MIB, 256 * GIB)
EXT_MAGIC = b"\x53\xef"
LUKS2_SECONDARY = tuple(16 * KIB << i for i in range(9))  # 16 KiB .. 4 MiB
ZFS_LABEL = 256 * KIB
ZFS_UBERBLOCK_MAGIC = 0x00bab10c
MD_MAGIC = struct.pack("<I", 0xa92b4efc)
SAMPLES = 48
SAMPLE_SIZE = 4 * KIB


class Found(object):
    """A finding: ``type`` (``btrfs``, ``ext4``, ``crypto_LUKS``, ``zfs_member``,
    ``linux_raid_member``, ``data``), ``offset`` (bytes) and ``what`` (text)."""

    __slots__ = ("type", "offset", "what")

    def __init__(self, type, offset, what):
        self.type = type
        self.offset = offset
        self.what = what

    def __repr__(self):
        return "Found(%r, %#x, %r)" % (self.type, self.offset, self.what)


def _btrfs(read, size):
    out = []
    for off in BTRFS_SUPERBLOCKS:
        if off + 0x48 <= size and read(off + 0x40, 8) == b"_BHRfS_M":
            out.append(Found("btrfs", off, "btrfs superblock copy"))
    return out


def _sparse_groups(limit):
    groups = {1}
    for base in (3, 5, 7):
        g = base
        while g < limit:
            groups.add(g)
            g *= base
    return sorted(g for g in groups if g < limit)


def _ext(read, size):
    """Backup superblocks of ext2/3/4 with 1, 2 or 4 KiB blocks, at the offsets they
    have when the file system starts at the start of the device."""
    for log in (0, 1, 2):
        block = 1024 << log
        per_group = 8 * block
        first = 1 if block == 1024 else 0
        for g in _sparse_groups(size // (per_group * block) + 1):
            off = (g * per_group + first) * block
            if off + 1024 > size:
                break
            sb = read(off, 0x5c)
            if len(sb) < 0x5c or sb[0x38:0x3a] != EXT_MAGIC:
                continue
            log_block, = struct.unpack_from("<I", sb, 0x18)
            group, = struct.unpack_from("<H", sb, 0x5a)
            if log_block == log and group == g:
                return [Found("ext4", off, "ext2/3/4 backup superblock of block group %d" % g)]
    return []


def _luks(read, size):
    out = []
    for off in LUKS2_SECONDARY:
        if off + 6 <= size and read(off, 6) == b"SKUL\xba\xbe":
            out.append(Found("crypto_LUKS", off, "LUKS2 secondary header"))
    return out


def _zfs(read, size):
    aligned = size - size % ZFS_LABEL
    out = []
    for name, off in (("L2", aligned - 2 * ZFS_LABEL), ("L3", aligned - ZFS_LABEL)):
        if off < 0:
            continue
        ring = read(off + 128 * KIB, 128 * KIB)
        for slot in range(0, len(ring) - 8 + 1, KIB):
            magic = ring[slot:slot + 8]
            if magic in (struct.pack("<Q", ZFS_UBERBLOCK_MAGIC), struct.pack(">Q", ZFS_UBERBLOCK_MAGIC)):
                out.append(Found("zfs_member", off, "ZFS label %s (uberblock)" % name))
                break
    return out


def _md(read, size):
    out = []
    v090 = (size & ~(64 * KIB - 1)) - 64 * KIB
    v10 = ((size // 512 - 16) & ~7) * 512
    for version, off in (("0.90", v090), ("1.0", v10)):
        if off >= 0 and read(off, 4) == MD_MAGIC:
            out.append(Found("linux_raid_member", off, "md %s superblock" % version))
    return out


def probe_backups(read, size):
    """Every backup copy found on a device of ``size`` bytes read through ``read``."""
    found = []
    for probe in (_btrfs, _ext, _luks, _zfs, _md):
        found += probe(read, size)
    return found


def sample_offsets(size, count=SAMPLES, length=SAMPLE_SIZE):
    """``count`` offsets spread evenly over the device, aligned to ``length``, the
    first at 0 and the last in the final block."""
    if size <= length:
        return [0] if size else []
    last = (size - length) // length
    return sorted(set((last * i // (count - 1)) * length for i in range(count)))


def sample(read, size, count=SAMPLES, length=SAMPLE_SIZE):
    """Read ``count`` blocks spread over the device; returns a :class:`Found` for the
    non-zero ones (at most a few are listed), or an empty list when all are zero."""
    hits = [off for off in sample_offsets(size, count, length) if read(off, length).strip(b"\0")]
    if not hits:
        return []
    return [Found("data", hits[0], "non-zero data in %d of %d sampled blocks, the first"
                  % (len(hits), len(sample_offsets(size, count, length))))]
