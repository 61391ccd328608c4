# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""GPT tables with sgdisk: parse ``sgdisk -p``, validate the wanted table, plan.

Pure functions only (no commands are run here): :func:`parse_sgdisk_print` reads the
table and geometry, :func:`normalize_spec` validates the user's partitions,
:func:`layout` computes where sgdisk will put them, :func:`compare` tells whether an
existing table is identical, and :func:`plan` decides what to do given the data-safety
probe's signatures. :func:`create_argv` is the single sgdisk command that writes.
"""

from __future__ import annotations

import re

from ansible_collections.nixos_hetzner.vps.plugins.module_utils import _size

GPT_SIGNATURES = ("gpt", "PMBR")
ALIGN = 2048  # sgdisk's default alignment, in sectors
REST = ("rest", "0", "100%", "")


class SpecError(ValueError):
    """The requested table is invalid. ``str()`` is user-facing."""


class TableMismatch(Exception):
    """The disk holds a different GPT table and ``force`` is false."""

    def __init__(self, msg, differences):
        Exception.__init__(self, msg)
        self.differences = differences


def parse_size(value):
    """The size of a partition: ``"512M"`` / ``"1GiB"`` / ``1048576`` -> bytes (binary
    units, like sgdisk; :func:`._size.parse_size`); ``"rest"`` (or ``0``, ``"100%"``)
    -> None, meaning the rest of the disk."""
    if value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    if text.lower() in REST:
        return None
    try:
        n = _size.parse_size(text, whole=True)
    except ValueError:
        if re.fullmatch(r"\d+(?:\.\d+)?\s*(?:[KMGTPEZ]?i?B?)", text, re.IGNORECASE):
            raise SpecError("invalid size %r: must be a positive whole number of bytes" % (value,))
        raise SpecError("invalid size %r: use a number with K, M, G or T (binary units, "
                        "e.g. 512M, 20G) or 'rest'" % (value,))
    if n <= 0:
        raise SpecError("invalid size %r: must be a positive whole number of bytes" % (value,))
    return n


def human(nbytes):
    if nbytes is None:
        return "rest"
    units = (("T", 1024 ** 4), ("G", 1024 ** 3), ("M", 1024 ** 2), ("K", 1024))
    for unit, mult in units:
        if nbytes % mult == 0:
            return "%d%s" % (nbytes // mult, unit)
    for unit, mult in units:  # not a round number: approximate, size_bytes is exact
        if nbytes >= mult:
            return "%.2f%s" % (float(nbytes) / mult, unit)
    return "%dB" % nbytes


def normalize_spec(partitions):
    """Validate the ``partitions`` option; return a list sorted by number of dicts
    ``{number, name, type (upper-case code), size (bytes or None)}``."""
    if not partitions:
        raise SpecError("partitions must list at least one partition")
    out = []
    for i, p in enumerate(partitions):
        number = p.get("number")
        if not isinstance(number, int) or not 1 <= number <= 128:
            raise SpecError("partition #%d: number must be 1..128, got %r" % (i + 1, number))
        name = p.get("name")
        if not name or len(name) > 36:
            raise SpecError("partition %d: name (the partlabel) must be 1..36 characters"
                            % number)
        code = str(p.get("type") or "8300").upper()
        if not re.fullmatch(r"[0-9A-F]{4}", code):
            raise SpecError("partition %d: type %r is not a 4-digit sgdisk type code such as "
                            "EF02 (BIOS boot), EF00 (ESP), 8309 (Linux LUKS), BF00 (ZFS), "
                            "8300 (Linux)" % (number, p.get("type")))
        label = p.get("label")
        if label is not None and (not p.get("filesystem") or not 1 <= len(label) <= 11):
            raise SpecError("partition %d: label needs filesystem and is 1..11 characters "
                            "(vfat)" % number)
        out.append({"number": number, "name": name, "type": code,
                    "size": parse_size(p.get("size")), "filesystem": p.get("filesystem"),
                    "label": label})
    out.sort(key=lambda q: q["number"])
    nums = [q["number"] for q in out]
    if len(set(nums)) != len(nums):
        raise SpecError("partition numbers must be unique, got %s" % nums)
    names = [q["name"] for q in out]
    if len(set(names)) != len(names):
        raise SpecError("partition names must be unique (they become "
                        "/dev/disk/by-partlabel/<name>), got %s" % names)
    for q in out[:-1]:
        if q["size"] is None:
            raise SpecError("only the last partition (by number) may take the rest of the "
                            "disk; partition %d has no size" % q["number"])
    return out


def blank_geometry(size_bytes, sector_size, unreadable=False):
    """The geometry ``sgdisk -p`` reports for a blank disk of ``size_bytes``: 128
    entries of 128 bytes after the header, a backup table of the same size at the end."""
    sectors = size_bytes // sector_size
    table = 128 * 128 // sector_size
    return {"partitions": [], "new": True, "unreadable": unreadable, "sectors": sectors,
            "sector_size": sector_size, "first_usable": 2 + table,
            "last_usable": sectors - 2 - table}


def parse_sgdisk_print(text):
    """Parse ``sgdisk -p`` into ``{sectors, sector_size, first_usable, last_usable,
    guid, new (True when sgdisk found no GPT), partitions: [{number, start, end,
    size (bytes), type, name}]}``."""
    info = {"partitions": [], "new": "Creating new GPT entries" in text}
    in_table = False
    for line in text.splitlines():
        m = re.match(r"Disk .*: (\d+) sectors", line)
        if m:
            info["sectors"] = int(m.group(1))
        m = re.match(r"Sector size \(logical(?:/physical)?\): (\d+)", line)
        if m:
            info["sector_size"] = int(m.group(1))
        m = re.match(r"Disk identifier \(GUID\): (\S+)", line)
        if m:
            info["guid"] = m.group(1)
        m = re.match(r"First usable sector is (\d+), last usable sector is (\d+)", line)
        if m:
            info["first_usable"], info["last_usable"] = int(m.group(1)), int(m.group(2))
        if line.startswith("Number") and "Start" in line:
            in_table = True
            continue
        if in_table:
            m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+([0-9A-Fa-f]{4})\s*(.*)$", line)
            if m:
                start, end = int(m.group(2)), int(m.group(3))
                info["partitions"].append({
                    "number": int(m.group(1)), "start": start, "end": end,
                    "type": m.group(4).upper(), "name": m.group(5).rstrip()})
    ss = info.get("sector_size", 512)
    for p in info["partitions"]:
        p["size"] = (p["end"] - p["start"] + 1) * ss
    return info


def _align_up(n, a=ALIGN):
    return (n + a - 1) // a * a


def layout(spec, geo):
    """Where sgdisk will place ``spec`` on a disk with geometry ``geo`` (from
    :func:`parse_sgdisk_print`): the spec entries plus ``start``/``end`` sectors.
    Raises :class:`SpecError` if a size is not a whole number of sectors or the
    partitions do not fit."""
    ss = geo.get("sector_size", 512)
    pos = max(geo.get("first_usable", 34), ALIGN)
    last = geo["last_usable"]
    out = []
    for p in spec:
        start = _align_up(pos)
        if p["size"] is None:
            # the rest of the disk, but ending on an alignment boundary so the size is a
            # whole number of MiB (LUKS2 with 4096-byte sectors needs a multiple of 4 KiB)
            end = (last + 1) // ALIGN * ALIGN - 1
            if end <= start:
                end = last
        else:
            if p["size"] % ss:
                raise SpecError("partition %d: size %s is not a multiple of the %d-byte "
                                "sector size" % (p["number"], human(p["size"]), ss))
            end = start + p["size"] // ss - 1
        if end > last or start > last:
            need = sum(q["size"] or 0 for q in spec)
            raise SpecError("the partitions do not fit: partition %d would end at sector %d "
                            "but the disk's last usable sector is %d (disk %s, requested at "
                            "least %s)" % (p["number"], end, last, human(geo["sectors"] * ss),
                                           human(need)))
        q = dict(p)
        q.update(start=start, end=end, size_bytes=(end - start + 1) * ss)
        out.append(q)
        pos = end + 1
    return out


def compare(spec, geo):
    """Differences between the wanted ``spec`` and the table in ``geo`` (a list of
    strings; empty means identical). Positions are not compared, only number, name,
    type and size; a 'rest' partition must reach the end of the disk (within one
    alignment unit)."""
    diffs = []
    have = dict((p["number"], p) for p in geo["partitions"])
    want = dict((p["number"], p) for p in spec)
    for n in sorted(set(have) | set(want)):
        h, w = have.get(n), want.get(n)
        if h is None:
            diffs.append("partition %d (%s) is missing" % (n, w["name"]))
            continue
        if w is None:
            diffs.append("partition %d (%s) exists but is not requested" % (n, h["name"]))
            continue
        if h["name"] != w["name"]:
            diffs.append("partition %d: name is %r, requested %r" % (n, h["name"], w["name"]))
        if h["type"] != w["type"]:
            diffs.append("partition %d: type is %s, requested %s" % (n, h["type"], w["type"]))
        if w["size"] is None:
            if h["end"] < geo["last_usable"] - ALIGN:
                diffs.append("partition %d: ends at sector %d, requested the rest of the "
                             "disk (last usable sector %d)" % (n, h["end"], geo["last_usable"]))
        elif h["size"] != w["size"]:
            diffs.append("partition %d: size is %s (%d bytes), requested %s (%d bytes)"
                         % (n, human(h["size"]), h["size"], human(w["size"]), w["size"]))
    return diffs


def table_view(parts):
    """Partitions as shown in diff/return: number, name, type, size, start, end."""
    return [{"number": p["number"], "name": p["name"], "type": p["type"],
             "size": human(p.get("size_bytes", p.get("size"))),
             "start": p.get("start"), "end": p.get("end")} for p in parts]


def create_argv(device, placed, pretend=False):
    """The one sgdisk command that writes a fresh table (``--clear``) with all
    partitions. ``pretend=True`` adds ``--pretend`` (sgdisk's dry run, check mode)."""
    argv = ["sgdisk"]
    if pretend:
        argv.append("--pretend")
    argv += ["--clear", "--set-alignment=%d" % ALIGN]
    for p in placed:
        end = str(p["end"])
        argv += ["--new=%d:%d:%s" % (p["number"], p["start"], end),
                 "--typecode=%d:%s" % (p["number"], p["type"]),
                 "--change-name=%d:%s" % (p["number"], p["name"])]
    argv.append(device)
    return argv


def plan(spec, geo, signatures, force):
    """Decide. ``signatures`` are the data-safety probe's findings on the disk.

    Returns ``{"action": "none"|"create"|"recreate", "placed": [...], "before": [...],
    "differences": [...], "overwrite": [signature types]}``. Raises
    :class:`TableMismatch` for a different GPT without force; the caller handles
    non-GPT signatures with ``_blockdev.refuse_unless_blank`` (it needs the runner)."""
    placed = layout(spec, geo)
    types = [s.type for s in signatures]
    is_gpt = bool(types) and all(t in GPT_SIGNATURES for t in types) and not geo.get("new") \
        and not geo.get("unreadable")
    result = {"placed": placed, "before": geo["partitions"] if is_gpt else [],
              "differences": [], "overwrite": []}
    if not types:
        result["action"] = "create"
        return result
    if is_gpt:
        diffs = compare(spec, geo)
        result["differences"] = diffs
        if not diffs:
            result["action"] = "none"
            return result
        if not force:
            raise TableMismatch(
                "the disk holds a different GPT table: %s. Refusing to change it, nothing "
                "was written; set force: true to overwrite the table (data on the old "
                "partitions becomes unreachable)" % "; ".join(diffs), diffs)
        result["action"] = "recreate"
        result["overwrite"] = sorted(set(types))
        return result
    # other signatures (the caller refused them unless force), or a GPT signature that
    # sgdisk cannot read as a table (damaged): never rewritten without force
    if not force:
        raise TableMismatch(
            "the disk holds %s but sgdisk reads no valid GPT table from it; refusing to write, "
            "nothing was written. Set force: true to overwrite" % ", ".join(sorted(set(types))),
            ["unreadable table"])
    result["action"] = "recreate"
    result["overwrite"] = sorted(set(types))
    return result
