# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Parsers of ``zfs``/``zpool`` output (pure): ``get -Hp``, ``zfs list -H``,
``zpool status -P -L`` and the listing of ``zpool import``."""

from __future__ import annotations

import re


def parse_get(text, with_name=False):
    """Parse ``zfs get -Hp -o property,value,source`` (or ``zpool get``) output.

    Returns ``{property: (value, source)}``; with ``with_name`` (for ``-o
    name,property,value,source``) returns ``{name: {property: (value, source)}}``.
    A value may contain tabs; the source (last column) never does.
    """
    result = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        head = 2 if with_name else 1
        if len(parts) < head + 2:
            raise ValueError("unexpected 'get' line: %r" % line)
        value, source = "\t".join(parts[head:-1]), parts[-1]
        if with_name:
            result.setdefault(parts[0], {})[parts[1]] = (value, source)
        else:
            result[parts[0]] = (value, source)
    return result


def parse_zfs_list(text):
    """``zfs list -H -p -o name,type ...`` -> list of (name, type)."""
    out = []
    for line in text.splitlines():
        if line.strip():
            name, _sep, kind = line.partition("\t")
            out.append((name, kind.strip()))
    return out


_ROLE_HEADERS = {"logs": "log", "cache": "cache", "spares": "spare", "special": "special", "dedup": "dedup"}
_GROUP = re.compile(r"^(mirror|raidz[123]?|draid[123]?(?::[^ ]*)?|replacing|spare)-\d+$")


def parse_zpool_status(text):
    """Parse ``zpool status -P -L <pool>`` into the pool's layout.

    Returns ``{"pool": name, "state": state, "vdevs": [{"role", "type", "devices"}]}``
    where ``role`` is data/log/cache/spare/special/dedup, ``type`` is disk (a single
    device at top level), mirror, raidz1-3 or draidN, and ``devices`` are the leaf
    paths as printed. A missing device printed as its GUID with ``was /dev/...`` is
    reported by its former path.
    """
    lines = text.splitlines()
    pool = state = None
    for line in lines:
        s = line.strip()
        if s.startswith("pool:"):
            pool = s.split(":", 1)[1].strip()
        elif s.startswith("state:") and state is None:
            state = s.split(":", 1)[1].strip()
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == "config:")
    except StopIteration:
        raise ValueError("no 'config:' section in zpool status output")
    entries = []  # (indent, name, rest)
    for line in lines[start + 1:]:
        if not line.strip():
            if entries:
                # A blank line after the tree ends it (errors: follows).
                pass
            continue
        stripped = line.lstrip("\t")
        if not line.startswith("\t") and not line.startswith(" " * 8):
            break  # "errors:" or another top-level section
        indent = len(stripped) - len(stripped.lstrip(" "))
        words = stripped.split()
        if words[0] == "NAME" and "STATE" in words:
            continue
        entries.append((indent, words[0], words[1:], stripped))
    if not entries:
        raise ValueError("empty configuration in zpool status output")
    root_indent = entries[0][0]
    vdevs = []
    role = "data"
    current = None
    for indent, name, rest, raw in entries[1:]:
        level = (indent - root_indent) // 2
        if level == 0:
            if name in _ROLE_HEADERS:
                role = _ROLE_HEADERS[name]
                current = None
                continue
            raise ValueError("unexpected top-level entry %r in zpool status" % name)
        path = name
        m = re.search(r"\bwas (\S+)", raw)
        if m and name.isdigit():
            path = m.group(1)
        if level == 1:
            g = _GROUP.match(name)
            if g:
                kind = g.group(1).split(":")[0]
                if kind == "raidz":
                    kind = "raidz1"
                current = {"role": role, "type": kind, "devices": []}
                vdevs.append(current)
            else:
                vdevs.append({"role": role, "type": "disk", "devices": [path]})
                current = None
        else:
            if _GROUP.match(name):
                continue  # replacing-0 / spare-0 inside a vdev: its leaves follow
            if current is None:
                raise ValueError("device %r outside of a vdev in zpool status" % name)
            current["devices"].append(path)
    return {"pool": pool, "state": state, "vdevs": vdevs}


def parse_zpool_import_list(text):
    """Parse the listing of ``zpool import`` (no pool argument): [{name, id, state}]."""
    pools = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("pool:"):
            pools.append({"name": s.split(":", 1)[1].strip(), "id": None, "state": None})
        elif pools and s.startswith("id:") and pools[-1]["id"] is None:
            pools[-1]["id"] = s.split(":", 1)[1].strip()
        elif pools and s.startswith("state:") and pools[-1]["state"] is None:
            pools[-1]["state"] = s.split(":", 1)[1].strip()
    return pools
