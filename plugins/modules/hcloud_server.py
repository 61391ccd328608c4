#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage one Hetzner Cloud server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_server
short_description: Manage one Hetzner Cloud server
version_added: 0.1.0
description:
  - Creates, changes, powers, rebuilds, rescues and deletes one Hetzner Cloud server,
    identified by its O(name).
  - The module first computes a plan (what to change, the diff) from the server's current
    state, then carries it out. Check mode computes the plan only.
  - An omitted option never changes anything.
  - A requested change that an existing server cannot take (O(location), O(image) without
    O(state=rebuild), O(placement_group), O(enable_ipv4), O(enable_ipv6)) fails with a message
    that says what to do, before anything is changed.
  - To manage many servers at once use M(nixos_hetzner.vps.hcloud_fleet), which needs far fewer
    API requests.
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes.modes
  - nixos_hetzner.vps.attributes.partial_idempotence
attributes:
  idempotent:
    details:
      - O(state=restarted) and O(state=rebuild) act on every run and always report a change.
      - O(state=rescue) also acts on every run, because booting into the rescue system clears the
        server's C(rescue_enabled) flag, so the API cannot tell whether a server currently runs
        it. Guard the task (the hardware role uses a stage label).
options:
  name:
    description: The server's name (a hostname, unique in the project).
    type: str
    required: true
    version_added: 0.1.0
  state:
    description:
      - V(present) ensures the server exists (it is started when it is created), and leaves
        its power state alone.
      - V(started) and V(stopped) also set the power state (stopping is a hard power off).
      - V(restarted) reboots a running server (or powers on a stopped one).
      - V(rebuild) reinstalls the server from O(image), destroying the data on its disk.
      - V(rescue) enables the rescue system (with O(ssh_keys)) and then resets the server (or
        powers it on), and returns once that action has finished. It acts on every run (see
        the C(idempotent) attribute).
      - V(absent) deletes the server. A server with delete protection is not deleted; the
        API's error is reported.
    type: str
    default: present
    choices: [present, absent, started, stopped, restarted, rebuild, rescue]
    version_added: 0.1.0
  server_type:
    description:
      - The server type, for example V(cx23) or V(cax11). Needed to create a server.
      - On an existing server a different type is applied with C(change_type). A running
        server must be shut down for that and is booted again afterwards, so this needs
        O(allow_reboot=true); without it the change is reported (a warning, and
        RV(hcloud_server.pending_changes)) and not carried out.
      - An unknown type fails before anything is created, listing the valid types.
    type: str
    version_added: 0.1.0
  upgrade_disk:
    description:
      - When changing O(server_type), also grow the disk. A grown disk cannot be shrunk, so
        the server cannot go back to a smaller type afterwards.
    type: bool
    default: false
    version_added: 0.1.0
  image:
    description:
      - The image name or id, for example V(debian-12). Needed to create a server and for
        O(state=rebuild).
      - A different image on an existing server is an error unless O(state=rebuild).
    type: str
    version_added: 0.1.0
  location:
    description:
      - The location, for example V(fsn1). Only used when the server is created; a different
        location on an existing server is an error.
    type: str
    version_added: 0.1.0
  ssh_keys:
    description:
      - SSH keys (names or ids) for the root user, used when the server is created, rebuilt, or
        put into rescue.
      - The API does not report which keys a server was created with, so they cannot be
        compared with an existing server; a warning says so when they are given for one.
    type: list
    elements: str
    version_added: 0.1.0
  labels:
    description:
      - The complete set of labels. Keys and values must follow the Hetzner label syntax
        (checked before anything is sent).
    type: dict
    version_added: 0.1.0
  firewalls:
    description:
      - Firewalls (names or ids) that must be applied to the server. Firewalls that are not
        listed are left alone.
    type: list
    elements: str
    version_added: 0.1.0
  private_networks:
    description:
      - Private networks (names or ids) the server must be attached to. Networks that are not
        listed are left alone.
    type: list
    elements: str
    aliases: [networks]
    version_added: 0.1.0
  placement_group:
    description:
      - The placement group (name or id), used when the server is created. A different one on
        an existing server is an error.
    type: str
    version_added: 0.1.0
  user_data:
    description: Cloud-init user data, used when the server is created or rebuilt.
    type: str
    version_added: 0.1.0
  enable_ipv4:
    description: Whether the server gets a public IPv4 address (at creation only).
    type: bool
    version_added: 0.1.0
  enable_ipv6:
    description: Whether the server gets a public IPv6 network (at creation only).
    type: bool
    version_added: 0.1.0
  backups:
    description: Whether automatic backups are enabled.
    type: bool
    version_added: 0.1.0
  delete_protection:
    description:
      - Whether the server is protected against deletion. The API requires the same value as
        O(rebuild_protection) when both end up set.
    type: bool
    version_added: 0.1.0
  rebuild_protection:
    description: Whether the server is protected against rebuilds.
    type: bool
    version_added: 0.1.0
  allow_reboot:
    description:
      - Allow a change that reboots a running server, which is a O(server_type) change. An
        encrypted server then waits for its passphrase at boot.
      - The server is shut down gracefully (ACPI), powered off only if it is still running
        after O(shutdown_timeout) seconds, changed, and powered on again. The diff says
        C(reboot), and RV(hcloud_server.rebooted) is true.
    type: bool
    default: false
    version_added: 0.1.0
  shutdown_timeout:
    description: Seconds to wait for a graceful shutdown before the server is powered off.
    type: int
    default: 60
    version_added: 0.1.0
