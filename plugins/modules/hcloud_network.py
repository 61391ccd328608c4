#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Hetzner Cloud private network with its subnets and routes."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_network
short_description: Manage a Hetzner Cloud private network with its subnets and routes
version_added: 0.1.0
description:
  - Creates, updates or deletes one private network, identified by its name, together with
    its subnets and (optionally) its routes.
  - O(subnets) and O(routes), when given, are the complete lists; subnets and routes that
    are not listed are deleted. When omitted they are left as they are.
  - The ip_range of an existing network can only grow (to a range containing the old one);
    a subnet cannot change its type or zone in place. Such requests are errors, not
    silently ignored.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Name of the network, unique in the project.
    type: str
    required: true
    version_added: 0.1.0
  ip_range:
    description:
      - The network's private IPv4 range in CIDR form, for example V(10.0.0.0/16).
      - Required to create the network.
    type: str
    version_added: 0.1.0
  subnets:
    description:
      - Every subnet of the network. Omitted means the subnets are left as they are.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      ip_range:
        description: Range of the subnet, inside the network's O(ip_range).
        type: str
        required: true
        version_added: 0.1.0
      network_zone:
        description: Network zone of the subnet, for example V(eu-central).
        type: str
        required: true
        version_added: 0.1.0
      type:
        description: Type of the subnet. V(cloud) for cloud servers.
        type: str
        default: cloud
        choices: [cloud, server, vswitch]
        version_added: 0.1.0
      vswitch_id:
        description: ID of the Robot vSwitch, for O(subnets[].type=vswitch) only.
        type: int
        version_added: 0.1.0
  routes:
    description:
      - Every route of the network. Omitted means the routes are left as they are.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      destination:
        description: Destination network of the route in CIDR form.
        type: str
        required: true
        version_added: 0.1.0
      gateway:
        description: Gateway address of the route, inside one of the subnets.
        type: str
        required: true
        version_added: 0.1.0
  expose_routes_to_vswitch:
    description: Whether the routes are exposed to a vSwitch connection. Omitted means left as is.
    type: bool
    version_added: 0.1.0
  delete_protection:
    description: Protect the network from deletion. Omitted means left as is.
    type: bool
    version_added: 0.1.0
  labels:
    description:
      - Labels of the network. When given, they replace all its labels. Omitted means left as is.
    type: dict
    version_added: 0.1.0
  keep_if_in_use:
    description:
      - With O(state=absent), leave the network alone when any server is attached to it or it has delete protection, instead of failing. Nothing
        is changed, and RV(kept) says why. For tear-downs that must never touch what others use.
    type: bool
    default: false
    version_added: 0.1.0
  state:
    description: Whether the network exists.
    type: str
    default: present
    choices: [present, absent]
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: A private network for the fleet
  nixos_hetzner.vps.hcloud_network:
    name: fleet
    ip_range: 10.0.0.0/16
    subnets:
      - ip_range: 10.0.1.0/24
        network_zone: eu-central
    routes:
      - destination: 10.100.0.0/24
        gateway: 10.0.1.10
    labels:
      fleet: web

- name: Delete it
  nixos_hetzner.vps.hcloud_network:
    name: fleet
    state: absent
"""

RETURN = r"""
hcloud_network:
  description: The network after the task (empty when it was deleted).
  returned: always
  type: dict
  sample: {id: 7, name: fleet, ip_range: 10.0.0.0/16, labels: {fleet: web}, expose_routes_to_vswitch: false,
           delete_protection: false, servers: [101],
           subnets: [{type: cloud, ip_range: 10.0.1.0/24, network_zone: eu-central, vswitch_id: null}],
           routes: [{destination: 10.100.0.0/24, gateway: 10.0.1.10}]}
  contains:
    id:
      description: ID of the network (null in check mode before it is created).
      returned: when the network exists
      type: int
      sample: 7
    name:
      description: Name of the network.
      returned: when the network exists
      type: str
      sample: fleet
    ip_range:
      description: The network's IPv4 range.
      returned: when the network exists
      type: str
      sample: 10.0.0.0/16
    subnets:
      description: Subnets, sorted by ip_range.
      returned: when the network exists
      type: list
      elements: dict
      sample: [{type: cloud, ip_range: 10.0.1.0/24, network_zone: eu-central, vswitch_id: null}]
    routes:
      description: Routes, sorted.
      returned: when the network exists
      type: list
      elements: dict
      sample: [{destination: 10.100.0.0/24, gateway: 10.0.1.10}]
    labels:
      description: Labels of the network.
      returned: when the network exists
      type: dict
      sample: {fleet: web}
    expose_routes_to_vswitch:
      description: Whether routes are exposed to a vSwitch.
      returned: when the network exists
      type: bool
      sample: false
    delete_protection:
      description: Whether the network is protected from deletion.
      returned: when the network exists
      type: bool
      sample: false
    servers:
      description: IDs of the servers attached to the network.
      returned: when the network exists
      type: list
      elements: int
      sample: [101]
kept:
  description: Why O(keep_if_in_use) left the resource in place.
  returned: when O(state=absent) and O(keep_if_in_use) kept the resource
  type: str
  sample: "network fleet is in use: servers 101 are attached"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_network_plan import (
    normalize_routes,
    normalize_subnets,
    observe_network,
    plan_network,
    validate_ip_range,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    check_labels,
    normalize_labels,
)

URL = "/networks"


