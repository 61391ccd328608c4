#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Hetzner Cloud firewall, its rules and what it applies to."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_firewall
short_description: Manage a Hetzner Cloud firewall, its rules and what it applies to
version_added: 0.1.0
description:
  - Creates, updates or deletes one firewall, identified by its name, with its rules and
    the servers and label selectors it applies to.
  - Rules are compared as a set in a normalised form (addresses as networks, ports as
    strings), so their order and spelling (V(22) or V("22"), V(0.0.0.0/0) or V(0.0.0.0/00))
    never cause a change.
  - O(rules), O(apply_to_servers) and O(apply_to_label_selectors), when given, are complete;
    an empty list removes everything of that kind. When omitted they are left as they are.
  - With O(state=absent) the firewall is first removed from everything it applies to, then
    deleted.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Name of the firewall, unique in the project.
    type: str
    required: true
    version_added: 0.1.0
  rules:
    description:
      - Every rule of the firewall (Hetzner firewalls allow what a rule matches and drop the
        rest of the incoming traffic). Omitted means the rules are left as they are.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      direction:
        description: Direction of the traffic.
        type: str
        default: in
        choices: [in, out]
        version_added: 0.1.0
      protocol:
        description: Protocol of the traffic.
        type: str
        required: true
        choices: [tcp, udp, icmp, esp, gre]
        version_added: 0.1.0
      port:
        description:
          - Port (V(22)), range (V(1024-2048)) or V(any); required for tcp and udp, not allowed
            for the other protocols.
        type: str
        version_added: 0.1.0
      source_ips:
        description: Source networks of an incoming rule, for example V([0.0.0.0/0, ::/0]).
        type: list
        elements: str
        version_added: 0.1.0
      destination_ips:
        description: Destination networks of an outgoing rule.
        type: list
        elements: str
        version_added: 0.1.0
      description:
        description: Free text describing the rule.
        type: str
        version_added: 0.1.0
  apply_to_servers:
    description:
      - Servers (by name or ID) the firewall applies to directly. Omitted means left as is.
      - An unknown server name fails before anything is changed.
    type: list
    elements: str
    version_added: 0.1.0
  apply_to_label_selectors:
    description:
      - Label selectors (for example V(fleet=web)) whose servers the firewall applies to,
        now and in the future. Omitted means left as is.
    type: list
    elements: str
    version_added: 0.1.0
  labels:
    description:
      - Labels of the firewall. When given, they replace all its labels. Omitted means left as is.
    type: dict
    version_added: 0.1.0
  keep_if_in_use:
    description:
      - With O(state=absent), leave the firewall alone when it applies to any server or label selector, instead of removing it from them first. Nothing
        is changed, and RV(kept) says why. For tear-downs that must never touch what others use.
    type: bool
    default: false
    version_added: 0.1.0
  state:
    description: Whether the firewall exists.
    type: str
    default: present
    choices: [present, absent]
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: SSH and HTTPS from anywhere, for every server of the web fleet
  nixos_hetzner.vps.hcloud_firewall:
    name: web
    rules:
      - protocol: tcp
        port: "22"
        source_ips: [0.0.0.0/0, "::/0"]
      - protocol: tcp
        port: "443"
        source_ips: [0.0.0.0/0, "::/0"]
        description: HTTPS
      - protocol: icmp
        source_ips: [0.0.0.0/0, "::/0"]
    apply_to_label_selectors:
      - fleet=web

- name: Also apply it to one server directly
  nixos_hetzner.vps.hcloud_firewall:
    name: web
    apply_to_servers: [bastion]

- name: Remove the firewall from everything and delete it
  nixos_hetzner.vps.hcloud_firewall:
    name: web
    state: absent
"""

RETURN = r"""
hcloud_firewall:
  description: The firewall after the task (empty when it was deleted).
  returned: always
  type: dict
  sample: {id: 38, name: web, labels: {fleet: web}, servers: [101], label_selectors: [fleet=web],
           rules: [{direction: in, protocol: tcp, port: "22", source_ips: [0.0.0.0/0, "::/0"],
                    destination_ips: [], description: null}]}
  contains:
    id:
      description: ID of the firewall (null in check mode before it is created).
      returned: when the firewall exists
      type: int
      sample: 38
    name:
      description: Name of the firewall.
      returned: when the firewall exists
      type: str
      sample: web
    rules:
      description: The rules in normalised form, sorted.
      returned: when the firewall exists
      type: list
      elements: dict
      sample:
        - {direction: in, protocol: tcp, port: "22", source_ips: [0.0.0.0/0, "::/0"], destination_ips: [], description: null}
    servers:
      description: IDs of the servers the firewall applies to directly.
      returned: when the firewall exists
      type: list
      elements: int
      sample: [101, 102]
    label_selectors:
      description: Label selectors the firewall applies to.
      returned: when the firewall exists
      type: list
      elements: str
      sample: [fleet=web]
    labels:
      description: Labels of the firewall.
      returned: when the firewall exists
      type: dict
      sample: {fleet: web}
kept:
  description: Why O(keep_if_in_use) left the resource in place.
  returned: when O(state=absent) and O(keep_if_in_use) kept the resource
  type: str
  sample: "firewall web is in use: applied to servers 101, 102"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_firewall_plan import (
    apply_to_api,
    normalize_rules,
    observe_firewall,
    plan_firewall,
    rule_to_api,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    check_labels,
    normalize_labels,
)

URL = "/firewalls"
#: Up to this many server names are looked up one by one; more cost one paginated list.
NAME_LOOKUPS = 3


