"""The pure server-type deprecation reader: refusals and warnings from API dicts."""
from __future__ import annotations

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_deprecation import (
    create_problem,
    deprecation_warning,
)

DEP = {"announced": "2025-10-16T06:00:00+00:00", "unavailable_after": "2025-12-31T23:59:59+00:00"}
CX22 = {"name": "cx22", "deprecation": DEP, "locations": [
    {"name": "fsn1", "deprecation": DEP, "available": False},
    {"name": "nbg1", "deprecation": DEP, "available": False}]}
CPX21 = {"name": "cpx21", "deprecation": None, "locations": [
    {"name": "fsn1", "deprecation": DEP, "available": False},
    {"name": "ash", "deprecation": None, "available": True}]}
SOON = {"name": "cx99", "deprecation": None, "locations": [
    {"name": "fsn1", "deprecation": DEP, "available": True}]}
CX23 = {"name": "cx23", "deprecation": None, "locations": [
    {"name": "fsn1", "deprecation": None, "available": True}]}
# an older answer: no locations[], only the type-level object
OLD_SHAPE = {"name": "cx11", "deprecation": DEP}


@pytest.mark.parametrize("st,loc,expect", [
    (CX22, "fsn1", "web: server type cx22 is deprecated in fsn1 (orderable until "
                   "2025-12-31T23:59:59+00:00)"),
    (CX22, None, "web: server type cx22 is no longer available in any location"),
    (CX22, "ash", "web: server type cx22 is not offered in ash"),
    (CPX21, "fsn1", "web: server type cpx21 is deprecated in fsn1"),
    (CPX21, "ash", None),
    (CPX21, None, None),
    (SOON, "fsn1", None),      # deprecated but still orderable: a warning, not an error
    (CX23, "fsn1", None),
    (OLD_SHAPE, "fsn1", None),  # no availability data: the API decides
    (None, "fsn1", None),
])
def test_create_problem(st, loc, expect):
    got = create_problem(st, loc, "web")
    if expect is None:
        assert got is None
    else:
        assert got.startswith(expect)


@pytest.mark.parametrize("st,loc,warned", [
    (CX22, "fsn1", True), (CPX21, "fsn1", True), (CPX21, "ash", False), (SOON, "fsn1", True),
    (CX23, "fsn1", False), (OLD_SHAPE, "fsn1", True), (OLD_SHAPE, None, True), (None, "x", False),
])
def test_deprecation_warning(st, loc, warned):
    w = deprecation_warning(st, loc, "old1")
    assert bool(w) is warned
    if w:
        assert w.startswith("server old1 uses server type %s, deprecated in " % st["name"])
        assert "2025-10-16T06:00:00+00:00" in w