def subnet_body(subnet):
    body = {"type": subnet["type"], "ip_range": subnet["ip_range"], "network_zone": subnet["network_zone"]}
    if subnet.get("vswitch_id"):
        body["vswitch_id"] = subnet["vswitch_id"]
    return body


class Network(HcloudModule):
    result_key = "hcloud_network"

    def validate(self):
        check_labels(self.params["labels"])
        problems = []
        self.ip_range, found = validate_ip_range(self.params["ip_range"])
        problems += found
        self.subnets, found = normalize_subnets(self.params["subnets"], self.ip_range)
        problems += found
        self.routes, found = normalize_routes(self.params["routes"])
        problems += found
        if problems:
            raise HcloudError("invalid network %s: %s" % (self.params["name"], "; ".join(problems)),
                              code="invalid_input", details={"problems": problems})

    def observe(self):
        return observe_network(self.find_by_name(URL, "networks", self.params["name"]))

    def plan(self, observed):
        if observed is not None:
            reasons = []
            if observed.get("servers"):
                reasons.append("servers %s are attached" % ", ".join(str(i) for i in observed["servers"]))
            if observed.get("delete_protection"):
                reasons.append("it has delete protection")
            kept = self.kept_in_use("network %s" % observed["name"], reasons)
            if kept is not None:
                return kept
        desired = dict(
            name=self.params["name"],
            ip_range=self.ip_range,
            labels=normalize_labels(self.params["labels"]),
            subnets=self.subnets,
            routes=self.routes,
            expose_routes_to_vswitch=self.params["expose_routes_to_vswitch"],
            delete_protection=self.params["delete_protection"],
        )
        plan = plan_network(observed, desired, self.params["state"])
        if observed is not None and self.subnets is not None and self.ip_range is None:
            # Subnets must lie inside the (existing) network's range.
            _subnets, problems = normalize_subnets(self.params["subnets"], observed["ip_range"])
            plan.conflicts.extend(problems)
        return plan

    def _action(self, network_id, name, body, context):
        answer = self.request("POST", "%s/%d/actions/%s" % (URL, network_id, name), json=body)
        self.wait([answer.get("action")], context=context)

    def apply(self, plan, observed):
        name = self.params["name"]
        changes = plan.changes
        if plan.op == "delete":
            self.request("DELETE", "%s/%d" % (URL, observed["id"]))
            return {}
        if plan.op == "create":
            body = {"name": name, "ip_range": changes["ip_range"], "labels": changes["labels"],
                    "subnets": [subnet_body(s) for s in changes["subnets"]],
                    "routes": [dict(r) for r in changes["routes"]],
                    "expose_routes_to_vswitch": changes["expose_routes_to_vswitch"]}
            answer = self.create_or_adopt(
                lambda: self.request("POST", URL, json=body),
                lambda: self.find_by_name(URL, "networks", name))
            network = answer.get("adopted") or answer["network"]
            if "change_protection" in plan.steps:
                self._action(network["id"], "change_protection", {"delete": True},
                             "protecting network %s" % name)
            return self._reload(network["id"])
        nid = observed["id"]
        for step in plan.steps:
            if step == "update":
                self.request("PUT", "%s/%d" % (URL, nid), json=changes["update"])
            elif step == "change_ip_range":
                self._action(nid, "change_ip_range", {"ip_range": changes["ip_range"]},
                             "growing network %s to %s" % (name, changes["ip_range"]))
            elif step == "delete_route":
                for route in changes["delete_routes"]:
                    self._action(nid, "delete_route", dict(route), "deleting route %s" % route["destination"])
            elif step == "delete_subnet":
                for subnet in changes["delete_subnets"]:
                    self._action(nid, "delete_subnet", {"ip_range": subnet["ip_range"]},
                                 "deleting subnet %s" % subnet["ip_range"])
            elif step == "add_subnet":
                for subnet in changes["add_subnets"]:
                    self._action(nid, "add_subnet", subnet_body(subnet), "adding subnet %s" % subnet["ip_range"])
            elif step == "add_route":
                for route in changes["add_routes"]:
                    self._action(nid, "add_route", dict(route), "adding route %s" % route["destination"])
            elif step == "change_protection":
                self._action(nid, "change_protection", {"delete": changes["delete_protection"]},
                             "changing the protection of network %s" % name)
        return self._reload(nid)

    def _reload(self, network_id):
        return observe_network(self.request("GET", "%s/%d" % (URL, network_id))["network"])

    def facts(self, observed, plan):
        if plan.op == "delete" or (observed is None and plan.op == "none"):
            return {}
        if observed is None:
            return dict(plan.after, id=None, servers=[])
        return dict(observed, **plan.after)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    ip_range=dict(type="str"),
    subnets=dict(type="list", elements="dict", options=dict(
        ip_range=dict(type="str", required=True),
        network_zone=dict(type="str", required=True),
        type=dict(type="str", default="cloud", choices=["cloud", "server", "vswitch"]),
        vswitch_id=dict(type="int"),
    )),
    routes=dict(type="list", elements="dict", options=dict(
        destination=dict(type="str", required=True),
        gateway=dict(type="str", required=True),
    )),
    expose_routes_to_vswitch=dict(type="bool"),
    delete_protection=dict(type="bool"),
    labels=dict(type="dict"),
    keep_if_in_use=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    Network(module).run()


if __name__ == "__main__":
    main()
