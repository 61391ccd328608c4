#!/usr/bin/python
# Copyright: nixos-hetzner developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile a whole set of Hetzner Cloud servers in one task."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hcloud_fleet
short_description: Reconcile a whole set of Hetzner Cloud servers in one task
version_added: 0.1.0
description:
  - Brings a fleet of servers, recognised by the label C(fleet=<fleet>), to the state given in
    O(servers), with few API requests. This is how the hardware layer provisions a play's hosts.
  - It makes one paginated list call by label selector, computes one pure plan for every server,
    issues all creates and changes up front (at most O(max_parallel) at a time), and then waits
    for all the resulting actions together, polling up to 25 actions per request.
  - Catalogs (server types, images, locations, SSH keys, firewalls, networks) are fetched at most
    once per run and only when needed; a no-op run makes a single list request.
  - An unknown server type, image, location or SSH key fails before anything is created, and the
    message lists the valid values.
  - A create whose answer was lost (5xx, timeout) is resolved by looking the server up by name
    before it is tried again, so retries never create a duplicate.
  - If some servers fail, the others are still reconciled; the task then fails, listing every
    failure, and still returns the facts of every server (including half-created ones). A re-run
    converges.
extends_documentation_fragment:
  - nixos_hetzner.vps.hcloud
  - nixos_hetzner.vps.attributes.modes
  - nixos_hetzner.vps.attributes.partial_idempotence
attributes:
  idempotent:
    details:
      - Every state is idempotent except O(servers[].state=rescue), which acts on every run.
options:
  fleet:
    description:
      - The fleet's name, stored on every member as the label C(fleet=<fleet>). Must be a valid
        label value.
    type: str
    required: true
    version_added: 0.1.0
  servers:
    description:
      - The servers of the fleet. Each item takes the options of M(nixos_hetzner.vps.hcloud_server)
        (O(servers[].state) is limited to V(present), V(started), V(stopped), V(rescue) and
        V(absent)).
      - The label C(fleet=<fleet>) is added to every item's O(servers[].labels).
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
    suboptions:
      name:
        description: The server's name.
        type: str
        required: true
        version_added: 0.1.0
      state:
        description: As in M(nixos_hetzner.vps.hcloud_server).
        type: str
        default: present
        choices: [present, absent, started, stopped, rescue]
        version_added: 0.1.0
      server_type:
        description: The server type (needed to create the server); changed with C(change_type).
        type: str
        version_added: 0.1.0
      upgrade_disk:
        description: Grow the disk when the server type changes.
        type: bool
        default: false
        version_added: 0.1.0
      image:
        description: The image (needed to create the server). An existing server keeps its image.
        type: str
        version_added: 0.1.0
      location:
        description: The location (at creation only).
        type: str
        version_added: 0.1.0
      ssh_keys:
        description: SSH keys (names or ids) for creation and rescue.
        type: list
        elements: str
        version_added: 0.1.0
      labels:
        description: The complete set of labels (plus the fleet label).
        type: dict
        version_added: 0.1.0
      firewalls:
        description: Firewalls (names or ids) that must be applied; others are left alone.
        type: list
        elements: str
        version_added: 0.1.0
      private_networks:
        description: Private networks (names or ids) to attach; others are left alone.
        type: list
        elements: str
        aliases: [networks]
        version_added: 0.1.0
      placement_group:
        description: The placement group (name or id; at creation only).
        type: str
        version_added: 0.1.0
      user_data:
        description: Cloud-init user data (at creation only).
        type: str
        version_added: 0.1.0
      enable_ipv4:
        description: Public IPv4 (at creation only).
        type: bool
        version_added: 0.1.0
      enable_ipv6:
        description: Public IPv6 (at creation only).
        type: bool
        version_added: 0.1.0
      backups:
        description: Whether backups are enabled.
        type: bool
        version_added: 0.1.0
      delete_protection:
        description: Delete protection.
        type: bool
        version_added: 0.1.0
      rebuild_protection:
        description: Rebuild protection.
        type: bool
        version_added: 0.1.0
      allow_reboot:
        description:
          - Allow a change that reboots a running server (a O(servers[].server_type) change), as in
            M(nixos_hetzner.vps.hcloud_server). Without it the change is reported (a warning,
            RV(summary.pending)) and not carried out.
        type: bool
        default: false
        version_added: 0.1.0
      shutdown_timeout:
        description: Seconds to wait for a graceful shutdown before the server is powered off.
        type: int
        default: 60
        version_added: 0.1.0
  prune:
    description:
      - Delete the servers labelled C(fleet=<fleet>) that are not listed in O(servers).
      - A server with delete protection is never deleted; it is listed in RV(summary.kept_protected).
    type: bool
    default: false
    version_added: 0.1.0
  planned:
    description:
      - Shared resources that earlier tasks of the same run create, by kind. In check mode, a name
        listed here that does not exist yet counts as planned rather than unknown, so a C(--check)
        run on a fresh fleet shows the servers it would create behind the firewall it would create.
      - Outside check mode this has no effect, and every name must exist.
    type: dict
    version_added: 0.1.0
    suboptions:
      firewalls:
        description: Firewall names.
        type: list
        elements: str
        default: []
      networks:
        description: Network names.
        type: list
        elements: str
        default: []
      placement_groups:
        description: Placement group names.
        type: list
        elements: str
        default: []
      ssh_keys:
        description: SSH key names.
        type: list
        elements: str
        default: []
  max_parallel:
    description: How many requests that create or change servers run at the same time.
    type: int
    default: 10
    version_added: 0.1.0
  progress_file:
    description:
      - "A file on the host that runs the module, to which one line is appended as each server
        reaches a state, C(<server>: <command> done) when one of its actions ends
        (C(create_server), C(enable_rescue), C(reset_server) ...), then C(<server>: finished) or
        C(<server>: failed: <reason>), and C(fleet: finished) or C(fleet: failed) at the end."
      - For progress while the module runs (a module cannot print before it returns); run it
        with C(async) and wait for each server's line, as the hardware role does (see
        the role's C(fleet.yml)). The lines come from the polls the waits make anyway, so
        they cost no request.
    type: path
    version_added: 0.1.0
