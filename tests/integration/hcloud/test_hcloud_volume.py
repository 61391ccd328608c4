"""hcloud_volume against the lab API: create unformatted, attach (server by name),
resize, detach, delete through check, real, check, real; shrinking and moving are errors."""
from resource_support import changed, lab_env, make_servers, run_ccrr, run_failing, run_module

M = "nixos_hetzner.vps.hcloud_volume"


def test_volume_lifecycle(lab):
    (server,) = make_servers(lab, ["vol-host"])
    runs = run_ccrr(
        lab, M,
        ("create", {"name": "data", "size": 10, "location": "fsn1", "labels": {"fleet": "db"}}),
        ("attach and grow", {"name": "data", "size": 20, "server": "vol-host"}),
        ("omitted", {"name": "data"}),
    )
    assert changed(runs["create"]) == [True, True, False, False]
    assert changed(runs["attach and grow"]) == [True, True, False, False]
    assert changed(runs["omitted"]) == [False, False, False, False]
    created = runs["create"][1]["hcloud_volume"]
    assert created["format"] == "none" and created["server"] == 0 and created["size"] == 10
    facts = runs["attach and grow"][3]["hcloud_volume"]
    assert facts["server"] == server.id and facts["size"] == 20 and facts["linux_device"]

    vol = lab.client().volumes.get_by_name("data")
    assert vol.size == 20 and vol.server.id == server.id and vol.format is None

    runs = run_ccrr(lab, M, ("detach", {"name": "data", "server": ""}))
    assert changed(runs["detach"]) == [True, True, False, False]
    assert lab.client().volumes.get_by_name("data").server is None

    # Attached again, then deleted: state absent detaches first.
    run_module(M, {"name": "data", "server": str(server.id)}, env=lab_env(lab))
    runs = run_ccrr(lab, M, ("delete", {"name": "data", "state": "absent"}))
    assert changed(runs["delete"]) == [True, True, False, False]
    assert lab.client().volumes.get_by_name("data") is None


def test_volume_errors(lab):
    run_failing(lab, M, [
        ({"name": "v", "size": 10}, "cannot shrink"),
        ({"name": "v", "location": "nbg1"}, "cannot move"),
        ({"name": "v", "format": "ext4"}, "format is set only when a volume is created"),
        ({"name": "w", "size": 5, "location": "fsn1"}, "out of range"),
        ({"name": "w", "size": 10}, "give location"),
        ({"name": "w", "size": 10, "server": "ghost"}, "does not exist"),
    ], before=[{"name": "v", "size": 20, "location": "fsn1"}])
    vols = lab.client().volumes.get_all()
    assert [(v.name, v.size) for v in vols] == [("v", 20)]
