"""hcloud_ssh_key against the lab API: check, real, check, real for create, update and
delete; a comment-only difference is no change; a different key under the same name is a
clear error; bad input and a missing token fail before any write."""
from resource_support import changed, run_ccrr, run_failing

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQRPQorrtN0XGcGdamxz/DfEqSiB6JgySGiocqn9bNh"
FP = "5c:c3:80:a2:ca:20:2e:85:3b:6a:23:70:0f:25:0f:2a"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpXdsb0Zo3w6GVb3oY8P4C2cQG5ucGz0DQGz7qGk3tq"
M = "nixos_hetzner.vps.hcloud_ssh_key"


def test_ssh_key_lifecycle(lab):
    runs = run_ccrr(
        lab, M,
        ("create", {"name": "admin", "public_key": KEY + " admin@laptop", "labels": {"role": "admin"}}),
        ("same key, other comment", {"name": "admin", "public_key": KEY + " other", "labels": {"role": "admin"}}),
        ("relabel", {"name": "admin", "labels": {"role": "ops"}}),
    )
    assert changed(runs["create"]) == [True, True, False, False]
    assert changed(runs["same key, other comment"]) == [False, False, False, False]
    assert changed(runs["relabel"]) == [True, True, False, False]
    created = runs["create"][1]["hcloud_ssh_key"]
    assert created["fingerprint"] == FP and created["id"]
    assert runs["create"][0]["hcloud_ssh_key"]["id"] is None  # check mode created nothing
    # Diff mode shows the planner's before/after.
    assert runs["relabel"][0]["diff"]["before"]["labels"] == {"role": "admin"}
    assert runs["relabel"][0]["diff"]["after"]["labels"] == {"role": "ops"}

    key = lab.client().ssh_keys.get_by_name("admin")
    assert key.fingerprint == FP and key.labels == {"role": "ops"}

    runs = run_ccrr(lab, M, ("delete", {"name": "admin", "state": "absent"}))
    assert changed(runs["delete"]) == [True, True, False, False]
    assert lab.client().ssh_keys.get_by_name("admin") is None


def test_ssh_key_errors(lab):
    bad = run_failing(lab, M, [
        ({"name": "k", "public_key": OTHER}, "different public key"),
        ({"name": "bad", "public_key": "ssh-ed25519 not-base64!"}, "base64"),
        ({"name": "bad", "public_key": KEY, "labels": {"bad key!": "x"}}, "invalid labels"),
        ({"name": "bad"}, "public_key is required"),
        ({"name": "bad", "public_key": KEY, "_environment": {"HCLOUD_TOKEN": ""}}, "HCLOUD_TOKEN"),
    ], before=[{"name": "k", "public_key": KEY}])
    assert bad[0]["code"] == "unsupported_change" and "state: absent" in bad[0]["msg"]
    assert bad[2]["code"] == "invalid_label"
    keys = lab.client().ssh_keys.get_all()
    assert [(k.name, k.fingerprint) for k in keys] == [("k", FP)]  # nothing else was written
