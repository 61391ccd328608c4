#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Hetzner Cloud volume (create, attach, resize)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_volume
short_description: Manage a Hetzner Cloud volume (create, attach, resize)
version_added: 0.1.0
description:
  - Creates, grows, attaches, detaches or deletes one block storage volume, identified by
    its name.
  - By default a volume is created without a filesystem (O(format=none)); the storage
    layer of this collection puts LUKS2 and ZFS on it.
  - A volume can grow but never shrink, and its location and format are fixed when it is
    created. Asking for such a change is an error, never silently ignored.
  - O(state=absent) detaches the volume if needed and deletes it, with all its data.
author:
  - nixos-hetzner developers (!UNKNOWN)
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes
options:
  name:
    description: Name of the volume, unique in the project.
    type: str
    required: true
    version_added: 0.1.0
  size:
    description:
      - Size in GB (10 to 10240). Required to create the volume.
      - A larger size than the current one grows the volume; a smaller one is an error.
    type: int
    version_added: 0.1.0
  location:
    description:
      - Location of the volume, for example V(fsn1). Needed to create a volume that is not
        attached to a server; otherwise the server's location is used.
    type: str
    version_added: 0.1.0
  server:
    description:
      - Server (name or ID) the volume is attached to. It is detached from another server
        first if needed.
      - An empty string detaches the volume. Omitted means the attachment is left as it is.
    type: str
    version_added: 0.1.0
  automount:
    description: Let the server mount the volume's filesystem when it is attached.
    type: bool
    default: false
    version_added: 0.1.0
  format:
    description:
      - Filesystem to create on a new volume. V(none) leaves it unformatted.
      - Used only at creation; a different format on an existing volume is an error.
    type: str
    choices: [none, ext4, xfs]
    version_added: 0.1.0
  delete_protection:
    description: Protect the volume from deletion. Omitted means left as is.
    type: bool
    version_added: 0.1.0
  labels:
    description:
      - Labels of the volume. When given, they replace all its labels. Omitted means left as is.
    type: dict
    version_added: 0.1.0
  state:
    description: Whether the volume exists. V(absent) deletes it and its data.
    type: str
    default: present
    choices: [present, absent]
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: A 50 GB data volume for db1, unformatted (ZFS goes on it later)
  nixos_hetzner.vps.hcloud_volume:
    name: db1-data
    size: 50
    server: db1
    labels:
      fleet: db

- name: Grow it
  nixos_hetzner.vps.hcloud_volume:
    name: db1-data
    size: 100

- name: Detach it
  nixos_hetzner.vps.hcloud_volume:
    name: db1-data
    server: ""

- name: Delete it with its data
  nixos_hetzner.vps.hcloud_volume:
    name: db1-data
    state: absent
"""

RETURN = r"""
hcloud_volume:
  description: The volume after the task (empty when it was deleted).
  returned: always
  type: dict
  sample: {id: 4, name: db1-data, size: 50, location: fsn1, server: 101, format: none,
           linux_device: /dev/disk/by-id/scsi-0HC_Volume_4, labels: {fleet: db},
           delete_protection: false, status: available}
  contains:
    id:
      description: ID of the volume (null in check mode before it is created).
      returned: when the volume exists
      type: int
      sample: 4
    name:
      description: Name of the volume.
      returned: when the volume exists
      type: str
      sample: db1-data
    size:
      description: Size in GB.
      returned: when the volume exists
      type: int
      sample: 50
    location:
      description: Location of the volume.
      returned: when the volume exists
      type: str
      sample: fsn1
    server:
      description: ID of the server the volume is attached to, 0 when detached.
      returned: when the volume exists
      type: int
      sample: 101
    format:
      description: Filesystem the volume was created with (V(none) for none).
      returned: when the volume exists
      type: str
      sample: none
    linux_device:
      description: Device path of the volume on its server.
      returned: when the volume exists
      type: str
      sample: /dev/disk/by-id/scsi-0HC_Volume_4
    labels:
      description: Labels of the volume.
      returned: when the volume exists
      type: dict
      sample: {fleet: db}
    delete_protection:
      description: Whether the volume is protected from deletion.
      returned: when the volume exists
      type: bool
      sample: false
    status:
      description: Status of the volume.
      returned: when the volume exists
      type: str
      sample: available
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    check_labels,
    normalize_labels,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_volume_plan import (
    DETACHED,
    observe_volume,
    plan_volume,
    validate,
)

URL = "/volumes"


