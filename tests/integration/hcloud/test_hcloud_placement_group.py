"""hcloud_placement_group against the lab API: check, real, check, real for create,
relabel and delete; a type change is reported."""
from resource_support import changed, run_ccrr, run_failing

M = "nixos_hetzner.vps.hcloud_placement_group"


def test_placement_group_lifecycle(lab):
    runs = run_ccrr(
        lab, M,
        ("create", {"name": "spread-db", "labels": {"fleet": "db"}}),
        ("omitted labels", {"name": "spread-db"}),
        ("relabel", {"name": "spread-db", "labels": {"fleet": "db", "tier": "1"}}),
    )
    assert changed(runs["create"]) == [True, True, False, False]
    assert changed(runs["omitted labels"]) == [False, False, False, False]
    assert changed(runs["relabel"]) == [True, True, False, False]
    facts = runs["relabel"][3]["hcloud_placement_group"]
    assert facts["type"] == "spread" and facts["labels"] == {"fleet": "db", "tier": "1"}
    group = lab.client().placement_groups.get_by_name("spread-db")
    assert group.type == "spread" and group.labels == {"fleet": "db", "tier": "1"}

    runs = run_ccrr(lab, M, ("delete", {"name": "spread-db", "state": "absent"}))
    assert changed(runs["delete"]) == [True, True, False, False]
    assert lab.client().placement_groups.get_by_name("spread-db") is None


def test_placement_group_errors(lab):
    bad = run_failing(lab, M, [
        ({"name": "g", "labels": {"k": "bad value!"}}, "invalid labels"),
        ({"name": "g", "type": "cluster"}, "value of type must be one of"),
    ])
    assert bad[0]["code"] == "invalid_label"
    assert lab.client().placement_groups.get_all() == []
