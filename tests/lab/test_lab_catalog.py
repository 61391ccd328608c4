"""Today's server-type catalog through hcloud: current types with their ids, deprecated
types with their deprecation objects (type level and per location), and the refusal to
create or rescale to a type that is no longer available."""
import warnings
from datetime import datetime, timezone

import pytest
from hcloud import APIException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

ANNOUNCED = datetime(2025, 10, 16, 6, 0, tzinfo=timezone.utc)
UNAVAILABLE = datetime(2025, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def types(c):
    return {t.name: t for t in c.server_types.get_all()}


def loc(st, name):
    return next(e for e in st.locations if e.location.name == name)


@pytest.mark.parametrize("name,ident,cores,memory,disk", [
    ("cx23", 114, 2, 4, 40), ("cx33", 115, 4, 8, 80), ("cx43", 116, 8, 16, 160),
    ("cx53", 117, 16, 32, 320), ("cpx12", 108, 1, 2, 40), ("cpx22", 109, 2, 4, 80),
    ("cpx32", 110, 4, 8, 160), ("cpx42", 111, 8, 16, 320), ("cpx52", 112, 12, 24, 480),
    ("cpx62", 113, 16, 32, 640), ("cax11", 45, 2, 4, 40), ("ccx13", 96, 2, 8, 80),
])
def test_current_types_and_ids(lab, name, ident, cores, memory, disk):
    c = lab.client()
    st = c.server_types.get_by_name(name)
    assert (st.id, st.cores, st.memory, st.disk) == (ident, cores, memory, disk)
    assert c.server_types.get_by_id(ident).name == name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert st.deprecation is None and st.deprecated is False
    for e in st.locations:
        assert e.deprecation is None and e.available and e.recommended
    assert {p["location"] for p in st.prices} == {e.location.name for e in st.locations}


@pytest.mark.parametrize("name,ident", [("cx22", 104), ("cx32", 105), ("cx42", 106),
                                        ("cx52", 107)])
def test_cx_gen2_deprecated_everywhere(lab, name, ident):
    st = lab.client().server_types.get_by_id(ident)
    assert st.name == name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert st.deprecated is True
        assert (st.deprecation.announced, st.deprecation.unavailable_after) == (ANNOUNCED,
                                                                                UNAVAILABLE)
    assert {e.location.name for e in st.locations} == {"fsn1", "nbg1", "hel1"}
    for e in st.locations:
        assert e.deprecation.announced == ANNOUNCED
        assert e.deprecation.unavailable_after == UNAVAILABLE
        assert e.available is False and e.recommended is False


def test_cpx_gen1_deprecated_per_location(lab):
    st = types(lab.client())["cpx21"]
    assert st.id == 23
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert st.deprecation is None and st.deprecated is False  # still sold outside the EU
    assert loc(st, "fsn1").deprecation.unavailable_after == UNAVAILABLE
    assert loc(st, "fsn1").available is False
    assert loc(st, "ash").deprecation is None and loc(st, "ash").available is True


def test_cx11_is_listed_as_retired(lab):
    st = lab.client().server_types.get_by_id(1)
    assert (st.name, st.cores, st.memory, st.disk) == ("cx11", 1, 2, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert st.deprecation.unavailable_after == datetime(2024, 9, 6, tzinfo=timezone.utc)
    assert not any(e.available for e in st.locations)


def test_raw_shape_of_deprecation(lab):
    _, _, body = lab.request("GET", "/server_types/104")
    st = body["server_type"]
    assert st["deprecation"] == {"announced": "2025-10-16T06:00:00+00:00",
                                 "unavailable_after": "2025-12-31T23:59:59+00:00"}
    assert st["locations"][0]["deprecation"] == st["deprecation"]
    assert st["included_traffic"] is None and st["prices"][0]["included_traffic"] > 0


def create(c, type_, location="fsn1", name="srv", wait=False):
    r = c.servers.create(name=name, server_type=ServerType(name=type_),
                         image=Image(name="debian-13"), location=Location(name=location))
    if wait:
        for a in [r.action, *r.next_actions]:
            a.wait_until_finished()
    return r


@pytest.mark.parametrize("type_,location,why", [
    ("cx22", "fsn1", "deprecated in fsn1 and was available until 2025-12-31T23:59:59+00:00"),
    ("cpx21", "nbg1", "deprecated in nbg1"),
    ("cx11", "hel1", "available until 2024-09-06T00:00:00+00:00"),
    ("cpx22", "ash", "not offered in ash"),
])
def test_create_unavailable_type_is_refused(lab, type_, location, why):
    c = lab.client()
    with pytest.raises(APIException) as exc:
        create(c, type_, location)
    assert exc.value.code == "invalid_input"
    assert exc.value.message.startswith("unsupported location for server type")
    assert why in exc.value.details["fields"][0]["messages"][0]
    assert c.servers.get_all() == []  # nothing was written


def test_create_current_and_still_sold_types(lab):
    c = lab.client()
    create(c, "cpx22", "nbg1", "new").action.wait_until_finished()
    create(c, "cpx21", "ash", "us").action.wait_until_finished()  # gen 1 is sold in the US
    assert {s.name: s.server_type.id for s in c.servers.get_all()} == {"new": 109, "us": 23}


def test_datacenter_lists_retired_types_as_supported_only(lab):
    _, _, body = lab.request("GET", "/datacenters?name=fsn1-dc14")
    st = body["datacenters"][0]["server_types"]
    assert 104 in st["supported"] and 104 not in st["available"]
    assert 114 in st["available"] and 109 in st["available"]


def test_change_type_to_retired_type_is_refused(lab):
    c = lab.client()
    r = create(c, "cx23", wait=True)
    c.servers.power_off(r.server).wait_until_finished()
    with pytest.raises(APIException) as exc:
        c.servers.change_type(r.server, ServerType(name="cx32"), upgrade_disk=False)
    assert exc.value.code == "invalid_input"
    c.servers.change_type(r.server, ServerType(name="cx33"), upgrade_disk=False) \
        .wait_until_finished()
    assert c.servers.get_by_id(r.server.id).server_type.name == "cx33"


def test_existing_server_of_retired_type(lab):
    """A fleet bought before the cut-off keeps its servers: they run and show the
    deprecation of their type (the lab creates them with allow_retired_types)."""
    c = lab.client()
    lab.configure(allow_retired_types=True)
    create(c, "cx22", name="old", wait=True)
    lab.configure(allow_retired_types=False)
    s = c.servers.get_by_name("old")
    assert s.status == "running" and s.server_type.id == 104
    assert loc(s.server_type, "fsn1").deprecation.unavailable_after == UNAVAILABLE
    with pytest.raises(APIException):
        create(c, "cx22", name="another")
