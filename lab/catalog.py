"""Read-only catalogs of the emulated Hetzner Cloud: locations, datacenters, server types
and images, with realistic entries (ids and figures modelled on the public API)."""
from __future__ import annotations

from datetime import datetime, timezone

CREATED = "2016-01-30T23:50:00+00:00"

# id, name, description, country, city, latitude, longitude, network_zone, datacenter
_LOCATIONS = [
    (1, "fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", 50.47612, 12.370071, "eu-central", "fsn1-dc14", 4),
    (2, "nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", 49.452102, 11.076665, "eu-central", "nbg1-dc3", 2),
    (3, "hel1", "Helsinki DC Park 1", "FI", "Helsinki", 60.169855, 24.938379, "eu-central", "hel1-dc2", 3),
    (4, "ash", "Ashburn, VA", "US", "Ashburn, VA", 39.045821, -77.487073, "us-east", "ash-dc1", 5),
    (5, "hil", "Hillsboro, OR", "US", "Hillsboro, OR", 45.54222, -122.951924, "us-west", "hil-dc1", 6),
    (6, "sin", "Singapore", "SG", "Singapore", 1.283333, 103.833333, "ap-southeast", "sin-dc1", 7),
]

LOCATIONS = [
    {"id": i, "name": n, "description": d, "country": c, "city": city, "latitude": lat,
     "longitude": lon, "network_zone": zone}
    for (i, n, d, c, city, lat, lon, zone, _dc, _dcid) in _LOCATIONS
]
LOCATION_BY_NAME = {loc["name"]: loc for loc in LOCATIONS}

EU = ("fsn1", "nbg1", "hel1")
ALL = tuple(loc["name"] for loc in LOCATIONS)

# The server types as the public API lists them today (December 2026).
#
# Sources (checked with public documentation and client sources): Hetzner's changelog entry
# of 2025-10-16 ("server types deprecated": CX Gen 2 cx22..cx52 and CPX Gen 1 cpx11..cpx51,
# orderable until 2025-12-31 23:59:59 UTC, replaced by cx23..cx53 and cpx12..cpx62); the
# ids 109 (cpx22) and 110 (cpx32) as hetznercloud/packer-plugin-hcloud's tests pin them;
# cores, memory and disk of the new types as hcloud-cli's docs and third-party catalogs
# agree.  The ids of the other new types follow the API's sequence (cpx12 108, cpx42..cpx62
# 111..113, cx23..cx53 114..117) and were not confirmed by a source; the prices are the
# launch prices in EUR (net, per month, Germany/Finland) and are indicative only.
#
# Deprecation: a deprecated type carries {"announced", "unavailable_after"} in each
# location where it is deprecated (``locations[].deprecation``) and, when it is deprecated
# in all its locations, also at the type level (``deprecation``, ``deprecated: true``).
# After ``unavailable_after`` it is ``available: false`` there and a create is refused;
# existing servers of the type go on running and show the deprecation.
DEP_2025_10 = {"announced": "2025-10-16T06:00:00+00:00",
               "unavailable_after": "2025-12-31T23:59:59+00:00"}
DEP_2024_06 = {"announced": "2024-06-06T06:00:00+00:00",
               "unavailable_after": "2024-09-06T00:00:00+00:00"}
US_SG = ("ash", "hil", "sin")