notes:
  - >-
    The root password is a secret. It is returned only when the API generated one because no
    SSH key was given (creation, rebuild, or rescue without O(ssh_keys)). Give SSH keys, or set
    C(no_log: true) on the task, so it does not end up in logs.
seealso:
  - module: nixos_hetzner.vps.hcloud_fleet
author:
  - nixos-hetzner developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: A server, started
  nixos_hetzner.vps.hcloud_server:
    name: web1
    server_type: cx23
    image: debian-12
    location: fsn1
    ssh_keys: [admin]
    labels:
      role: web
    state: started

- name: Boot it into the rescue system (returns when the reset has finished)
  nixos_hetzner.vps.hcloud_server:
    name: web1
    ssh_keys: [admin]
    state: rescue

- name: Every hcloud module with the lab's endpoint and token
  module_defaults:
    group/nixos_hetzner.vps.hcloud:
      api_endpoint: http://127.0.0.1:8765/v1
      api_token: "{{ lab_token }}"
  block:
    - name: Remove it
      nixos_hetzner.vps.hcloud_server:
        name: web1
        state: absent
"""

RETURN = r"""
hcloud_server:
  description: The server after the run (in check mode, as it would be). Empty after deletion.
  returned: always
  type: dict
  contains:
    id:
      description: The server id (null in check mode for a server still to be created).
      type: int
      returned: always
      sample: 42
    name:
      description: The server name.
      type: str
      returned: always
      sample: web1
    status:
      description: The power status (running, off, initializing...).
      type: str
      returned: always
      sample: running
    created:
      description: When the server was created (ISO 8601), or null before it exists.
      type: str
      returned: always
      sample: "2026-11-25T22:00:00+00:00"
    server_type:
      description: The server type's name.
      type: str
      returned: always
      sample: cx23
    architecture:
      description: The CPU architecture (x86 or arm).
      type: str
      returned: always
      sample: x86
    image:
      description: The name (or id) of the image the server was created or rebuilt from.
      type: str
      returned: always
      sample: debian-12
    location:
      description: The location's name.
      type: str
      returned: always
      sample: fsn1
    ipv4:
      description: The public IPv4 address, or null.
      type: str
      returned: always
      sample: 127.0.0.12
    ipv6:
      description: The first address of the public IPv6 network, or null.
      type: str
      returned: always
      sample: "2001:db8:0:12::1"
    ipv6_network:
      description: The public IPv6 network, or null.
      type: str
      returned: always
      sample: "2001:db8:0:12::/64"
    private_ipv4:
      description: The server's address in its first private network, or null.
      type: str
      returned: always
      sample: 10.0.0.2
    private_networks:
      description: The private networks (network id, IP, alias IPs and MAC address).
      type: list
      elements: dict
      returned: always
      sample: [{"network": 7, "ip": "10.0.0.2", "alias_ips": [], "mac_address": "86:00:00:00:00:01"}]
    labels:
      description: The labels.
      type: dict
      returned: always
      sample: {"role": "web"}
    rescue_enabled:
      description: Whether the rescue system is enabled.
      type: bool
      returned: always
      sample: false
    backups:
      description: Whether backups are enabled.
      type: bool
      returned: always
      sample: false
    backup_window:
      description: The backup window the API chose when backups were enabled, or null.
      type: str
      returned: always
      sample: "22-02"
    delete_protection:
      description: Whether delete protection is on.
      type: bool
      returned: always
      sample: false
    rebuild_protection:
      description: Whether rebuild protection is on.
      type: bool
      returned: always
      sample: false
    placement_group:
      description: The placement group's name, or null.
      type: str
      returned: always
      sample: null
    firewalls:
      description: The ids of the firewalls applied to the server.
      type: list
      elements: str
      returned: always
      sample: ["12"]
    primary_disk_size:
      description: The disk size in GB.
      type: int
      returned: always
      sample: 40
    rebooted:
      description:
        - Whether this task boots the server again (in check mode, whether it would). An encrypted server
          then waits for its passphrase.
      type: bool
      returned: always
      sample: false
    pending_changes:
      description: Changes that were asked for but not carried out because they need O(allow_reboot).
      type: list
      elements: str
      returned: always
      sample:
        - "server web1: server_type cx23 -> cx33 needs a reboot (shutdown, change_type, power on),
          so it was not done; set allow_reboot=true to allow it"
