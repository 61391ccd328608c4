"""The valid-values list of an unknown name names each value once (issue 13, item 10: image
names were listed twice, because the API has one image per architecture under one name)."""
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import Catalog


def test_each_valid_value_once():
    images = [{"id": 1, "name": "debian-12", "architecture": "x86"},
              {"id": 2, "name": "debian-12", "architecture": "arm"},
              {"id": 3, "name": "ubuntu-24.04", "architecture": "x86"},
              {"id": 4, "name": "ubuntu-24.04", "architecture": "arm"}]
    problem = Catalog("images", images, option="image").problem("debain-12")
    assert problem == "unknown image 'debain-12'; valid values: debian-12, ubuntu-24.04"