notes:
  - O(servers[].state=rescue) enables the rescue system and resets the server on every run, because booting
    into rescue clears the server's C(rescue_enabled) flag, so the API cannot tell whether a server
    currently runs it. Ask for it only for servers that must (re)enter rescue; the hardware role
    decides this with a stage label.
  - SSH keys and user data only matter when a server is created (and SSH keys for rescue); the
    API does not report them, so an existing server is not compared with them.
  - >-
    Root passwords are secrets. They are returned in RV(root_passwords) only for servers created
    or rescued without SSH keys. Give SSH keys, or set C(no_log: true) on the task.
seealso:
  - module: nixos_hetzner.vps.hcloud_server
author:
  - nixos-hetzner developers (!UNKNOWN)
"""

EXAMPLES = r"""
# Each host of the play has a variable "server" with the options of its server, e.g.
#   server: {name: web1, server_type: cx23, image: debian-12, location: fsn1, ssh_keys: [admin]}
- name: Provision every host of the play in one task
  nixos_hetzner.vps.hcloud_fleet:
    fleet: prod
    servers: "{{ ansible_play_hosts_all | map('extract', hostvars, 'server') | list }}"
  run_once: true
  delegate_to: localhost
  register: fleet

- name: Point Ansible at the new servers
  ansible.builtin.set_fact:
    ansible_host: "{{ fleet.servers[server.name].ipv4 }}"