root_password:
  description:
    - The root password the API generated because no SSH key was given. A secret; use
      C(no_log) on the task.
  returned: when the server was created, rebuilt or rescued without SSH keys
  type: str
  sample: "YItygq1v3GYjjMomLaKc"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_deprecation import (
    create_problem,
    deprecation_warning,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_ops import (
    Catalogs,
    Job,
    ServerOps,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    STATES,
    desired_server,
    observe_server,
    plan_server,
    type_change_problem,
    server_facts,
    server_option_spec,
    validate_server,
    with_outcome,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import check_catalog


class HcloudServer(HcloudModule):
    result_key = "hcloud_server"

    def __init__(self, module):
        super().__init__(module)
        self.desired = desired_server(module.params)
        self._catalogs = None
        self.raw_type = None
        self.refs = {}

    @property
    def catalogs(self):
        if self._catalogs is None:
            self._catalogs = Catalogs(self.client)
        return self._catalogs

    def validate(self):
        problems = validate_server(self.desired)
        if problems:
            raise HcloudError("; ".join(problems), code="invalid_input", details={"problems": problems})

    def observe(self):
        raw = self.find_by_name("/servers", "servers", self.desired["name"])
        self.raw_type = (raw or {}).get("server_type")
        observed = observe_server(raw)
        if self.desired["state"] != "absent":
            self.refs["firewalls"] = self.catalogs.ids("firewalls", self.desired.get("firewalls"))
            self.refs["networks"] = self.catalogs.ids("networks", self.desired.get("networks"))
        # Read the catalogs that plan() will check names against: which ones depends on
        # what the (pure) planner decides.
        for kind in self._catalogs_needed(plan_server(observed, self.desired, self.refs)):
            self.catalogs.get(kind)
        return observed

    def _catalogs_needed(self, plan):
        if plan.conflicts:
            return []
        kinds = []
        if plan.op == "create":
            kinds += ["server_types", "images"]
            if self.desired.get("location"):
                kinds.append("locations")
            if self.desired.get("placement_group") and Catalogs.needed([self.desired["placement_group"]]):
                kinds.append("placement_groups")
        elif "change_type" in plan.steps:
            kinds.append("server_types")
        if plan.op == "create" or "enable_rescue" in plan.steps:
            if Catalogs.needed(self.desired.get("ssh_keys")):
                kinds.append("ssh_keys")
        return kinds

    def plan(self, observed):
        plan = plan_server(observed, self.desired, self.refs)
        for sentence in plan.pending:
            self.module.warn(sentence)
        if plan.conflicts:
            return plan
        checks = []
        if plan.op == "create":
            checks.append((self.catalogs.get("server_types", fetch=False), self.desired["server_type"], None))
            checks.append((self.catalogs.get("images", fetch=False), self.desired["image"], None))
            if self.desired.get("location"):
                checks.append((self.catalogs.get("locations", fetch=False), self.desired["location"], None))
            if self.desired.get("placement_group"):
                self.refs["placement_groups"] = self.catalogs.ids(
                    "placement_groups", [self.desired["placement_group"]], fetch=False)
        elif "change_type" in plan.steps:
            checks.append((self.catalogs.get("server_types", fetch=False), self.desired["server_type"], None))
        if plan.op == "create" or "enable_rescue" in plan.steps:
            if self.desired.get("ssh_keys"):
                self.refs["ssh_keys"] = self.catalogs.ids("ssh_keys", self.desired["ssh_keys"], fetch=False)
        check_catalog(checks)
        self._check_deprecation(plan, observed)
        if observed is not None and self.desired.get("ssh_keys") and \
                self.desired["state"] in ("present", "started", "stopped"):
            self.module.warn("ssh_keys are only used when a server is created, rebuilt or rescued; "
                             "they were not compared with or applied to the existing server %s"
                             % observed["name"])
        return plan

    def _check_deprecation(self, plan, observed):
        """Refuse a create or change_type to a type the API no longer sells in the location;
        warn about an existing server (or a create) on a deprecated type."""
        name = self.desired["name"]
        if plan.op == "create" or "change_type" in plan.steps:
            st = self.catalogs.get("server_types", fetch=False).get(self.desired["server_type"])
            where = self.desired.get("location") if observed is None else observed.get("location")
            problem = create_problem(st, where, name)
            if not problem and observed is not None:
                problem = type_change_problem(observed, st)
            if problem:
                raise HcloudError(problem, code="server_type_unavailable",
                                  details={"server_type": self.desired["server_type"],
                                           "location": where})
            if plan.op == "create":
                warning = deprecation_warning(st, where, name)
                if warning:
                    self.module.warn(warning)
        if observed is not None and plan.op != "delete" and "change_type" not in plan.steps:
            warning = deprecation_warning(self.raw_type, observed.get("location"), name)
            if warning:
                self.module.warn(warning)

    def apply(self, plan, observed):
        ops = ServerOps(self.client, self.waiter, self.catalogs, max_parallel=1)
        ops.refs = self.refs
        job = Job(self.desired["name"], self.desired, plan,
                  server_id=observed["id"] if observed else None)
        ops.run([job])
        if job.root_password:
            self.extra_result["root_password"] = job.root_password
        if job.error:
            fresh = self.find_by_name("/servers", "servers", self.desired["name"]) if job.server_id else None
            details = dict(job.error.get("details") or {})
            details["server"] = server_facts(observe_server(fresh)) if fresh else None
            details["steps_done"] = job.done
            raise HcloudError(job.error["msg"], code=job.error.get("code"), details=details)
        if plan.op == "delete":
            return {}
        fresh = self.request("GET", "/servers/%d" % job.server_id)["server"]
        return with_outcome(server_facts(observe_server(fresh)), job.done, plan.pending)

    def facts(self, observed, plan):
        if plan.op == "delete" or (observed is None and not plan.changed):
            return {}
        return server_facts(observed, plan)


def main():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(**server_option_spec(STATES)),
        supports_check_mode=True,
    )
    HcloudServer(module).run()


if __name__ == "__main__":
    main()
