# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""What the installed ZFS accepts: property names, value sets and pool features.

The source is the installed ZFS itself, not a table of ours that ages with every
release:

* ``zpool get`` and ``zfs get`` without arguments exit 2 and print, on stderr, the
  table of every property with its ``EDIT`` (and, for ``zfs``, ``INHERIT``) column and
  its value set, e.g. ``failmode  YES  wait | continue | panic``. The format is the
  ``usage()`` of ``cmd/zpool/zpool_main.c`` and ``cmd/zfs/zfs_main.c`` and has been
  stable since ZFS on Linux 0.6.
* ``zpool upgrade -v`` lists the pool features this ZFS supports, one name per line
  at column 0 after a dashed line.

A value set is *closed* when every alternative is a literal (``on``, ``gzip-[1-9]``,
``sha256[,verify]``); a value is then checked against it. A set with a free-form
alternative (``<size> | none``, ``<path> | legacy | none``, ``on | off | NFS share
options``) is open and accepts any value; sizes are checked elsewhere. A few values
ZFS accepts without listing them (``acltype=posixacl``) are in :data:`UNLISTED_VALUES`.

Everything here is a pure parser; :func:`read_schema` is the only function that runs
commands, through the runner it is given.
"""

from __future__ import annotations

import re

#: Values ZFS's property tables accept but its help text does not list
#: (``module/zcommon/zfs_prop.c``).
UNLISTED_VALUES = {
    "acltype": ("noacl", "posixacl"),
    "checksum": ("noparity",),
}

_LINE = re.compile(r"^\t(?P<name>\S+)\s+(?P<edit>YES|NO)\s+(?:(?P<inherit>YES|NO)\s+)?(?P<values>\S.*?)\s*$")
_LITERAL = re.compile(r"^(?P<head>[A-Za-z0-9_.,-]*)(?:\[(?P<opt>[^\]]+)\])?$")
_FEATURE = re.compile(r"^(?P<name>[a-z0-9_]+)(?:\s+\(.*\))?\s*$")


class SchemaError(Exception):
    """The installed ZFS's help output could not be read."""


def parse_property_help(text):
    """Parse the property table of ``zpool get`` / ``zfs get`` usage output.

    Returns ``{name: {"editable": bool, "values": text}}``. Lines of templates such as
    ``feature@...``, ``userquota@...`` or ``written#<bookmark>`` are left out."""
    props = {}
    started = False
    for line in text.splitlines():
        if not started:
            started = line.strip().startswith("PROPERTY")
            continue
        m = _LINE.match(line)
        if not m or "@" in m.group("name") or "#" in m.group("name"):
            continue
        props[m.group("name")] = {"editable": m.group("edit") == "YES",
                                  "values": m.group("values")}
    return props


def parse_features(text):
    """The feature names listed by ``zpool upgrade -v`` (``async_destroy``, ...)."""
    names = set()
    inside = False
    for line in text.splitlines():
        if line.startswith("-----"):
            inside = True
            continue
        if not inside:
            continue
        if not line.strip() or line.startswith("The following"):
            if names:
                break
            continue
        if line[0].isspace():
            continue  # the description line
        m = _FEATURE.match(line)
        if m:
            names.add(m.group("name"))
    return names


def _expand(token):
    """A literal alternative as a matcher: returns a function value -> bool, or None
    when the alternative is free-form (``<size>``, ``NFS share options``)."""
    m = _LITERAL.match(token)
    if not m or not token:
        return None
    head, opt = m.group("head"), m.group("opt")
    if opt is None:
        return lambda v: v == head
    if opt.startswith(","):  # sha256[,verify]: the suffix is optional
        return lambda v: v in (head, head + opt)
    numbers = set()
    for part in opt.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            return None
        numbers.update(range(int(lo), int(hi or lo) + 1))
    return lambda v: v.startswith(head) and v[len(head):].isdigit() and int(v[len(head):]) in numbers


def closed_values(values):
    """Matchers of a closed value set, or None when the set is open."""
    if values in ("-", ""):
        return None
    matchers = []
    for token in values.split(" | "):
        matcher = _expand(token.strip())
        if matcher is None:
            return None
        matchers.append(matcher)
    return matchers


def value_accepted(prop, values, value):
    """Does the value set ``values`` (help text) of ``prop`` accept ``value``?"""
    matchers = closed_values(values)
    if matchers is None:
        return True
    return value in UNLISTED_VALUES.get(prop, ()) or any(m(value) for m in matchers)


def _text(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def check_pool_properties(schema, pool_properties, creating):
    """Problems (list of text) of pool properties against ``schema`` (from
    :func:`read_schema`). At creation a feature may be ``enabled`` or ``disabled``;
    on an existing pool only ``enabled``."""
    problems = []
    for prop, raw in sorted(pool_properties.items()):
        value = _text(raw)
        if prop.startswith("feature@"):
            feature = prop[len("feature@"):]
            if feature not in schema["features"]:
                problems.append("pool feature %r is not supported by the installed ZFS "
                                "(zpool upgrade -v lists the supported ones)" % prop)
            allowed = ("enabled", "disabled") if creating else ("enabled",)
            if value not in allowed:
                problems.append("%s=%r: use %s" % (prop, value, " or ".join(allowed)))
            continue
        problems += _check_value(schema["pool"], "pool property", prop, value)
    return problems


def _check_value(table, kind, prop, value):
    """The problem (a list of at most one text) of one property value against one of
    the schema's property tables."""
    spec = table.get(prop)
    if spec is None:
        return ["%s %r is unknown to the installed ZFS" % (kind, prop)]
    if not value_accepted(prop, spec["values"], value):
        return ["%s %s=%r: the installed ZFS accepts %s" % (kind, prop, value, spec["values"])]
    return []


def check_dataset_properties(schema, properties):
    """Problems (list of text) of dataset properties against ``schema``; user
    properties (with a colon) are free-form."""
    problems = []
    for prop, raw in sorted(properties.items()):
        if ":" in prop:
            continue
        problems += _check_value(schema["dataset"], "property", prop, _text(raw))
    return problems


def read_schema(runner):
    """Read the installed ZFS's property tables and features (three read-only
    commands). Raises :class:`SchemaError` if a table cannot be parsed."""
    pool = parse_property_help(runner.run(["zpool", "get"], ok_rcs=(2,)).err)
    dataset = parse_property_help(runner.run(["zfs", "get"], ok_rcs=(2,)).err)
    features = parse_features(runner.run(["zpool", "upgrade", "-v"]).out)
    for what, table in (("zpool get", pool), ("zfs get", dataset), ("zpool upgrade -v", features)):
        if not table:
            raise SchemaError("could not read the property table of the installed ZFS from the "
                              "output of '%s'; nothing was written" % what)
    return {"pool": pool, "dataset": dataset, "features": features}