# id, name, description, cores, memory GB, disk GB, cpu_type, architecture, category,
# monthly net EUR, locations, {location: deprecation} (None: not deprecated anywhere)
_TYPES = [
    (1, "cx11", "CX11", 1, 2.0, 20, "shared", "x86", "cost_optimized", 3.29, EU,
     {loc: DEP_2024_06 for loc in EU}),
    (114, "cx23", "CX23", 2, 4.0, 40, "shared", "x86", "cost_optimized", 2.99, EU, None),
    (115, "cx33", "CX33", 4, 8.0, 80, "shared", "x86", "cost_optimized", 4.99, EU, None),
    (116, "cx43", "CX43", 8, 16.0, 160, "shared", "x86", "cost_optimized", 9.99, EU, None),
    (117, "cx53", "CX53", 16, 32.0, 320, "shared", "x86", "cost_optimized", 17.49, EU, None),
    (104, "cx22", "CX22", 2, 4.0, 40, "shared", "x86", "cost_optimized", 3.79, EU,
     {loc: DEP_2025_10 for loc in EU}),
    (105, "cx32", "CX32", 4, 8.0, 80, "shared", "x86", "cost_optimized", 6.80, EU,
     {loc: DEP_2025_10 for loc in EU}),
    (106, "cx42", "CX42", 8, 16.0, 160, "shared", "x86", "cost_optimized", 16.40, EU,
     {loc: DEP_2025_10 for loc in EU}),
    (107, "cx52", "CX52", 16, 32.0, 320, "shared", "x86", "cost_optimized", 32.40, EU,
     {loc: DEP_2025_10 for loc in EU}),
    (108, "cpx12", "CPX12", 1, 2.0, 40, "shared", "x86", "regular_purpose", 4.49, EU, None),
    (109, "cpx22", "CPX22", 2, 4.0, 80, "shared", "x86", "regular_purpose", 5.99, EU, None),
    (110, "cpx32", "CPX32", 4, 8.0, 160, "shared", "x86", "regular_purpose", 10.49, EU, None),
    (111, "cpx42", "CPX42", 8, 16.0, 320, "shared", "x86", "regular_purpose", 19.49, EU, None),
    (112, "cpx52", "CPX52", 12, 24.0, 480, "shared", "x86", "regular_purpose", 27.49, EU, None),
    (113, "cpx62", "CPX62", 16, 32.0, 640, "shared", "x86", "regular_purpose", 38.49, EU, None),
    # CPX Gen 1: deprecated in Germany and Finland, still sold in the US and Singapore
    (22, "cpx11", "CPX 11", 2, 2.0, 40, "shared", "x86", "regular_purpose", 4.35, ALL,
     {loc: DEP_2025_10 for loc in EU}),
    (23, "cpx21", "CPX 21", 3, 4.0, 80, "shared", "x86", "regular_purpose", 7.55, ALL,
     {loc: DEP_2025_10 for loc in EU}),
    (24, "cpx31", "CPX 31", 4, 8.0, 160, "shared", "x86", "regular_purpose", 13.60, ALL,
     {loc: DEP_2025_10 for loc in EU}),
    (25, "cpx41", "CPX 41", 8, 16.0, 240, "shared", "x86", "regular_purpose", 25.20, ALL,
     {loc: DEP_2025_10 for loc in EU}),
    (26, "cpx51", "CPX 51", 16, 32.0, 360, "shared", "x86", "regular_purpose", 54.90, ALL,
     {loc: DEP_2025_10 for loc in EU}),
    (96, "ccx13", "CCX13 Dedicated CPU", 2, 8.0, 80, "dedicated", "x86", "general_purpose", 12.49, ALL, None),
    (97, "ccx23", "CCX23 Dedicated CPU", 4, 16.0, 160, "dedicated", "x86", "general_purpose", 24.49, ALL, None),
    (98, "ccx33", "CCX33 Dedicated CPU", 8, 32.0, 240, "dedicated", "x86", "general_purpose", 48.49, ALL, None),
    (99, "ccx43", "CCX43 Dedicated CPU", 16, 64.0, 360, "dedicated", "x86", "general_purpose", 96.49, ALL, None),
    (100, "ccx53", "CCX53 Dedicated CPU", 32, 128.0, 600, "dedicated", "x86", "general_purpose", 192.49, ALL, None),
    (101, "ccx63", "CCX63 Dedicated CPU", 48, 192.0, 960, "dedicated", "x86", "general_purpose", 288.49, ALL, None),
    (45, "cax11", "CAX11", 2, 4.0, 40, "shared", "arm", "cost_optimized", 3.79, EU, None),
    (93, "cax21", "CAX21", 4, 8.0, 80, "shared", "arm", "cost_optimized", 6.49, EU, None),
    (94, "cax31", "CAX31", 8, 16.0, 160, "shared", "arm", "cost_optimized", 12.49, EU, None),
    (95, "cax41", "CAX41", 16, 32.0, 320, "shared", "arm", "cost_optimized", 24.49, EU, None),
]


def _price(net: float) -> dict:
    gross = round(net * 1.19, 4)
    return {"net": f"{net:.4f}", "gross": f"{gross:.4f}"}


def _past(stamp: str) -> bool:
    return datetime.fromisoformat(stamp) < datetime.now(timezone.utc)


def _server_type(t) -> dict:
    (i, n, d, cores, mem, disk, cpu, arch, cat, monthly, locs, deps) = t
    deps = deps or {}
    traffic = 20 * 1024 ** 4 if n.startswith(("cx", "cax")) else 1 * 1024 ** 4 * (2 if cores < 4 else 3)
    everywhere = bool(deps) and all(loc in deps for loc in locs)
    type_dep = dict(deps[locs[0]]) if everywhere else None
    return {
        "id": i, "name": n, "description": d, "category": cat, "cores": cores,
        "memory": mem, "disk": disk, "deprecated": everywhere, "deprecation": type_dep,
        "storage_type": "local", "cpu_type": cpu, "architecture": arch,
        "included_traffic": None,  # null since 2024-08-05; the figure is in prices[]
        "prices": [
            {"location": loc, "price_hourly": _price(round(monthly / 730, 4)),
             "price_monthly": _price(monthly), "included_traffic": traffic,
             "price_per_tb_traffic": _price(1.0)}
            for loc in locs
        ],
        "locations": [
            {"id": LOCATION_BY_NAME[loc]["id"], "name": loc,
             "deprecation": dict(deps[loc]) if loc in deps else None,
             "available": not (loc in deps and _past(deps[loc]["unavailable_after"])),
             "recommended": loc not in deps}
            for loc in locs
        ],
    }


