# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""ZFS property tables, value normalisation and name checks (pure).

Values read back with ``-p`` (bytes, ``0`` for ``none``) and values the user wrote
(``10G``, ``none``, ``yes``/``true``) are brought to one form by
:func:`normalise_value` before anything compares them. :class:`PlanError` is the
user-facing error of the ZFS planners (:mod:`._zfs_dataset`, :mod:`._zfs_pool`).
"""

from __future__ import annotations

import re

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._size import parse_size

# ---------------------------------------------------------------- properties

#: Dataset properties that can only be set when the dataset is created.
CREATE_ONLY_PROPERTIES = frozenset((
    "encryption", "keyformat", "pbkdf2iters", "casesensitivity", "normalization",
    "utf8only", "volblocksize",
))

#: Dataset properties that ZFS computes; asking for them is a mistake.
READONLY_PROPERTIES = frozenset((
    "available", "avail", "compressratio", "createtxg", "creation", "clones",
    "defer_destroy", "encryptionroot", "filesystem_count", "guid", "keystatus",
    "logicalreferenced", "logicalused", "mounted", "name", "objsetid", "origin",
    "receive_resume_token", "redact_snaps", "referenced", "refcompressratio",
    "snapshot_count", "snapshots_changed", "type", "used", "usedbychildren",
    "usedbydataset", "usedbyrefreservation", "usedbysnapshots", "userrefs",
    "written", "inconsistent", "unique",
))

#: Dataset properties that ``zfs set`` changes.
SETTABLE_PROPERTIES = frozenset((
    "aclinherit", "aclmode", "acltype", "atime", "canmount", "checksum",
    "compression", "context", "copies", "dedup", "defcontext", "devices",
    "direct", "dnodesize", "exec", "filesystem_limit", "fscontext", "jailed",
    "keylocation", "logbias", "longname", "mlslabel", "mountpoint", "nbmand",
    "overlay", "prefetch", "primarycache", "quota", "readonly", "recordsize",
    "redundant_metadata", "refquota", "refreservation", "relatime",
    "reservation", "rootcontext", "secondarycache", "setuid", "sharenfs",
    "sharesmb", "snapdev", "snapdir", "snapshot_limit", "special_small_blocks",
    "sync", "version", "volmode", "volsize", "volthreading", "vscan", "xattr",
    "zoned",
))

#: Short names ZFS accepts for some properties, mapped to the name it reports.
PROPERTY_ALIASES = {
    "compress": "compression", "recsize": "recordsize", "refreserv": "refreservation",
    "reserv": "reservation", "volblock": "volblocksize", "avail": "available",
    "refer": "referenced", "lrefer": "logicalreferenced", "lused": "logicalused",
    "ratio": "compressratio", "refratio": "refcompressratio", "redacted_snaps": "redact_snaps",
}

#: Value aliases ZFS accepts but reports under another name (OpenZFS >= 2.0 prints
#: ``acltype=posix`` for ``posixacl`` and ``off`` for ``noacl``).
VALUE_ALIASES = {
    "acltype": {"posixacl": "posix", "noacl": "off"},
}

#: Properties whose values are byte counts (``10G``; ``-p`` reads them back in bytes).
SIZE_PROPERTIES = frozenset((
    "quota", "refquota", "reservation", "refreservation", "volsize", "recordsize",
    "volblocksize", "special_small_blocks",
))

#: Count limits: ``none`` reads back as 2**64-1 with ``-p``.
LIMIT_PROPERTIES = frozenset(("filesystem_limit", "snapshot_limit"))
UINT64_MAX = 2 ** 64 - 1

#: Pool properties that ``zpool set`` changes (``feature@...`` are handled apart).
POOL_SETTABLE_PROPERTIES = frozenset((
    "ashift", "autoexpand", "autoreplace", "autotrim", "bootfs", "cachefile",
    "comment", "compatibility", "dedupditto", "delegation", "failmode",
    "listsnapshots", "multihost", "version",
))
#: Pool properties that can only be given when the pool is created or imported.
POOL_CREATE_ONLY_PROPERTIES = frozenset(("altroot", "readonly"))

_USER_PROPERTY = re.compile(r"^[a-z0-9_.+-]*:[a-z0-9_.:+-]+$", re.IGNORECASE)
_POOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*$")
_RESERVED_POOL_NAMES = ("mirror", "raidz", "draid", "spare", "log", "cache", "special", "dedup")
_DATASET_COMPONENT = re.compile(r"^[A-Za-z0-9_.:-]+$")


class PlanError(Exception):
    """The request cannot be carried out; the message says what to do instead."""


def canonical_property(name):
    """Lower-case native names and expand ZFS's short aliases; user properties keep their case."""
    if ":" in name:
        return name
    name = name.lower()
    return PROPERTY_ALIASES.get(name, name)


