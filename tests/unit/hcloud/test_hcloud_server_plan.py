"""Pure planners for servers and fleets, and the input validation."""
from __future__ import annotations

import pytest

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    desired_server,
    fleet_labels,
    observe_server,
    plan_fleet,
    plan_server,
    reboots,
    server_facts,
    validate_server,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    Catalog,
    check_catalog,
    check_labels,
    label_problems,
)


def raw_server(id=1, name="web1", status="running", stype="cx23", image="debian-12", location="fsn1",
               labels=None, backups=False, protect=False, firewalls=(), networks=(), rescue=False,
               pg=None, ipv4="127.0.0.11", ipv6="2001:db8:0:1::/64"):
    return {
        "id": id, "name": name, "status": status,
        "server_type": {"id": 104, "name": stype, "architecture": "x86"},
        "image": {"id": 114690387, "name": image, "type": "system"},
        "datacenter": {"name": location + "-dc1", "location": {"id": 1, "name": location}},
        "labels": dict(labels or {}),
        "backup_window": "22-02" if backups else None,
        "protection": {"delete": protect, "rebuild": protect},
        "public_net": {"ipv4": {"ip": ipv4} if ipv4 else None, "ipv6": {"ip": ipv6} if ipv6 else None,
                       "firewalls": [{"id": f, "status": "applied"} for f in firewalls]},
        "private_net": [{"network": n, "ip": "10.0.0.2"} for n in networks],
        "rescue_enabled": rescue,
        "placement_group": {"id": 3, "name": pg} if pg else None,
        "primary_disk_size": 40,
    }


def want(**params):
    base = dict(name="web1", state="present")
    base.update(params)
    return desired_server(base)


def obs(**kw):
    return observe_server(raw_server(**kw))


# ------------------------------------------------------------------ observe / facts
def test_observe_normalises_the_api_json():
    o = obs(firewalls=[5, 3], networks=[9], labels={"a": "1"}, backups=True, pg="spread")
    assert o["server_type"] == "cx23" and o["location"] == "fsn1" and o["image"] == "debian-12"
    assert o["firewalls"] == ["3", "5"] and o["networks"] == ["9"]
    assert o["backups"] is True and o["placement_group"] == "spread"
    assert o["ipv6"] == "2001:db8:0:1::1" and o["ipv6_network"] == "2001:db8:0:1::/64"
    facts = server_facts(o)
    assert facts["ipv4"] == "127.0.0.11" and facts["rescue_enabled"] is False
    assert facts["architecture"] == "x86" and facts["id"] == 1


# ------------------------------------------------------------------ plan_server
def test_missing_server_is_created_with_every_given_field():
    plan = plan_server(None, want(server_type="cx23", image="debian-12", labels={"a": 1}))
    assert plan.op == "create" and plan.steps == ["create"] and plan.changed
    assert plan.after["labels"] == {"a": "1"} and plan.before == {}
    assert plan.after["status"] == "running"


def test_create_without_type_or_image_is_a_conflict():
    plan = plan_server(None, want(server_type="cx23"))
    assert plan.conflicts and "image" in plan.conflicts[0]


def test_same_server_is_a_no_op_and_omitted_options_change_nothing():
    o = obs(labels={"a": "1"}, backups=True, protect=True)
    assert not plan_server(o, want()).changed
    assert not plan_server(o, want(server_type="cx23", image="debian-12", location="fsn1",
                                   labels={"a": "1"}, backups=True, delete_protection=True)).changed


def test_type_change_of_running_server_needs_allow_reboot():
    # The original failure: a plain type change ran a hard poweroff, change_type and
    # poweron, and the diff showed only the type. Without the opt-in it is reported only.
    plan = plan_server(obs(), want(server_type="cx33"))
    assert plan.steps == [] and not plan.changed
    assert plan.after["server_type"] == "cx23"
    assert len(plan.pending) == 1 and "cx23 -> cx33 needs a reboot" in plan.pending[0]
    assert "allow_reboot=true" in plan.pending[0]
    facts = server_facts(obs(), plan)
    assert facts["pending_changes"] == plan.pending and facts["rebooted"] is False


def test_type_change_with_allow_reboot_shuts_down_gracefully_and_says_reboot():
    plan = plan_server(obs(), want(server_type="cx33", allow_reboot=True, shutdown_timeout=30))
    assert plan.steps == ["shutdown", "wait_off", "change_type", "power_on"]
    assert plan.before["server_type"] == "cx23" and plan.after["server_type"] == "cx33"
    assert plan.after["status"] == "running"
    assert "reboot" not in plan.diff["before"]
    assert plan.diff["after"]["reboot"].startswith("graceful shutdown (power off after 30 s)")
    assert reboots(plan) and server_facts(obs(), plan)["rebooted"] is True
    assert not plan.pending


