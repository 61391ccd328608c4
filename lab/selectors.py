"""Hetzner Cloud label selectors and label validation.

Syntax (comma means AND): ``k=v``, ``k==v``, ``k!=v``, ``k`` (present), ``!k`` (absent),
``k in (a,b)``, ``k notin (a,b)``.  ``parse`` raises ``SelectorError`` with a message
that says what is wrong; ``Selector.matches(labels)`` evaluates it.
"""
from __future__ import annotations

import re
from functools import lru_cache

_KEY_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
KEY_RE = re.compile(rf"^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/)?{_KEY_NAME}$")
VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


class SelectorError(ValueError):
    pass


def label_errors(labels) -> list[str]:
    """Messages for invalid labels (empty list when valid)."""
    if not isinstance(labels, dict):
        return ["labels must be an object of string keys and string values"]
    errors = []
    for k, v in labels.items():
        if not isinstance(v, str):
            errors.append(f"label {k!r}: value must be a string")
        elif not KEY_RE.match(k) or len(k) > 317:
            errors.append(f"label key {k!r} is invalid")
        elif not VALUE_RE.match(v):
            errors.append(f"label value {v!r} of {k!r} is invalid")
    return errors


def _split_top(expr: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError("unbalanced ')'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise SelectorError("unbalanced '('")
    parts.append("".join(cur))
    return parts


_SET_RE = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<vals>[^()]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s*(?P<op>==|!=|=)\s*(?P<val>[^\s!=(),]*)\s*$")
_EXIST_RE = re.compile(r"^\s*(?P<neg>!)?\s*(?P<key>[^\s!=(),]+)\s*$")


def _check_key(key: str) -> None:
    if not KEY_RE.match(key):
        raise SelectorError(f"invalid label key {key!r}")


def _check_value(val: str) -> None:
    if not VALUE_RE.match(val):
        raise SelectorError(f"invalid label value {val!r}")


class Selector:
    def __init__(self, reqs):
        self.reqs = reqs  # list of (op, key, values)

    def matches(self, labels: dict) -> bool:
        for op, key, vals in self.reqs:
            have = key in labels
            if op == "eq":
                if not have or labels[key] != vals:
                    return False
            elif op == "ne":
                if have and labels[key] == vals:
                    return False
            elif op == "exists":
                if not have:
                    return False
            elif op == "absent":
                if have:
                    return False
            elif op == "in":
                if not have or labels[key] not in vals:
                    return False
            elif op == "notin":
                if have and labels[key] in vals:
                    return False
        return True


@lru_cache(maxsize=512)
def parse(expr: str) -> Selector:
    if expr is None or not expr.strip():
        raise SelectorError("empty label selector")
    reqs = []
    for part in _split_top(expr):
        if not part.strip():
            raise SelectorError(f"empty requirement in {expr!r}")
        m = _SET_RE.match(part)
        if m:
            key = m["key"]
            _check_key(key)
            vals = [v.strip() for v in m["vals"].split(",")]
            if not vals or any(v == "" for v in vals):
                raise SelectorError(f"empty value list in {part.strip()!r}")
            for v in vals:
                _check_value(v)
            reqs.append((m["op"], key, frozenset(vals)))
            continue
        m = _CMP_RE.match(part)
        if m:
            _check_key(m["key"])
            _check_value(m["val"])
            reqs.append(("ne" if m["op"] == "!=" else "eq", m["key"], m["val"]))
            continue
        m = _EXIST_RE.match(part)
        if m:
            _check_key(m["key"])
            reqs.append(("absent" if m["neg"] else "exists", m["key"], None))
            continue
        raise SelectorError(f"cannot parse requirement {part.strip()!r}")
    return Selector(reqs)