- name: Three web servers in rescue mode; remove fleet members no longer listed
  nixos_hetzner.vps.hcloud_fleet:
    fleet: web
    prune: true
    servers:
      - {name: web1, server_type: cx23, image: debian-12, location: fsn1, ssh_keys: [admin], state: rescue}
      - {name: web2, server_type: cx23, image: debian-12, location: nbg1, ssh_keys: [admin], state: rescue}
      - {name: web3, server_type: cax11, image: debian-12, location: hel1, ssh_keys: [admin], state: rescue}
"""

RETURN = r"""
servers:
  description:
    - The facts of every listed server after the run, keyed by name (in check mode, as it would
      be; C(id) is null for servers still to be created). Deleted servers are absent.
    - Each value has the keys that M(nixos_hetzner.vps.hcloud_server) returns in
      RV(nixos_hetzner.vps.hcloud_server#module:hcloud_server) (id, name, status, ipv4, ipv6,
      ipv6_network, labels, rescue_enabled, server_type, architecture, location, image, ...).
  returned: always
  type: dict
  sample:
    web1: {"id": 42, "name": "web1", "status": "running", "ipv4": "127.0.0.12",
           "ipv6": "2001:db8:0:12::1", "ipv6_network": "2001:db8:0:12::/64",
           "labels": {"fleet": "web"}, "rescue_enabled": true, "server_type": "cx23",
           "architecture": "x86", "location": "fsn1", "image": "debian-12"}
summary:
  description: The names of the servers by what the plan did to them.
  returned: always
  type: dict
  contains:
    create:
      description: Servers created.
      type: list
      elements: str
      returned: always
      sample: [web3]
    update:
      description: Servers changed.
      type: list
      elements: str
      returned: always
      sample: [web1]
    delete:
      description: Servers deleted (state absent, or pruned).
      type: list
      elements: str
      returned: always
      sample: []
    unchanged:
      description: Servers left as they were.
      type: list
      elements: str
      returned: always
      sample: [web2]
    kept_protected:
      description: Servers that prune would delete but that have delete protection.
      type: list
      elements: str
      returned: always
      sample: []
    rebooted:
      description: Servers that this run boots again (shutdown and power on, reset, reboot).
      type: list
      elements: str
      returned: always
      sample: [db1]
    pending:
      description: Servers with changes that need O(servers[].allow_reboot) and were not done.
      type: list
      elements: str
      returned: always
      sample: []
failed_servers:
  description: The error of each server that could not be reconciled (the task then fails).
  returned: when some servers failed
  type: dict
  sample: {"web3": {"msg": "server web3: action create_server (id 17) failed: ...",
                    "code": "action_failed"}}
api_requests:
  description: How many HTTP requests this run made to the API (retries included).
  returned: always
  type: int
  sample: 1
root_passwords:
  description:
    - Root passwords the API generated for servers created or rescued without SSH keys, keyed by
      name. Secrets; use C(no_log) on the task.
  returned: when a server was created or rescued without SSH keys
  type: dict
  sample: {"web1": "YItygq1v3GYjjMomLaKc"}
