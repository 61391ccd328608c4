"""hcloud_server: observe() reads every catalog that plan() checks names against, so that
plan() makes no API call (the rule of the base class: observe reads, plan decides), and
the requests stay one per catalog. Driven through the real hcloud library with a scripted
fake transport that fails on any request it does not expect."""
from __future__ import annotations

import pytest
from hcloud_fake_transport import make_fake_client, response

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    server_option_spec,
)
from ansible_collections.nixos_hetzner.vps.plugins.modules.hcloud_server import STATES, HcloudServer


class FakeModule(object):
    check_mode = True

    def __init__(self, **params):
        spec = HcloudModule.argument_spec(**server_option_spec(STATES))
        self.params = dict((k, v.get("default")) for k, v in spec.items())
        self.params.update(params)
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)


def page(key, items):
    return response(200, {key: items, "meta": {"pagination": {"next_page": None}}})


def server_module(script, **params):
    client, session, _sleeps = make_fake_client(script)
    mod = HcloudServer(FakeModule(**params))
    mod._client = client
    return mod, session


CREATE = dict(name="web1", server_type="cx23", image="debian-12", location="fsn1",
              placement_group="spread", ssh_keys=["admin"])
CATALOG_READS = [
    ("GET", "/servers", page("servers", [])),
    ("GET", "/server_types", page("server_types", [{"id": 1, "name": "cx23"}])),
    ("GET", "/images", page("images", [{"id": 2, "name": "debian-12"}])),
    ("GET", "/locations", page("locations", [{"id": 3, "name": "fsn1"}])),
    ("GET", "/placement_groups", page("placement_groups", [{"id": 4, "name": "spread"}])),
    ("GET", "/ssh_keys", page("ssh_keys", [{"id": 5, "name": "admin"}])),
]


def test_a_create_reads_its_catalogs_in_observe_and_plans_without_a_request():
    mod, session = server_module(list(CATALOG_READS), **CREATE)
    observed = mod.observe()
    assert len(session.calls) == len(CATALOG_READS)
    plan = mod.plan(observed)
    assert len(session.calls) == len(CATALOG_READS)  # plan() asked for nothing more
    assert plan.op == "create"
    assert mod.refs["placement_groups"] == {"spread": "4"} and mod.refs["ssh_keys"] == {"admin": "5"}


def test_an_unknown_name_is_found_by_plan_from_what_observe_read():
    mod, session = server_module(list(CATALOG_READS), **dict(CREATE, image="debain-12"))
    observed = mod.observe()
    with pytest.raises(HcloudError, match="unknown image 'debain-12'; valid values: debian-12"):
        mod.plan(observed)
    assert len(session.calls) == len(CATALOG_READS)


def test_a_server_that_exists_and_matches_reads_no_catalog():
    existing = {"id": 7, "name": "web1", "status": "running", "labels": {},
                "server_type": {"id": 1, "name": "cx23"}, "image": {"id": 2, "name": "debian-12"},
                "datacenter": {"location": {"name": "fsn1"}}, "public_net": {},
                "protection": {"delete": False, "rebuild": False}, "private_net": []}
    mod, session = server_module([("GET", "/servers", page("servers", [existing]))],
                                 name="web1", server_type="cx23", image="debian-12", location="fsn1")
    plan = mod.plan(mod.observe())
    assert not plan.changed and len(session.calls) == 1
