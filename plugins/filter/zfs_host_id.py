# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ZFS hostId of a host: the first 8 hex digits of sha256 of a seed."""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: zfs_host_id
short_description: A stable ZFS hostId (networking.hostId) from a seed
version_added: 0.1.0
description:
  - Returns the first 8 hex digits of the SHA-256 of O(_input). The storage layer gives the
    rescue system this hostid before it creates the pool, and the base layer writes it into
    the host JSON as C(hostId), so the pool and the installed system agree.
options:
  _input:
    description: The seed, usually the inventory host name.
    type: str
    required: true
author: nixos-hetzner developers (!UNKNOWN)
"""

EXAMPLES = r"""
host_id: "{{ inventory_hostname | nixos_hetzner.vps.zfs_host_id }}"
"""

RETURN = r"""
_value:
  description: 8 lower-case hex digits.
  type: str
  sample: 8425e349
"""


def zfs_host_id(seed):
    if not isinstance(seed, str) or not seed:
        raise AnsibleFilterError("zfs_host_id: the seed must be a non-empty string, got %r" % (seed,))
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:8]


class FilterModule(object):
    def filters(self):
        return {"zfs_host_id": zfs_host_id}