def test_fleet_summary_names_rebooted_and_pending_servers():
    observed = [obs(id=1, name="a", labels={"fleet": "web"}), obs(id=2, name="b", labels={"fleet": "web"})]
    desired = [fleet_desired("a", server_type="cx33", allow_reboot=True),
               fleet_desired("b", server_type="cx33")]
    fp = plan_fleet(observed, desired, "web")
    assert fp.summary()["rebooted"] == ["a"] and fp.summary()["pending"] == ["b"]
    assert fp.summary()["update"] == ["a"] and "b" in fp.summary()["unchanged"]


def test_type_change_of_stopped_server_to_state_stopped():
    plan = plan_server(obs(status="off"), want(server_type="cx33", state="stopped"))
    assert plan.steps == ["change_type"]


def test_labels_backups_protection():
    plan = plan_server(obs(labels={"a": "1"}), want(labels={"a": "2"}, backups=True,
                                                     delete_protection=True, rebuild_protection=True))
    assert plan.steps == ["update", "enable_backup", "change_protection"]
    assert plan.changes["labels"] == {"a": "2"}


def test_protection_values_must_agree():
    plan = plan_server(obs(), want(delete_protection=True))
    assert any("same value" in c for c in plan.conflicts)


@pytest.mark.parametrize("field,value,hint", [
    ("location", "nbg1", "re-create"),
    ("image", "ubuntu-24.04", "state=rebuild"),
    ("enable_ipv4", False, "created"),
    ("placement_group", "spread", "placement group"),
])
def test_changes_an_existing_server_cannot_take_are_conflicts(field, value, hint):
    plan = plan_server(obs(), want(**{field: value}))
    assert len(plan.conflicts) == 1 and hint in plan.conflicts[0] and field in plan.conflicts[0]


def test_image_by_id_matches():
    assert not plan_server(obs(), want(image="114690387")).conflicts


def test_firewalls_and_networks_are_added_not_removed():
    o = obs(firewalls=[3], networks=[9])
    plan = plan_server(o, want(firewalls=["edge", "3"], private_networks=["9"]),
                       refs={"firewalls": {"edge": "5"}})
    assert plan.steps == ["apply_firewalls"] and plan.changes["firewalls"] == ["5"]
    assert plan.after["firewalls"] == ["3", "5"]
    assert not plan_server(o, want(firewalls=["3"])).changed


@pytest.mark.parametrize("status,state,steps", [
    ("off", "started", ["power_on"]),
    ("running", "started", []),
    ("running", "stopped", ["power_off"]),
    ("off", "stopped", []),
    ("running", "restarted", ["reboot"]),
    ("off", "restarted", ["power_on"]),
    ("running", "rescue", ["enable_rescue", "reset"]),
    ("off", "rescue", ["enable_rescue", "power_on"]),
    ("running", "absent", ["delete"]),
])
def test_power_states(status, state, steps):
    assert plan_server(obs(status=status), want(state=state, image="debian-12")).steps == steps


def test_rescue_acts_every_time():
    # Booting into rescue clears rescue_enabled, so the API cannot tell; rescue always acts.
    assert plan_server(obs(rescue=True), want(state="rescue")).steps == ["enable_rescue", "reset"]
    assert plan_server(obs(rescue=False), want(state="rescue")).steps == ["enable_rescue", "reset"]


def test_rebuild_is_refused_under_rebuild_protection():
    plan = plan_server(obs(protect=True), want(state="rebuild", image="debian-12"))
    assert plan.steps == ["rebuild"] and plan.conflicts
    plan = plan_server(obs(protect=True), want(state="rebuild", image="debian-12",
                                               delete_protection=False, rebuild_protection=False))
    assert plan.steps == ["change_protection", "rebuild"] and not plan.conflicts


def test_absent_missing_server_is_a_no_op():
    assert not plan_server(None, want(state="absent")).changed


def test_diff_before_after_hold_the_planner_data():
    plan = plan_server(obs(labels={"a": "1"}), want(labels={"a": "2"}))
    assert plan.diff["before"]["labels"] == {"a": "1"} and plan.diff["after"]["labels"] == {"a": "2"}


# ------------------------------------------------------------------ validation
def test_validate_server_messages():
    assert validate_server(want()) == []
    assert "hostname" in validate_server(want(name="web_1"))[0]
    assert "image" in validate_server(want(state="rebuild"))[0]


