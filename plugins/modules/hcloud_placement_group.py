#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Hetzner Cloud placement group."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_placement_group
short_description: Manage a Hetzner Cloud placement group
version_added: 0.1.0
description:
  - Creates, updates (labels) or deletes one placement group, identified by its name.
  - Servers join a placement group when they are created (see
    M(nixos_hetzner.vps.hcloud_server) and M(nixos_hetzner.vps.hcloud_fleet), option
    C(placement_group)).
  - The type of an existing group cannot change; asking for another type is an error.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Name of the placement group, unique in the project.
    type: str
    required: true
    version_added: 0.1.0
  type:
    description:
      - Placement strategy. C(spread) puts every server of the group on a different host.
      - Used when the group is created; compared afterwards.
    type: str
    default: spread
    choices: [spread]
    version_added: 0.1.0
  labels:
    description:
      - Labels of the group. When given, they replace all labels of the group.
      - Omitted means the labels are left as they are.
    type: dict
    version_added: 0.1.0
  keep_if_in_use:
    description:
      - With O(state=absent), leave the placement group alone when any server is in it, instead of failing. Nothing
        is changed, and RV(kept) says why. For tear-downs that must never touch what others use.
    type: bool
    default: false
    version_added: 0.1.0
  state:
    description: Whether the group exists.
    type: str
    default: present
    choices: [present, absent]
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Spread the database servers over different hosts
  nixos_hetzner.vps.hcloud_placement_group:
    name: db-spread
    labels:
      fleet: db

- name: Remove the group
  nixos_hetzner.vps.hcloud_placement_group:
    name: db-spread
    state: absent
"""

RETURN = r"""
hcloud_placement_group:
  description: The placement group after the task (empty when it was deleted).
  returned: always
  type: dict
  sample: {id: 12, name: db-spread, type: spread, labels: {fleet: db}, servers: [101, 102]}
  contains:
    id:
      description: ID of the group (null in check mode before it is created).
      returned: when the group exists
      type: int
      sample: 12
    name:
      description: Name of the group.
      returned: when the group exists
      type: str
      sample: db-spread
    type:
      description: Placement strategy.
      returned: when the group exists
      type: str
      sample: spread
    labels:
      description: Labels of the group.
      returned: when the group exists
      type: dict
      sample: {fleet: db}
    servers:
      description: IDs of the servers in the group.
      returned: when the group exists
      type: list
      elements: int
      sample: [101, 102]
kept:
  description: Why O(keep_if_in_use) left the resource in place.
  returned: when O(state=absent) and O(keep_if_in_use) kept the resource
  type: str
  sample: "placement group db-spread is in use: servers 101 are in it"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import plan_simple
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    check_labels,
    normalize_labels,
)

URL = "/placement_groups"


def observe_group(data):
    if data is None:
        return None
    return {"id": data.get("id"), "name": data.get("name"), "type": data.get("type"),
            "labels": dict(data.get("labels") or {}), "servers": sorted(data.get("servers") or [])}


class PlacementGroup(HcloudModule):
    result_key = "hcloud_placement_group"

    def validate(self):
        check_labels(self.params["labels"])

    def observe(self):
        return observe_group(self.find_by_name(URL, "placement_groups", self.params["name"]))

    def plan(self, observed):
        if observed is not None and observed["servers"]:
            kept = self.kept_in_use("placement group %s" % observed["name"],
                                    ["servers %s are in it" % ", ".join(str(i) for i in observed["servers"])])
            if kept is not None:
                return kept
        desired = dict(name=self.params["name"], type=self.params["type"],
                       labels=normalize_labels(self.params["labels"]))
        plan = plan_simple(observed, desired, self.params["state"], updatable=("labels",),
                           immutable=("type",))
        if plan.conflicts:
            plan.conflicts = ["placement group %s has type %s; the type cannot change (requested %s)"
                              % (observed["name"], observed["type"], self.params["type"])]
        return plan

    def apply(self, plan, observed):
        name = self.params["name"]
        if plan.op == "delete":
            self.request("DELETE", "%s/%d" % (URL, observed["id"]))
            return {}
        if plan.op == "create":
            body = {"name": name, "type": self.params["type"], "labels": plan.changes.get("labels") or {}}
            answer = self.create_or_adopt(
                lambda: self.request("POST", URL, json=body),
                lambda: self.find_by_name(URL, "placement_groups", name))
            return observe_group(answer.get("adopted") or answer["placement_group"])
        answer = self.request("PUT", "%s/%d" % (URL, observed["id"]), json=plan.changes)
        return observe_group(answer["placement_group"])

    def facts(self, observed, plan):
        if plan.op == "delete" or (observed is None and plan.op == "none"):
            return {}
        if observed is None:
            return {"id": None, "name": self.params["name"], "type": self.params["type"],
                    "labels": plan.after.get("labels") or {}, "servers": []}
        return dict(observed, **plan.changes)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    type=dict(type="str", default="spread", choices=["spread"]),
    labels=dict(type="dict"),
    keep_if_in_use=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    PlacementGroup(module).run()


if __name__ == "__main__":
    main()
