"""The lab answers through the real hcloud library: catalogs and a server's life."""
from hcloud.images import Image
from hcloud.server_types import ServerType


def test_catalogs(lab):
    c = lab.client()
    assert {l.name for l in c.locations.get_all()} == {"fsn1", "nbg1", "hel1", "ash", "hil", "sin"}
    types = {t.name: t for t in c.server_types.get_all()}
    assert types["cax11"].architecture == "arm" and types["cx23"].architecture == "x86"
    assert any(n.startswith("cpx") for n in types) and any(n.startswith("ccx") for n in types)
    for name in ("debian-12", "debian-13", "ubuntu-24.04"):
        for arch in ("x86", "arm"):
            img = c.images.get_by_name_and_architecture(name, arch)
            assert img is not None and img.architecture == arch and img.name == name


def test_create_and_wait(lab):
    c = lab.client()
    r = c.servers.create(name="smoke", server_type=ServerType(name="cx23"),
                         image=Image(name="debian-12"))
    assert r.server.status == "initializing"
    assert r.root_password
    r.action.wait_until_finished()
    r.next_actions[0].wait_until_finished()
    s = c.servers.get_by_id(r.server.id)
    assert s.status == "running"
    assert s.public_net.ipv4.ip == "127.0.0.2"
    assert lab.calls("POST", "/v1/servers") == 1