@pytest.mark.parametrize("labels,ok", [
    ({"fleet": "web", "role": ""}, True),
    ({"example.com/role": "db", "a.b-c_d": "x.y-z_1"}, True),
    ({"Bad Key": "x"}, False),
    ({"k": "-starts-with-dash"}, False),
    ({"k" * 64: "x"}, False),
    ({"k": "v" * 64}, False),
    ({"UPPER.example/x": "y"}, False),
    ({"hetzner.cloud/x": "y"}, False),
    ({"k": True}, False),
    ({"k": 1}, False),
    ({"k": 1.5}, False),
    ({"k": None}, False),
])
def test_label_syntax(labels, ok):
    assert (label_problems(labels) == []) == ok


def test_boolean_label_is_refused_after_normalisation():
    # The original failure: desired_server() turned {public: true} into "True" before
    # validate_server() looked at it, so the boolean check never fired and the server was
    # stored with public=True (which "-l public=true" does not find).
    d = desired_server({"name": "web1", "labels": {"public": True}})
    assert d["labels"] == {"public": "True"}
    problems = validate_server(d)
    assert problems and "boolean, not a string; quote it" in problems[0]
    assert "public: 'true'" in problems[0]
    fp = plan_fleet([], [dict(d, server_type="cx23", image="debian-12")], "web")
    assert fp.problems and "boolean" in fp.problems[0]
    assert validate_server(desired_server({"name": "web1", "labels": {"public": "true"}})) == []


def test_check_labels_error_names_the_label():
    with pytest.raises(HcloudError) as exc:
        check_labels({"ok": "1", "bad key": "x"})
    assert exc.value.code == "invalid_label" and "'bad key'" in exc.value.msg


def test_catalog_lists_valid_values():
    types = Catalog("server_types", [{"id": 1, "name": "cx23"}, {"id": 2, "name": "cax11"}],
                    option="server_type")
    assert types.get("cx23") and types.get("2")
    with pytest.raises(HcloudError) as exc:
        check_catalog([(types, "cx99", "servers[0]"), (types, "cx23", None)])
    assert "unknown server_type 'cx99'; valid values: cax11, cx23" in exc.value.msg


# ------------------------------------------------------------------ plan_fleet
def fleet_desired(name, **kw):
    d = want(**dict(dict(name=name, server_type="cx23", image="debian-12"), **kw))
    if d["labels"] is not None:
        d["labels"] = fleet_labels("web", d["labels"])
    return d


def test_fleet_plan_creates_updates_and_leaves_alone():
    observed = [obs(id=1, name="web1", labels={"fleet": "web"}),
                obs(id=2, name="web2", labels={"fleet": "web", "x": "1"})]
    desired = [fleet_desired("web1"), fleet_desired("web2", labels={}), fleet_desired("web3")]
    fp = plan_fleet(observed, desired, "web")
    assert fp.creates == ["web3"] and fp.updates == ["web2"]
    assert fp.summary()["unchanged"] == ["web1"]
    assert fp.changed and not fp.conflicts and not fp.problems
    assert set(fp.diff["after"]["servers"]) == {"web2", "web3"}


def test_fleet_no_op():
    observed = [obs(id=i, name="web%d" % i, labels={"fleet": "web"}) for i in range(1, 51)]
    fp = plan_fleet(observed, [fleet_desired("web%d" % i, labels={}) for i in range(1, 51)], "web")
    assert not fp.changed and fp.diff == {"before": {"servers": {}}, "after": {"servers": {}}}


def test_fleet_prune_spares_protected_servers_and_is_off_by_default():
    observed = [obs(id=1, name="web1", labels={"fleet": "web"}),
                obs(id=2, name="old", labels={"fleet": "web"}),
                obs(id=3, name="keep", labels={"fleet": "web"}, protect=True)]
    desired = [fleet_desired("web1")]
    assert not plan_fleet(observed, desired, "web").changed
    fp = plan_fleet(observed, desired, "web", prune=True)
    assert [s["name"] for s in fp.prune] == ["old"]
    assert fp.summary()["kept_protected"] == ["keep"] and fp.deletes == ["old"]


def test_fleet_problems_are_collected():
    desired = [fleet_desired("a"), fleet_desired("a"), fleet_desired("b", labels={"bad key": "1"}),
               fleet_desired("c", state="restarted")]
    fp = plan_fleet([], desired, "web")
    text = " ".join(fp.problems)
    assert "listed twice" in text and "bad key" in text and "'restarted'" in text
