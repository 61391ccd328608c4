# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the nixos_hetzner.vps collection: not a public API; it may change without notice.
"""Pure input validation for Hetzner Cloud modules: labels and catalog names.

One job: say clearly what is wrong with the input before anything is written. Nothing
here talks to the API; :class:`Catalog` is handed the lists a module fetched (at most
once per run) and answers whether a name is valid, listing the valid values if not.
"""

from __future__ import annotations

import re

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def label_problems(labels):
    """Return a list of human-readable problems with ``labels`` (empty if valid).

    Hetzner label syntax (same as Kubernetes): a key is ``[prefix/]name``; the name is 1-63
    characters ``[a-zA-Z0-9]`` at both ends and ``-_.`` allowed inside; the optional prefix
    is a DNS subdomain of at most 253 characters; ``hetzner.cloud/`` is reserved. A value is
    empty or follows the same rule as the name."""
    problems = []
    if labels is None:
        return problems
    if not isinstance(labels, dict):
        return ["labels must be a mapping of key to value, got %s" % type(labels).__name__]
    for key, value in labels.items():
        key = str(key)
        prefix, _sep, name = key.rpartition("/")
        if not _NAME.match(name):
            problems.append(
                "label key %r: the name part must be 1-63 characters, start and end with a letter "
                "or digit, and contain only letters, digits, '-', '_' and '.'" % key)
        if prefix:
            parts = prefix.split(".")
            if len(prefix) > 253 or not all(_DNS_LABEL.match(p) for p in parts):
                problems.append("label key %r: the prefix must be a lower-case DNS subdomain "
                                "(at most 253 characters)" % key)
            elif prefix == "hetzner.cloud" or prefix.endswith(".hetzner.cloud"):
                problems.append("label key %r: the prefix hetzner.cloud is reserved" % key)
        if value is None:
            problems.append("label %r: the value must be a string (use '' for an empty value)" % key)
            continue
        if not isinstance(value, str):
            # The API takes strings only. YAML reads an unquoted true, 1 or 1.5 as a
            # boolean or number; storing str(True) == "True" would defeat "-l public=true".
            problems.append("label %r: the value %r is a %s, not a string; quote it in YAML "
                            "(e.g. %s: '%s')" % (key, value, _kind(value), key,
                                                 str(value).lower() if isinstance(value, bool) else value))
            continue
        if value and not _NAME.match(value):
            problems.append(
                "label %r: the value %r must be empty or 1-63 characters, start and end with a "
                "letter or digit, and contain only letters, digits, '-', '_' and '.'" % (key, value))
    return problems


def _kind(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def check_labels(labels, where="labels"):
    """Raise :class:`HcloudError` (code ``invalid_label``) if any label is invalid."""
    problems = label_problems(labels)
    if problems:
        raise HcloudError("invalid %s: %s" % (where, "; ".join(problems)),
                          code="invalid_label", details={"problems": problems})


def normalize_labels(labels):
    """Labels as the API stores them: every key and value a string."""
    if labels is None:
        return None
    return dict((str(k), "" if v is None else str(v)) for k, v in labels.items())


class Catalog(object):
    """Valid names of one kind (server types, images, locations…), from one list call.

    ``items`` are raw API dicts; an item matches by ``name`` or by ``id``."""

    def __init__(self, kind, items, option=None):
        self.kind = kind
        self.option = option or kind
        self.by_name = {}
        for item in items:
            if item.get("name"):
                self.by_name[str(item["name"])] = item
            if item.get("id") is not None:
                self.by_name.setdefault(str(item["id"]), item)
        # One name per item kind: an image name exists once per architecture.
        self.names = sorted(set(str(i["name"]) for i in items if i.get("name")))

    def get(self, name):
        return self.by_name.get(str(name))

    def problem(self, name, where=None):
        if name is None or self.get(name) is not None:
            return None
        return "%sunknown %s %r; valid values: %s" % (
            (where + ": ") if where else "", self.option, name, ", ".join(self.names) or "(none)")


def check_catalog(catalogs_and_names):
    """``[(catalog, name, where), …]`` -> raise one HcloudError listing every unknown name."""
    problems = [c.problem(n, w) for c, n, w in catalogs_and_names]
    problems = [p for p in problems if p]
    if problems:
        raise HcloudError("; ".join(problems), code="invalid_input", details={"problems": problems})
