# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment: the options every nixos_hetzner.vps Hetzner Cloud module takes."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  api_token:
    description:
      - The Hetzner Cloud API token (read and write).
      - Falls back to the environment variable E(HCLOUD_TOKEN).
      - Can be set for every hcloud module at once with
        C(module_defaults) for the action group C(group/nixos_hetzner.vps.hcloud).
      - A missing token fails with a message that says where to set it.
    type: str
    version_added: 0.1.0
  api_endpoint:
    description:
      - The base URL of the Hetzner Cloud API, including C(/v1).
      - Falls back to the environment variable E(HCLOUD_ENDPOINT). The lab sets it to its
        emulator, for example V(http://127.0.0.1:8765/v1).
      - Can be set with C(module_defaults) for C(group/nixos_hetzner.vps.hcloud).
    type: str
    default: https://api.hetzner.cloud/v1
    version_added: 0.1.0
requirements:
  - hcloud>=2.27.0,<3 (Python library; the collection's requirements.txt)
notes:
  - Every API error and every failed action is reported with C(msg), C(code) and
    C(details), never with a traceback.
  - Rate limits (HTTP 429) are honoured by sleeping until C(RateLimit-Reset); C(locked)
    and 5xx answers are retried within a deadline. A create whose answer was lost is
    resolved by looking the resource up by name before it is tried again, so retries never
    create duplicates.
"""

    # The filters of the info modules (hcloud_server_info, hcloud_firewall_info), passed to
    # the API in their one list call.
    INFO = r"""
options:
  name:
    description:
      - Only the resource with this exact name (the API's C(name) filter).
    type: str
    version_added: 0.1.0
  label_selector:
    description:
      - Hetzner Cloud label selector, for example V(fleet=web,env!=dev). Only matching
        resources are listed.
    type: str
    version_added: 0.1.0
"""
