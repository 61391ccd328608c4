# Private to the nixos_hetzner.vps collection: not a public API, may change without notice.
"""Pure parsers and planners for ZFS datasets and pools.

Nothing in this file runs a command. The modules read the system through the
collection's one command runner, hand the raw output to the parsers here, and
ask the planners what to do. A planner returns a :class:`Plan` (the commands,
the diff and ``changed``) or raises :class:`PlanError` with a message a person
can act on. Unit tests call these functions with strings and dicts.

Normalisation is the point of this file: values read back with ``-p`` (bytes,
``0`` for ``none``) and values the user wrote (``10G``, ``none``, ``/var``
under an altroot) are brought to one form before they are compared, and
devices are compared by kernel name after resolving by-id, by-partlabel and
/dev/mapper links (see :func:`topology_from_request` and
:func:`topology_from_status`).
"""

from __future__ import annotations

import re

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


class Action:
    """One command of a plan.

    ``argv`` is run for real; ``check_argv`` (if not None) is a read-only dry run
    (``-n``) that check mode runs instead; ``stdin_secret`` names the secret the
    seam must feed on stdin (it is never part of argv).
    """

    __slots__ = ("argv", "check_argv", "stdin_secret", "description")

    def __init__(self, argv, description, check_argv=None, stdin_secret=None):
        self.argv = list(argv)
        self.description = description
        self.check_argv = list(check_argv) if check_argv else None
        self.stdin_secret = stdin_secret

    def __eq__(self, other):
        return isinstance(other, Action) and (self.argv, self.check_argv, self.stdin_secret) == (
            other.argv, other.check_argv, other.stdin_secret)

    def __repr__(self):
        return "Action(%r)" % (self.argv,)


class Plan:
    """What a planner decided: ``actions`` in order, ``before``/``after`` for diff mode."""

    def __init__(self, actions=None, before=None, after=None, warnings=None):
        self.actions = list(actions or [])
        self.before = before if before is not None else {}
        self.after = after if after is not None else {}
        self.warnings = list(warnings or [])

    @property
    def changed(self):
        return bool(self.actions)

    @property
    def commands(self):
        return [a.argv for a in self.actions]


# ---------------------------------------------------------------- values

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPEZ]?)(?:i?B)?\s*$", re.IGNORECASE)
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60, "Z": 70}


def parse_size(text):
    """``'10G'`` -> 10737418240, as ``zfs`` reads it (powers of 1024, ``B``/``iB`` optional).

    Raises ValueError for anything that is not a size.
    """
    if isinstance(text, bool):
        raise ValueError("not a size: %r" % (text,))
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError("not a size: %r (use bytes or a suffix K, M, G, T, P, E)" % (text,))
    number, suffix = m.groups()
    shift = _SHIFT[suffix.upper()]
    if "." in number:
        whole, frac = number.split(".")
        value = (int(whole) << shift) + (int(frac) << shift) // (10 ** len(frac))
    else:
        value = int(number) << shift
    return value


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


# ---------------------------------------------------------------- parsers

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
    if low in ("mirror", "raidz", "draid", "spare", "log", "cache", "special", "dedup") or \
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


# ---------------------------------------------------------------- dataset planner

def _effective_mountpoint(value, altroot):
    """Strip the pool's altroot that ``zfs get`` prefixes to absolute mountpoints."""
    if altroot and altroot not in ("-", "/") and value.startswith("/"):
        root = altroot.rstrip("/")
        if value == root:
            return "/"
        if value.startswith(root + "/"):
            return value[len(root):]
    return value


def compare_properties(wanted, observed, kind, altroot=None, creating=False):
    """Compare wanted properties with ``parse_get`` output of an existing dataset.

    Returns ``(to_set, before, after)``; raises PlanError on a difference in a
    create-only property or on a property that does not apply to ``kind``.
    ``altroot`` is the pool's altroot (or None), needed for mountpoints.
    """
    to_set = {}
    before, after = {}, {}
    conflicts = []
    for prop, raw in wanted.items():
        want = normalise_value(prop, raw)
        if prop in observed:
            have, source = observed[prop]
        elif is_user_property(prop):
            have, source = "-", "-"
        else:
            raise PlanError("property %r does not apply to a %s" % (prop, kind))
        have_n = normalise_value(prop, have) if have != "-" or prop in SIZE_PROPERTIES else have
        if prop == "mountpoint":
            have_n = _effective_mountpoint(have_n, altroot)
        if prop == "refreservation" and want == "auto" and source == "local":
            want = have_n
        before[prop] = have_n
        after[prop] = want
        if have_n != want:
            if prop in CREATE_ONLY_PROPERTIES:
                conflicts.append("%s is %s, requested %s" % (prop, have_n, want))
            else:
                to_set[prop] = raw
    if conflicts:
        raise PlanError("properties that can only be set at creation differ: %s; ZFS cannot change "
                        "them on an existing dataset (recreate it, or change the request)" % "; ".join(conflicts))
    return to_set, before, after