"""

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_base import HcloudModule
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_client import HcloudError
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_deprecation import (
    create_problem,
    deprecation_warning,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_plan import Plan
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_ops import (
    Catalogs,
    Job,
    ServerOps,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_server_plan import (
    FLEET_STATES,
    server_option_spec,
    desired_server,
    fleet_labels,
    type_change_problem,
    observe_server,
    plan_fleet,
    server_facts,
    with_outcome,
)
from ansible_collections.nixos_hetzner.vps.plugins.module_utils._hcloud_validate import (
    check_catalog,
    check_labels,
)

SERVER_OPTIONS = server_option_spec(FLEET_STATES)


def _refs_in(desired, field):
    out = set()
    for d in desired:
        if d.get("state") == "absent":
            continue
        value = d.get(field)
        if isinstance(value, list):
            out.update(value)
        elif value is not None:
            out.add(value)
    return sorted(out)


class HcloudFleet(HcloudModule):
    result_key = "servers"

    def __init__(self, module):
        super().__init__(module)
        self.fleet = module.params["fleet"]
        self.desired = []
        for item in module.params["servers"]:
            d = desired_server(item)
            if d["labels"] is not None:
                d["labels"] = fleet_labels(self.fleet, d["labels"])
            d["create_labels"] = fleet_labels(self.fleet, d["labels"])
            self.desired.append(d)
        self._catalogs = None
        self.refs = {}
        self.observed = []
        self.raw_types = {}
        self.fleet_plan = None

    @property
    def catalogs(self):
        if self._catalogs is None:
            self._catalogs = Catalogs(self.client)
        return self._catalogs

    def _planned(self, kind):
        """Names of ``kind`` that count as planned: only in check mode (see O(planned))."""
        if not self.module.check_mode:
            return ()
        return (self.params.get("planned") or {}).get(kind) or ()

    def validate(self):
        check_labels({"fleet": self.fleet}, where="fleet name (it is stored as label value)")

    def observe(self):
        raw = self.list_all("/servers", "servers", {"label_selector": "fleet=%s" % self.fleet})
        self.observed = [observe_server(s) for s in raw]
        self.raw_types = dict((s["name"], s.get("server_type")) for s in raw)
        self.refs["firewalls"] = self.catalogs.ids("firewalls", _refs_in(self.desired, "firewalls"),
                                                   planned=self._planned("firewalls"))
        self.refs["networks"] = self.catalogs.ids("networks", _refs_in(self.desired, "networks"),
                                                  planned=self._planned("networks"))
        # Read the catalogs that plan() will check names against, in parallel: which ones
        # depends on what the (pure) planner decides.
        fplan = plan_fleet(self.observed, self.desired, self.fleet, prune=self.params["prune"],
                           refs=self.refs)
        if not fplan.problems and not fplan.conflicts:
            creates, _type_changes, unknown, needs_keys = self._wanted(fplan)
            prefetch = [kind for kind, names in unknown.items() if names]
            if Catalogs.needed(_refs_in(needs_keys, "ssh_keys")):
                prefetch.append("ssh_keys")
            if Catalogs.needed(_refs_in(creates, "placement_group")):
                prefetch.append("placement_groups")
            self.catalogs.prefetch(prefetch)
        return self.observed

    def _wanted(self, fplan):
        """The servers to create, those that change type, the names per catalog that no
        observed server carries (so only the catalog can vouch for them), and the servers
        that need their SSH keys resolved."""
        creates = [d for d in self.desired if fplan.plans[d["name"]].op == "create"]
        type_changes = [d for d in self.desired if "change_type" in fplan.plans[d["name"]].steps]
        seen = {
            "server_types": set(s["server_type"] for s in self.observed) |
            set(str(s.get("server_type_id")) for s in self.observed),
            "images": set(s["image"] for s in self.observed if s.get("image")),
            "locations": set(s["location"] for s in self.observed if s.get("location")),
        }
        wanted = {"server_types": [], "images": [], "locations": []}
        for d in creates + type_changes:
            wanted["server_types"].append(d["server_type"])
        for d in creates:
            wanted["images"].append(d["image"])
            if d.get("location"):
                wanted["locations"].append(d["location"])
        unknown = dict((kind, sorted(set(n for n in names if n not in seen[kind])))
                       for kind, names in wanted.items())
        needs_keys = [d for d in self.desired
                      if fplan.plans[d["name"]].op == "create" or "enable_rescue" in fplan.plans[d["name"]].steps]
        return creates, type_changes, unknown, needs_keys

    def _validate_catalogs(self, fplan):
        """Check names against the API's catalogs (read by observe()), where some name to be
        used is not already carried by an observed server."""
        creates, type_changes, unknown, needs_keys = self._wanted(fplan)
        checks = []
        for kind, names in sorted(unknown.items()):
            if names:
                catalog = self.catalogs.get(kind, fetch=False)
                checks.extend((catalog, n, None) for n in names)
        check_catalog(checks)
        self._check_deprecations(creates, type_changes, unknown["server_types"])
        self.refs["ssh_keys"] = self.catalogs.ids("ssh_keys", _refs_in(needs_keys, "ssh_keys"),
                                                  planned=self._planned("ssh_keys"), fetch=False)
        pgs = _refs_in(creates, "placement_group")
        self.refs["placement_groups"] = self.catalogs.ids("placement_groups", pgs,
                                                          planned=self._planned("placement_groups"),
                                                          fetch=False)

    def _check_deprecations(self, creates, type_changes, fetched):
        """No create or change_type to a type the API no longer sells in the location (one
        error for all, before anything is written); a warning per server on a deprecated
        type.  Type objects come from the observed servers or the fetched catalog."""
        types = {}
        for st in self.raw_types.values():
            if st:
                types[str(st.get("name"))] = types[str(st.get("id"))] = st
        if fetched:
            catalog = self.catalogs.get("server_types", fetch=False)
            for n in fetched:
                types[str(n)] = catalog.get(n)
        where = dict((s["name"], s.get("location")) for s in self.observed)
        problems = []
        for d in creates + type_changes:
            loc = d.get("location") if d in creates else where.get(d["name"])
            problems.append(create_problem(types.get(str(d["server_type"])), loc, d["name"]))
        observed = dict((s["name"], s) for s in self.observed)
        for d in type_changes:
            problems.append(type_change_problem(observed.get(d["name"]),
                                                types.get(str(d["server_type"]))))
        problems = [p for p in problems if p]
        if problems:
            raise HcloudError("; ".join(problems), code="server_type_unavailable",
                              details={"problems": problems})
        changing = set(d["name"] for d in type_changes)
        for name, st in sorted(self.raw_types.items()):
            if name not in changing:
                warning = deprecation_warning(st, where.get(name), name)
                if warning:
                    self.module.warn(warning)

    def plan(self, observed):
        fplan = plan_fleet(observed, self.desired, self.fleet, prune=self.params["prune"],
                           refs=self.refs)
        if fplan.problems:
            raise HcloudError("invalid servers: %s" % "; ".join(fplan.problems), code="invalid_input",
                              details={"problems": fplan.problems})
        self.fleet_plan = fplan
        for sentences in fplan.pending.values():
            for sentence in sentences:
                self.module.warn(sentence)
        if not fplan.conflicts:
            self._validate_catalogs(fplan)
        # The base class needs one Plan: it carries changed, diff and the conflicts.
        plan = Plan(op="update" if fplan.changed else "none", conflicts=fplan.conflicts,
                    before=fplan.diff["before"], after=fplan.diff["after"])
        self.extra_result["summary"] = fplan.summary()
        return plan

    def _facts_from(self, flat_servers, jobs):
        by_name = dict((s["name"], s) for s in flat_servers)
        done = dict((j.name, j.done) for j in jobs)
        out = {}
        for d in self.desired:
            if d["state"] == "absent":
                continue
            facts = server_facts(by_name.get(d["name"]))
            out[d["name"]] = with_outcome(facts, done.get(d["name"], []),
                                          self.fleet_plan.plans[d["name"]].pending)
        return out

    def apply(self, plan, observed):
        fplan = self.fleet_plan
        by_name = dict((s["name"], s) for s in observed)
        jobs = []
        for d in self.desired:
            p = fplan.plans[d["name"]]
            if p.changed:
                jobs.append(Job(d["name"], d, p, server_id=(by_name.get(d["name"]) or {}).get("id")))
        for server in fplan.prune:
            jobs.append(Job(server["name"], {"name": server["name"], "state": "absent"},
                            Plan(op="delete", steps=["delete"]), server_id=server["id"]))
        ops = ServerOps(self.client, self.waiter, self.catalogs, max_parallel=self.params["max_parallel"])
        ops.refs = self.refs
        if self.params.get("progress_file"):
            ops.progress = self.report
        ops.run(jobs)
        raw = self.list_all("/servers", "servers", {"label_selector": "fleet=%s" % self.fleet})
        fresh = [observe_server(s) for s in raw]
        facts = self._facts_from(fresh, jobs)
        passwords = dict((j.name, j.root_password) for j in jobs if j.root_password)
        if passwords:
            self.extra_result["root_passwords"] = passwords
        failed = dict((j.name, j.error) for j in jobs if j.error)
        if failed:
            self.extra_result["failed_servers"] = failed
            self.module.fail_json(
                msg="%d of %d servers could not be reconciled: %s" % (
                    len(failed), len(jobs), "; ".join(e["msg"] for _name, e in sorted(failed.items()))),
                code="fleet_incomplete", details={"failed_servers": failed},
                changed=True, servers=facts, failed_servers=failed, summary=fplan.summary(),
                api_requests=self.client.nh_transport.stats["requests"],
                **({"root_passwords": passwords} if passwords else {}))
        return facts

    def facts(self, observed, plan):
        facts = {}
        by_name = dict((s["name"], s) for s in observed)
        for d in self.desired:
            if d["state"] == "absent":
                continue
            facts[d["name"]] = server_facts(by_name.get(d["name"]), self.fleet_plan.plans[d["name"]])
        return facts

    def run(self):
        # api_requests is known only at the end: wrap exit_json to add it.
        exit_json, fail_json = self.module.exit_json, self.module.fail_json

        def exit_with_count(**result):
            result["api_requests"] = self.client.nh_transport.stats["requests"] if self._client else 0
            self.report("fleet", "finished")
            exit_json(**result)

        def fail_and_report(**result):
            self.report("fleet", "failed")
            fail_json(**result)
        self.module.exit_json, self.module.fail_json = exit_with_count, fail_and_report
        super().run()

    def report(self, name, event):
        """One line ``<name>: <event>`` appended to O(progress_file) (nothing without it)."""
        path = self.params.get("progress_file")
        if path:
            with open(path, "a") as progress:
                progress.write("%s: %s\n" % (name, event))


def close_progress(path):
    """End the progress file with ``fleet: failed`` unless the run already ended it: a module
    that stops before its own last line (bad arguments, a crash) must not leave the role's
    per-host waits for that file hanging until their timeout."""
    if not path:
        return
    try:
        with open(path) as progress:
            lines = progress.read().splitlines()
    except (IOError, OSError):
        lines = []
    if not (lines and lines[-1] in ("fleet: finished", "fleet: failed")):
        with open(path, "a") as progress:
            progress.write("fleet: failed\n")


def main():
    try:
        run_module()
    finally:
        close_progress(raw_progress_file())


def raw_progress_file():
    """O(progress_file) as given, also when the arguments were refused (then no module object
    exists); None where no arguments were read at all (ansible-test's introspection)."""
    if getattr(basic, "_ANSIBLE_ARGS", None) is None:
        return None
    try:
        return basic._load_params().get("progress_file")
    except Exception:  # unreadable arguments: AnsibleModule has already said so
        return None


def run_module():
    module = AnsibleModule(
        argument_spec=HcloudModule.argument_spec(
            fleet=dict(type="str", required=True),
            servers=dict(type="list", elements="dict", required=True, options=SERVER_OPTIONS),
            prune=dict(type="bool", default=False),
            planned=dict(type="dict", options=dict(
                # names of resources, not secrets (ssh_keys would look like one)
                (kind, dict(type="list", elements="str", default=[], no_log=False))
                for kind in ("firewalls", "networks", "placement_groups", "ssh_keys"))),
            max_parallel=dict(type="int", default=10),
            progress_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    HcloudFleet(module).run()


if __name__ == "__main__":
    main()
