#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""List Hetzner Cloud servers, filtered by label selector, name or status."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_server_info
short_description: List Hetzner Cloud servers, filtered by label selector, name or status
version_added: 0.1.0
description:
  - Lists the servers of the project with one paginated C(GET /servers) call. The filters are
    passed to the API in that call, so a filter costs no extra request.
  - Each server has the collection's one server shape, the same keys that
    M(nixos_hetzner.vps.hcloud_server) returns in RV(nixos_hetzner.vps.hcloud_server#module:hcloud_server)
    (without C(rebooted) and C(pending_changes)) and that the
    P(nixos_hetzner.vps.hcloud#inventory) inventory plugin sets as host variables.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes.info
  - nixos_hetzner.vps.hcloud.info
options:
  status:
    description:
      - Only servers whose status is one of these. Omitted means every status.
    type: list
    elements: str
    choices: [initializing, starting, running, stopping, "off", deleting, migrating, rebuilding, unknown]
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: List the servers of the fleet web
  nixos_hetzner.vps.hcloud_server_info:
    label_selector: fleet=web
  register: web

- name: Print their addresses
  ansible.builtin.debug:
    msg: "{{ web.servers | map(attribute='ipv4') | list }}"

- name: Servers of any fleet that are not installed yet and are running
  nixos_hetzner.vps.hcloud_server_info:
    label_selector: fleet,nixos-hetzner/stage!=installed
    status: [running]

- name: One server by name
  nixos_hetzner.vps.hcloud_server_info:
    name: web1
  register: web1
"""

RETURN = r"""
servers:
  description:
    - The matching servers, sorted by name. Empty when none matches.
    - Each item has the keys of RV(nixos_hetzner.vps.hcloud_server#module:hcloud_server) other
      than C(rebooted) and C(pending_changes), namely C(id), C(name), C(status), C(created),
      C(server_type), C(architecture), C(image), C(location), C(ipv4), C(ipv6),
      C(ipv6_network), C(private_ipv4), C(private_networks), C(labels), C(rescue_enabled),
      C(backups), C(backup_window), C(delete_protection), C(rebuild_protection),
      C(placement_group), C(firewalls) (ids) and C(primary_disk_size).
  returned: always
  type: list
  elements: dict
  sample:
    - {"id": 42, "name": "web1", "status": "running", "created": "2026-11-25T22:00:00+00:00",
       "server_type": "cx23", "architecture": "x86", "image": "debian-12", "location": "fsn1",
       "ipv4": "127.0.0.12", "ipv6": "2001:db8:0:12::1", "ipv6_network": "2001:db8:0:12::/64",
       "private_ipv4": null, "private_networks": [], "labels": {"fleet": "web"},
       "rescue_enabled": false, "backups": false, "backup_window": null,
       "delete_protection": true, "rebuild_protection": true, "placement_group": null,
       "firewalls": ["12"], "primary_disk_size": 40}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import (
    HcloudInfoModule,
    HcloudModule,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import server_from_api

STATUSES = ["initializing", "starting", "running", "stopping", "off", "deleting", "migrating",
            "rebuilding", "unknown"]


class ServerInfo(HcloudInfoModule):
    result_key = "servers"
    url, key = "/servers", "servers"
    filters = ("name", "label_selector", "status")

    def shape(self, raw):
        return server_from_api(raw)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    label_selector=dict(type="str"),
    status=dict(type="list", elements="str", choices=STATUSES),
)


def main():
    module = AnsibleModule(argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
                           supports_check_mode=True)
    ServerInfo(module).run()


if __name__ == "__main__":
    main()
