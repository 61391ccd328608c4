"""The zfs_host_id filter: the storage layer's rescue hostid and the host JSON's hostId
come from it, so both must agree for the same seed."""
import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nixos_hetzner.vps.plugins.filter.zfs_host_id import zfs_host_id


def test_first_8_hex_digits_of_sha256():
    assert zfs_host_id("lab-web1") == hashlib.sha256(b"lab-web1").hexdigest()[:8]
    assert len(zfs_host_id("x")) == 8 and int(zfs_host_id("x"), 16) >= 0


@pytest.mark.parametrize("bad", ["", None, 3])
def test_bad_seed(bad):
    with pytest.raises(AnsibleFilterError, match="non-empty string"):
        zfs_host_id(bad)