def server_location(server):
    """Location name of an API server dict (``location``, or ``datacenter.location``)."""
    loc = server.get("location") or (server.get("datacenter") or {}).get("location") or {}
    return loc.get("name") if isinstance(loc, dict) else loc


class Volume(HcloudModule):
    result_key = "hcloud_volume"

    def validate(self):
        check_labels(self.params["labels"])
        problems = validate(self.params)
        if problems:
            raise HcloudError("invalid volume %s: %s" % (self.params["name"], "; ".join(problems)),
                              code="invalid_input", details={"problems": problems})

    def observe(self):
        self.server_id, self.server_location = None, None
        ref = self.params["server"]
        if ref is not None and self.params["state"] == "present":
            if not ref.strip():
                self.server_id = DETACHED
            else:
                server = self.find_by_name_or_id("/servers", "servers", ref.strip())
                if server is None:
                    raise HcloudError("volume %s: server %r does not exist" % (self.params["name"], ref),
                                      code="not_found")
                self.server_id = int(server["id"])
                self.server_location = server_location(server)
        return observe_volume(self.find_by_name(URL, "volumes", self.params["name"]))

    def plan(self, observed):
        desired = dict(
            name=self.params["name"],
            size=self.params["size"],
            location=self.params["location"],
            server=self.server_id,
            labels=normalize_labels(self.params["labels"]),
            format=self.params["format"],
            delete_protection=self.params["delete_protection"],
            automount=self.params["automount"],
        )
        return plan_volume(observed, desired, self.params["state"], server_location=self.server_location)

    def _action(self, volume_id, name, body, context):
        answer = self.request("POST", "%s/%d/actions/%s" % (URL, volume_id, name), json=body)
        self.wait([answer.get("action")], context=context)

    def apply(self, plan, observed):
        name = self.params["name"]
        changes = plan.changes
        if plan.op == "create":
            body = {"name": name, "size": changes["size"], "labels": changes["labels"],
                    "automount": changes["automount"] if changes["server"] else False}
            if changes["server"]:
                body["server"] = changes["server"]
            else:
                body["location"] = changes["location"]
            if changes["format"] != "none":
                body["format"] = changes["format"]
            answer = self.create_or_adopt(
                lambda: self.request("POST", URL, json=body),
                lambda: self.find_by_name(URL, "volumes", name))
            if "adopted" in answer:
                adopted = observe_volume(answer["adopted"])
                follow_up = plan_volume(adopted, dict(changes, name=name, location=None, format=None),
                                        "present", server_location=self.server_location)
                return self.apply(follow_up, adopted) if follow_up.changed else self._reload(adopted["id"])
            volume = answer["volume"]
            self.wait([answer.get("action")] + list(answer.get("next_actions") or []),
                      context="creating volume %s" % name)
            if "change_protection" in plan.steps:
                self._action(volume["id"], "change_protection", {"delete": True}, "protecting volume %s" % name)
            return self._reload(volume["id"])
        vid = observed["id"]
        for step in plan.steps:
            if step == "update":
                self.request("PUT", "%s/%d" % (URL, vid), json={"labels": changes["labels"]})
            elif step == "resize":
                self._action(vid, "resize", {"size": changes["size"]},
                             "growing volume %s to %d GB" % (name, changes["size"]))
            elif step == "detach":
                self._action(vid, "detach", {}, "detaching volume %s" % name)
            elif step == "attach":
                self._action(vid, "attach", {"server": changes["server"], "automount": changes["automount"]},
                             "attaching volume %s" % name)
            elif step == "change_protection":
                self._action(vid, "change_protection", {"delete": changes["delete_protection"]},
                             "changing the protection of volume %s" % name)
            elif step == "delete":
                self.request("DELETE", "%s/%d" % (URL, vid))
                return {}
        return self._reload(vid)

    def _reload(self, volume_id):
        return observe_volume(self.request("GET", "%s/%d" % (URL, volume_id))["volume"])

    def facts(self, observed, plan):
        if plan.op == "delete" or (observed is None and plan.op == "none"):
            return {}
        if observed is None:
            return dict(plan.after, id=None, linux_device=None, status=None)
        return dict(observed, **plan.after)


#: The module's own options (api_token and api_endpoint come from HcloudModule.argument_spec).
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    size=dict(type="int"),
    location=dict(type="str"),
    server=dict(type="str"),
    automount=dict(type="bool", default=False),
    format=dict(type="str", choices=["none", "ext4", "xfs"]),
    delete_protection=dict(type="bool"),
    labels=dict(type="dict"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(**ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    Volume(module).run()


if __name__ == "__main__":
    main()