def type_location(st: dict, location: str):
    """The ``locations[]`` entry of server type ``st`` for ``location`` (None: not offered)."""
    return next((e for e in st["locations"] if e["name"] == location), None)


SERVER_TYPES = [_server_type(t) for t in _TYPES]
SERVER_TYPE_BY_NAME = {st["name"]: st for st in SERVER_TYPES}
SERVER_TYPE_BY_ID = {st["id"]: st for st in SERVER_TYPES}
# a server's own ``included_traffic`` (bytes), from the type's price entries
TRAFFIC_BY_NAME = {st["name"]: st["prices"][0]["included_traffic"] for st in SERVER_TYPES}


def _datacenter(row) -> dict:
    (lid, lname, *_rest, dcname, dcid) = row
    here = [st["id"] for st in SERVER_TYPES if type_location(st, lname)]
    avail = [st["id"] for st in SERVER_TYPES if (type_location(st, lname) or {}).get("available")]
    return {
        "id": dcid, "name": dcname,
        "description": f"{LOCATION_BY_NAME[lname]['city']} DC {dcname.split('-dc')[1]}",
        "location": LOCATION_BY_NAME[lname],
        "server_types": {"supported": here, "available": avail, "available_for_migration": avail},
    }


DATACENTERS = sorted((_datacenter(r) for r in _LOCATIONS), key=lambda d: d["id"])
DATACENTER_BY_NAME = {dc["name"]: dc for dc in DATACENTERS}
DATACENTER_BY_LOCATION = {dc["location"]["name"]: dc for dc in DATACENTERS}

# id (x86), id (arm), name, description, os_flavor, os_version
_IMAGES = [
    (114690387, 114690389, "debian-12", "Debian 12", "debian", "12"),
    (310557660, 310557661, "debian-13", "Debian 13", "debian", "13"),
    (161547269, 161547270, "ubuntu-24.04", "Ubuntu 24.04", "ubuntu", "24.04"),
    (67794396, 103908070, "ubuntu-22.04", "Ubuntu 22.04", "ubuntu", "22.04"),
    (76766499, 103908793, "rocky-9", "Rocky Linux 9", "rocky", "9"),
    (224466350, 224466351, "fedora-42", "Fedora 42", "fedora", "42"),
]


def _image(iid: int, name: str, desc: str, flavor: str, version: str, arch: str) -> dict:
    return {
        "id": iid, "type": "system", "status": "available", "name": name,
        "description": desc, "image_size": None, "disk_size": 5, "created": CREATED,
        "created_from": None, "bound_to": None, "os_flavor": flavor,
        "os_version": version, "rapid_deploy": True, "protection": {"delete": False},
        "deprecated": None, "deprecation": None, "deleted": None, "labels": {},
        "architecture": arch,
    }


IMAGES = sorted(
    [_image(x, n, d, f, v, "x86") for (x, _a, n, d, f, v) in _IMAGES]
    + [_image(a, n, d, f, v, "arm") for (_x, a, n, d, f, v) in _IMAGES],
    key=lambda i: i["id"],
)
IMAGE_BY_ID = {img["id"]: img for img in IMAGES}

# ISOs: a small read-only catalog of public ISOs (names after the kind Hetzner offers;
# ids and the list are the lab's own).  id, name, description, architecture
_ISOS = [
    (120001, "virtio-win-0.1.266.iso", "virtio-win-0.1.266", "x86"),
    (120002, "FreeBSD-14.2-RELEASE-amd64-dvd1.iso", "FreeBSD 14.2 amd64", "x86"),
    (120003, "FreeBSD-14.2-RELEASE-arm64-aarch64-dvd1.iso", "FreeBSD 14.2 arm64", "arm"),
    (120004, "nixos-minimal-25.11-x86_64-linux.iso", "NixOS 25.11 minimal x86_64", "x86"),
    (120005, "nixos-minimal-25.11-aarch64-linux.iso", "NixOS 25.11 minimal aarch64", "arm"),
    (120006, "SystemRescue-11.03-amd64.iso", "SystemRescue 11.03", "x86"),
]
ISOS = [{"id": i, "name": n, "description": d, "type": "public", "architecture": a,
         "deprecated": None, "deprecation": None} for (i, n, d, a) in _ISOS]
ISO_BY_ID = {iso["id"]: iso for iso in ISOS}
