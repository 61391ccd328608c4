# -*- coding: utf-8 -*-
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
  - Supports C(constructed) (O(compose), O(groups), O(keyed_groups)) and inventory caching.
  - Reads nothing but the server list. Related objects (networks, firewalls) are reported by id,
    so no host costs an extra request.
  - The configuration file must end in C(hcloud.yml) or C(hcloud.yaml).
author:
  - nixos-hetzner developers (!UNKNOWN)
requirements:
  - hcloud (Python library) >= 2.0
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
      - May be a Jinja2 expression such as C({{ lookup('ansible.builtin.env', 'MY_TOKEN') }}).
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
"""

import ipaddress

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import (
    HcloudError,
    make_client,
    translate_error,
)


# --------------------------------------------------------------------------------------
# Pure part: server model -> facts -> host variables. No I/O; unit tests call these.
# --------------------------------------------------------------------------------------

def _name_of(obj):
    """Name of an embedded object (server type, location, ...) without lazy loading."""
    if obj is None:
        return None
    model = getattr(obj, "data_model", obj)
    return getattr(model, "name", None)


def ipv6_host_address(network_cidr):
    """The first host address of a server's IPv6 network: 2001:db8::/64 -> 2001:db8::1."""
    if not network_cidr:
        return None
    net = ipaddress.ip_network(network_cidr, strict=False)
    return str(net.network_address + 1)


def server_facts(server):
    """Facts of one server, from a hcloud ``BoundServer`` (or its ``Server`` data model).

    Only data embedded in the list answer is read (never an attribute that would make the
    library fetch a related object), so building facts costs no request.
    """
    model = getattr(server, "data_model", server)
    public = model.public_net
    ipv4 = public.ipv4.ip if public is not None and public.ipv4 is not None else None
    ipv6_net = public.ipv6.ip if public is not None and public.ipv6 is not None else None
    private = []
    for net in model.private_net or []:
        network = getattr(net.network, "data_model", net.network)
        private.append(
            {
                "network_id": getattr(network, "id", None),
                "ip": net.ip,
                "alias_ips": list(net.alias_ips or []),
                "mac_address": net.mac_address,
            }
        )
    firewalls = []
    if public is not None:
        for fw in public.firewalls or []:
            fw_model = getattr(fw.firewall, "data_model", fw.firewall)
            firewalls.append({"id": getattr(fw_model, "id", None), "status": fw.status})
    image = model.image
    image_model = getattr(image, "data_model", image) if image is not None else None
    image_name = None
    if image_model is not None:
        image_name = image_model.name or image_model.description or str(image_model.id)
    server_type = model.server_type
    st_model = getattr(server_type, "data_model", server_type) if server_type is not None else None
    location = model.location
    placement_group = model.placement_group
    protection = model.protection or {}
    created = model.created
    return {
        "id": model.id,
        "name": model.name,
        "status": model.status,
        "labels": dict(model.labels or {}),
        "server_type": _name_of(server_type),
        "architecture": getattr(st_model, "architecture", None),
        "location": _name_of(location),
        "image": image_name,
        "ipv4": ipv4,
        "ipv6": ipv6_host_address(ipv6_net),
        "ipv6_network": ipv6_net,
        "private_ipv4": private[0]["ip"] if private else None,
        "private_networks": private,
        "firewalls": firewalls,
        "placement_group": _name_of(placement_group),
        "rescue_enabled": bool(model.rescue_enabled),
        "backup_window": model.backup_window,
        "protection": {
            "delete": bool(protection.get("delete", False)),
            "rebuild": bool(protection.get("rebuild", False)),
        },
        "created": created.isoformat() if hasattr(created, "isoformat") else created,
    }


def connect_address(facts, connect_with, network=None):
    """The address Ansible connects to, or None when the server has none of that kind."""
    if connect_with == "public_ipv4":
        return facts.get("ipv4")
    if connect_with == "public_ipv6":
        return facts.get("ipv6")
    if connect_with == "private_ipv4":
        for net in facts.get("private_networks") or []:
            if network is None or net.get("network_id") == network:
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
        kwargs = {}
        if self.get_option("label_selector"):
            kwargs["label_selector"] = self.get_option("label_selector")
        if self.get_option("status"):
            kwargs["status"] = list(self.get_option("status"))
        try:
            servers = client.servers.get_all(**kwargs)
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
