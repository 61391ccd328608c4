# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Block devices: name normalisation and the data-safety probe.

Two jobs, shared by ``gpt_partitions``, ``luks_device``, ``zpool`` and ``zfs_dataset``:

1. **Names.** The same disk is ``/dev/sda``, ``/dev/disk/by-id/scsi-0QEMU_..._disk0``,
   ``/dev/disk/by-partlabel/luks`` (for a partition) or ``/dev/mapper/crypt0`` /
   ``/dev/dm-0``. Compare devices only through :meth:`DevFS.canonical` (the realpath,
   i.e. the kernel name) on BOTH sides; present them with :meth:`DevFS.aliases`.
   ``zpool status -P -L`` already prints realpaths, so its output compares directly
   with ``canonical()`` of the requested names.

2. **Data safety.** :func:`probe_signatures` runs ``blkid -p -o export`` and
   ``wipefs --no-act --json`` (both read-only) and returns every signature found
   (filesystem, partition table, LUKS, zfs_member, swap, ...).
   :func:`refuse_unless_blank` raises :class:`DataSafetyError` with the standard
   message ``found <sig> on <dev> ... set force: true to overwrite`` unless the device
   is blank or ``force`` is true. Call it before the first write; check mode calls it
   too (it is read-only), so a check run reports the refusal.

