#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Hetzner Cloud SSH key."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_ssh_key
short_description: Manage a Hetzner Cloud SSH key
version_added: 0.1.0
description:
  - Creates, updates (labels) or deletes one SSH key of a Hetzner Cloud project, identified
    by its name.
  - Keys are compared by type and base64 body; the comment after them is ignored.
  - A different public key under an existing name is reported as an error, never ignored,
    because a key cannot be changed in place. Delete it with O(state=absent), then create it
    again.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Name of the key, unique in the project.
    type: str
    required: true
    version_added: 0.1.0
  public_key:
    description:
      - The public key in OpenSSH format, for example the content of C(~/.ssh/id_ed25519.pub).
      - Required to create the key. When the key exists it is only compared.
    type: str
    version_added: 0.1.0
  labels:
    description:
      - Labels of the key. When given, they replace all labels of the key.
      - Omitted means the labels are left as they are.
    type: dict
    version_added: 0.1.0
  state:
    description: Whether the key exists.
    type: str
    default: present
    choices: [present, absent]
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Upload the admin key
  nixos_hetzner.vps.hcloud_ssh_key:
    name: admin
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    labels:
      role: admin

- name: Remove an old key
  nixos_hetzner.vps.hcloud_ssh_key:
    name: departed
    state: absent
"""

RETURN = r"""
hcloud_ssh_key:
  description: The key after the task (empty when it was deleted).
  returned: always
  type: dict
  sample: {id: 4711, name: admin, fingerprint: "5c:c3:80:a2:ca:20:2e:85:3b:6a:23:70:0f:25:0f:2a",
           public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQRPQorrtN0XGcGdamxz/DfEqSiB6JgySGiocqn9bNh,
           labels: {role: admin}}
  contains:
    id:
      description: ID of the key (null in check mode before the key is created).
      returned: when the key exists
      type: int
      sample: 4711
    name:
      description: Name of the key.
      returned: when the key exists
      type: str
      sample: admin
    fingerprint:
      description: MD5 fingerprint of the key.
      returned: when the key exists
      type: str
      sample: "5c:c3:80:a2:ca:20:2e:85:3b:6a:23:70:0f:25:0f:2a"
    public_key:
      description: The public key (type and body, without comment).
      returned: when the key exists
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQRPQorrtN0XGcGdamxz/DfEqSiB6JgySGiocqn9bNh
    labels:
      description: Labels of the key.
      returned: when the key exists
      type: dict
      sample: {role: admin}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_ssh_key_plan import (
    canonical_key,
    fingerprint,
    observe_ssh_key,
    parse_public_key,
    plan_ssh_key,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    check_labels,
    normalize_labels,
)


class SshKey(HcloudModule):
    result_key = "hcloud_ssh_key"

    def validate(self):
        check_labels(self.params["labels"])
        if self.params["public_key"] is not None:
            problem = parse_public_key(self.params["public_key"])[2]
            if problem:
                raise HcloudError("invalid public_key for ssh key %s: %s" % (self.params["name"], problem),
                                  code="invalid_input")

    def observe(self):
        return observe_ssh_key(self.find_by_name("/ssh_keys", "ssh_keys", self.params["name"]))

    def desired(self):
        return dict(name=self.params["name"], public_key=self.params["public_key"],
                    labels=normalize_labels(self.params["labels"]))

    def plan(self, observed):
        return plan_ssh_key(observed, self.desired(), self.params["state"])

    def apply(self, plan, observed):
        name = self.params["name"]
        if plan.op == "delete":
            self.request("DELETE", "/ssh_keys/%d" % observed["id"])
            return {}
        if plan.op == "create":
            body = {"name": name, "public_key": self.params["public_key"].strip(),
                    "labels": plan.changes.get("labels") or {}}
            answer = self.create_or_adopt(
                lambda: self.request("POST", "/ssh_keys", json=body),
                lambda: self.find_by_name("/ssh_keys", "ssh_keys", name))
            return observe_ssh_key(answer.get("adopted") or answer["ssh_key"])
        answer = self.request("PUT", "/ssh_keys/%d" % observed["id"], json=plan.changes)
        return observe_ssh_key(answer["ssh_key"])

    def facts(self, observed, plan):
        if plan.op == "delete":
            return {}
        if observed is None:
            if plan.op == "none":  # absent and already gone
                return {}
            key = self.params["public_key"]
            return {"id": None, "name": self.params["name"], "fingerprint": fingerprint(key),
                    "public_key": canonical_key(key), "labels": plan.after.get("labels") or {}}
        return dict(observed, **plan.changes)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    public_key=dict(type="str", no_log=False),
    labels=dict(type="dict"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    SshKey(module).run()


if __name__ == "__main__":
    main()
