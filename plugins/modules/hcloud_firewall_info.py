#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""List Hetzner Cloud firewalls with their rules and what they apply to."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_firewall_info
short_description: List Hetzner Cloud firewalls with their rules and what they apply to
version_added: 0.1.0
description:
  - Lists the firewalls of the project with one paginated C(GET /firewalls) call, filtered
    by name or label selector in that call.
  - Each firewall has the shape that M(nixos_hetzner.vps.hcloud_firewall) returns in
    RV(nixos_hetzner.vps.hcloud_firewall#module:hcloud_firewall), with the rules normalised and sorted.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes.info
  - nixos_hetzner.vps.hcloud.info
"""

EXAMPLES = r"""
- name: Read the fleet's firewall
  nixos_hetzner.vps.hcloud_firewall_info:
    name: web-firewall
  register: fw

- name: Check that HTTPS is open
  ansible.builtin.assert:
    that:
      - fw.firewalls[0].rules | selectattr('port', 'equalto', '443') | list | length == 1

- name: Every firewall of the fleet web
  nixos_hetzner.vps.hcloud_firewall_info:
    label_selector: fleet=web
"""

RETURN = r"""
firewalls:
  description: The matching firewalls, sorted by name. Empty when none matches.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 38, name: web, labels: {fleet: web}, servers: [101], label_selectors: [fleet=web],
       rules: [{direction: in, protocol: tcp, port: "22", source_ips: [0.0.0.0/0, "::/0"],
                destination_ips: [], description: null}]}
  contains:
    id:
      description: ID of the firewall.
      returned: always
      type: int
      sample: 38
    name:
      description: Name of the firewall.
      returned: always
      type: str
      sample: web
    rules:
      description: The rules in normalised form, sorted.
      returned: always
      type: list
      elements: dict
      sample:
        - {direction: in, protocol: tcp, port: "22", source_ips: [0.0.0.0/0, "::/0"], destination_ips: [], description: null}
    servers:
      description: IDs of the servers the firewall applies to directly.
      returned: always
      type: list
      elements: int
      sample: [101, 102]
    label_selectors:
      description: Label selectors the firewall applies to.
      returned: always
      type: list
      elements: str
      sample: [fleet=web]
    labels:
      description: Labels of the firewall.
      returned: always
      type: dict
      sample: {fleet: web}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import (
    HcloudInfoModule,
    HcloudModule,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_firewall_plan import observe_firewall


class FirewallInfo(HcloudInfoModule):
    result_key = "firewalls"
    url, key = "/firewalls", "firewalls"

    def shape(self, raw):
        return observe_firewall(raw)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(name=dict(type="str"), label_selector=dict(type="str"))


def main():
    module = AnsibleModule(argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
                           supports_check_mode=True)
    FirewallInfo(module).run()


if __name__ == "__main__":
    main()