def _format_value(prop, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def validate_dataset_request(name, wanted, kind="filesystem", volsize=None, state="present",
                             mounted=None):
    """Check names, properties and their values; returns the wanted properties keyed by
    canonical name (with ``volsize`` folded in). Raises PlanError; runs nothing."""
    validate_dataset_name(name)
    wanted = {canonical_property(k): v for k, v in (wanted or {}).items()}
    for prop, value in wanted.items():
        validate_dataset_property(prop, value)
    if state == "absent":
        return wanted
    if kind == "volume":
        if mounted is not None:
            raise PlanError("mounted applies only to filesystems; a volume is a block device (/dev/zvol/%s)" % name)
        for prop in ("mountpoint", "canmount", "recordsize"):
            if prop in wanted:
                raise PlanError("property %r does not apply to a volume" % prop)
        if volsize is not None:
            try:
                normalise_value("volsize", volsize)
            except ValueError as e:
                raise PlanError("volsize: %s" % e)
            if "volsize" in wanted and normalise_value("volsize", wanted["volsize"]) != normalise_value("volsize", volsize):
                raise PlanError("volsize given twice with different values")
            wanted["volsize"] = volsize
    elif volsize is not None or "volsize" in wanted or "volblocksize" in wanted:
        raise PlanError("volsize and volblocksize apply only to type: volume")
    return wanted


def plan_dataset(name, state, observed, wanted=None, kind="filesystem", volsize=None,
                 sparse=False, recursive=False, create_parents=False, mounted=None,
                 altroot=None, have_key=False, children=None):
    """Decide what ``zfs_dataset`` does.

    ``observed`` is ``parse_get`` output for the dataset, or None if it does not
    exist. ``children`` (for ``state=absent``) lists descendants, including
    snapshots. ``mounted`` None means leave as is.
    """
    wanted = validate_dataset_request(name, wanted, kind, volsize, state=state, mounted=mounted)
    if state == "absent":
        if observed is None:
            return Plan(before={"state": "absent"}, after={"state": "absent"})
        actions = []
        if children:
            if not recursive:
                raise PlanError("%s has %d descendant(s) (%s); state=absent without recursive: true "
                                "never destroys them" % (name, len(children), ", ".join(children[:5])
                                                         + (", ..." if len(children) > 5 else "")))
            argv = ["zfs", "destroy", "-r", name]
            actions.append(Action(argv, "destroy %s and its descendants" % name,
                                  check_argv=["zfs", "destroy", "-n", "-r", name]))
        else:
            actions.append(Action(["zfs", "destroy", name], "destroy %s" % name,
                                  check_argv=["zfs", "destroy", "-n", name]))
        return Plan(actions, before={"state": "present", "descendants": list(children or [])},
                    after={"state": "absent"})

    if observed is None:
        if kind == "volume" and "volsize" not in wanted:
            raise PlanError("creating volume %s needs volsize (e.g. volsize: 10G)" % name)
        argv = ["zfs", "create"]
        if create_parents:
            argv.append("-p")
        if kind == "volume":
            if sparse:
                argv.append("-s")
        else:
            argv.append("-u")
        stdin_secret = None
        for prop in sorted(wanted):
            if prop == "volsize":
                continue
            argv += ["-o", "%s=%s" % (prop, _format_value(prop, wanted[prop]))]
        if have_key:
            if wanted.get("keylocation", "prompt") != "prompt":
                raise PlanError("encryption_key is given on stdin: keylocation must be 'prompt' or omitted")
            if "keyformat" not in wanted:
                raise PlanError("encryption_key needs properties.keyformat (passphrase, hex or raw)")
            stdin_secret = "encryption_key"
        if kind == "volume":
            argv += ["-V", str(normalise_value("volsize", wanted["volsize"]))]
        argv.append(name)
        check = None if stdin_secret else argv[:2] + ["-n"] + argv[2:]
        actions = [Action(argv, "create %s %s" % (kind, name), check_argv=check, stdin_secret=stdin_secret)]
        if mounted and kind == "filesystem":
            actions.append(Action(["zfs", "mount", name], "mount %s" % name))
        after = {"state": "present", "type": kind}
        after.update({p: normalise_value(p, v) for p, v in wanted.items()})
        if mounted is not None and kind == "filesystem":
            after["mounted"] = "yes" if mounted else "no"
        return Plan(actions, before={"state": "absent"}, after=after)

    have_type = observed.get("type", ("", ""))[0]
    if have_type and have_type != kind:
        raise PlanError("%s exists as a %s, requested a %s; ZFS cannot convert it" % (name, have_type, kind))
    to_set, before, after = compare_properties(wanted, observed, kind, altroot=altroot)
    before = dict(before, state="present")
    after = dict(after, state="present")
    actions = []
    if to_set:
        argv = ["zfs", "set"]
        argv += ["%s=%s" % (p, _format_value(p, to_set[p])) for p in sorted(to_set)]
        argv.append(name)
        actions.append(Action(argv, "set %s on %s" % (", ".join(sorted(to_set)), name)))
    if mounted is not None and kind == "filesystem":
        is_mounted = observed.get("mounted", ("no", "-"))[0] == "yes"
        before["mounted"] = "yes" if is_mounted else "no"
        after["mounted"] = "yes" if mounted else "no"
        if mounted and not is_mounted:
            actions.append(Action(["zfs", "mount", name], "mount %s" % name))
        elif not mounted and is_mounted:
            actions.append(Action(["zfs", "unmount", name], "unmount %s" % name))
    return Plan(actions, before=before, after=after)


def mountpoint_needs_altroot(wanted, observed):
    """True when only the pool's altroot can tell whether a mountpoint differs.

    ``zfs get`` prints mountpoints with the altroot in front. When the wanted
    mountpoint equals the observed one (or is not absolute), no extra read is needed.
    """
    if observed is None or "mountpoint" not in wanted:
        return False
    want = normalise_value("mountpoint", wanted["mountpoint"])
    have = observed.get("mountpoint", ("-", "-"))[0]
    return want.startswith("/") and have.startswith("/") and normalise_value("mountpoint", have) != want


# ---------------------------------------------------------------- pools: devices

VDEV_TYPES = ("stripe", "mirror", "raidz1", "raidz2", "raidz3")
VDEV_ROLES = ("data", "log", "cache", "spare", "special", "dedup")
_MIN_DEVICES = {"mirror": 2, "raidz1": 2, "raidz2": 3, "raidz3": 4, "stripe": 1}


class DeviceId:
    """A block device as the kernel names it: ``sdb1`` with parent ``sdb`` and partition 1."""

    __slots__ = ("name", "parent", "partition")

    def __init__(self, name, parent=None, partition=None):
        self.name = name
        self.parent = parent
        self.partition = partition

    def __repr__(self):
        return "DeviceId(%r, %r, %r)" % (self.name, self.parent, self.partition)

    def __eq__(self, other):
        return isinstance(other, DeviceId) and (self.name, self.parent, self.partition) == (
            other.name, other.parent, other.partition)

    def __hash__(self):
        return hash(self.name)


def validate_vdevs(vdevs):
    """Check a requested topology; returns it normalised (type raidz -> raidz1, role default data)."""
    if not vdevs:
        raise PlanError("vdevs is empty: a pool needs at least one data vdev")
    out = []
    seen = {}
    for i, v in enumerate(vdevs):
        kind = (v.get("type") or "stripe").lower()
        if kind == "raidz":
            kind = "raidz1"
        role = (v.get("role") or "data").lower()
        devices = list(v.get("devices") or [])
        where = "vdevs[%d]" % i
        if kind not in VDEV_TYPES:
            raise PlanError("%s: unknown type %r (use one of %s)" % (where, kind, ", ".join(VDEV_TYPES)))
        if role not in VDEV_ROLES:
            raise PlanError("%s: unknown role %r (use one of %s)" % (where, role, ", ".join(VDEV_ROLES)))
        if not devices:
            raise PlanError("%s: no devices" % where)
        if len(devices) < _MIN_DEVICES[kind]:
            raise PlanError("%s: %s needs at least %d devices, got %d" % (where, kind, _MIN_DEVICES[kind], len(devices)))
        if role in ("cache", "spare") and kind != "stripe":
            raise PlanError("%s: %s devices cannot be in a %s; use type: stripe" % (where, role, kind))
        if role in ("log", "special", "dedup") and kind.startswith("raidz"):
            raise PlanError("%s: %s vdevs can be single devices or mirrors, not %s" % (where, role, kind))
        for d in devices:
            if not str(d).startswith("/"):
                raise PlanError("%s: device %r is not an absolute path (use /dev/disk/by-id/..., "
                                "/dev/mapper/... or /dev/sdX)" % (where, d))
            if d in seen:
                raise PlanError("%s: device %r is also in %s" % (where, d, seen[d]))
            seen[d] = where
        out.append({"role": role, "type": kind, "devices": devices})
    if not any(v["role"] == "data" for v in out):
        raise PlanError("vdevs has no data vdev (role: data)")
    return out


def check_distinct_devices(vdevs, identify):
    """Refuse two names of one device, and a disk together with one of its partitions.

    ``identify(path)`` returns ``(identity, DeviceId)``: the identity compares equal for
    every name of one device (``DevFS.identity``: the device number), the DeviceId
    gives the kernel name and parent disk. Raises PlanError; runs nothing."""
    seen = []
    for i, v in enumerate(vdevs):
        for path in v["devices"]:
            ident, dev = identify(path)
            for other_where, other_path, other_ident, other_dev in seen:
                if ident == other_ident:
                    raise PlanError(
                        "vdevs[%d]: device %r and %r in %s are the same disk (%s); give each "
                        "device once, nothing was written" % (i, path, other_path, other_where, dev.name))
                if dev.parent and dev.parent == other_dev.name or \
                        other_dev.parent and other_dev.parent == dev.name:
                    part, disk = (path, other_path) if dev.parent else (other_path, path)
                    raise PlanError(
                        "vdevs: %r is a partition of %r, which is also requested; zpool create "
                        "would repartition the whole disk. Nothing was written" % (part, disk))
            seen.append(("vdevs[%d]" % i, path, ident, dev))


_ZFS_LABEL_NAME = re.compile(r"^zfs-[0-9a-f]{16}$")


def interrupted_create_layout(signature_types, partitions):
    """Is this the GPT that ``zpool create`` writes on a whole disk before anything else?

    ``signature_types``: what blkid/wipefs found on the disk; ``partitions``:
    ``_gpt.parse_sgdisk_print`` partitions. True only for exactly ZFS's own labelling
    (``zpool_label_disk``): partition 1 type BF01 named ``zfs-<16 hex digits>`` and
    partition 9 type BF07, and no signature but the GPT and its protective MBR. The
    caller also checks that both partitions are blank (no pool label was written)."""
    if not signature_types or not set(signature_types) <= {"gpt", "PMBR"}:
        return False
    by_number = dict((p["number"], p) for p in partitions)
    if sorted(by_number) != [1, 9]:
        return False
    return by_number[1]["type"] == "BF01" and bool(_ZFS_LABEL_NAME.match(by_number[1]["name"])) \
        and by_number[9]["type"] == "BF07"


def vdev_argv(vdevs):
    """The vdev part of ``zpool create``: ``mirror a b log c cache d ...``."""
    argv = []
    data = [v for v in vdevs if v["role"] == "data"]
    for v in data:
        if v["type"] != "stripe":
            argv.append(v["type"])
        argv += v["devices"]
    for role in ("special", "dedup", "log", "cache", "spare"):
        group = [v for v in vdevs if v["role"] == role]
        if not group:
            continue
        argv.append(role)
        for v in group:
            if v["type"] != "stripe":
                argv.append(v["type"])
            argv += v["devices"]
    return argv


def _explode(vdevs):
    """Turn a topology into comparable items: stripes become single-disk vdevs."""
    items = []
    for v in vdevs:
        if v["type"] in ("stripe", "disk"):
            for d in v["devices"]:
                items.append((v["role"], "disk", (d,)))
        else:
            items.append((v["role"], v["type"], tuple(v["devices"])))
    return items


def _matches(requested, observed):
    """Does the observed leaf device stand for the requested device?

    Either the same kernel device, or partition 1 of a requested whole disk
    (``zpool create`` on a whole disk puts its data in partition 1).
    """
    if requested.name == observed.name:
        return True
    return requested.partition is None and observed.parent == requested.name and observed.partition == 1


def compare_topology(requested, observed, resolve_requested, resolve_observed):
    """Compare a requested topology with ``parse_zpool_status`` vdevs.

    ``resolve_*`` map a path to a :class:`DeviceId` (the module resolves symlinks
    and reads sysfs; tests pass dicts). Returns a list of human-readable
    differences; empty means the layouts are the same.
    """
    req = [(r, t, tuple(resolve_requested(d) for d in ds), ds) for r, t, ds in _explode(requested)]
    obs = [(r, t, tuple(resolve_observed(d) for d in ds), ds) for r, t, ds in _explode(observed)]
    unmatched_obs = list(obs)
    missing = []
    for role, kind, ids, paths in req:
        found = None
        for cand in unmatched_obs:
            crole, ckind, cids, _cpaths = cand
            if crole != role or ckind != kind or len(cids) != len(ids):
                continue
            left = list(cids)
            ok = True
            for rid in ids:
                hit = next((o for o in left if _matches(rid, o)), None)
                if hit is None:
                    ok = False
                    break
                left.remove(hit)
            if ok:
                found = cand
                break
        if found is None:
            missing.append("%s %s [%s]" % (role, kind, ", ".join(paths)))
        else:
            unmatched_obs.remove(found)
    diffs = []
    if missing:
        diffs.append("requested but not in the pool: " + "; ".join(missing))
    if unmatched_obs:
        diffs.append("in the pool but not requested: " + "; ".join(
            "%s %s [%s]" % (r, t, ", ".join(p)) for r, t, _ids, p in unmatched_obs))
    return diffs


# ---------------------------------------------------------------- pool planner

def _pool_value(prop, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def compare_pool_properties(wanted, observed):
    """Returns ``(to_set, before, after)`` for pool properties; raises PlanError on the impossible."""
    to_set, before, after = {}, {}, {}
    for prop, raw in wanted.items():
        want = _pool_value(prop, raw)
        if prop not in observed:
            raise PlanError("unknown pool property %r" % prop)
        have = observed[prop][0]
        if prop.startswith("feature@"):
            have_n = "enabled" if have in ("enabled", "active") else have
            before[prop], after[prop] = have_n, want
            if have_n != want:
                if want != "enabled":
                    raise PlanError("%s is %s: a pool feature can only be enabled, never disabled" % (prop, have))
                to_set[prop] = want
            continue
        if prop in POOL_CREATE_ONLY_PROPERTIES:
            if have != want:
                raise PlanError("pool property %s is %s, requested %s: it is fixed at import time "
                                "(export the pool and re-run)" % (prop, have, want))
            continue
        if prop not in POOL_SETTABLE_PROPERTIES:
            raise PlanError("pool property %r is read-only" % prop)
        if prop == "cachefile" and want == "none" and have == "-":
            have = "none"
        before[prop], after[prop] = have, want
        if have != want:
            to_set[prop] = want
    return to_set, before, after


def validate_pool_request(name, vdevs, pool_properties, filesystem_properties):
    validate_pool_name(name)
    for prop in pool_properties:
        if prop.startswith("feature@"):
            continue
        if prop not in POOL_SETTABLE_PROPERTIES and prop not in POOL_CREATE_ONLY_PROPERTIES:
            raise PlanError("unknown or read-only pool property %r" % prop)
        if prop == "altroot":
            raise PlanError("give altroot with the altroot option, not as a pool property")
    for prop, value in filesystem_properties.items():
        validate_dataset_property(prop, value)
    return validate_vdevs(vdevs) if vdevs is not None else None


def plan_pool_create(name, vdevs, pool_properties, filesystem_properties, altroot=None,
                     mountpoint=None, force=False):
    """The ``zpool create`` action (its ``-n`` twin is the check-mode dry run)."""
    opts = []
    if force:
        opts.append("-f")
    for prop in sorted(pool_properties):
        opts += ["-o", "%s=%s" % (prop, _pool_value(prop, pool_properties[prop]))]
    for prop in sorted(filesystem_properties):
        opts += ["-O", "%s=%s" % (prop, _format_value(prop, filesystem_properties[prop]))]
    if altroot:
        opts += ["-R", altroot]
    if mountpoint:
        opts += ["-m", mountpoint]
    spec = vdev_argv(vdevs)
    argv = ["zpool", "create"] + opts + [name] + spec
    check = ["zpool", "create", "-n"] + opts + [name] + spec
    after = {"state": "present", "vdevs": vdevs}
    after.update({"pool_properties": {k: _pool_value(k, v) for k, v in pool_properties.items()}})
    after.update({"filesystem_properties": {k: normalise_value(k, v) for k, v in filesystem_properties.items()}})
    return Plan([Action(argv, "create pool %s" % name, check_argv=check)],
                before={"state": "absent"}, after=after)


def import_argv(name, pool_id=None, altroot=None, dirs=()):
    argv = ["zpool", "import", "-N"]
    if altroot:
        argv += ["-R", altroot]
    for d in dirs:
        argv += ["-d", d]
    argv.append(pool_id or name)
    return argv


def plan_pool_existing(name, pool_props, wanted_pool_props, status=None, vdevs=None,
                       resolve_requested=None, resolve_observed=None, fs_props=None,
                       wanted_fs_props=None, mountpoint=None, altroot=None):
    """Plan the changes to an imported pool.

    ``pool_props``: ``parse_get`` of ``zpool get -Hp ... all``; ``status``:
    ``parse_zpool_status`` (needed when ``vdevs`` is given); ``fs_props``:
    ``parse_get`` of the root dataset (needed for ``wanted_fs_props``/``mountpoint``).
    A layout difference is an error that lists the difference: ZFS cannot turn
    one layout into another in place.
    """
    before = {"state": "present"}
    after = {"state": "present"}
    have_altroot = pool_props.get("altroot", ("-", "-"))[0]
    if altroot and have_altroot.rstrip("/") != altroot.rstrip("/"):
        raise PlanError("pool %s is imported with altroot %s, requested %s: export it and re-run "
                        "(altroot is set at import time)" % (name, have_altroot, altroot))
    if vdevs is not None:
        diffs = compare_topology(vdevs, status["vdevs"], resolve_requested, resolve_observed)
        if diffs:
            raise PlanError("pool %s exists with a different layout; zpool cannot change it in place "
                            "(use zpool add/attach by hand, or destroy it with state: absent and force): %s"
                            % (name, " | ".join(diffs)))
    to_set, b, a = compare_pool_properties(wanted_pool_props, pool_props)
    if b:
        before["pool_properties"], after["pool_properties"] = b, a
    actions = [Action(["zpool", "set", "%s=%s" % (p, to_set[p]), name], "set pool property %s" % p)
               for p in sorted(to_set)]
    wanted_fs = dict(wanted_fs_props or {})
    if mountpoint:
        wanted_fs["mountpoint"] = mountpoint
    if wanted_fs:
        fs_set, b, a = compare_properties(wanted_fs, fs_props, "filesystem",
                                          altroot=None if have_altroot == "-" else have_altroot)
        before["filesystem_properties"], after["filesystem_properties"] = b, a
        if fs_set:
            argv = ["zfs", "set"] + ["%s=%s" % (p, _format_value(p, fs_set[p])) for p in sorted(fs_set)] + [name]
            actions.append(Action(argv, "set root dataset properties %s" % ", ".join(sorted(fs_set))))
    return Plan(actions, before=before, after=after)


def device_id(fs, path):
    """Resolve ``path`` (by-id, by-partlabel, /dev/mapper, /dev/sdX) to a :class:`DeviceId`.

    ``fs`` is a ``_blockdev.DevFS``; the partition number and parent disk come from
    ``/sys/class/block/<name>`` (under ``fs.root``, so tests can fake it). Reads
    files only; runs no command.
    """
    import os
    real = fs.canonical(path)
    name = os.path.basename(real)
    sysdir = fs._host("/sys/class/block/" + name)
    partition = parent = None
    try:
        with open(os.path.join(sysdir, "partition")) as fh:
            partition = int(fh.read().strip())
        parent = os.path.basename(os.path.dirname(os.path.realpath(sysdir)))
    except (OSError, ValueError):
        pass
    return DeviceId(name, parent, partition)