def is_user_property(name):
    return ":" in name


def normalise_value(prop, value):
    """Bring a wanted or observed value to the form ``zfs get -Hp`` prints.

    Sizes become byte counts (``none`` -> ``0``), limits' ``none`` becomes 2**64-1,
    paths lose a trailing slash, booleans from YAML become ``on``/``off``.
    """
    if isinstance(value, bool):
        value = "on" if value else "off"
    value = str(value)
    if prop in SIZE_PROPERTIES:
        if value in ("none", "-", ""):
            return "0"
        if value == "auto":
            return value
        return str(parse_size(value))
    if prop in LIMIT_PROPERTIES:
        return str(UINT64_MAX) if value == "none" else value
    if prop == "mountpoint" and len(value) > 1 and value.startswith("/"):
        return value.rstrip("/")
    return VALUE_ALIASES.get(prop, {}).get(value, value)


def validate_dataset_property(prop, value):
    """Raise PlanError for a property that does not exist, is read-only or has a bad value."""
    if is_user_property(prop):
        if not _USER_PROPERTY.match(prop):
            raise PlanError("invalid user property name %r: use module:property (letters, digits, _ . : + -)" % prop)
        return
    if prop in READONLY_PROPERTIES:
        raise PlanError("property %r is read-only: ZFS computes it, remove it from properties" % prop)
    if prop not in SETTABLE_PROPERTIES and prop not in CREATE_ONLY_PROPERTIES:
        raise PlanError("unknown property %r: not a ZFS dataset property (user properties need a colon, e.g. 'org:key')" % prop)
    if prop in SIZE_PROPERTIES:
        try:
            normalise_value(prop, value)
        except ValueError as e:
            raise PlanError("property %s: %s" % (prop, e))


def format_value(value):
    """A property value as ``zfs``/``zpool`` take it on the command line (YAML booleans
    become ``on``/``off``)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


# ---------------------------------------------------------------- names

#: ``ZFS_MAX_DATASET_NAME_LEN`` (include/sys/fs/zfs.h) counts the final NUL.
MAX_DATASET_NAME_LEN = 256 - 1
#: ``pool_namecheck`` (module/zcommon/zfs_namecheck.c) keeps room for
#: ``pool/$ORIGIN@$ORIGIN``: ``strlen(pool) < 256 - 2 - 2 * strlen("$ORIGIN")``.
MAX_POOL_NAME_LEN = 256 - 2 - 2 * len("$ORIGIN") - 1


def validate_pool_name(name):
    if name and len(name) > MAX_POOL_NAME_LEN:
        raise PlanError("invalid pool name %r...: %d characters, ZFS allows at most %d"
                        % (name[:20], len(name), MAX_POOL_NAME_LEN))
    if not name or not _POOL_NAME.match(name):
        raise PlanError("invalid pool name %r: it must start with a letter and contain only "
                        "letters, digits, '_', '-', '.', ':'" % (name,))
    low = name.lower()
    if low in _RESERVED_POOL_NAMES or \
            re.match(r"^(mirror|raidz|draid|spare)", low) or re.match(r"^c[0-9]", low):
        raise PlanError("invalid pool name %r: names beginning with mirror, raidz, draid, spare "
                        "or c[0-9], and the words log, cache, special, dedup are reserved" % name)


def validate_dataset_name(name):
    if not name or name.startswith("/") or name.endswith("/") or "//" in name:
        raise PlanError("invalid dataset name %r: use pool/path/to/dataset" % (name,))
    if "@" in name or "#" in name:
        raise PlanError("invalid dataset name %r: snapshots and bookmarks are not datasets" % name)
    if len(name) > MAX_DATASET_NAME_LEN:
        raise PlanError("invalid dataset name %r...: %d characters, ZFS allows at most %d "
                        "including the pool name" % (name[:20], len(name), MAX_DATASET_NAME_LEN))
    parts = name.split("/")
    for part in parts:
        if not _DATASET_COMPONENT.match(part):
            raise PlanError("invalid dataset name %r: component %r may contain only letters, "
                            "digits, '_', '-', '.', ':'" % (name, part))
    validate_pool_name(parts[0])
