# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dynamic inventory of Hetzner Cloud servers: one paginated list call."""

from __future__ import annotations

DOCUMENTATION = r"""
name: hcloud
short_description: Hetzner Cloud servers as a dynamic inventory, from one paginated list call
version_added: 0.1.0
description:
  - Lists the servers of a Hetzner Cloud project with one paginated C(GET /servers) call,
    optionally filtered by a label selector and by status, and adds each server as a host
    named after the server.
  - Every fact of a server is set as a host variable under O(hostvars_prefix) (by default
    C(hcloud_id), C(hcloud_labels), C(hcloud_ipv4) and so on); C(ansible_host) is set from
    O(connect_with).
  - The facts have the same keys as the server facts that M(nixos_hetzner.vps.hcloud_server),
    M(nixos_hetzner.vps.hcloud_fleet) and M(nixos_hetzner.vps.hcloud_server_info) return, namely C(id),
    C(name), C(status), C(created), C(server_type), C(architecture), C(image), C(location),
    C(ipv4), C(ipv6), C(ipv6_network), C(private_ipv4), C(private_networks), C(labels),
    C(rescue_enabled), C(backups), C(backup_window), C(delete_protection),
    C(rebuild_protection), C(placement_group), C(firewalls) (ids) and C(primary_disk_size).
  - Supports C(constructed) (O(compose), O(groups), O(keyed_groups)) and inventory caching.
  - Reads nothing but the server list. Related objects (networks, firewalls) are reported by id,
    so no host costs an extra request.
  - The configuration file must end in C(hcloud.yml) or C(hcloud.yaml).
author:
  - nixos-hetzner developers (!UNKNOWN)
requirements:
  - hcloud>=2.27.0,<3 (Python library; the collection's requirements.txt)
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a source for this plugin.
    type: str
    required: true
    choices: [nixos_hetzner.vps.hcloud]
    version_added: 0.1.0
  api_token:
    description:
      - Hetzner Cloud API token (read and write, or read only).
      - May be a Jinja2 expression, for example a lookup of another environment variable or of a
        vault (see the third example).
      - Never shown in any output.
    type: str
    env:
      - name: HCLOUD_TOKEN
    version_added: 0.1.0
  api_endpoint:
    description:
      - Base URL of the Hetzner Cloud API. Point it at the lab emulator to use the lab.
    type: str
    default: https://api.hetzner.cloud/v1
    env:
      - name: HCLOUD_ENDPOINT
    version_added: 0.1.0
  label_selector:
    description:
      - Hetzner Cloud label selector that the list call passes to the API, for example
        C(fleet=web,env!=dev). Only matching servers become hosts.
    type: str
    version_added: 0.1.0
  status:
    description:
      - Only servers whose status is one of these become hosts. The filter is applied by the
        API in the same list call. Omitted means every status.
    type: list
    elements: str
    choices: [initializing, starting, running, stopping, "off", deleting, migrating, rebuilding, unknown]
    version_added: 0.1.0
  connect_with:
    description:
      - Which address becomes C(ansible_host).
      - C(public_ipv6) uses the first address (C(::1)) of the server's IPv6 network.
      - C(private_ipv4) uses the server's address in O(network), or in its first private
        network when O(network) is omitted.
      - A server that has no such address is still added, without C(ansible_host), and a
        warning names it.
    type: str
    default: public_ipv4
    choices: [public_ipv4, public_ipv6, private_ipv4]
    version_added: 0.1.0
  network:
    description:
      - ID of the private network whose address C(connect_with=private_ipv4) uses.
      - An ID, not a name, so that resolving it costs no request.
    type: int
    version_added: 0.1.0
  hostvars_prefix:
    description:
      - Prefix of every host variable this plugin sets (other than C(ansible_host)).
    type: str
    default: hcloud_
    version_added: 0.1.0
  group:
    description:
      - Group that every host of this source joins. An empty string adds no such group.
    type: str
    default: hcloud
    version_added: 0.1.0
"""

EXAMPLES = r"""
# inventories/prod/web.hcloud.yml: every server labelled fleet=web, reached by public IPv4.
plugin: nixos_hetzner.vps.hcloud
label_selector: fleet=web

---
# Group by location and server type, build a variable from a label, and cache the list.
plugin: nixos_hetzner.vps.hcloud
api_endpoint: http://127.0.0.1:8080/v1
status: [running]
connect_with: public_ipv6
keyed_groups:
  - key: hcloud_location
    prefix: location
  - key: hcloud_labels
    prefix: label
groups:
  installed: hcloud_labels.stage | default('') == 'installed'
compose:
  nixos_role: hcloud_labels.role | default('generic')
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory
cache_timeout: 300

---
# The token from another environment variable (templated when the inventory is read).
plugin: nixos_hetzner.vps.hcloud
api_token: "{{ lookup('ansible.builtin.env', 'MY_TOKEN') }}"
label_selector: fleet=db
"""

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import (
    HcloudError,
    iter_pages,
    make_client,
    translate_error,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    server_from_api,
)