Everything touching the filesystem goes through :class:`DevFS` whose ``root`` can
point at a temporary tree of symlinks in unit tests; everything that runs a command
takes a runner (``_runner.Runner`` or the test ``FakeRunner``).
"""

from __future__ import annotations

import errno
import json
import os
import re

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _probe

BY_ID = "/dev/disk/by-id"
BY_PARTLABEL = "/dev/disk/by-partlabel"
MAPPER = "/dev/mapper"


class DeviceError(Exception):
    """A device is missing, not a block device, or in use. ``str()`` is user-facing."""


class DataSafetyError(Exception):
    """A destructive operation was refused because the device holds data.

    Attributes: ``device`` (as the user named it) and ``signatures`` (list of
    :class:`Signature`)."""

    def __init__(self, msg, device, signatures):
        Exception.__init__(self, msg)
        self.device = device
        self.signatures = signatures


class Signature(object):
    """One on-disk signature: ``type`` (``ext4``, ``gpt``, ``crypto_LUKS``,
    ``zfs_member``, ``swap``, ``PMBR``, ``dos`` ...), ``offset`` (text, may be None),
    ``label``, ``uuid`` and ``source`` (``blkid`` or ``wipefs``)."""

    __slots__ = ("type", "offset", "label", "uuid", "source", "detail")

    def __init__(self, type, offset=None, label=None, uuid=None, source=None, detail=None):
        self.type = type
        self.offset = offset
        self.label = label
        self.uuid = uuid
        self.source = source
        self.detail = detail

    def describe(self):
        text = self.type
        if self.label:
            text += " (label %r)" % self.label
        if self.detail:
            text += " (%s at %s)" % (self.detail, self.offset)
        return text

    def as_dict(self):
        return {"type": self.type, "offset": self.offset, "label": self.label,
                "uuid": self.uuid, "source": self.source, "detail": self.detail}

    def __repr__(self):
        return "Signature(%r, offset=%r, source=%r)" % (self.type, self.offset, self.source)


# ---------------------------------------------------------------------------- names
class DevFS(object):
    """Filesystem view of ``/dev`` and ``/sys``. ``root`` is ``/`` on a host; unit
    tests pass a temporary directory holding ``dev/...`` symlinks and files.

    All paths given and returned are absolute *host* paths such as ``/dev/sda``;
    ``root`` is only prepended internally."""

    def __init__(self, root="/"):
        self.root = os.path.abspath(root)

    def _host(self, path):
        if self.root == "/":
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def _unhost(self, path):
        if self.root == "/":
            return path
        rel = os.path.relpath(path, self.root)
        return "/" + rel if rel != "." else "/"

    def exists(self, path):
        return os.path.exists(self._host(path))

    def canonical(self, path):
        """The realpath (kernel name) of ``path``: ``/dev/sda1``, ``/dev/dm-0``.
        Works for names that do not exist too (returned normalised, unchanged)."""
        return self._unhost(os.path.realpath(self._host(path)))

    def is_block(self, path):
        import stat
        try:
            return stat.S_ISBLK(os.stat(self._host(path)).st_mode)
        except OSError:
            return False

    def size(self, path):
        """Size of the device (or image file) in bytes."""
        fd = os.open(self._host(path), os.O_RDONLY)
        try:
            return os.lseek(fd, 0, os.SEEK_END)
        finally:
            os.close(fd)

    def sector_size(self, path):
        """Logical sector size from sysfs; 512 when sysfs does not say (image files)."""
        kname = os.path.basename(self.canonical(path))
        try:
            with open(self._host("/sys/class/block/%s/queue/logical_block_size" % kname)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return 512

    def read_at(self, path, offset, length):
        """``length`` bytes at ``offset`` (fewer at the end of the device). The one
        place the data-safety probe reads device contents; it never writes."""
        fd = os.open(self._host(path), os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def is_crypt_mapping(self, path):
        """True for a dm-crypt mapping (``/sys/class/block/dm-N/dm/uuid`` starts with
        ``CRYPT-``): its never-written sectors decrypt to random bytes."""
        kname = os.path.basename(self.canonical(path))
        try:
            with open(self._host("/sys/class/block/%s/dm/uuid" % kname)) as f:
                return f.read().startswith("CRYPT-")
        except OSError:
            return False

    def is_busy(self, path):
        """True if the kernel refuses an exclusive open (mounted, swap, a dm/LUKS
        mapping or a ZFS pool on it or, for a whole disk, on one of its partitions)."""
        try:
            fd = os.open(self._host(path), os.O_RDONLY | os.O_EXCL)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return True
            raise
        os.close(fd)
        return False

    def _links(self, directory):
        out = {}
        host_dir = self._host(directory)
        try:
            names = sorted(os.listdir(host_dir))
        except OSError:
            return out
        for name in names:
            full = os.path.join(host_dir, name)
            if os.path.islink(full):
                out[os.path.join(directory, name)] = self._unhost(os.path.realpath(full))
        return out

    def aliases(self, path):
        """All names of the device ``path``: ``{"realpath", "by_id": [...],
        "by_partlabel": [...], "mapper": name-or-None}``."""
        real = self.canonical(path)
        by_id = [p for p, t in self._links(BY_ID).items() if t == real]
        by_pl = [p for p, t in self._links(BY_PARTLABEL).items() if t == real]
        mapper = [p for p, t in self._links(MAPPER).items() if t == real]
        return {"realpath": real, "by_id": by_id, "by_partlabel": by_pl,
                "mapper": mapper[0] if mapper else None}

    def preferred_by_id(self, path):
        """The most stable by-id name of ``path`` (``scsi-``/``ata-``/``nvme-`` before
        ``wwn-``), or None."""
        names = self.aliases(path)["by_id"]
        return pick_by_id(names)

    def same_device(self, a, b):
        return self.identity(a) == self.identity(b)

    def identity(self, path):
        """What ``path`` resolves to: ``("dev", major, minor)`` for a block device (so
        two device nodes or links of one disk compare equal), else ``("path",
        realpath)``."""
        import stat
        try:
            st = os.stat(self._host(path))
        except OSError:
            return ("path", self.canonical(path))
        if stat.S_ISBLK(st.st_mode):
            return ("dev", os.major(st.st_rdev), os.minor(st.st_rdev))
        return ("path", self.canonical(path))

    def mapper_holders(self, path):
        """Names of the device-mapper devices (LUKS mappings, ...) sitting on
        ``path``, from /sys/class/block/<kname>/holders/*/dm/name."""
        kname = os.path.basename(self.canonical(path))
        base = self._host("/sys/class/block/%s/holders" % kname)
        names = []
        try:
            holders = sorted(os.listdir(base))
        except OSError:
            return names
        for h in holders:
            try:
                with open(self._host("/sys/class/block/%s/dm/name" % h)) as f:
                    names.append(f.read().strip())
            except OSError:
                continue
        return names


def pick_by_id(names):
    """Pick one by-id name: prefer ones not starting with ``wwn-``/``dm-``/``lvm-``."""
    if not names:
        return None

    def rank(n):
        base = os.path.basename(n)
        return (base.startswith(("wwn-", "dm-uuid-", "dm-name-", "lvm-", "md-uuid-")),
                len(base), base)
    return sorted(names, key=rank)[0]


def partition_path(disk, number):
    """Name of partition ``number`` of ``disk``, in the same naming scheme:
    ``/dev/sda`` -> ``/dev/sda2``, ``/dev/nvme0n1`` -> ``/dev/nvme0n1p2``,
    ``/dev/disk/by-id/X`` -> ``/dev/disk/by-id/X-part2``."""
    if disk.startswith(BY_ID + "/") or disk.startswith("/dev/disk/by-path/"):
        return "%s-part%d" % (disk, number)
    if re.search(r"\d$", disk):
        return "%sp%d" % (disk, number)
    return "%s%d" % (disk, number)


def require_device(fs, path, allow_busy=False):
    """Raise :class:`DeviceError` unless ``path`` is an existing, unused block device."""
    if not path or not path.startswith("/"):
        raise DeviceError("device %r is not an absolute path (use /dev/... or "
                          "/dev/disk/by-id/...)" % (path,))
    if not fs.exists(path):
        raise DeviceError("device %r does not exist; check the name (ls -l "
                          "/dev/disk/by-id) and that the disk is attached" % path)
    if not fs.is_block(path):
        raise DeviceError("%r is not a block device" % (path,))
    if not allow_busy and fs.is_busy(path):
        raise DeviceError(
            "device %r (%s) is in use (mounted, swap, an open LUKS mapping, a ZFS pool "
            "or one of its partitions is); release it first, nothing was written"
            % (path, fs.canonical(path)))


# ---------------------------------------------------------------------------- probe
def parse_blkid_export(text):
    """Parse ``blkid -p -o export`` output into a dict (``TYPE``, ``PTTYPE``,
    ``LABEL``, ``UUID``, ``USAGE``, ...). Only the first device block is read."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            if out:
                break
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def parse_wipefs_json(text):
    """Parse ``wipefs --no-act --json`` output into a list of dicts with ``type``,
    ``offset``, ``uuid``, ``label``. Empty text means no signatures."""
    text = text.strip()
    if not text:
        return []
    data = json.loads(text)
    return [dict(s) for s in data.get("signatures", [])]


def blkid_signatures(info):
    """Signatures from a parsed ``blkid -p`` dict."""
    sigs = []
    if info.get("TYPE"):
        sigs.append(Signature(info["TYPE"], label=info.get("LABEL"), uuid=info.get("UUID"),
                              source="blkid"))
    if info.get("PTTYPE"):
        sigs.append(Signature(info["PTTYPE"], uuid=info.get("PTUUID"), source="blkid"))
    return sigs


def merge_signatures(wipefs_sigs, blkid_sigs):
    """All wipefs signatures (they carry offsets) plus the blkid ones whose type
    wipefs did not report."""
    out = list(wipefs_sigs)
    types = set(s.type for s in out)
    for s in blkid_sigs:
        if s.type not in types:
            out.append(s)
            types.add(s.type)
    return out


def probe_contents(fs, device):
    """What a device holds beyond its primary signatures (``_probe``): backup copies of
    btrfs, ext2/3/4, LUKS2, ZFS and md metadata, then, if none, a few dozen sampled
    blocks that are not all zero. Sampling is skipped on a dm-crypt mapping, whose
    never-written sectors decrypt to random bytes."""
    size = fs.size(device)

    def read(offset, length):
        return fs.read_at(device, offset, length)
    found = _probe.probe_backups(read, size)
    if not found and not fs.is_crypt_mapping(device):
        found = _probe.sample(read, size)
    return [Signature(f.type, offset="%#x" % f.offset, source="probe", detail=f.what)
            for f in found]


def probe_signatures(runner, device, fs=None):
    """All signatures on ``device`` (read-only: ``blkid -p`` then ``wipefs -n``; then,
    with ``fs`` and when both found nothing, :func:`probe_contents`).

    ``blkid -p`` exit codes: 0 found, 2 nothing, 8 ambivalent (several signatures,
    recorded as type ``ambivalent``). Anything else raises ``CommandError``."""
    res = runner.run(["blkid", "-p", "-o", "export", device], check_rc=True,
                     ok_rcs=(0, 2, 8))
    sigs_b = []
    if res.rc == 0:
        sigs_b = blkid_signatures(parse_blkid_export(res.out))
    elif res.rc == 8:
        sigs_b = [Signature("ambivalent", source="blkid")]
    res = runner.run(["wipefs", "--no-act", "--json", device])
    sigs_w = [Signature(s.get("type") or "unknown", offset=s.get("offset"),
                        label=s.get("label"), uuid=s.get("uuid"), source="wipefs")
              for s in parse_wipefs_json(res.out)]
    sigs = merge_signatures(sigs_w, sigs_b)
    if any(s.type != "ambivalent" for s in sigs):
        sigs = [s for s in sigs if s.type != "ambivalent"]
    if not sigs and fs is not None:
        sigs = probe_contents(fs, device)
    return sigs


def describe_signatures(sigs):
    names = []
    for s in sigs:
        d = s.describe()
        if d not in names:
            names.append(d)
    return ", ".join(names)


def check_signatures(device, sigs, force, action="write to it", allowed=()):
    """Raise :class:`DataSafetyError` if ``sigs`` (from :func:`probe_signatures`)
    holds a type not in ``allowed`` and ``force`` is false. Returns the offending
    signatures (empty when the device is blank)."""
    bad = [s for s in sigs if s.type not in allowed]
    if bad and not force:
        how = "blkid -p / wipefs --no-act"
        if any(s.source == "probe" for s in bad):
            how = "backup locations and sampled blocks read from the device"
        raise DataSafetyError(
            "found %s on %r (%s): refusing to %s, nothing was "
            "written. If this data may be destroyed, set force: true to overwrite"
            % (describe_signatures(bad), device, how, action), device, bad)
    return bad


def refuse_unless_blank(runner, device, force, action="write to it", allowed=(), fs=None):
    """Probe ``device`` and raise :class:`DataSafetyError` if it holds any signature
    whose type is not in ``allowed``, unless ``force``.

    Returns the list of signatures found (so a forced run can report what it
    overwrote). The message names what was found and how to override it::

        found ext4 (label 'data') on /dev/sdb (blkid -p / wipefs --no-act): refusing to
        format it as LUKS2, nothing was written. If this data may be destroyed, set
        force: true to overwrite
    """
    sigs = probe_signatures(runner, device, fs)
    check_signatures(device, sigs, force, action, allowed)
    return sigs