class Firewall(HcloudModule):
    result_key = "hcloud_firewall"

    def validate(self):
        check_labels(self.params["labels"])
        self.rules, problems = normalize_rules(self.params["rules"])
        for i, selector in enumerate(self.params["apply_to_label_selectors"] or []):
            if not str(selector).strip():
                problems.append("apply_to_label_selectors[%d] is empty" % i)
        if problems:
            raise HcloudError("invalid firewall %s: %s" % (self.params["name"], "; ".join(problems)),
                              code="invalid_input", details={"problems": problems})

    def resolve_servers(self):
        """Server names/IDs -> IDs, with few requests; unknown names fail before any write."""
        refs = self.params["apply_to_servers"]
        if refs is None:
            return None
        ids, names = set(), []
        for ref in refs:
            ref = str(ref).strip()
            if ref.isdigit():
                ids.add(int(ref))
            else:
                names.append(ref)
        if names:
            if len(names) <= NAME_LOOKUPS:
                found = dict((n, self.find_by_name("/servers", "servers", n)) for n in names)
            else:
                by_name = dict((s["name"], s) for s in self.list_all("/servers", "servers"))
                found = dict((n, by_name.get(n)) for n in names)
            missing = sorted(n for n, s in found.items() if s is None)
            if missing:
                raise HcloudError("firewall %s: apply_to_servers names unknown servers: %s"
                                  % (self.params["name"], ", ".join(missing)),
                                  code="not_found", details={"missing": missing})
            ids.update(int(s["id"]) for s in found.values())
        return sorted(ids)

    def observe(self):
        self.servers = self.resolve_servers()
        return observe_firewall(self.find_by_name(URL, "firewalls", self.params["name"]))

    def plan(self, observed):
        if observed is not None:
            reasons = []
            if observed["servers"]:
                reasons.append("applied to servers %s" % ", ".join(str(i) for i in observed["servers"]))
            if observed["label_selectors"]:
                reasons.append("applied to label selectors %s" % ", ".join(observed["label_selectors"]))
            kept = self.kept_in_use("firewall %s" % observed["name"], reasons)
            if kept is not None:
                return kept
        selectors = self.params["apply_to_label_selectors"]
        desired = dict(
            name=self.params["name"],
            labels=normalize_labels(self.params["labels"]),
            rules=self.rules,
            servers=self.servers,
            label_selectors=sorted(set(s.strip() for s in selectors)) if selectors is not None else None,
        )
        return plan_firewall(observed, desired, self.params["state"])

    def _actions(self, answer, context):
        self.wait(list(answer.get("actions") or []) + [answer.get("action")], context=context)

    def apply(self, plan, observed):
        name = self.params["name"]
        changes = plan.changes
        if plan.op == "create":
            body = {"name": name, "labels": changes["labels"],
                    "rules": [rule_to_api(r) for r in changes["rules"]]}
            targets = apply_to_api(changes["servers"], changes["label_selectors"])
            if targets:
                body["apply_to"] = targets
            answer = self.create_or_adopt(
                lambda: self.request("POST", URL, json=body),
                lambda: self.find_by_name(URL, "firewalls", name))
            if "adopted" in answer:
                # The create went through but its answer was lost: converge what was adopted.
                adopted = observe_firewall(answer["adopted"])
                follow_up = plan_firewall(adopted, dict(changes, name=name), "present")
                return self.apply(follow_up, adopted) if follow_up.changed else self._reload(adopted["id"])
            self._actions(answer, "applying new firewall %s" % name)
            return self._reload(answer["firewall"]["id"])
        fid = observed["id"]
        base = "%s/%d/actions/" % (URL, fid)
        for step in plan.steps:
            if step == "update":
                self.request("PUT", "%s/%d" % (URL, fid), json={"labels": changes["labels"]})
            elif step == "set_rules":
                answer = self.request("POST", base + "set_rules",
                                      json={"rules": [rule_to_api(r) for r in changes["rules"]]})
                self._actions(answer, "setting the rules of firewall %s" % name)
            elif step == "apply_to":
                answer = self.request("POST", base + "apply_to_resources", json={
                    "apply_to": apply_to_api(changes["apply_servers"], changes["apply_selectors"])})
                self._actions(answer, "applying firewall %s" % name)
            elif step == "remove_from":
                answer = self.request("POST", base + "remove_from_resources", json={
                    "remove_from": apply_to_api(changes["remove_servers"], changes["remove_selectors"])})
                self._actions(answer, "removing firewall %s" % name)
            elif step == "delete":
                self.request("DELETE", "%s/%d" % (URL, fid))
                return {}
        return self._reload(fid)

    def _reload(self, firewall_id):
        return observe_firewall(self.request("GET", "%s/%d" % (URL, firewall_id))["firewall"])

    def facts(self, observed, plan):
        if plan.op == "delete" or (observed is None and plan.op == "none"):
            return {}
        if observed is None:
            return dict(plan.after, id=None)
        return dict(observed, **plan.after)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    rules=dict(type="list", elements="dict", options=dict(
        direction=dict(type="str", default="in", choices=["in", "out"]),
        protocol=dict(type="str", required=True, choices=["tcp", "udp", "icmp", "esp", "gre"]),
        port=dict(type="str"),
        source_ips=dict(type="list", elements="str"),
        destination_ips=dict(type="list", elements="str"),
        description=dict(type="str"),
    )),
    apply_to_servers=dict(type="list", elements="str"),
    apply_to_label_selectors=dict(type="list", elements="str"),
    labels=dict(type="dict"),
    keep_if_in_use=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    Firewall(module).run()


if __name__ == "__main__":
    main()