# --------------------------------------------------------------------------------------
# Pure part: server model -> facts -> host variables. No I/O; unit tests call these.
# --------------------------------------------------------------------------------------

def server_facts(raw):
    """Facts of one server, from the API's server JSON: the collection's one server shape
    (``_hcloud_server_plan.FACT_FIELDS``), the same as hcloud_server, hcloud_fleet and
    hcloud_server_info return. Only the list answer is read, so no host costs a request."""
    return server_from_api(raw)


def connect_address(facts, connect_with, network=None):
    """The address Ansible connects to, or None when the server has none of that kind."""
    if connect_with == "public_ipv4":
        return facts.get("ipv4")
    if connect_with == "public_ipv6":
        return facts.get("ipv6")
    if connect_with == "private_ipv4":
        for net in facts.get("private_networks") or []:
            if network is None or net.get("network") == network:
                return net.get("ip")
        return None
    raise ValueError("unknown connect_with %r" % (connect_with,))


def host_variables(facts, prefix, connect_with, network=None):
    """All variables of one host: the facts under ``prefix`` plus ``ansible_host``."""
    hostvars = {prefix + key: value for key, value in facts.items()}
    address = connect_address(facts, connect_with, network)
    if address is not None:
        hostvars["ansible_host"] = address
    return hostvars


# --------------------------------------------------------------------------------------
# The plugin: one seam (the list call), then populate.
# --------------------------------------------------------------------------------------

class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "nixos_hetzner.vps.hcloud"

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        return path.endswith(("hcloud.yml", "hcloud.yaml"))

    def _option_templated(self, name):
        value = self.get_option(name)
        if isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        return value

    def _client(self):
        """The collection's client: the hcloud library with the shared retry layer (429 and
        RateLimit-Reset honoured, locked and 5xx retried within a deadline)."""
        token = self._option_templated("api_token")
        if not token:
            raise AnsibleParserError(
                "nixos_hetzner.vps.hcloud inventory: no API token. Set api_token in the "
                "inventory source or export HCLOUD_TOKEN."
            )
        endpoint = self._option_templated("api_endpoint")
        try:
            return make_client({"api_token": token, "api_endpoint": endpoint})
        except HcloudError as exc:
            raise AnsibleError("nixos_hetzner.vps.hcloud inventory: %s" % exc.msg) from exc

    def _fetch_facts(self):
        """The seam: one paginated list of servers, turned into plain facts."""
        client = self._client()
        params = {}
        if self.get_option("label_selector"):
            params["label_selector"] = self.get_option("label_selector")
        if self.get_option("status"):
            params["status"] = list(self.get_option("status"))
        try:
            servers = iter_pages(client, "/servers", "servers", params)
        except Exception as exc:  # API errors, connection refused, TLS ...
            err = translate_error(exc, "listing servers failed")
            raise AnsibleError(
                "nixos_hetzner.vps.hcloud inventory: %s (code %s%s)"
                % (err.msg, err.code, ", details %s" % err.details if err.details else "")
            ) from exc
        return [server_facts(server) for server in servers]

    def _populate(self, all_facts):
        prefix = self.get_option("hostvars_prefix")
        connect_with = self.get_option("connect_with")
        network = self.get_option("network")
        group = self.get_option("group")
        strict = self.get_option("strict")
        if group:
            group = self.inventory.add_group(group)
        for facts in sorted(all_facts, key=lambda f: f["name"]):
            host = self.inventory.add_host(facts["name"], group=group or None)
            hostvars = host_variables(facts, prefix, connect_with, network)
            if "ansible_host" not in hostvars:
                self.display.warning(
                    "nixos_hetzner.vps.hcloud inventory: server %s has no %s address%s; "
                    "it is added without ansible_host"
                    % (facts["name"], connect_with, " in network %s" % network if network else "")
                )
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        all_facts = None
        if use_cache and cache:
            try:
                all_facts = self._cache[cache_key]
            except KeyError:
                all_facts = None
        if all_facts is None:
            all_facts = self._fetch_facts()
            if use_cache:
                self._cache[cache_key] = all_facts
        self._populate(all_facts)
