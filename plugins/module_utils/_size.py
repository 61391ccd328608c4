# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Sizes with binary units, as ``sgdisk``, ``zfs`` and ``zpool`` read them."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPEZ]?)(?:i?B)?\s*$", re.IGNORECASE)
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60, "Z": 70}


def parse_size(text, whole=False):
    """``'10G'`` -> 10737418240: powers of 1024, ``B``/``iB`` optional, an int is
    already bytes. A fraction of a byte (``1.1K``) is rounded down, or, with
    ``whole``, refused. Raises ValueError for anything that is not a size."""
    if isinstance(text, bool):
        raise ValueError("not a size: %r" % (text,))
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError("not a size: %r (use bytes or a suffix K, M, G, T, P, E)" % (text,))
    number, suffix = m.groups()
    shift = _SHIFT[suffix.upper()]
    whole_part, _dot, frac = number.partition(".")
    value = int(whole_part) << shift
    if frac:
        scaled = int(frac) << shift
        if whole and scaled % (10 ** len(frac)):
            raise ValueError("not a whole number of bytes: %r" % (text,))
        value += scaled // (10 ** len(frac))
    return value
