"""Label selectors, every operator, through GET /servers?label_selector=... (hcloud)."""
import pytest
from hcloud import APIException

FLEET = {
    "web1": {"env": "prod", "role": "web"},
    "web2": {"env": "staging", "role": "web"},
    "db1": {"env": "prod", "role": "db", "backup": "yes"},
    "misc": {"team": "ops"},
}


@pytest.fixture
def fleet(lab):
    for name, labels in FLEET.items():
        st, _, body = lab.request("POST", "/servers", {"name": name, "server_type": "cx23",
                                                       "image": "debian-12", "labels": labels})
        assert st == 201, body
    return lab.client()


@pytest.mark.parametrize("selector,expected", [
    ("env=prod", {"web1", "db1"}),
    ("env==prod", {"web1", "db1"}),
    ("env!=prod", {"web2", "misc"}),
    ("backup", {"db1"}),
    ("!backup", {"web1", "web2", "misc"}),
    ("env in (prod,staging)", {"web1", "web2", "db1"}),
    ("env in (staging)", {"web2"}),
    ("env notin (prod)", {"web2", "misc"}),
    ("env=prod,role=web", {"web1"}),
    ("role=web,env!=prod", {"web2"}),
    ("!env,team=ops", {"misc"}),
    ("env in (prod, staging),role notin (db)", {"web1", "web2"}),
])
def test_selector_operators(fleet, selector, expected):
    got = {s.name for s in fleet.servers.get_all(label_selector=selector)}
    assert got == expected


def test_empty_value_matches_only_empty_labels(fleet):
    assert fleet.servers.get_all(label_selector="env=") == []


@pytest.mark.parametrize("selector", ["env in ()", "env in (a", "=x", "a b c", ",", "a==b==c"])
def test_bad_selector_is_invalid_input(fleet, selector):
    with pytest.raises(APIException) as exc:
        fleet.servers.get_all(label_selector=selector)
    assert exc.value.code == "invalid_input"
    assert exc.value.details["fields"][0]["name"] == "label_selector"


def test_selectors_work_on_every_labelled_list(lab):
    c = lab.client()
    c.ssh_keys.create(name="a", public_key=KEY_A, labels={"k": "1"})
    c.ssh_keys.create(name="b", public_key=KEY_B, labels={"k": "2"})
    assert [k.name for k in c.ssh_keys.get_all(label_selector="k in (2)")] == ["b"]
    c.networks.create(name="n1", ip_range="10.0.0.0/16", labels={"tier": "x"})
    c.networks.create(name="n2", ip_range="10.1.0.0/16")
    assert [n.name for n in c.networks.get_all(label_selector="!tier")] == ["n2"]


KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA a"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB b"
